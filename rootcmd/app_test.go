package rootcmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nspawn-tray/nspawn-tray/config"
)

// withImages makes a machines dir with image "gui" offering two apps, and
// points app add at it and at an empty apps.d.
func withImages(t *testing.T) (apps string) {
	t.Helper()
	machines := t.TempDir()
	dir := filepath.Join(machines, "gui", "usr/share/applications")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"org.example.Viewer.desktop": "[Desktop Entry]\nType=Application\nName=Viewer\nExec=/usr/bin/viewer %f\n",
		"calc.desktop":               "[Desktop Entry]\nType=Application\nName=Calc\nExec=\"/opt/calc app/calc\"\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := machinesDir
	machinesDir = machines
	t.Cleanup(func() { machinesDir = old })
	apps = filepath.Join(t.TempDir(), "apps.d")
	oldApps := appsDir
	appsDir = apps
	t.Cleanup(func() { appsDir = oldApps })
	return apps
}

func TestAppAdd(t *testing.T) {
	apps := withImages(t)
	code, stdout, stderr := run(t, "app", "add", "gui")
	want := "" +
		"DESKTOP-FILE        ID      NAME    EXEC                  DEFINED\n" +
		"calc                calc    Calc    '/opt/calc app/calc'  -\n" +
		"org.example.Viewer  viewer  Viewer  /usr/bin/viewer       -\n" +
		"Add with: nspawn-tray app add gui DESKTOP-FILE...\n"
	if code != 0 || stdout != want || stderr != "" {
		t.Errorf("list: code %d, stderr %q, stdout:\n%s\nwant:\n%s", code, stderr, stdout, want)
	}

	code, stdout, stderr = run(t, "app", "add", "gui", "org.example.Viewer", "calc.desktop")
	if code != 0 || stderr != "" || !strings.Contains(stdout, "Added viewer (Viewer): "+filepath.Join(apps, "viewer.toml")+"\n") ||
		!strings.Contains(stdout, "Added calc (Calc): ") {
		t.Fatalf("add: code %d, stderr %q, stdout %q", code, stderr, stdout)
	}
	app, err := config.LoadApp(apps, "calc", config.Options{RequireRootOwned: true, Owner: uint32(os.Geteuid())})
	if err != nil || app.Exec[0] != "/opt/calc app/calc" || app.Image != "gui" || app.Desktop.File != "calc.desktop" {
		t.Errorf("calc.toml: %+v, %v", app, err)
	}
	// Listed as defined now; adding again is refused, --force replaces,
	// --id names it.
	if _, stdout, _ := run(t, "app", "add", "gui"); !strings.Contains(stdout, "as calc\n") {
		t.Errorf("list after add:\n%s", stdout)
	}
	if code, _, stderr := run(t, "app", "add", "gui", "calc"); code != 1 || !strings.Contains(stderr, "a definition with that id exists (--force replaces it)") {
		t.Errorf("again: code %d, stderr %q", code, stderr)
	}
	if code, _, stderr := run(t, "app", "add", "--force", "gui", "calc"); code != 0 || stderr != "" {
		t.Errorf("--force: code %d, stderr %q", code, stderr)
	}
	if code, stdout, _ := run(t, "app", "add", "--id", "calc2", "gui", "calc"); code != 0 || !strings.Contains(stdout, "Added calc2 (Calc)") {
		t.Errorf("--id: code %d, %q", code, stdout)
	}

	if code, stdout, stderr := run(t, "app", "remove", "calc2"); code != 0 || stderr != "" || stdout != "Removed "+filepath.Join(apps, "calc2.toml")+"\n" {
		t.Errorf("remove: code %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestAppErrors(t *testing.T) {
	withImages(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"app"}, 2, "nspawn-tray app: want add or remove (see 'nspawn-tray app --help')\n"},
		{[]string{"app", "list"}, 2, "nspawn-tray app: want add or remove (see 'nspawn-tray app --help')\n"},
		{[]string{"app", "add"}, 2, "nspawn-tray app add: missing IMAGE (see 'machinectl list-images') (see 'nspawn-tray app add --help')\n"},
		{[]string{"app", "add", "--id", "x", "gui", "a", "b"}, 2, "nspawn-tray app add: --id names one app: give exactly one DESKTOP-FILE with it (see 'nspawn-tray app add --help')\n"},
		{[]string{"app", "add", "--nope", "gui"}, 2, "nspawn-tray app add: unknown flag \"--nope\" (see 'nspawn-tray app add --help')\n"},
		{[]string{"app", "remove"}, 2, "nspawn-tray app remove: want exactly one app ID (see 'nspawn-tray app remove --help')\n"},
		{[]string{"app", "add", "nosuch"}, 1, "nspawn-tray: no image \"nosuch\": no directory "},
		{[]string{"app", "add", "../etc"}, 1, "nspawn-tray: invalid image name \"../etc\""},
		{[]string{"app", "add", "gui", "missing"}, 1, "nspawn-tray: image \"gui\": missing.desktop: not an app of the image: "},
		{[]string{"app", "remove", "nosuch"}, 1, "nspawn-tray: remove nosuch: "},
	} {
		code, stdout, stderr := run(t, tc.args...)
		if code != tc.code || stdout != "" || !strings.HasPrefix(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%q: code %d, stdout %q, stderr %q; want %d and %q", tc.args, code, stdout, stderr, tc.code, tc.want)
		}
	}
	old := geteuid
	geteuid = func() int { return 1000 }
	t.Cleanup(func() { geteuid = old })
	want := "nspawn-tray: app add changes the apps of every user: run it as root (sudo nspawn-tray app add ...), or use Add app in the tray\n"
	if code, _, stderr := run(t, "app", "add", "gui", "calc"); code != 1 || stderr != want {
		t.Errorf("as a user: code %d, stderr %q", code, stderr)
	}
}

func TestAppHelp(t *testing.T) {
	code, stdout, _ := run(t, "app", "--help")
	want := "Usage: nspawn-tray app COMMAND [ARGS]\n\nMake apps of an image's own desktop entries (as root).\n\nCommands:\n" +
		"  add      List an image's apps, or write the definitions of the ones named\n" +
		"  remove   Remove an app's definition\n\nRun 'nspawn-tray app COMMAND --help' for a command's options.\n"
	if code != 0 || stdout != want {
		t.Errorf("app --help: code %d:\n%s\nwant:\n%s", code, stdout, want)
	}
	if _, help, _ := run(t, "help", "app"); help != want {
		t.Errorf("help app:\n%s", help)
	}
	code, stdout, _ = run(t, "app", "add", "--help")
	if code != 0 || !strings.HasPrefix(stdout, "Usage: nspawn-tray app add [OPTIONS] IMAGE [DESKTOP-FILE...]\n") || !strings.Contains(stdout, "--id ID") {
		t.Errorf("app add --help: code %d:\n%s", code, stdout)
	}
}
