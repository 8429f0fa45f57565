package daemon

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nspawn-tray/nspawn-tray/config"
	"github.com/nspawn-tray/nspawn-tray/internal/bustest"
	"github.com/nspawn-tray/nspawn-tray/launcher"
	"github.com/nspawn-tray/nspawn-tray/stage"
)

const binderMachine = "x-0000000a"

// binderLaunch is a launch of app for Alice that got as far as the session
// binders: a staging dir and the base environment.
func (e *env) binderLaunch(app config.App, s launcher.Session) *launch {
	e.t.Helper()
	dir, err := stage.Create(e.paths.Stage, binderMachine)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { dir.Close() })
	u := stage.User{Name: "nobody", UID: bustest.Alice, GID: bustest.Alice, Home: "/home/nobody", Shell: "/bin/sh"}
	return &launch{s: e.svc, app: app, session: s, user: u, machine: binderMachine, dir: dir,
		spec: spec{Env: baseEnv(u.Name, u.Home, u.UID)}}
}

// added is what a binder added to the base environment.
func added(l *launch) map[string]string {
	out := maps.Clone(l.spec.Env)
	for k := range baseEnv(l.user.Name, l.user.Home, l.user.UID) {
		delete(out, k)
	}
	return out
}

func (e *env) stagePath(name string) string { return filepath.Join(e.paths.Stage, binderMachine, name) }

func TestBindX11(t *testing.T) {
	x11 := config.App{X11: config.X11Host}
	tests := []struct {
		name    string
		app     config.App
		session launcher.Session
		owner   uint32 // of the X socket
		binds   func(e *env) []bind
		env     map[string]string
	}{
		{name: "with cookie", app: x11, session: launcher.Session{Display: ":0", XCookie: cookie}, owner: bustest.Alice,
			binds: func(e *env) []bind {
				return []bind{{Src: e.stagePath("X0"), Dst: "/tmp/.X11-unix/X0", RW: true},
					{Src: e.stagePath("xauthority"), Dst: inXauthority}}
			},
			env: map[string]string{"DISPLAY": ":0", "XAUTHORITY": inXauthority}},
		// Xorg runs as root; the screen is not part of the socket name.
		{name: "without cookie, root's server, a screen", app: x11, session: launcher.Session{Display: ":0.1"}, owner: 0,
			binds: func(e *env) []bind { return []bind{{Src: e.stagePath("X0"), Dst: "/tmp/.X11-unix/X0", RW: true}} },
			env:   map[string]string{"DISPLAY": ":0"}},
		{name: "app without X11", app: config.App{X11: config.X11None}, session: launcher.Session{Display: ":0", XCookie: cookie},
			owner: bustest.Alice, binds: func(*env) []bind { return nil }, env: map[string]string{}},
		{name: "session without display", app: x11, session: launcher.Session{WaylandDisplay: "wayland-0"},
			owner: bustest.Alice, binds: func(*env) []bind { return nil }, env: map[string]string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			sock := e.x11("0", tc.owner)
			l := e.binderLaunch(tc.app, tc.session)
			if err := bindX11(context.Background(), l); err != nil {
				t.Fatal(err)
			}
			if want := tc.binds(e); !slices.Equal(l.spec.Binds, want) {
				t.Errorf("binds %+v, want %+v", l.spec.Binds, want)
			}
			if got := added(l); !maps.Equal(got, tc.env) {
				t.Errorf("env %v, want %v", got, tc.env)
			}
			if len(l.spec.Binds) > 0 && !sameInode(t, l.spec.Binds[0].Src, sock) {
				t.Error("the staged X0 is not the server's socket")
			}
			if tc.session.XCookie != nil && len(l.spec.Binds) == 2 {
				checkOwner(t, e.stagePath("xauthority"), bustest.Alice, 0o400)
			}
		})
	}
}

func TestBindWayland(t *testing.T) {
	e := newEnv(t)
	sock := e.userSocket(bustest.Alice, "wayland-1", bustest.Alice)
	l := e.binderLaunch(config.App{X11: config.X11Host}, launcher.Session{WaylandDisplay: "wayland-1"})
	if err := bindWayland(context.Background(), l); err != nil {
		t.Fatal(err)
	}
	want := []bind{{Src: e.stagePath("wayland-1"), Dst: "/run/nspawn-tray/wayland/wayland-1", RW: true}}
	if !slices.Equal(l.spec.Binds, want) {
		t.Errorf("binds %+v, want %+v", l.spec.Binds, want)
	}
	if got := added(l); !maps.Equal(got, map[string]string{"WAYLAND_DISPLAY": "/run/nspawn-tray/wayland/wayland-1"}) {
		t.Errorf("env %v", got)
	}
	if !sameInode(t, e.stagePath("wayland-1"), sock) {
		t.Error("the staged socket is not the compositor's")
	}
}

func TestBindWaylandRefuses(t *testing.T) {
	tests := []struct {
		name  string
		setup func(e *env)
	}{
		{"missing", func(*env) {}},
		// Only the user's own compositor: a root-owned socket in the
		// user's runtime dir is not theirs to hand out.
		{"root's socket", func(e *env) { e.userSocket(bustest.Alice, "wayland-1", 0) }},
		{"runtime dir is a symlink", func(e *env) {
			other := e.userSocket(bustest.Mallory, "wayland-1", bustest.Alice)
			mkdir(t, e.paths.RunUser)
			if err := os.Symlink(filepath.Dir(other), filepath.Join(e.paths.RunUser, "65534")); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			tc.setup(e)
			l := e.binderLaunch(config.App{X11: config.X11Host}, launcher.Session{WaylandDisplay: "wayland-1"})
			err := bindWayland(context.Background(), l)
			var ce *callError
			if !errors.As(err, &ce) || ce.name != launcher.ErrNameSessionResource || len(l.spec.Binds) != 0 {
				t.Errorf("bindWayland: %v, binds %v; want SessionResource and nothing bound", err, l.spec.Binds)
			}
		})
	}
}

func TestBindPulse(t *testing.T) {
	tests := []struct {
		name   string
		audio  config.Audio
		socket bool
		mode   string // the filter's, "" for none
	}{
		{"playback", config.AudioPlayback, true, "playback"},
		{"full", config.AudioFull, true, "full"},
		// No sound server: the app runs silent, and that is no error.
		{"absent", config.AudioPlayback, false, ""},
		{"app without audio", config.AudioNone, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			var sock string
			if tc.socket {
				sock = e.userSocket(bustest.Alice, "pulse/native", bustest.Alice)
			}
			l := e.binderLaunch(config.App{Audio: tc.audio}, launcher.Session{})
			l.runtime = e.stagePath("runtime")
			mkdir(t, l.runtime)
			if err := bindPulse(context.Background(), l); err != nil {
				t.Fatal(err)
			}
			unit := pulseUnitName(binderMachine)
			if tc.mode == "" {
				if len(l.spec.Binds) != 0 || len(added(l)) != 0 || slices.Contains(e.started(), unit) {
					t.Errorf("bound %v, env %v, units %v; want nothing", l.spec.Binds, added(l), e.started())
				}
				return
			}
			// The app never gets the server's socket: only the filter's,
			// which runs as the user and connects upstream itself.
			listen := filepath.Join(l.runtime, "pulse", "native")
			want := []string{"/bin/true", "pulse-filter", "--upstream", sock, "--listen", listen, "--mode", tc.mode}
			u := e.startedUnit(unit)
			if got := u.Argv("ExecStart"); !slices.Equal(got, want) {
				t.Errorf("filter argv %q, want %q", got, want)
			}
			if u.Props["User"].Value() != "65534" || u.Props["NoNewPrivileges"].Value() != true ||
				u.Props["ProtectSystem"].Value() != "strict" || !slices.Equal(u.Props["ReadWritePaths"].Value().([]string), []string{l.runtime}) {
				t.Errorf("the filter's unit is not confined to the user and the runtime dir: %v", u.Props)
			}
			if !slices.Equal(l.spec.Binds, []bind{{Src: e.stagePath("pulse-client.conf"), Dst: inPulseConf}}) {
				t.Errorf("binds %+v, want only the client.conf", l.spec.Binds)
			}
			if got := added(l); !maps.Equal(got, map[string]string{"PULSE_SERVER": "unix:/run/user/65534/pulse/native", "PULSE_CLIENTCONFIG": inPulseConf}) {
				t.Errorf("env %v", got)
			}
			// Shared memory segments would not be reachable across the
			// container boundary; autospawn would start a server inside.
			if conf, _ := os.ReadFile(e.stagePath("pulse-client.conf")); string(conf) != "autospawn = no\nenable-shm = no\n" {
				t.Errorf("client.conf %q", conf)
			}
			// A later step failing takes the filter down again.
			if len(l.undo) != 1 {
				t.Fatalf("%d undo steps, want the filter's stop", len(l.undo))
			}
			l.undo[0]()
			if !slices.Contains(e.systemd.Stopped(), unit) {
				t.Error("the undo step did not stop the filter")
			}
		})
	}
}

func TestBindSessionBus(t *testing.T) {
	e := newEnv(t)
	l := e.binderLaunch(config.App{DBus: []string{"org.freedesktop.Notifications", "org.example.*"}}, launcher.Session{})
	l.runtime = e.stagePath("runtime")
	mkdir(t, l.runtime)
	if err := bindSessionBus(context.Background(), l); err != nil {
		t.Fatal(err)
	}
	if got := added(l); !maps.Equal(got, map[string]string{"DBUS_SESSION_BUS_ADDRESS": "unix:path=/run/user/65534/bus"}) {
		t.Errorf("env %v", got)
	}
	unit := proxyUnitName(binderMachine)
	want := append([]string{"/bin/true", "unix:path=" + e.paths.RunUser + "/65534/bus", e.stagePath("runtime/bus")},
		proxyArgs([]string{"org.freedesktop.Notifications", "org.example.*"})...)
	if got := e.startedUnit(unit).Argv("ExecStart"); !slices.Equal(got, want) {
		t.Errorf("proxy argv %q, want %q", got, want)
	}
	// A later step failing must take the proxy down again.
	if len(l.undo) != 1 {
		t.Fatalf("%d undo steps, want the proxy's stop", len(l.undo))
	}
	l.undo[0]()
	if !slices.Equal(e.systemd.Stopped(), []string{unit}) {
		t.Errorf("stopped %v, want %s", e.systemd.Stopped(), unit)
	}
}

// With the portal, links go to the host: this binary is the app's
// xdg-open; without it there is no such bind.
func TestBindSessionBusXDGOpen(t *testing.T) {
	for _, names := range [][]string{{"org.freedesktop.portal.Desktop"}, {"org.freedesktop.Notifications"}} {
		e := newEnv(t)
		l := e.binderLaunch(config.App{DBus: names}, launcher.Session{})
		l.runtime = e.stagePath("runtime")
		mkdir(t, l.runtime)
		if err := bindSessionBus(context.Background(), l); err != nil {
			t.Fatal(err)
		}
		want := names[0] == portalName
		if got := slices.Contains(l.spec.Binds, bind{Src: "/bin/true", Dst: "/usr/local/bin/xdg-open"}); got != want {
			t.Errorf("%v: xdg-open bound %v, want %v (binds %v)", names, got, want, l.spec.Binds)
		}
	}
}

func TestBindSessionBusWithoutNames(t *testing.T) {
	e := newEnv(t)
	l := e.binderLaunch(config.App{}, launcher.Session{})
	if err := bindSessionBus(context.Background(), l); err != nil || len(e.started()) != 0 || len(added(l)) != 0 {
		t.Errorf("bindSessionBus without names: %v, units %v, env %v; want nothing", err, e.started(), added(l))
	}
}

// On an abstract socket (or TCP) the session bus is reachable without the
// proxy by any process sharing the host's network: such an app is refused
// its bus, and told how to get it.
func TestSessionBusOnAnAbstractSocketIsRefusedWithHostNetwork(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		network string
		ok      bool
	}{{config.NetworkHost, false}, {config.NetworkNone, true}} {
		l := e.binderLaunch(config.App{ID: "x", DBus: []string{"org.freedesktop.Notifications"}, Network: tc.network},
			launcher.Session{SessionBus: "unix:abstract=/tmp/dbus-Xyz,guid=1"})
		l.runtime = e.stagePath("runtime-" + tc.network)
		mkdir(t, l.runtime)
		err := bindSessionBus(context.Background(), l)
		if tc.ok && err != nil {
			t.Errorf("network %s: %v", tc.network, err)
		}
		if !tc.ok && (err == nil || !strings.Contains(err.Error(), "without the filter") || !strings.Contains(err.Error(), `network = "none"`)) {
			t.Errorf("network %s: %v, want a refusal saying why and what to do", tc.network, err)
		}
		for _, f := range l.undo {
			f()
		}
		stage.Remove(e.paths.Stage, binderMachine)
	}
}
