package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/nspawn-tray/nspawn-tray/config"
	"github.com/nspawn-tray/nspawn-tray/launcher"
	"github.com/nspawn-tray/nspawn-tray/openat2"
	"github.com/nspawn-tray/nspawn-tray/paths"
	"github.com/nspawn-tray/nspawn-tray/stage"
	"github.com/nspawn-tray/nspawn-tray/systemd"
)

// Paths inside the container. Everything the service binds lands on a tmpfs
// nspawn mounts itself (/run, /tmp) or on the volatile overlay, never in a
// directory the user can write.
const (
	inExec       = "/run/nspawn-tray/exec"
	inXauthority = "/run/nspawn-tray/xauthority"
	inPulseConf  = "/run/nspawn-tray/pulse/client.conf"
	inWaylandDir = "/run/nspawn-tray/wayland"
	inXDGOpen    = "/usr/local/bin/xdg-open"
	portalName   = "org.freedesktop.portal.Desktop"
)

// A binder adds one session resource to a launch: nothing when the app or
// the session has none, otherwise binds and environment in l.spec. Each
// socket is opened without following symlinks, checked, and bound by fd
// into the staging dir: nspawn only ever sees paths in the staging dir.
type binder func(ctx context.Context, l *launch) error

var sessionBinders = []struct {
	name string
	bind binder
}{{"x11", bindX11}, {"x11-nested", bindX11Nested}, {"wayland", bindWayland}, {"pulse", bindPulse}, {"session-bus", bindSessionBus}, {"shared-dirs", bindShared},
	{"gpu", bindGPU}, {"host-look", bindHostLook}}

// bindSocket opens dir/name as a socket owned by one of owners and binds it
// onto the staging dir entry as. Failures are the user's one line, naming
// what; a missing socket is no path and no error when optional.
func bindSocket(l *launch, what, dir, name, as string, optional bool, owners ...uint32) (string, error) {
	sock, err := stage.OpenSocket(dir, name, owners...)
	if optional && errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	path := ""
	if err == nil {
		// The socket can vanish between open and bind (its server
		// restarting): the error still names the resource.
		path, err = l.dir.BindFD(sock, as)
		sock.Close()
	}
	if err != nil {
		return "", fail(launcher.ErrNameSessionResource, "%s: %s", what, socketProblem(dir+"/"+name, err))
	}
	return path, nil
}

// socketProblem says in the user's words why a session socket cannot be
// used.
func socketProblem(path string, err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "no socket " + path + " (is its server running?)"
	case errors.Is(err, stage.ErrWrongOwner):
		return path + " belongs to another user"
	case errors.Is(err, openat2.ErrSymlink):
		return path + " is a symlink, refused"
	case errors.Is(err, stage.ErrNotSocket):
		return path + " is not a socket"
	}
	return err.Error()
}

// bindX11 binds the display's socket (only X<n>, never the whole
// /tmp/.X11-unix) and a FamilyWild cookie file.
func bindX11(_ context.Context, l *launch) error {
	sess, u, sp := l.session, l.user, &l.spec
	if l.app.X11 != config.X11Host || sess.Display == "" {
		return nil
	}
	num := sess.DisplayNumber()
	// The X server runs as root (Xorg) or as the user (Xwayland, Xvfb).
	path, err := bindSocket(l, "X11 display "+sess.Display, l.s.paths.X11Sockets, "X"+num, "X"+num, false, u.UID, 0)
	if err != nil {
		return err
	}
	if err := probeX11(path, u.UID, u.GID, sess.XCookie); err != nil {
		hint := ""
		if sess.XCookie == nil && errors.Is(err, errXRefused) {
			hint = " (your XAUTHORITY has no cookie for it)"
		}
		return fail(launcher.ErrNameSessionResource, "X11 display %s: %v%s", sess.Display, err, hint)
	}
	sp.Binds = append(sp.Binds, bind{Src: path, Dst: "/tmp/.X11-unix/X" + num, RW: true})
	sp.Env["DISPLAY"] = ":" + num
	if sess.XCookie == nil {
		return nil
	}
	cookie, err := l.dir.WriteFile("xauthority", wildCookieFile(num, sess.XCookie), 0o400)
	if err != nil {
		return err
	}
	if err := os.Chown(cookie, int(u.UID), int(u.GID)); err != nil {
		return fmt.Errorf("daemon: chown cookie: %w", err)
	}
	sp.Binds = append(sp.Binds, bind{Src: cookie, Dst: inXauthority})
	sp.Env["XAUTHORITY"] = inXauthority
	return nil
}

// bindWayland binds the user's Wayland socket.
func bindWayland(_ context.Context, l *launch) error {
	name := l.session.WaylandDisplay
	if name == "" || l.app.X11 != config.X11Host {
		return nil
	}
	path, err := bindSocket(l, "Wayland display "+name, paths.RuntimeDir(l.s.paths.RunUser, l.user.UID), name, name, false, l.user.UID)
	if err != nil {
		return err
	}
	l.spec.Binds = append(l.spec.Binds, bind{Src: path, Dst: inWaylandDir + "/" + name, RW: true})
	l.spec.Env["WAYLAND_DISPLAY"] = inWaylandDir + "/" + name
	return nil
}

// bindPulse gives the app the user's PulseAudio (or pipewire-pulse)
// through nspawn-tray's filter of the native protocol, running as the user
// (pulsefilter): with the server's own socket an app could load modules
// into it (module-ladspa-sink runs any .so), change other clients' streams
// and the defaults, and neither server can restrict a client enough. The
// filter's socket is in the instance's runtime dir, where libpulse looks
// for it; shared memory stays off.
func bindPulse(ctx context.Context, l *launch) error {
	if l.app.Audio == config.AudioNone {
		return nil
	}
	s, u := l.s, l.user
	dir := paths.RuntimeDir(s.paths.RunUser, u.UID) + "/pulse"
	// The filter connects as the user, so this is not for access: it tells
	// a missing sound server (the app runs silent) from one that is not
	// what it claims, with a clear error.
	sock, err := stage.OpenSocket(dir, "native", u.UID)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fail(launcher.ErrNameSessionResource, "PulseAudio: %v", err)
	}
	sock.Close()
	listen := filepath.Join(l.runtime, "pulse", "native")
	mode := "playback"
	if l.app.Audio == config.AudioFull {
		mode = "full"
	}
	argv := []string{s.paths.Self, "pulse-filter", "--upstream", dir + "/native", "--listen", listen, "--mode", mode}
	if err := l.startUserHelper(ctx, pulseUnitName(l.machine), "PulseAudio filter", argv, listen); err != nil {
		return err
	}
	conf, err := l.dir.WriteFile("pulse-client.conf", []byte("autospawn = no\nenable-shm = no\n"), 0o644)
	if err != nil {
		return err
	}
	l.spec.Binds = append(l.spec.Binds, bind{Src: conf, Dst: inPulseConf})
	l.spec.Env["PULSE_SERVER"] = "unix:" + l.spec.Env["XDG_RUNTIME_DIR"] + "/pulse/native"
	l.spec.Env["PULSE_CLIENTCONFIG"] = inPulseConf
	return nil
}

// bindSessionBus runs xdg-dbus-proxy as the user, filtering the user's
// session bus down to the app's allowlist; its socket lands in the
// instance's runtime dir. A raw session bus would reach systemd --user,
// which runs code outside the container.
func bindSessionBus(ctx context.Context, l *launch) error {
	if len(l.app.DBus) == 0 {
		return nil
	}
	s, u := l.s, l.user
	if !exists(s.paths.DBusProxy) {
		return fail(launcher.ErrNameSessionResource, "app %q wants the session bus, but %s is not installed (xdg-dbus-proxy)", l.app.ID, s.paths.DBusProxy)
	}
	if l.app.Network == config.NetworkHost && busBypassable(l.session.SessionBus) {
		return fail(launcher.ErrNameSessionResource, "app %q would reach your session bus (%s) without the filter, through the host's network: "+
			"give it network = \"none\" or dbus = [], or run a session bus on a path (dbus-user-session)", l.app.ID, l.session.SessionBus)
	}
	socket := filepath.Join(l.runtime, "bus")
	argv := append([]string{s.paths.DBusProxy, "unix:path=" + paths.RuntimeDir(s.paths.RunUser, u.UID) + "/bus", socket},
		proxyArgs(l.app.DBus)...)
	argv = append(argv, ownArgs(l.app.OwnedNames())...)
	if err := l.startUserHelper(ctx, proxyUnitName(l.machine), "session bus proxy", argv, socket); err != nil {
		return err
	}
	l.spec.Env["DBUS_SESSION_BUS_ADDRESS"] = "unix:path=" + l.spec.Env["XDG_RUNTIME_DIR"] + "/bus"
	// Links the app opens go to the host's browser through the portal:
	// this binary is xdg-open there (cli's xdg-open), ahead of the
	// image's in PATH.
	if slices.Contains(l.app.DBus, portalName) {
		l.spec.Binds = append(l.spec.Binds, bind{Src: s.paths.Self, Dst: inXDGOpen})
	}
	return nil
}

// startUserHelper runs argv as the user in a transient unit named unit (a
// filter between the app and the user's session), confined to talking
// over unix sockets and writing only the instance's runtime dir. It does
// not wait: the helper comes up while nspawn starts, and exec-as waits
// for its socket (inside, at the same place below the runtime dir) before
// the app runs, whose first connection would fail without it. A later
// step failing stops it.
func (l *launch) startUserHelper(ctx context.Context, unit, what string, argv []string, socket string) error {
	rel, err := filepath.Rel(l.runtime, socket)
	if err != nil || !filepath.IsLocal(rel) {
		return fmt.Errorf("daemon: %s socket %s is not below the runtime dir", what, socket)
	}
	return l.startHelper(ctx, userHelper{unit: unit, what: what, argv: argv,
		writable: []string{l.runtime}, await: l.spec.Env["XDG_RUNTIME_DIR"] + "/" + rel})
}

// userHelper is one helper unit: what it runs and what of the host it
// needs beyond the common confinement.
type userHelper struct {
	unit, what string
	argv       []string
	// writable are the host paths it may write (ReadWritePaths).
	writable []string
	// await is its socket as exec-as sees it in the instance.
	await string
	// extra are further properties (a private /tmp, binds, environment).
	extra     []systemd.Property
	memoryMax uint64 // 0: 64 MiB
}

// startHelper starts h as the user, without waiting (see startUserHelper).
func (l *launch) startHelper(ctx context.Context, h userHelper) error {
	s, u := l.s, l.user
	memoryMax := h.memoryMax
	if memoryMax == 0 {
		memoryMax = 64 << 20
	}
	props := []systemd.Property{
		systemd.Prop("Description", fmt.Sprintf("nspawn-tray: %s for %s", h.what, l.machine)),
		systemd.Prop("User", strconv.FormatUint(uint64(u.UID), 10)),
		systemd.Prop("Group", strconv.FormatUint(uint64(u.GID), 10)),
		systemd.Prop("Type", "exec"),
		systemd.Prop("CollectMode", "inactive-or-failed"),
		// A helper that a hostile app talks to: if one of them is ever
		// broken into, it holds no capability, sees no network, and can
		// write nothing but the instance's own files.
		systemd.Prop("NoNewPrivileges", true),
		systemd.Prop("CapabilityBoundingSet", uint64(0)),
		systemd.Prop("ProtectSystem", "strict"),
		systemd.Prop("ReadWritePaths", h.writable),
		systemd.Prop("PrivateNetwork", true),
		systemd.Prop("RestrictAddressFamilies", struct {
			Allow    bool
			Families []string
		}{true, []string{"AF_UNIX"}}),
		systemd.Prop("LockPersonality", true),
		systemd.Prop("TasksMax", uint64(16)),
		systemd.Prop("MemoryMax", memoryMax),
	}
	props = append(props, h.extra...)
	props = append(props, systemd.ExecProp("ExecStart", systemd.ExecCommand{Path: h.argv[0], Argv: h.argv}))
	job, err := s.units.StartTransient(ctx, h.unit, props)
	if err != nil {
		return err
	}
	l.onFailure(func() { _ = s.units.StopUnit(context.Background(), h.unit) })
	l.helpers = append(l.helpers, helper{what: h.what, job: job})
	l.spec.Await = append(l.spec.Await, h.await)
	return nil
}

// helper is a user helper's start job, which the launch checks once the
// app runs (awaitHelpers).
type helper struct {
	what string
	job  *systemd.Job
}

// awaitHelpers checks that the helpers started. They have by the time the
// app runs (exec-as waited for their sockets), so this does not wait in
// practice; a helper that failed fails the launch with its name.
func (l *launch) awaitHelpers(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, helperTimeout)
	defer cancel()
	for _, h := range l.helpers {
		if err := h.job.Wait(ctx); err != nil {
			// The app runs without it: stop the instance (its
			// ExecStopPost cleans up).
			_ = l.s.units.StopUnit(context.Background(), l.unit)
			return fail(launcher.ErrNameSessionResource, "the %s for %s did not come up: %v", h.what, l.machine, err)
		}
	}
	return nil
}

// helperTimeout bounds the wait for a helper's start, here and in
// exec-as's wait for its socket.
const helperTimeout = 5 * time.Second

// failedHelper is the first helper whose start has failed, without
// waiting; for a better reason when the app did not start.
func (l *launch) failedHelper() error {
	for _, h := range l.helpers {
		if done, err := h.job.Finished(); done && err != nil {
			return fail(launcher.ErrNameSessionResource, "the %s for %s did not come up: %v", h.what, l.machine, err)
		}
	}
	return nil
}

// readImageFile reads a file of the image (at most 1 MiB); a missing file
// reads as empty.
func readImageFile(imageDir, rel string) ([]byte, error) {
	data, err := openat2.ReadFileInRoot(imageDir, rel, 1<<20)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return data, err
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
