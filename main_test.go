package main

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestInstallUninstall checks that uninstall removes every file install
// put down, which is what keeping one file list in the Makefile is for.
func TestInstallUninstall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not installed")
	}
	dest := t.TempDir()
	runMake := func(target string) {
		t.Helper()
		cmd := exec.Command("make", target, "DESTDIR="+dest)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make %s: %v\n%s", target, err, out)
		}
	}

	runMake("install")
	for _, p := range []string{
		"usr/local/bin/nspawn-tray",
		"usr/local/lib/sysusers.d/nspawn-tray.conf",
		"usr/local/share/applications/nspawn-tray.desktop",
		"usr/local/share/dbus-1/system-services/io.github.nspawn_tray.Launcher1.service",
		"usr/local/share/dbus-1/system.d/io.github.nspawn_tray.Launcher1.conf",
		"usr/local/lib/systemd/system/nspawn-tray-daemon.service",
		"usr/local/share/polkit-1/actions/io.github.nspawn-tray.policy",
		"usr/local/share/polkit-1/rules.d/50-nspawn-tray.rules",
		"usr/local/share/icons/hicolor/scalable/apps/nspawn-tray.svg",
	} {
		if fi, err := os.Stat(filepath.Join(dest, p)); err != nil || !fi.Mode().IsRegular() {
			t.Errorf("install did not create %s: %v", p, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(dest, "etc/nspawn-tray/apps.d")); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o755 {
		t.Errorf("apps.d not created with mode 0755: %v %v", fi, err)
	}

	// An admin's definition must survive uninstall.
	def := filepath.Join(dest, "etc/nspawn-tray/apps.d/mine.toml")
	if err := os.WriteFile(def, []byte("name = \"x\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	runMake("uninstall")
	err := filepath.WalkDir(dest, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && p != def {
			t.Errorf("uninstall left %s", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(def); err != nil {
		t.Errorf("uninstall removed the admin's app definition: %v", err)
	}
}

// The packaged desktop entry of the tray and the polkit policy are valid
// for the tools that read them.
func TestPackagingValid(t *testing.T) {
	if _, err := exec.LookPath("desktop-file-validate"); err != nil {
		t.Skip("desktop-file-validate not installed")
	}
	dest := t.TempDir()
	if out, err := exec.Command("make", "install", "DESTDIR="+dest, "PREFIX=/usr").CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	entry := filepath.Join(dest, "usr/share/applications/nspawn-tray.desktop")
	if out, err := exec.Command("desktop-file-validate", entry).CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("desktop-file-validate: %v\n%s", err, out)
	}
	data, err := os.ReadFile(entry)
	if err != nil || !strings.Contains(string(data), "Exec=/usr/bin/nspawn-tray tray\n") {
		t.Errorf("the tray entry does not run /usr/bin/nspawn-tray tray:\n%s", data)
	}
	unit, _ := os.ReadFile(filepath.Join(dest, "usr/lib/systemd/system/nspawn-tray-daemon.service"))
	if !strings.Contains(string(unit), "ExecStart=/usr/bin/nspawn-tray daemon\n") || !strings.Contains(string(unit), "Type=dbus\n") {
		t.Errorf("daemon unit:\n%s", unit)
	}
}
