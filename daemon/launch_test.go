package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"

	"github.com/nspawn-tray/nspawn-tray/internal/bustest"
	"github.com/nspawn-tray/nspawn-tray/launcher"
)

var cookie = bytes.Repeat([]byte{0x5a}, 16)

// units sorts the units asked for into the proxy and the instance of one
// launch, and gives its machine ("" when no unit was asked for).
func (e *env) units() (machine string, proxy, instance bool) {
	machine, proxy, _, instance = e.allUnits()
	return machine, proxy, instance
}

// allUnits is units with the PulseAudio filter.
func (e *env) allUnits() (machine string, proxy, pulse, instance bool) {
	for _, n := range e.started() {
		switch {
		case strings.HasPrefix(n, "nspawn-tray-dbus-"):
			proxy = true
			machine = strings.TrimSuffix(strings.TrimPrefix(n, "nspawn-tray-dbus-"), ".service")
		case strings.HasPrefix(n, "nspawn-tray-join-"):
		case strings.HasPrefix(n, "nspawn-tray-pulse-"):
			pulse = true
			machine = strings.TrimSuffix(strings.TrimPrefix(n, "nspawn-tray-pulse-"), ".service")
		case strings.HasPrefix(n, "nspawn-tray-"):
			instance = true
			machine = strings.TrimSuffix(strings.TrimPrefix(n, "nspawn-tray-"), ".service")
		}
	}
	return machine, proxy, pulse, instance
}

// Whatever step fails, the caller gets the error of that step and the host
// is as before: no staging dir, no mount, no unit left loaded, and no unit
// asked for after the failing step.
func TestLaunchFailureLeavesNothingBehind(t *testing.T) {
	withX := func(e *env) { e.x11("0", bustest.Alice) }
	withXAndPulse := func(e *env) {
		e.x11("0", bustest.Alice)
		e.userSocket(bustest.Alice, "pulse/native", bustest.Alice)
	}
	display := launcher.Session{Display: ":0", XCookie: cookie}
	tests := []struct {
		name    string
		setup   func(e *env)
		as      uint32
		app     string
		session launcher.Session
		want    error
		errName string
		msg     string
		// Units asked for before the failure.
		pulse, proxy, instance bool
	}{
		{name: "unknown app", as: bustest.Alice, app: "nosuch",
			want: launcher.ErrUnknownApp, errName: launcher.ErrNameUnknownApp, msg: `unknown app "nosuch"`},
		{name: "app id that is no id", as: bustest.Alice, app: "../../etc/passwd",
			want: launcher.ErrUnknownApp, errName: launcher.ErrNameUnknownApp, msg: `unknown app "../../etc/passwd"`},
		{name: "definition writable by its group", as: bustest.Alice, app: "loose",
			setup: func(e *env) { e.app("loose", plainApp, 0o664) },
			want:  launcher.ErrUnknownApp, errName: launcher.ErrNameUnknownApp, msg: `app "loose" has an invalid definition: `},
		{name: "image missing", as: bustest.Alice, app: "noimage",
			setup: func(e *env) { e.app("noimage", strings.Replace(plainApp, `"img"`, `"absent"`, 1), 0o644) },
			want:  launcher.ErrImageMissing, errName: launcher.ErrNameImageMissing, msg: `image "absent" of app "noimage" is missing`},
		{name: "image is a symlink", as: bustest.Alice, app: "linked",
			setup: func(e *env) {
				e.app("linked", strings.Replace(plainApp, `"img"`, `"link"`, 1), 0o644)
				if err := os.Symlink("img", filepath.Join(e.paths.Machines, "link")); err != nil {
					t.Fatal(err)
				}
			},
			want: launcher.ErrImageMissing, errName: launcher.ErrNameImageMissing, msg: `image "link" of app "linked" is missing`},
		{name: "session field invalid", as: bustest.Alice, app: "plain", session: launcher.Session{Display: "evil.example:0"},
			want: launcher.ErrInvalidArgs, errName: launcher.ErrNameInvalidArgs, msg: `display "evil.example:0": want a local display`},
		{name: "caller is root", as: 0, app: "plain",
			want: launcher.ErrInvalidArgs, errName: launcher.ErrNameInvalidArgs, msg: "apps run as a regular user, not as root"},
		{name: "display needed but missing", as: bustest.Alice, app: "full",
			want: launcher.ErrSessionResource, errName: launcher.ErrNameSessionResource, msg: `app "full" needs a display`},
		{name: "X11 socket missing", as: bustest.Alice, app: "full", session: display,
			want: launcher.ErrSessionResource, errName: launcher.ErrNameSessionResource, msg: "X11 display :0: "},
		{name: "X11 socket is a symlink", as: bustest.Alice, app: "full", session: display,
			setup: func(e *env) {
				e.x11("9", bustest.Alice)
				if err := os.Symlink("X9", filepath.Join(e.paths.X11Sockets, "X0")); err != nil {
					t.Fatal(err)
				}
			},
			want: launcher.ErrSessionResource, errName: launcher.ErrNameSessionResource, msg: "X11 display :0: "},
		{name: "X11 socket of another user", as: bustest.Alice, app: "full", session: display,
			setup: func(e *env) { e.x11("0", bustest.Mallory) },
			want:  launcher.ErrSessionResource, errName: launcher.ErrNameSessionResource, msg: "x11/X0 belongs to another user"},
		// The first version started the app, which died with "cannot open
		// display", and reported the launch a success.
		{name: "X server refuses the user", as: bustest.Alice, app: "full", session: launcher.Session{Display: ":0"},
			setup: func(e *env) {
				e.x11("0", bustest.Alice)
				e.xRefuse = "Authorization required, but no authorization protocol specified\n"
			},
			want: launcher.ErrSessionResource, errName: launcher.ErrNameSessionResource,
			msg: "X11 display :0: refused the connection: Authorization required, but no authorization protocol specified (your XAUTHORITY has no cookie for it)"},
		{name: "X11 path is no socket", as: bustest.Alice, app: "full", session: display,
			setup: func(e *env) { writeFile(t, filepath.Join(e.paths.X11Sockets, "X0"), "", 0o644) },
			want:  launcher.ErrSessionResource, errName: launcher.ErrNameSessionResource, msg: "not a socket"},
		{name: "Wayland socket missing", as: bustest.Alice, app: "full", session: launcher.Session{WaylandDisplay: "wayland-0"},
			want: launcher.ErrSessionResource, errName: launcher.ErrNameSessionResource, msg: "Wayland display wayland-0: "},
		{name: "PulseAudio socket of another user", as: bustest.Alice, app: "full", session: display,
			setup: func(e *env) {
				e.x11("0", bustest.Alice)
				e.userSocket(bustest.Alice, "pulse/native", bustest.Mallory)
			},
			want: launcher.ErrSessionResource, errName: launcher.ErrNameSessionResource, msg: "PulseAudio: "},
		{name: "session bus proxy not installed", as: bustest.Alice, app: "full", session: display,
			setup: func(e *env) { withXAndPulse(e); e.svc.paths.DBusProxy = "/nonexistent/xdg-dbus-proxy" },
			want:  launcher.ErrSessionResource, errName: launcher.ErrNameSessionResource, msg: "/nonexistent/xdg-dbus-proxy is not installed", pulse: true},
		{name: "session bus proxy never creates its socket", as: bustest.Alice, app: "full", session: display,
			setup: func(e *env) { withXAndPulse(e); e.proxyNoSocket = true },
			// The app's exec-as waits for the socket while nspawn starts.
			want: launcher.ErrSessionResource, errName: launcher.ErrNameSessionResource, msg: "did not come up", pulse: true, proxy: true, instance: true},
		{name: "session bus proxy fails to start", as: bustest.Alice, app: "full", session: display,
			setup: func(e *env) { withXAndPulse(e); e.proxyFails = true },
			want:  launcher.ErrSessionResource, errName: launcher.ErrNameSessionResource, msg: "the session bus proxy for full-", pulse: true, proxy: true, instance: true},
		{name: "StartTransientUnit refuses the instance", as: bustest.Alice, app: "full", session: display,
			setup: func(e *env) {
				withX(e)
				e.instanceStart = func(bustest.Unit) (string, *dbus.Error) {
					return "", dbus.NewError("org.freedesktop.systemd1.TransactionIsDestructive", []any{"no, not now"})
				}
			},
			want: launcher.ErrFailed, errName: launcher.ErrNameFailed, msg: "no, not now", proxy: true, instance: true},
		{name: "StartTransientUnit refuses a waited instance", as: bustest.Alice, app: "plain", session: launcher.Session{Wait: true},
			setup: func(e *env) {
				e.instanceStart = func(bustest.Unit) (string, *dbus.Error) {
					return "", dbus.NewError("org.freedesktop.systemd1.TransactionIsDestructive", []any{"no, not now"})
				}
			},
			want: launcher.ErrFailed, errName: launcher.ErrNameFailed, msg: "no, not now", instance: true},
		// From here the unit's ExecStopPost (the env's OnEnd hook) owns the
		// cleanup.
		{name: "instance fails to start", as: bustest.Alice, app: "full", session: display,
			setup: func(e *env) {
				withXAndPulse(e)
				e.instanceStart = func(bustest.Unit) (string, *dbus.Error) { return "failed", nil }
			},
			want: launcher.ErrFailed, errName: launcher.ErrNameFailed, msg: `app "full" failed to start (journalctl -u nspawn-tray-full-`,
			pulse: true, proxy: true, instance: true},
		{name: "waited instance fails to start", as: bustest.Alice, app: "plain", session: launcher.Session{Wait: true},
			setup: func(e *env) {
				e.instanceStart = func(bustest.Unit) (string, *dbus.Error) { return "failed", nil }
			},
			want: launcher.ErrFailed, errName: launcher.ErrNameFailed, msg: `app "plain" failed to start`, instance: true},
		// nspawn reported the payload started; the app's exec did not.
		{name: "the app's program cannot run", as: bustest.Alice, app: "full", session: display,
			setup: func(e *env) {
				withXAndPulse(e)
				e.execReport = "cannot run /usr/bin/full: no such file or directory"
			},
			want: launcher.ErrExecFailed, errName: launcher.ErrNameExecFailed, msg: `app "full": cannot run /usr/bin/full: no such file or directory`,
			pulse: true, proxy: true, instance: true},
		{name: "the instance ends without a report", as: bustest.Alice, app: "plain",
			setup: func(e *env) {
				e.execSilent = true
				e.instanceStart = func(u bustest.Unit) (string, *dbus.Error) {
					go func() { time.Sleep(50 * time.Millisecond); e.systemd.Exit(u.Name, 1, 1) }()
					return "done", nil
				}
			},
			want: launcher.ErrExecFailed, errName: launcher.ErrNameExecFailed, msg: `app "plain" ended before it started (journalctl -u nspawn-tray-plain-`,
			instance: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if tc.setup != nil {
				tc.setup(e)
			}
			_, status, err := e.launch(tc.as, tc.app, tc.session)
			var se *launcher.ServiceError
			if !errors.Is(err, tc.want) || !errors.As(err, &se) || se.Name != tc.errName || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("launch: %v, want %s containing %q", err, tc.errName, tc.msg)
			}
			if status != -1 {
				t.Errorf("status %d with an error, want -1", status)
			}
			machine, proxy, pulse, instance := e.allUnits()
			if pulse != tc.pulse || proxy != tc.proxy || instance != tc.instance {
				t.Errorf("units asked for: %v; want pulse %v, proxy %v, instance %v", e.started(), tc.pulse, tc.proxy, tc.instance)
			}
			for _, helper := range []struct {
				ran  bool
				unit string
			}{{proxy, proxyUnitName(machine)}, {pulse, pulseUnitName(machine)}} {
				if !helper.ran {
					continue
				}
				bustest.Eventually(t, helper.unit+" is stopped", func() bool {
					return slices.Contains(e.systemd.Stopped(), helper.unit)
				})
			}
			bustest.Eventually(t, "the staging dir is gone", func() bool { return len(e.staged()) == 0 })
			bustest.Eventually(t, "no unit is loaded", func() bool { return len(e.systemd.LoadedNames()) == 0 })
			if m := mountsBelow(t, e.paths.Stage); len(m) > 0 {
				t.Errorf("mounts left: %v", m)
			}
			// Once the instance unit ran, its ExecStopPost alone cleans up:
			// the daemon undoing as well would race it.
			if n := count(e.systemd.Stopped(), proxyUnitName(machine)); proxy && n != 1 {
				t.Errorf("the proxy was stopped %d times, want once", n)
			}
			if n := count(e.systemd.Stopped(), pulseUnitName(machine)); pulse && n != 1 {
				t.Errorf("the filter was stopped %d times, want once", n)
			}
		})
	}
}

func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

func TestLaunchSucceeds(t *testing.T) {
	e := newEnv(t)
	xSock := e.x11("0", bustest.Alice)
	e.userSocket(bustest.Alice, "pulse/native", bustest.Alice)
	e.polkit.Answer(launcher.ActionStopOwn, bustest.PolkitAnswer{Authorized: true})
	ctx := context.Background()

	machine, status, err := e.launch(bustest.Alice, "full", launcher.Session{Display: ":0", XCookie: cookie, Args: []string{"a b", "--c"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(machine, "full-") || status != -1 {
		t.Fatalf("launch = %q, %d; want full-XXXXXXXX, -1", machine, status)
	}
	// The display was tried the way the app will use it: as Alice (the
	// server's SI:localuser check sees her), with her cookie.
	e.mu.Lock()
	xc := e.xClients
	e.mu.Unlock()
	if len(xc) != 1 || xc[0].UID != bustest.Alice || xc[0].GID != bustest.Alice || xc[0].Auth != "MIT-MAGIC-COOKIE-1" || !bytes.Equal(xc[0].Cookie, cookie) {
		t.Errorf("X connection setups %+v, want one as Alice with her cookie", xc)
	}
	// The probe's thread (real uid root, effective uid the user's) went
	// with its credentials. (bustest's connections as users are threads
	// that are the user's through and through.)
	tasks, _ := filepath.Glob("/proc/self/task/*/status")
	for _, task := range tasks {
		data, err := os.ReadFile(task)
		if err == nil && strings.Contains(string(data), "\nUid:\t0\t") && !strings.Contains(string(data), "\nUid:\t0\t0\t0\t0\n") {
			t.Errorf("%s: a thread of the daemon kept the probe's credentials:\n%s", task, data)
		}
	}
	unit := unitName(machine)
	if got, want := e.started(), []string{pulseUnitName(machine), proxyUnitName(machine), unit}; !slices.Equal(got, want) {
		t.Fatalf("units started %v, want %v", got, want)
	}

	t.Run("nspawn command line", func(t *testing.T) {
		s := filepath.Join(e.paths.Stage, machine)
		want := []string{e.paths.Nspawn, "--quiet", "--keep-unit", "--register=yes", "--machine=" + machine,
			"--hostname=full", "--directory=" + filepath.Join(e.paths.Machines, "img"), "--read-only", "--volatile=overlay",
			"--private-users=identity", "--no-new-privileges=yes", "--as-pid2", "--console=pipe", "--link-journal=no",
			"--tmpfs=/home:mode=0755", "--bind-ro=/bin/true:/run/nspawn-tray/exec",
			"--bind-ro=" + s + "/passwd:/etc/passwd",
			"--bind-ro=" + s + "/group:/etc/group",
			"--bind-ro=" + s + "/machine-id:/etc/machine-id",
			"--bind=" + s + "/scratch/runtime:/run/user/65534",
			"--bind=" + filepath.Join(e.paths.Homes, "65534", "full") + ":/home/nobody",
			"--bind=" + s + "/X0:/tmp/.X11-unix/X0",
			"--bind-ro=" + s + "/xauthority:/run/nspawn-tray/xauthority",
			"--bind-ro=" + s + "/pulse-client.conf:/run/nspawn-tray/pulse/client.conf",
			"--bind-ro=" + s + "/status:/run/nspawn-tray/status",
			"--setenv=DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/65534/bus",
			"--setenv=DISPLAY=:0",
			"--setenv=FOO=bar",
			"--setenv=HOME=/home/nobody",
			"--setenv=LOGNAME=nobody",
			"--setenv=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"--setenv=PULSE_CLIENTCONFIG=/run/nspawn-tray/pulse/client.conf",
			"--setenv=PULSE_SERVER=unix:/run/user/65534/pulse/native",
			"--setenv=SHELL=/bin/sh",
			"--setenv=USER=nobody",
			"--setenv=XAUTHORITY=/run/nspawn-tray/xauthority",
			"--setenv=XDG_RUNTIME_DIR=/run/user/65534",
			"--", "/run/nspawn-tray/exec", "exec-as", "--uid", "65534", "--gid", "65534", "--home", "/home/nobody",
			"--status", "/run/nspawn-tray/status/launch",
			"--await", "/run/user/65534/pulse/native", "--await", "/run/user/65534/bus", "--",
			"/usr/bin/full", "--flag", "a b", "--c"}
		got := e.startedUnit(unit).Argv("ExecStart")
		if !slices.Equal(got, want) {
			t.Errorf("ExecStart\n got %q\nwant %q", got, want)
		}
	})

	t.Run("unit properties", func(t *testing.T) {
		u := e.startedUnit(unit)
		for k, want := range map[string]any{"Type": "notify", "CollectMode": "inactive-or-failed", "Slice": "machine.slice",
			"KillMode": "mixed", "Delegate": true, "Description": "nspawn-tray: Full for nobody"} {
			if got := u.Props[k].Value(); got != want {
				t.Errorf("%s = %v, want %v", k, got, want)
			}
		}
		if _, ok := u.Props["AddRef"]; ok {
			t.Error("AddRef: the exit record says how it ended, a reference would only keep a failed unit loaded")
		}
		if got, want := u.Argv("ExecStopPost"), []string{"/bin/true", "cleanup-instance", machine}; !slices.Equal(got, want) {
			t.Errorf("ExecStopPost %q, want %q", got, want)
		}
		p := e.startedUnit(proxyUnitName(machine))
		if p.Props["User"].Value() != "65534" || p.Props["Group"].Value() != "65534" {
			t.Errorf("the proxy runs as %v:%v, want the caller", p.Props["User"].Value(), p.Props["Group"].Value())
		}
		want := []string{"/bin/true", "unix:path=" + e.paths.RunUser + "/65534/bus",
			filepath.Join(e.paths.Stage, machine, "scratch", "runtime", "bus"), "--filter", "--see=org.freedesktop.Notifications",
			"--call=org.freedesktop.Notifications=org.freedesktop.Notifications.*@/org/freedesktop/Notifications",
			"--broadcast=org.freedesktop.Notifications=org.freedesktop.Notifications.*@/org/freedesktop/Notifications"}
		if got := p.Argv("ExecStart"); !slices.Equal(got, want) {
			t.Errorf("proxy ExecStart %q, want %q", got, want)
		}
	})

	t.Run("staged files", func(t *testing.T) {
		s := filepath.Join(e.paths.Stage, machine)
		for bound, orig := range map[string]string{"X0": xSock} {
			if !sameInode(t, filepath.Join(s, bound), orig) {
				t.Errorf("%s is not the session's socket %s bound", bound, orig)
			}
		}
		xauth, err := os.ReadFile(filepath.Join(s, "xauthority"))
		if err != nil || !bytes.Equal(xauth, wildCookieFile("0", cookie)) {
			t.Errorf("xauthority %x, %v; want the cookie as a FamilyWild entry", xauth, err)
		}
		checkOwner(t, filepath.Join(s, "xauthority"), bustest.Alice, 0o400)
		checkOwner(t, filepath.Join(s, "scratch", "runtime"), bustest.Alice, 0o700)
		checkOwner(t, filepath.Join(e.paths.Homes, "65534", "full"), bustest.Alice, 0o700)
		passwd, _ := os.ReadFile(filepath.Join(s, "passwd"))
		if string(passwd) != "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/home/nobody:/bin/sh\n" {
			t.Errorf("passwd:\n%s", passwd)
		}
		group, _ := os.ReadFile(filepath.Join(s, "group"))
		if !strings.Contains(string(group), "nogroup:x:65534:") && !strings.Contains(string(group), ":x:65534:") {
			t.Errorf("group has no entry for gid 65534:\n%s", group)
		}
		var rec launcher.Instance
		data, err := os.ReadFile(filepath.Join(s, recordFile))
		if err == nil {
			err = json.Unmarshal(data, &rec)
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec.Machine != machine || rec.App != "full" || rec.UID != bustest.Alice || rec.Unit != unit || rec.Since == 0 {
			t.Errorf("record %+v", rec)
		}
	})

	t.Run("List shows it once machined has it", func(t *testing.T) {
		// Anyone may list: Mallory sees Alice's instance.
		list, err := e.client(bustest.Mallory).List(ctx)
		if err != nil || len(list) != 0 {
			t.Fatalf("List before machined registered it = %+v, %v; want none", list, err)
		}
		e.machined.Add(bustest.Machine{Name: machine, Service: "nspawn", Unit: unit})
		list, err = e.client(bustest.Mallory).List(ctx)
		if err != nil || len(list) != 1 {
			t.Fatalf("List = %+v, %v; want the instance", list, err)
		}
		if got := list[0]; got.Machine != machine || got.App != "full" || got.UID != bustest.Alice || got.Unit != unit || got.Since == 0 {
			t.Errorf("List = %+v", got)
		}
	})

	t.Run("Stop terminates it through machined", func(t *testing.T) {
		if err := e.client(bustest.Alice).Stop(ctx, machine); err != nil {
			t.Fatal(err)
		}
		if term := e.machined.Terminated(); len(term) != 1 || term[0].Name != machine {
			t.Errorf("terminated %+v, want %s", term, machine)
		}
		if list, err := e.client(bustest.Alice).List(ctx); err != nil || len(list) != 0 {
			t.Errorf("List after Stop = %+v, %v; want none", list, err)
		}
	})

	t.Run("the unit's end removes everything", func(t *testing.T) {
		if err := e.systemd.Exit(unit, 2, 9); err != nil {
			t.Fatal(err)
		}
		bustest.Eventually(t, "the staging dir is gone", func() bool { return len(e.staged()) == 0 })
		if !slices.Contains(e.systemd.Stopped(), proxyUnitName(machine)) {
			t.Errorf("the proxy was not stopped: %v", e.systemd.Stopped())
		}
		if m := mountsBelow(t, e.paths.Stage); len(m) > 0 {
			t.Errorf("mounts left: %v", m)
		}
		bustest.Eventually(t, "no unit is loaded", func() bool { return len(e.systemd.LoadedNames()) == 0 })
	})
}

func sameInode(t *testing.T, a, b string) bool {
	t.Helper()
	var sa, sb unix.Stat_t
	if err := unix.Stat(a, &sa); err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat(b, &sb); err != nil {
		t.Fatal(err)
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino
}

func checkOwner(t *testing.T, path string, uid uint32, mode uint32) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != uid || st.Mode&0o7777 != mode {
		t.Errorf("%s: owner %d mode %#o, want %d %#o", path, st.Uid, st.Mode&0o7777, uid, mode)
	}
}

// waitedLaunch launches plain with wait and starts waiting for it in the
// background; it returns the instance unit and Wait's result.
func (e *env) waitedLaunch(s launcher.Session) (string, <-chan waitResult) {
	e.t.Helper()
	s.Wait = true
	m, status, err := e.launch(bustest.Alice, "plain", s)
	if err != nil || status != -1 {
		e.t.Fatalf("launch = %q, %d, %v; want a machine and -1", m, status, err)
	}
	done := make(chan waitResult, 1)
	go func() {
		status, err := e.client(bustest.Alice).Wait(context.Background(), m)
		done <- waitResult{status, err}
	}()
	return unitName(m), done
}

type waitResult struct {
	status int32
	err    error
}

func TestWaitReturnsExitStatus(t *testing.T) {
	tests := []struct {
		name         string
		code, status int32
		want         int32
	}{
		{"exit 0", 1, 0, 0},
		{"exit 3", 1, 3, 3},
		// Like a shell: 128+N for signal N.
		{"killed by SIGKILL", 2, 9, 137},
		{"dumped core on SIGSEGV", 3, 11, 139},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			unit, done := e.waitedLaunch(launcher.Session{})
			select {
			case r := <-done:
				t.Fatalf("Wait returned while the app runs: %+v", r)
			case <-time.After(100 * time.Millisecond):
			}
			if err := e.systemd.Exit(unit, tc.code, tc.status); err != nil {
				t.Fatal(err)
			}
			if r := <-done; r.err != nil || r.status != tc.want {
				t.Fatalf("Wait = %+v, want status %d", r, tc.want)
			}
			bustest.Eventually(t, "the unit is unloaded", func() bool { _, ok := e.systemd.Loaded(unit); return !ok })
			bustest.Eventually(t, "the staging dir is gone", func() bool { return len(e.staged()) == 0 })
			// Asked again after the unit is gone: the record answers.
			if got, err := e.client(bustest.Alice).Wait(context.Background(), strings.TrimSuffix(strings.TrimPrefix(unit, "nspawn-tray-"), ".service")); err != nil || got != tc.want {
				t.Errorf("Wait after the end = %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}

// Wait answers when the app's main process (nspawn) has exited, while the
// unit's ExecStopPost (cleanup-instance) still runs, not once it has
// written the exit record; a Wait after that gets the record's answer.
func TestWaitAnswersBeforeTheCleanup(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	e.systemd.OnEnd(func(u bustest.Unit) {
		if strings.HasPrefix(u.Name, "nspawn-tray-plain-") {
			<-release
		}
		e.onEnd(u)
	})
	unit, done := e.waitedLaunch(launcher.Session{})
	if err := e.systemd.Exit(unit, 1, 7); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.err != nil || r.status != 7 {
			t.Fatalf("Wait = %+v, want 7", r)
		}
	case <-time.After(10 * time.Second):
		close(release)
		t.Fatal("Wait waited for the unit's ExecStopPost")
	}
	if len(e.staged()) == 0 {
		t.Error("the cleanup ran before Wait answered: the test shows nothing")
	}
	close(release)
	bustest.Eventually(t, "the staging dir is gone", func() bool { return len(e.staged()) == 0 })
	machine := strings.TrimSuffix(strings.TrimPrefix(unit, "nspawn-tray-"), ".service")
	if got, err := e.client(bustest.Alice).Wait(context.Background(), machine); err != nil || got != 7 {
		t.Errorf("Wait after the cleanup = %d, %v; want 7", got, err)
	}
}

// Only the instance's owner (or root) learns how it ended; a machine name
// that is no instance, or one long gone, is NoSuchInstance.
func TestWaitRefuses(t *testing.T) {
	e := newEnv(t)
	unit, done := e.waitedLaunch(launcher.Session{})
	machine := strings.TrimSuffix(strings.TrimPrefix(unit, "nspawn-tray-"), ".service")
	ctx := context.Background()
	if _, err := e.client(bustest.Mallory).Wait(ctx, machine); !errors.Is(err, launcher.ErrNotAuthorized) {
		t.Errorf("Mallory waits for Alice's running instance: %v, want not authorized", err)
	}
	e.systemd.Exit(unit, 1, 5)
	if r := <-done; r.status != 5 {
		t.Fatalf("Wait = %+v", r)
	}
	if _, err := e.client(bustest.Mallory).Wait(ctx, machine); !errors.Is(err, launcher.ErrNotAuthorized) {
		t.Errorf("Mallory waits for Alice's ended instance: %v, want not authorized", err)
	}
	if got, err := e.client(0).Wait(ctx, machine); err != nil || got != 5 {
		t.Errorf("root waits: %d, %v", got, err)
	}
	for _, m := range []string{"plain-0000abcd", "../../etc/passwd", strings.Repeat("a", 300)} {
		if _, err := e.client(bustest.Alice).Wait(ctx, m); !errors.Is(err, launcher.ErrNoSuchInstance) {
			t.Errorf("Wait(%.20q) = %v, want no such instance", m, err)
		}
	}
}

// A daemon restart (a package upgrade) mid-Wait: the client asks the next
// daemon, which answers from the exit record the instance's ExecStopPost
// wrote while no daemon ran. The first version's launch --wait died with
// "Message recipient disconnected from message bus without replying".
func TestWaitSurvivesDaemonRestart(t *testing.T) {
	e := newEnv(t)
	unit, done := e.waitedLaunch(launcher.Session{})
	bustest.Eventually(t, "Wait is being answered", func() bool { return !e.svc.idle(0) })
	e.svc.Close()
	if err := e.systemd.Exit(unit, 1, 42); err != nil {
		t.Fatal(err)
	}
	bustest.Eventually(t, "the exit record is written", func() bool { return len(e.staged()) == 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	svc, err := New(ctx, dialer(e.bus), e.paths)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	if err := svc.Export(); err != nil {
		t.Fatal(err)
	}
	if r := <-done; r.err != nil || r.status != 42 {
		t.Fatalf("Wait across the restart = %+v, want 42", r)
	}
}

// The daemon gets its own copies of the caller's output descriptors; if it
// kept one, the caller's reader would never see EOF while the daemon runs.
func TestLaunchClosesPassedDescriptors(t *testing.T) {
	for _, tc := range []struct {
		name string
		app  string
	}{{"launch succeeds", "plain"}, {"launch fails", "nosuch"}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			fd := dbus.UnixFD(w.Fd())
			s := launcher.Session{Wait: true, Stdout: &fd, Stderr: &fd}
			if tc.app == "plain" {
				unit, done := e.waitedLaunch(s)
				u := e.startedUnit(unit)
				for _, k := range []string{"StandardOutputFileDescriptor", "StandardErrorFileDescriptor"} {
					if _, ok := u.Props[k].Value().(dbus.UnixFD); !ok {
						t.Errorf("%s = %v, want the caller's descriptor", k, u.Props[k])
					}
				}
				e.systemd.Exit(unit, 1, 0)
				if r := <-done; r.err != nil {
					t.Fatal(r.err)
				}
			} else {
				_, _, err := e.launch(bustest.Alice, tc.app, s)
				if !errors.Is(err, launcher.ErrUnknownApp) {
					t.Fatalf("launch: %v", err)
				}
			}
			w.Close()
			// systemd's copies, which it would close when the unit goes.
			for _, u := range e.systemd.Started() {
				for _, k := range []string{"StandardOutputFileDescriptor", "StandardErrorFileDescriptor"} {
					if sfd, ok := u.Props[k].Value().(dbus.UnixFD); ok {
						unix.Close(int(sfd))
					}
				}
			}
			r.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadAll(r); err != nil {
				t.Errorf("the caller's pipe sees no EOF: %v", err)
			}
		})
	}
}

// Descriptors the caller sends in a shape the session does not take (in a
// struct under "stdout", say) are the daemon's copies all the same: refused
// or not, it must not keep them, or any user can make the root daemon hoard
// descriptors until it runs out.
// (The first version closed only descriptors that were a dict value
// themselves.)
func TestLaunchClosesMisplacedDescriptors(t *testing.T) {
	for _, tc := range []struct {
		name string
		dict func(fd dbus.UnixFD) map[string]dbus.Variant
	}{
		{"as a plain value under an unknown key", func(fd dbus.UnixFD) map[string]dbus.Variant {
			return map[string]dbus.Variant{"x": dbus.MakeVariant(fd)}
		}},
		{"in a struct", func(fd dbus.UnixFD) map[string]dbus.Variant {
			return map[string]dbus.Variant{"stdout": dbus.MakeVariant(struct{ FD dbus.UnixFD }{fd})}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			err = launcher.MapError(e.raw(bustest.Alice, "Launch", "plain", tc.dict(dbus.UnixFD(w.Fd()))).Err)
			if !errors.Is(err, launcher.ErrInvalidArgs) {
				t.Fatalf("launch: %v, want InvalidArguments", err)
			}
			w.Close()
			r.SetReadDeadline(time.Now().Add(2 * time.Second))
			if _, err := io.ReadAll(r); err != nil {
				t.Errorf("the caller's pipe sees no EOF, the daemon kept its copy: %v", err)
			}
		})
	}
}
