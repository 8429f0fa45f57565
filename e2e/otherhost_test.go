//go:build e2e

package e2e

import (
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// otherHost is a test host of its own beside the shared one: booted by
// testhost/up from the same cached tree, with its own TESTHOST_STATE, in a
// cgroup of its own (two nspawn'd systemds in one cgroup would share their
// cgroup trees). A test that changes the system itself (installs and
// purges the package) does it there, so the shared host, which other tests
// use meanwhile, never loses its nspawn-tray.
type otherHost struct {
	state string // its TESTHOST_STATE
	root  string // its tree, as seen from here
	dir   string // the directory of its tree, console log and pid file
}

func (h *otherHost) env() []string { return append(os.Environ(), "TESTHOST_STATE="+h.state) }

// script runs one of testhost's scripts for this host.
func (h *otherHost) script(t testing.TB, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(repoRoot(t), "testhost", name), args...)
	cmd.Env = h.env()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// run runs argv in the host as user, like inHost in the shared one.
func (h *otherHost) run(t testing.TB, user, stdin string, argv ...string) result {
	t.Helper()
	return runIn(t, h.env(), user, stdin, argv...)
}

func (h *otherHost) mustRun(t testing.TB, user string, argv ...string) string {
	t.Helper()
	r := h.run(t, user, "", argv...)
	if r.code != 0 {
		t.Fatalf("%s: %q exited %d\nstdout: %s\nstderr: %s", user, argv, r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// sh runs a shell script as user and fails the test unless it exits 0.
// The script goes on stdin: systemd-run would expand "$" in arguments.
func (h *otherHost) sh(t testing.TB, user, script string) string {
	t.Helper()
	r := h.run(t, user, script, "bash", "-s")
	if r.code != 0 {
		t.Fatalf("%s: script exited %d\n%s\nstdout: %s\nstderr: %s", user, r.code, script, r.stdout, r.stderr)
	}
	return r.stdout
}

func (h *otherHost) screenshot(t testing.TB) image.Image {
	t.Helper()
	file := filepath.Join(t.TempDir(), "shot.png")
	if out, err := h.script(t, "screenshot", file); err != nil {
		t.Fatalf("testhost/screenshot: %v\n%s", err, out)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// otherState is the TESTHOST_STATE of a second host called name: beside
// the shared host's own state, so that checkouts testing with their own
// TESTHOST_STATE never share one (and lib.sh appends the release, so the
// two suites do not either).
func otherState(name string) string {
	state := os.Getenv("TESTHOST_STATE")
	if state == "" {
		state = "/var/lib/nspawn-tray-testhost" // lib.sh's default
	}
	return state + "-" + name
}

// bootOtherHost brings up a host with TESTHOST_STATE=state, stopped and
// removed when the test ends (its tree is kept when the test failed).
func bootOtherHost(t *testing.T, state string) *otherHost {
	t.Helper()
	h := &otherHost{state: state}
	h.root = hostRoot(t, h.env())
	h.dir = filepath.Dir(h.root)
	// A leftover of a run that crashed holds the tree.
	h.script(t, "stop")

	// testhost/up boots it in a cgroup of its own, named after its state
	// dir, and testhost/stop removes that.
	t.Cleanup(func() {
		h.script(t, "stop")
		if !t.Failed() {
			os.RemoveAll(h.dir)
		} else {
			t.Logf("the host's tree and console log are kept in %s", h.dir)
		}
	})
	if out, err := h.script(t, "up"); err != nil {
		t.Fatalf("testhost/up with TESTHOST_STATE=%s: %v\n%s", state, err, out)
	}
	return h
}
