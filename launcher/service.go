package launcher

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"

	"github.com/nspawn-tray/nspawn-tray/config"
	"github.com/nspawn-tray/nspawn-tray/machined"
	"github.com/nspawn-tray/nspawn-tray/polkit"
	"github.com/nspawn-tray/nspawn-tray/stage"
	"github.com/nspawn-tray/nspawn-tray/systemd"
)

// Paths is where the service finds and puts things on the host. Only root
// can write any of them.
type Paths struct {
	Apps      string // app definitions (config.DefaultDir)
	Machines  string // images (/var/lib/machines)
	Stage     string // per-instance staging dirs (stage.Root)
	Homes     string // per-app persistent homes
	Self      string // this binary
	Nspawn    string // systemd-nspawn
	DBusProxy string // xdg-dbus-proxy
	MachineID string // the host's machine-id, bound read-only
}

// DefaultPaths are the paths of an installed system.
func DefaultPaths(self string) Paths {
	return Paths{
		Apps:      config.DefaultDir,
		Machines:  "/var/lib/machines",
		Stage:     stage.Root,
		Homes:     "/var/lib/nspawn-tray/homes",
		Self:      self,
		Nspawn:    "/usr/bin/systemd-nspawn",
		DBusProxy: "/usr/bin/xdg-dbus-proxy",
		MachineID: "/etc/machine-id",
	}
}

// Service is the privileged side. Its exported D-Bus methods live on api.
type Service struct {
	conn     *dbus.Conn
	auth     *polkit.Authority
	machines *machined.Manager
	units    *systemd.Manager
	paths    Paths

	mu       sync.Mutex
	inflight int
	lastCall time.Time
}

// NewService wires the service to the system bus connection conn (which it
// takes over for systemd's signals).
func NewService(ctx context.Context, conn *dbus.Conn, paths Paths) (*Service, error) {
	units := systemd.New(conn)
	if err := units.Subscribe(ctx); err != nil {
		return nil, err
	}
	return &Service{
		conn: conn, auth: polkit.New(conn), machines: machined.New(conn), units: units,
		paths: paths, lastCall: time.Now(),
	}, nil
}

// Export publishes the API on the bus and takes the well-known name.
func (s *Service) Export() error {
	if err := s.conn.Export(api{s}, ObjectPath, Interface); err != nil {
		return fmt.Errorf("launcher: export: %w", err)
	}
	reply, err := s.conn.RequestName(BusName, dbus.NameFlagDoNotQueue)
	if err != nil {
		return fmt.Errorf("launcher: request name %s: %w", BusName, err)
	}
	if reply != dbus.RequestNameReplyPrimaryOwner {
		return fmt.Errorf("launcher: name %s is already taken", BusName)
	}
	return nil
}

// Release gives up the bus name, so the next call activates a fresh daemon,
// and waits for the calls already running (a --wait launch may take long).
func (s *Service) Release() error {
	if _, err := s.conn.ReleaseName(BusName); err != nil {
		return fmt.Errorf("launcher: release %s: %w", BusName, err)
	}
	for !s.Idle(0) {
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// Idle reports whether no call is running and none came for d.
func (s *Service) Idle(d time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inflight == 0 && time.Since(s.lastCall) >= d
}

func (s *Service) begin() func() {
	s.mu.Lock()
	s.inflight++
	s.lastCall = time.Now()
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		s.inflight--
		s.lastCall = time.Now()
		s.mu.Unlock()
	}
}

// api holds exactly the methods exported on the bus.
type api struct{ s *Service }

type wireInstance struct {
	Machine string
	App     string
	UID     uint32
	Since   uint64
	Unit    string
}

// Launch starts app for the caller. With session "wait" it replies when the
// app has exited; status is its exit status (-1 without wait).
func (a api) Launch(msg dbus.Message, app string, session map[string]dbus.Variant) (string, int32, *dbus.Error) {
	defer a.s.begin()()
	machine, status, err := a.s.launch(context.Background(), msg, app, session)
	return machine, status, toDBusError(err)
}

// List returns the running instances of every user. Like machined's
// ListMachines it needs no authorization: it tells nothing secret.
func (a api) List() ([]wireInstance, *dbus.Error) {
	defer a.s.begin()()
	list, err := a.s.list(context.Background())
	if err != nil {
		return nil, toDBusError(err)
	}
	out := make([]wireInstance, 0, len(list))
	for _, i := range list {
		out = append(out, wireInstance(i))
	}
	return out, nil
}

// Stop terminates one instance: the caller's own under stop-own, anyone's
// under stop-any.
func (a api) Stop(msg dbus.Message, machine string) *dbus.Error {
	defer a.s.begin()()
	return toDBusError(a.s.stop(context.Background(), msg, machine))
}

// callError is an error with the D-Bus name the client acts on.
type callError struct {
	name string
	msg  string
}

func (e *callError) Error() string { return e.msg }

func fail(name, format string, args ...any) error {
	return &callError{name: name, msg: fmt.Sprintf(format, args...)}
}

func toDBusError(err error) *dbus.Error {
	if err == nil {
		return nil
	}
	var ce *callError
	if errors.As(err, &ce) {
		return dbus.NewError(ce.name, []any{ce.msg})
	}
	return dbus.NewError(ErrNameFailed, []any{err.Error()})
}

// caller is who sent msg, as the bus daemon knows it.
func (s *Service) caller(ctx context.Context, msg dbus.Message) (string, uint32, error) {
	sender, _ := msg.Headers[dbus.FieldSender].Value().(string)
	if sender == "" {
		return "", 0, fail(errNameAccessDenied, "no sender")
	}
	var creds map[string]dbus.Variant
	if err := s.conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.GetConnectionCredentials", 0, sender).Store(&creds); err != nil {
		return "", 0, fmt.Errorf("credentials of %s: %w", sender, err)
	}
	uid, ok := creds["UnixUserID"].Value().(uint32)
	if !ok {
		return "", 0, fail(errNameAccessDenied, "the bus does not know the caller's uid")
	}
	return sender, uid, nil
}

// authorize checks action for sender with polkit; interaction only when the
// incoming call allowed it.
func (s *Service) authorize(ctx context.Context, msg dbus.Message, sender, action string, details map[string]string) error {
	interactive := msg.Flags&dbus.FlagAllowInteractiveAuthorization != 0
	r, err := s.auth.CheckBusName(ctx, sender, action, details, interactive)
	if err != nil {
		return err
	}
	if r.Authorized {
		return nil
	}
	if r.Challenge && !interactive {
		return fail(errNameInteractive, "%s needs authentication, and the call did not allow it", action)
	}
	return fail(errNameAccessDenied, "not authorized for %s", action)
}

func (s *Service) findApp(id string) (config.App, error) {
	if err := config.ValidID(id); err != nil {
		return config.App{}, fail(ErrNameUnknownApp, "unknown app %q", truncate(id))
	}
	app, err := config.LoadApp(s.paths.Apps, id, config.Options{RequireRootOwned: true})
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return config.App{}, fail(ErrNameUnknownApp, "unknown app %q", id)
	case err != nil:
		// A definition that exists but is broken is not "unknown": say what is wrong.
		return config.App{}, fail(ErrNameUnknownApp, "app %q has an invalid definition: %s", id,
			strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return app, nil
}

func truncate(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", "\\0"), "?")
}

// record is what the service keeps about an instance, in its staging dir.
type record struct {
	App     string `json:"app"`
	UID     uint32 `json:"uid"`
	Machine string `json:"machine"`
	Unit    string `json:"unit"`
	Since   uint64 `json:"since"`
}

const recordFile = "instance.json"

func newMachineName(app string) (string, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return app + "-" + hex.EncodeToString(b[:]), nil
}

func (s *Service) launch(ctx context.Context, msg dbus.Message, appID string, dict map[string]dbus.Variant) (string, int32, error) {
	// The bus handed us our own copies of the caller's descriptors: keep
	// them only until systemd has its own, or the caller's reader never sees
	// EOF while this process lives. On every path, the first one included.
	defer closeFDs(dict)
	sender, uid, err := s.caller(ctx, msg)
	if err != nil {
		return "", -1, err
	}
	session, err := ParseSession(dict)
	if err != nil {
		return "", -1, fail(ErrNameInvalidArgs, "%v", err)
	}
	if uid == 0 {
		return "", -1, fail(ErrNameInvalidArgs, "apps run as a regular user, not as root")
	}
	app, err := s.findApp(appID)
	if err != nil {
		return "", -1, err
	}
	if err := s.authorize(ctx, msg, sender, ActionLaunch, map[string]string{"app": app.ID}); err != nil {
		return "", -1, err
	}
	if app.X11 == config.X11Host && session.Display == "" && session.WaylandDisplay == "" {
		return "", -1, fail(ErrNameSessionResource, "app %q needs a display, and the session has none (DISPLAY is not set)", app.ID)
	}
	imageDir, err := s.imageDir(app)
	if err != nil {
		return "", -1, err
	}
	u, err := hostUser(uid)
	if err != nil {
		return "", -1, err
	}
	machine, err := newMachineName(app.ID)
	if err != nil {
		return "", -1, err
	}

	dir, err := stage.Create(s.paths.Stage, machine)
	if err != nil {
		return "", -1, err
	}
	defer dir.Close()
	started := false
	proxyStarted := false
	defer func() {
		if started {
			return
		}
		if proxyStarted {
			_ = s.units.StopUnit(context.Background(), proxyUnitName(machine))
		}
		_ = stage.Remove(s.paths.Stage, machine)
	}()

	spec := Spec{App: app, Machine: machine, ImageDir: imageDir, Self: s.paths.Self, UID: u.UID, GID: u.GID,
		Home: u.Home, Args: session.Args}
	spec.Env = baseEnv(u.Name, spec.Home, u.UID)
	for k, v := range app.Env {
		spec.Env[k] = v
	}
	if err := s.stageIdentity(dir, &spec, u); err != nil {
		return "", -1, err
	}
	if err := s.stageSession(ctx, dir, &spec, session, app, u, &proxyStarted); err != nil {
		return "", -1, err
	}

	unit := unitName(machine)
	rec := record{App: app.ID, UID: u.UID, Machine: machine, Unit: unit, Since: uint64(time.Now().UnixMicro())}
	data, _ := json.Marshal(rec)
	if _, err := dir.WriteFile(recordFile, data, 0o644); err != nil {
		return "", -1, err
	}
	argv := NspawnArgv(s.paths.Nspawn, spec)
	props := []systemd.Property{
		systemd.Prop("Description", fmt.Sprintf("nspawn-tray: %s for %s", app.Name, u.Name)),
		systemd.Prop("Slice", "machine.slice"),
		systemd.Prop("Delegate", true),
		systemd.Prop("KillMode", "mixed"),
		// nspawn reports READY=1 once the payload runs: the start job ends
		// then, so Launch returns when the app is running.
		systemd.Prop("Type", "notify"),
		systemd.Prop("CollectMode", "inactive-or-failed"),
		systemd.Prop("ExecStart", []systemd.ExecCommand{{Path: argv[0], Argv: argv}}),
		// Runs however the unit ends: removes the staging dir and its mounts.
		systemd.Prop("ExecStopPost", []systemd.ExecCommand{{Path: s.paths.Self,
			Argv: []string{s.paths.Self, "cleanup-instance", machine}, IgnoreFailure: true}}),
	}
	if session.Wait {
		// Keep the unit loaded until we have read how it ended.
		props = append(props, systemd.Prop("AddRef", true))
		if session.Stdout != nil {
			props = append(props, systemd.Prop("StandardOutputFileDescriptor", *session.Stdout))
		}
		if session.Stderr != nil {
			props = append(props, systemd.Prop("StandardErrorFileDescriptor", *session.Stderr))
		}
	}
	if session.Wait {
		// Whatever happens from here, drop AddRef's reference.
		defer func() { _ = s.units.Unref(context.Background(), unit) }()
	}
	if err := s.units.StartTransientUnit(ctx, unit, props); err != nil {
		if errors.Is(err, systemd.ErrJobFailed) {
			// The unit ran (and its ExecStopPost cleaned up) but failed.
			started = true
			return "", -1, fail(ErrNameFailed, "app %q failed to start (journalctl -u %s)", app.ID, unit)
		}
		return "", -1, err
	}
	started = true
	if !session.Wait {
		return machine, -1, nil
	}
	exit, err := s.units.WaitExit(ctx, unit)
	if err != nil {
		return machine, -1, err
	}
	if exit.Code == 1 { // CLD_EXITED
		return machine, exit.Status, nil
	}
	return machine, 128 + exit.Status, nil
}

func closeFDs(dict map[string]dbus.Variant) {
	for _, v := range dict {
		if fd, ok := v.Value().(dbus.UnixFD); ok {
			unix.Close(int(fd))
		}
	}
}

// imageDir is the app's image, which must be a directory (not a symlink).
func (s *Service) imageDir(app config.App) (string, error) {
	dir := filepath.Join(s.paths.Machines, app.Image)
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", fail(ErrNameImageMissing, "image %q of app %q is missing: no directory %s", app.Image, app.ID, dir)
	}
	unix.Close(fd)
	return dir, nil
}

// hostUser is the caller's account on the host.
func hostUser(uid uint32) (stage.User, error) {
	u := stage.User{UID: uid, GID: uid, Name: "u" + strconv.FormatUint(uint64(uid), 10), Shell: "/bin/sh"}
	if pw, err := user.LookupId(strconv.FormatUint(uint64(uid), 10)); err == nil {
		if stage.ValidUserName(pw.Username) == nil {
			u.Name = pw.Username
		}
		if gid, err := strconv.ParseUint(pw.Gid, 10, 32); err == nil {
			u.GID = uint32(gid)
		}
	}
	if u.GID == 0 {
		return stage.User{}, fail(ErrNameInvalidArgs, "uid %d has root's group as its primary group", uid)
	}
	u.Home = "/home/" + u.Name
	if err := u.Validate(); err != nil {
		return stage.User{}, fail(ErrNameInvalidArgs, "uid %d: %v", uid, err)
	}
	return u, nil
}

// stageIdentity gives the user a passwd and group entry, a home and a
// runtime dir inside the container.
func (s *Service) stageIdentity(dir *stage.Dir, spec *Spec, u stage.User) error {
	files := []struct {
		image, name string
		merge       func([]byte) []byte
	}{
		{"etc/passwd", "passwd", func(b []byte) []byte { return stage.MergePasswd(b, u) }},
		{"etc/group", "group", func(b []byte) []byte { return stage.MergeGroup(b, u.Name, u.GID) }},
	}
	for _, f := range files {
		data, err := stage.ReadImageFile(spec.ImageDir, f.image, 1<<20)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fail(ErrNameImageMissing, "image %q: %v", spec.App.Image, err)
		}
		path, err := dir.WriteFile(f.name, f.merge(data), 0o644)
		if err != nil {
			return err
		}
		spec.Binds = append(spec.Binds, Bind{Src: path, Dst: "/" + f.image})
	}
	// D-Bus and PulseAudio clients identify the machine by its machine-id:
	// the host's, read-only (a root-owned host file, not the user's).
	if _, err := os.Stat(s.paths.MachineID); err == nil {
		spec.Binds = append(spec.Binds, Bind{Src: s.paths.MachineID, Dst: "/etc/machine-id"})
	}
	runtime, err := dir.Mkdir("runtime", int(u.UID), int(u.GID), 0o700)
	if err != nil {
		return err
	}
	spec.Binds = append(spec.Binds, Bind{Src: runtime, Dst: spec.Env["XDG_RUNTIME_DIR"], RW: true})
	if spec.App.Home {
		home, err := appHome(s.paths.Homes, u.UID, u.GID, spec.App.ID)
		if err != nil {
			return err
		}
		spec.Binds = append(spec.Binds, Bind{Src: home, Dst: spec.Home, RW: true})
	} else {
		// A private, empty home that goes away with the instance.
		home, err := dir.Mkdir("home", int(u.UID), int(u.GID), 0o700)
		if err != nil {
			return err
		}
		spec.Binds = append(spec.Binds, Bind{Src: home, Dst: spec.Home, RW: true})
	}
	return nil
}

// stageSession binds the session's display, audio and bus. Each socket is
// opened without following symlinks, checked, and bound by fd into the
// staging dir: nspawn only ever sees paths in the staging dir.
func (s *Service) stageSession(ctx context.Context, dir *stage.Dir, spec *Spec, sess Session, app config.App, u stage.User, proxyStarted *bool) error {
	runUser := fmt.Sprintf("/run/user/%d", u.UID)
	if app.X11 == config.X11Host && sess.Display != "" {
		num := sess.DisplayNumber()
		// The X server runs as root (Xorg) or as the user (Xwayland, Xvfb).
		sock, err := stage.OpenSocket("/tmp/.X11-unix", "X"+num, u.UID, 0)
		if err != nil {
			return fail(ErrNameSessionResource, "X11 display %s: %v", sess.Display, err)
		}
		defer sock.Close()
		path, err := dir.BindFD(sock, "X"+num)
		if err != nil {
			return fail(ErrNameSessionResource, "X11 display %s: %v", sess.Display, err)
		}
		spec.Binds = append(spec.Binds, Bind{Src: path, Dst: "/tmp/.X11-unix/X" + num, RW: true})
		spec.Env["DISPLAY"] = ":" + num
		if sess.XCookie != nil {
			cookie, err := dir.WriteFile("xauthority", WildCookieFile(num, sess.XCookie), 0o400)
			if err != nil {
				return err
			}
			if err := os.Chown(cookie, int(u.UID), int(u.GID)); err != nil {
				return fmt.Errorf("launcher: chown cookie: %w", err)
			}
			spec.Binds = append(spec.Binds, Bind{Src: cookie, Dst: inXauthority})
			spec.Env["XAUTHORITY"] = inXauthority
		}
	}
	if sess.WaylandDisplay != "" && app.X11 == config.X11Host {
		sock, err := stage.OpenSocket(runUser, sess.WaylandDisplay, u.UID)
		if err != nil {
			return fail(ErrNameSessionResource, "Wayland display %s: %v", sess.WaylandDisplay, err)
		}
		defer sock.Close()
		path, err := dir.BindFD(sock, sess.WaylandDisplay)
		if err != nil {
			return fail(ErrNameSessionResource, "Wayland display %s: %v", sess.WaylandDisplay, err)
		}
		spec.Binds = append(spec.Binds, Bind{Src: path, Dst: inWaylandDir + "/" + sess.WaylandDisplay, RW: true})
		spec.Env["WAYLAND_DISPLAY"] = inWaylandDir + "/" + sess.WaylandDisplay
	}
	if app.Audio {
		sock, err := stage.OpenSocket(runUser+"/pulse", "native", u.UID)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// No sound server in this session: the app runs silent.
		case err != nil:
			return fail(ErrNameSessionResource, "PulseAudio: %v", err)
		default:
			defer sock.Close()
			// The socket can vanish between open and bind (PulseAudio
			// restarting): say which resource failed.
			path, err := dir.BindFD(sock, "pulse-native")
			if err != nil {
				return fail(ErrNameSessionResource, "PulseAudio: %v", err)
			}
			conf, err := dir.WriteFile("pulse-client.conf", []byte("autospawn = no\nenable-shm = no\n"), 0o644)
			if err != nil {
				return err
			}
			spec.Binds = append(spec.Binds, Bind{Src: path, Dst: inPulse, RW: true}, Bind{Src: conf, Dst: inPulseConf})
			spec.Env["PULSE_SERVER"] = "unix:" + inPulse
			spec.Env["PULSE_CLIENTCONFIG"] = inPulseConf
		}
	}
	if len(app.DBus) > 0 {
		if err := s.startProxy(ctx, dir, spec, app, u); err != nil {
			return err
		}
		*proxyStarted = true
		spec.Env["DBUS_SESSION_BUS_ADDRESS"] = "unix:path=" + spec.Env["XDG_RUNTIME_DIR"] + "/bus"
	}
	return nil
}

// startProxy runs xdg-dbus-proxy as the user, filtering the user's session
// bus down to the app's allowlist; its socket lands in the instance's
// runtime dir. A raw session bus would reach systemd --user, which runs code
// outside the container.
func (s *Service) startProxy(ctx context.Context, dir *stage.Dir, spec *Spec, app config.App, u stage.User) error {
	if _, err := os.Stat(s.paths.DBusProxy); err != nil {
		return fail(ErrNameSessionResource, "app %q wants the session bus, but %s is not installed (xdg-dbus-proxy)", app.ID, s.paths.DBusProxy)
	}
	socket := filepath.Join(dir.Path(), "runtime", "bus")
	argv := []string{s.paths.DBusProxy, fmt.Sprintf("unix:path=/run/user/%d/bus", u.UID), socket, "--filter"}
	for _, name := range app.DBus {
		argv = append(argv, "--talk="+name)
	}
	props := []systemd.Property{
		systemd.Prop("Description", fmt.Sprintf("nspawn-tray: session bus proxy for %s", spec.Machine)),
		systemd.Prop("User", strconv.FormatUint(uint64(u.UID), 10)),
		systemd.Prop("Group", strconv.FormatUint(uint64(u.GID), 10)),
		systemd.Prop("Type", "exec"),
		systemd.Prop("CollectMode", "inactive-or-failed"),
		systemd.Prop("ExecStart", []systemd.ExecCommand{{Path: argv[0], Argv: argv}}),
	}
	if err := s.units.StartTransientUnit(ctx, proxyUnitName(spec.Machine), props); err != nil {
		return err
	}
	// The proxy creates its socket right after exec; the app must not start
	// before it exists or its first connection fails.
	deadline := time.Now().Add(3 * time.Second)
	for {
		var st unix.Stat_t
		if unix.Lstat(socket, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFSOCK {
			return nil
		}
		if time.Now().After(deadline) {
			return fail(ErrNameSessionResource, "the session bus proxy for %s did not come up", spec.Machine)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// list is the service's instances that machined has registered.
func (s *Service) list(ctx context.Context) ([]Instance, error) {
	entries, err := os.ReadDir(s.paths.Stage)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("launcher: list %s: %w", s.paths.Stage, err)
	}
	running, err := s.machines.List(ctx)
	if err != nil {
		return nil, err
	}
	registered := map[string]bool{}
	for _, m := range running {
		registered[m.Name] = true
	}
	var out []Instance
	for _, e := range entries {
		if !ValidMachine(e.Name()) || !registered[e.Name()] {
			continue
		}
		rec, err := s.readRecord(e.Name())
		if err != nil {
			continue
		}
		out = append(out, Instance{Machine: rec.Machine, App: rec.App, UID: rec.UID, Since: rec.Since, Unit: rec.Unit})
	}
	return out, nil
}

func (s *Service) readRecord(machine string) (record, error) {
	var rec record
	data, err := os.ReadFile(filepath.Join(s.paths.Stage, machine, recordFile))
	if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(data, &rec); err != nil {
		return rec, err
	}
	if rec.Machine != machine {
		return rec, fmt.Errorf("record of %s names %s", machine, rec.Machine)
	}
	return rec, nil
}

func (s *Service) stop(ctx context.Context, msg dbus.Message, machine string) error {
	sender, uid, err := s.caller(ctx, msg)
	if err != nil {
		return err
	}
	if !ValidMachine(machine) {
		return fail(ErrNameNoSuchInstance, "no nspawn-tray instance %q", truncate(machine))
	}
	rec, err := s.readRecord(machine)
	if err != nil {
		return fail(ErrNameNoSuchInstance, "no nspawn-tray instance %q", machine)
	}
	action := ActionStopAny
	if rec.UID == uid {
		action = ActionStopOwn
	}
	if err := s.authorize(ctx, msg, sender, action, map[string]string{"app": rec.App, "machine": machine}); err != nil {
		return err
	}
	if err := s.machines.Terminate(ctx, machine); err != nil {
		if errors.Is(err, machined.ErrNoSuchMachine) {
			return fail(ErrNameNoSuchInstance, "instance %q is not running", machine)
		}
		return err
	}
	return nil
}

// Cleanup removes what a launch staged for machine: it runs as the
// instance's ExecStopPost, as root.
func Cleanup(ctx context.Context, conn *dbus.Conn, stageRoot, machine string) error {
	if !ValidMachine(machine) {
		return fmt.Errorf("launcher: cleanup: %q is not an instance name", truncate(machine))
	}
	err := systemd.New(conn).StopUnit(ctx, proxyUnitName(machine))
	if err != nil && !errors.Is(err, systemd.ErrNoSuchUnit) {
		return err
	}
	return stage.Remove(stageRoot, machine)
}
