package bustest

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"
)

const (
	systemdName = "org.freedesktop.systemd1"
	systemdPath = dbus.ObjectPath("/org/freedesktop/systemd1")
	managerIf   = "org.freedesktop.systemd1.Manager"
	unitIf      = "org.freedesktop.systemd1.Unit"
	serviceIf   = "org.freedesktop.systemd1.Service"
)

// Unit is one transient unit of the fake systemd.
type Unit struct {
	Name  string
	Props map[string]dbus.Variant
	// ActiveState is "active", "inactive" or "failed".
	ActiveState    string
	ExecMainCode   int32
	ExecMainStatus int32
	// Refs counts AddRef=true less Unref calls.
	Refs int
	// Result, the numbers and the cgroup are what UnitStatus reads
	// (unitfiles.go); the numbers are NoValue unless SetStats set them.
	Result                      string
	MemoryCurrent, CPUUsageNSec uint64
	TasksCurrent                uint64
	ControlGroup                string
	ActiveEnter, InactiveEnter  uint64
}

// Argv is the argv of the first command of an Exec* property (ExecStart,
// ExecStopPost), nil when the unit has none.
func (u Unit) Argv(prop string) []string {
	cmds, ok := u.Props[prop].Value().([][]any)
	if !ok || len(cmds) == 0 || len(cmds[0]) < 2 {
		return nil
	}
	argv, _ := cmds[0][1].([]string)
	return argv
}

// Systemd fakes the transient-unit part of org.freedesktop.systemd1:
// Subscribe, StartTransientUnit (with JobRemoved), StopUnit, GetUnit, the
// units' Unref and properties, and PropertiesChanged when a unit ends. A
// unit with CollectMode=inactive-or-failed goes away when it ends, unless
// a reference (AddRef) holds it.
type Systemd struct {
	conn    *dbus.Conn
	mu      sync.Mutex
	units   map[string]*Unit
	jobs    uint32
	onStart func(Unit) (result string, err *dbus.Error)
	onEnd   func(Unit)
	posts   sync.WaitGroup // OnEnd hooks to run or running
	started recorder[Unit]
	stopped recorder[string]
	unrefs  recorder[string]
	subs    recorder[string]
	files   unitFiles // unitfiles.go
}

// NewSystemd exports the fake on conn as org.freedesktop.systemd1.
func NewSystemd(t testing.TB, conn *dbus.Conn) *Systemd {
	t.Helper()
	s := &Systemd{conn: conn, units: map[string]*Unit{}}
	if err := conn.Export(systemdManager{s}, systemdPath, managerIf); err != nil {
		t.Fatal(err)
	}
	own(t, conn, systemdName)
	return s
}

// UnitPath is the object path of unit name.
func UnitPath(name string) dbus.ObjectPath {
	return dbus.ObjectPath("/org/freedesktop/systemd1/unit/" + Escape(name))
}

// OnStart decides how each StartTransientUnit goes: its job result ("done",
// "failed", ...) or an error answered instead. The default starts every
// unit ("done").
func (s *Systemd) OnStart(f func(Unit) (result string, err *dbus.Error)) {
	s.mu.Lock()
	s.onStart = f
	s.mu.Unlock()
}

// OnEnd is called (in a goroutine of its own) whenever a unit ends: it
// failed to start, its main process exited (Exit) or it was stopped. Tests
// run what the unit's ExecStopPost would run there.
func (s *Systemd) OnEnd(f func(Unit)) {
	s.mu.Lock()
	s.onEnd = f
	s.mu.Unlock()
}

// ended closes the descriptors the unit was given (StandardOutput…, as
// systemd does once a unit is gone) and calls the OnEnd hook. s.mu is held.
func (s *Systemd) ended(u *Unit) {
	post := s.endedPost(u)
	go post()
}

// endedPost is ended, but returns the OnEnd hook's run for the caller to
// do (a no-op without a hook). s.mu is held.
func (s *Systemd) endedPost(u *Unit) func() {
	// Copies of u handed to hooks share its map: change a map of its own.
	u.Props = maps.Clone(u.Props)
	for k, v := range u.Props {
		if fd, ok := v.Value().(dbus.UnixFD); ok {
			// Once: a unit may end twice here (Exit, then StopUnit), and a
			// number closed twice may be someone else's file by then.
			unix.Close(int(fd))
			delete(u.Props, k)
		}
	}
	if f := s.onEnd; f != nil {
		c := *u
		s.posts.Add(1)
		return func() { defer s.posts.Done(); f(c) }
	}
	return func() {}
}

// Settle waits until the OnEnd hooks of the units that ended so far have
// run, and Exit's units have reached their final state.
func (s *Systemd) Settle() { s.posts.Wait() }

// Started are the units StartTransientUnit was asked for, in order.
func (s *Systemd) Started() []Unit { return s.started.all() }

// Stopped are the StopUnit calls' unit names.
func (s *Systemd) Stopped() []string { return s.stopped.all() }

// Unrefs are the units Unref was called on.
func (s *Systemd) Unrefs() []string { return s.unrefs.all() }

// Subscribers are the senders that called Subscribe.
func (s *Systemd) Subscribers() []string { return s.subs.all() }

// Loaded reports whether unit is still loaded, and returns it.
func (s *Systemd) Loaded(name string) (Unit, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.units[name]
	if !ok {
		return Unit{}, false
	}
	return *u, true
}

// LoadedNames are the names of the loaded units, sorted.
func (s *Systemd) LoadedNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for n := range s.units {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Exit ends unit's main process with code (CLD_EXITED 1, CLD_KILLED 2) and
// status, as systemd sees it: the unit is "deactivating" (with its
// ExecMain* properties) while the OnEnd hook runs, as systemd runs
// ExecStopPost, then inactive or failed, and collected as its CollectMode
// says. Each state change emits PropertiesChanged. Exit returns at once.
func (s *Systemd) Exit(name string, code, status int32) error {
	s.mu.Lock()
	u, ok := s.units[name]
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("no unit %s", name)
	}
	u.ExecMainCode, u.ExecMainStatus = code, status
	u.ActiveState = "deactivating"
	final := "inactive"
	if code != 1 || status != 0 {
		final = "failed"
	}
	post := s.endedPost(u)
	s.posts.Add(1)
	s.mu.Unlock()
	err := s.changed(name, "deactivating")
	go func() {
		defer s.posts.Done()
		post()
		s.mu.Lock()
		u, ok := s.units[name]
		if ok {
			u.ActiveState = final
			s.collect(u)
		}
		s.mu.Unlock()
		if ok {
			s.changed(name, final)
		}
	}()
	return err
}

func (s *Systemd) changed(name, state string) error {
	return s.conn.Emit(UnitPath(name), "org.freedesktop.DBus.Properties.PropertiesChanged", unitIf,
		map[string]dbus.Variant{"ActiveState": dbus.MakeVariant(state)}, []string{})
}

// collect drops u when it ended, is collected when inactive or failed,
// and no reference holds it. s.mu is held.
func (s *Systemd) collect(u *Unit) {
	if u.Refs > 0 || u.ActiveState == "active" || u.ActiveState == "deactivating" {
		return
	}
	if mode, _ := u.Props["CollectMode"].Value().(string); mode != "inactive-or-failed" && u.ActiveState == "failed" {
		return
	}
	delete(s.units, u.Name)
	s.conn.Export(nil, UnitPath(u.Name), unitIf)
	s.conn.Export(nil, UnitPath(u.Name), "org.freedesktop.DBus.Properties")
}

func noSuchUnit(name string) *dbus.Error {
	return dbus.NewError("org.freedesktop.systemd1.NoSuchUnit", []any{"Unit " + name + " not loaded."})
}

// job emits JobRemoved for a new job of unit with result, after the reply
// that returns the job's path has gone out.
func (s *Systemd) job(unit, result string) dbus.ObjectPath {
	s.jobs++
	id := s.jobs
	path := dbus.ObjectPath(fmt.Sprintf("/org/freedesktop/systemd1/job/%d", id))
	go func() {
		time.Sleep(2 * time.Millisecond)
		s.conn.Emit(systemdPath, managerIf+".JobRemoved", id, path, unit, result)
	}()
	return path
}

type systemdManager struct{ s *Systemd }

type property struct {
	Name  string
	Value dbus.Variant
}

type auxUnit struct {
	Name  string
	Props []property
}

func (m systemdManager) Subscribe(sender dbus.Sender) *dbus.Error {
	m.s.subs.add(string(sender))
	return nil
}

func (m systemdManager) StartTransientUnit(name, mode string, props []property, aux []auxUnit) (dbus.ObjectPath, *dbus.Error) {
	s := m.s
	u := &Unit{Name: name, Props: map[string]dbus.Variant{}, ActiveState: "active"}
	for _, p := range props {
		u.Props[p.Name] = p.Value
	}
	if ref, _ := u.Props["AddRef"].Value().(bool); ref {
		u.Refs = 1
	}
	s.started.add(*u)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.units[name]; ok {
		return "", dbus.NewError("org.freedesktop.systemd1.UnitExists", []any{"Unit " + name + " was already loaded or has a fragment file."})
	}
	result := "done"
	if s.onStart != nil {
		var err *dbus.Error
		s.mu.Unlock()
		result, err = s.onStart(*u)
		s.mu.Lock()
		if err != nil {
			return "", err
		}
	}
	s.units[name] = u
	s.conn.Export(unitObject{s, name}, UnitPath(name), unitIf)
	s.conn.Export(unitProps{s, name}, UnitPath(name), "org.freedesktop.DBus.Properties")
	if result != "done" {
		u.ActiveState = "failed"
		u.ExecMainCode, u.ExecMainStatus = 1, 1
		s.ended(u)
		s.collect(u)
	}
	return s.job(name, result), nil
}

func (m systemdManager) StopUnit(msg dbus.Message, name, mode string) (dbus.ObjectPath, *dbus.Error) {
	s := m.s
	s.stopped.add(name)
	if err := s.called(msg, "StopUnit", name); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.units[name]
	if !ok {
		return "", noSuchUnit(name)
	}
	if u.ActiveState == "active" {
		u.ActiveState, u.ExecMainCode, u.ExecMainStatus = "inactive", 2, 15
		s.ended(u)
	}
	s.collect(u)
	return s.job(name, "done"), nil
}

func (m systemdManager) GetUnit(name string) (dbus.ObjectPath, *dbus.Error) {
	if _, ok := m.s.Loaded(name); !ok {
		return "", noSuchUnit(name)
	}
	return UnitPath(name), nil
}

type unitObject struct {
	s    *Systemd
	name string
}

func (o unitObject) Unref() *dbus.Error {
	o.s.unrefs.add(o.name)
	o.s.mu.Lock()
	defer o.s.mu.Unlock()
	u, ok := o.s.units[o.name]
	if !ok {
		return noSuchUnit(o.name)
	}
	if u.Refs > 0 {
		u.Refs--
	}
	o.s.collect(u)
	return nil
}

type unitProps struct {
	s    *Systemd
	name string
}

func (p unitProps) Get(iface, prop string) (dbus.Variant, *dbus.Error) {
	u, ok := p.s.Loaded(p.name)
	if !ok {
		return dbus.Variant{}, noSuchUnit(p.name)
	}
	switch iface + "." + prop {
	case unitIf + ".ActiveState":
		return dbus.MakeVariant(u.ActiveState), nil
	case serviceIf + ".ExecMainCode":
		return dbus.MakeVariant(u.ExecMainCode), nil
	case serviceIf + ".ExecMainStatus":
		return dbus.MakeVariant(u.ExecMainStatus), nil
	}
	return dbus.Variant{}, dbus.NewError("org.freedesktop.DBus.Error.UnknownProperty", []any{iface + "." + prop})
}
