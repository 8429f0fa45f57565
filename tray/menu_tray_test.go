package tray

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/autostart"
	"github.com/nspawn-tray/nspawn-tray/desktopfiles"
	"github.com/nspawn-tray/nspawn-tray/internal/bustest"
	"github.com/nspawn-tray/nspawn-tray/launcher"
)

// A panel that still shows the menu from before a machine came or went
// sends clicks by the ids it had: each must reach the action the user saw.
func TestClicksByOldIdsReachTheirActions(t *testing.T) {
	e := newEnv(t, without{})
	var syncs atomic.Int32
	e.opts.Sync = func(context.Context) (string, error) { syncs.Add(1); return "1 app, up to date", nil }
	// Each launch starts an instance, as the daemon's would: machined
	// tells, and the menu changes under the user's clicks.
	var mu sync.Mutex
	var instances []launcher.Instance
	e.launcher.OnLaunch(func(c bustest.LauncherCall) (string, int32, *dbus.Error) {
		mu.Lock()
		defer mu.Unlock()
		name := fmt.Sprintf("%s-%04d", c.Arg, len(instances)+1)
		instances = append(instances, launcher.Instance{Machine: name, App: c.Arg, Since: launcher.Now()})
		e.launcher.SetInstances(append([]launcher.Instance(nil), instances...))
		e.machined.Add(bustest.Machine{Name: name})
		return name, -1, nil
	})
	e.start(t)
	e.waitMenu(t, has("  launch:xeyes XEyes", "- Nothing running", "  quit Quit"))
	launch, sync := e.ui.idOf(t, "launch:xeyes"), e.ui.idOf(t, "sync")

	// Five quick clicks by the id the panel showed first: five launches.
	for i := 1; i <= 5; i++ {
		if !e.ui.clickID(launch) {
			t.Fatalf("click %d on XEyes (id %d) was lost", i, launch)
		}
		if i == 1 {
			e.waitMenu(t, has("    stop:xeyes-0001 Stop"))
		}
	}
	if l := e.calls("Launch"); len(l) != 5 {
		t.Errorf("%d launches for five clicks", len(l))
	}
	m := e.waitMenu(t, hasPrefix("  XEyes (5) — "))
	if id := e.ui.idOf(t, "launch:xeyes"); id != launch {
		t.Errorf("XEyes's id went from %d to %d as machines came", launch, id)
	}
	for i := 2; i <= 4; i++ {
		if !strings.Contains(m, fmt.Sprintf("  XEyes (%d) — ", i)) {
			t.Errorf("instance %d not told apart:\n%s", i, m)
		}
	}

	// The machines' entries keep theirs as others come and go.
	stop, log := e.ui.idOf(t, "stop:xeyes-0003"), e.ui.idOf(t, "log:xeyes-0003")
	stopFirst := e.ui.idOf(t, "stop:xeyes-0001")
	e.machined.Remove("xeyes-0001")
	e.waitMenu(t, lacks("xeyes-0001"))
	e.machined.Add(bustest.Machine{Name: "later"})
	e.waitMenu(t, has("    stop:later Stop", "  quit Quit"))
	if s, l := e.ui.idOf(t, "stop:xeyes-0003"), e.ui.idOf(t, "log:xeyes-0003"); s != stop || l != log {
		t.Errorf("xeyes-0003's entries went from %d, %d to %d, %d", stop, log, s, l)
	}
	// A click on an entry that went is lost, as it is in systray.
	if e.ui.clickID(stopFirst) {
		t.Error("a click on the Stop of a machine gone acted")
	}
	if s := e.calls("Stop"); len(s) != 0 {
		t.Errorf("Stop calls %+v", s)
	}

	// The footer had to be drawn again below the new machines: its old
	// entries act all the same.
	before := syncs.Load()
	if id := e.ui.idOf(t, "sync"); id == sync {
		t.Fatalf("the footer was not drawn again; this test needs it")
	}
	if !e.ui.clickID(sync) {
		t.Fatal("a click on the Refresh entry from before the machines came was lost")
	}
	if syncs.Load() != before+1 {
		t.Errorf("%d syncs for a click by the old id", syncs.Load()-before)
	}
}

func TestStartOnLoginFollowsTheFile(t *testing.T) {
	e := newEnv(t, without{})
	// Not even its parent exists: mkdir -p makes both.
	e.opts.AutostartDir = filepath.Join(e.tmp, "config", "autostart")
	file := filepath.Join(e.opts.AutostartDir, autostart.TrayFile)
	e.start(t)
	e.waitMenu(t, has("  [ ] autostart Start on login"))
	if _, err := os.Stat(filepath.Join(e.tmp, "config")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the tray made a dir to watch it: %v", err)
	}

	// nspawn-tray autostart enable and disable, in a terminal.
	if err := autostart.Set(e.opts.AutostartDir, autostart.TrayFile, autostart.TrayEntry(e.opts.Self)); err != nil {
		t.Fatal(err)
	}
	e.waitMenu(t, has("  [x] autostart Start on login"))
	if err := autostart.Set(e.opts.AutostartDir, autostart.TrayFile, nil); err != nil {
		t.Fatal(err)
	}
	e.waitMenu(t, has("  [ ] autostart Start on login"))

	// The whole dir goes, and comes back with the entry.
	if err := os.RemoveAll(filepath.Join(e.tmp, "config")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(e.opts.AutostartDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, autostart.TrayEntry(e.opts.Self), 0o644); err != nil {
		t.Fatal(err)
	}
	e.waitMenu(t, has("  [x] autostart Start on login"))

	// Other files in the dir change nothing.
	if err := os.WriteFile(filepath.Join(e.opts.AutostartDir, "other.desktop"), []byte("[Desktop Entry]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.waitMenu(t, has("  [x] autostart Start on login"))

	// A click sets the opposite of what the file says as it comes, even
	// if the menu had no time to show it.
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	e.ui.clickItem(t, "autostart")
	if !autostart.Enabled(e.opts.AutostartDir, autostart.TrayFile) {
		t.Error("a click with the entry gone did not enable it")
	}
	e.waitMenu(t, has("  [x] autostart Start on login"))
	if err := autostart.Set(e.opts.AutostartDir, autostart.TrayFile, nil); err != nil {
		t.Fatal(err)
	}
	e.ui.clickItem(t, "autostart")
	if !autostart.Enabled(e.opts.AutostartDir, autostart.TrayFile) {
		t.Error("a click with the entry gone did not enable it")
	}
	e.waitMenu(t, has("  [x] autostart Start on login"))
	if n := e.notes.Sent(); len(n) != 0 {
		t.Errorf("notifications: %+v", n)
	}
}

// Without a watch (here: without the loop that sets it up), the menu
// shows the entry's state as of when the user opened it.
func TestStartOnLoginIsReadWhenTheMenuOpens(t *testing.T) {
	e := newEnv(t, without{})
	e.launch(t, func(ctx context.Context) error {
		tr, err := open(e.opts, e.ui)
		if err != nil {
			return err
		}
		defer tr.close()
		go func() {
			<-ctx.Done()
			tr.ui.quit()
		}()
		tr.ui.run(tr.render, tr.refreshAutostart, func() {})
		return nil
	})
	e.waitMenu(t, has("  [ ] autostart Start on login"))
	if err := autostart.Set(e.opts.AutostartDir, autostart.TrayFile, autostart.TrayEntry(e.opts.Self)); err != nil {
		t.Fatal(err)
	}
	e.ui.opened()
	if m := e.ui.menu(); has("  [x] autostart Start on login")(m) != "" {
		t.Errorf("after opening the menu:\n%s", m)
	}
	if err := autostart.Set(e.opts.AutostartDir, autostart.TrayFile, nil); err != nil {
		t.Fatal(err)
	}
	e.ui.opened()
	if m := e.ui.menu(); has("  [ ] autostart Start on login")(m) != "" {
		t.Errorf("after opening the menu again:\n%s", m)
	}
}

// metadataOf answers Metadata with the categories of each app.
func metadataOf(cats map[string][]string, mu *sync.Mutex) func(bustest.LauncherCall) (string, map[string]dbus.Variant, []launcher.Icon, *dbus.Error) {
	return func(c bustest.LauncherCall) (string, map[string]dbus.Variant, []launcher.Icon, *dbus.Error) {
		mu.Lock()
		defer mu.Unlock()
		list, ok := cats[c.Arg]
		if !ok {
			return "", nil, nil, busError(launcher.ErrNameUnknownApp, "unknown app "+c.Arg)
		}
		return c.Arg + ".desktop", launcher.EntryDict(desktopfiles.Entry{Name: c.Arg, Categories: list}), []launcher.Icon{}, nil
	}
}

// putApp puts a definition in apps.d at once (one inotify event), as a
// package manager or an editor's rename does.
func (e *env) putApp(t *testing.T, id, def string) {
	t.Helper()
	tmp := filepath.Join(e.tmp, id+".toml")
	if err := os.WriteFile(tmp, []byte(def), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(e.opts.AppsDir, id+".toml")); err != nil {
		t.Fatal(err)
	}
}

func TestManyAppsGoInCategorySubmenus(t *testing.T) {
	e := newEnv(t, without{})
	var mu sync.Mutex
	cats := map[string][]string{"xeyes": {"Utility"}}
	for i := range 11 {
		id := fmt.Sprintf("game%02d", i)
		e.writeApp(t, id, fmt.Sprintf("name = \"Game %02d\"\nimage = \"probe\"\nexec = [\"/bin/true\"]\n", i))
		cats[id] = []string{"GTK", "Game"}
	}
	e.launcher.OnMetadata(metadataOf(cats, &mu))
	e.start(t)
	// Twelve apps: at the top level, and no metadata asked for.
	e.waitMenu(t, has("  launch:xeyes XEyes", "  launch:game00 Game 00"))
	if m := e.calls("Metadata"); len(m) != 0 {
		t.Errorf("metadata asked for twelve apps: %+v", m)
	}

	// The thirteenth has no desktop metadata (the daemon does not know
	// it yet): it goes in Other.
	e.putApp(t, "late", "name = \"Late\"\nimage = \"probe\"\nexec = [\"/bin/true\"]\n")
	m := e.waitMenu(t, has("  Accessories", "    launch:xeyes XEyes", "  Games", "    launch:game00 Game 00", "    launch:game10 Game 10", "  Other", "    launch:late Late"))
	section := strings.SplitN(m, "----", 2)[0]
	if want := "- Apps\n  Accessories\n    launch:xeyes XEyes\n  Games\n"; !strings.HasPrefix(section, want) || !strings.HasSuffix(section, "  Other\n    launch:late Late\n") {
		t.Errorf("Apps section:\n%s", section)
	}
	asked := len(e.calls("Metadata"))
	if asked != 13 {
		t.Errorf("%d metadata calls for 13 apps", asked)
	}
	if b := e.calls("MetadataBatch"); len(b) != 1 || len(strings.Fields(b[0].Arg)) != 13 {
		t.Errorf("the 13 apps were asked for in %+v, want one MetadataBatch", b)
	}

	// Machines and clicks ask no more; what failed is asked again at the
	// next refresh.
	e.machined.Add(bustest.Machine{Name: "web"})
	e.waitMenu(t, has("    stop:web Stop"))
	e.ui.clickItem(t, "autostart")
	e.waitMenu(t, has("  [x] autostart Start on login"))
	eventually(t, func() string {
		if n := len(e.calls("Metadata")); n != asked+1 {
			return fmt.Sprintf("%d metadata calls after a refresh, want %d (late's again)", n, asked+1)
		}
		return ""
	})
	for _, c := range e.calls("Metadata")[asked:] {
		if c.Arg != "late" {
			t.Errorf("metadata asked again for %s", c.Arg)
		}
	}

	// apps.d changes: all are asked again.
	mu.Lock()
	cats["xeyes"] = []string{"Graphics"}
	cats["late"] = []string{"Office"}
	mu.Unlock()
	e.putApp(t, "later", "name = \"Later\"\nimage = \"probe\"\nexec = [\"/bin/true\"]\n")
	e.waitMenu(t, has("  Graphics", "    launch:xeyes XEyes", "  Office", "    launch:late Late", "  Other", "    launch:later Later"))
	e.waitMenu(t, lacks("Accessories"))

	// Back to twelve: the top level again.
	for _, id := range []string{"late", "later"} {
		if err := os.Remove(filepath.Join(e.opts.AppsDir, id+".toml")); err != nil {
			t.Fatal(err)
		}
	}
	e.waitMenu(t, has("  launch:xeyes XEyes", "  launch:game00 Game 00"))
	e.waitMenu(t, lacks("Games"))
}

func TestAppsThatCannotLaunchAreDisabledWithTheReason(t *testing.T) {
	e := newEnv(t, without{})
	const missing = `image "nosuchimage" of app "ghost" is missing`
	e.writeApp(t, "ghost", "name = \"Ghost\"\nimage = \"nosuchimage\"\nexec = [\"/bin/true\"]\n")
	e.writeApp(t, "broken", "name = \"Broken\"\nimage = \n")
	e.launcher.SetApps([]launcher.AppStatus{
		{ID: "xeyes", Name: "XEyes", Image: "probe"},
		{ID: "ghost", Name: "Ghost", Image: "nosuchimage", Problem: missing},
		// An invalid definition: the daemon says so in its words, which
		// the tooltip shows.
		{ID: "broken", Problem: "broken.toml: image: missing"},
		// Not an app id: nothing the menu could launch.
		{ID: "../x", Problem: "bad"},
	})
	e.start(t)
	e.waitMenu(t, has("- launch:broken broken (invalid definition)", "- launch:ghost Ghost (image \"nosuchimage\" of app \"gho…)", "  launch:xeyes XEyes"))
	if m := e.ui.menu(); strings.Contains(m, "../x") {
		t.Errorf("an invalid id in the menu:\n%s", m)
	}
	if tip := tips(e.ui.items()); !strings.Contains(tip, "launch:ghost: Cannot start Ghost: "+missing+"\n") ||
		!strings.Contains(tip, "launch:broken: Cannot start broken: broken.toml: image: missing\n") {
		t.Errorf("tooltips:\n%s", tip)
	}

	// The image is installed; Refresh tells the menu.
	e.launcher.SetApps(nil)
	e.ui.clickItem(t, "sync")
	// The broken definition is still refused, as the tray's own check of
	// it says even without the daemon's word.
	e.waitMenu(t, has("  launch:ghost Ghost", "  launch:xeyes XEyes", "- launch:broken broken (invalid definition)"))
}

func TestRefreshReportsWhatItDid(t *testing.T) {
	e := newEnv(t, without{})
	var syncs atomic.Int32
	e.opts.Sync = func(context.Context) (string, error) {
		return fmt.Sprintf("1 app, %d entry written", syncs.Add(1)), nil
	}
	e.start(t)
	eventually(t, func() string {
		if syncs.Load() == 0 {
			return "no startup sync"
		}
		return ""
	})
	// The syncs of their own accord say nothing.
	if n := e.notes.Sent(); len(n) != 0 {
		t.Errorf("notifications after the startup sync: %+v", n)
	}
	e.ui.clickItem(t, "sync")
	if n := e.waitNote(t, "Desktop entries refreshed"); n.Body != "1 app, 2 entry written" {
		t.Errorf("notification body %q", n.Body)
	}
}

// ours runs an instance of xeyes the daemon knows, xeyes-0001.
func (e *env) ours(t *testing.T) {
	t.Helper()
	e.launcher.SetInstances([]launcher.Instance{{Machine: "xeyes-0001", App: "xeyes", Since: launcher.Now()}})
	e.machined.Add(bustest.Machine{Name: "xeyes-0001", Unit: "nspawn-tray-test-no-such-unit-4f1c.service"})
}

func TestShowRecentLogOfOurInstanceAsksTheDaemon(t *testing.T) {
	e := newEnv(t, without{})
	e.ours(t)
	e.launcher.OnLogs(func(c bustest.LauncherCall, out *os.File) *dbus.Error {
		defer out.Close()
		for i := 1; i <= 10; i++ {
			fmt.Fprintf(out, "line %d\n", i)
		}
		return nil
	})
	e.start(t)
	e.waitMenu(t, has("    log:xeyes-0001 Show recent log"))
	e.ui.clickItem(t, "log:xeyes-0001")
	// Eight lines were asked for: eight are shown.
	if n := e.waitNote(t, "Log of xeyes-0001"); n.Body != "line 3\nline 4\nline 5\nline 6\nline 7\nline 8\nline 9\nline 10" {
		t.Errorf("body %q", n.Body)
	}
	calls := e.calls("Logs")
	if len(calls) != 1 {
		t.Fatalf("Logs calls %+v", calls)
	}
	if c := calls[0]; c.Arg != "xeyes-0001" || c.Session["lines"].Value() != int32(8) || c.Session["follow"].Value() != false {
		t.Errorf("Logs call %+v, want 8 lines of xeyes-0001, not followed", c)
	}
}

func TestShowRecentLogSaysWhyThereIsNone(t *testing.T) {
	for _, tc := range []struct {
		name string
		logs func(bustest.LauncherCall, *os.File) *dbus.Error
		// summary and what the body has.
		summary, body string
	}{
		{
			name: "refused",
			logs: func(c bustest.LauncherCall, out *os.File) *dbus.Error {
				out.Close()
				return busError(launcher.ErrNameAccessDenied, "not your instance")
			},
			summary: "No log for xeyes-0001", body: "not your instance",
		},
		{
			name: "failed",
			logs: func(c bustest.LauncherCall, out *os.File) *dbus.Error {
				out.Close()
				return busError(launcher.ErrNameFailed, "journal unreadable")
			},
			summary: "No log for xeyes-0001", body: "logs of xeyes-0001: journal unreadable",
		},
		{
			name:    "empty",
			logs:    func(c bustest.LauncherCall, out *os.File) *dbus.Error { out.Close(); return nil },
			summary: "Log of xeyes-0001", body: "No log lines yet.",
		},
		{
			// Kept open and silent: the tray does not wait forever.
			name:    "nothing comes",
			logs:    func(c bustest.LauncherCall, out *os.File) *dbus.Error { held(t, out); return nil },
			summary: "No log for xeyes-0001", body: "the daemon sent no log lines within",
		},
		{
			name: "lines, then nothing",
			logs: func(c bustest.LauncherCall, out *os.File) *dbus.Error {
				fmt.Fprintf(out, "one\ntwo\n")
				held(t, out)
				return nil
			},
			summary: "Log of xeyes-0001", body: "one\ntwo",
		},
		{
			// The app's output is anything: the notification gets text.
			name: "not text",
			logs: func(c bustest.LauncherCall, out *os.File) *dbus.Error {
				defer out.Close()
				out.Write([]byte("\x1b[31mred\x1b[0m\x00 \xff\xfe\tend\r\n"))
				return nil
			},
			summary: "Log of xeyes-0001", body: "[31mred[0m \ufffd\tend",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func(w time.Duration) { logWait = w }(logWait)
			logWait = 100 * time.Millisecond
			e := newEnv(t, without{})
			e.ours(t)
			e.launcher.OnLogs(tc.logs)
			e.start(t)
			e.waitMenu(t, has("    log:xeyes-0001 Show recent log"))
			e.ui.clickItem(t, "log:xeyes-0001")
			if n := e.waitNote(t, tc.summary); !strings.Contains(n.Body, tc.body) {
				t.Errorf("body %q, want %q in it", n.Body, tc.body)
			}
		})
	}
}

// held keeps f open until the test ends.
func held(t *testing.T, f *os.File) { t.Cleanup(func() { f.Close() }) }

func TestShowRecentLogReadsABoundedLog(t *testing.T) {
	e := newEnv(t, without{})
	e.ours(t)
	e.launcher.OnLogs(func(c bustest.LauncherCall, out *os.File) *dbus.Error {
		// More than the tray reads: the writes end when it stops reading.
		go func() {
			defer out.Close()
			line := strings.Repeat("é", 999) + "\n"
			for range 1000 {
				if _, err := out.WriteString(line); err != nil {
					return
				}
			}
		}()
		return nil
	})
	e.start(t)
	e.waitMenu(t, has("    log:xeyes-0001 Show recent log"))
	e.ui.clickItem(t, "log:xeyes-0001")
	n := e.waitNote(t, "Log of xeyes-0001")
	lines := strings.Split(n.Body, "\n")
	if len(lines) != logLines {
		t.Errorf("%d lines shown", len(lines))
	}
	for _, l := range lines {
		if r := utf8.RuneCountInString(l); r != maxLine || !strings.HasSuffix(l, "…") {
			t.Errorf("a line of %d runes: %q", r, l)
		}
	}
}

// Without the daemon there is no desktop metadata: many apps all go in
// Other, and the tray does not ask for each.
func TestManyAppsWithoutTheDaemonGoInOther(t *testing.T) {
	e := newEnv(t, without{launcher: true})
	for i := range 12 {
		e.writeApp(t, fmt.Sprintf("app%02d", i), fmt.Sprintf("name = \"App %02d\"\nimage = \"probe\"\nexec = [\"/bin/true\"]\n", i))
	}
	e.start(t)
	m := e.waitMenu(t, has("- Launcher not installed (no io.github.nspawn_tray.Launcher1)", "  Other", "  - launch:xeyes XEyes", "  - launch:app11 App 11"))
	if strings.Count(m, "\n  - launch:") != 13 {
		t.Errorf("not all apps in Other:\n%s", m)
	}
}

// Add app: the daemon's offers in a submenu; a click adds through the
// daemon (which asks for an administrator) and says so.
func TestAddAppFromTheMenu(t *testing.T) {
	e := newEnv(t, without{})
	e.launcher.SetOffers([]launcher.Offer{{Image: "debian", DesktopFile: "firefox-esr.desktop", ID: "firefox-esr", Name: "Firefox ESR"}})
	e.start(t)
	e.waitMenu(t, has("  Add app", "    debian", "      add:debian/firefox-esr.desktop Firefox ESR"))
	e.ui.clickItem(t, "add:debian/firefox-esr.desktop")
	if n := e.waitNote(t, "Added Firefox ESR"); n.Body != "It is in the menu now, as firefox-esr." {
		t.Errorf("notification body %q", n.Body)
	}
	var calls []string
	for _, c := range e.launcher.Calls() {
		if c.Method == "AddApp" {
			calls = append(calls, c.Arg)
			if !c.Interactive {
				t.Error("AddApp without ALLOW_INTERACTIVE_AUTHORIZATION: no password could be asked")
			}
		}
	}
	if !slices.Equal(calls, []string{"debian/firefox-esr.desktop"}) {
		t.Errorf("AddApp calls %q", calls)
	}

	e.launcher.OnAddApp(func(bustest.LauncherCall) (string, *dbus.Error) {
		return "", dbus.NewError(launcher.ErrNameAccessDenied, []any{"not authorized for " + launcher.ActionManageApps})
	})
	e.ui.clickItem(t, "add:debian/firefox-esr.desktop")
	if n := e.waitNote(t, "Could not add Firefox ESR"); !strings.Contains(n.Body, "not authorized") {
		t.Errorf("notification body %q", n.Body)
	}
}
