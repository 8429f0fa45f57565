package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadApp(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "a.toml", good)
	write(t, dir, "broken.toml", "name = 1\n")
	write(t, dir, "b.toml", good)
	app, err := LoadApp(dir, "a", Options{RequireRootOwned: true})
	if err != nil || app.ID != "a" {
		t.Fatalf("LoadApp(a) = %+v, %v", app, err)
	}
	if _, err := LoadApp(dir, "nosuch", Options{}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing: %v, want fs.ErrNotExist", err)
	}
	if _, err := LoadApp(dir, "broken", Options{}); err == nil || !strings.Contains(err.Error(), "broken.toml:1") {
		t.Errorf("broken: %v", err)
	}
	for _, id := range []string{"../a", "a/../b", "", ".a"} {
		if _, err := LoadApp(dir, id, Options{}); err == nil {
			t.Errorf("LoadApp(%q) accepted", id)
		}
	}
	// The same ownership rules as LoadDir.
	if err := os.Chown(filepath.Join(dir, "b.toml"), 1000, 1000); err != nil {
		t.Skip(err)
	}
	if _, err := LoadApp(dir, "b", Options{RequireRootOwned: true}); err == nil {
		t.Error("a non-root-owned definition was accepted")
	}
}
