package machines

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nspawn-tray/nspawn-tray/paths"
)

// JournalLines is how many of the unit's journal lines Status reads.
const JournalLines = 10

// Status is what machinectl status shows that a user needs.
type Status struct {
	Machine
	Leader     uint32
	LeaderName string
	// OS is the running machine's PRETTY_NAME (or NAME).
	OS        string
	Addresses []netip.Addr
	// Settings is its .nspawn file, "" for none.
	Settings string
	// Journal are its unit's last lines; JournalErr why there are none
	// (the user may not read the system journal).
	Journal    []string
	JournalErr error
}

// Status returns how machine name is doing: running or not.
func (m *Manager) Status(ctx context.Context, name string) (Status, error) {
	mc, err := m.Get(ctx, name)
	if err != nil {
		return Status{}, err
	}
	st := Status{Machine: mc, Settings: m.Settings(name)}
	if mc.State == StateRunning || mc.State == StateStarting || mc.State == StateStopping {
		if d, err := m.md.Get(ctx, name); err == nil {
			st.Leader = d.Leader
			if comm, err := os.ReadFile(filepath.Join(m.Proc, strconv.FormatUint(uint64(d.Leader), 10), "comm")); err == nil {
				st.LeaderName = strings.TrimSpace(string(comm))
			}
		}
		if osr, err := m.md.OSRelease(ctx, name); err == nil {
			st.OS = osr["PRETTY_NAME"]
			if st.OS == "" {
				st.OS = osr["NAME"]
			}
		}
		if addrs, err := m.md.Addresses(ctx, name); err == nil {
			st.Addresses = addrs
		}
	}
	if m.Journal != nil {
		st.Journal, st.JournalErr = m.Journal(ctx, mc.Unit, JournalLines)
	}
	return st, nil
}

// ErrJournal: the journal has no lines of the unit that this user may
// read.
var ErrJournal = errors.New("no journal lines readable here (members of group systemd-journal or adm read the system journal)")

// journal runs journalctl as the user for unit's last n lines.
func journal(ctx context.Context, unit string, n int) ([]string, error) {
	out, err := exec.CommandContext(ctx, paths.Journalctl, "--no-pager", "--quiet", "-o", "short", "-n", strconv.Itoa(n), "-u", unit).Output()
	text := strings.TrimSpace(string(out))
	if err != nil || text == "" || strings.HasPrefix(text, "-- No entries --") {
		return nil, ErrJournal
	}
	return strings.Split(text, "\n"), nil
}

// Lines is the status as "Field: value" lines, as machinectl status puts
// them (without the journal).
func (s Status) Lines(now time.Time) []string {
	state := s.State
	if s.State == StateFailed && s.Result != "" {
		state += " (" + s.Result + ")"
	}
	lines := []string{"State: " + state}
	if !s.Since.IsZero() {
		lines = append(lines, "Since: "+s.Since.Local().Format(time.DateTime)+"; "+Age(now.Sub(s.Since))+" ago")
	}
	if s.Leader != 0 {
		leader := strconv.FormatUint(uint64(s.Leader), 10)
		if s.LeaderName != "" {
			leader += " (" + s.LeaderName + ")"
		}
		lines = append(lines, "Leader: "+leader)
	}
	enabled := "disabled"
	if s.Enabled {
		enabled = "enabled (starts at boot)"
	}
	lines = append(lines, "Unit: "+s.Unit+", "+enabled)
	if s.OS != "" {
		lines = append(lines, "OS: "+s.OS)
	}
	if len(s.Addresses) > 0 {
		as := make([]string, len(s.Addresses))
		for i, a := range s.Addresses {
			as[i] = a.String()
		}
		lines = append(lines, "Address: "+strings.Join(as, ", "))
	}
	if s.Memory != NoValue {
		lines = append(lines, "Memory: "+MemoryText(s.Machine))
	}
	if s.CPU != NoValue {
		lines = append(lines, "CPU: "+CPUTime(s.CPU))
	}
	if s.Tasks != NoValue {
		lines = append(lines, "Tasks: "+strconv.FormatUint(s.Tasks, 10))
	}
	settings := s.Settings
	if settings == "" {
		settings = "none (the template's defaults: a private network, a user namespace)"
	}
	lines = append(lines, "Settings: "+settings)
	if s.Boot == BootNo {
		lines = append(lines, "Boot: no init in the image (/usr/lib/systemd/systemd, /lib/systemd/systemd, /sbin/init)")
	}
	return lines
}

// MemoryText is the machine's memory, "~" before a sum of its processes'
// resident memory.
func MemoryText(mc Machine) string {
	if mc.Memory == NoValue {
		return "-"
	}
	if mc.MemoryRSS {
		return "~" + Bytes(mc.Memory)
	}
	return Bytes(mc.Memory)
}

// Bytes is n as machinectl prints sizes: "512B", "23.4M", "1.5G".
func Bytes(n uint64) string {
	if n == NoValue {
		return "-"
	}
	const units = "KMGTPE"
	if n < 1024 {
		return strconv.FormatUint(n, 10) + "B"
	}
	v, i := float64(n)/1024, 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if v < 10 {
		return strconv.FormatFloat(v, 'f', 1, 64) + units[i:i+1]
	}
	return strconv.FormatFloat(v, 'f', 0, 64) + units[i:i+1]
}

// CPUTime is ns of CPU as systemctl status prints it: "812ms", "1.234s",
// "2min 3.456s", "1h 2min".
func CPUTime(ns uint64) string {
	if ns == NoValue {
		return "-"
	}
	d := time.Duration(ns)
	switch {
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	case d < time.Minute:
		return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) + "s"
	case d < time.Hour:
		return fmt.Sprintf("%dmin %.3fs", int(d.Minutes()), (d % time.Minute).Seconds())
	}
	return fmt.Sprintf("%dh %dmin", int(d.Hours()), int(d.Minutes())%60)
}

// Age is a short duration: "12s", "5m", "2h 5m", "3d 4h".
func Age(d time.Duration) string {
	switch {
	case d < 0:
		d = 0
		fallthrough
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh %dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd %dh", int(d.Hours())/24, int(d.Hours())%24)
}

// cgroupNumbers are what anyone may read of a cgroup v2 tree.
type cgroupNumbers struct {
	memory, cpu, tasks uint64
	rss                bool
}

// cgroupStats reads the unit's cgroup (cg, relative to the cgroup v2
// root) where systemd keeps no accounting of it: a host whose cgroup v1
// controllers are not delegated, as inside a container. Every cgroup v2
// directory has cpu.stat's usage_usec (exited processes included) and
// cgroup.threads; memory.current only with the memory controller, else
// the processes' resident memory is summed (shared pages count once per
// process, so it is an upper bound).
func (m *Manager) cgroupStats(cg string) cgroupNumbers {
	out := cgroupNumbers{memory: NoValue, cpu: NoValue, tasks: NoValue}
	root := m.Cgroups
	if root == "" {
		root = cgroup2Mount(filepath.Join(m.Proc, "self", "mountinfo"))
	}
	if root == "" {
		return out
	}
	dir := filepath.Join(root, filepath.Clean("/"+cg))
	if b, err := os.ReadFile(filepath.Join(dir, "cpu.stat")); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "usage_usec "); ok {
				if us, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64); err == nil {
					out.cpu = us * 1000
				}
			}
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "memory.current")); err == nil {
		if v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil {
			out.memory = v
		}
	}
	var tasks, rss uint64
	seen := false
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if b, err := os.ReadFile(filepath.Join(p, "cgroup.threads")); err == nil {
			seen = true
			tasks += uint64(bytes.Count(b, []byte("\n")))
		}
		if out.memory != NoValue {
			return nil
		}
		f, err := os.Open(filepath.Join(p, "cgroup.procs"))
		if err != nil {
			return nil
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			rss += m.resident(sc.Text())
		}
		return nil
	})
	if seen {
		out.tasks = tasks
		if out.memory == NoValue {
			out.memory, out.rss = rss, true
		}
	}
	return out
}

// resident is process pid's resident memory in bytes (statm's second
// field, in pages), 0 when it is gone.
func (m *Manager) resident(pid string) uint64 {
	b, err := os.ReadFile(filepath.Join(m.Proc, pid, "statm"))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * uint64(os.Getpagesize())
}

// cgroup2Mount is where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup,
// or /sys/fs/cgroup/unified on a hybrid host), "" when it is not.
func cgroup2Mount(mountinfo string) string {
	b, err := os.ReadFile(mountinfo)
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
		pre, post, ok := strings.Cut(line, " - ")
		if !ok || !strings.HasPrefix(post, "cgroup2 ") {
			continue
		}
		if f := strings.Fields(pre); len(f) >= 5 {
			return f[4]
		}
	}
	return ""
}
