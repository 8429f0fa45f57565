package tray

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"fyne.io/systray"
	"github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"

	"github.com/nspawn-tray/nspawn-tray/autostart"
	"github.com/nspawn-tray/nspawn-tray/config"
	"github.com/nspawn-tray/nspawn-tray/icons"
	"github.com/nspawn-tray/nspawn-tray/launcher"
	"github.com/nspawn-tray/nspawn-tray/machined"
	"github.com/nspawn-tray/nspawn-tray/notify"
	"github.com/nspawn-tray/nspawn-tray/polkit"
)

const watcherName = "org.kde.StatusNotifierWatcher"

// Options wire the tray to the system.
type Options struct {
	AppsDir      string // paths.AppsDir
	AutostartDir string // $XDG_CONFIG_HOME/autostart
	Self         string // this binary, for the autostart entry
	// Sync refreshes the desktop entries (nspawn-tray sync).
	Sync func(ctx context.Context) error
	Log  *slog.Logger
}

// Tray is the running applet.
type Tray struct {
	opts Options
	log  *slog.Logger

	// Private connections: fyne.io/systray owns dbus.SessionBus(), and a
	// signal channel added to that one can break its re-registration after
	// a panel restart.
	sys, sess *dbus.Conn
	client    *launcher.Client
	machines  *machined.Manager
	notifier  *notify.Notifier
	auth      *polkit.Authority
	ui        shell

	// syncMu runs one desktop entry sync at a time: a startup sync, an
	// apps.d change and a click can come together.
	syncMu  sync.Mutex
	mu      sync.Mutex
	apps    []App
	running []Machine
	state   State
	kick    chan struct{}
}

// Run shows the tray until ctx ends or Quit is clicked.
func Run(ctx context.Context, opts Options) error {
	return run(ctx, opts, &systrayShell{})
}

func run(ctx context.Context, opts Options, ui shell) error {
	t, err := open(opts, ui)
	if err != nil {
		return err
	}
	defer t.close()
	t.run(ctx)
	return nil
}

// open connects the tray to the system and session buses.
func open(opts Options, ui shell) (*Tray, error) {
	t := &Tray{opts: opts, log: opts.Log, ui: ui, kick: make(chan struct{}, 1)}
	var err error
	if t.sys, err = dbus.ConnectSystemBus(); err != nil {
		return nil, fmt.Errorf("tray: system bus: %w", err)
	}
	if t.sess, err = dbus.ConnectSessionBus(); err != nil {
		t.sys.Close()
		return nil, fmt.Errorf("tray: session bus: %w", err)
	}
	t.client = launcher.NewClient(t.sys)
	t.machines = machined.New(t.sys)
	t.auth = polkit.New(t.sys)
	t.notifier = notify.New(t.sess, "nspawn-tray", "nspawn-tray")
	return t, nil
}

func (t *Tray) close() {
	t.sess.Close()
	t.sys.Close()
}

// run shows the tray until ctx ends or Quit is clicked.
func (t *Tray) run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-ctx.Done()
		t.ui.quit()
	}()
	t.ui.run(func() { t.onReady(ctx) }, cancel)
}

// onReady must return fast: the item registers with the host after it.
// Everything slow happens in the loop.
func (t *Tray) onReady(ctx context.Context) {
	t.ui.setIcon(icons.TrayIdle, "Container apps")
	t.ui.setTitle("nspawn-tray")
	t.render()
	go t.loop(ctx)
}

func (t *Tray) loop(ctx context.Context) {
	var has bool
	if err := t.sess.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.NameHasOwner", 0, watcherName).Store(&has); err == nil && !has {
		t.log.Warn("no StatusNotifierItem host on the session bus (" + watcherName + "): the icon appears once a panel with a system tray starts (on GNOME: the AppIndicator extension)")
	}
	changes, err := t.machines.Changes(ctx)
	if err != nil {
		t.log.Error("cannot follow machined; the menu will not update by itself", "err", err)
	}
	appsChanged := t.watchApps(ctx)
	t.refreshAll(ctx)
	go t.sync(ctx)
	// Only the "how long it has run" labels age; machines and apps come by
	// signal and inotify.
	ages := time.NewTicker(time.Minute)
	defer ages.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-changes:
			if !ok {
				// The system bus connection is gone (godbus closed its
				// signal channels): a closed channel fires forever.
				t.log.Error("machined's changes ended; the menu will not update by itself")
				changes = nil
				continue
			}
			t.refreshMachines(ctx)
			t.render()
		case <-appsChanged:
			t.refreshAll(ctx)
			go t.sync(ctx)
		case <-t.kick:
			t.refreshAll(ctx)
		case <-ages.C:
			t.render()
		}
	}
}

func (t *Tray) refreshAll(ctx context.Context) {
	t.refreshApps()
	t.refreshState(ctx)
	t.refreshMachines(ctx)
	t.render()
}

func (t *Tray) refreshApps() {
	defs, err := config.LoadDir(t.opts.AppsDir, config.Options{})
	if err != nil {
		t.log.Warn("some app definitions are invalid", "err", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	apps := make([]App, 0, len(defs))
	for _, d := range defs {
		apps = append(apps, App{ID: d.ID, Name: d.Name})
	}
	t.mu.Lock()
	t.apps = apps
	t.mu.Unlock()
}

func (t *Tray) refreshState(ctx context.Context) {
	st := State{Autostart: autostart.Enabled(t.opts.AutostartDir, autostart.TrayFile)}
	var names []string
	if err := t.sys.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.ListActivatableNames", 0).Store(&names); err == nil {
		st.Daemon = DaemonMissing
		for _, n := range names {
			if n == launcher.BusName {
				st.Daemon = DaemonOK
			}
		}
	}
	if st.Daemon == DaemonMissing {
		// A daemon that runs without being activatable (started by hand)
		// answers Launch all the same.
		var has bool
		if err := t.sys.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.NameHasOwner", 0, launcher.BusName).Store(&has); err == nil && has {
			st.Daemon = DaemonOK
		}
	}
	if names := t.sys.Names(); len(names) > 0 {
		r, err := t.auth.CheckBusName(ctx, names[0], launcher.ActionLaunch, nil, false)
		switch {
		case err != nil:
			t.log.Warn("cannot ask polkit", "err", err)
		case r.Authorized:
			st.Auth = AuthYes
		case r.Challenge:
			st.Auth = AuthChallenge
		default:
			st.Auth = AuthNo
		}
	}
	t.mu.Lock()
	t.state = st
	t.mu.Unlock()
}

func (t *Tray) refreshMachines(ctx context.Context) {
	ms, err := t.machines.List(ctx)
	if err != nil {
		t.log.Warn("cannot list machines", "err", err)
		return
	}
	ours := map[string]launcher.Instance{}
	if list, err := t.client.List(ctx); err == nil {
		for _, i := range list {
			ours[i.Machine] = i
		}
	}
	var running []Machine
	for _, m := range ms {
		if m.Class != "container" && m.Class != "vm" {
			continue // ".host"
		}
		mc := Machine{Name: m.Name, Since: time.Now()}
		if i, ok := ours[m.Name]; ok {
			mc.App = i.App
			mc.Since = time.UnixMicro(int64(i.Since))
		} else if d, err := t.machines.Get(ctx, m.Name); err == nil && d.Timestamp > 0 {
			mc.Since = time.UnixMicro(int64(d.Timestamp))
		}
		running = append(running, mc)
	}
	t.mu.Lock()
	t.running = running
	t.mu.Unlock()
}

// render rebuilds the menu from the model.
func (t *Tray) render() {
	t.mu.Lock()
	items := Build(t.apps, t.running, t.state, time.Now())
	running := len(t.running)
	t.mu.Unlock()
	if running > 0 {
		t.ui.setIcon(icons.TrayRunning, fmt.Sprintf("Container apps: %d running", running))
	} else {
		t.ui.setIcon(icons.TrayIdle, "Container apps: nothing running")
	}
	t.ui.setMenu(items, t.act)
}

func (t *Tray) act(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	verb, arg, _ := strings.Cut(id, ":")
	switch verb {
	case "launch":
		host, _ := os.Hostname()
		s, err := launcher.SessionFromEnv(os.Getenv, host)
		if err == nil {
			_, _, err = t.client.Launch(ctx, arg, s)
		}
		if err != nil {
			t.fail(ctx, "Could not start "+t.appName(arg), err)
		}
	case "stop":
		err := t.client.Stop(ctx, arg)
		if errors.Is(err, launcher.ErrNoSuchInstance) {
			// Not ours: machined checks polkit for the caller itself.
			err = t.machines.Terminate(ctx, arg)
		}
		if err != nil {
			t.fail(ctx, "Could not stop "+arg, err)
		}
	case "log":
		t.showLog(ctx, arg)
	case "autostart":
		var content []byte
		if !autostart.Enabled(t.opts.AutostartDir, autostart.TrayFile) {
			content = autostart.TrayEntry(t.opts.Self)
		}
		if err := autostart.Set(t.opts.AutostartDir, autostart.TrayFile, content); err != nil {
			t.fail(ctx, "Could not change Start on login", err)
		}
		t.poke()
	case "sync":
		t.sync(ctx)
	case "quit":
		t.ui.quit()
	}
}

func (t *Tray) poke() {
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

func (t *Tray) appName(id string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, a := range t.apps {
		if a.ID == id {
			return a.Name
		}
	}
	return id
}

// fail tells the user, on the desktop, and keeps going.
func (t *Tray) fail(ctx context.Context, summary string, err error) {
	t.log.Warn(summary, "err", err)
	if _, nerr := t.notifier.Send(ctx, summary, err.Error()); nerr != nil {
		t.log.Warn("cannot show a notification", "err", nerr)
	}
}

func (t *Tray) sync(ctx context.Context) {
	if t.opts.Sync == nil {
		return
	}
	t.syncMu.Lock()
	defer t.syncMu.Unlock()
	if err := t.opts.Sync(ctx); err != nil {
		t.fail(ctx, "Could not refresh the desktop entries", err)
	}
}

// showLog puts the last lines of the machine's unit log in a notification.
func (t *Tray) showLog(ctx context.Context, machine string) {
	d, err := t.machines.Get(ctx, machine)
	if err != nil {
		t.fail(ctx, "No log for "+machine, err)
		return
	}
	out, err := exec.CommandContext(ctx, "journalctl", "--no-pager", "-o", "cat", "-n", "8", "-u", d.Unit).Output()
	body := strings.TrimSpace(string(out))
	if err != nil || body == "" || strings.HasPrefix(body, "-- No entries --") {
		body = fmt.Sprintf("No log lines readable here. As a member of group systemd-journal or adm: journalctl -u %s", d.Unit)
	}
	if _, err := t.notifier.Send(ctx, "Log of "+machine, body); err != nil {
		t.log.Warn("cannot show a notification", "err", err)
	}
}

// watchApps reports changes in apps.d (inotify): new, changed, removed
// definitions.
func (t *Tray) watchApps(ctx context.Context) <-chan struct{} {
	out := make(chan struct{}, 1)
	// Non-blocking, so the file goes through the poller and Close ends a
	// pending Read; a blocking read(2) would hold the descriptor (and a
	// thread) until the next change in apps.d.
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err == nil {
		_, err = unix.InotifyAddWatch(fd, t.opts.AppsDir, unix.IN_CREATE|unix.IN_DELETE|unix.IN_CLOSE_WRITE|
			unix.IN_MOVED_FROM|unix.IN_MOVED_TO|unix.IN_ATTRIB)
	}
	if err != nil {
		t.log.Warn("cannot watch "+t.opts.AppsDir+"; use Refresh after changing app definitions", "err", err)
		if fd >= 0 {
			unix.Close(fd)
		}
		return out
	}
	f := os.NewFile(uintptr(fd), filepath.Join("inotify", t.opts.AppsDir))
	go func() {
		<-ctx.Done()
		f.Close()
	}()
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, err := f.Read(buf); err != nil {
				return
			}
			select {
			case out <- struct{}{}:
			default:
			}
		}
	}()
	return out
}

// shell is what shows the tray on the desktop: fyne.io/systray
// (systrayShell). Everything else in the tray only builds Items and acts on
// their IDs, so it runs without systray's process-wide state.
type shell interface {
	// run shows the item until quit. onReady runs in a goroutine of its
	// own; onExit runs before run returns.
	run(onReady, onExit func())
	quit()
	setTitle(title string)
	setIcon(icon []byte, tooltip string)
	// setMenu replaces the menu; a click on an item with an ID calls
	// click(ID).
	setMenu(items []Item, click func(id string))
}

// systrayShell is the StatusNotifierItem with its com.canonical.dbusmenu
// menu, on dbus.SessionBus(). systray is global state: one per process.
type systrayShell struct {
	// menuMu keeps two rebuilds from interleaving their items.
	menuMu sync.Mutex
}

func (*systrayShell) run(onReady, onExit func()) { systray.Run(onReady, onExit) }
func (*systrayShell) quit()                      { systray.Quit() }
func (*systrayShell) setTitle(title string)      { systray.SetTitle(title) }

func (*systrayShell) setIcon(icon []byte, tooltip string) {
	systray.SetIcon(icon)
	systray.SetTooltip(tooltip)
}

func (s *systrayShell) setMenu(items []Item, click func(id string)) {
	s.menuMu.Lock()
	defer s.menuMu.Unlock()
	systray.ResetMenu()
	for _, it := range items {
		s.add(nil, it, click)
	}
}

func (s *systrayShell) add(parent *systray.MenuItem, it Item, click func(id string)) {
	if it.Separator {
		if parent == nil {
			systray.AddSeparator()
		} else {
			parent.AddSeparator()
		}
		return
	}
	var mi *systray.MenuItem
	switch {
	case parent == nil && it.Checkbox:
		mi = systray.AddMenuItemCheckbox(it.Label, it.Tooltip, it.Checked)
	case parent == nil:
		mi = systray.AddMenuItem(it.Label, it.Tooltip)
	default:
		mi = parent.AddSubMenuItem(it.Label, it.Tooltip)
	}
	if it.Disabled {
		mi.Disable()
	}
	for _, c := range it.Children {
		s.add(mi, c, click)
	}
	if it.ID == "" {
		return
	}
	go func(id string, ch chan struct{}) {
		// ResetMenu closes the channel: a closed channel would fire forever.
		for range ch {
			// Act in the background: the library drops clicks that arrive
			// while a handler is busy.
			go click(id)
		}
	}(it.ID, mi.ClickedCh)
}
