package daemon

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/nspawn-tray/nspawn-tray/config"
	"github.com/nspawn-tray/nspawn-tray/launcher"
)

func TestFontsConfGolden(t *testing.T) {
	golden(t, "fonts-host-look.conf", string(fontsConf(hostFontDirs, true)))
}

// Only a root-owned directory nobody else may swap is bound as the host's
// fonts: a symlink there or on the way, a user's dir, a world-writable one,
// or one in a dir others may write is not. Group-writable itself is fine
// (Debian's /usr/local/share/fonts is root:staff 2775).
func TestRootDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (chown)")
	}
	dir := t.TempDir()
	// The temp dir's parents must pass too, and /tmp is world-writable:
	// then a dir in /run, root's 0755.
	if ok, _ := rootDir(dir); !ok {
		var err error
		if dir, err = os.MkdirTemp("/run", "nspawn-tray-rootdir-test-"); err != nil {
			t.Skipf("no root-only place for the test: %v", err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		if ok, _ := rootDir(dir); !ok {
			t.Skipf("%s is not root's all the way down", dir)
		}
	}
	mk := func(name string, mode os.FileMode, uid int) string {
		p := filepath.Join(dir, name)
		if err := os.Mkdir(p, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, uid, 0); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := mk("good", 0o755, 0)
	users := mk("users", 0o755, 1000)
	open := mk("open", 0o777, 0)
	groupw := mk("groupw", 0o775, 0)
	under := mk("groupw/sub", 0o755, 0)
	linked := filepath.Join(dir, "linkdir")
	if err := os.Symlink(dir, linked); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(good, link); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]bool{good: true, users: false, open: false, groupw: true, under: false, link: false,
		filepath.Join(linked, "good"): false, file: false, filepath.Join(dir, "missing"): false, filepath.Join(file, "x"): false} {
		got, err := rootDir(path)
		if err != nil || got != want {
			t.Errorf("rootDir(%s) = %v, %v; want %v", path, got, err, want)
		}
	}
}

// The daemon checks the look again, whatever ParseSession let through (a
// caller on the bus is anyone), sets it only with host_look, and never over
// the definition's own env.
func TestBindHostLookEnv(t *testing.T) {
	newLaunch := func(hostLook bool, look map[string]string) *launch {
		return &launch{s: &Service{}, app: config.App{ID: "a", HostLook: hostLook},
			session: launcher.Session{Look: look},
			spec:    spec{Env: map[string]string{"GTK_THEME": "FromTheDefinition"}}}
	}
	l := newLaunch(true, map[string]string{"GTK_THEME": "Adwaita:dark", "XCURSOR_SIZE": "48"})
	if err := bindHostLook(context.Background(), l); err != nil {
		t.Fatal(err)
	}
	if l.spec.Env["GTK_THEME"] != "FromTheDefinition" || l.spec.Env["XCURSOR_SIZE"] != "48" || len(l.spec.Binds) != 0 {
		t.Errorf("env %v, binds %v", l.spec.Env, l.spec.Binds)
	}
	l = newLaunch(false, map[string]string{"XCURSOR_SIZE": "48"})
	if err := bindHostLook(context.Background(), l); err != nil || l.spec.Env["XCURSOR_SIZE"] != "" {
		t.Errorf("host_look = false: env %v, %v", l.spec.Env, err)
	}
	for _, look := range []map[string]string{
		{"LD_PRELOAD": "/tmp/x.so"},
		{"XCURSOR_SIZE": "48\nLD_PRELOAD=/tmp/x.so"},
		{"GTK_THEME": "/home/mallory/theme"},
	} {
		l := newLaunch(true, look)
		if err := bindHostLook(context.Background(), l); err == nil {
			t.Errorf("%q taken: env %v", look, l.spec.Env)
		}
	}
}
