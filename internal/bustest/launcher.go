package bustest

import (
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/launcher"
)

// LauncherCall is one call of the fake launcher daemon.
type LauncherCall struct {
	Method string
	// Arg is the app (Launch, Metadata) or the machine (Stop).
	Arg         string
	Session     map[string]dbus.Variant
	Interactive bool
	Sender      string
}

// Launcher fakes the nspawn-tray daemon (io.github.nspawn_tray.Launcher1)
// for the code that calls it: every method answers what its hook says.
// Without hooks, Launch answers APP-00000001 and status -1, Wait 0, List
// the instances set with SetInstances, Stop and Metadata nothing.
type Launcher struct {
	mu        sync.Mutex
	apps      []launcher.AppStatus
	offers    []launcher.Offer
	addApp    func(LauncherCall) (string, *dbus.Error)
	instances []launcher.Instance
	wait      func(LauncherCall) (int32, *dbus.Error)
	logs      func(LauncherCall, *os.File) *dbus.Error
	launch    func(LauncherCall) (string, int32, *dbus.Error)
	stop      func(LauncherCall) *dbus.Error
	metadata  func(LauncherCall) (string, map[string]dbus.Variant, []launcher.Icon, *dbus.Error)
	rec       recorder[LauncherCall]
}

// NewLauncher exports the fake on conn as the launcher's bus name.
func NewLauncher(t testing.TB, conn *dbus.Conn) *Launcher {
	t.Helper()
	l := &Launcher{}
	if err := conn.Export(launcherAPI{l}, launcher.ObjectPath, launcher.Interface); err != nil {
		t.Fatal(err)
	}
	own(t, conn, launcher.BusName)
	return l
}

// SetApps sets what Apps answers.
func (l *Launcher) SetApps(apps []launcher.AppStatus) {
	l.mu.Lock()
	l.apps = apps
	l.mu.Unlock()
}

// SetOffers sets what Offers answers.
func (l *Launcher) SetOffers(offers []launcher.Offer) {
	l.mu.Lock()
	l.offers = offers
	l.mu.Unlock()
}

// OnAddApp sets AddApp's answer (the call's Arg is "IMAGE/DESKTOP-FILE");
// without it AddApp answers the desktop file's stem.
func (l *Launcher) OnAddApp(f func(LauncherCall) (string, *dbus.Error)) {
	l.mu.Lock()
	l.addApp = f
	l.mu.Unlock()
}

// OnWait sets Wait's answer; without it Wait answers 0.
func (l *Launcher) OnWait(f func(LauncherCall) (int32, *dbus.Error)) {
	l.mu.Lock()
	l.wait = f
	l.mu.Unlock()
}

// OnLogs sets what Logs does with the descriptor it was given (write the
// lines, then close it); without it Logs writes nothing and closes it.
func (l *Launcher) OnLogs(f func(LauncherCall, *os.File) *dbus.Error) {
	l.mu.Lock()
	l.logs = f
	l.mu.Unlock()
}

// SetInstances sets what List answers.
func (l *Launcher) SetInstances(list []launcher.Instance) {
	l.mu.Lock()
	l.instances = list
	l.mu.Unlock()
}

// OnLaunch, OnStop and OnMetadata set the answers of those methods.
func (l *Launcher) OnLaunch(f func(LauncherCall) (string, int32, *dbus.Error)) {
	l.mu.Lock()
	l.launch = f
	l.mu.Unlock()
}

func (l *Launcher) OnStop(f func(LauncherCall) *dbus.Error) {
	l.mu.Lock()
	l.stop = f
	l.mu.Unlock()
}

func (l *Launcher) OnMetadata(f func(LauncherCall) (string, map[string]dbus.Variant, []launcher.Icon, *dbus.Error)) {
	l.mu.Lock()
	l.metadata = f
	l.mu.Unlock()
}

// Calls are the calls so far.
func (l *Launcher) Calls() []LauncherCall { return l.rec.all() }

type launcherAPI struct{ l *Launcher }

func call(method string, msg dbus.Message, arg string, session map[string]dbus.Variant) LauncherCall {
	sender, _ := msg.Headers[dbus.FieldSender].Value().(string)
	return LauncherCall{Method: method, Arg: arg, Session: session, Sender: sender,
		Interactive: msg.Flags&dbus.FlagAllowInteractiveAuthorization != 0}
}

func (a launcherAPI) Launch(msg dbus.Message, app string, session map[string]dbus.Variant) (string, int32, *dbus.Error) {
	c := call("Launch", msg, app, session)
	a.l.rec.add(c)
	a.l.mu.Lock()
	f := a.l.launch
	a.l.mu.Unlock()
	if f != nil {
		return f(c)
	}
	return app + "-00000001", -1, nil
}

func (a launcherAPI) List(msg dbus.Message) ([]launcher.Instance, *dbus.Error) {
	a.l.rec.add(call("List", msg, "", nil))
	a.l.mu.Lock()
	defer a.l.mu.Unlock()
	return append([]launcher.Instance{}, a.l.instances...), nil
}

func (a launcherAPI) Stop(msg dbus.Message, machine string) *dbus.Error {
	c := call("Stop", msg, machine, nil)
	a.l.rec.add(c)
	a.l.mu.Lock()
	f := a.l.stop
	a.l.mu.Unlock()
	if f != nil {
		return f(c)
	}
	return nil
}

func (a launcherAPI) Metadata(msg dbus.Message, app string) (string, map[string]dbus.Variant, []launcher.Icon, *dbus.Error) {
	c := call("Metadata", msg, app, nil)
	a.l.rec.add(c)
	a.l.mu.Lock()
	f := a.l.metadata
	a.l.mu.Unlock()
	if f != nil {
		return f(c)
	}
	return "", map[string]dbus.Variant{}, []launcher.Icon{}, nil
}

// MetadataBatch answers each app as Metadata does (and records itself,
// with the apps in Arg, then a Metadata call for each), all in one reply.
func (a launcherAPI) MetadataBatch(msg dbus.Message, apps []string, known []launcher.KnownIcon) ([]launcher.MetadataReply, *dbus.Error) {
	a.l.rec.add(call("MetadataBatch", msg, strings.Join(apps, " "), nil))
	out := make([]launcher.MetadataReply, 0, len(apps))
	for _, app := range apps {
		id, entry, icons, err := a.Metadata(msg, app)
		r := launcher.MetadataReply{App: app, DesktopID: id, Entry: entry, Icons: icons}
		if err != nil {
			r = launcher.MetadataReply{App: app, Entry: map[string]dbus.Variant{}, Icons: []launcher.Icon{}, ErrorName: err.Name, ErrorMessage: err.Error()}
		}
		out = append(out, r)
	}
	return out, nil
}

func (a launcherAPI) Apps(msg dbus.Message) ([]launcher.AppStatus, *dbus.Error) {
	a.l.rec.add(call("Apps", msg, "", nil))
	a.l.mu.Lock()
	defer a.l.mu.Unlock()
	return append([]launcher.AppStatus{}, a.l.apps...), nil
}

func (a launcherAPI) Wait(msg dbus.Message, machine string) (int32, *dbus.Error) {
	c := call("Wait", msg, machine, nil)
	a.l.rec.add(c)
	a.l.mu.Lock()
	f := a.l.wait
	a.l.mu.Unlock()
	if f != nil {
		return f(c)
	}
	return 0, nil
}

// Logs takes the descriptor as its own (the fake's connection closes no
// descriptor for it).
func (a launcherAPI) Logs(msg dbus.Message, target string, opts map[string]dbus.Variant, fd dbus.UnixFD) *dbus.Error {
	c := call("Logs", msg, target, opts)
	a.l.rec.add(c)
	out := os.NewFile(uintptr(fd), "logs")
	a.l.mu.Lock()
	f := a.l.logs
	a.l.mu.Unlock()
	if f != nil {
		return f(c, out)
	}
	out.Close()
	return nil
}

func (a launcherAPI) Offers(msg dbus.Message) ([]launcher.Offer, *dbus.Error) {
	a.l.rec.add(call("Offers", msg, "", nil))
	a.l.mu.Lock()
	defer a.l.mu.Unlock()
	return append([]launcher.Offer{}, a.l.offers...), nil
}

func (a launcherAPI) AddApp(msg dbus.Message, image, desktopFile string) (string, *dbus.Error) {
	c := call("AddApp", msg, image+"/"+desktopFile, nil)
	a.l.rec.add(c)
	a.l.mu.Lock()
	f := a.l.addApp
	a.l.mu.Unlock()
	if f != nil {
		return f(c)
	}
	return strings.TrimSuffix(desktopFile, ".desktop"), nil
}
