package cli

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/adrg/xdg"
	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/autostart"
	cfg "github.com/nspawn-tray/nspawn-tray/config"
	"github.com/nspawn-tray/nspawn-tray/desktopfiles"
	"github.com/nspawn-tray/nspawn-tray/internal/bustest"
	"github.com/nspawn-tray/nspawn-tray/launcher"
	"github.com/nspawn-tray/nspawn-tray/menusync"
)

// The definitions the tests write are their user's: the commands read
// them as the daemon does, with the test's uid standing in for root.
func init() { appsOwner = uint32(os.Getuid()) }

// xdgHomes points XDG_DATA_HOME and XDG_CONFIG_HOME at temp dirs for the
// test; xdg reads them once, so it is reloaded both ways.
func xdgHomes(t *testing.T) (data, config string) {
	t.Helper()
	// Registered first, so it runs after t.Setenv has restored the env.
	t.Cleanup(xdg.Reload)
	data, config = t.TempDir(), t.TempDir()
	t.Setenv("XDG_DATA_HOME", data)
	t.Setenv("XDG_CONFIG_HOME", config)
	xdg.Reload()
	return data, config
}

func self(t *testing.T) string {
	t.Helper()
	p, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// entryOf reads a desktop entry and checks it is nspawn-tray's for app.
func entryOf(t *testing.T, path, app string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("entry: %v", err)
	}
	if owner := desktopfiles.ParseOwner(data); owner != app {
		t.Errorf("%s: owner %q, want %q:\n%s", path, owner, app, data)
	}
	return string(data)
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

const gimp = `name = "GIMP"
image = "gimp"
exec = ["/usr/bin/gimp"]
`

func TestSync(t *testing.T) {
	data, _ := xdgHomes(t)
	defs := writeApps(t, map[string]string{"spotify.toml": spotify, "Bad.toml": spotify})
	l := fakeDaemon(t)
	png := []byte("\x89PNG not really")
	l.OnMetadata(func(c bustest.LauncherCall) (string, map[string]dbus.Variant, []launcher.Icon, *dbus.Error) {
		return "com.spotify.Client", map[string]dbus.Variant{"Name": dbus.MakeVariant("Spotify Music")},
			[]launcher.Icon{{Name: "spotify-client", SizeDir: "48x48", Ext: "png", Data: png}}, nil
	})

	code, stdout, stderr := run(t, Program{}, "sync", "--dir", defs)
	const written = "1 app: 1 entry written, 0 removed; 1 icon written, 0 removed\n"
	badWarning := `nspawn-tray sync: app "Bad" has an invalid definition: ` + filepath.Join(defs, "Bad.toml") + `: file name: invalid app id "Bad"`
	if code != 0 || stdout != written || !strings.HasPrefix(stderr, badWarning) || strings.Count(stderr, "\n") != 1 {
		t.Fatalf("code %d, stdout %q, stderr %q; want 0, %q and one warning %q...", code, stdout, stderr, written, badWarning)
	}
	// One MetadataBatch (the fake records each app it answers as Metadata).
	if got := methods(l.Calls()); !slices.Equal(got, []string{"MetadataBatch spotify", "Metadata spotify"}) {
		t.Errorf("daemon got %q, want one MetadataBatch for spotify", got)
	}
	// The daemon's desktop id and icon, the definition's name; our launcher.
	entry := entryOf(t, filepath.Join(data, "applications", "com.spotify.Client.desktop"), "spotify")
	for _, line := range []string{"Name=Spotify", "Icon=nspawn-tray.spotify", "TryExec=" + self(t)} {
		if !strings.Contains(entry, "\n"+line+"\n") {
			t.Errorf("entry lacks %q:\n%s", line, entry)
		}
	}
	if icon, err := os.ReadFile(filepath.Join(data, "icons", "hicolor", "48x48", "apps", "nspawn-tray.spotify.png")); err != nil || string(icon) != string(png) {
		t.Errorf("icon %q, %v; want the daemon's", icon, err)
	}

	// Nothing changed, nothing written.
	if code, stdout, _ := run(t, Program{}, "sync", "--dir", defs); code != 0 || stdout != "1 app: 0 entries written, 0 removed; 0 icons written, 0 removed\n" {
		t.Errorf("second sync: code %d, stdout %q", code, stdout)
	}

	// A definition gone takes its entry and icons with it.
	if err := os.Remove(filepath.Join(defs, "spotify.toml")); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ = run(t, Program{}, "sync", "--dir", defs)
	if code != 0 || stdout != "0 apps: 0 entries written, 1 removed; 0 icons written, 1 removed\n" {
		t.Errorf("sync after removing the definition: code %d, stdout %q", code, stdout)
	}
	if exists(filepath.Join(data, "applications", "com.spotify.Client.desktop")) || exists(filepath.Join(data, "icons", "hicolor", "48x48", "apps", "nspawn-tray.spotify.png")) {
		t.Error("entry or icon left behind")
	}
}

// A file of the same name that is not ours is kept, and said so.
func TestSyncLeavesForeignEntry(t *testing.T) {
	data, _ := xdgHomes(t)
	defs := writeApps(t, map[string]string{"spotify.toml": spotify})
	fakeDaemon(t)
	foreign := "[Desktop Entry]\nType=Application\nName=My own Spotify\nExec=spotify\n"
	path := filepath.Join(data, "applications", "spotify.desktop")
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, []byte(foreign), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run(t, Program{}, "sync", "--dir", defs)
	if want := "1 app: 0 entries written, 0 removed; 0 icons written, 0 removed\n"; code != 0 || stdout != want {
		t.Errorf("code %d, stdout %q; want 0 and %q", code, stdout, want)
	}
	if want := "nspawn-tray sync: left spotify.desktop alone: it is not nspawn-tray's\n"; stderr != want {
		t.Errorf("stderr %q, want %q", stderr, want)
	}
	if got := readFile(t, path); got != foreign {
		t.Errorf("foreign entry changed:\n%s", got)
	}
}

// Without the daemon the entries come from the definitions, with one
// warning for all apps.
func TestSyncNoDaemon(t *testing.T) {
	data, _ := xdgHomes(t)
	defs := writeApps(t, map[string]string{"spotify.toml": spotify, "gimp.toml": gimp})
	emptyBus(t)
	code, stdout, stderr := run(t, Program{}, "sync", "--dir", defs)
	if want := "2 apps: 2 entries written, 0 removed; 0 icons written, 0 removed\n"; code != 0 || stdout != want {
		t.Errorf("code %d, stdout %q; want 0 and %q", code, stdout, want)
	}
	if want := "nspawn-tray sync: the nspawn-tray daemon is not installed; entries use the app definitions only\n"; stderr != want {
		t.Errorf("stderr %q, want %q", stderr, want)
	}
	entry := entryOf(t, filepath.Join(data, "applications", "spotify.desktop"), "spotify")
	if !strings.Contains(entry, "\nName=Spotify\n") || !strings.Contains(entry, "\nIcon=nspawn-tray\n") {
		t.Errorf("entry not made from the definition:\n%s", entry)
	}
	entryOf(t, filepath.Join(data, "applications", "gimp.desktop"), "gimp")
}

func TestSyncMetadataError(t *testing.T) {
	data, _ := xdgHomes(t)
	defs := writeApps(t, map[string]string{"spotify.toml": spotify})
	l := fakeDaemon(t)
	l.OnMetadata(func(c bustest.LauncherCall) (string, map[string]dbus.Variant, []launcher.Icon, *dbus.Error) {
		return "", nil, nil, dbus.NewError(launcher.ErrNameImageMissing, []any{`image "spotify" of app "spotify" is missing`})
	})
	code, stdout, stderr := run(t, Program{}, "sync", "--dir", defs)
	if want := "1 app: 1 entry written, 0 removed; 0 icons written, 0 removed\n"; code != 0 || stdout != want {
		t.Errorf("code %d, stdout %q; want 0 and %q", code, stdout, want)
	}
	if want := "nspawn-tray sync: image \"spotify\" of app \"spotify\" is missing; its entry uses the definition only\n"; stderr != want {
		t.Errorf("stderr %q, want %q", stderr, want)
	}
	entryOf(t, filepath.Join(data, "applications", "spotify.desktop"), "spotify")
}

func TestSyncFails(t *testing.T) {
	data, _ := xdgHomes(t)
	defs := writeApps(t, map[string]string{"spotify.toml": spotify})
	noSystemBus(t)
	// applications cannot be a directory.
	if err := os.WriteFile(filepath.Join(data, "applications"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run(t, Program{}, "sync", "--dir", defs)
	prefix := "nspawn-tray: sync: menusync: " + filepath.Join(data, "applications") + ": "
	if code != 1 || stdout != "" || !strings.HasPrefix(stderr, prefix) || strings.Count(stderr, "\n") != 1 {
		t.Errorf("code %d, stdout %q, stderr %q; want 1 and one line starting %q", code, stdout, stderr, prefix)
	}
}

func TestSyncUsage(t *testing.T) {
	noSystemBus(t)
	want := "nspawn-tray sync: unexpected argument \"now\" (see 'nspawn-tray sync --help')\n"
	if code, stdout, stderr := run(t, Program{}, "sync", "now"); code != 2 || stdout != "" || stderr != want {
		t.Errorf("code %d, stdout %q, stderr %q; want 2 and %q", code, stdout, stderr, want)
	}
}

// withAppsDir points autostart and the tray at dir.
func withAppsDir(t *testing.T, dir string) {
	t.Helper()
	old := appsDir
	appsDir = dir
	t.Cleanup(func() { appsDir = old })
}

func TestAutostartTray(t *testing.T) {
	_, config := xdgHomes(t)
	path := filepath.Join(config, "autostart", autostart.TrayFile)
	if code, stdout, stderr := run(t, Program{}, "autostart", "enable"); code != 0 || stdout != "" || stderr != "" {
		t.Fatalf("enable: code %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if got, want := readFile(t, path), string(autostart.TrayEntry(self(t))); got != want {
		t.Errorf("tray entry:\n%s\nwant:\n%s", got, want)
	}
	if code, stdout, stderr := run(t, Program{}, "autostart", "disable"); code != 0 || stdout != "" || stderr != "" {
		t.Fatalf("disable: code %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if exists(path) {
		t.Error("disable left the tray entry")
	}
	if code, _, stderr := run(t, Program{}, "autostart", "disable"); code != 0 {
		t.Errorf("disable when disabled: code %d, stderr %q", code, stderr)
	}
}

func TestAutostartLeavesForeignEntry(t *testing.T) {
	_, config := xdgHomes(t)
	path := filepath.Join(config, "autostart", autostart.TrayFile)
	os.MkdirAll(filepath.Dir(path), 0o755)
	foreign := "[Desktop Entry]\nType=Application\nName=Something else\nExec=true\n"
	if err := os.WriteFile(path, []byte(foreign), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run(t, Program{}, "autostart", "enable")
	want := "nspawn-tray: autostart: " + path + " exists and is not nspawn-tray's: left alone\n"
	if code != 1 || stdout != "" || stderr != want {
		t.Errorf("enable: code %d, stdout %q, stderr %q; want 1 and %q", code, stdout, stderr, want)
	}
	run(t, Program{}, "autostart", "disable")
	if got := readFile(t, path); got != foreign {
		t.Errorf("foreign entry changed:\n%s", got)
	}
}

func TestAutostartApp(t *testing.T) {
	_, config := xdgHomes(t)
	withAppsDir(t, writeApps(t, map[string]string{"spotify.toml": spotify}))
	path := filepath.Join(config, "autostart", autostart.AppFile("spotify"))
	if code, stdout, stderr := run(t, Program{}, "autostart", "enable", "spotify"); code != 0 || stdout != "" || stderr != "" {
		t.Fatalf("enable: code %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if entry := entryOf(t, path, "spotify"); !strings.Contains(entry, "\nName=Spotify\n") || !strings.Contains(entry, "\nTryExec="+self(t)+"\n") {
		t.Errorf("app entry:\n%s", entry)
	}
	if exists(filepath.Join(config, "autostart", autostart.TrayFile)) {
		t.Error("enabling an app enabled the tray")
	}
	if code, _, stderr := run(t, Program{}, "autostart", "disable", "spotify"); code != 0 || exists(path) {
		t.Errorf("disable: code %d, stderr %q, entry left: %v", code, stderr, exists(path))
	}
}

func TestAutostartErrors(t *testing.T) {
	_, config := xdgHomes(t)
	withAppsDir(t, writeApps(t, map[string]string{"spotify.toml": spotify}))
	for _, tc := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"autostart", "enable", "nope"}, 1, "nspawn-tray: unknown app \"nope\" (see 'nspawn-tray apps')\n"},
		{[]string{"autostart", "disable", "../x"}, 1, "nspawn-tray: unknown app \"../x\" (see 'nspawn-tray apps')\n"},
		{[]string{"autostart"}, 2, "nspawn-tray autostart: want enable or disable and an optional APP, or list (see 'nspawn-tray autostart --help')\n"},
		{[]string{"autostart", "on"}, 2, "nspawn-tray autostart: want enable or disable and an optional APP, or list (see 'nspawn-tray autostart --help')\n"},
		{[]string{"autostart", "enable", "a", "b"}, 2, "nspawn-tray autostart: want enable or disable and an optional APP, or list (see 'nspawn-tray autostart --help')\n"},
	} {
		if code, stdout, stderr := run(t, Program{}, tc.args...); code != tc.code || stdout != "" || stderr != tc.stderr {
			t.Errorf("%q: code %d, stdout %q, stderr %q; want %d and %q", tc.args, code, stdout, stderr, tc.code, tc.stderr)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(config, "autostart")); len(entries) != 0 {
		t.Errorf("errors left autostart entries: %v", entries)
	}
}

func TestTray(t *testing.T) {
	noSystemBus(t)
	code, stdout, stderr := run(t, Program{}, "tray")
	if code != 1 || stdout != "" || !strings.HasPrefix(stderr, "nspawn-tray: tray: system bus: ") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("code %d, stdout %q, stderr %q; want 1 and the tray's one-line error", code, stdout, stderr)
	}
	want := "nspawn-tray tray: unexpected argument \"now\" (see 'nspawn-tray tray --help')\n"
	if code, stdout, stderr := run(t, Program{}, "tray", "now"); code != 2 || stdout != "" || stderr != want {
		t.Errorf("tray now: code %d, stdout %q, stderr %q; want 2 and %q", code, stdout, stderr, want)
	}
}

// Once an administrator has removed an app, its autostart entry must still
// be removable with the command, or it fails at every login.
func TestAutostartDisableRemovedApp(t *testing.T) {
	_, config := xdgHomes(t)
	defs := writeApps(t, map[string]string{"spotify.toml": spotify})
	withAppsDir(t, defs)
	if code, _, stderr := run(t, Program{}, "autostart", "enable", "spotify"); code != 0 {
		t.Fatalf("enable: code %d, stderr %q", code, stderr)
	}
	if err := os.Remove(filepath.Join(defs, "spotify.toml")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(config, "autostart", autostart.AppFile("spotify"))
	code, _, stderr := run(t, Program{}, "autostart", "disable", "spotify")
	if code != 0 || exists(path) {
		t.Errorf("disable after the definition went: code %d, stderr %q, entry left: %v", code, stderr, exists(path))
	}
}

// Issue 16: an app's autostart entry shows it as the menu does: the name
// sync gives it and, once sync has installed it, its own icon.
func TestAutostartAppEntry(t *testing.T) {
	beta := strings.Replace(spotify, `image = "spotify"`, `image = "spotify-beta"`, 1)
	for _, tc := range []struct {
		desc   string
		defs   map[string]string
		sync   bool // sync first, with the daemon giving an icon
		app    string
		name   string
		icon   string
		stderr string
	}{
		{desc: "before any sync", defs: map[string]string{"spotify.toml": spotify}, app: "spotify",
			name: "Spotify", icon: "nspawn-tray"},
		{desc: "after sync installed its icon", defs: map[string]string{"spotify.toml": spotify}, sync: true, app: "spotify",
			name: "Spotify", icon: "nspawn-tray.spotify"},
		{desc: "a second app of the same name", defs: map[string]string{"spotify.toml": spotify, "spotify-beta.toml": beta},
			app: "spotify-beta", name: "Spotify (spotify-beta)", icon: "nspawn-tray"},
		{desc: "the first app of the same name", defs: map[string]string{"spotify.toml": spotify, "spotify-beta.toml": beta},
			app: "spotify", name: "Spotify", icon: "nspawn-tray"},
		{desc: "an invalid definition", defs: map[string]string{"spotify.toml": spotify, "gimp.toml": "name = \"GIMP\"\n"},
			app: "gimp", stderr: `nspawn-tray: app "gimp" has an invalid definition: DIR/gimp.toml: missing required key "image"; DIR/gimp.toml: missing required key "exec"` + "\n"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			data, config := xdgHomes(t)
			defs := writeApps(t, tc.defs)
			withAppsDir(t, defs)
			if tc.sync {
				l := fakeDaemon(t)
				l.OnMetadata(func(c bustest.LauncherCall) (string, map[string]dbus.Variant, []launcher.Icon, *dbus.Error) {
					return "com.spotify.Client", nil, []launcher.Icon{{Name: "spotify-client", SizeDir: "48x48", Ext: "png", Data: []byte("png")}}, nil
				})
				if code, _, stderr := run(t, Program{}, "sync", "--dir", defs); code != 0 {
					t.Fatalf("sync: code %d, stderr %q", code, stderr)
				}
			}
			code, stdout, stderr := run(t, Program{}, "autostart", "enable", tc.app)
			path := filepath.Join(config, "autostart", autostart.AppFile(tc.app))
			if tc.stderr != "" {
				if want := strings.ReplaceAll(tc.stderr, "DIR", defs); code != 1 || stdout != "" || stderr != want {
					t.Errorf("code %d, stdout %q, stderr %q; want 1 and %q", code, stdout, stderr, want)
				}
				if exists(path) {
					t.Error("an entry was written for an invalid definition")
				}
				return
			}
			if code != 0 || stdout != "" || stderr != "" {
				t.Fatalf("enable: code %d, stdout %q, stderr %q", code, stdout, stderr)
			}
			entry := entryOf(t, path, tc.app)
			p, err := desktopfiles.Parse([]byte(entry))
			if err != nil {
				t.Fatal(err)
			}
			if p.Entry.Name != tc.name || p.Entry.Icon != tc.icon {
				t.Errorf("Name %q, Icon %q; want %q, %q:\n%s", p.Entry.Name, p.Entry.Icon, tc.name, tc.icon, entry)
			}
			apps, _, err := menusync.Definitions(defs, appsOwner)
			if err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(apps, func(a cfg.App) bool { return a.ID == tc.app })
			if want := autostart.AppEntry(self(t), data, apps, apps[i]); entry != string(want) {
				t.Errorf("entry is not autostart.AppEntry's:\n%s\nwant\n%s", entry, want)
			}
		})
	}
}

func TestAutostartList(t *testing.T) {
	_, config := xdgHomes(t)
	defs := writeApps(t, map[string]string{"spotify.toml": spotify, "gimp.toml": gimp, "broken.toml": "name = \"Broken\"\n",
		"unsafe.toml": gimp})
	if err := os.Chmod(filepath.Join(defs, "unsafe.toml"), 0o666); err != nil {
		t.Fatal(err)
	}
	withAppsDir(t, defs)
	want := "tray\tdisabled\nbroken\tdisabled (invalid definition)\ngimp\tdisabled\nspotify\tdisabled\nunsafe\tdisabled (invalid definition)\n"
	if code, stdout, stderr := run(t, Program{}, "autostart", "list"); code != 0 || stdout != want || stderr != "" {
		t.Errorf("list with nothing enabled: code %d, stdout %q, stderr %q; want 0 and %q", code, stdout, stderr, want)
	}
	for _, args := range [][]string{{"enable"}, {"enable", "spotify"}} {
		if code, _, stderr := run(t, Program{}, append([]string{"autostart"}, args...)...); code != 0 {
			t.Fatalf("%q: code %d, stderr %q", args, code, stderr)
		}
	}
	dir := filepath.Join(config, "autostart")
	// Entries written when their definitions were fine.
	for _, app := range []string{"gone", "broken"} {
		content := desktopfiles.Render(desktopfiles.Ours{AppID: app, Launcher: self(t), Entry: desktopfiles.Entry{Name: app}})
		if err := os.WriteFile(filepath.Join(dir, autostart.AppFile(app)), content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Not ours: not listed.
	if err := os.WriteFile(filepath.Join(dir, autostart.AppFile("mine")), []byte("[Desktop Entry]\nType=Application\nName=Mine\nExec=mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	want = "tray\tenabled\nbroken\tenabled (invalid definition)\ngimp\tdisabled\ngone\tenabled (no definition)\n" +
		"spotify\tenabled\nunsafe\tdisabled (invalid definition)\n"
	if code, stdout, stderr := run(t, Program{}, "autostart", "list"); code != 0 || stdout != want || stderr != "" {
		t.Errorf("list: code %d, stdout %q, stderr %q; want 0 and %q", code, stdout, stderr, want)
	}
	usage := "nspawn-tray autostart: want enable or disable and an optional APP, or list (see 'nspawn-tray autostart --help')\n"
	if code, stdout, stderr := run(t, Program{}, "autostart", "list", "spotify"); code != 2 || stdout != "" || stderr != usage {
		t.Errorf("list spotify: code %d, stdout %q, stderr %q; want 2 and %q", code, stdout, stderr, usage)
	}
}
