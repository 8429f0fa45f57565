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
// keeps what the tray last drew and clicks like a panel does.
type fakeShell struct {
	mu      sync.Mutex
	items   []Item
	click   func(id string)
	menus   int
	title   string
	icon    []byte
	tooltip string

	quitOnce sync.Once
	quitCh   chan struct{}
}

func newFakeShell() *fakeShell { return &fakeShell{quitCh: make(chan struct{})} }

func (f *fakeShell) run(onReady, onExit func()) {
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
	f.mu.Unlock()
}

func (f *fakeShell) setMenu(items []Item, click func(id string)) {
	f.mu.Lock()
	f.items, f.click = items, click
	f.menus++
	f.mu.Unlock()
}

// menu is the current menu in model_test.go's text form.
func (f *fakeShell) menu() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return render(f.items)
}

func (f *fakeShell) state() (icon []byte, tooltip string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.icon, f.tooltip
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

// clickItem clicks the item with id in the current menu, as a panel would:
// only an enabled item that is there can be clicked. The action has run
// when it returns.
func (f *fakeShell) clickItem(t *testing.T, id string) {
	t.Helper()
	f.mu.Lock()
	it, ok := findID(f.items, id)
	click := f.click
	items := f.items
	f.mu.Unlock()
	if !ok {
		t.Fatalf("no item %q in the menu:\n%s", id, render(items))
	}
	if it.Disabled {
		t.Fatalf("item %q is disabled:\n%s", id, render(items))
	}
	click(id)
}

// clickFunc is what a click runs, for clicks from another goroutine and on
// entries that are gone from the menu (the panel still showed them).
func (f *fakeShell) clickFunc() func(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.click
}

func (f *fakeShell) menuCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.menus
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
type without struct{ launcher, machined, polkit, notifications bool }

// env is a tray on private system and session buses with fake services.
type env struct {
	opts     Options
	sys      *bustest.Bus
	sess     *bustest.Bus
	launcher *bustest.Launcher      // nil when left off
	machined *bustest.Machined      // nil when left off
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
	// The menu drawn before the first refresh lists no apps.
	e.waitMenu(t, func(m string) string {
		if strings.Contains(m, "launch:") || strings.Contains(m, "No apps defined") {
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
