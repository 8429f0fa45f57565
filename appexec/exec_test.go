package appexec

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestMain runs Exec in a re-executed copy of the test binary, since a
// successful Exec never returns and an unsuccessful one leaves the process
// half-dropped.
func TestMain(m *testing.M) {
	if os.Getenv("APPEXEC_CHILD") == "1" {
		err := Exec(Spec{
			UID: 65534, GID: 65534, Home: os.Getenv("APPEXEC_HOME"),
			Argv: []string{os.Getenv("APPEXEC_ARGV0"), "-c", "id -u; id -g; id -G; pwd; grep -E '^(CapInh|CapEff|CapPrm|CapAmb|NoNewPrivs)' /proc/self/status"},
			Env:  []string{"PATH=/usr/bin:/bin", "LC_ALL=C"},
		})
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(127)
	}
	os.Exit(m.Run())
}

func runChild(t *testing.T, home, argv0 string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "APPEXEC_CHILD=1", "APPEXEC_HOME="+home, "APPEXEC_ARGV0="+argv0)
	// Start the child with supplementary groups, so there is something to drop.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 0, Gid: 0, Groups: []uint32{4, 27, 100}}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	return string(out)
}

func TestExec(t *testing.T) {
	for _, argv0 := range []string{"/bin/sh", "sh"} {
		out := runChild(t, "/", argv0)
		want := "65534\n65534\n65534\n/\nCapInh:\t0000000000000000\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nCapAmb:\t0000000000000000\nNoNewPrivs:\t1\n"
		if out != want {
			t.Errorf("argv0 %s:\ngot\n%s\nwant\n%s", argv0, out, want)
		}
	}
}

func TestExecHomeFallback(t *testing.T) {
	// A home the user cannot enter (0700 root) falls back to "/".
	home := t.TempDir()
	os.Chmod(home, 0o700)
	out := runChild(t, home, "/bin/sh")
	if lines := strings.Split(out, "\n"); len(lines) < 4 || lines[3] != "/" {
		t.Errorf("cwd line: %q", out)
	}
	// A home the user can enter is used.
	home = filepath.Join(t.TempDir(), "h")
	os.Mkdir(home, 0o755)
	os.Chmod(filepath.Dir(home), 0o755)
	os.Chmod(filepath.Dir(filepath.Dir(home)), 0o755)
	out = runChild(t, home, "/bin/sh")
	if lines := strings.Split(out, "\n"); len(lines) < 4 || lines[3] != home {
		t.Errorf("cwd line: %q, want %s", out, home)
	}
}

func TestExecRefusesRoot(t *testing.T) {
	for _, s := range []Spec{
		{UID: 0, GID: 1000, Home: "/", Argv: []string{"/bin/true"}},
		{UID: 1000, GID: 0, Home: "/", Argv: []string{"/bin/true"}},
	} {
		if err := Exec(s); !errors.Is(err, ErrRoot) {
			t.Errorf("%+v: %v", s, err)
		}
	}
	// These must fail before touching any credential, or the test
	// process itself would have dropped.
	for _, s := range []Spec{
		{UID: ^uint32(0), GID: 1, Home: "/", Argv: []string{"/bin/true"}},
		{UID: 1, GID: 1, Home: "rel", Argv: []string{"/bin/true"}},
		{UID: 1, GID: 1, Home: "/"},
	} {
		if err := Exec(s); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v", s, err)
		}
	}
	if os.Geteuid() == 0 && os.Getuid() != 0 {
		t.Fatal("credentials changed")
	}
}

func TestCheckCaps(t *testing.T) {
	zero := "CapInh:\t0000000000000000\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nCapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000000\n"
	if err := checkCaps([]byte(zero)); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{
		strings.Replace(zero, "CapEff:\t0000000000000000", "CapEff:\t0000000000000400", 1),
		strings.Replace(zero, "CapPrm:\t0000000000000000", "CapPrm:\t0000000000000001", 1),
		strings.Replace(zero, "CapAmb:\t0000000000000000", "CapAmb:\t0000000000002000", 1),
		strings.Replace(zero, "CapInh:\t0000000000000000", "CapInh:\t00000000fdecafff", 1),
		strings.Replace(zero, "CapEff:\t0000000000000000\n", "", 1),
		strings.Replace(zero, "CapEff:\t0000000000000000", "CapEff:\t", 1),
		"",
	} {
		if err := checkCaps([]byte(bad)); !errors.Is(err, ErrPrivileges) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "app"), []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(dir, "noexec"), nil, 0o644)
	os.Mkdir(filepath.Join(dir, "adir"), 0o755)
	env := []string{"HOME=/", "PATH=:relative:" + dir + ":/bin", "PATH=/nope"}
	for _, c := range []struct{ name, want string }{
		{"app", filepath.Join(dir, "app")},
		{"sh", "/bin/sh"},
		{"./app", "./app"},
		{"/abs/x", "/abs/x"},
	} {
		if got, err := lookPath(c.name, env); err != nil || got != c.want {
			t.Errorf("%s: %q, %v; want %q", c.name, got, err, c.want)
		}
	}
	for _, name := range []string{"adir", "missing"} {
		if _, err := lookPath(name, env); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// access(X_OK) wants an x bit even for root.
	if _, err := lookPath("noexec", env); !errors.Is(err, ErrNotFound) {
		t.Errorf("noexec: %v", err)
	}
	// Empty PATH entries would mean the working directory.
	wd, _ := os.Getwd()
	os.Chdir(dir)
	defer os.Chdir(wd)
	if _, err := lookPath("app", []string{"PATH=:"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("found app via empty PATH entry: %v", err)
	}
	if got, err := lookPath("sh", nil); err != nil || !strings.HasSuffix(got, "/sh") {
		t.Errorf("default PATH: %q, %v", got, err)
	}
}
