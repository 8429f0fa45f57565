package tray

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/internal/bustest"
	"github.com/nspawn-tray/nspawn-tray/launcher"
	"github.com/nspawn-tray/nspawn-tray/machines"
)

// within bounds every wait for the tray; the waits end as soon as the
// tray got there.
const within = 5 * time.Second

// eventually polls check until it returns "" and fails the test with its
// last answer at the deadline.
func eventually(t *testing.T, check func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", within, msg)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// fakeShell stands in for fyne.io/systray, which is process-global: it
// keeps the entries the tray drew as systray does (numbered from one
// counter, appended at the end of their parent, hidden or removed) and
// clicks like a panel does.
type fakeShell struct {
	mu      sync.Mutex
	lastID  int
	top     []*fakeEntry
	byID    map[int]*fakeEntry // the entries not removed
	adds    int
	sets    int
	title   string
	icon    []byte
	tooltip string
	icons   int
	open    func()

	quitOnce sync.Once
	quitCh   chan struct{}
}

// fakeEntry is one entry of the fake's menu.
type fakeEntry struct {
	s      *fakeShell
	id     int
	item   Item // as last set, without children
	hidden bool
	click  func()
	parent *fakeEntry
	kids   []*fakeEntry
}

func newFakeShell() *fakeShell {
	return &fakeShell{quitCh: make(chan struct{}), byID: map[int]*fakeEntry{}}
}

func (f *fakeShell) run(onReady, onOpen, onExit func()) {
	f.mu.Lock()
	f.open = onOpen
	f.mu.Unlock()
	go onReady()
	<-f.quitCh
	onExit()
}

func (f *fakeShell) quit() { f.quitOnce.Do(func() { close(f.quitCh) }) }

func (f *fakeShell) setTitle(title string) {
	f.mu.Lock()
	f.title = title
	f.mu.Unlock()
}

func (f *fakeShell) setIcon(icon []byte, tooltip string) {
	f.mu.Lock()
	f.icon, f.tooltip = icon, tooltip
	f.icons++
	f.mu.Unlock()
}

func (f *fakeShell) add(parent menuItem, it Item, click func()) menuItem {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(it.Children) > 0 {
		panic("fakeShell.add: an item with children")
	}
	f.lastID++
	f.adds++
	e := &fakeEntry{s: f, id: f.lastID, item: it, click: click}
	if parent == nil {
		f.top = append(f.top, e)
	} else {
		p := parent.(*fakeEntry)
		if f.byID[p.id] != p {
			panic(fmt.Sprintf("fakeShell.add: parent %d was removed", p.id))
		}
		e.parent = p
		p.kids = append(p.kids, e)
	}
	f.byID[e.id] = e
	return e
}

func (e *fakeEntry) set(it Item) {
	e.s.mu.Lock()
	defer e.s.mu.Unlock()
	if it.Separator != e.item.Separator || it.Checkbox != e.item.Checkbox || it.ID != e.item.ID {
		panic(fmt.Sprintf("fakeShell: entry %d %+v set to another kind: %+v", e.id, e.item, it))
	}
	e.item = it
	e.s.sets++
}

func (e *fakeEntry) hide() {
	e.s.mu.Lock()
	e.hidden = true
	e.s.mu.Unlock()
}

// remove is systray's: the entry and its children go; again is harmless.
func (e *fakeEntry) remove() {
	e.s.mu.Lock()
	defer e.s.mu.Unlock()
	var forget func(*fakeEntry)
	forget = func(e *fakeEntry) {
		delete(e.s.byID, e.id)
		for _, k := range e.kids {
			forget(k)
		}
	}
	forget(e)
	if e.parent == nil {
		e.s.top = slices.DeleteFunc(e.s.top, func(x *fakeEntry) bool { return x == e })
	} else {
		e.parent.kids = slices.DeleteFunc(e.parent.kids, func(x *fakeEntry) bool { return x == e })
	}
}

// shown is the menu as a panel shows it: the entries not hidden.
func shown(es []*fakeEntry) []Item {
	var out []Item
	for _, e := range es {
		if e.hidden {
			continue
		}
		it := e.item
		it.Children = shown(e.kids)
		out = append(out, it)
	}
	return out
}

// items is the menu as a panel shows it.
func (f *fakeShell) items() []Item {
	f.mu.Lock()
	defer f.mu.Unlock()
	return shown(f.top)
}

// menu is the current menu in model_test.go's text form.
func (f *fakeShell) menu() string { return render(f.items()) }

func (f *fakeShell) state() (icon []byte, tooltip string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.icon, f.tooltip
}

// entries counts the entries in the menu, hidden ones too.
func (f *fakeShell) entries() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.byID)
}

func findID(items []Item, id string) (Item, bool) {
	for _, it := range items {
		if it.ID == id {
			return it, true
		}
		if c, ok := findID(it.Children, id); ok {
			return c, true
		}
	}
	return Item{}, false
}

// shownEntry is what the panel knows of an entry shown.
type shownEntry struct {
	id    int
	item  Item
	click func()
}

// entryOf is the shown entry of the item with action id.
func (f *fakeShell) entryOf(id string) (shownEntry, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var find func([]*fakeEntry) *fakeEntry
	find = func(es []*fakeEntry) *fakeEntry {
		for _, e := range es {
			if e.hidden {
				continue
			}
			if e.item.ID == id {
				return e
			}
			if c := find(e.kids); c != nil {
				return c
			}
		}
		return nil
	}
	if e := find(f.top); e != nil {
		return shownEntry{e.id, e.item, e.click}, true
	}
	return shownEntry{}, false
}

// mustEntry is the shown entry of the item with action id.
func (f *fakeShell) mustEntry(t *testing.T, id string) shownEntry {
	t.Helper()
	e, ok := f.entryOf(id)
	if !ok {
		t.Fatalf("no item %q in the menu:\n%s", id, f.menu())
	}
	return e
}

// idOf is the dbusmenu id of the shown item with action id.
func (f *fakeShell) idOf(t *testing.T, id string) int {
	t.Helper()
	return f.mustEntry(t, id).id
}

// clickItem clicks the item with id in the current menu, as a panel would:
// only an enabled item that is shown can be clicked. The action has run
// when it returns.
func (f *fakeShell) clickItem(t *testing.T, id string) {
	t.Helper()
	e := f.mustEntry(t, id)
	if e.item.Disabled {
		t.Fatalf("item %q is disabled:\n%s", id, f.menu())
	}
	e.click()
}

// clickID sends a click on the entry numbered id, as a panel that still
// shows an older menu does, and reports whether it reached an action (the
// action has run then); systray drops clicks on entries it removed.
func (f *fakeShell) clickID(id int) bool {
	f.mu.Lock()
	e := f.byID[id]
	f.mu.Unlock()
	if e == nil || e.click == nil {
		return false
	}
	e.click()
	return true
}

// clicker is what a click on the shown item with id runs, for a click
// that is under way while the menu changes.
func (f *fakeShell) clicker(t *testing.T, id string) func() {
	t.Helper()
	return f.mustEntry(t, id).click
}

// opened tells the tray the user opened the menu, as systray does; the
// tray has acted on it when it returns.
func (f *fakeShell) opened() {
	f.mu.Lock()
	open := f.open
	f.mu.Unlock()
	open()
}

// logRecorder keeps the tray's log lines as "LEVEL message key=value...".
type logRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }

func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	line := r.Level.String() + " " + r.Message
	r.Attrs(func(a slog.Attr) bool {
		line += " " + a.Key + "=" + a.Value.String()
		return true
	})
	l.mu.Lock()
	l.lines = append(l.lines, line)
	l.mu.Unlock()
	return nil
}

func (l *logRecorder) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.lines)
}

// count is the number of lines containing s.
func (l *logRecorder) count(s string) int {
	n := 0
	for _, line := range l.all() {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

// without leaves a fake service off the test's system bus.
type without struct{ launcher, machined, polkit, notifications, systemd bool }

// env is a tray on private system and session buses with fake services.
type env struct {
	opts     Options
	sys      *bustest.Bus
	sess     *bustest.Bus
	launcher *bustest.Launcher      // nil when left off
	machined *bustest.Machined      // nil when left off
	systemd  *bustest.Systemd       // nil when left off
	polkit   *bustest.Polkit        // nil when left off
	notes    *bustest.Notifications // nil when left off
	log      *logRecorder
	ui       *fakeShell
	tmp      string

	cancel context.CancelFunc
	// ended is closed when run returned err.
	ended chan struct{}
	err   error
}

// xeyes is a valid definition; the tests' apps.d starts with it.
const xeyes = `name = "XEyes"
image = "probe"
exec = ["/usr/bin/xeyes"]
`

// newEnv sets up the buses, the fakes (polkit authorizes launching) and
// the tray's Options: apps.d with xeyes.toml, an empty autostart dir, the
// session of DISPLAY=:7. start runs the tray.
func newEnv(t *testing.T, w without) *env {
	t.Helper()
	e := &env{sys: bustest.New(t), sess: bustest.New(t), log: &logRecorder{}, ui: newFakeShell(), tmp: t.TempDir()}
	e.sys.AsSystemBus(t)
	e.sess.AsSessionBus(t)
	if !w.launcher {
		e.launcher = bustest.NewLauncher(t, e.sys.Conn(t))
	}
	if !w.machined {
		e.machined = bustest.NewMachined(t, e.sys.Conn(t))
	}
	if !w.systemd {
		e.systemd = bustest.NewSystemd(t, e.sys.Conn(t))
	}
	if !w.polkit {
		e.polkit = bustest.NewPolkit(t, e.sys.Conn(t))
		e.polkit.Answer(launcher.ActionLaunch, bustest.PolkitAnswer{Authorized: true})
	}
	if !w.notifications {
		e.notes = bustest.NewNotifications(t, e.sess.Conn(t))
	}
	// The session comes from the environment: a local display, no
	// cookie file, no Wayland.
	t.Setenv("DISPLAY", ":7")
	t.Setenv("XAUTHORITY", filepath.Join(e.tmp, "no-xauthority"))
	t.Setenv("WAYLAND_DISPLAY", "")
	e.opts = Options{
		AppsDir:      filepath.Join(e.tmp, "apps.d"),
		AutostartDir: filepath.Join(e.tmp, "autostart"),
		Self:         "/usr/bin/nspawn-tray",
		Log:          slog.New(e.log),
		adjustBoot: func(m *machines.Manager) {
			m.SettingsDirs = []string{filepath.Join(e.tmp, "nspawn")}
			m.Journal = func(context.Context, string, int) ([]string, error) {
				return []string{"Mar 14 12:00:00 host systemd-nspawn[1]: tiny: up"}, nil
			}
		},
	}
	if err := os.Mkdir(e.opts.AppsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	e.writeApp(t, "xeyes", xeyes)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the tray's log:\n%s", strings.Join(e.log.all(), "\n"))
		}
	})
	return e
}

func (e *env) writeApp(t *testing.T, id, def string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(e.opts.AppsDir, id+".toml"), []byte(def), 0o644); err != nil {
		t.Fatal(err)
	}
}

// start runs the tray until the test ends, and waits for its first full
// menu (the one after the first refresh, with the Apps section filled in).
func (e *env) start(t *testing.T) {
	t.Helper()
	e.startWith(t, func(ctx context.Context) error { return run(ctx, e.opts, e.ui) })
}

func (e *env) startWith(t *testing.T, run func(context.Context) error) {
	t.Helper()
	e.launch(t, run)
	// The menu drawn before the first refresh lists no apps: with apps
	// defined, the first refresh is the first menu with one.
	want := "No apps defined"
	if defs, _ := filepath.Glob(filepath.Join(e.opts.AppsDir, "*.toml")); len(defs) > 0 {
		want = "launch:"
	}
	// A menu redrawn ends with its footer.
	e.waitMenu(t, func(m string) string {
		if strings.Contains(m, want) && strings.HasSuffix(m, "  quit Quit\n") {
			return ""
		}
		return "no first refresh yet"
	})
}

// launch runs run until the test ends.
func (e *env) launch(t *testing.T, run func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.ended = cancel, make(chan struct{})
	go func() {
		e.err = run(ctx)
		close(e.ended)
	}()
	t.Cleanup(func() {
		cancel()
		e.waitEnd(t)
	})
}

// waitEnd waits for run to return and returns its error.
func (e *env) waitEnd(t *testing.T) error {
	t.Helper()
	select {
	case <-e.ended:
		return e.err
	case <-time.After(within):
		t.Fatalf("the tray did not end within %v", within)
		return nil
	}
}

// waitMenu waits until check passes on the menu and returns the menu.
func (e *env) waitMenu(t *testing.T, check func(menu string) string) string {
	t.Helper()
	var m string
	eventually(t, func() string {
		m = e.ui.menu()
		if msg := check(m); msg != "" {
			return msg + "; menu:\n" + m
		}
		return ""
	})
	return m
}

// has checks that the menu holds every line.
func has(lines ...string) func(string) string {
	return func(m string) string {
		for _, l := range lines {
			if !slices.Contains(strings.Split(m, "\n"), l) {
				return fmt.Sprintf("no line %q", l)
			}
		}
		return ""
	}
}

// hasPrefix checks that a menu line starts with prefix.
func hasPrefix(prefix string) func(string) string {
	return func(m string) string {
		for _, l := range strings.Split(m, "\n") {
			if strings.HasPrefix(l, prefix) {
				return ""
			}
		}
		return fmt.Sprintf("no line starting with %q", prefix)
	}
}

// lacks checks that no menu line contains s.
func lacks(s string) func(string) string {
	return func(m string) string {
		if strings.Contains(m, s) {
			return fmt.Sprintf("%q still there", s)
		}
		return ""
	}
}

// waitLog waits for a log line containing s and returns it.
func (e *env) waitLog(t *testing.T, s string) string {
	t.Helper()
	var found string
	eventually(t, func() string {
		for _, l := range e.log.all() {
			if strings.Contains(l, s) {
				found = l
				return ""
			}
		}
		return fmt.Sprintf("no log line with %q", s)
	})
	return found
}

// waitNote waits for a notification with summary and returns it.
func (e *env) waitNote(t *testing.T, summary string) bustest.Notification {
	t.Helper()
	var found bustest.Notification
	eventually(t, func() string {
		for _, n := range e.notes.Sent() {
			if n.Summary == summary {
				found = n
				return ""
			}
		}
		return fmt.Sprintf("no notification %q among %+v", summary, e.notes.Sent())
	})
	return found
}

// calls are the fake daemon's calls of method.
func (e *env) calls(method string) []bustest.LauncherCall {
	var out []bustest.LauncherCall
	for _, c := range e.launcher.Calls() {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// trayName is the tray's unique name on the system bus: the sender of its
// first List.
func (e *env) trayName(t *testing.T) string {
	t.Helper()
	var name string
	eventually(t, func() string {
		if l := e.calls("List"); len(l) > 0 {
			name = l[0].Sender
			return ""
		}
		return "the tray never listed the daemon's instances"
	})
	return name
}

// busError is a D-Bus error reply with message msg.
func busError(name, msg string) *dbus.Error { return dbus.NewError(name, []any{msg}) }
