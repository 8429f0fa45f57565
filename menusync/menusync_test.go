package menusync_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/desktopfiles"
	"github.com/nspawn-tray/nspawn-tray/launcher"
	"github.com/nspawn-tray/nspawn-tray/menusync"
)

const self = "/usr/bin/nspawn-tray"

// source is a Metadata source answering from maps, recording the apps it
// was asked about.
type source struct {
	mu    sync.Mutex // Sync asks from several goroutines
	meta  map[string]launcher.AppMetadata
	errs  map[string]error
	calls []string
}

func (s *source) Metadata(_ context.Context, app string) (launcher.AppMetadata, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, app)
	if err := s.errs[app]; err != nil {
		return launcher.AppMetadata{}, err
	}
	return s.meta[app], nil
}

// refreshes records the cache tools Sync runs.
type refreshes struct{ calls [][]string }

func (r *refreshes) run(name string, args ...string) {
	r.calls = append(r.calls, append([]string{name}, args...))
}

func (r *refreshes) take() [][]string {
	c := r.calls
	r.calls = nil
	return c
}

type env struct {
	apps, data string
	src        *source
	ref        *refreshes
	opts       menusync.Options
}

func newEnv(t *testing.T) *env {
	t.Helper()
	root := t.TempDir()
	e := &env{apps: filepath.Join(root, "apps.d"), data: filepath.Join(root, "data"),
		src: &source{meta: map[string]launcher.AppMetadata{}, errs: map[string]error{}}, ref: &refreshes{}}
	if err := os.Mkdir(e.apps, 0o755); err != nil {
		t.Fatal(err)
	}
	e.opts = menusync.Options{AppsDir: e.apps, AppsOwner: uint32(os.Getuid()), DataHome: e.data, Launcher: self,
		Homes: "/var/lib/nspawn-tray/homes", UID: 1000, Source: e.src, Refresh: e.ref.run}
	return e
}

// define writes the definition of app; extra is appended (a [desktop]
// table, home = false, ...).
func (e *env) define(t *testing.T, app, extra string) {
	t.Helper()
	def := fmt.Sprintf("name = %q\nimage = \"debian\"\nexec = [\"/usr/bin/%s\"]\n%s", strings.ToUpper(app[:1])+app[1:], app, extra)
	if err := os.WriteFile(filepath.Join(e.apps, app+".toml"), []byte(def), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (e *env) sync(t *testing.T) menusync.Result {
	t.Helper()
	res, err := menusync.Sync(context.Background(), e.opts)
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	return res
}

func (e *env) appDir() string  { return filepath.Join(e.data, "applications") }
func (e *env) iconDir() string { return filepath.Join(e.data, "icons") }

func (e *env) entry(t *testing.T, file string) desktopfiles.Parsed {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(e.appDir(), file))
	if err != nil {
		t.Fatal(err)
	}
	p, err := desktopfiles.Parse(data)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return p
}

func owner(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return desktopfiles.ParseOwner(data)
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestSyncWithoutSourceUsesDefinitions(t *testing.T) {
	e := newEnv(t)
	e.opts.Source = nil
	e.define(t, "firefox", "[desktop]\ncomment = \"Browse the web\"\ncategories = [\"Network\", \"WebBrowser\"]\n")
	e.define(t, "gimp", "home = false\n")

	res := e.sync(t)
	if res.Apps != 2 || len(res.Warnings) != 0 {
		t.Errorf("Apps = %d, Warnings = %q; want 2, none", res.Apps, res.Warnings)
	}
	if want := []string{"firefox.desktop", "gimp.desktop"}; !slices.Equal(res.Entries.Written, want) {
		t.Errorf("Entries.Written = %v, want %v", res.Entries.Written, want)
	}
	if res.Icons.Changed() {
		t.Errorf("icons changed without metadata: %+v", res.Icons)
	}
	// The whole file, as the renderer makes it from the definition: the
	// generic icon, the launcher, and the home of this user.
	got, err := os.ReadFile(filepath.Join(e.appDir(), "firefox.desktop"))
	if err != nil {
		t.Fatal(err)
	}
	want := desktopfiles.Render(desktopfiles.Ours{AppID: "firefox", Launcher: self,
		HomeDir: "/var/lib/nspawn-tray/homes/1000/firefox",
		Entry:   desktopfiles.Entry{Name: "Firefox", Comment: "Browse the web", Categories: []string{"Network", "WebBrowser"}, Icon: "nspawn-tray"}})
	if string(got) != string(want) {
		t.Errorf("firefox.desktop =\n%s\nwant\n%s", got, want)
	}
	gimp, err := os.ReadFile(filepath.Join(e.appDir(), "gimp.desktop"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(gimp), "open-home") || strings.Contains(string(gimp), "xdg-open") {
		t.Errorf("gimp (home = false) got a home action:\n%s", gimp)
	}
	if calls := e.ref.take(); !slices.EqualFunc(calls, [][]string{{"update-desktop-database", "-q", e.appDir()}}, slices.Equal) {
		t.Errorf("refreshes = %q, want only the desktop database", calls)
	}
}

func TestSyncHomeActionUsesHomesAndUID(t *testing.T) {
	e := newEnv(t)
	e.opts.Homes, e.opts.UID = "/srv/homes", 4321
	e.define(t, "app", "")
	e.sync(t)
	data, err := os.ReadFile(filepath.Join(e.appDir(), "app.desktop"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "\nExec=xdg-open /srv/homes/4321/app\n") {
		t.Errorf("entry has no home action for /srv/homes/4321/app:\n%s", data)
	}
}

func TestSyncWithMetadata(t *testing.T) {
	e := newEnv(t)
	e.define(t, "firefox", "[desktop]\ncomment = \"Admin's comment\"\n")
	png, svg := []byte("\x89PNG fake"), []byte("<svg/>")
	e.src.meta["firefox"] = launcher.AppMetadata{
		DesktopID: "org.mozilla.firefox",
		Entry:     desktopfiles.Entry{Name: "Firefox Web Browser", Comment: "Image's comment", Icon: "firefox", StartupWMClass: "firefox"},
		Icons: []launcher.Icon{
			{Name: "firefox", SizeDir: "48x48", Ext: "png", Data: png},
			{Name: "firefox", SizeDir: "scalable", Ext: "svg", Data: svg},
		},
	}

	res := e.sync(t)
	if !slices.Equal(e.src.calls, []string{"firefox"}) {
		t.Errorf("Metadata calls = %v", e.src.calls)
	}
	if !slices.Equal(res.Entries.Written, []string{"org.mozilla.firefox.desktop"}) {
		t.Errorf("Entries.Written = %v, want the image's desktop id", res.Entries.Written)
	}
	p := e.entry(t, "org.mozilla.firefox.desktop")
	// The definition names it and overrides, and the icon is ours.
	if p.Entry.Name != "Firefox" || p.Entry.Comment != "Admin's comment" ||
		p.Entry.Icon != "nspawn-tray.firefox" || p.Entry.StartupWMClass != "firefox" {
		t.Errorf("entry = %+v", p.Entry)
	}
	if p.Exec != self+" launch firefox" {
		t.Errorf("Exec = %q", p.Exec)
	}
	pngRel := "hicolor/48x48/apps/nspawn-tray.firefox.png"
	svgRel := "hicolor/scalable/apps/nspawn-tray.firefox.svg"
	if want := []string{pngRel, svgRel}; !slices.Equal(res.Icons.Written, want) {
		t.Errorf("Icons.Written = %v, want %v", res.Icons.Written, want)
	}
	for rel, data := range map[string][]byte{pngRel: png, svgRel: svg} {
		if got, err := os.ReadFile(filepath.Join(e.iconDir(), rel)); err != nil || string(got) != string(data) {
			t.Errorf("%s = %q, %v; want %q", rel, got, err, data)
		}
	}
	manifest, err := os.ReadFile(filepath.Join(e.data, "nspawn-tray", "icons.list"))
	if err != nil {
		t.Fatal(err)
	}
	if want := sum(png) + " " + pngRel + "\n" + sum(svg) + " " + svgRel + "\n"; string(manifest) != want {
		t.Errorf("manifest =\n%s\nwant\n%s", manifest, want)
	}
	want := [][]string{
		{"update-desktop-database", "-q", e.appDir()},
		{"gtk-update-icon-cache", "-q", "-t", "-f", filepath.Join(e.iconDir(), "hicolor")},
	}
	if calls := e.ref.take(); !slices.EqualFunc(calls, want, slices.Equal) {
		t.Errorf("refreshes = %q, want %q", calls, want)
	}
}

// Two apps of one image share its desktop id: the first (by app id) keeps
// it, the other falls back to a name of its own instead of overwriting.
func TestSyncDesktopIDCollision(t *testing.T) {
	e := newEnv(t)
	e.define(t, "alpha", "")
	e.define(t, "beta", "")
	e.src.meta["alpha"] = launcher.AppMetadata{DesktopID: "org.example.Shared"}
	e.src.meta["beta"] = launcher.AppMetadata{DesktopID: "org.example.Shared"}

	res := e.sync(t)
	if want := []string{"nspawn-tray-beta.desktop", "org.example.Shared.desktop"}; !slices.Equal(res.Entries.Written, want) {
		t.Fatalf("Entries.Written = %v, want %v", res.Entries.Written, want)
	}
	if o := owner(t, filepath.Join(e.appDir(), "org.example.Shared.desktop")); o != "alpha" {
		t.Errorf("org.example.Shared.desktop belongs to %q, want alpha", o)
	}
	if o := owner(t, filepath.Join(e.appDir(), "nspawn-tray-beta.desktop")); o != "beta" {
		t.Errorf("nspawn-tray-beta.desktop belongs to %q, want beta", o)
	}
}

func TestSyncSkipsInvalidDefinitions(t *testing.T) {
	e := newEnv(t)
	e.define(t, "good", "")
	if err := os.WriteFile(filepath.Join(e.apps, "bad.toml"), []byte("name = \"Bad\"\nimage = \"debian\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res := e.sync(t)
	if res.Apps != 1 {
		t.Errorf("Apps = %d, want 1", res.Apps)
	}
	want := `app "bad" has an invalid definition: ` + filepath.Join(e.apps, "bad.toml") + `: missing required key "exec"`
	if !slices.Equal(res.Warnings, []string{want}) {
		t.Errorf("Warnings = %q, want %q", res.Warnings, want)
	}
	if !slices.Equal(res.Entries.Written, []string{"good.desktop"}) {
		t.Errorf("Entries.Written = %v, want only good's", res.Entries.Written)
	}
	// The daemon is asked by file name while the definitions are parsed;
	// bad's answer makes no entry (above).
	if !slices.Contains(e.src.calls, "good") {
		t.Errorf("Metadata asked for %v, not for good", e.src.calls)
	}
}

// Without the daemon there is no point asking again for every app: one
// warning, and every app still gets its entry from its definition.
func TestSyncNoDaemonWarnsOnceAndStopsAsking(t *testing.T) {
	e := newEnv(t)
	for _, a := range []string{"a", "b", "c"} {
		e.define(t, a, "")
		e.src.errs[a] = fmt.Errorf("metadata of %s: %w", a, launcher.ErrNoDaemon)
	}
	res := e.sync(t)
	if !slices.Equal(e.src.calls, []string{"a"}) {
		t.Errorf("Metadata calls = %v, want only the first", e.src.calls)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], launcher.ErrNoDaemon.Error()) ||
		!strings.Contains(res.Warnings[0], "entries use the app definitions only") {
		t.Errorf("Warnings = %q, want one about the missing daemon", res.Warnings)
	}
	if want := []string{"a.desktop", "b.desktop", "c.desktop"}; !slices.Equal(res.Entries.Written, want) {
		t.Errorf("Entries.Written = %v, want %v", res.Entries.Written, want)
	}
}

// Another metadata error concerns one app (its image is missing, say): the
// others still get theirs.
func TestSyncMetadataErrorIsPerApp(t *testing.T) {
	e := newEnv(t)
	for _, a := range []string{"a", "b", "c"} {
		e.define(t, a, "")
	}
	e.src.errs["a"] = fmt.Errorf("metadata of a: %w", launcher.ErrImageMissing)
	e.src.meta["b"] = launcher.AppMetadata{DesktopID: "org.example.B"}
	res := e.sync(t)
	if !slices.Equal(e.src.calls, []string{"a", "b", "c"}) {
		t.Errorf("Metadata calls = %v, want every app", e.src.calls)
	}
	if len(res.Warnings) != 1 || !strings.HasPrefix(res.Warnings[0], "metadata of a: ") ||
		!strings.HasSuffix(res.Warnings[0], "; its entry uses the definition only") {
		t.Errorf("Warnings = %q, want one about a", res.Warnings)
	}
	if want := []string{"a.desktop", "c.desktop", "org.example.B.desktop"}; !slices.Equal(res.Entries.Written, want) {
		t.Errorf("Entries.Written = %v, want %v", res.Entries.Written, want)
	}
}

// The cache tools are slow and wake every menu: they run only for the
// directory that changed.
func TestSyncRefreshesOnlyWhatChanged(t *testing.T) {
	e := newEnv(t)
	e.define(t, "app", "")
	e.src.meta["app"] = launcher.AppMetadata{Icons: []launcher.Icon{{SizeDir: "32x32", Ext: "png", Data: []byte("v1")}}}
	e.sync(t)
	e.ref.take()

	res := e.sync(t)
	if res.Entries.Changed() || res.Icons.Changed() {
		t.Errorf("unchanged sync changed something: %+v", res)
	}
	if calls := e.ref.take(); len(calls) != 0 {
		t.Errorf("unchanged sync refreshed %q", calls)
	}

	e.src.meta["app"] = launcher.AppMetadata{Icons: []launcher.Icon{{SizeDir: "32x32", Ext: "png", Data: []byte("v2")}}}
	res = e.sync(t)
	if res.Entries.Changed() || !slices.Equal(res.Icons.Written, []string{"hicolor/32x32/apps/nspawn-tray.app.png"}) {
		t.Errorf("icon-only change: %+v", res)
	}
	want := [][]string{{"gtk-update-icon-cache", "-q", "-t", "-f", filepath.Join(e.iconDir(), "hicolor")}}
	if calls := e.ref.take(); !slices.EqualFunc(calls, want, slices.Equal) {
		t.Errorf("icon-only change refreshed %q, want %q", calls, want)
	}

	e.define(t, "app", "[desktop]\ncomment = \"new\"\n")
	res = e.sync(t)
	if !slices.Equal(res.Entries.Written, []string{"app.desktop"}) || res.Icons.Changed() {
		t.Errorf("entry-only change: %+v", res)
	}
	want = [][]string{{"update-desktop-database", "-q", e.appDir()}}
	if calls := e.ref.take(); !slices.EqualFunc(calls, want, slices.Equal) {
		t.Errorf("entry-only change refreshed %q, want %q", calls, want)
	}
}

// A removed app's entry and icons go; whatever is not ours stays, even
// where a defined app would like its name.
func TestSyncRemovesStaleAndLeavesForeignFiles(t *testing.T) {
	e := newEnv(t)
	for _, a := range []string{"keep", "drop"} {
		e.define(t, a, "")
		e.src.meta[a] = launcher.AppMetadata{Icons: []launcher.Icon{{SizeDir: "48x48", Ext: "png", Data: []byte(a)}}}
	}
	e.define(t, "taken", "")
	foreign := map[string]string{
		filepath.Join(e.appDir(), "taken.desktop"):                  "[Desktop Entry]\nType=Application\nName=User's own\nExec=x\n",
		filepath.Join(e.appDir(), "user.desktop"):                   "[Desktop Entry]\nType=Application\nName=Other\nExec=y\n",
		filepath.Join(e.iconDir(), "hicolor/48x48/apps/user.png"):   "user's icon",
		filepath.Join(e.iconDir(), "hicolor/48x48/apps/nspawn.png"): "not listed, so not ours",
	}
	for p, c := range foreign {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	res := e.sync(t)
	if !slices.Equal(res.Entries.Skipped, []string{"taken.desktop"}) {
		t.Errorf("Entries.Skipped = %v, want taken.desktop", res.Entries.Skipped)
	}
	e.ref.take()

	if err := os.Remove(filepath.Join(e.apps, "drop.toml")); err != nil {
		t.Fatal(err)
	}
	res = e.sync(t)
	if !slices.Equal(res.Entries.Removed, []string{"drop.desktop"}) || len(res.Entries.Written) != 0 {
		t.Errorf("Entries = %+v, want drop.desktop removed", res.Entries)
	}
	dropIcon := "hicolor/48x48/apps/nspawn-tray.drop.png"
	keepIcon := "hicolor/48x48/apps/nspawn-tray.keep.png"
	if !slices.Equal(res.Icons.Removed, []string{dropIcon}) {
		t.Errorf("Icons = %+v, want %s removed", res.Icons, dropIcon)
	}
	if exists(filepath.Join(e.appDir(), "drop.desktop")) || exists(filepath.Join(e.iconDir(), dropIcon)) {
		t.Error("the removed app's files are still there")
	}
	if !exists(filepath.Join(e.appDir(), "keep.desktop")) || !exists(filepath.Join(e.iconDir(), keepIcon)) {
		t.Error("the kept app's files are gone")
	}
	manifest, err := os.ReadFile(filepath.Join(e.data, "nspawn-tray", "icons.list"))
	if err != nil {
		t.Fatal(err)
	}
	if want := sum([]byte("keep")) + " " + keepIcon + "\n"; string(manifest) != want {
		t.Errorf("manifest =\n%s\nwant\n%s", manifest, want)
	}
	for p, c := range foreign {
		if got, err := os.ReadFile(p); err != nil || string(got) != c {
			t.Errorf("%s = %q, %v; want it untouched", p, got, err)
		}
	}
	if calls := e.ref.take(); len(calls) != 2 {
		t.Errorf("refreshes = %q, want both caches after removals", calls)
	}
}

// No definitions directory at all: no apps, so our entries go.
func TestSyncMissingAppsDirRemovesOurEntries(t *testing.T) {
	e := newEnv(t)
	e.define(t, "app", "")
	e.sync(t)
	if err := os.RemoveAll(e.apps); err != nil {
		t.Fatal(err)
	}
	res := e.sync(t)
	if res.Apps != 0 || !slices.Equal(res.Entries.Removed, []string{"app.desktop"}) || len(res.Warnings) != 0 {
		t.Errorf("Sync = %+v, want app.desktop removed without warnings", res)
	}
}

func TestSyncErrors(t *testing.T) {
	for _, tc := range []struct {
		desc, blocked string
		entries       bool // whether the entries were written before the error
	}{
		{"applications is a file", "applications", false},
		{"icons is a file", "icons", true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			e := newEnv(t)
			e.define(t, "app", "")
			e.src.meta["app"] = launcher.AppMetadata{Icons: []launcher.Icon{{SizeDir: "48x48", Ext: "png", Data: []byte("x")}}}
			if err := os.MkdirAll(e.data, 0o755); err != nil {
				t.Fatal(err)
			}
			blocked := filepath.Join(e.data, tc.blocked)
			if err := os.WriteFile(blocked, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			res, err := menusync.Sync(context.Background(), e.opts)
			if err == nil || !strings.HasPrefix(err.Error(), "menusync: "+blocked) {
				t.Fatalf("Sync = %v, want an error about %s", err, blocked)
			}
			if got := slices.Equal(res.Entries.Written, []string{"app.desktop"}); got != tc.entries {
				t.Errorf("Entries = %+v, want written: %v", res.Entries, tc.entries)
			}
			if calls := e.ref.take(); len(calls) != 0 {
				t.Errorf("a failed sync refreshed %q", calls)
			}
		})
	}
}

// With no Refresh given, the tools run from PATH when installed and are
// skipped when not.
func TestSyncDefaultRefreshRunsInstalledTools(t *testing.T) {
	bin := t.TempDir()
	out := filepath.Join(bin, "args")
	script := "#!/bin/sh\necho \"$@\" >> " + out + "\n"
	if err := os.WriteFile(filepath.Join(bin, "update-desktop-database"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin) // no gtk-update-icon-cache there
	e := newEnv(t)
	e.opts.Refresh = nil
	e.define(t, "app", "")
	e.src.meta["app"] = launcher.AppMetadata{Icons: []launcher.Icon{{SizeDir: "48x48", Ext: "png", Data: []byte("x")}}}
	res := e.sync(t)
	if !res.Icons.Changed() {
		t.Fatal("icons did not change; the missing tool was not exercised")
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("update-desktop-database did not run: %v", err)
	}
	if want := "-q " + e.appDir() + "\n"; string(got) != want {
		t.Errorf("update-desktop-database ran with %q, want %q", got, want)
	}
}

// The fake must really satisfy the interface Sync takes.
var _ menusync.Metadata = (*source)(nil)

// An image's desktop file id must not take over a host app's entry (and
// its MIME defaults): a hostile image naming itself firefox.desktop gets
// an entry of our own name, which keeps the image's id for matching its
// windows.
func TestEntryNeverShadowsAHostEntry(t *testing.T) {
	e := newEnv(t)
	host := t.TempDir()
	if err := os.MkdirAll(filepath.Join(host, "applications"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(host, "applications", "firefox.desktop"), []byte("[Desktop Entry]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.opts.DataDirs = []string{filepath.Join(t.TempDir(), "none"), host}
	e.define(t, "evil", "")
	e.define(t, "fine", "")
	e.src.meta["evil"] = launcher.AppMetadata{DesktopID: "firefox", Entry: desktopfiles.Entry{Name: "Firefox"}}
	e.src.meta["fine"] = launcher.AppMetadata{DesktopID: "org.example.Fine", Entry: desktopfiles.Entry{Name: "Fine"}}
	res := e.sync(t)
	if !slices.Equal(res.Entries.Written, []string{"nspawn-tray-evil.desktop", "org.example.Fine.desktop"}) {
		t.Fatalf("written %v", res.Entries.Written)
	}
	data, _ := os.ReadFile(filepath.Join(e.data, "applications", "nspawn-tray-evil.desktop"))
	if !strings.Contains(string(data), "\nStartupWMClass=firefox\n") {
		t.Errorf("the renamed entry lost the image's id:\n%s", data)
	}
}

// The daemon validated what Metadata returns; a wrong desktop id or icon
// size still never becomes a path.
func TestHostileMetadataMakesNoPath(t *testing.T) {
	e := newEnv(t)
	e.define(t, "app", "")
	e.src.meta["app"] = launcher.AppMetadata{DesktopID: "../../evil", Icons: []launcher.Icon{
		{Name: "x", SizeDir: "../../../x", Ext: "png", Data: []byte("a")},
		{Name: "x", SizeDir: "48x48", Ext: "sh", Data: []byte("b")},
		{Name: "x", SizeDir: "48x48", Ext: "png", Data: []byte("c")},
	}}
	res := e.sync(t)
	if !slices.Equal(res.Entries.Written, []string{"app.desktop"}) {
		t.Errorf("entries %v, want app.desktop", res.Entries.Written)
	}
	if !slices.Equal(res.Icons.Written, []string{"hicolor/48x48/apps/nspawn-tray.app.png"}) {
		t.Errorf("icons %v, want only the valid one", res.Icons.Written)
	}
}

// Sync asks for many apps' metadata at once; each entry still gets its own
// app's, and a daemon that goes away midway is one warning.
func TestSyncManyAppsEachGetsItsOwnMetadata(t *testing.T) {
	e := newEnv(t)
	const n = 60
	for i := range n {
		app := fmt.Sprintf("app%02d", i)
		e.define(t, app, "")
		e.src.meta[app] = launcher.AppMetadata{DesktopID: "org.example.App" + fmt.Sprint(i), Entry: desktopfiles.Entry{Name: "Image name " + app}}
	}
	res := e.sync(t)
	if len(res.Warnings) != 0 || len(res.Entries.Written) != n || len(e.src.calls) != n {
		t.Fatalf("warnings %q, %d entries written, %d calls; want none, %d, %d", res.Warnings, len(res.Entries.Written), len(e.src.calls), n, n)
	}
	for i := range n {
		data, err := os.ReadFile(filepath.Join(e.data, "applications", fmt.Sprintf("org.example.App%d.desktop", i)))
		if err != nil {
			t.Fatal(err)
		}
		// The entry's name is the definition's; its desktop id (the file
		// name) the image's: both must be app i's.
		if want := fmt.Sprintf("X-NspawnTray-App=app%02d\n", i); !strings.Contains(string(data), want) {
			t.Errorf("org.example.App%d.desktop lacks %q:\n%s", i, want, data)
		}
	}

	e2 := newEnv(t)
	for i := range n {
		app := fmt.Sprintf("app%02d", i)
		e2.define(t, app, "")
		if i >= n/2 {
			e2.src.errs[app] = fmt.Errorf("metadata of %s: %w", app, launcher.ErrNoDaemon)
		}
	}
	res = e2.sync(t)
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "entries use the app definitions only") {
		t.Errorf("daemon gone midway: warnings %q, want one", res.Warnings)
	}
	if len(res.Entries.Written) != n {
		t.Errorf("daemon gone midway: %d entries, want %d", len(res.Entries.Written), n)
	}
}

// batchSource answers MetadataBatch from a source's maps, or fails it,
// and leaves out the bytes of known icons as the daemon does.
type batchSource struct {
	*source
	batches int
	known   [][]launcher.KnownIcon // of each batch
	err     error
	// before runs at each batch, before it answers.
	before func()
}

func (b *batchSource) MetadataBatch(ctx context.Context, apps []string, known []launcher.KnownIcon) ([]launcher.MetadataResult, error) {
	b.mu.Lock()
	b.batches++
	b.known = append(b.known, known)
	b.mu.Unlock()
	if b.before != nil {
		b.before()
	}
	if b.err != nil {
		return nil, b.err
	}
	out := make([]launcher.MetadataResult, len(apps))
	for i, app := range apps {
		out[i].Meta, out[i].Err = b.source.Metadata(ctx, app)
		icons := slices.Clone(out[i].Meta.Icons)
		for j, ic := range icons {
			sum := sha256.Sum256(ic.Data)
			if slices.ContainsFunc(known, func(k launcher.KnownIcon) bool {
				return k.App == app && k.SizeDir == ic.SizeDir && k.Ext == ic.Ext && string(k.SHA256) == string(sum[:])
			}) {
				icons[j].Data = nil
			}
		}
		out[i].Meta.Icons = icons
	}
	return out, nil
}

// A sync after one that installed the icons tells the daemon which it has
// (by digest), so unchanged icons come without bytes and are left as they
// are; a changed one comes with its bytes and is written.
func TestSyncSendsKnownIconsAndKeepsUnchangedOnes(t *testing.T) {
	e := newEnv(t)
	b := &batchSource{source: e.src}
	e.opts.Source = b
	e.define(t, "app", "")
	e.define(t, "other", "")
	e.src.meta["app"] = launcher.AppMetadata{Icons: []launcher.Icon{
		{SizeDir: "48x48", Ext: "png", Data: []byte("png v1")}, {SizeDir: "scalable", Ext: "svg", Data: []byte("<svg/>")}}}
	e.src.meta["other"] = launcher.AppMetadata{Icons: []launcher.Icon{{SizeDir: "48x48", Ext: "png", Data: []byte("png v1")}}}
	png := "hicolor/48x48/apps/nspawn-tray.app.png"
	if res := e.sync(t); len(res.Icons.Written) != 3 || len(b.known[0]) != 0 {
		t.Fatalf("first sync: %+v, known %v", res.Icons, b.known[0])
	}
	ino := func() uint64 {
		st, err := os.Stat(filepath.Join(e.iconDir(), png))
		if err != nil {
			t.Fatal(err)
		}
		return st.Sys().(*syscall.Stat_t).Ino
	}
	before := ino()
	res := e.sync(t)
	if res.Icons.Changed() || res.Entries.Changed() || len(res.Warnings) != 0 {
		t.Errorf("unchanged: %+v %+v %q", res.Icons, res.Entries, res.Warnings)
	}
	sum := sha256.Sum256([]byte("png v1"))
	if k := b.known[1]; len(k) != 3 || !slices.ContainsFunc(k, func(k launcher.KnownIcon) bool {
		return k.App == "app" && k.SizeDir == "48x48" && k.Ext == "png" && string(k.SHA256) == string(sum[:])
	}) {
		t.Errorf("known icons sent: %+v", k)
	}
	if ino() != before {
		t.Error("an unchanged icon was rewritten")
	}
	// Changed in the image: its bytes come, and it is written.
	e.src.meta["app"].Icons[0].Data = []byte("png v2")
	res = e.sync(t)
	if !slices.Equal(res.Icons.Written, []string{png}) || len(res.Icons.Removed) != 0 {
		t.Errorf("changed icon: %+v", res.Icons)
	}
	if got, _ := os.ReadFile(filepath.Join(e.iconDir(), png)); string(got) != "png v2" {
		t.Errorf("icon holds %q", got)
	}
	// An icon file removed by hand is not listed as known: it comes again.
	os.Remove(filepath.Join(e.iconDir(), png))
	if res = e.sync(t); !slices.Equal(res.Icons.Written, []string{png}) {
		t.Errorf("removed icon: %+v", res.Icons)
	}
	if k := b.known[len(b.known)-1]; len(k) != 2 {
		t.Errorf("%d known icons sent, want 2 (the removed one not)", len(k))
	}
}

// An icon removed after sync listed it as known, while the daemon answers,
// comes without bytes: sync asks again for that app, and writes it.
func TestSyncRefetchesAnIconRemovedDuringTheSync(t *testing.T) {
	e := newEnv(t)
	b := &batchSource{source: e.src}
	e.opts.Source = b
	e.define(t, "app", "")
	e.define(t, "other", "")
	e.src.meta["app"] = launcher.AppMetadata{Icons: []launcher.Icon{{SizeDir: "48x48", Ext: "png", Data: []byte("app")}}}
	e.src.meta["other"] = launcher.AppMetadata{Icons: []launcher.Icon{{SizeDir: "48x48", Ext: "png", Data: []byte("other")}}}
	e.sync(t)
	png := filepath.Join(e.iconDir(), "hicolor/48x48/apps/nspawn-tray.app.png")
	removed := false
	b.before = func() {
		if !removed {
			removed = true
			os.Remove(png)
		}
	}
	res := e.sync(t)
	if !slices.Equal(res.Icons.Written, []string{"hicolor/48x48/apps/nspawn-tray.app.png"}) || len(res.Icons.Missing) != 0 || len(res.Warnings) != 0 {
		t.Errorf("%+v, warnings %q", res.Icons, res.Warnings)
	}
	if got, err := os.ReadFile(png); string(got) != "app" {
		t.Errorf("icon: %q, %v", got, err)
	}
	if b.batches != 3 {
		t.Errorf("%d batches, want 3 (the first sync, the second, and its ask again)", b.batches)
	}
	if k := b.known[2]; len(k) != 0 {
		t.Errorf("asked again with known icons %+v", k)
	}
	if got := menusync.Icon(e.data, "app"); got != menusync.IconName("app") {
		t.Errorf("the app's icon is %q after the sync, want its own", got)
	}
}

// With a source that has MetadataBatch (the daemon), sync asks once for
// all apps; a daemon without it (older, during an upgrade) is asked app by
// app; no daemon at all is one warning.
func TestSyncAsksTheDaemonOnceForAllApps(t *testing.T) {
	for _, tc := range []struct {
		name          string
		err           error
		batches, each int
		warnings      int
	}{
		{"batch", nil, 1, 0, 0},
		{"daemon without MetadataBatch", dbus.Error{Name: "org.freedesktop.DBus.Error.UnknownMethod", Body: []any{"no"}}, 1, 3, 0},
		{"no daemon", fmt.Errorf("metadata: %w", launcher.ErrNoDaemon), 1, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			b := &batchSource{source: e.src, err: tc.err}
			e.opts.Source = b
			for _, a := range []string{"a", "b", "c"} {
				e.define(t, a, "")
				e.src.meta[a] = launcher.AppMetadata{DesktopID: "org.example." + a}
			}
			res := e.sync(t)
			if b.batches != tc.batches || len(e.src.calls) != 3 && tc.each == 0 && tc.err == nil {
				t.Errorf("%d batches, %d calls; want %d batches", b.batches, len(e.src.calls), tc.batches)
			}
			if tc.err != nil && len(e.src.calls) != tc.each {
				t.Errorf("%d single calls, want %d", len(e.src.calls), tc.each)
			}
			if len(res.Warnings) != tc.warnings || len(res.Entries.Written) != 3 {
				t.Errorf("warnings %q, entries %v", res.Warnings, res.Entries.Written)
			}
			if tc.err == nil && !slices.Equal(res.Entries.Written, []string{"org.example.a.desktop", "org.example.b.desktop", "org.example.c.desktop"}) {
				t.Errorf("entries %v, want the images' desktop ids", res.Entries.Written)
			}
		})
	}
}
