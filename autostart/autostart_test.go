package autostart_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nspawn-tray/nspawn-tray/autostart"
	"github.com/nspawn-tray/nspawn-tray/desktopfiles"
)

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func write(t *testing.T, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestAppFile(t *testing.T) {
	if got := autostart.AppFile("firefox"); got != "nspawn-tray-firefox.desktop" {
		t.Errorf("AppFile(firefox) = %q", got)
	}
}

// The tray's entry must run this binary's tray command, be ours (so Set
// may later remove it) and stay out of menus.
func TestTrayEntry(t *testing.T) {
	self := "/opt/my apps/nspawn-tray"
	data := autostart.TrayEntry(self)
	p, err := desktopfiles.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if p.Exec != `"/opt/my apps/nspawn-tray" tray` {
		t.Errorf("Exec = %q, want the quoted binary and tray", p.Exec)
	}
	if p.TryExec != self {
		t.Errorf("TryExec = %q, want %q", p.TryExec, self)
	}
	if p.Type != "Application" || !p.NoDisplay {
		t.Errorf("Type = %q, NoDisplay = %v; want Application, true", p.Type, p.NoDisplay)
	}
	if owner := desktopfiles.ParseOwner(data); owner != "tray" {
		t.Errorf("owner key = %q, want tray", owner)
	}
}

func TestSetEnableDisable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "autostart") // Set creates it
	entry := autostart.TrayEntry("/usr/bin/nspawn-tray")
	file := autostart.TrayFile
	p := filepath.Join(dir, file)

	if autostart.Enabled(dir, file) {
		t.Fatal("Enabled before anything was written")
	}
	if err := autostart.Set(dir, file, entry); err != nil {
		t.Fatal(err)
	}
	if got := read(t, p); got != string(entry) {
		t.Errorf("entry written =\n%s\nwant\n%s", got, entry)
	}
	if !autostart.Enabled(dir, file) {
		t.Error("not Enabled after enabling")
	}
	// Enabling again with a new binary path replaces our own entry.
	entry2 := autostart.TrayEntry("/usr/local/bin/nspawn-tray")
	if err := autostart.Set(dir, file, entry2); err != nil {
		t.Fatal(err)
	}
	if got := read(t, p); got != string(entry2) {
		t.Errorf("entry after re-enabling =\n%s\nwant\n%s", got, entry2)
	}
	if err := autostart.Set(dir, file, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(p); !os.IsNotExist(err) {
		t.Errorf("entry still there after disabling: %v", err)
	}
	if autostart.Enabled(dir, file) {
		t.Error("Enabled after disabling")
	}
	// Disabling what is not there is fine.
	if err := autostart.Set(dir, file, nil); err != nil {
		t.Errorf("disabling twice: %v", err)
	}
}

// The user's own entries, and ours for other apps, are not Set's business.
func TestSetLeavesOtherEntriesAlone(t *testing.T) {
	dir := t.TempDir()
	others := map[string]string{
		"user.desktop":          "[Desktop Entry]\nType=Application\nName=Mine\nExec=mine\n",
		"nspawn-tray-a.desktop": string(appEntry("a")),
		"notes.txt":             "not an entry",
	}
	for n, c := range others {
		write(t, filepath.Join(dir, n), c)
	}
	if err := autostart.Set(dir, autostart.AppFile("b"), appEntry("b")); err != nil {
		t.Fatal(err)
	}
	if err := autostart.Set(dir, autostart.AppFile("b"), nil); err != nil {
		t.Fatal(err)
	}
	for n, c := range others {
		if got := read(t, filepath.Join(dir, n)); got != c {
			t.Errorf("%s changed to %q", n, got)
		}
	}
	if !autostart.Enabled(dir, autostart.AppFile("a")) {
		t.Error("app a's entry no longer enabled after setting b")
	}
}

func appEntry(app string) []byte {
	return []byte("[Desktop Entry]\nType=Application\nName=" + app + "\nExec=nspawn-tray launch " + app + "\n" +
		desktopfiles.OwnerKey + "=" + app + "\n")
}

// A file of the same name the user wrote is neither replaced nor removed;
// enabling says so, since the user asked for something that did not
// happen.
func TestSetForeignFileIsLeftAloneAndReported(t *testing.T) {
	dir := t.TempDir()
	file := autostart.TrayFile
	p := filepath.Join(dir, file)
	mine := "[Desktop Entry]\nType=Application\nName=My tray\nExec=my-tray\n"
	write(t, p, mine)

	if autostart.Enabled(dir, file) {
		t.Error("a foreign entry counts as Enabled")
	}
	err := autostart.Set(dir, file, autostart.TrayEntry("/usr/bin/nspawn-tray"))
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "not nspawn-tray's") {
		t.Errorf("enable over a foreign file: err = %v, want it reported with its path", err)
	}
	if got := read(t, p); got != mine {
		t.Errorf("foreign file overwritten: %q", got)
	}
	// Disabling leaves it too: it was never ours to remove.
	if err := autostart.Set(dir, file, nil); err != nil {
		t.Errorf("disable with a foreign file: %v", err)
	}
	if got := read(t, p); got != mine {
		t.Errorf("foreign file changed by disabling: %q", got)
	}
}

func TestSetErrors(t *testing.T) {
	notDir := filepath.Join(t.TempDir(), "file")
	write(t, notDir, "x")
	for _, tc := range []struct {
		desc, dir, file string
	}{
		{"directory is a file", notDir, autostart.TrayFile},
		{"name with a slash", t.TempDir(), "sub/x.desktop"},
		{"name without .desktop", t.TempDir(), "nspawn-tray"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			err := autostart.Set(tc.dir, tc.file, autostart.TrayEntry("/usr/bin/nspawn-tray"))
			if err == nil || !strings.HasPrefix(err.Error(), "autostart: ") {
				t.Errorf("Set(%q, %q) = %v, want an autostart error", tc.dir, tc.file, err)
			}
		})
	}
}

func TestEnabledOfUnreadableOrMissing(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "dir.desktop"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"missing.desktop", "dir.desktop"} {
		if autostart.Enabled(dir, f) {
			t.Errorf("Enabled(%s) = true", f)
		}
	}
}
