package tray

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/autostart"
	"github.com/nspawn-tray/nspawn-tray/config"
	"github.com/nspawn-tray/nspawn-tray/icons"
	"github.com/nspawn-tray/nspawn-tray/launcher"
	"github.com/nspawn-tray/nspawn-tray/machined"
	"github.com/nspawn-tray/nspawn-tray/machines"
	"github.com/nspawn-tray/nspawn-tray/menusync"
	"github.com/nspawn-tray/nspawn-tray/notify"
	"github.com/nspawn-tray/nspawn-tray/polkit"
	"github.com/nspawn-tray/nspawn-tray/systemd"
)

const watcherName = "org.kde.StatusNotifierWatcher"

// Options wire the tray to the system.
type Options struct {
	AppsDir string // paths.AppsDir
	// AppsOwner stands in for root as the definitions' owner (0 outside
	// tests): they are read as strictly as the daemon reads them.
	AppsOwner    uint32
	AutostartDir string // $XDG_CONFIG_HOME/autostart
	Self         string // this binary, for the autostart entry
	// Sync refreshes the desktop entries (nspawn-tray sync) and says what
	// it did in a few words ("3 apps, 1 entry written").
	Sync func(ctx context.Context) (summary string, err error)
	Log  *slog.Logger
	// DataHome is $XDG_DATA_HOME, where sync installs the apps' icons
	// that their entries show; "" for no icons.
	DataHome string

	// adjustBoot lets tests point the machines' files elsewhere.
	adjustBoot func(*machines.Manager)
	// agesEvery is how often the running machines' ages are relabelled
	// (a minute; tests shorten it), and onAges is told each time.
	agesEvery time.Duration
	onAges    func()
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
	// sysd is systemd's own connection (its Manager takes the signals),
	// for the Machines section (boot.go).
	sysd     *dbus.Conn
	units    *systemd.Manager
	boot     *machines.Manager
	notifier *notify.Notifier
	auth     *polkit.Authority
	ui       shell
	menu     *menuTree

	// syncMu runs one desktop entry sync at a time: a startup sync, an
	// apps.d change and a click can come together.
	syncMu  sync.Mutex
	mu      sync.Mutex
	apps    []App
	offers  []Offer
	running []Machine
	state   State
	// bootable are the Machines section's machines; failed the ones whose
	// failure was told (until they leave that state), stopping the ones the
	// user stopped (their end is no failure to tell).
	bootable []machines.Machine
	failed   map[string]bool
	stopping map[string]bool
	// bootOK: systemd answered Subscribe, so the Machines section works.
	bootOK   bool
	bootKick chan struct{}
	// ready is closed once connect has run; connErr is why it failed.
	ready   chan struct{}
	connErr error
	// cats caches the apps' main categories (MainCategory), by app ID,
	// until apps.d changes or the user refreshes. Only the loop reads and
	// fills the map.
	cats map[string]string
	kick chan struct{}

	// renderMu makes renders (from the loop, and when the menu opens)
	// show their models in the order they were built. tooltip is what the
	// icon says.
	renderMu sync.Mutex
	tooltip  string
}

// Run shows the tray until ctx ends or Quit is clicked.
func Run(ctx context.Context, opts Options) error {
	// systray connects dbus.SessionBus() only after onReady, and the item
	// registers after that: connect it now, beside the tray's own connections.
	go dbus.SessionBus()
	return run(ctx, opts, &systrayShell{})
}

// run connects while the item registers: the connections are handshakes
// with two bus daemons, which the item need not wait for. The loop and the
// menu's actions wait for them; when one cannot be made, the tray quits
// and run returns why.
func run(ctx context.Context, opts Options, ui shell) error {
	t := newTray(opts, ui)
	go t.connect()
	t.run(ctx)
	<-t.ready
	if t.connErr != nil {
		return t.connErr
	}
	t.close()
	return nil
}

// open connects the tray to the system and session buses, and returns
// once it has.
func open(opts Options, ui shell) (*Tray, error) {
	t := newTray(opts, ui)
	if err := t.connect(); err != nil {
		return nil, err
	}
	return t, nil
}

func newTray(opts Options, ui shell) *Tray {
	t := &Tray{opts: opts, log: opts.Log, ui: ui, kick: make(chan struct{}, 1), bootKick: make(chan struct{}, 1),
		failed: map[string]bool{}, stopping: map[string]bool{}, ready: make(chan struct{})}
	t.menu = newMenuTree(ui, t.act)
	return t
}

// connect makes the tray's three connections, at once, and closes ready;
// connErr says why when one could not be made (none is kept then).
func (t *Tray) connect() error {
	defer close(t.ready)
	var sys, sess, sysd *dbus.Conn
	var sysErr, sessErr, sysdErr error
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); sys, sysErr = dbus.ConnectSystemBus() }()
	go func() { defer wg.Done(); sess, sessErr = dbus.ConnectSessionBus() }()
	go func() { defer wg.Done(); sysd, sysdErr = dbus.ConnectSystemBus() }()
	wg.Wait()
	if err := cmp.Or(wrapErr("system bus", sysErr), wrapErr("session bus", sessErr), wrapErr("system bus", sysdErr)); err != nil {
		for _, c := range []*dbus.Conn{sys, sess, sysd} {
			if c != nil {
				c.Close()
			}
		}
		t.connErr = err
		return err
	}
	t.sys, t.sess, t.sysd = sys, sess, sysd
	t.client = launcher.NewClient(t.sys)
	t.machines = machined.New(t.sys)
	t.auth = polkit.New(t.sys)
	t.units = systemd.New(t.sysd)
	t.boot = machines.New(t.units, t.machines)
	if t.opts.adjustBoot != nil {
		t.opts.adjustBoot(t.boot)
	}
	t.notifier = notify.New(t.sess, "nspawn-tray", "nspawn-tray")
	return nil
}

// connected waits for connect, and reports whether the connections are
// there (the menu's actions and the loop use them).
func (t *Tray) connected() bool {
	<-t.ready
	return t.connErr == nil
}

// wrapErr is "tray: what: err", or nil.
func wrapErr(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("tray: %s: %w", what, err)
}

func (t *Tray) close() {
	t.sess.Close()
	t.sys.Close()
	t.sysd.Close()
}

// run shows the tray until ctx ends or Quit is clicked.
func (t *Tray) run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-ctx.Done()
		t.ui.quit()
	}()
	t.ui.run(func() { t.onReady(ctx, cancel) }, t.opened, cancel)
}

// onReady must return fast: the item registers with the host after it.
// Everything slow happens in the loop.
func (t *Tray) onReady(ctx context.Context, quit func()) {
	t.ui.setIcon(icons.TrayIdle(), "Container apps")
	t.ui.setTitle("nspawn-tray")
	t.render()
	go func() {
		if !t.connected() {
			quit()
			return
		}
		t.loop(ctx)
	}()
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
	appsChanged, autostartChanged := t.watch(ctx)
	unitsChanged := t.followUnits(ctx)
	t.refreshAll(ctx)
	go t.sync(ctx, false)
	// Only the "how long it has run" labels age; machines and apps come by
	// signal and inotify. With nothing running there is nothing to age:
	// no timer then, so an idle tray never wakes up.
	every := t.opts.agesEvery
	if every == 0 {
		every = time.Minute
	}
	var ages *time.Ticker
	var agesC <-chan time.Time
	defer func() {
		if ages != nil {
			ages.Stop()
		}
	}()
	for {
		t.mu.Lock()
		busy := len(t.running) > 0
		t.mu.Unlock()
		switch {
		case busy && ages == nil:
			ages = time.NewTicker(every)
			agesC = ages.C
		case !busy && ages != nil:
			ages.Stop()
			ages, agesC = nil, nil
		}
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
			t.refreshBootable(ctx)
			t.render()
		case _, ok := <-unitsChanged:
			if !ok {
				unitsChanged = nil
				continue
			}
			t.refreshBootable(ctx)
			t.render()
		case <-t.bootKick:
			t.refreshBootable(ctx)
			t.render()
		case <-appsChanged:
			t.forgetCategories()
			t.refreshAll(ctx)
			go t.sync(ctx, false)
		case <-autostartChanged:
			t.refreshAutostart()
		case <-t.kick:
			t.refreshAll(ctx)
		case <-agesC:
			if t.opts.onAges != nil {
				t.opts.onAges()
			}
			// The menu is redrawn: the machines' numbers with it.
			t.refreshBootable(ctx)
			t.render()
		}
	}
}

// refreshAll reads everything the menu shows again. The four parts ask
// different services (the daemon, polkit, machined, systemd) and keep
// what they learn under t.mu: they run at once, so the menu's first
// drawing waits for the slowest of them, not for their sum.
func (t *Tray) refreshAll(ctx context.Context) {
	t0 := time.Now()
	parts := []struct {
		name    string
		refresh func(context.Context)
	}{{"apps", t.refreshApps}, {"state", t.refreshState}, {"machines", t.refreshMachines}, {"bootable", t.refreshBootable}}
	took := make([]any, 0, 2*len(parts)+2)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t1 := time.Now()
			p.refresh(ctx)
			mu.Lock()
			took = append(took, p.name, time.Since(t1))
			mu.Unlock()
		}()
	}
	wg.Wait()
	t.render()
	t.log.Debug("menu refreshed", append(took, "all", time.Since(t0))...)
}

func (t *Tray) refreshApps(ctx context.Context) {
	// A daemon that does not answer holds up the menu no longer.
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	// The daemon's checks, so that what is clickable launches; a
	// definition it would refuse shows, not clickable, with the same words.
	defs, invalid, err := menusync.Definitions(t.opts.AppsDir, t.opts.AppsOwner)
	if err != nil {
		t.log.Warn("cannot read the app definitions", "err", err)
	}
	names := menusync.Names(defs)
	apps := make([]App, 0, len(defs)+len(invalid))
	at := map[string]int{}
	for _, d := range defs {
		at[d.ID] = len(apps)
		apps = append(apps, App{ID: d.ID, Name: names[d.ID], Image: d.Image})
	}
	for _, d := range invalid {
		if config.ValidID(d.ID) != nil {
			continue
		}
		at[d.ID] = len(apps)
		apps = append(apps, App{ID: d.ID, Name: d.ID, Problem: d.Message, Short: "invalid definition"})
	}
	// The daemon says which apps cannot launch and why, the definitions
	// it cannot read among them. Without it, none are known.
	if status, err := t.client.Apps(ctx); err == nil {
		for _, s := range status {
			if s.Problem == "" {
				continue
			}
			if i, ok := at[s.ID]; ok {
				apps[i].Problem = s.Problem
				continue
			}
			if config.ValidID(s.ID) != nil {
				continue
			}
			name := s.Name
			if name == "" {
				name = s.ID
			}
			at[s.ID] = len(apps)
			apps = append(apps, App{ID: s.ID, Name: name, Problem: s.Problem})
		}
	}
	t.addIcons(apps)
	if len(apps) > maxFlatApps {
		t.categorize(ctx, apps)
	}
	var offers []Offer
	if list, err := t.client.Offers(ctx); err == nil {
		for _, o := range list {
			offers = append(offers, Offer{Image: o.Image, DesktopFile: o.DesktopFile, Name: o.Name})
		}
	}
	t.mu.Lock()
	t.apps, t.offers = apps, offers
	t.mu.Unlock()
}

// categorize fills in the apps' main categories, from the desktop metadata
// the daemon has of each, once per app until forgetCategories.
func (t *Tray) categorize(ctx context.Context, apps []App) {
	t.mu.Lock()
	if t.cats == nil {
		t.cats = map[string]string{}
	}
	cats := t.cats
	t.mu.Unlock()
	// The apps not known yet in one call, not one each (a round trip per
	// app held up the first complete menu); the icons sync installed are
	// named, so their bytes stay out of the reply.
	var ask []string
	for _, a := range apps {
		if _, ok := cats[a.ID]; !ok {
			ask = append(ask, a.ID)
		}
	}
	// A daemon from before MetadataBatch (during an upgrade) is asked
	// one app at a time.
	oneByOne := false
	if len(ask) > 0 {
		res, err := t.client.MetadataBatch(ctx, ask, menusync.KnownIcons(t.opts.DataHome, ask))
		switch {
		case err == nil:
			for i, r := range res {
				if r.Err != nil {
					// Asked again at the next refresh; "Other" until then.
					t.log.Debug("no desktop metadata", "app", ask[i], "err", r.Err)
					continue
				}
				cats[ask[i]] = MainCategory(r.Meta.Entry.Categories)
			}
		case launcher.IsUnknownMethod(err):
			oneByOne = true
		default:
			t.log.Debug("no desktop metadata", "err", err)
		}
	}
	for i, a := range apps {
		c, ok := cats[a.ID]
		if !ok && oneByOne {
			md, err := t.client.Metadata(ctx, a.ID)
			if errors.Is(err, launcher.ErrNoDaemon) || ctx.Err() != nil {
				break
			}
			if err != nil {
				t.log.Debug("no desktop metadata", "app", a.ID, "err", err)
				continue
			}
			c = MainCategory(md.Entry.Categories)
			cats[a.ID] = c
		}
		apps[i].Category = c
	}
}

func (t *Tray) forgetCategories() {
	t.mu.Lock()
	t.cats = nil
	t.mu.Unlock()
}

// refreshAutostart shows whether the tray starts on login, as the file
// says now: the user may have changed it with nspawn-tray autostart.
func (t *Tray) refreshAutostart() {
	on := autostart.Enabled(t.opts.AutostartDir, autostart.TrayFile)
	t.mu.Lock()
	changed := t.state.Autostart != on
	t.state.Autostart = on
	t.mu.Unlock()
	if changed {
		t.render()
	}
}

func (t *Tray) refreshState(ctx context.Context) {
	st := State{Autostart: autostart.Enabled(t.opts.AutostartDir, autostart.TrayFile)}
	// Three questions to two services, at once: each polkit check is a
	// round trip through polkitd's rules, and the first menu waits for all.
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		st.Daemon = t.daemonState(ctx)
	}()
	go func() {
		defer wg.Done()
		st.Auth = t.launchAuth(ctx)
	}()
	go func() {
		defer wg.Done()
		st.BootAuth, st.EnableAuth = t.bootAuth(ctx)
	}()
	wg.Wait()
	t.mu.Lock()
	t.state = st
	t.mu.Unlock()
}

// daemonState says whether the daemon can be reached: activatable, or
// running (or the bus did not say: then it may be).
func (t *Tray) daemonState(ctx context.Context) Daemon {
	var names []string
	if err := t.sys.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.ListActivatableNames", 0).Store(&names); err != nil {
		return DaemonOK
	}
	if slices.Contains(names, launcher.BusName) {
		return DaemonOK
	}
	// A daemon that runs without being activatable (started by hand)
	// answers Launch all the same.
	var has bool
	if err := t.sys.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.NameHasOwner", 0, launcher.BusName).Store(&has); err == nil && has {
		return DaemonOK
	}
	return DaemonMissing
}

// launchAuth is what polkit says about launching for this user (yes when
// it cannot be asked: the launch itself will tell).
func (t *Tray) launchAuth(ctx context.Context) Auth {
	names := t.sys.Names()
	if len(names) == 0 {
		return AuthYes
	}
	r, err := t.auth.CheckBusName(ctx, names[0], launcher.ActionLaunch, nil, false)
	switch {
	case err != nil:
		t.log.Warn("cannot ask polkit", "err", err)
		return AuthYes
	case r.Authorized:
		return AuthYes
	case r.Challenge:
		return AuthChallenge
	}
	return AuthNo
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

// render shows the model: the icon, and the menu, updated in place.
func (t *Tray) render() {
	t.renderMu.Lock()
	defer t.renderMu.Unlock()
	t.mu.Lock()
	st := t.state
	st.Offers = t.offers
	st.Bootable = t.bootable
	items := Build(t.apps, t.running, st, time.Now())
	running := len(t.running)
	t.mu.Unlock()
	icon, tip := icons.TrayIdle(), "Container apps: nothing running"
	if running > 0 {
		icon, tip = icons.TrayRunning(), fmt.Sprintf("Container apps: %d running", running)
	}
	// The menu first: when the icon says a machine runs, its entry is
	// there.
	t.menu.show(items)
	if tip != t.tooltip {
		t.ui.setIcon(icon, tip)
		t.tooltip = tip
	}
}

func (t *Tray) act(id string) {
	if !t.connected() {
		return
	}
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
	case "boot-start", "boot-stop", "boot-enable", "boot-status":
		t.bootAct(ctx, verb, arg)
	case "add":
		t.addApp(ctx, arg)
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
		// What the user asks to refresh: the entries, and the menu with
		// what the daemon knows of the apps.
		t.sync(ctx, true)
		t.forgetCategories()
		t.poke()
	case "quit":
		t.ui.quit()
	}
}

// addApp adds the app of offer "IMAGE/DESKTOP-FILE" through the daemon,
// which asks polkit for an administrator; apps.d's watch then brings it
// into the menu and the desktop menu.
func (t *Tray) addApp(ctx context.Context, offer string) {
	image, file, _ := strings.Cut(offer, "/")
	name := file
	t.mu.Lock()
	for _, o := range t.offers {
		if o.Image == image && o.DesktopFile == file {
			name = o.Name
		}
	}
	t.mu.Unlock()
	id, err := t.client.AddApp(ctx, image, file)
	if err != nil {
		t.fail(ctx, "Could not add "+name, err)
		return
	}
	t.note(ctx, "Added "+name, "It is in the menu now, as "+id+".")
	t.poke()
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
	t.note(ctx, summary, err.Error())
}

// note shows a notification.
func (t *Tray) note(ctx context.Context, summary, body string) {
	if _, err := t.notifier.Send(ctx, summary, body); err != nil {
		t.log.Warn("cannot show a notification", "err", err)
	}
}

// sync refreshes the desktop entries; report says what it did, for a
// click.
func (t *Tray) sync(ctx context.Context, report bool) {
	if t.opts.Sync == nil {
		return
	}
	t.syncMu.Lock()
	defer t.syncMu.Unlock()
	summary, err := t.opts.Sync(ctx)
	// A sync reads every app's icons, garbage once written: give that
	// memory back now, the tray lives all session (make bench-tray's RSS).
	debug.FreeOSMemory()
	// The icons it installed show in the menu.
	t.poke()
	switch {
	case err != nil:
		t.fail(ctx, "Could not refresh the desktop entries", err)
	case report:
		t.note(ctx, "Desktop entries refreshed", summary)
	}
}

// Bounds of a log shown in a notification.
const (
	logLines = 8
	maxLog   = 64 << 10 // bytes read at most
	maxLine  = 200      // runes of a line shown
)

// logWait bounds the wait for the daemon to finish writing a log.
var logWait = 10 * time.Second

// showLog puts the last lines of the machine's log in a notification: the
// daemon's for an instance of nspawn-tray's, so the user needs no journal
// access; the unit's journal for others.
func (t *Tray) showLog(ctx context.Context, machine string) {
	t.mu.Lock()
	ours := slices.ContainsFunc(t.running, func(m Machine) bool { return m.Name == machine && m.App != "" })
	t.mu.Unlock()
	if ours {
		t.daemonLog(ctx, machine)
		return
	}
	d, err := t.machines.Get(ctx, machine)
	if err != nil {
		t.fail(ctx, "No log for "+machine, err)
		return
	}
	out, err := exec.CommandContext(ctx, "journalctl", "--no-pager", "-o", "cat", "-n", strconv.Itoa(logLines), "-u", d.Unit).Output()
	body := strings.TrimSpace(string(out))
	if err != nil || body == "" || strings.HasPrefix(body, "-- No entries --") {
		body = fmt.Sprintf("No log lines readable here. As a member of group systemd-journal or adm: journalctl -u %s", d.Unit)
	}
	t.note(ctx, "Log of "+machine, logText(body))
}

// daemonLog has the daemon write the machine's last lines to a pipe and
// shows them.
func (t *Tray) daemonLog(ctx context.Context, machine string) {
	r, w, err := os.Pipe()
	if err != nil {
		t.fail(ctx, "No log for "+machine, err)
		return
	}
	defer r.Close()
	err = t.client.Logs(ctx, machine, logLines, false, w)
	// The daemon has its own copy: the reader sees the end when the
	// daemon closes it.
	w.Close()
	if err != nil {
		t.fail(ctx, "No log for "+machine, err)
		return
	}
	r.SetReadDeadline(time.Now().Add(logWait))
	out, err := io.ReadAll(io.LimitReader(r, maxLog))
	body := logText(string(out))
	if err != nil && body == "" {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			err = fmt.Errorf("the daemon sent no log lines within %v", logWait)
		}
		t.fail(ctx, "No log for "+machine, err)
		return
	}
	// What came before an error or the timeout is worth showing.
	if body == "" {
		body = "No log lines yet."
	}
	t.note(ctx, "Log of "+machine, body)
}

// logText is the last logLines lines of log, each cut to maxLine runes, as
// valid UTF-8 without control characters but tabs.
func logText(log string) string {
	log = strings.ToValidUTF8(log, "\uFFFD")
	lines := strings.Split(strings.TrimSpace(log), "\n")
	lines = lines[max(0, len(lines)-logLines):]
	for i, l := range lines {
		l = strings.Map(func(r rune) rune {
			if r != '\t' && unicode.IsControl(r) {
				return -1
			}
			return r
		}, l)
		lines[i] = ellipsizeTo(l, maxLine)
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}
