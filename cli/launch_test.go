package cli

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"

	"github.com/nspawn-tray/nspawn-tray/internal/bustest"
	"github.com/nspawn-tray/nspawn-tray/launcher"
)

// fakeDaemon is a private system bus with the fake nspawn-tray daemon on it.
func fakeDaemon(t *testing.T) *bustest.Launcher {
	t.Helper()
	b := bustest.New(t)
	b.AsSystemBus(t)
	return bustest.NewLauncher(t, b.Conn(t))
}

// emptyBus is a private system bus where nothing provides the daemon.
func emptyBus(t *testing.T) {
	t.Helper()
	bustest.New(t).AsSystemBus(t)
}

// noSystemBus points the system bus at a socket that does not exist.
func noSystemBus(t *testing.T) {
	t.Helper()
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path="+filepath.Join(t.TempDir(), "no-bus"))
}

// noDesktop clears what launch would take from the desktop session, so the
// session dict holds only what a test sets.
func noDesktop(t *testing.T) {
	t.Helper()
	for _, k := range []string{"DISPLAY", "WAYLAND_DISPLAY", "XAUTHORITY"} {
		t.Setenv(k, "")
	}
}

const notInstalled = "nspawn-tray: the nspawn-tray daemon is not installed (no io.github.nspawn_tray.Launcher1 on the system bus)\n"

func methods(calls []bustest.LauncherCall) []string {
	var out []string
	for _, c := range calls {
		out = append(out, c.Method+" "+c.Arg)
	}
	return out
}

func TestLaunchPrintsMachine(t *testing.T) {
	noDesktop(t)
	l := fakeDaemon(t)
	code, stdout, stderr := run(t, Program{}, "launch", "spotify")
	if code != 0 || stdout != "spotify-00000001\n" || stderr != "" {
		t.Errorf("code %d, stdout %q, stderr %q; want 0 and the machine", code, stdout, stderr)
	}
	calls := l.Calls()
	if len(calls) != 1 || calls[0].Method != "Launch" || calls[0].Arg != "spotify" {
		t.Fatalf("daemon got %v, want one Launch spotify", methods(calls))
	}
	// polkit may ask for a password only if the call allows it.
	if !calls[0].Interactive {
		t.Error("Launch was not sent with ALLOW_INTERACTIVE_AUTHORIZATION")
	}
	if len(calls[0].Session) != 0 {
		t.Errorf("session %v, want empty without a desktop session or arguments", calls[0].Session)
	}
}

func TestLaunchSendsArgsAfterDashDash(t *testing.T) {
	noDesktop(t)
	l := fakeDaemon(t)
	// Only the first "--" separates; the app may want one of its own.
	code, stdout, stderr := run(t, Program{}, "launch", "spotify", "--", "--uri", "a b", "--")
	if code != 0 || stdout != "spotify-00000001\n" || stderr != "" {
		t.Fatalf("code %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	calls := l.Calls()
	if len(calls) != 1 {
		t.Fatalf("daemon got %v", methods(calls))
	}
	args, _ := calls[0].Session["args"].Value().([]string)
	if want := []string{"--uri", "a b", "--"}; !slices.Equal(args, want) {
		t.Errorf("session args %q, want %q (session %v)", args, want, calls[0].Session)
	}
	if _, ok := calls[0].Session["wait"]; ok {
		t.Errorf("session has wait without --wait: %v", calls[0].Session)
	}
}

// xauthority is an Xauthority file with one FamilyWild cookie for display
// number num, which matches whatever the hostname.
func xauthority(t *testing.T, num string, cookie []byte) string {
	t.Helper()
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, uint16(launcher.XauthFamilyWild))
	for _, f := range [][]byte{nil, []byte(num), []byte(launcher.XauthCookieName), cookie} {
		binary.Write(&b, binary.BigEndian, uint16(len(f)))
		b.Write(f)
	}
	p := filepath.Join(t.TempDir(), "Xauthority")
	if err := os.WriteFile(p, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLaunchSendsDesktopSession(t *testing.T) {
	l := fakeDaemon(t)
	cookie := []byte("0123456789abcdef")
	t.Setenv("DISPLAY", ":5")
	t.Setenv("XAUTHORITY", xauthority(t, "5", cookie))
	t.Setenv("WAYLAND_DISPLAY", "wayland-1")
	if code, _, stderr := run(t, Program{}, "launch", "spotify"); code != 0 {
		t.Fatalf("code %d, stderr %q", code, stderr)
	}
	calls := l.Calls()
	if len(calls) != 1 {
		t.Fatalf("daemon got %v", methods(calls))
	}
	s := calls[0].Session
	if d, _ := s["display"].Value().(string); d != ":5" {
		t.Errorf("display %v, want :5", s["display"])
	}
	if c, _ := s["x11-cookie"].Value().([]byte); !bytes.Equal(c, cookie) {
		t.Errorf("x11-cookie %v, want %q", s["x11-cookie"], cookie)
	}
	if w, _ := s["wayland-display"].Value().(string); w != "wayland-1" {
		t.Errorf("wayland-display %v, want wayland-1", s["wayland-display"])
	}
}

// A remote display is refused here, before anything is sent.
func TestLaunchRefusesRemoteDisplay(t *testing.T) {
	noDesktop(t)
	l := fakeDaemon(t)
	t.Setenv("DISPLAY", "otherhost:0")
	code, stdout, stderr := run(t, Program{}, "launch", "spotify")
	want := "nspawn-tray: DISPLAY=otherhost:0 is not a local display (:N); remote X is not supported\n"
	if code != 1 || stdout != "" || stderr != want {
		t.Errorf("code %d, stdout %q, stderr %q; want 1 and %q", code, stdout, stderr, want)
	}
	if calls := l.Calls(); len(calls) != 0 {
		t.Errorf("daemon got %v, want nothing", methods(calls))
	}
}

func TestLaunchUsageErrors(t *testing.T) {
	noDesktop(t)
	// No bus at all: a usage error must not get as far as connecting.
	noSystemBus(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"launch"}, `nspawn-tray launch: missing APP (see 'nspawn-tray launch --help')`},
		{[]string{"launch", "spotify", "--uri"}, `nspawn-tray launch: unexpected argument "--uri" (arguments for the app go after --) (see 'nspawn-tray launch --help')`},
		{[]string{"launch", "spotify", "x", "--", "y"}, `nspawn-tray launch: unexpected argument "x" (arguments for the app go after --) (see 'nspawn-tray launch --help')`},
		{[]string{"launch", "--nowait", "spotify"}, `nspawn-tray launch: unknown flag "--nowait" (see 'nspawn-tray launch --help')`},
	} {
		code, stdout, stderr := run(t, Program{}, tc.args...)
		if code != 2 || stdout != "" || stderr != tc.want+"\n" {
			t.Errorf("%q: code %d, stdout %q, stderr %q; want 2, nothing, %q", tc.args, code, stdout, stderr, tc.want)
		}
	}
}

func TestLaunchErrors(t *testing.T) {
	noDesktop(t)
	t.Setenv("USER", "alice")
	for _, tc := range []struct {
		name   string
		reply  *dbus.Error
		stderr string
	}{
		{"not authorized", dbus.NewError(launcher.ErrNameAccessDenied, []any{"Not authorized"}),
			"nspawn-tray: not authorized to launch spotify: ask an administrator to add you to the nspawn-tray group (usermod -aG nspawn-tray alice), then log in again\n"},
		{"unknown app", dbus.NewError(launcher.ErrNameUnknownApp, []any{`unknown app "spotify"`}),
			"nspawn-tray: unknown app \"spotify\" (see 'nspawn-tray apps')\n"},
		{"image missing", dbus.NewError(launcher.ErrNameImageMissing, []any{`image "spotify" of app "spotify" is missing`}),
			"nspawn-tray: image \"spotify\" of app \"spotify\" is missing\n"},
		// Failed carries internal words: the client says what it was doing.
		{"failed, on one line", dbus.NewError(launcher.ErrNameFailed, []any{"nspawn said:\nno"}),
			"nspawn-tray: launch spotify: nspawn said:\\nno\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := fakeDaemon(t)
			l.OnLaunch(func(bustest.LauncherCall) (string, int32, *dbus.Error) { return "", 0, tc.reply })
			code, stdout, stderr := run(t, Program{}, "launch", "spotify")
			if code != 1 || stdout != "" || stderr != tc.stderr {
				t.Errorf("code %d, stdout %q, stderr %q; want 1, nothing, %q", code, stdout, stderr, tc.stderr)
			}
		})
	}
}

func TestLaunchNoDaemon(t *testing.T) {
	noDesktop(t)
	emptyBus(t)
	code, stdout, stderr := run(t, Program{}, "launch", "spotify")
	if code != 1 || stdout != "" || stderr != notInstalled {
		t.Errorf("code %d, stdout %q, stderr %q; want 1 and %q", code, stdout, stderr, notInstalled)
	}
}

func TestLaunchNoSystemBus(t *testing.T) {
	noDesktop(t)
	noSystemBus(t)
	code, stdout, stderr := run(t, Program{}, "launch", "spotify")
	if code != 1 || stdout != "" || !strings.HasPrefix(stderr, "nspawn-tray: connect to the system bus: ") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("code %d, stdout %q, stderr %q; want 1 and one line about the system bus", code, stdout, stderr)
	}
}

func tempFile(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// --wait hands the daemon our own stdin, stdout and stderr, which the app
// uses, then waits and exits with the app's status instead of printing the
// machine.
func TestLaunchWait(t *testing.T) {
	noDesktop(t)
	l := fakeDaemon(t)
	in := tempFile(t, "stdin")
	in.WriteString("typed\n")
	in.Seek(0, 0)
	oldStdin := os.Stdin
	os.Stdin = in
	t.Cleanup(func() { os.Stdin = oldStdin })
	l.OnLaunch(func(c bustest.LauncherCall) (string, int32, *dbus.Error) {
		// What the app would do with the descriptors the daemon got.
		fd, ok := c.Session["stdin"].Value().(dbus.UnixFD)
		if !ok {
			return "", 0, dbus.NewError(launcher.ErrNameInvalidArgs, []any{"no stdin"})
		}
		typed := make([]byte, 6)
		unix.Read(int(fd), typed)
		unix.Close(int(fd))
		for key, text := range map[string]string{"stdout": "app read " + string(typed), "stderr": "app error\n"} {
			fd, ok := c.Session[key].Value().(dbus.UnixFD)
			if !ok {
				return "", 0, dbus.NewError(launcher.ErrNameInvalidArgs, []any{"no " + key})
			}
			unix.Write(int(fd), []byte(text))
			unix.Close(int(fd))
		}
		return "spotify-00000001", -1, nil
	})
	l.OnWait(func(c bustest.LauncherCall) (int32, *dbus.Error) {
		if c.Arg != "spotify-00000001" {
			return -1, dbus.NewError(launcher.ErrNameNoSuchInstance, []any{"no " + c.Arg})
		}
		return 3, nil
	})
	stdout, stderr := tempFile(t, "stdout"), tempFile(t, "stderr")
	code := Program{}.Run([]string{"launch", "--wait", "spotify", "--", "x"}, stdout, stderr)
	if got, want := readFile(t, stdout.Name()), "app read typed\n"; code != 3 || got != want {
		t.Errorf("code %d, stdout %q; want 3 and %q (the app's, not the machine)", code, got, want)
	}
	if got, want := readFile(t, stderr.Name()), "app error\n"; got != want {
		t.Errorf("stderr %q, want %q", got, want)
	}
	calls := l.Calls()
	if got := methods(calls); !slices.Equal(got, []string{"Launch spotify", "Wait spotify-00000001"}) {
		t.Fatalf("daemon got %q", got)
	}
	if w, _ := calls[0].Session["wait"].Value().(bool); !w {
		t.Errorf("session without wait: %v", calls[0].Session)
	}
	if args, _ := calls[0].Session["args"].Value().([]string); !slices.Equal(args, []string{"x"}) {
		t.Errorf("session args %q, want [x]", args)
	}
}

// stopEndsWait makes the fake daemon's Wait answer 137 once Stop was
// called (as for a killed app), 0 after 10 s without.
func stopEndsWait(l *bustest.Launcher) {
	stopped := make(chan struct{})
	l.OnStop(func(bustest.LauncherCall) *dbus.Error { close(stopped); return nil })
	l.OnWait(func(bustest.LauncherCall) (int32, *dbus.Error) {
		select {
		case <-stopped:
			return 137, nil
		case <-time.After(10 * time.Second):
			return 0, nil
		}
	})
}

// Ctrl-C while the daemon is still starting the app (it is listed
// already, the reply is not here yet) stops it once the reply is: the
// app, which holds the terminal, must not outlive the client.
func TestLaunchWaitInterruptedWhileLaunching(t *testing.T) {
	noDesktop(t)
	l := fakeDaemon(t)
	l.OnLaunch(func(bustest.LauncherCall) (string, int32, *dbus.Error) {
		syscall.Kill(os.Getpid(), syscall.SIGINT)
		time.Sleep(100 * time.Millisecond) // the signal is delivered before the reply
		return "spotify-00000001", -1, nil
	})
	stopEndsWait(l)
	stdout, stderr := tempFile(t, "stdout"), tempFile(t, "stderr")
	code := Program{}.Run([]string{"launch", "--wait", "spotify"}, stdout, stderr)
	if code != 130 || !slices.Contains(methods(l.Calls()), "Stop spotify-00000001") {
		t.Errorf("code %d, calls %q; want 130 after a Stop", code, methods(l.Calls()))
	}
	if got, want := readFile(t, stderr.Name()), "nspawn-tray launch: stopping spotify-00000001\n"; got != want {
		t.Errorf("stderr %q, want %q", got, want)
	}
}

// Ctrl-C on launch --wait stops the app, like a foreground program, and
// the status is the app's; a second one stops waiting.
func TestLaunchWaitInterrupted(t *testing.T) {
	noDesktop(t)
	l := fakeDaemon(t)
	stopEndsWait(l)
	stdout, stderr := tempFile(t, "stdout"), tempFile(t, "stderr")
	go func() {
		bustest.Eventually(t, "the client waits", func() bool { return slices.Contains(methods(l.Calls()), "Wait spotify-00000001") })
		syscall.Kill(os.Getpid(), syscall.SIGINT)
	}()
	code := Program{}.Run([]string{"launch", "--wait", "spotify"}, stdout, stderr)
	// 130 (128+SIGINT) like a shell's interrupted job, whatever the
	// stopped app's own status was.
	if code != 130 || !slices.Contains(methods(l.Calls()), "Stop spotify-00000001") {
		t.Errorf("code %d, calls %q; want 130 after a Stop", code, methods(l.Calls()))
	}
	if got, want := readFile(t, stderr.Name()), "nspawn-tray launch: stopping spotify-00000001\n"; got != want {
		t.Errorf("stderr %q, want %q", got, want)
	}

	// The app does not stop: the second Ctrl-C gives up waiting, and says so.
	l.OnStop(func(bustest.LauncherCall) *dbus.Error { return nil })
	l.OnWait(func(bustest.LauncherCall) (int32, *dbus.Error) { time.Sleep(10 * time.Second); return 0, nil })
	stderr = tempFile(t, "stderr2")
	go func() {
		bustest.Eventually(t, "the client waits", func() bool { return count(methods(l.Calls()), "Wait spotify-00000001") == 2 })
		syscall.Kill(os.Getpid(), syscall.SIGINT)
		bustest.Eventually(t, "the client stops it", func() bool { return count(methods(l.Calls()), "Stop spotify-00000001") == 2 })
		syscall.Kill(os.Getpid(), syscall.SIGINT)
	}()
	if code := (Program{}).Run([]string{"launch", "--wait", "spotify"}, stdout, stderr); code != 130 {
		t.Errorf("code %d, want 130", code)
	}
	want := "nspawn-tray launch: stopping spotify-00000001\nnspawn-tray launch: spotify-00000001 is still stopping; 'nspawn-tray stop spotify-00000001' if it does not\n"
	if got := readFile(t, stderr.Name()); got != want {
		t.Errorf("stderr %q, want %q", got, want)
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

// A near miss gets the app it was probably meant to be.
func TestLaunchDidYouMean(t *testing.T) {
	noDesktop(t)
	withAppsDir(t, writeApps(t, map[string]string{"spotify.toml": spotify}))
	l := fakeDaemon(t)
	l.OnLaunch(func(c bustest.LauncherCall) (string, int32, *dbus.Error) {
		return "", -1, dbus.NewError(launcher.ErrNameUnknownApp, []any{`unknown app "` + c.Arg + `"`})
	})
	for _, tc := range []struct{ app, want string }{
		{"spotfy", `nspawn-tray: unknown app "spotfy" (did you mean "spotify"?)` + "\n"},
		{"gimp", `nspawn-tray: unknown app "gimp" (see 'nspawn-tray apps')` + "\n"},
	} {
		if code, _, stderr := run(t, Program{}, "launch", tc.app); code != 1 || stderr != tc.want {
			t.Errorf("%s: code %d, stderr %q; want 1 and %q", tc.app, code, stderr, tc.want)
		}
	}
}

func TestLaunchWaitZeroStatus(t *testing.T) {
	noDesktop(t)
	fakeDaemon(t) // answers status 0 to a wait
	stdout, stderr := tempFile(t, "stdout"), tempFile(t, "stderr")
	if code := (Program{}).Run([]string{"launch", "--wait", "spotify"}, stdout, stderr); code != 0 {
		t.Errorf("code %d, want 0", code)
	}
	if got := readFile(t, stdout.Name()) + readFile(t, stderr.Name()); got != "" {
		t.Errorf("output %q, want none", got)
	}
}

// Descriptors can only be passed for real files; a Go writer would need a
// copy loop nobody asked for.
func TestLaunchWaitNeedsFiles(t *testing.T) {
	noDesktop(t)
	l := fakeDaemon(t)
	const want = "nspawn-tray: --wait needs real standard output and error\n"
	file := tempFile(t, "stdout")
	for _, tc := range []struct {
		name   string
		stdout io.Writer
	}{
		{"buffers", &bytes.Buffer{}},
		{"stderr a buffer", file},
	} {
		var stderr bytes.Buffer
		if code := (Program{}).Run([]string{"launch", "--wait", "spotify"}, tc.stdout, &stderr); code != 1 || stderr.String() != want {
			t.Errorf("%s: code %d, stderr %q; want 1 and %q", tc.name, code, stderr.String(), want)
		}
	}
	errFile := tempFile(t, "stderr")
	if code := (Program{}).Run([]string{"launch", "--wait", "spotify"}, &bytes.Buffer{}, errFile); code != 1 {
		t.Errorf("stdout a buffer: code %d, want 1", code)
	}
	if got := readFile(t, errFile.Name()); got != want {
		t.Errorf("stdout a buffer: stderr %q, want %q", got, want)
	}
	if calls := l.Calls(); len(calls) != 0 {
		t.Errorf("daemon got %v, want nothing", methods(calls))
	}
}

func TestPs(t *testing.T) {
	l := fakeDaemon(t)
	// Local time, which the table shows.
	since := time.Date(2024, 5, 1, 12, 34, 56, 0, time.Local)
	l.SetInstances([]launcher.Instance{
		{Machine: "spotify-0a1b2c3d", App: "spotify", UID: 1000, Since: launcher.Time(since.UnixMicro()), Unit: "u1"},
		{Machine: "gimp-deadbeef", App: "gimp", UID: 65534, Since: launcher.Time(since.Add(time.Hour).UnixMicro()), Unit: "u2"},
	})
	withAppsDir(t, writeApps(t, map[string]string{"spotify.toml": spotify}))
	code, stdout, stderr := run(t, Program{}, "ps")
	want := "" +
		"MACHINE           APP      NAME     UID    SINCE                UNIT\n" +
		"spotify-0a1b2c3d  spotify  Spotify  1000   2024-05-01 12:34:56  u1\n" +
		"gimp-deadbeef     gimp     -        65534  2024-05-01 13:34:56  u2\n"
	if code != 0 || stdout != want || stderr != "" {
		t.Errorf("code %d, stderr %q, stdout:\n%s\nwant:\n%s", code, stderr, stdout, want)
	}
	if got := methods(l.Calls()); !slices.Equal(got, []string{"List "}) {
		t.Errorf("daemon got %q, want one List", got)
	}
}

func TestPsJSON(t *testing.T) {
	l := fakeDaemon(t)
	since := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	l.SetInstances([]launcher.Instance{
		{Machine: "spotify-0a1b2c3d", App: "spotify", UID: 1000, Since: launcher.Time(since.UnixMicro()), Unit: "nspawn-tray-spotify-0a1b2c3d.service"},
	})
	code, stdout, stderr := run(t, Program{}, "ps", "--json")
	want := `[
  {
    "machine": "spotify-0a1b2c3d",
    "app": "spotify",
    "uid": 1000,
    "since": "2024-05-01T10:00:00Z",
    "unit": "nspawn-tray-spotify-0a1b2c3d.service"
  }
]
`
	if code != 0 || stdout != want || stderr != "" {
		t.Errorf("code %d, stderr %q, stdout:\n%s\nwant:\n%s", code, stderr, stdout, want)
	}
}

func TestPsEmpty(t *testing.T) {
	fakeDaemon(t)
	if code, stdout, stderr := run(t, Program{}, "ps", "--json"); code != 0 || stdout != "[]\n" || stderr != "" {
		t.Errorf("--json: code %d, stdout %q, stderr %q; want []", code, stdout, stderr)
	}
	if code, stdout, stderr := run(t, Program{}, "ps"); code != 0 || stdout != "MACHINE  APP  NAME  UID  SINCE  UNIT\n" || stderr != "" {
		t.Errorf("table: code %d, stdout %q, stderr %q; want the header alone", code, stdout, stderr)
	}
}

func TestPsErrors(t *testing.T) {
	t.Run("no daemon", func(t *testing.T) {
		emptyBus(t)
		for _, args := range [][]string{{"ps"}, {"ps", "--json"}} {
			if code, stdout, stderr := run(t, Program{}, args...); code != 1 || stdout != "" || stderr != notInstalled {
				t.Errorf("%q: code %d, stdout %q, stderr %q; want 1 and %q", args, code, stdout, stderr, notInstalled)
			}
		}
	})
	t.Run("usage", func(t *testing.T) {
		noSystemBus(t)
		want := "nspawn-tray ps: unexpected argument \"all\" (see 'nspawn-tray ps --help')\n"
		if code, stdout, stderr := run(t, Program{}, "ps", "all"); code != 2 || stdout != "" || stderr != want {
			t.Errorf("code %d, stdout %q, stderr %q; want 2 and %q", code, stdout, stderr, want)
		}
	})
}

func TestStopMachine(t *testing.T) {
	l := fakeDaemon(t)
	code, stdout, stderr := run(t, Program{}, "stop", "spotify-0a1b2c3d")
	if code != 0 || stdout != "" || stderr != "" {
		t.Errorf("code %d, stdout %q, stderr %q; want 0 and nothing", code, stdout, stderr)
	}
	calls := l.Calls()
	if got := methods(calls); !slices.Equal(got, []string{"Stop spotify-0a1b2c3d"}) {
		t.Fatalf("daemon got %q, want one Stop", got)
	}
	if !calls[0].Interactive {
		t.Error("Stop was not sent with ALLOW_INTERACTIVE_AUTHORIZATION")
	}
}

// --app stops the caller's own instances of the app and nobody else's,
// even where the caller could stop others' (stop-any).
func TestStopApp(t *testing.T) {
	l := fakeDaemon(t)
	me, other := uint32(os.Getuid()), uint32(os.Getuid()+1)
	l.SetInstances([]launcher.Instance{
		{Machine: "spotify-00000001", App: "spotify", UID: me},
		{Machine: "spotify-00000002", App: "spotify", UID: other},
		{Machine: "gimp-00000003", App: "gimp", UID: me},
		{Machine: "spotify-00000004", App: "spotify", UID: me},
	})
	code, stdout, stderr := run(t, Program{}, "stop", "--app", "spotify")
	if code != 0 || stdout != "" || stderr != "" {
		t.Errorf("code %d, stdout %q, stderr %q; want 0 and nothing", code, stdout, stderr)
	}
	want := []string{"List ", "Stop spotify-00000001", "Stop spotify-00000004"}
	if got := methods(l.Calls()); !slices.Equal(got, want) {
		t.Errorf("daemon got %q, want %q", got, want)
	}
}

// Nothing to stop is said, not silent; a near miss gets a suggestion.
func TestStopAppNoneRunning(t *testing.T) {
	withAppsDir(t, writeApps(t, map[string]string{"spotify.toml": spotify}))
	l := fakeDaemon(t)
	l.SetInstances([]launcher.Instance{{Machine: "spotify-00000002", App: "spotify", UID: uint32(os.Getuid() + 1)}})
	want := "nspawn-tray stop: none of your instances is of \"spotify\": nothing to stop\n"
	if code, stdout, stderr := run(t, Program{}, "stop", "--app", "spotify"); code != 0 || stdout != "" || stderr != want {
		t.Errorf("code %d, stdout %q, stderr %q; want 0 and %q", code, stdout, stderr, want)
	}
	want = "nspawn-tray stop: none of your instances is of \"spotfy\" (did you mean \"spotify\"?)\n"
	if code, _, stderr := run(t, Program{}, "stop", "--app", "spotfy"); code != 0 || stderr != want {
		t.Errorf("code %d, stderr %q; want 0 and %q", code, stderr, want)
	}
	if got := methods(l.Calls()); !slices.Equal(got, []string{"List ", "List "}) {
		t.Errorf("daemon got %q, want List alone each time", got)
	}
}

func TestStopErrors(t *testing.T) {
	t.Setenv("USER", "alice")
	t.Run("not authorized names the machine", func(t *testing.T) {
		l := fakeDaemon(t)
		l.OnStop(func(bustest.LauncherCall) *dbus.Error {
			return dbus.NewError(launcher.ErrNameAccessDenied, []any{"Not authorized"})
		})
		want := "nspawn-tray: not authorized to stop spotify-0a1b2c3d: ask an administrator to add you to the nspawn-tray group (usermod -aG nspawn-tray alice), then log in again\n"
		if code, stdout, stderr := run(t, Program{}, "stop", "spotify-0a1b2c3d"); code != 1 || stdout != "" || stderr != want {
			t.Errorf("code %d, stdout %q, stderr %q; want 1 and %q", code, stdout, stderr, want)
		}
	})
	t.Run("no such instance", func(t *testing.T) {
		l := fakeDaemon(t)
		l.OnStop(func(c bustest.LauncherCall) *dbus.Error {
			return dbus.NewError(launcher.ErrNameNoSuchInstance, []any{`no nspawn-tray instance "` + c.Arg + `"`})
		})
		want := "nspawn-tray: no nspawn-tray instance \"spotify-0a1b2c3d\"\n"
		if code, stdout, stderr := run(t, Program{}, "stop", "spotify-0a1b2c3d"); code != 1 || stdout != "" || stderr != want {
			t.Errorf("code %d, stdout %q, stderr %q; want 1 and %q", code, stdout, stderr, want)
		}
	})
	// The first refusal ends it: the next instance is left running.
	t.Run("stops at the first failure of --app", func(t *testing.T) {
		l := fakeDaemon(t)
		l.SetInstances([]launcher.Instance{
			{Machine: "spotify-00000001", App: "spotify", UID: uint32(os.Getuid())},
			{Machine: "spotify-00000002", App: "spotify", UID: uint32(os.Getuid())},
		})
		l.OnStop(func(bustest.LauncherCall) *dbus.Error {
			return dbus.NewError(launcher.ErrNameAccessDenied, []any{"Not authorized"})
		})
		want := "nspawn-tray: not authorized to stop spotify-00000001: ask an administrator to add you to the nspawn-tray group (usermod -aG nspawn-tray alice), then log in again\n"
		if code, _, stderr := run(t, Program{}, "stop", "--app", "spotify"); code != 1 || stderr != want {
			t.Errorf("code %d, stderr %q; want 1 and %q", code, stderr, want)
		}
		if got := methods(l.Calls()); !slices.Equal(got, []string{"List ", "Stop spotify-00000001"}) {
			t.Errorf("daemon got %q", got)
		}
	})
	t.Run("no daemon", func(t *testing.T) {
		emptyBus(t)
		for _, args := range [][]string{{"stop", "spotify-0a1b2c3d"}, {"stop", "--app", "spotify"}} {
			if code, stdout, stderr := run(t, Program{}, args...); code != 1 || stdout != "" || stderr != notInstalled {
				t.Errorf("%q: code %d, stdout %q, stderr %q; want 1 and %q", args, code, stdout, stderr, notInstalled)
			}
		}
	})
	t.Run("no system bus", func(t *testing.T) {
		noSystemBus(t)
		code, _, stderr := run(t, Program{}, "stop", "spotify-0a1b2c3d")
		if code != 1 || !strings.HasPrefix(stderr, "nspawn-tray: connect to the system bus: ") || strings.Count(stderr, "\n") != 1 {
			t.Errorf("code %d, stderr %q; want 1 and one line about the system bus", code, stderr)
		}
	})
	t.Run("usage", func(t *testing.T) {
		noSystemBus(t)
		const want = "nspawn-tray stop: want exactly one MACHINE (see 'nspawn-tray ps'), or --app APP (see 'nspawn-tray stop --help')\n"
		for _, args := range [][]string{
			{"stop"},
			{"stop", "a-00000001", "b-00000002"},
			{"stop", "--app", "spotify", "spotify-00000001"},
			{"stop", "--app", "spotify", "a", "b"},
		} {
			if code, stdout, stderr := run(t, Program{}, args...); code != 2 || stdout != "" || stderr != want {
				t.Errorf("%q: code %d, stdout %q, stderr %q; want 2 and %q", args, code, stdout, stderr, want)
			}
		}
	})
}
