package menusync_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nspawn-tray/nspawn-tray/menusync"
)

// Issue 16: sync reads the definitions as the daemon does, so no entry
// shows an app the daemon refuses. Each refused definition is one warning,
// the message every command gives for it, and the entry it had goes.
func TestSyncRefusesWhatTheDaemonRefuses(t *testing.T) {
	for _, tc := range []struct {
		desc string
		// spoil turns bad.toml, a valid definition, into a refused one.
		spoil  func(t *testing.T, e *env, path string)
		reason string // after the path in the warning
		asRoot bool
	}{
		{"writable by others", func(t *testing.T, e *env, path string) {
			if err := os.Chmod(path, 0o666); err != nil {
				t.Fatal(err)
			}
		}, ": mode 0666 is group- or world-writable", false},
		{"writable by the group", func(t *testing.T, e *env, path string) {
			if err := os.Chmod(path, 0o664); err != nil {
				t.Fatal(err)
			}
		}, ": mode 0664 is group- or world-writable", false},
		{"owned by a user", func(t *testing.T, e *env, path string) {
			if err := os.Chown(path, 4321, 4321); err != nil {
				t.Fatal(err)
			}
		}, ": owned by uid 4321, must be owned by root", true},
		{"a symlink", func(t *testing.T, e *env, path string) {
			target := filepath.Join(t.TempDir(), "elsewhere.toml")
			if err := os.Rename(path, target); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, path); err != nil {
				t.Fatal(err)
			}
		}, ": is a symlink, refused", false},
		{"several problems in one file", func(t *testing.T, e *env, path string) {
			if err := os.WriteFile(path, []byte("name = \"Bad\"\nimage = \"debian\"\nhome = \"yes\"\naudio = 5\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, `:3: key "home" must be a boolean, not a string; ` + "%s" + `:4: key "audio" must be`, false},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			if tc.asRoot && os.Getuid() != 0 {
				t.Skip("needs root to chown")
			}
			e := newEnv(t)
			e.opts.AppsOwner = 0 // as on a real system; root owns the files
			if os.Getuid() != 0 {
				e.opts.AppsOwner = uint32(os.Getuid())
			}
			e.define(t, "bad", "")
			e.define(t, "good", "")
			if res := e.sync(t); !slices.Equal(res.Entries.Written, []string{"bad.desktop", "good.desktop"}) {
				t.Fatalf("first sync wrote %v", res.Entries.Written)
			}
			path := filepath.Join(e.apps, "bad.toml")
			tc.spoil(t, e, path)
			e.src.calls = nil
			res := e.sync(t)
			prefix := `app "bad" has an invalid definition: ` + path + strings.ReplaceAll(tc.reason, "%s", path)
			if len(res.Warnings) != 1 || !strings.HasPrefix(res.Warnings[0], prefix) || strings.Contains(res.Warnings[0], "\n") {
				t.Errorf("Warnings = %q, want one line starting %q", res.Warnings, prefix)
			}
			if res.Apps != 1 || !slices.Equal(res.Entries.Removed, []string{"bad.desktop"}) || len(res.Entries.Written) != 0 {
				t.Errorf("Apps = %d, Entries = %+v; want 1 app and bad.desktop removed", res.Apps, res.Entries)
			}
			// The daemon is asked by file name while the definitions are parsed;
			// bad's answer makes no entry (above).
			if !slices.Contains(e.src.calls, "good") {
				t.Errorf("Metadata asked for %v, not for good", e.src.calls)
			}
		})
	}
}

// A file with several problems is one warning naming them all.
func TestSyncOneWarningPerDefinition(t *testing.T) {
	e := newEnv(t)
	if err := os.WriteFile(filepath.Join(e.apps, "bad.toml"), []byte("name = \"\"\nimage = \"debian\"\nexec = []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res := e.sync(t)
	if len(res.Warnings) != 1 || strings.Count(res.Warnings[0], "bad.toml") != 2 || strings.Contains(res.Warnings[0], "\n") {
		t.Errorf("Warnings = %q, want one line with both problems of bad.toml", res.Warnings)
	}
}

// A directory the daemon refuses leaves no definition usable: the sync
// fails and leaves the entries as they are, rather than emptying the menu
// over a mode.
func TestSyncRefusedDirectory(t *testing.T) {
	e := newEnv(t)
	e.define(t, "app", "")
	e.sync(t)
	if err := os.Chmod(e.apps, 0o777); err != nil {
		t.Fatal(err)
	}
	res, err := menusync.Sync(context.Background(), e.opts)
	if want := "menusync: " + e.apps + ": mode 0777 is group- or world-writable"; err == nil || err.Error() != want {
		t.Errorf("Sync = %v, want %q", err, want)
	}
	if res.Entries.Changed() || !exists(filepath.Join(e.appDir(), "app.desktop")) {
		t.Errorf("a refused directory changed the entries: %+v", res.Entries)
	}
}

func TestMenuDefinitions(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"good.toml":  "name = \"Good\"\nimage = \"debian\"\nexec = [\"/bin/true\"]\n",
		"bad.toml":   "name = \"Bad\"\n",
		"Upper.toml": "name = \"Good\"\nimage = \"debian\"\nexec = [\"/bin/true\"]\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	apps, invalid, err := menusync.Definitions(dir, uint32(os.Getuid()))
	if err != nil || len(apps) != 1 || apps[0].ID != "good" {
		t.Fatalf("Definitions = %v, %v; want good only", apps, err)
	}
	if len(invalid) != 2 || invalid[0].ID != "Upper" || invalid[1].ID != "bad" {
		t.Fatalf("invalid = %v, want Upper and bad", invalid)
	}
	want := `app "bad" has an invalid definition: ` + filepath.Join(dir, "bad.toml") + `: missing required key "image"; ` +
		filepath.Join(dir, "bad.toml") + `: missing required key "exec"`
	if invalid[1].Message != want {
		t.Errorf("bad: %q, want %q", invalid[1].Message, want)
	}
	if _, _, err := menusync.Definitions(dir, uint32(os.Getuid())+1); err == nil || !strings.Contains(err.Error(), dir+": owned by uid") {
		t.Errorf("Definitions with another owner = %v, want the directory refused", err)
	}
}
