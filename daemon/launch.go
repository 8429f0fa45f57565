package daemon

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"

	"github.com/nspawn-tray/nspawn-tray/appexec"
	"github.com/nspawn-tray/nspawn-tray/config"
	"github.com/nspawn-tray/nspawn-tray/launcher"
	"github.com/nspawn-tray/nspawn-tray/machinename"
	"github.com/nspawn-tray/nspawn-tray/stage"
	"github.com/nspawn-tray/nspawn-tray/systemd"
)

// recordFile is the instance's launcher.Instance, in its staging dir.
const recordFile = "instance.json"

// launch is one Launch call carried through its steps. Each step adds to
// spec what the instance gets, and to undo what must go again if a later
// step fails; once systemd runs the unit, the unit's ExecStopPost owns the
// cleanup and undo is dropped.
type launch struct {
	s        *Service
	msg      dbus.Message
	sender   string
	session  launcher.Session
	app      config.App
	settings config.Settings
	user     stage.User
	machine  string
	dir      *stage.Dir
	scratch  *stage.Dir // the staging dir's size-limited tmpfs
	runtime  string     // the instance's runtime dir on the host
	spec     spec
	status   *net.UnixListener // exec-as reports the app's exec here
	unit     string            // the unit that runs exec-as: the instance's, or a join's
	undo     []func()
	steps    []Step   // how long each step took, for Service.Steps
	helpers  []helper // the user helpers started (startUserHelper)
}

// timed runs step and records how long it took under name.
func (l *launch) timed(name string, step func() error) error {
	t0 := time.Now()
	err := step()
	l.steps = append(l.steps, Step{name, time.Since(t0)})
	return err
}

// onFailure schedules f to run if the launch fails after this point; the
// undo list runs last-in, first-out.
func (l *launch) onFailure(f func()) { l.undo = append(l.undo, f) }

func (s *Service) launch(ctx context.Context, msg dbus.Message, appID string, dict map[string]dbus.Variant) (string, error) {
	l := &launch{s: s, msg: msg}
	err := l.run(ctx, appID, dict)
	l.closeDirs()
	if s.Steps != nil {
		s.Steps(appID, l.steps)
	}
	if err != nil {
		for i := len(l.undo) - 1; i >= 0; i-- {
			l.undo[i]()
		}
		return "", err
	}
	return l.machine, nil
}

func (l *launch) run(ctx context.Context, appID string, dict map[string]dbus.Variant) error {
	if err := l.prepare(ctx, appID, dict); err != nil {
		return err
	}
	// One machine per user and app: a launch while it runs starts the
	// program in it (see join). Launches of the same app by the same user
	// take turns, so two quick clicks make one machine.
	if l.app.Instances == config.InstancesOne && !l.session.NewInstance && !l.session.Wait {
		defer l.s.appLock(l.user.UID, l.app.ID)()
		if rec, leader, ok := l.s.runningInstance(ctx, l.user.UID, l.app.ID); ok {
			return l.join(ctx, rec, leader)
		}
	}
	for _, step := range []struct {
		name string
		run  func(context.Context) error
	}{
		{"claim", l.claim},
		{"identity", l.stageIdentity},
		{"session", l.stageSession},
		{"env", l.saveEnv},
		{"status-socket", l.listenExec},
		{"unit", l.startUnit},
		{"exec", l.awaitExec},
		{"helpers", l.awaitHelpers},
	} {
		if err := l.timed(step.name, func() error { return step.run(ctx) }); err != nil {
			return err
		}
	}
	return nil
}

// prepare checks the call (caller, session, app, authorization, image) and
// creates the staging dir. Nothing is created before everything is checked.
func (l *launch) prepare(ctx context.Context, appID string, dict map[string]dbus.Variant) error {
	s := l.s
	var sender string
	var uid uint32
	err := l.timed("caller", func() (err error) {
		sender, uid, err = s.caller(ctx, l.msg)
		return err
	})
	if err != nil {
		return err
	}
	l.sender = sender
	if l.session, err = launcher.ParseSession(dict); err != nil {
		return fail(launcher.ErrNameInvalidArgs, "%v", err)
	}
	if uid == 0 {
		return fail(launcher.ErrNameInvalidArgs, "apps run as a regular user, not as root")
	}
	if err := l.timed("definition", func() (err error) { l.app, err = s.findApp(appID); return err }); err != nil {
		return err
	}
	if err := l.timed("polkit", func() error {
		return s.authorize(ctx, l.msg, sender, launcher.ActionLaunch, map[string]string{"app": l.app.ID})
	}); err != nil {
		return err
	}
	if l.app.X11 == config.X11Host && l.session.Display == "" && l.session.WaylandDisplay == "" {
		return fail(launcher.ErrNameSessionResource, "app %q needs a display, and the session has none (DISPLAY is not set)", l.app.ID)
	}
	// A nested X server shows its window on the user's X display: Wayland
	// alone will not do (Xwayland sets DISPLAY where there is one).
	if l.app.X11 == config.X11Nested && l.session.Display == "" {
		return fail(launcher.ErrNameSessionResource, "app %q shows its windows in a nested X server on your X display, and the session has none (DISPLAY is not set)", l.app.ID)
	}
	var img appImage
	if err := l.timed("image", func() (err error) { img, err = s.image(l.app); return err }); err != nil {
		return err
	}
	if err := l.timed("user-settings", func() (err error) {
		if l.user, err = hostUser(uid); err != nil {
			return err
		}
		if l.settings, err = config.LoadSettings(s.paths.Settings); err != nil {
			return fail(launcher.ErrNameFailed, "the daemon's settings are invalid: %s", strings.ReplaceAll(err.Error(), "\n", "; "))
		}
		return nil
	}); err != nil {
		return err
	}
	u := l.user
	l.spec = spec{App: l.app, Image: img.Path, Raw: img.Raw, Self: s.paths.Self, UID: u.UID, GID: u.GID,
		Home: u.Home, Args: l.session.Args, Env: baseEnv(u.Name, u.Home, u.UID)}
	maps.Copy(l.spec.Env, l.app.Env)
	return nil
}

// stageSession binds what the session offers and the app wants, one
// resource per binder.
func (l *launch) stageSession(ctx context.Context) error {
	for _, b := range sessionBinders {
		if err := l.timed("session."+b.name, func() error { return b.bind(ctx, l) }); err != nil {
			return err
		}
	}
	return nil
}

// claim creates the staging dir with the instance's record, unless the
// user has as many instances as the settings allow. Counting and claiming
// are one step, so concurrent launches cannot both take the last place.
func (l *launch) claim(ctx context.Context) error {
	s := l.s
	var err error
	if l.machine, err = machinename.NewInstance(l.app.ID); err != nil {
		return err
	}
	l.spec.Machine, l.unit = l.machine, unitName(l.machine)
	s.claimMu.Lock()
	defer s.claimMu.Unlock()
	if n := s.countInstances(ctx, l.user.UID); n >= l.settings.MaxInstancesPerUser {
		return fail(launcher.ErrNameLimitReached, "you have %d instances running, the most allowed (max_instances_per_user in %s): stop one first (nspawn-tray ps, nspawn-tray stop)",
			n, s.paths.Settings)
	}
	if l.dir, err = stage.Create(s.paths.Stage, l.machine); err != nil {
		return err
	}
	l.onFailure(func() { _ = stage.Remove(s.paths.Stage, l.machine) })
	rec := launcher.Instance{App: l.app.ID, UID: l.user.UID, Machine: l.machine, Unit: unitName(l.machine), Since: launcher.Now()}
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	_, err = l.dir.WriteFile(recordFile, data, 0o644)
	return err
}

func (l *launch) closeDirs() {
	if l.dir != nil {
		l.dir.Close()
	}
	if l.scratch != nil {
		l.scratch.Close()
	}
}

// startUnit starts the transient unit that runs nspawn; it returns once
// nspawn reported the payload running.
func (l *launch) startUnit(ctx context.Context) error {
	unit := unitName(l.machine)
	memoryMax, err := memoryMax(l.settings.MemoryMax)
	if err != nil {
		return err
	}
	argv := nspawnArgv(l.s.paths.Nspawn, l.spec)
	props := []systemd.Property{
		systemd.Prop("Description", fmt.Sprintf("nspawn-tray: %s for %s", l.app.Name, l.user.Name)),
		systemd.Prop("Slice", "machine.slice"),
		systemd.Prop("Delegate", true),
		systemd.Prop("KillMode", "mixed"),
		// nspawn reports READY=1 once the payload runs: the start job ends
		// then, so Launch returns when the app is running.
		systemd.Prop("Type", "notify"),
		systemd.Prop("CollectMode", "inactive-or-failed"),
		systemd.Prop("TasksMax", l.settings.TasksMax),
		systemd.Prop("MemoryMax", memoryMax),
		systemd.ExecProp("ExecStart", systemd.ExecCommand{Path: argv[0], Argv: argv}),
		// Runs however the unit ends: removes the staging dir and its mounts.
		systemd.ExecProp("ExecStopPost", systemd.ExecCommand{Path: l.s.paths.Self,
			Argv: []string{l.s.paths.Self, "cleanup-instance", l.machine}, IgnoreFailure: true}),
	}
	// A gpu app's nodes: once there is a DeviceAllow, systemd allows
	// only what is listed (see deviceRules).
	if rules := deviceRules(l.spec.Devices); len(rules) > 0 {
		props = append(props, systemd.Prop("DeviceAllow", rules))
	}
	// The caller's terminal (launch --wait): systemd keeps these, so the
	// app's output reaches it even while the daemon restarts.
	for _, fd := range []struct {
		prop string
		fd   *dbus.UnixFD
	}{
		{"StandardInputFileDescriptor", l.session.Stdin},
		{"StandardOutputFileDescriptor", l.session.Stdout},
		{"StandardErrorFileDescriptor", l.session.Stderr},
	} {
		if fd.fd != nil {
			props = append(props, systemd.Prop(fd.prop, *fd.fd))
		}
	}
	err = l.s.units.StartTransientUnit(ctx, unit, props)
	if errors.Is(err, systemd.ErrJobFailed) {
		// The unit ran and failed; its ExecStopPost removed the staging dir
		// and stopped the proxy.
		l.undo = nil
		return fail(launcher.ErrNameFailed, "app %q failed to start (journalctl -u %s)", l.app.ID, unit)
	}
	if err != nil {
		return err
	}
	l.undo = nil
	return nil
}

// The directory of the exec status sockets, as exec-as sees it in the
// instance: one socket per exec-as run (the first and each join).
const inStatusDir = "/run/nspawn-tray/status"

// listenExec makes the socket on which exec-as reports whether the app's
// exec succeeded (see appexec.Report), in a directory bound read-only into
// the instance, where later joins add theirs.
func (l *launch) listenExec(context.Context) error {
	path, err := l.dir.Mkdir("status", 0, 0, 0o755)
	if err != nil {
		return err
	}
	status, err := l.dir.Sub("status")
	if err != nil {
		return err
	}
	defer status.Close()
	if l.status, _, err = status.Listen("launch"); err != nil {
		return err
	}
	l.spec.Status = inStatusDir + "/launch"
	l.spec.Binds = append(l.spec.Binds, bind{Src: path, Dst: inStatusDir})
	return nil
}

// execTimeout bounds the wait for exec-as: nspawn has reported the payload
// started by then, so only a stuck exec takes this long.
const execTimeout = time.Minute

// awaitExec waits for exec-as's report: end-of-file without a word once the
// app's exec succeeded (the connection is close-on-exec), the reason
// otherwise. Meanwhile it watches the unit, which ends without a report
// when nspawn fails after READY=1.
func (l *launch) awaitExec(ctx context.Context) error {
	defer l.status.Close()
	unit := l.unit
	deadline := time.Now().Add(execTimeout)
	var conn *net.UnixConn
	for conn == nil {
		l.status.SetDeadline(time.Now().Add(200 * time.Millisecond))
		c, err := l.status.AcceptUnix()
		switch {
		case err == nil:
			conn = c
		case !errors.Is(err, os.ErrDeadlineExceeded):
			return fmt.Errorf("exec status of %s: %w", l.machine, err)
		case !l.s.units.Loaded(ctx, unit):
			return fail(launcher.ErrNameExecFailed, "app %q ended before it started (journalctl -u %s)", l.app.ID, unit)
		case time.Now().After(deadline):
			return fail(launcher.ErrNameExecFailed, "app %q did not start within %v (journalctl -u %s)", l.app.ID, execTimeout, unit)
		}
	}
	defer conn.Close()
	conn.SetReadDeadline(deadline)
	msg, err := io.ReadAll(io.LimitReader(conn, 4096))
	if err != nil {
		return fail(launcher.ErrNameExecFailed, "app %q did not report its start: %v (journalctl -u %s)", l.app.ID, err, unit)
	}
	if len(msg) > 0 {
		// A helper that failed is the reason exec-as gave up waiting.
		if err := l.failedHelper(); err != nil {
			return err
		}
		if strings.HasPrefix(string(msg), appexec.ErrAwait.Error()) {
			return fail(launcher.ErrNameSessionResource, "a helper of %s did not come up: %s", l.machine, strings.ToValidUTF8(string(msg), "?"))
		}
		return fail(launcher.ErrNameExecFailed, "app %q: %s", l.app.ID, strings.ToValidUTF8(string(msg), "?"))
	}
	return nil
}

// stageIdentity gives the user a passwd and group entry, a runtime dir and
// a home inside the container.
func (l *launch) stageIdentity(ctx context.Context) error {
	u, dir, sp := l.user, l.dir, &l.spec
	files := []struct {
		image, name string
		merge       func([]byte) []byte
		data        []byte
	}{
		{"etc/passwd", "passwd", func(b []byte) []byte { return stage.MergePasswd(b, u) }, nil},
		{"etc/group", "group", func(b []byte) []byte { return stage.MergeGroup(b, u.Name, u.GID) }, nil},
	}
	// A raw image is mounted for this read only.
	err := l.s.readImage(ctx, appImage{Path: sp.Image, Raw: sp.Raw}, func(root string) error {
		for i := range files {
			var err error
			if files[i].data, err = readImageFile(root, files[i].image); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fail(launcher.ErrNameImageMissing, "image %q: %v", l.app.Image, err)
	}
	for _, f := range files {
		path, err := dir.WriteFile(f.name, f.merge(f.data), 0o644)
		if err != nil {
			return err
		}
		sp.Binds = append(sp.Binds, bind{Src: path, Dst: "/" + f.image})
	}
	// Apps see a machine-id of their own, not the host's (see appMachineID).
	if hostID, err := os.ReadFile(l.s.paths.MachineID); err == nil {
		id, err := appMachineID(hostID, u.UID, l.app.ID)
		if err != nil {
			return err
		}
		path, err := dir.WriteFile("machine-id", id, 0o444)
		if err != nil {
			return err
		}
		sp.Binds = append(sp.Binds, bind{Src: path, Dst: "/etc/machine-id"})
	}
	// What the user may write in the instance goes on a size-limited tmpfs:
	// the runtime dir, and a home that goes away with the instance.
	size, _, err := config.ParseSize(l.settings.ScratchSize)
	if err != nil {
		return err
	}
	scratch, err := dir.MountTmpfs("scratch", size)
	if err != nil {
		return err
	}
	// Kept for later binders (a nested X server's socket dir); a mount,
	// which Dir.Sub does not cross.
	l.scratch = scratch
	if l.runtime, err = scratch.Mkdir("runtime", int(u.UID), int(u.GID), 0o700); err != nil {
		return err
	}
	sp.Binds = append(sp.Binds, bind{Src: l.runtime, Dst: sp.Env["XDG_RUNTIME_DIR"], RW: true})
	home := ""
	if l.app.Home {
		home, err = appHome(l.s.paths.Homes, u.UID, u.GID, l.app.ID)
	} else {
		home, err = scratch.Mkdir("home", int(u.UID), int(u.GID), 0o700)
	}
	if err != nil {
		return err
	}
	sp.Binds = append(sp.Binds, bind{Src: home, Dst: sp.Home, RW: true})
	return nil
}

// memoryMax is the setting in bytes: a percentage is of the host's RAM.
func memoryMax(setting string) (uint64, error) {
	bytes, pct, err := config.ParseSize(setting)
	if err != nil || pct == 0 {
		return bytes, err
	}
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		return 0, fmt.Errorf("daemon: sysinfo: %w", err)
	}
	return uint64(si.Totalram) * uint64(si.Unit) / 100 * uint64(pct), nil
}

// appMachineID is the machine-id an app sees: HMAC-SHA256, keyed with the
// host's machine-id, of the user and the app, made a v4 UUID the way
// systemd's sd_id128_get_machine_app_specific() does. systemd treats the
// host's id as confidential (machine-id(5)): bound as it is, every app
// could read one identifier shared by every program of the host, for
// tracking and correlating. This one is stable for the user and the app
// (apps that key licences or profiles on it keep working across launches),
// differs between apps and users, and does not reveal the host's. D-Bus and
// PulseAudio clients only compare it with their peer's to tell a local
// server, which here is the filtering proxy's business anyway.
func appMachineID(hostID []byte, uid uint32, app string) ([]byte, error) {
	key, err := hex.DecodeString(strings.TrimSpace(string(hostID)))
	if err != nil || len(key) != 16 {
		return nil, fmt.Errorf("daemon: the host's machine-id is not 32 hex digits")
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "io.github.nspawn-tray\x00%d\x00%s", uid, app)
	id := mac.Sum(nil)[:16]
	id[6] = id[6]&0x0f | 0x40 // version 4
	id[8] = id[8]&0x3f | 0x80 // variant 1
	return []byte(hex.EncodeToString(id) + "\n"), nil
}
