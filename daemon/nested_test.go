package daemon

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/nspawn-tray/nspawn-tray/config"
	"github.com/nspawn-tray/nspawn-tray/internal/bustest"
	"github.com/nspawn-tray/nspawn-tray/launcher"
)

var nestedApp = config.App{ID: "x", Name: "XEyes", X11: config.X11Nested, Network: config.NetworkNone}

// nestedLaunch is a binder launch with the scratch tmpfs stageIdentity
// mounts, and Xephyr "installed".
func (e *env) nestedLaunch(app config.App, s launcher.Session) *launch {
	e.t.Helper()
	l := e.binderLaunch(app, s)
	scratch, err := l.dir.MountTmpfs("scratch", 1<<20)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { scratch.Close() })
	l.scratch = scratch
	e.svc.paths.Xephyr = "/bin/true"
	return l
}

// The app gets the nested server's socket dir and its own cookie, never
// the user's X socket; the server runs as the user, confined like the
// filters, with a private /tmp and no network, and reaches the user's
// display only through the socket the daemon opened and checked.
func TestBindX11Nested(t *testing.T) {
	for _, tc := range []struct {
		display, host, nested string
		cookie                []byte
	}{
		{":0", "0", "1", cookie},
		// The nested number never equals the user's: both sockets share
		// the helper's /tmp/.X11-unix.
		{":1.0", "1", "2", cookie},
		{":0", "0", "1", nil},
	} {
		t.Run(tc.display+"/cookie="+strconv.FormatBool(tc.cookie != nil), func(t *testing.T) {
			e := newEnv(t)
			sock := e.x11(tc.host, bustest.Alice)
			l := e.nestedLaunch(nestedApp, launcher.Session{Display: tc.display, XCookie: tc.cookie})
			if err := bindX11Nested(context.Background(), l); err != nil {
				t.Fatal(err)
			}
			sockDir := e.stagePath("scratch/xnested/x11")
			wantBinds := []bind{{Src: sockDir, Dst: "/tmp/.X11-unix"}, {Src: e.stagePath("xauthority"), Dst: inXauthority}}
			if !slices.Equal(l.spec.Binds, wantBinds) {
				t.Errorf("binds %+v, want %+v", l.spec.Binds, wantBinds)
			}
			for _, b := range l.spec.Binds {
				if b.RW || strings.Contains(b.Src, "host-X") {
					t.Errorf("the app gets %+v", b)
				}
			}
			if got, want := added(l), map[string]string{"DISPLAY": ":" + tc.nested, "XAUTHORITY": inXauthority}; !maps.Equal(got, want) {
				t.Errorf("env %v, want %v", got, want)
			}
			if !slices.Equal(l.spec.Await, []string{"/tmp/.X11-unix/X" + tc.nested}) {
				t.Errorf("await %q", l.spec.Await)
			}
			// Only the helper and the app reach the socket dir, through
			// their binds: its parent is root's 0700.
			checkOwner(t, sockDir, bustest.Alice, 0o700)
			checkOwner(t, filepath.Dir(sockDir), 0, 0o700)
			if !sameInode(t, e.stagePath("host-X"+tc.host), sock) {
				t.Error("the staged host socket is not the server's")
			}
			// A fresh cookie of its own for the nested server, the user's
			// only for Xephyr.
			checkOwner(t, e.stagePath("xauthority"), bustest.Alice, 0o400)
			auth, _ := os.ReadFile(e.stagePath("xauthority"))
			if len(auth) != 2+2+2+len(tc.nested)+2+len(launcher.XauthCookieName)+2+16 || bytes.Contains(auth, cookie) ||
				!bytes.HasPrefix(auth, wildCookieFile(tc.nested, nil)[:6+len(tc.nested)]) {
				t.Errorf("nested cookie file %x", auth)
			}

			u := e.startedUnit(xnestedUnitName(binderMachine))
			argv := u.Argv("ExecStart")
			for _, want := range [][]string{{"/bin/true", ":" + tc.nested}, {"-nolisten", "tcp"}, {"-nolisten", "local"},
				{"-auth", e.stagePath("xauthority")}, {"-no-host-grab"}} {
				if !containsRun(argv, want) {
					t.Errorf("Xephyr argv %q lacks %q", argv, want)
				}
			}
			p := u.Props
			if p["User"].Value() != "65534" || p["NoNewPrivileges"].Value() != true || p["CapabilityBoundingSet"].Value() != uint64(0) ||
				p["ProtectSystem"].Value() != "strict" || p["PrivateNetwork"].Value() != true || p["PrivateTmp"].Value() != true ||
				len(p["ReadWritePaths"].Value().([]string)) != 0 {
				t.Errorf("the nested server's unit is not confined: %v", p)
			}
			binds := func(name string) [][]any { return p[name].Value().([][]any) }
			if b := binds("BindPaths"); len(b) != 1 || b[0][0] != sockDir || b[0][1] != "/tmp/.X11-unix" {
				t.Errorf("BindPaths %v", b)
			}
			if b := binds("BindReadOnlyPaths"); len(b) != 1 || b[0][0] != e.stagePath("host-X"+tc.host) || b[0][1] != "/tmp/.X11-unix/X"+tc.host {
				t.Errorf("BindReadOnlyPaths %v", b)
			}
			wantEnv := []string{"DISPLAY=:" + tc.host, "XAUTHORITY=/dev/null"}
			if tc.cookie != nil {
				wantEnv[1] = "XAUTHORITY=" + e.stagePath("xauthority-host")
				checkOwner(t, e.stagePath("xauthority-host"), bustest.Alice, 0o400)
				if data, _ := os.ReadFile(e.stagePath("xauthority-host")); !bytes.Equal(data, wildCookieFile(tc.host, tc.cookie)) {
					t.Errorf("host cookie file %x", data)
				}
			}
			if got := p["Environment"].Value().([]string); !slices.Equal(got, wantEnv) {
				t.Errorf("Environment %q, want %q", got, wantEnv)
			}
			// A later step failing takes the server down again.
			if len(l.undo) != 1 {
				t.Fatalf("%d undo steps, want the server's stop", len(l.undo))
			}
			l.undo[0]()
			if !slices.Contains(e.systemd.Stopped(), xnestedUnitName(binderMachine)) {
				t.Error("the undo step did not stop the nested server")
			}
		})
	}
}

// containsRun reports whether want occurs in argv as consecutive elements.
func containsRun(argv, want []string) bool {
	for i := range argv {
		if i+len(want) <= len(argv) && slices.Equal(argv[i:i+len(want)], want) {
			return true
		}
	}
	return false
}

// Every way to a nested display with no isolation, or none at all, is
// refused before anything starts.
func TestBindX11NestedRefuses(t *testing.T) {
	for _, tc := range []struct {
		name    string
		app     config.App
		session launcher.Session
		setup   func(e *env)
		errName string
	}{
		// config refuses it; the daemon does not count on that.
		{"host network", config.App{ID: "x", X11: config.X11Nested, Network: config.NetworkHost},
			launcher.Session{Display: ":0"}, func(e *env) { e.x11("0", bustest.Alice) }, launcher.ErrNameFailed},
		{"no display", nestedApp, launcher.Session{WaylandDisplay: "wayland-0"}, func(*env) {}, launcher.ErrNameSessionResource},
		{"Xephyr missing", nestedApp, launcher.Session{Display: ":0"},
			func(e *env) { e.x11("0", bustest.Alice); e.svc.paths.Xephyr = "/nonexistent/Xephyr" }, launcher.ErrNameSessionResource},
		{"no X socket", nestedApp, launcher.Session{Display: ":0"}, func(*env) {}, launcher.ErrNameSessionResource},
		{"another user's X server", nestedApp, launcher.Session{Display: ":0"},
			func(e *env) { e.x11("0", bustest.Mallory) }, launcher.ErrNameSessionResource},
		{"X socket is a symlink", nestedApp, launcher.Session{Display: ":0"}, func(e *env) {
			other := e.x11("5", bustest.Alice)
			if err := os.Symlink(other, filepath.Join(e.paths.X11Sockets, "X0")); err != nil {
				t.Fatal(err)
			}
		}, launcher.ErrNameSessionResource},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			l := e.nestedLaunch(tc.app, tc.session)
			tc.setup(e)
			err := bindX11Nested(context.Background(), l)
			var ce *callError
			if !errors.As(err, &ce) || ce.name != tc.errName {
				t.Errorf("bindX11Nested: %v, want %s", err, tc.errName)
			}
			if len(l.spec.Binds) != 0 || len(added(l)) != 0 || slices.Contains(e.started(), xnestedUnitName(binderMachine)) {
				t.Errorf("bound %v, env %v, units %v; want nothing", l.spec.Binds, added(l), e.started())
			}
		})
	}
}

// A nested app's command line: its socket dir and cookie, a private
// network, and no X socket of the user's. --private-network comes from
// x11 = "nested" itself too, so no definition that escaped config gives a
// nested app the host's abstract X socket.
func TestNestedArgvGolden(t *testing.T) {
	app := config.App{ID: "xeyes", Name: "XEyes", Image: "xapps", Exec: []string{"/usr/bin/xeyes"},
		X11: config.X11Nested, Audio: config.AudioNone, Network: config.NetworkNone}
	stage := "/run/nspawn-tray/instances/xeyes-0a1b2c3d"
	s := spec{App: app, Machine: "xeyes-0a1b2c3d", Image: "/var/lib/machines/xapps", Self: "/usr/bin/nspawn-tray",
		UID: 1000, GID: 1000, Home: "/home/alice",
		Binds: []bind{{Src: stage + "/scratch/xnested/x11", Dst: "/tmp/.X11-unix"}, {Src: stage + "/xauthority", Dst: inXauthority}},
		Env:   map[string]string{"HOME": "/home/alice", "DISPLAY": ":1", "XAUTHORITY": inXauthority},
		Await: []string{"/tmp/.X11-unix/X1"}}
	var b strings.Builder
	for _, arg := range nspawnArgv("/usr/bin/systemd-nspawn", s) {
		b.WriteString(strconv.Quote(arg) + "\n")
	}
	golden(t, "argv-nested.txt", b.String())
	s.App.Network = config.NetworkHost
	if !slices.Contains(nspawnArgv("/usr/bin/systemd-nspawn", s), "--private-network") {
		t.Error("a nested app with network = \"host\" gets the host's network")
	}
}

// A whole launch of a nested app: the nested server starts with the
// instance, and the instance's cleanup stops it.
func TestLaunchNestedStopsItsServer(t *testing.T) {
	e := newEnv(t)
	e.x11("0", bustest.Alice)
	e.svc.paths.Xephyr = "/bin/true"
	e.app("nested", "name = \"Nested\"\nimage = \"img\"\nexec = [\"/bin/true\"]\nx11 = \"nested\"\naudio = false\ndbus = []\n", 0o644)
	machine, _, err := e.launch(bustest.Alice, "nested", launcher.Session{Display: ":0", XCookie: cookie})
	if err != nil {
		t.Fatal(err)
	}
	unit := e.startedUnit(unitName(machine))
	argv := unit.Argv("ExecStart")
	if !slices.Contains(argv, "--private-network") || !slices.Contains(argv, "--setenv=DISPLAY=:1") {
		t.Errorf("nspawn argv %q", argv)
	}
	for _, a := range argv {
		if strings.Contains(a, "host-X0") || strings.HasSuffix(a, ":/tmp/.X11-unix/X0") {
			t.Errorf("the user's X socket reaches the container: %q", a)
		}
	}
	if !slices.Contains(e.started(), xnestedUnitName(machine)) {
		t.Fatalf("started %v, no nested X server", e.started())
	}
	// The app exits: the instance's ExecStopPost (Cleanup) runs.
	e.systemd.Exit(unitName(machine), 1, 0)
	bustest.Eventually(t, "the nested X server is stopped", func() bool {
		return slices.Contains(e.systemd.Stopped(), xnestedUnitName(machine))
	})
}
