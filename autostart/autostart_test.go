package autostart_test

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nspawn-tray/nspawn-tray/autostart"
	"github.com/nspawn-tray/nspawn-tray/config"
	"github.com/nspawn-tray/nspawn-tray/desktopfiles"
	"github.com/nspawn-tray/nspawn-tray/menusync"
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

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// dataHome is an $XDG_DATA_HOME where sync installed icons for the apps
// given.
func dataHome(t *testing.T, withIcons ...string) string {
	t.Helper()
	dh := t.TempDir()
	var manifest strings.Builder
	for _, app := range withIcons {
		rel := "hicolor/scalable/apps/" + menusync.IconName(app) + ".svg"
		if err := os.MkdirAll(filepath.Join(dh, "icons", filepath.Dir(rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(dh, "icons", rel), "<svg/>")
		manifest.WriteString(strings.Repeat("0", 64) + " " + rel + "\n")
	}
	if err := os.MkdirAll(filepath.Join(dh, "nspawn-tray"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dh, "nspawn-tray", "icons.list"), manifest.String())
	return dh
}

// Issue 16: an app's autostart entry shows it as its menu entry does: its
// one name (told apart from same-named apps) and its own icon once sync
// has installed it.
func TestAutostartAppEntry(t *testing.T) {
	xterm := config.App{ID: "xterm", Name: "XTerm"}
	offline := config.App{ID: "xterm-offline", Name: "XTerm"}
	gimp := config.App{ID: "gimp", Name: "GIMP"}
	for _, tc := range []struct {
		golden    string
		apps      []config.App
		app       config.App
		withIcons []string
		name      string
		icon      string
	}{
		{"xterm.desktop", []config.App{offline, xterm, gimp}, xterm, []string{"xterm"}, "XTerm", "nspawn-tray.xterm"},
		{"xterm-offline.desktop", []config.App{offline, xterm, gimp}, offline, []string{"xterm"}, "XTerm (xterm-offline)", "nspawn-tray"},
		{"gimp.desktop", nil, gimp, []string{"gimp"}, "GIMP", "nspawn-tray.gimp"},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			got := autostart.AppEntry("/usr/bin/nspawn-tray", dataHome(t, tc.withIcons...), tc.apps, tc.app)
			p := filepath.Join("testdata", tc.golden)
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if want := read(t, p); string(got) != want {
				t.Errorf("AppEntry differs from %s (go test -update rewrites it)\n--- got:\n%s\n--- want:\n%s", p, got, want)
			}
			e, err := desktopfiles.Parse(got)
			if err != nil {
				t.Fatal(err)
			}
			if e.Entry.Name != tc.name || e.Entry.Icon != tc.icon || e.Exec != "/usr/bin/nspawn-tray launch "+tc.app.ID {
				t.Errorf("Name %q, Icon %q, Exec %q; want %q, %q and the launch of %s", e.Entry.Name, e.Entry.Icon, e.Exec, tc.name, tc.icon, tc.app.ID)
			}
			if owner := desktopfiles.ParseOwner(got); owner != tc.app.ID {
				t.Errorf("owner %q, want %q", owner, tc.app.ID)
			}
		})
	}
}

func TestAutostartList(t *testing.T) {
	for _, tc := range []struct {
		desc  string
		files map[string]string
		tray  bool
		apps  []string
	}{
		{"nothing", nil, false, nil},
		{"the tray and two apps", map[string]string{
			autostart.TrayFile:         string(autostart.TrayEntry("/usr/bin/nspawn-tray")),
			autostart.AppFile("b"):     string(appEntry("b")),
			autostart.AppFile("a"):     string(appEntry("a")),
			autostart.AppFile("a-b-c"): string(appEntry("a-b-c")),
		}, true, []string{"a", "a-b-c", "b"}},
		{"not ours, or not an app's", map[string]string{
			autostart.AppFile("mine"):           "[Desktop Entry]\nType=Application\nName=Mine\nExec=mine\n",
			"nspawn-tray-Bad.desktop":           string(appEntry("Bad")),
			"other.desktop":                     string(appEntry("other")),
			"nspawn-tray-x.desktop.bak":         string(appEntry("x")),
			"nspawn-tray-nspawn-tray-x.desktop": string(appEntry("nspawn-tray-x")),
		}, false, []string{"nspawn-tray-x"}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			dir := t.TempDir()
			for n, c := range tc.files {
				write(t, filepath.Join(dir, n), c)
			}
			tray, apps := autostart.List(dir)
			if tray != tc.tray || !slices.Equal(apps, tc.apps) {
				t.Errorf("List = %v, %q; want %v, %q", tray, apps, tc.tray, tc.apps)
			}
		})
	}
	if tray, apps := autostart.List(filepath.Join(t.TempDir(), "missing")); tray || apps != nil {
		t.Errorf("List of a missing dir = %v, %q", tray, apps)
	}
}
