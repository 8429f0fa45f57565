package rootcmd

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nspawn-tray/nspawn-tray/appexec"
	"github.com/nspawn-tray/nspawn-tray/cli"
	"github.com/nspawn-tray/nspawn-tray/internal/bustest"
	"github.com/nspawn-tray/nspawn-tray/launcher"
)

// TestMain doubles as the nspawn-tray binary for exec-as, which replaces or
// drops the privileges of its process: the test runs it in a child.
func TestMain(m *testing.M) {
	if os.Getenv("ROOTCMD_CHILD") == "1" {
		os.Exit(program.Run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// program is the command line as main builds it, for these commands.
var program = cli.Program{Version: "test", Extra: Commands()}

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = program.Run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func noSystemBus(t *testing.T) {
	t.Helper()
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path="+filepath.Join(t.TempDir(), "no-bus"))
}

func TestHelp(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"daemon", "--help"}, "Usage: nspawn-tray daemon [OPTIONS]\n\n" +
			"Run the privileged launcher service (started by D-Bus).\n\n" +
			"Options:\n" +
			"  --idle-timeout DURATION exit after DURATION without calls (it is started again on demand) (default 30s)\n" +
			"  -h, --help           show this help\n"},
		{[]string{"exec-as", "--help"}, "Usage: nspawn-tray exec-as --uid N --gid N --home DIR [--status SOCKET] -- ARGV...\n\n" +
			"Become the user and run the app (inside the container).\n"},
		{[]string{"exec-as", "-h"}, "Usage: nspawn-tray exec-as --uid N --gid N --home DIR [--status SOCKET] -- ARGV...\n\n" +
			"Become the user and run the app (inside the container).\n"},
		{[]string{"cleanup-instance", "--help"}, "Usage: nspawn-tray cleanup-instance MACHINE\n\n" +
			"Remove what a launch staged (run by the instance's unit).\n"},
		{[]string{"help", "cleanup-instance"}, "Usage: nspawn-tray cleanup-instance MACHINE\n\n" +
			"Remove what a launch staged (run by the instance's unit).\n"},
	} {
		if code, stdout, stderr := run(t, tc.args...); code != 0 || stdout != tc.want || stderr != "" {
			t.Errorf("%q: code %d, stderr %q, stdout:\n%s\nwant:\n%s", tc.args, code, stderr, stdout, tc.want)
		}
	}
	// The daemon is listed; the steps run by nspawn and units are not.
	_, stdout, _ := run(t, "--help")
	if !strings.Contains(stdout, "\n  daemon ") || strings.Contains(stdout, "exec-as") || strings.Contains(stdout, "cleanup-instance") {
		t.Errorf("--help:\n%s", stdout)
	}
}

func TestUsageErrors(t *testing.T) {
	// None of these may get as far as the bus.
	noSystemBus(t)
	const execHelp = " (see 'nspawn-tray exec-as --help')\n"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"daemon", "now"}, "nspawn-tray daemon: unexpected argument \"now\" (see 'nspawn-tray daemon --help')\n"},
		{[]string{"daemon", "--idle-timeout", "soon"}, "nspawn-tray daemon: invalid value \"soon\" for flag -idle-timeout: parse error (see 'nspawn-tray daemon --help')\n"},
		{[]string{"cleanup-instance"}, "nspawn-tray cleanup-instance: want exactly one MACHINE (see 'nspawn-tray cleanup-instance --help')\n"},
		{[]string{"cleanup-instance", "a-00000001", "b-00000002"}, "nspawn-tray cleanup-instance: want exactly one MACHINE (see 'nspawn-tray cleanup-instance --help')\n"},
		{[]string{"exec-as"}, `nspawn-tray exec-as: exec-as arguments: invalid exec spec: missing "--" before the command` + execHelp},
		{[]string{"exec-as", "--uid", "1000", "--gid", "1000", "--home", "/home/a", "--"}, `nspawn-tray exec-as: exec-as arguments: invalid exec spec: no command after "--"` + execHelp},
		{[]string{"exec-as", "--uid", "0", "--gid", "0", "--home", "/root", "--", "/bin/sh"}, "nspawn-tray exec-as: exec-as arguments: refusing to run as root: uid 0 gid 0" + execHelp},
		{[]string{"exec-as", "--uid", "1000", "--gid", "1000", "--home", "/home/../etc", "--", "sh"}, `nspawn-tray exec-as: exec-as arguments: --home: invalid exec spec: home "/home/../etc" is not an absolute clean path` + execHelp},
		// Its flags are its own: the framework's flag parsing must not
		// take them, nor the app's after "--".
		{[]string{"exec-as", "--uid=1000", "--gid", "1000", "--home", "/", "--", "sh"}, `nspawn-tray exec-as: exec-as arguments: invalid exec spec: unknown argument "--uid=1000"` + execHelp},
		{[]string{"exec-as", "--help", "--uid", "1"}, `nspawn-tray exec-as: exec-as arguments: invalid exec spec: unknown argument "--help"` + execHelp},
		{[]string{"exec-as", "--uid", "1", "--uid", "1\n", "--gid", "1", "--home", "/", "--", "sh"}, `nspawn-tray exec-as: exec-as arguments: invalid exec spec: --uid given twice` + execHelp},
		{[]string{"exec-as", "--uid", "1\n", "--gid", "1", "--home", "/", "--", "sh"}, `nspawn-tray exec-as: exec-as arguments: --uid: invalid exec spec: id "1\n"` + execHelp},
	} {
		// A spec that parses would drop this test's privileges and exec.
		if _, err := appexec.Parse(tc.args[1:]); tc.args[0] == "exec-as" && err == nil {
			t.Fatalf("%q parses: only the child may run it", tc.args)
		}
		if code, stdout, stderr := run(t, tc.args...); code != 2 || stdout != "" || stderr != tc.want {
			t.Errorf("%q: code %d, stdout %q, stderr %q; want 2 and %q", tc.args, code, stdout, stderr, tc.want)
		}
	}
}

// runChild runs args as the nspawn-tray command line in a child as root
// with supplementary groups, with env as its whole environment.
func runChild(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("exec-as needs root")
	}
	cmd := exec.Command(os.Args[0], args...)
	// Under -cover the child writes coverage data when it exits; as the
	// user it became, it could not write to go test's own directory, and
	// without any it would warn on stderr.
	cmd.Env = append([]string{"ROOTCMD_CHILD=1", "GOCOVERDIR=" + reachableDir(t, 0o777)}, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 0, Gid: 0, Groups: []uint32{4, 27}}}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("child: %v", err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
}

// reachableDir is a temp dir that any user can reach, with mode perm.
func reachableDir(t *testing.T, perm os.FileMode) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, perm); err != nil {
		t.Fatal(err)
	}
	return dir
}

// exec-as becomes the user and runs the app with the environment it got,
// less nspawn's NOTIFY_SOCKET.
func TestExecAs(t *testing.T) {
	home := reachableDir(t, 0o755)
	code, stdout, stderr := runChild(t,
		[]string{"PATH=/usr/bin:/bin", "NOTIFY_SOCKET=/run/host/notify", "KEEP=kept"},
		"exec-as", "--uid", "65534", "--gid", "65534", "--home", home, "--",
		"sh", "-c", `id -u; id -g; id -G; pwd; echo "${NOTIFY_SOCKET-unset}"; echo "$KEEP"; echo "$1"`, "sh", "a b")
	want := "65534\n65534\n65534\n" + home + "\nunset\nkept\na b\n"
	if code != 0 || stdout != want || stderr != "" {
		t.Errorf("code %d, stderr %q, stdout:\n%s\nwant:\n%s", code, stderr, stdout, want)
	}
}

// When the app cannot be started, exec-as says why on one line and exits
// 127, the shell's status for a command not found.
func TestExecAsFails(t *testing.T) {
	env := []string{"PATH=/usr/bin:/bin"}
	for _, tc := range []struct {
		argv0, stderr string
	}{
		{"no-such-app", "nspawn-tray: cannot run no-such-app: executable not found in PATH (PATH=/usr/bin:/bin)\n"},
		{"/no/such\napp", "nspawn-tray: cannot run /no/such\\napp: no such file or directory\n"},
	} {
		code, stdout, stderr := runChild(t, env, "exec-as", "--uid", "65534", "--gid", "65534", "--home", "/", "--", tc.argv0)
		if code != 127 || stdout != "" || stderr != tc.stderr {
			t.Errorf("%q: code %d, stdout %q, stderr %q; want 127 and %q", tc.argv0, code, stdout, stderr, tc.stderr)
		}
	}
}

// With --status, exec-as tells the daemon the outcome on the socket:
// nothing but end-of-file once the app's exec succeeded (the connection is
// close-on-exec, so the app never holds it), the reason when it failed; a
// program name with a space gets the hint that exec is an argv list.
func TestExecAsReportsStatus(t *testing.T) {
	for _, tc := range []struct {
		argv   []string
		report string
		code   int
	}{
		{[]string{"/bin/sh", "-c", "ls -l /proc/self/fd | grep -c socket || true"}, "", 0},
		{[]string{"/usr/bin/doesnotexist"}, "cannot run /usr/bin/doesnotexist: no such file or directory", 127},
		{[]string{"/bin/echo hello"}, `cannot run /bin/echo hello: no such file or directory (exec is an argv list, not a shell string: ["/bin/echo", "hello"])`, 127},
		{[]string{"doesnotexist"}, "cannot run doesnotexist: executable not found in PATH (PATH=/usr/bin:/bin)", 127},
	} {
		dir := reachableDir(t, 0o755)
		sock := filepath.Join(dir, "status")
		l, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan string, 1)
		go func() {
			c, err := l.Accept()
			if err != nil {
				got <- "accept: " + err.Error()
				return
			}
			b, _ := io.ReadAll(c)
			got <- string(b)
		}()
		args := append([]string{"exec-as", "--uid", "65534", "--gid", "65534", "--home", "/", "--status", sock, "--"}, tc.argv...)
		code, stdout, stderr := runChild(t, []string{"PATH=/usr/bin:/bin"}, args...)
		l.Close()
		if r := <-got; r != tc.report || code != tc.code {
			t.Errorf("%q: reported %q, code %d (stderr %q); want %q, %d", tc.argv, r, code, stderr, tc.report, tc.code)
		}
		// Said once, by the daemon: the app's stderr is the caller's
		// terminal with launch --wait.
		if stderr != "" {
			t.Errorf("%q: stderr %q besides the report", tc.argv, stderr)
		}
		if tc.code == 0 && strings.TrimSpace(stdout) != "0" {
			t.Errorf("the app holds %s socket(s): the status connection leaked into it", stdout)
		}
	}
}

func TestCleanupInstance(t *testing.T) {
	b := bustest.New(t)
	b.AsSystemBus(t)
	sd := bustest.NewSystemd(t, b.Conn(t))
	t.Run("invalid machine", func(t *testing.T) {
		for _, m := range []string{"../etc", "spotify", "Spotify-0a1b2c3d", ""} {
			code, stdout, stderr := run(t, "cleanup-instance", m)
			want := "nspawn-tray: cleanup: invalid machine name: not an nspawn-tray instance (APP-XXXXXXXX)\n"
			if code != 1 || stdout != "" || stderr != want {
				t.Errorf("%q: code %d, stdout %q, stderr %q; want 1 and %q", m, code, stdout, stderr, want)
			}
		}
		if got := sd.Stopped(); len(got) != 0 {
			t.Errorf("systemd was asked to stop %q", got)
		}
	})
	// A unit already gone is what cleanup usually finds; nothing was
	// staged under that name either.
	t.Run("stops the instance's helpers", func(t *testing.T) {
		if _, err := os.Stat("/run/nspawn-tray/instances/rootcmdtest-0badc0de"); err == nil {
			t.Skip("a real instance of that name exists")
		}
		code, stdout, stderr := run(t, "cleanup-instance", "rootcmdtest-0badc0de")
		if code != 0 || stdout != "" || stderr != "" {
			t.Errorf("code %d, stdout %q, stderr %q; want 0 and nothing", code, stdout, stderr)
		}
		want := []string{"nspawn-tray-dbus-rootcmdtest-0badc0de.service", "nspawn-tray-pulse-rootcmdtest-0badc0de.service",
			"nspawn-tray-xnested-rootcmdtest-0badc0de.service"}
		if got := sd.Stopped(); !slices.Equal(got, want) {
			t.Errorf("systemd was asked to stop %q, want the proxy's, the filter's and the nested X server's units", got)
		}
	})
}

func TestCleanupInstanceNoBus(t *testing.T) {
	noSystemBus(t)
	code, stdout, stderr := run(t, "cleanup-instance", "spotify-0a1b2c3d")
	if code != 1 || stdout != "" || !strings.HasPrefix(stderr, "nspawn-tray: connect to the system bus: ") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("code %d, stdout %q, stderr %q; want 1 and one line about the system bus", code, stdout, stderr)
	}
}

func TestDaemonRefusesNonRoot(t *testing.T) {
	noSystemBus(t)
	old := geteuid
	geteuid = func() int { return 1000 }
	t.Cleanup(func() { geteuid = old })
	want := "nspawn-tray: the daemon runs as root (it is started by D-Bus activation)\n"
	if code, stdout, stderr := run(t, "daemon"); code != 1 || stdout != "" || stderr != want {
		t.Errorf("code %d, stdout %q, stderr %q; want 1 and %q", code, stdout, stderr, want)
	}
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the daemon needs root")
	}
}

func TestDaemonNoBus(t *testing.T) {
	needRoot(t)
	noSystemBus(t)
	code, stdout, stderr := run(t, "daemon")
	if code != 1 || stdout != "" || !strings.HasPrefix(stderr, "nspawn-tray: daemon: connect to the bus: ") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("code %d, stdout %q, stderr %q; want 1 and one line about the system bus", code, stdout, stderr)
	}
}

// systemBus is a private system bus with the services the daemon needs.
func systemBus(t *testing.T) (*bustest.Bus, *bustest.Systemd) {
	t.Helper()
	b := bustest.New(t)
	b.AsSystemBus(t)
	services := b.Conn(t)
	bustest.NewPolkit(t, services)
	bustest.NewMachined(t, services)
	return b, bustest.NewSystemd(t, services)
}

// A second daemon must not steal the name of the one running.
func TestDaemonNameTaken(t *testing.T) {
	needRoot(t)
	b, _ := systemBus(t)
	bustest.NewLauncher(t, b.Conn(t))
	want := "nspawn-tray: daemon: name io.github.nspawn_tray.Launcher1 is already taken\n"
	if code, stdout, stderr := run(t, "daemon"); code != 1 || stdout != "" || stderr != want {
		t.Errorf("code %d, stdout %q, stderr %q; want 1 and %q", code, stdout, stderr, want)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// captureLog sends the default logger to a buffer for the test.
func captureLog(t *testing.T) *syncBuffer {
	t.Helper()
	var buf syncBuffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })
	return &buf
}

type result struct {
	code           int
	stdout, stderr string
}

// startDaemon runs the daemon command on b and waits until it owns its
// name; it returns the name's owner and where the command's result comes.
func startDaemon(t *testing.T, b *bustest.Bus, logs *syncBuffer, args ...string) (string, <-chan result) {
	t.Helper()
	done := make(chan result, 1)
	go func() {
		var out, errOut bytes.Buffer
		code := program.Run(append([]string{"daemon"}, args...), &out, &errOut)
		done <- result{code, out.String(), errOut.String()}
	}()
	conn := b.Conn(t)
	owner := ""
	for owner == "" {
		select {
		case r := <-done:
			t.Fatalf("daemon exited before taking its name: %+v\nlog:\n%s", r, logs.String())
		default:
		}
		conn.BusObject().Call("org.freedesktop.DBus.GetNameOwner", 0, launcher.BusName).Store(&owner)
		if owner == "" {
			time.Sleep(5 * time.Millisecond)
		}
	}
	return owner, done
}

// The real daemon on a private bus: it takes the name, answers the calls
// that touch nothing on this host, and gives the name up when idle.
func TestDaemon(t *testing.T) {
	needRoot(t)
	b, sd := systemBus(t)
	logs := captureLog(t)
	// Long enough for the calls below; the test waits for it once.
	owner, done := startDaemon(t, b, logs, "--idle-timeout", "1s")
	// It follows systemd's jobs from its own connection.
	if subs := sd.Subscribers(); !slices.Contains(subs, owner) {
		t.Errorf("systemd subscribers %q, want the daemon %s", subs, owner)
	}

	conn := b.Conn(t)
	c := launcher.NewClient(conn)
	// No /run/nspawn-tray/instances here: nothing runs.
	if list, err := c.List(context.Background()); err != nil || len(list) != 0 {
		t.Errorf("List: %v, %v; want no instances", list, err)
	}
	_, err := c.Metadata(context.Background(), "no-such-app-rootcmdtest")
	if !errors.Is(err, launcher.ErrUnknownApp) || err.Error() != `unknown app "no-such-app-rootcmdtest"` {
		t.Errorf("Metadata of an unknown app: %v, want ErrUnknownApp", err)
	}

	r := <-done
	if r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Errorf("daemon: code %d, stdout %q, stderr %q; want 0 and nothing", r.code, r.stdout, r.stderr)
	}
	log := logs.String()
	for _, want := range []string{
		"msg=\"daemon ready\" name=io.github.nspawn_tray.Launcher1 idle-timeout=1s\n",
		"msg=\"daemon stopping\" reason=idle\n",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	var has bool
	if err := conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, launcher.BusName).Store(&has); err != nil || has {
		t.Errorf("name still owned after the daemon stopped: %v, %v", has, err)
	}
	// Activation would start a fresh daemon; here nothing answers.
	if _, err := c.List(context.Background()); !errors.Is(err, launcher.ErrNoDaemon) {
		t.Errorf("List after the daemon stopped: %v, want ErrNoDaemon", err)
	}
}

// systemd stops the daemon with SIGTERM: that is a clean exit too.
func TestDaemonSignal(t *testing.T) {
	needRoot(t)
	b, _ := systemBus(t)
	logs := captureLog(t)
	// The daemon has its signal handler from before it took the name, and
	// keeps it until it returns, which an hour's timeout does not make it.
	_, done := startDaemon(t, b, logs, "--idle-timeout", "1h")
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Errorf("daemon: code %d, stdout %q, stderr %q; want 0 and nothing", r.code, r.stdout, r.stderr)
	}
	if log := logs.String(); !strings.Contains(log, "msg=\"daemon stopping\" reason=signal\n") {
		t.Errorf("log lacks the stop for a signal:\n%s", log)
	}
}
