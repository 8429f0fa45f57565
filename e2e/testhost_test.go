//go:build e2e

// Package e2e holds the end-to-end tests. They run on the machine that runs
// `make test` and act inside the booted test host through testhost/run, so
// every check meets the real systemd, dbus, polkitd, machined, X server,
// PulseAudio and panel. Run them with `make e2e` (or `make test`).
package e2e

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// repoRoot is the checkout these tests belong to.
func repoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the e2e package")
	}
	return filepath.Dir(filepath.Dir(file))
}

// hostRoot is the tree of the test host that env (nil: this process's)
// selects, as seen from here.
func hostRoot(t testing.TB, env []string) string {
	t.Helper()
	return libVar(t, env, "TESTHOST_ROOT")
}

// libVar is a setting of testhost/lib.sh, which derives them from
// TESTHOST_SUITE and TESTHOST_STATE in env (nil: this process's).
func libVar(t testing.TB, env []string, name string) string {
	t.Helper()
	cmd := exec.Command("bash", "-c", `. "$1/testhost/lib.sh" && echo "${!2}"`, "lib", repoRoot(t), name)
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("testhost/lib.sh: read %s: %v", name, err)
	}
	return strings.TrimSpace(string(out))
}

// reloginAlice restarts alice's user manager, as logging out and in again
// does, and waits for her desktop and sound server as testhost/up does: a
// session's processes get their supplementary groups at login.
func reloginAlice(t testing.TB) {
	t.Helper()
	mustRun(t, "root", "systemctl", "restart", "user@1000.service")
	units := strings.Fields(libVar(t, nil, "TESTHOST_SOUND_UNITS"))
	eventually(t, 30*time.Second, func() string {
		args := append([]string{"systemctl", "--user", "is-active", "-q", "xvfb.service", "xfce4-panel.service"}, units...)
		if r := inHost(t, "alice", "", args...); r.code != 0 {
			return "alice's desktop units are not all active again"
		}
		if inHost(t, "alice", "", "busctl", "--user", "status", "org.kde.StatusNotifierWatcher").code != 0 {
			return "no StatusNotifierWatcher (xfce4-panel's systray) again"
		}
		if !strings.Contains(inHost(t, "alice", "", "pactl", "info").stdout, "Default Sink: testhost_null") {
			return "alice's sound server is not back with its null sink"
		}
		return ""
	})
}

type result struct {
	stdout, stderr string
	code           int
}

// inHost runs argv in the test host as user, with stdin (may be empty).
func inHost(t testing.TB, user, stdin string, argv ...string) result {
	t.Helper()
	return runIn(t, nil, user, stdin, argv...)
}

// runIn runs argv as user with testhost/run in the host that env (nil:
// this process's) names.
func runIn(t testing.TB, env []string, user, stdin string, argv ...string) result {
	t.Helper()
	args := append([]string{"--user", user, "--"}, argv...)
	cmd := exec.Command(filepath.Join(repoRoot(t), "testhost", "run"), args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("testhost/run %v: %v", argv, err)
	}
	return result{out.String(), errb.String(), code}
}

// mustRun runs argv and fails the test unless it exits 0.
func mustRun(t testing.TB, user string, argv ...string) string {
	t.Helper()
	r := inHost(t, user, "", argv...)
	if r.code != 0 {
		t.Fatalf("%s: %q exited %d\nstdout: %s\nstderr: %s", user, argv, r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// eventually retries check until it returns "" or the deadline passes; the
// last complaint is the failure message. Waiting is for the system to settle,
// never an assertion about speed.
func eventually(t testing.TB, within time.Duration, check func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", within, msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestMain(m *testing.M) {
	// The host must be up: `make e2e` brings it up first. A clear message
	// beats a hundred identical failures.
	root, _ := os.Getwd()
	if out, err := exec.Command(filepath.Join(filepath.Dir(root), "testhost", "run"), "--", "true").CombinedOutput(); err != nil {
		os.Stderr.WriteString("e2e: the test host is not usable (run `make testhost`): " + strings.TrimSpace(string(out)) + "\n")
		os.Exit(1)
	}
	os.Exit(m.Run())
}
