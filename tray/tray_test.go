package tray

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/autostart"
	"github.com/nspawn-tray/nspawn-tray/icons"
	"github.com/nspawn-tray/nspawn-tray/internal/bustest"
	"github.com/nspawn-tray/nspawn-tray/launcher"
	"github.com/nspawn-tray/nspawn-tray/paths"
)

func TestMenuListsAppsAndFollowsAppsDir(t *testing.T) {
	e := newEnv(t, without{})
	var syncs atomic.Int32
	e.opts.Sync = func(context.Context) (string, error) { syncs.Add(1); return "1 app", nil }
	e.start(t)
	m := e.waitMenu(t, has("  launch:xeyes XEyes"))
	if strings.Contains(m, "Launcher not installed") || strings.Contains(m, "Not authorized") || strings.Contains(m, "password") {
		t.Errorf("a running, authorized daemon shows a warning:\n%s", m)
	}
	eventually(t, func() string {
		if syncs.Load() < 1 {
			return "no desktop entry sync at startup"
		}
		return ""
	})
	before := syncs.Load()

	e.writeApp(t, "late", "name = \"Late Arrival\"\nimage = \"probe\"\nexec = [\"/bin/true\"]\n")
	e.waitMenu(t, has("  launch:late Late Arrival", "  launch:xeyes XEyes"))
	// The desktop entries follow apps.d too.
	eventually(t, func() string {
		if syncs.Load() <= before {
			return "no desktop entry sync after apps.d changed"
		}
		return ""
	})

	if err := os.Remove(filepath.Join(e.opts.AppsDir, "xeyes.toml")); err != nil {
		t.Fatal(err)
	}
	e.waitMenu(t, lacks("launch:xeyes"))
}

func TestMenuSaysWhenNoAppsAreDefined(t *testing.T) {
	e := newEnv(t, without{})
	e.opts.AppsDir = filepath.Join(e.tmp, "missing")
	e.start(t)
	e.waitMenu(t, has("- No apps defined ("+paths.AppsDir+")"))
	// Without the directory there is nothing to watch: the user is told
	// how to get changes in.
	e.waitLog(t, "WARN cannot watch "+e.opts.AppsDir+"; use Refresh after changing app definitions")
}

// A definition launch would refuse shows as such, not clickable, with the
// daemon's words in its tooltip. The first version left it out (or, when
// only the daemon refused it, listed it as fine).
func TestMenuShowsInvalidDefinitions(t *testing.T) {
	e := newEnv(t, without{})
	e.writeApp(t, "broken", "name = \"Broken\"\nimage = \n")
	e.writeApp(t, "loose", "name = \"Loose\"\nimage = \"img\"\nexec = [\"/bin/true\"]\n")
	if err := os.Chmod(filepath.Join(e.opts.AppsDir, "loose.toml"), 0o666); err != nil {
		t.Fatal(err)
	}
	e.start(t)
	m := e.waitMenu(t, has("  launch:xeyes XEyes", "- launch:broken broken (invalid definition)", "- launch:loose loose (invalid definition)"))
	if strings.Contains(m, "Broken") || strings.Contains(m, "Loose") {
		t.Errorf("an invalid definition's name is shown as if it were valid:\n%s", m)
	}
	it, _ := findID(e.ui.items(), "launch:loose")
	tip := it.Tooltip
	if !strings.HasPrefix(tip, `Cannot start loose: app "loose" has an invalid definition: `) || !strings.Contains(tip, "mode 0666 is group- or world-writable") {
		t.Errorf("tooltip %q", tip)
	}
}

func TestMenuFollowsMachinesAndIcon(t *testing.T) {
	e := newEnv(t, without{})
	e.start(t)
	e.waitMenu(t, has("- Nothing running"))
	if icon, tip := e.ui.state(); !bytes.Equal(icon, icons.TrayIdle()) || tip != "Container apps: nothing running" {
		t.Errorf("idle: tooltip %q, idle icon %v", tip, bytes.Equal(icon, icons.TrayIdle()))
	}

	// A machine started elsewhere: its age comes from machined.
	started := time.Now().Add(-2 * time.Hour)
	e.machined.Add(bustest.Machine{Name: "web", Unit: "machine-web.scope", Timestamp: uint64(started.UnixMicro())})
	m := e.waitMenu(t, has("  web (not nspawn-tray) — 2h 0m", "    stop:web Stop", "    log:web Show recent log"))
	if strings.Contains(m, ".host") || strings.Contains(m, "Nothing running") {
		t.Errorf("menu with one container:\n%s", m)
	}
	if icon, tip := e.ui.state(); !bytes.Equal(icon, icons.TrayRunning()) || tip != "Container apps: 1 running" {
		t.Errorf("running: tooltip %q, running icon %v", tip, bytes.Equal(icon, icons.TrayRunning()))
	}

	e.machined.Remove("web")
	e.waitMenu(t, has("- Nothing running"))
	if icon, tip := e.ui.state(); !bytes.Equal(icon, icons.TrayIdle()) || tip != "Container apps: nothing running" {
		t.Errorf("idle again: tooltip %q, idle icon %v", tip, bytes.Equal(icon, icons.TrayIdle()))
	}
}

func TestMenuNamesOurInstancesByTheirApp(t *testing.T) {
	e := newEnv(t, without{})
	e.start(t)
	since := launcher.Time(time.Now().Add(-5 * time.Minute).UnixMicro())
	// The daemon knows its instances before machined announces them.
	e.launcher.SetInstances([]launcher.Instance{
		{Machine: "xeyes-0001", App: "xeyes", Since: since},
		{Machine: "gone-0001", App: "gone", Since: since},
	})
	e.machined.Add(bustest.Machine{Name: "xeyes-0001"})
	e.machined.Add(bustest.Machine{Name: "gone-0001"})
	// An app whose definition went away shows its ID.
	e.waitMenu(t, has("  XEyes — 5m", "    stop:xeyes-0001 Stop", "  gone — 5m", "    stop:gone-0001 Stop"))
}

func TestClickOnAppLaunchesItInTheSession(t *testing.T) {
	e := newEnv(t, without{})
	e.start(t)
	e.waitMenu(t, has("  launch:xeyes XEyes"))
	e.ui.clickItem(t, "launch:xeyes")
	launches := e.calls("Launch")
	if len(launches) != 1 {
		t.Fatalf("Launch calls: %+v, want one", launches)
	}
	c := launches[0]
	if c.Arg != "xeyes" {
		t.Errorf("launched %q, want xeyes", c.Arg)
	}
	// The display, and the session bus address the daemon checks.
	if d, _ := c.Session["display"].Value().(string); d != ":7" || len(c.Session) != 2 || c.Session["session-bus"].Value() != os.Getenv("DBUS_SESSION_BUS_ADDRESS") {
		t.Errorf("session %v, want the display :7 and the session bus address", c.Session)
	}
	// polkit may ask for a password: the tray has no terminal.
	if !c.Interactive {
		t.Error("Launch without ALLOW_INTERACTIVE_AUTHORIZATION")
	}
	if n := e.notes.Sent(); len(n) != 0 {
		t.Errorf("notifications after a good launch: %+v", n)
	}
}

func TestFailedLaunchIsNotified(t *testing.T) {
	e := newEnv(t, without{})
	const msg = `image "nosuchimage" of app "xeyes" is missing`
	e.launcher.OnLaunch(func(bustest.LauncherCall) (string, int32, *dbus.Error) {
		return "", 0, busError(launcher.ErrNameImageMissing, msg)
	})
	e.start(t)
	e.waitMenu(t, has("  launch:xeyes XEyes"))
	e.ui.clickItem(t, "launch:xeyes")
	// The summary names the app as the menu does, the body is the
	// daemon's words.
	if n := e.waitNote(t, "Could not start XEyes"); n.Body != msg || n.App != "nspawn-tray" {
		t.Errorf("notification %+v, want body %q from nspawn-tray", n, msg)
	}
	e.waitLog(t, "WARN Could not start XEyes err="+msg)

	// A click under way while the definition goes names its ID.
	click := e.ui.clicker(t, "launch:xeyes")
	if err := os.Remove(filepath.Join(e.opts.AppsDir, "xeyes.toml")); err != nil {
		t.Fatal(err)
	}
	e.waitMenu(t, lacks("launch:xeyes"))
	click()
	e.waitNote(t, "Could not start xeyes")
}

func TestFailureWithoutNotificationDaemonIsLogged(t *testing.T) {
	e := newEnv(t, without{notifications: true})
	e.opts.Sync = func(context.Context) (string, error) { return "", errors.New("disk full") }
	e.machined.Add(bustest.Machine{Name: "web", Unit: "machine-web.scope"})
	e.start(t)
	e.waitLog(t, "WARN Could not refresh the desktop entries err=disk full")
	e.waitLog(t, "WARN cannot show a notification")
	before := e.log.count("cannot show a notification")
	e.waitMenu(t, has("    log:web Show recent log"))
	e.ui.clickItem(t, "log:web")
	if n := e.log.count("cannot show a notification"); n != before+1 {
		t.Errorf("%d more notification failures logged for the log, want 1", n-before)
	}
}

func TestLaunchFromARemoteDisplayIsRefusedWithANotification(t *testing.T) {
	e := newEnv(t, without{})
	t.Setenv("DISPLAY", "otherhost:0")
	e.start(t)
	e.waitMenu(t, has("  launch:xeyes XEyes"))
	e.ui.clickItem(t, "launch:xeyes")
	if n := e.waitNote(t, "Could not start XEyes"); !strings.Contains(n.Body, "DISPLAY=otherhost:0 is not a local display") {
		t.Errorf("notification body %q", n.Body)
	}
	if l := e.calls("Launch"); len(l) != 0 {
		t.Errorf("Launch called without a usable session: %+v", l)
	}
}

func TestStopOfOurInstanceAsksTheDaemon(t *testing.T) {
	e := newEnv(t, without{})
	e.launcher.SetInstances([]launcher.Instance{{Machine: "xeyes-0001", App: "xeyes", Since: launcher.Now()}})
	e.machined.Add(bustest.Machine{Name: "xeyes-0001"})
	e.start(t)
	e.waitMenu(t, has("    stop:xeyes-0001 Stop"))
	e.ui.clickItem(t, "stop:xeyes-0001")
	stops := e.calls("Stop")
	if len(stops) != 1 || stops[0].Arg != "xeyes-0001" || !stops[0].Interactive {
		t.Errorf("Stop calls %+v, want one interactive for xeyes-0001", stops)
	}
	if term := e.machined.Terminated(); len(term) != 0 {
		t.Errorf("machined asked to terminate our own instance: %+v", term)
	}
	if n := e.notes.Sent(); len(n) != 0 {
		t.Errorf("notifications after a good stop: %+v", n)
	}
}

func TestStopOfAForeignMachineFallsBackToMachined(t *testing.T) {
	e := newEnv(t, without{})
	e.launcher.OnStop(func(c bustest.LauncherCall) *dbus.Error {
		return busError(launcher.ErrNameNoSuchInstance, "no instance "+c.Arg)
	})
	e.machined.Add(bustest.Machine{Name: "web"})
	e.start(t)
	e.waitMenu(t, has("    stop:web Stop"))
	e.ui.clickItem(t, "stop:web")
	term := e.machined.Terminated()
	if len(term) != 1 || term[0].Name != "web" {
		t.Fatalf("TerminateMachine calls %+v, want one for web", term)
	}
	// machined asks polkit for an unprivileged caller: let it prompt.
	if !term[0].Interactive {
		t.Error("TerminateMachine without ALLOW_INTERACTIVE_AUTHORIZATION")
	}
	e.waitMenu(t, has("- Nothing running"))
	if n := e.notes.Sent(); len(n) != 0 {
		t.Errorf("notifications after a good stop: %+v", n)
	}
}

func TestFailedStopIsNotified(t *testing.T) {
	t.Run("machined refuses", func(t *testing.T) {
		e := newEnv(t, without{})
		e.launcher.OnStop(func(c bustest.LauncherCall) *dbus.Error {
			return busError(launcher.ErrNameNoSuchInstance, "no instance "+c.Arg)
		})
		e.machined.FailTerminate(busError("org.freedesktop.DBus.Error.AccessDenied", "Access denied"))
		e.machined.Add(bustest.Machine{Name: "web"})
		e.start(t)
		e.waitMenu(t, has("    stop:web Stop"))
		e.ui.clickItem(t, "stop:web")
		if n := e.waitNote(t, "Could not stop web"); !strings.Contains(n.Body, "Access denied") {
			t.Errorf("notification body %q, want machined's refusal", n.Body)
		}
		e.waitMenu(t, hasPrefix("  web (not nspawn-tray) — "))
	})
	t.Run("the daemon fails", func(t *testing.T) {
		e := newEnv(t, without{})
		e.launcher.SetInstances([]launcher.Instance{{Machine: "xeyes-0001", App: "xeyes", Since: launcher.Now()}})
		e.launcher.OnStop(func(bustest.LauncherCall) *dbus.Error {
			return busError(launcher.ErrNameFailed, "systemd said no")
		})
		e.machined.Add(bustest.Machine{Name: "xeyes-0001"})
		e.start(t)
		e.waitMenu(t, has("    stop:xeyes-0001 Stop"))
		e.ui.clickItem(t, "stop:xeyes-0001")
		if n := e.waitNote(t, "Could not stop xeyes-0001"); n.Body != "stop xeyes-0001: systemd said no" {
			t.Errorf("notification body %q", n.Body)
		}
		// Only "not ours" falls back to machined.
		if term := e.machined.Terminated(); len(term) != 0 {
			t.Errorf("machined asked after the daemon failed: %+v", term)
		}
	})
}

func TestShowRecentLogNotifiesTheMachinesLog(t *testing.T) {
	e := newEnv(t, without{})
	// A unit no journal has lines of, so the answer does not depend on
	// the machine running the test.
	unit := "nspawn-tray-test-no-such-unit-4f1c.service"
	e.machined.Add(bustest.Machine{Name: "web", Unit: unit})
	e.start(t)
	e.waitMenu(t, has("    log:web Show recent log"))
	e.ui.clickItem(t, "log:web")
	want := "No log lines readable here. As a member of group systemd-journal or adm: journalctl -u " + unit
	if n := e.waitNote(t, "Log of web"); n.Body != want {
		t.Errorf("log notification body %q, want %q", n.Body, want)
	}

	// The machine may end between drawing the menu and the click.
	click := e.ui.clicker(t, "log:web")
	e.machined.Remove("web")
	e.waitMenu(t, has("- Nothing running"))
	click()
	if n := e.waitNote(t, "No log for web"); !strings.Contains(n.Body, "No machine 'web' known") {
		t.Errorf("notification body %q, want machined's answer", n.Body)
	}
}

func TestDaemonMissingDisablesApps(t *testing.T) {
	e := newEnv(t, without{launcher: true})
	e.start(t)
	e.waitMenu(t, has("- Launcher not installed (no io.github.nspawn_tray.Launcher1)", "- launch:xeyes XEyes"))
}

// The daemon is bus-activated when installed, but one started by hand (or
// kept running across a package removal) is on the bus without being
// activatable: the tray must not call it missing while Launch would work.
func TestRunningDaemonIsNotMissing(t *testing.T) {
	e := newEnv(t, without{})
	e.start(t)
	m := e.waitMenu(t, has("  launch:xeyes XEyes"))
	if strings.Contains(m, "Launcher not installed") {
		t.Errorf("the daemon owns %s, yet the menu says:\n%s", launcher.BusName, m)
	}
}

func TestMenuShowsAuthorization(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer *bustest.PolkitAnswer // nil: no polkit on the bus
		want   []string
	}{
		{"not authorized", &bustest.PolkitAnswer{}, []string{"- Not authorized to launch: ask to join group nspawn-tray", "- launch:xeyes XEyes"}},
		{"challenge", &bustest.PolkitAnswer{Challenge: true}, []string{"- Launching asks for an administrator's password", "  launch:xeyes XEyes"}},
		// Launch itself will tell; the menu stays usable.
		{"no polkit", nil, []string{"- Apps", "  launch:xeyes XEyes", "----"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, without{polkit: tc.answer == nil})
			if tc.answer != nil {
				e.polkit.Answer(launcher.ActionLaunch, *tc.answer)
			}
			e.start(t)
			m := e.waitMenu(t, has(tc.want...))
			if tc.answer == nil {
				e.waitLog(t, "WARN cannot ask polkit")
				if lines := strings.Split(m, "\n"); len(lines) < 2 || lines[1] != "  launch:xeyes XEyes" {
					t.Errorf("without polkit, a line under Apps:\n%s", m)
				}
				return
			}
			// polkit is asked about the tray itself, without a prompt (at
			// once with the Machines section's questions: in any order).
			calls := e.polkit.Calls()
			i := slices.IndexFunc(calls, func(c bustest.PolkitCall) bool { return c.Action == launcher.ActionLaunch })
			if i < 0 {
				t.Fatalf("polkit was not asked about %s: %+v", launcher.ActionLaunch, calls)
			}
			c := calls[i]
			if c.SubjectKind != "system-bus-name" || c.Subject != e.trayName(t) || c.Interactive {
				t.Errorf("polkit check %+v, want %s for the tray's own name %s, not interactive", c, launcher.ActionLaunch, e.trayName(t))
			}
		})
	}
}

func TestMachinedMissingKeepsTheMenu(t *testing.T) {
	e := newEnv(t, without{machined: true})
	e.start(t)
	e.waitMenu(t, has("  launch:xeyes XEyes", "- Nothing running", "  quit Quit"))
	e.waitLog(t, "WARN cannot list machines")
}

func TestStartOnLoginTogglesTheAutostartEntry(t *testing.T) {
	e := newEnv(t, without{})
	e.start(t)
	file := filepath.Join(e.opts.AutostartDir, autostart.TrayFile)
	e.waitMenu(t, has("  [ ] autostart Start on login"))

	e.ui.clickItem(t, "autostart")
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("no autostart entry after enabling: %v", err)
	}
	if want := autostart.TrayEntry(e.opts.Self); !bytes.Equal(got, want) {
		t.Errorf("autostart entry:\n%s\nwant:\n%s", got, want)
	}
	e.waitMenu(t, has("  [x] autostart Start on login"))

	e.ui.clickItem(t, "autostart")
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("autostart entry after disabling: %v", err)
	}
	e.waitMenu(t, has("  [ ] autostart Start on login"))
	if n := e.notes.Sent(); len(n) != 0 {
		t.Errorf("notifications: %+v", n)
	}
}

func TestStartOnLoginLeavesAForeignEntryAlone(t *testing.T) {
	e := newEnv(t, without{})
	file := filepath.Join(e.opts.AutostartDir, autostart.TrayFile)
	mine := []byte("[Desktop Entry]\nType=Application\nName=my own tray\nExec=/usr/bin/nspawn-tray tray --my-flags\n")
	if err := os.MkdirAll(e.opts.AutostartDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, mine, 0o644); err != nil {
		t.Fatal(err)
	}
	e.start(t)
	e.waitMenu(t, has("  [ ] autostart Start on login"))
	e.ui.clickItem(t, "autostart")
	if n := e.waitNote(t, "Could not change Start on login"); !strings.Contains(n.Body, "is not nspawn-tray's") {
		t.Errorf("notification body %q", n.Body)
	}
	if got, _ := os.ReadFile(file); !bytes.Equal(got, mine) {
		t.Errorf("the user's own entry changed:\n%s", got)
	}
}

func TestRefreshRunsOneSyncAtATime(t *testing.T) {
	e := newEnv(t, without{})
	var mu sync.Mutex
	var calls, active, most int
	release := make(chan struct{})
	entered := make(chan struct{}, 10)
	e.opts.Sync = func(ctx context.Context) (string, error) {
		mu.Lock()
		calls++
		active++
		most = max(most, active)
		mu.Unlock()
		entered <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
		mu.Lock()
		active--
		mu.Unlock()
		return "", nil
	}
	e.start(t)
	// The startup sync holds on; a click comes in meanwhile.
	<-entered
	e.waitMenu(t, has("  sync Refresh desktop entries"))
	click := e.ui.clicker(t, "sync")
	clicked := make(chan struct{})
	go func() {
		defer close(clicked)
		click()
	}()
	// Nothing tells when the click's sync has reached the lock: give it
	// a moment to start alongside, which it must not.
	select {
	case <-entered:
		t.Error("the sync of the click ran alongside the startup sync")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	<-clicked
	mu.Lock()
	defer mu.Unlock()
	if calls != 2 || most != 1 {
		t.Errorf("%d syncs, at most %d at once; want 2, one at a time", calls, most)
	}
}

func TestFailedRefreshIsNotified(t *testing.T) {
	e := newEnv(t, without{})
	var calls atomic.Int32
	e.opts.Sync = func(context.Context) (string, error) {
		if calls.Add(1) == 1 {
			return "", nil
		}
		return "", errors.New("cannot write ~/.local/share/applications")
	}
	e.start(t)
	eventually(t, func() string {
		if calls.Load() == 0 {
			return "no startup sync"
		}
		return ""
	})
	e.ui.clickItem(t, "sync")
	if n := e.waitNote(t, "Could not refresh the desktop entries"); n.Body != "cannot write ~/.local/share/applications" {
		t.Errorf("notification body %q", n.Body)
	}
}

func TestQuitEndsRun(t *testing.T) {
	e := newEnv(t, without{})
	e.start(t)
	e.ui.clickItem(t, "quit")
	if err := e.waitEnd(t); err != nil {
		t.Errorf("Run after Quit: %v", err)
	}
}

func TestContextEndsRun(t *testing.T) {
	e := newEnv(t, without{})
	e.start(t)
	e.cancel()
	if err := e.waitEnd(t); err != nil {
		t.Errorf("Run after its context ended: %v", err)
	}
}

// The item registers while the connections are made (run, which Run
// calls with fyne.io/systray; that runs once per process, so here with the
// fake): one that cannot be made ends the tray with why.
func TestRunFailsWithoutBuses(t *testing.T) {
	nowhere := "unix:path=" + filepath.Join(t.TempDir(), "no-bus")
	run := func(t *testing.T) error {
		ui := newFakeShell()
		err := run(context.Background(), Options{Log: discard()}, ui)
		select {
		case <-ui.quitCh:
		default:
			t.Error("the menu was not quit")
		}
		return err
	}
	t.Run("system", func(t *testing.T) {
		t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", nowhere)
		if err := run(t); err == nil || !strings.HasPrefix(err.Error(), "tray: system bus:") {
			t.Errorf("run = %v, want a system bus error", err)
		}
	})
	t.Run("session", func(t *testing.T) {
		bustest.New(t).AsSystemBus(t)
		t.Setenv("DBUS_SESSION_BUS_ADDRESS", nowhere)
		if err := run(t); err == nil || !strings.HasPrefix(err.Error(), "tray: session bus:") {
			t.Errorf("run = %v, want a session bus error", err)
		}
	})
}

func TestMissingStatusNotifierHostIsLogged(t *testing.T) {
	e := newEnv(t, without{})
	e.start(t)
	e.waitLog(t, "WARN no StatusNotifierItem host on the session bus (org.kde.StatusNotifierWatcher)")
}

// godbus closes a connection's signal channels when it drops, and with
// them machined's change channel: the loop must not take a closed channel
// for an endless stream of changes.
func TestLostSystemBusDoesNotSpinTheLoop(t *testing.T) {
	e := newEnv(t, without{})
	trays := make(chan *Tray, 1)
	e.startWith(t, func(ctx context.Context) error {
		tr, err := open(e.opts, e.ui)
		if err != nil {
			return err
		}
		defer tr.close()
		trays <- tr
		tr.run(ctx)
		return nil
	})
	e.waitMenu(t, has("  launch:xeyes XEyes"))
	(<-trays).sys.Close()
	e.waitLog(t, "machined's changes ended")
	// A click still refreshes, once: each refresh fails to list the
	// machines.
	before := e.log.count("cannot list machines")
	e.ui.clickItem(t, "autostart")
	e.waitMenu(t, has("  [x] autostart Start on login"))
	if n := e.log.count("cannot list machines") - before; n > 2 {
		t.Errorf("%d refreshes for one click after the system bus went", n)
	}
}

func discard() *slog.Logger { return slog.New(&logRecorder{}) }

// inotifyFDs counts this process's inotify descriptors.
func inotifyFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if l, _ := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); l == "anon_inode:inotify" {
			n++
		}
	}
	return n
}

// Each watch is an inotify instance, of which a user has few (128 by
// default, fs.inotify.max_user_instances): the watch must end with Run,
// not at the next change in apps.d.
func TestRunReleasesTheAppsDirWatch(t *testing.T) {
	before := inotifyFDs(t)
	e := newEnv(t, without{})
	e.start(t)
	if n := inotifyFDs(t); n != before+1 {
		t.Errorf("%d inotify descriptors while the tray runs, want %d", n, before+1)
	}
	e.cancel()
	if err := e.waitEnd(t); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() string {
		if n := inotifyFDs(t); n != before {
			return fmt.Sprintf("%d inotify descriptors after Run, want %d", n, before)
		}
		return ""
	})
}

// An idle tray does not wake up: the ages of running machines are
// relabelled on a timer, which runs only while something runs.
func TestNoTimerWhileNothingRuns(t *testing.T) {
	e := newEnv(t, without{})
	var ticks atomic.Int32
	e.opts.agesEvery = 10 * time.Millisecond
	e.opts.onAges = func() { ticks.Add(1) }
	e.start(t)
	e.waitMenu(t, has("- Nothing running"))
	time.Sleep(100 * time.Millisecond)
	if n := ticks.Load(); n != 0 {
		t.Fatalf("%d relabelling wakeups with nothing running, want none", n)
	}
	e.machined.Add(bustest.Machine{Name: "web", Unit: "machine-web.scope", Timestamp: uint64(time.Now().Add(-2 * time.Hour).UnixMicro())})
	e.waitMenu(t, has("  web (not nspawn-tray) — 2h 0m"))
	eventually(t, func() string {
		if ticks.Load() < 2 {
			return "no relabelling while a machine runs"
		}
		return ""
	})
	e.machined.Remove("web")
	e.waitMenu(t, has("- Nothing running"))
	time.Sleep(30 * time.Millisecond) // a tick already due may still come
	before := ticks.Load()
	time.Sleep(100 * time.Millisecond)
	if n := ticks.Load() - before; n != 0 {
		t.Errorf("%d relabelling wakeups after the machine went, want none", n)
	}
}
