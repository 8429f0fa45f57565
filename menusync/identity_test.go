package menusync_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nspawn-tray/nspawn-tray/config"
	"github.com/nspawn-tray/nspawn-tray/desktopfiles"
	"github.com/nspawn-tray/nspawn-tray/launcher"
	"github.com/nspawn-tray/nspawn-tray/menusync"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, which -update rewrites.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it)\n--- got:\n%s\n--- want:\n%s", p, got, want)
	}
}

// defineNamed writes the definition of app, named name.
func (e *env) defineNamed(t *testing.T, app, name, extra string) {
	t.Helper()
	def := fmt.Sprintf("name = %q\nimage = \"debian\"\nexec = [\"/usr/bin/xterm\"]\n%s", name, extra)
	if err := os.WriteFile(filepath.Join(e.apps, app+".toml"), []byte(def), 0o644); err != nil {
		t.Fatal(err)
	}
}

// owners maps each desktop file of the applications directory to the app
// its owner key names ("" for a file that is not ours).
func (e *env) owners(t *testing.T) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(e.appDir())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, d := range ents {
		out[d.Name()] = owner(t, filepath.Join(e.appDir(), d.Name()))
	}
	return out
}

// xterm is what the daemon says of Debian's xterm, as in the issue.
func xterm() launcher.AppMetadata {
	return launcher.AppMetadata{
		DesktopID: "debian-xterm",
		Entry: desktopfiles.Entry{Name: "XTerm", NameLoc: map[string]string{"de": "XTerm (deutsch)", "fr": "Le XTerm"},
			GenericName: "Terminal emulator", Comment: "standard terminal emulator for the X window system",
			Categories: []string{"System", "TerminalEmulator"}, Icon: "mini.xterm"},
		Icons: []launcher.Icon{{Name: "mini.xterm", SizeDir: "48x48", Ext: "png", Data: []byte("\x89PNG xterm")}},
	}
}

// Issue 16: a second definition on the same image desktop file took over
// the first one's entry. Adding it must leave the first entry as it was,
// byte for byte, and give the new one a name of its own, told apart by its
// id when the names are the same.
func TestSyncTwiceNewAppDoesNotTakeOverAnEntry(t *testing.T) {
	e := newEnv(t)
	e.defineNamed(t, "xterm", "XTerm", "")
	e.src.meta["xterm"] = xterm()
	res := e.sync(t)
	if !slices.Equal(res.Entries.Written, []string{"debian-xterm.desktop"}) {
		t.Fatalf("first sync wrote %v", res.Entries.Written)
	}
	first, err := os.ReadFile(filepath.Join(e.appDir(), "debian-xterm.desktop"))
	if err != nil {
		t.Fatal(err)
	}

	// xterm-offline.toml is read before xterm.toml ('-' < '.').
	e.defineNamed(t, "xterm-offline", "XTerm", "network = \"none\"\n")
	e.src.meta["xterm-offline"] = xterm()
	res = e.sync(t)
	if !slices.Equal(res.Entries.Written, []string{"nspawn-tray-xterm-offline.desktop"}) || len(res.Entries.Removed) != 0 {
		t.Errorf("second sync: Entries = %+v, want only nspawn-tray-xterm-offline.desktop written", res.Entries)
	}
	again, err := os.ReadFile(filepath.Join(e.appDir(), "debian-xterm.desktop"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, first) {
		t.Errorf("debian-xterm.desktop changed:\n%s\nwas\n%s", again, first)
	}
	if want := map[string]string{"debian-xterm.desktop": "xterm", "nspawn-tray-xterm-offline.desktop": "xterm-offline"}; !mapsEqual(e.owners(t), want) {
		t.Errorf("entries %v, want %v", e.owners(t), want)
	}
	golden(t, "twice/debian-xterm.desktop", again)
	offline, err := os.ReadFile(filepath.Join(e.appDir(), "nspawn-tray-xterm-offline.desktop"))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "twice/nspawn-tray-xterm-offline.desktop", offline)
	if p := e.entry(t, "nspawn-tray-xterm-offline.desktop"); p.Entry.Name != "XTerm (xterm-offline)" || len(p.Entry.NameLoc) != 0 {
		t.Errorf("new entry Name = %q %v, want \"XTerm (xterm-offline)\" without translations", p.Entry.Name, p.Entry.NameLoc)
	}

	// And a third sync changes nothing.
	if res = e.sync(t); res.Entries.Changed() || res.Icons.Changed() {
		t.Errorf("third sync changed %+v", res)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// Which file each app's entry gets: an app keeps the entry it has while
// that name is still allowed; the others get the image's desktop id when
// free, else nspawn-tray-ID.desktop; never depending on the order the
// definitions are read in.
func TestSyncEntryFileNames(t *testing.T) {
	for _, tc := range []struct {
		desc string
		// apps maps each app to its image's desktop id ("" none).
		apps map[string]string
		// metaErr is the Metadata error of every app, if any.
		metaErr error
		// existing are entries already written, file -> owner ("" for
		// a file of the user's, without our key); host are the host's.
		existing map[string]string
		host     []string
		want     map[string]string // file -> owner after the sync
	}{
		{
			desc: "new apps on one desktop id: the first by id has it",
			apps: map[string]string{"xterm": "debian-xterm", "xterm-offline": "debian-xterm"},
			want: map[string]string{"debian-xterm.desktop": "xterm", "nspawn-tray-xterm-offline.desktop": "xterm-offline"},
		},
		{
			desc:     "an existing entry stays with its app, which sorts later",
			apps:     map[string]string{"a": "org.example.Shared", "b": "org.example.Shared"},
			existing: map[string]string{"org.example.Shared.desktop": "b"},
			want:     map[string]string{"org.example.Shared.desktop": "b", "nspawn-tray-a.desktop": "a"},
		},
		{
			desc:     "the issue's state is kept as it is",
			apps:     map[string]string{"xterm": "debian-xterm", "xterm-offline": "debian-xterm"},
			existing: map[string]string{"debian-xterm.desktop": "xterm-offline", "nspawn-tray-xterm.desktop": "xterm"},
			want:     map[string]string{"debian-xterm.desktop": "xterm-offline", "nspawn-tray-xterm.desktop": "xterm"},
		},
		{
			desc:     "a fallback name is kept when the desktop id is free again",
			apps:     map[string]string{"b": "org.example.Shared"},
			existing: map[string]string{"nspawn-tray-b.desktop": "b"},
			want:     map[string]string{"nspawn-tray-b.desktop": "b"},
		},
		{
			desc:     "an entry of a removed app frees its name",
			apps:     map[string]string{"b": "org.example.Shared"},
			existing: map[string]string{"org.example.Shared.desktop": "gone"},
			want:     map[string]string{"org.example.Shared.desktop": "b"},
		},
		{
			desc:     "a kept name that is now a host entry is given up",
			apps:     map[string]string{"evil": "firefox"},
			existing: map[string]string{"firefox.desktop": "evil"},
			host:     []string{"firefox.desktop"},
			want:     map[string]string{"nspawn-tray-evil.desktop": "evil"},
		},
		{
			desc:     "a name written without the daemon gives way to the image's desktop id",
			apps:     map[string]string{"app": "org.example.App"},
			existing: map[string]string{"app.desktop": "app"},
			want:     map[string]string{"org.example.App.desktop": "app"},
		},
		{
			desc:     "without metadata every app keeps its entry",
			apps:     map[string]string{"a": "", "b": ""},
			metaErr:  launcher.ErrImageMissing,
			existing: map[string]string{"org.example.Shared.desktop": "b", "nspawn-tray-a.desktop": "a"},
			want:     map[string]string{"org.example.Shared.desktop": "b", "nspawn-tray-a.desktop": "a"},
		},
		{
			desc:     "without the daemon every app keeps its entry",
			apps:     map[string]string{"a": "", "b": ""},
			metaErr:  launcher.ErrNoDaemon,
			existing: map[string]string{"org.example.B.desktop": "b"},
			want:     map[string]string{"org.example.B.desktop": "b", "a.desktop": "a"},
		},
		{
			desc: "an image's desktop id never takes another app's fallback name",
			apps: map[string]string{"a": "org.example.Shared", "aa": "nspawn-tray-b", "b": "org.example.Shared"},
			want: map[string]string{"org.example.Shared.desktop": "a", "nspawn-tray-aa.desktop": "aa", "nspawn-tray-b.desktop": "b"},
		},
		{
			desc: "an app id that is the tray's own entry name",
			apps: map[string]string{"nspawn-tray": ""},
			want: map[string]string{"nspawn-tray-nspawn-tray.desktop": "nspawn-tray"},
		},
		{
			desc:     "a user's file is not an entry of ours, and stays",
			apps:     map[string]string{"a": "org.example.A"},
			existing: map[string]string{"org.example.A.desktop": ""},
			want:     map[string]string{"org.example.A.desktop": ""},
		},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			e := newEnv(t)
			for app, id := range tc.apps {
				e.define(t, app, "")
				e.src.meta[app] = launcher.AppMetadata{DesktopID: id}
				if tc.metaErr != nil {
					e.src.errs[app] = fmt.Errorf("metadata of %s: %w", app, tc.metaErr)
				}
			}
			if err := os.MkdirAll(e.appDir(), 0o755); err != nil {
				t.Fatal(err)
			}
			for file, app := range tc.existing {
				entry := "[Desktop Entry]\nType=Application\nName=Old\nExec=old\n"
				if app != "" {
					entry += desktopfiles.OwnerKey + "=" + app + "\n"
				}
				if err := os.WriteFile(filepath.Join(e.appDir(), file), []byte(entry), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			host := t.TempDir()
			if err := os.Mkdir(filepath.Join(host, "applications"), 0o755); err != nil {
				t.Fatal(err)
			}
			for _, f := range tc.host {
				if err := os.WriteFile(filepath.Join(host, "applications", f), []byte("[Desktop Entry]\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			e.opts.DataDirs = []string{host}
			e.sync(t)
			if got := e.owners(t); !mapsEqual(got, tc.want) {
				t.Errorf("entries = %v, want %v", got, tc.want)
			}
			// An entry not named after the image's desktop id keeps the
			// id for matching windows.
			for file, app := range tc.want {
				if id := tc.apps[app]; app != "" && id != "" && tc.metaErr == nil && file != id+".desktop" {
					if p := e.entry(t, file); p.Entry.StartupWMClass != id {
						t.Errorf("%s: StartupWMClass = %q, want %q", file, p.Entry.StartupWMClass, id)
					}
				}
			}
		})
	}
}

// Issue 16: the entry's name is the definition's, in every language; the
// image's Name and its translations, and [desktop] name, are not used.
func TestSyncEntryTakesTheDefinitionsName(t *testing.T) {
	e := newEnv(t)
	e.defineNamed(t, "xterm", "Terminal (container)", "[desktop]\nname = \"Something else\"\ncomment = \"Admin's comment\"\n")
	e.src.meta["xterm"] = xterm()
	res := e.sync(t)
	want := `app "xterm": [desktop] name is ignored: its entry takes the definition's name "Terminal (container)"`
	if !slices.Equal(res.Warnings, []string{want}) {
		t.Errorf("Warnings = %q, want %q", res.Warnings, want)
	}
	got, err := os.ReadFile(filepath.Join(e.appDir(), "debian-xterm.desktop"))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "definition-name.desktop", got)
	if p := e.entry(t, "debian-xterm.desktop"); p.Entry.Name != "Terminal (container)" || len(p.Entry.NameLoc) != 0 {
		t.Errorf("Name = %q %v, want the definition's without translations", p.Entry.Name, p.Entry.NameLoc)
	}
}

func TestMenuNames(t *testing.T) {
	long := strings.Repeat("é", 64) // 128 bytes, the longest Name an entry keeps
	for _, tc := range []struct {
		desc string
		apps [][2]string // id, name; in the order given to Names
		want map[string]string
	}{
		{"distinct names", [][2]string{{"xterm", "XTerm"}, {"gimp", "GIMP"}},
			map[string]string{"xterm": "XTerm", "gimp": "GIMP"}},
		{"the first by id keeps the name", [][2]string{{"xterm-offline", "XTerm"}, {"xterm", "XTerm"}},
			map[string]string{"xterm": "XTerm", "xterm-offline": "XTerm (xterm-offline)"}},
		{"three of a name", [][2]string{{"c", "Shell"}, {"a", "Shell"}, {"b", "Shell"}},
			map[string]string{"a": "Shell", "b": "Shell (b)", "c": "Shell (c)"}},
		{"the same once written", [][2]string{{"a", "XTerm "}, {"b", "X\tTerm"}, {"c", "X Term"}},
			map[string]string{"a": "XTerm", "b": "X Term", "c": "X Term (c)"}},
		{"case tells names apart", [][2]string{{"a", "XTerm"}, {"b", "Xterm"}},
			map[string]string{"a": "XTerm", "b": "Xterm"}},
		{"the id fits a long name", [][2]string{{"a", long}, {"bb", long}},
			map[string]string{"a": long, "bb": strings.Repeat("é", 61) + " (bb)"}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			var apps []config.App
			for _, a := range tc.apps {
				apps = append(apps, config.App{ID: a[0], Name: a[1]})
			}
			got := menusync.Names(apps)
			if !mapsEqual(got, tc.want) {
				t.Errorf("Names = %q, want %q", got, tc.want)
			}
			for id, n := range got {
				if len(n) > 128 {
					t.Errorf("%s: name of %d bytes", id, len(n))
				}
			}
			if apps[0].ID != tc.apps[0][0] {
				t.Error("Names reordered its argument")
			}
		})
	}
}

func TestSyncSummary(t *testing.T) {
	for _, tc := range []struct {
		apps, entries, entriesGone, icons, iconsGone int
		want                                         string
	}{
		{1, 1, 0, 1, 0, "1 app: 1 entry written, 0 removed; 1 icon written, 0 removed"},
		{0, 0, 1, 0, 1, "0 apps: 0 entries written, 1 removed; 0 icons written, 1 removed"},
		{14, 2, 1, 3, 0, "14 apps: 2 entries written, 1 removed; 3 icons written, 0 removed"},
	} {
		r := menusync.Result{Apps: tc.apps}
		r.Entries.Written, r.Entries.Removed = make([]string, tc.entries), make([]string, tc.entriesGone)
		r.Icons.Written, r.Icons.Removed = make([]string, tc.icons), make([]string, tc.iconsGone)
		if got := r.Summary(); got != tc.want {
			t.Errorf("Summary = %q, want %q", got, tc.want)
		}
	}
}

// Icon is what the autostart entry shows: the app's own icon once sync has
// installed it, else nspawn-tray's.
func TestMenuIcon(t *testing.T) {
	e := newEnv(t)
	for _, a := range []string{"app", "app-two", "noicon"} {
		e.define(t, a, "")
	}
	e.src.meta["app"] = launcher.AppMetadata{Icons: []launcher.Icon{{SizeDir: "scalable", Ext: "svg", Data: []byte("<svg/>")}}}
	e.src.meta["app-two"] = launcher.AppMetadata{Icons: []launcher.Icon{{SizeDir: "48x48", Ext: "png", Data: []byte("png")}}}
	if got := menusync.Icon(e.data, "app"); got != "nspawn-tray" {
		t.Errorf("Icon before any sync = %q", got)
	}
	e.sync(t)
	for app, want := range map[string]string{"app": "nspawn-tray.app", "app-two": "nspawn-tray.app-two", "noicon": "nspawn-tray", "gone": "nspawn-tray"} {
		if got := menusync.Icon(e.data, app); got != want {
			t.Errorf("Icon(%s) = %q, want %q", app, got, want)
		}
	}
	// The manifest lists it, but the user removed the file.
	if err := os.Remove(filepath.Join(e.iconDir(), "hicolor/scalable/apps/nspawn-tray.app.svg")); err != nil {
		t.Fatal(err)
	}
	if got := menusync.Icon(e.data, "app"); got != "nspawn-tray" {
		t.Errorf("Icon of a removed icon file = %q", got)
	}
}
