package daemon

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/nspawn-tray/nspawn-tray/config"
	"github.com/nspawn-tray/nspawn-tray/internal/bustest"
	"github.com/nspawn-tray/nspawn-tray/launcher"
)

// guiImage is an image offering two apps and a hidden helper.
func (e *env) guiImage() {
	dir := e.image("gui")
	apps := filepath.Join(dir, "usr/share/applications")
	writeFile(e.t, filepath.Join(apps, "org.example.Viewer.desktop"), "[Desktop Entry]\nType=Application\nName=Viewer\nExec=/usr/bin/viewer %f\n", 0o644)
	writeFile(e.t, filepath.Join(apps, "plain.desktop"), "[Desktop Entry]\nType=Application\nName=Plain Two\nExec=/usr/bin/plain2\n", 0o644)
	writeFile(e.t, filepath.Join(apps, "helper.desktop"), "[Desktop Entry]\nType=Application\nName=Helper\nExec=/usr/bin/helper\nNoDisplay=true\n", 0o644)
}

func TestOffersAndAddApp(t *testing.T) {
	e := newEnv(t)
	e.guiImage()
	ctx := context.Background()
	offers, err := e.client(bustest.Mallory).Offers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// "plain" is taken by a definition: its entry would be plain-2.
	want := []launcher.Offer{
		{Image: "gui", DesktopFile: "org.example.Viewer.desktop", ID: "viewer", Name: "Viewer"},
		{Image: "gui", DesktopFile: "plain.desktop", ID: "plain-2", Name: "Plain Two"},
	}
	if !reflect.DeepEqual(offers, want) {
		t.Fatalf("Offers:\n got %+v\nwant %+v", offers, want)
	}

	// Not an administrator: nothing written.
	if _, err := e.client(bustest.Alice).AddApp(ctx, "gui", "org.example.Viewer.desktop"); !errors.Is(err, launcher.ErrNotAuthorized) {
		t.Fatalf("AddApp without manage-apps: %v", err)
	}
	if _, err := os.Stat(filepath.Join(e.paths.Apps, "viewer.toml")); !os.IsNotExist(err) {
		t.Fatalf("a refused AddApp wrote: %v", err)
	}
	calls := e.polkit.Calls()
	if last := calls[len(calls)-1]; last.Action != launcher.ActionManageApps || !last.Interactive ||
		!reflect.DeepEqual(last.Details, map[string]string{"image": "gui", "desktop-file": "org.example.Viewer.desktop"}) {
		t.Errorf("polkit asked %+v", last)
	}

	e.polkit.Answer(launcher.ActionManageApps, bustest.PolkitAnswer{Authorized: true})
	for _, tc := range []struct{ file, id string }{{"org.example.Viewer.desktop", "viewer"}, {"plain.desktop", "plain-2"}} {
		id, err := e.client(bustest.Alice).AddApp(ctx, "gui", tc.file)
		if err != nil || id != tc.id {
			t.Fatalf("AddApp(%s) = %q, %v; want %q", tc.file, id, err, tc.id)
		}
		app, err := config.LoadApp(e.paths.Apps, id, config.Options{RequireRootOwned: true})
		if err != nil || app.Image != "gui" || app.Desktop.File != tc.file {
			t.Errorf("the definition written: %+v, %v", app, err)
		}
	}
	if offers, err := e.client(bustest.Alice).Offers(ctx); err != nil || len(offers) != 0 {
		t.Errorf("Offers after adding both: %+v, %v", offers, err)
	}

	for _, tc := range []struct{ image, file string }{
		{"gui", "org.example.Viewer.desktop"}, // defined now
		{"gui", "helper.desktop"},             // not shown
		{"gui", "../../../etc/passwd"},
		{"../etc", "plain.desktop"},
		{"nosuch", "plain.desktop"},
		{"gui", "missing.desktop"},
	} {
		if _, err := e.client(bustest.Alice).AddApp(ctx, tc.image, tc.file); !errors.Is(err, launcher.ErrInvalidArgs) {
			t.Errorf("AddApp(%q, %q) = %v, want invalid arguments", tc.image, tc.file, err)
		}
	}
	entries, _ := os.ReadDir(e.paths.Apps)
	var names []string
	for _, en := range entries {
		names = append(names, en.Name())
	}
	if got := strings.Join(names, " "); got != "full.toml plain-2.toml plain.toml viewer.toml" {
		t.Errorf("apps.d holds %s", got)
	}
	// Offers and AddApp take no descriptors and need no particular shape
	// beyond their signature: a raw call with other types is refused.
	if err := e.raw(bustest.Alice, "AddApp", "gui").Err; err == nil {
		t.Error("AddApp with one argument answered")
	}
}
