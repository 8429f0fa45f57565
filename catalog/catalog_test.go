package catalog

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/nspawn-tray/nspawn-tray/config"
	"github.com/nspawn-tray/nspawn-tray/desktopfiles"
)

// image makes an image tree with the given desktop files (name → content;
// content "->TARGET" makes a symlink).
func image(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	apps := filepath.Join(dir, applicationsDir)
	if err := os.MkdirAll(apps, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		p := filepath.Join(apps, name)
		var err error
		if target, ok := strings.CutPrefix(content, "->"); ok {
			err = os.Symlink(target, p)
		} else {
			err = os.WriteFile(p, []byte(content), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func entry(name, exec string, extra ...string) string {
	return "[Desktop Entry]\nType=Application\nName=" + name + "\nExec=" + exec + "\n" + strings.Join(extra, "\n") + "\n"
}

func TestOffers(t *testing.T) {
	img := image(t, map[string]string{
		"firefox-esr.desktop":          entry("Firefox ESR", "/usr/lib/firefox-esr/firefox-esr %u", "Icon=firefox-esr", "Name[de]=Feuerfuchs"),
		"org.gnome.Calculator.desktop": entry("Calculator", `gnome-calculator --mode "basic mode" %F`),
		"iconic.desktop":               entry("Iconic", "iconic %i %c %k %% 50%%"),
		"hidden.desktop":               entry("Hidden", "hidden", "Hidden=true"),
		"nodisplay.desktop":            entry("Helper", "helper", "NoDisplay=true"),
		"link.desktop":                 "[Desktop Entry]\nType=Link\nName=Site\nURL=https://example.invalid/\n",
		"noexec.desktop":               entry("No program", "%u"),
		"relative.desktop":             entry("Relative", "bin/x"),
		"shadow.desktop":               "->/etc/shadow",
		"escape.desktop":               "->../../../../../../etc/passwd",
		"notes.txt":                    entry("Not a desktop file", "x"),
		"blank.desktop":                entry(" ", "/usr/bin/blank"),
	})
	got, err := Offers(img)
	if err != nil {
		t.Fatal(err)
	}
	want := []Offer{
		{DesktopFile: "blank.desktop", ID: "blank", Name: "blank", Exec: []string{"/usr/bin/blank"}},
		{DesktopFile: "firefox-esr.desktop", ID: "firefox-esr", Name: "Firefox ESR", Exec: []string{"/usr/lib/firefox-esr/firefox-esr"}},
		{DesktopFile: "iconic.desktop", ID: "iconic", Name: "Iconic", Exec: []string{"iconic", "Iconic", "%", "50%"}},
		{DesktopFile: "org.gnome.Calculator.desktop", ID: "calculator", Name: "Calculator", Exec: []string{"gnome-calculator", "--mode", "basic mode"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Offers:\n got %+v\nwant %+v", got, want)
	}
	// The image's symlinks stay in the image: /etc/shadow there is missing.
	for _, f := range []string{"shadow.desktop", "escape.desktop", "hidden.desktop", "link.desktop", "../x.desktop"} {
		if _, err := Find(img, f); !errors.Is(err, ErrNotOffer) {
			t.Errorf("Find(%s) = %v, want ErrNotOffer", f, err)
		}
	}
	if o, err := Find(img, "firefox-esr.desktop"); err != nil || o.ID != "firefox-esr" {
		t.Errorf("Find = %+v, %v", o, err)
	}
	if got, err := Offers(t.TempDir()); err != nil || len(got) != 0 {
		t.Errorf("an image without applications: %v, %v", got, err)
	}
}

func TestArgvExpandsIconAndName(t *testing.T) {
	e := desktopfiles.Entry{Name: "Viewer", Icon: "viewer"}
	for exec, want := range map[string][]string{
		"viewer %i %f":         {"viewer", "--icon", "viewer"},
		`"/opt/my app/run" %U`: {"/opt/my app/run"},
		"viewer --title=%c":    {"viewer", "--title=%c"}, // a code inside an argument is not one
		"viewer %c":            {"viewer", "Viewer"},
	} {
		if got := Argv(exec, e); !reflect.DeepEqual(got, want) {
			t.Errorf("Argv(%q) = %q, want %q", exec, got, want)
		}
	}
	if got := Argv("viewer %i", desktopfiles.Entry{}); !reflect.DeepEqual(got, []string{"viewer"}) {
		t.Errorf("%%i without an icon: %q", got)
	}
}

func TestProposeID(t *testing.T) {
	for file, want := range map[string]string{
		"firefox-esr.desktop":                "firefox-esr",
		"org.gnome.Calculator.desktop":       "calculator",
		"debian-xterm.desktop":               "debian-xterm",
		"VLC_player.desktop":                 "vlc-player",
		"a..b.desktop":                       "b",
		"---.desktop":                        "app",
		"über.desktop":                       "ber",
		strings.Repeat("x", 60) + ".desktop": strings.Repeat("x", 40),
	} {
		got := ProposeID(file)
		if got != want || config.ValidID(got) != nil {
			t.Errorf("ProposeID(%q) = %q, want %q", file, got, want)
		}
	}
}

// What Add writes is a definition config reads back as the offer, and it
// never replaces a file unless told to.
func TestAddAndRemove(t *testing.T) {
	img := image(t, map[string]string{"org.gnome.Calculator.desktop": entry(`Calc "quoted" \ \u`, `gnome-calculator "a\"b" $HOME`)})
	o, err := Find(img, "org.gnome.Calculator.desktop")
	if err != nil {
		t.Fatal(err)
	}
	apps := filepath.Join(t.TempDir(), "apps.d")
	path, err := Add(apps, "gnome", o.ID, o, false)
	if err != nil {
		t.Fatal(err)
	}
	app, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if app.ID != "calculator" || app.Name != o.Name || app.Image != "gnome" || !reflect.DeepEqual(app.Exec, []string{"gnome-calculator", `a"b`, "$HOME"}) ||
		app.Desktop.File != "org.gnome.Calculator.desktop" || app.X11 != config.X11Host {
		t.Errorf("read back %+v", app)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", fi.Mode())
	}
	before, _ := os.ReadFile(path)
	o2 := o
	o2.Name = "Other"
	if _, err := Add(apps, "gnome", o.ID, o2, false); !errors.Is(err, ErrExists) {
		t.Errorf("second Add: %v, want ErrExists", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("a refused Add changed the file")
	}
	if _, err := Add(apps, "gnome", o.ID, o2, true); err != nil {
		t.Fatal(err)
	}
	if app, _ := config.Load(path); app.Name != "Other" {
		t.Errorf("--force did not replace: %+v", app)
	}
	for _, bad := range []string{"Bad", "../x", ""} {
		if _, err := Add(apps, "gnome", bad, o, true); err == nil {
			t.Errorf("Add with id %q succeeded", bad)
		}
	}
	if _, err := Add(apps, "no/image", "x", o, true); err == nil {
		t.Error("Add with an invalid image succeeded")
	}

	if err := os.Symlink("/etc/passwd", filepath.Join(apps, "link.toml")); err != nil {
		t.Fatal(err)
	}
	if err := Remove(apps, "link"); err == nil {
		t.Error("Remove followed or took a symlink")
	}
	if err := Remove(apps, "calculator"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("still there: %v", err)
	}
	if err := Remove(apps, "calculator"); err == nil {
		t.Error("removing a missing definition succeeded")
	}
}

func TestDefinedAs(t *testing.T) {
	o := Offer{DesktopFile: "debian-xterm.desktop", Exec: []string{"xterm"}}
	for _, tc := range []struct {
		name string
		defs []config.App
		want string
	}{
		{"by desktop file", []config.App{{ID: "a", Image: "x", Exec: []string{"/bin/other"}, Desktop: config.Desktop{File: "debian-xterm.desktop"}}}, "a"},
		{"by program, no file named", []config.App{{ID: "b", Image: "x", Exec: []string{"/usr/bin/xterm", "-geometry", "80x16"}}}, "b"},
		{"another file named", []config.App{{ID: "c", Image: "x", Exec: []string{"/usr/bin/xterm"}, Desktop: config.Desktop{File: "debian-uxterm.desktop"}}}, ""},
		{"another image", []config.App{{ID: "d", Image: "y", Exec: []string{"xterm"}}}, ""},
		{"another program", []config.App{{ID: "e", Image: "x", Exec: []string{"/usr/bin/xeyes"}}}, ""},
	} {
		if got := DefinedAs(o, "x", tc.defs); got != tc.want {
			t.Errorf("%s: DefinedAs = %q, want %q", tc.name, got, tc.want)
		}
	}
}
