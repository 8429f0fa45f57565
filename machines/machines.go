// Package machines holds the booted machines: machined's images that boot
// an init of their own (a service like NetworkManager in a container),
// started, stopped and enabled at boot through systemd's own template,
// systemd-nspawn@NAME.service, exactly as machinectl start, poweroff and
// enable do. Every call is the user's own, with the interactive flag, so
// systemd and machined ask polkit and the desktop's agent may ask for a
// password: the same rights as machinectl, and no root code of ours.
package machines

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nspawn-tray/nspawn-tray/machined"
	"github.com/nspawn-tray/nspawn-tray/machinename"
	"github.com/nspawn-tray/nspawn-tray/openat2"
	"github.com/nspawn-tray/nspawn-tray/paths"
	"github.com/nspawn-tray/nspawn-tray/systemd"
)

// Sentinel errors callers act on.
var (
	// ErrNotAuthorized: systemd or machined refused (polkit wants an
	// administrator, and no agent asked or the password was wrong).
	ErrNotAuthorized = errors.New("not authorized")
	// ErrNoSuchImage: machined knows no image of that name.
	ErrNoSuchImage = errors.New("no such image")
	// ErrNotRunning: the machine is not running, so there is nothing to
	// stop.
	ErrNotRunning = errors.New("not running")
)

// AuthHint says what a refused user can do: systemd and machined want an
// administrator unless a polkit rule says otherwise.
const AuthHint = "it needs an administrator's password, and no polkit agent asked for one " +
	"(a desktop session runs one); or an administrator lets group nspawn-tray-machines " +
	"boot and stop it without a password (the example rule 60-nspawn-tray-machines.rules)"

// NoValue is a number not known (systemd's, and ours).
const NoValue = systemd.NoValue

// DefaultStopTimeout is how long Stop waits for a machine to power off
// before it terminates it.
const DefaultStopTimeout = 30 * time.Second

// Unit is the template unit that boots image name: what machinectl start
// starts and machinectl enable links under machines.target.
func Unit(name string) string { return "systemd-nspawn@" + name + ".service" }

// LogCommand is the command that shows the machine's boot log.
func LogCommand(name string) string { return "journalctl -u " + Unit(name) }

// Boot is whether an image can boot.
type Boot int

const (
	// BootUnknown: its tree is not readable here (/var/lib/machines is
	// root's alone), so only systemd-nspawn can tell, when it tries.
	BootUnknown Boot = iota
	// BootYes: an init inside, or a raw or block image (nspawn boots what
	// it finds there).
	BootYes
	// BootNo: its tree is readable and has none of the inits nspawn
	// tries.
	BootNo
)

func (b Boot) String() string {
	switch b {
	case BootYes:
		return "yes"
	case BootNo:
		return "no"
	}
	return "unknown"
}

// inits are what systemd-nspawn --boot executes, in its order.
var inits = []string{"usr/lib/systemd/systemd", "lib/systemd/systemd", "sbin/init"}

// States of a machine.
const (
	StateRunning  = "running"
	StateStarting = "starting"
	StateStopping = "stopping"
	StateStopped  = "stopped"
	StateFailed   = "failed"
)

// Machine is an image as a machine: how it is doing.
type Machine struct {
	Name string
	// Type is machined's: "directory", "subvolume", "raw" or "block".
	Type string
	Boot Boot
	// State is StateRunning (registered with machined), StateStarting,
	// StateStopping, StateStopped or StateFailed.
	State string
	// Result is how its unit last failed ("exit-code", "timeout", ...)
	// when StateFailed.
	Result string
	// Enabled: the template's instance is enabled (it starts at boot).
	Enabled bool
	// Since is when it started running (zero unless running), or when
	// it failed.
	Since time.Time
	// Unit runs it: the template's instance, or another unit when it was
	// started otherwise (a machine-NAME.scope of systemd-nspawn run by
	// hand).
	Unit string
	// Memory (bytes), CPU (ns) and Tasks of its cgroup while it runs;
	// NoValue when not known. MemoryRSS marks a memory figure summed from
	// its processes' resident memory, because the host keeps no memory
	// accounting for the unit (cgroup v1 controllers not delegated).
	Memory, CPU, Tasks uint64
	MemoryRSS          bool
}

// Manager lists, starts, stops and enables machines over systemd and
// machined.
type Manager struct {
	sd *systemd.Manager
	md *machined.Manager

	// SettingsDirs are where .nspawn files are looked for
	// (paths.NspawnSettings); tests point them elsewhere.
	SettingsDirs []string
	// Cgroups is the cgroup v2 mount ("" finds it) and Proc is /proc, for
	// the numbers systemd does not account.
	Cgroups, Proc string
	// StopTimeout is how long Stop waits before it terminates.
	StopTimeout time.Duration
	// Journal returns the last n lines of unit's journal (journalctl as
	// the user); nil leaves them out.
	Journal func(ctx context.Context, unit string, n int) ([]string, error)

	mu    sync.Mutex
	paths map[string]string // image name -> path, from machined
}

// New returns a Manager over sd (subscribed: Start and Stop wait for jobs)
// and md.
func New(sd *systemd.Manager, md *machined.Manager) *Manager {
	return &Manager{sd: sd, md: md, SettingsDirs: paths.NspawnSettings, Proc: "/proc",
		StopTimeout: DefaultStopTimeout, Journal: journal, paths: map[string]string{}}
}

// checkName validates a machine name before it goes into a unit name.
func checkName(name string) error {
	if err := machinename.Check(name); err != nil {
		return fmt.Errorf("machine %q: %w", name, err)
	}
	return nil
}

// refused turns systemd's and machined's refusals into ErrNotAuthorized.
func refused(err error) error {
	if errors.Is(err, systemd.ErrAccessDenied) || errors.Is(err, machined.ErrAccessDenied) {
		return fmt.Errorf("%w: %w", ErrNotAuthorized, err)
	}
	if errors.Is(err, machined.ErrNoSuchImage) {
		return fmt.Errorf("%w: %w", ErrNoSuchImage, err)
	}
	return err
}

// List returns machined's images (not ".host", not hidden ones) as
// machines, sorted by name.
func (m *Manager) List(ctx context.Context) ([]Machine, error) {
	imgs, err := m.md.ListImages(ctx)
	if err != nil {
		return nil, fmt.Errorf("machines: %w", err)
	}
	registered, err := m.registered(ctx)
	if err != nil {
		return nil, err
	}
	var out []Machine
	for _, img := range imgs {
		if strings.HasPrefix(img.Name, ".") || machinename.Check(img.Name) != nil {
			continue
		}
		mc, err := m.machine(ctx, img, registered[img.Name])
		if err != nil {
			return nil, err
		}
		out = append(out, mc)
	}
	slices.SortFunc(out, func(a, b Machine) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Get returns image name as a machine.
func (m *Manager) Get(ctx context.Context, name string) (Machine, error) {
	if err := checkName(name); err != nil {
		return Machine{}, err
	}
	img, err := m.image(ctx, name)
	if err != nil {
		return Machine{}, err
	}
	registered, err := m.registered(ctx)
	if err != nil {
		return Machine{}, err
	}
	return m.machine(ctx, img, registered[name])
}

// image is machined's image called name.
func (m *Manager) image(ctx context.Context, name string) (machined.Image, error) {
	imgs, err := m.md.ListImages(ctx)
	if err != nil {
		return machined.Image{}, fmt.Errorf("machines: %w", err)
	}
	for _, img := range imgs {
		if img.Name == name {
			return img, nil
		}
	}
	return machined.Image{}, fmt.Errorf("%w %q (machinectl list-images lists them)", ErrNoSuchImage, name)
}

// registered are the running containers and VMs by name.
func (m *Manager) registered(ctx context.Context) (map[string]bool, error) {
	ms, err := m.md.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("machines: %w", err)
	}
	out := map[string]bool{}
	for _, mc := range ms {
		if mc.Class == "container" || mc.Class == "vm" {
			out[mc.Name] = true
		}
	}
	return out, nil
}

// machine is img as a machine; running says machined has it registered.
func (m *Manager) machine(ctx context.Context, img machined.Image, running bool) (Machine, error) {
	mc := Machine{Name: img.Name, Type: img.Type, State: StateStopped, Unit: Unit(img.Name),
		Memory: NoValue, CPU: NoValue, Tasks: NoValue}
	mc.Boot = m.boot(ctx, img)
	state, err := m.sd.UnitFileState(ctx, Unit(img.Name))
	if err != nil && !errors.Is(err, systemd.ErrNoUnitFile) {
		return mc, fmt.Errorf("machines: %w", err)
	}
	mc.Enabled = state == "enabled" || state == "enabled-runtime"
	if running {
		d, err := m.md.Get(ctx, img.Name)
		switch {
		case errors.Is(err, machined.ErrNoSuchMachine):
			running = false // gone in between
		case err != nil:
			return mc, fmt.Errorf("machines: %w", err)
		default:
			mc.State = StateRunning
			switch d.State {
			case "opening":
				mc.State = StateStarting
			case "closing":
				mc.State = StateStopping
			}
			if d.Timestamp > 0 {
				mc.Since = time.UnixMicro(int64(d.Timestamp))
			}
			if d.Unit != "" {
				mc.Unit = d.Unit
			}
		}
	}
	st, err := m.sd.UnitStatus(ctx, mc.Unit)
	if err != nil {
		return mc, fmt.Errorf("machines: %w", err)
	}
	if !running {
		switch st.ActiveState {
		case "activating", "active", "reloading":
			mc.State = StateStarting
		case "deactivating":
			mc.State = StateStopping
		case "failed":
			mc.State, mc.Result = StateFailed, st.Result
			if st.InactiveEnter > 0 {
				mc.Since = time.UnixMicro(int64(st.InactiveEnter))
			}
		}
		return mc, nil
	}
	mc.Memory, mc.CPU, mc.Tasks = st.Memory, st.CPU, st.Tasks
	if st.ControlGroup != "" && (mc.Memory == NoValue || mc.CPU == NoValue || mc.Tasks == NoValue) {
		c := m.cgroupStats(st.ControlGroup)
		if mc.CPU == NoValue {
			mc.CPU = c.cpu
		}
		if mc.Tasks == NoValue {
			mc.Tasks = c.tasks
		}
		if mc.Memory == NoValue {
			mc.Memory, mc.MemoryRSS = c.memory, c.rss
		}
	}
	return mc, nil
}

// boot tells whether img can boot, as far as this user can see.
func (m *Manager) boot(ctx context.Context, img machined.Image) Boot {
	if img.Type == "raw" || img.Type == "block" {
		return BootYes
	}
	path, err := m.imagePath(ctx, img.Name)
	if err != nil {
		return BootUnknown
	}
	for _, init := range inits {
		_, err := openat2.StatInRoot(path, init)
		switch {
		case err == nil:
			return BootYes
		case errors.Is(err, openat2.ErrRoot):
			// The image itself cannot be opened: EACCES above all, as
			// /var/lib/machines is root's alone (0700).
			return BootUnknown
		case errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR):
			continue
		default:
			return BootUnknown
		}
	}
	return BootNo
}

// imagePath is machined's path of image name, asked once.
func (m *Manager) imagePath(ctx context.Context, name string) (string, error) {
	m.mu.Lock()
	p, ok := m.paths[name]
	m.mu.Unlock()
	if ok {
		return p, nil
	}
	p, err := m.md.ImagePath(ctx, name)
	if err != nil {
		return "", err
	}
	m.mu.Lock()
	m.paths[name] = p
	m.mu.Unlock()
	return p, nil
}

// BootError is a machine that did not boot: its unit's start job, or the
// unit itself, failed.
type BootError struct {
	Name string
	// Job is the start job's result ("failed", "dependency", "timeout");
	// Result the unit's ("exit-code", ...), ExitStatus nspawn's.
	Job, Result string
	ExitStatus  int32
}

func (e *BootError) Error() string {
	why := e.Result
	if why == "" || why == "success" {
		why = e.Job
	}
	if e.Result == "exit-code" && e.ExitStatus != 0 {
		why += fmt.Sprintf(", status %d", e.ExitStatus)
	}
	return fmt.Sprintf("machine %s failed to boot (%s): see its log with %s", e.Name, why, LogCommand(e.Name))
}

// Start boots image name with the template (machinectl start) and returns
// once nspawn reported it started the machine's init. Failures later in
// the boot show as StateFailed. Refusals are ErrNotAuthorized, a failed
// start a *BootError.
func (m *Manager) Start(ctx context.Context, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if _, err := m.image(ctx, name); err != nil {
		return err
	}
	err := m.sd.StartUnit(ctx, Unit(name))
	var je *systemd.JobError
	if errors.As(err, &je) {
		be := &BootError{Name: name, Job: je.Result}
		if st, serr := m.sd.UnitStatus(ctx, Unit(name)); serr == nil {
			be.Result, be.ExitStatus = st.Result, st.ExecMainStatus
		}
		return be
	}
	if err != nil {
		return fmt.Errorf("start %s: %w", name, refused(err))
	}
	// nspawn says READY before the init runs: a tree without one fails a
	// moment later. Tell it when it already did.
	if st, err := m.sd.UnitStatus(ctx, Unit(name)); err == nil && st.ActiveState == "failed" {
		return &BootError{Name: name, Job: "done", Result: st.Result, ExitStatus: st.ExecMainStatus}
	}
	return nil
}

// Stop powers the machine off (machinectl poweroff), waits up to
// StopTimeout for it to go, and then terminates it (machinectl
// terminate); terminated says it had to. A template instance still
// starting, not registered yet, is stopped through its unit.
func (m *Manager) Stop(ctx context.Context, name string) (terminated bool, err error) {
	if err := checkName(name); err != nil {
		return false, err
	}
	err = m.md.PowerOff(ctx, name)
	if errors.Is(err, machined.ErrNoSuchMachine) {
		st, serr := m.sd.UnitStatus(ctx, Unit(name))
		if serr != nil {
			return false, fmt.Errorf("stop %s: %w", name, serr)
		}
		if st.ActiveState != "active" && st.ActiveState != "activating" && st.ActiveState != "reloading" {
			return false, fmt.Errorf("stop %s: %w", name, ErrNotRunning)
		}
		if err := m.sd.StopUnitAndWait(ctx, Unit(name)); err != nil {
			return false, fmt.Errorf("stop %s: %w", name, refused(err))
		}
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("stop %s: %w", name, refused(err))
	}
	wait, cancel := context.WithTimeout(ctx, m.StopTimeout)
	err = m.md.WaitGone(wait, name)
	cancel()
	if err == nil {
		return false, nil
	}
	if ctx.Err() != nil {
		return false, fmt.Errorf("stop %s: %w", name, ctx.Err())
	}
	// It did not power off in time: kill it, as machinectl terminate.
	if err := m.md.Terminate(ctx, name); err != nil && !errors.Is(err, machined.ErrNoSuchMachine) {
		return false, fmt.Errorf("stop %s: did not power off within %v, and: %w", name, m.StopTimeout, refused(err))
	}
	return true, nil
}

// Enabled is what Enable or Disable did.
type Enabled struct {
	Changes []systemd.UnitFileChange
	// Settings is the machine's .nspawn file, "" when it has none (the
	// template's defaults apply: a private network, a user namespace).
	Settings string
	// ReloadErr: the unit files changed, but systemd was not reloaded, so
	// it sees them at the next boot or daemon-reload.
	ReloadErr error
}

// Enable makes image name start at boot (machinectl enable): its
// template instance, and machines.target, are enabled, and systemd
// reloads.
func (m *Manager) Enable(ctx context.Context, name string) (Enabled, error) {
	if err := checkName(name); err != nil {
		return Enabled{}, err
	}
	if _, err := m.image(ctx, name); err != nil {
		return Enabled{}, err
	}
	changes, err := m.sd.EnableUnitFiles(ctx, []string{Unit(name), "machines.target"})
	if err != nil {
		return Enabled{}, fmt.Errorf("enable %s: %w", name, refused(err))
	}
	out := Enabled{Changes: changes, Settings: m.Settings(name)}
	if err := m.sd.Reload(ctx); err != nil {
		out.ReloadErr = refused(err)
	}
	return out, nil
}

// Disable makes it start at boot no more (machinectl disable); a running
// machine keeps running.
func (m *Manager) Disable(ctx context.Context, name string) (Enabled, error) {
	if err := checkName(name); err != nil {
		return Enabled{}, err
	}
	changes, err := m.sd.DisableUnitFiles(ctx, []string{Unit(name)})
	if err != nil {
		return Enabled{}, fmt.Errorf("disable %s: %w", name, refused(err))
	}
	out := Enabled{Changes: changes, Settings: m.Settings(name)}
	if err := m.sd.Reload(ctx); err != nil {
		out.ReloadErr = refused(err)
	}
	return out, nil
}

// Settings is the .nspawn file systemd-nspawn reads for name in the
// settings dirs, "" when there is none. (One next to the image in
// /var/lib/machines counts too, with its privileged settings ignored, but
// only root can see it.)
func (m *Manager) Settings(name string) string {
	for _, dir := range m.SettingsDirs {
		p := filepath.Join(dir, name+".nspawn")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

// NoSettingsNote tells that machine name has no .nspawn file, what the
// template then does, and the file the seed's NetworkManager needs.
func NoSettingsNote(name string) string {
	return fmt.Sprintf(`%[1]s has no .nspawn file in /etc/systemd/nspawn: the template's defaults apply,
a private network (--network-veth: the host sees a ve-%[1]s link) and a user
namespace (-U). A service that needs the host's network, like NetworkManager,
needs /etc/systemd/nspawn/%[1]s.nspawn (as root) with:
  [Network]
  VirtualEthernet=no
`, name)
}
