package bustest

import (
	"slices"
	"sync"
	"testing"

	"github.com/godbus/dbus/v5"
)

const (
	machinedName = "org.freedesktop.machine1"
	machinedPath = dbus.ObjectPath("/org/freedesktop/machine1")
	machinedIf   = "org.freedesktop.machine1.Manager"
	machineIf    = "org.freedesktop.machine1.Machine"
)

// Machine is one machine of the fake machined.
type Machine struct {
	Name, Class, Service, Unit, RootDirectory, State string
	Leader                                           uint32
	Timestamp                                        uint64
}

// Terminate is one TerminateMachine call.
type Terminate struct {
	Name string
	// Interactive is the ALLOW_INTERACTIVE_AUTHORIZATION flag.
	Interactive bool
	Sender      string
}

// Machined fakes org.freedesktop.machine1: ListMachines (with ".host"),
// GetMachine, the machines' properties, TerminateMachine, the
// MachineNew/MachineRemoved signals, and ListImages and RemoveImage
// (images.go).
type Machined struct {
	conn         *dbus.Conn
	mu           sync.Mutex
	machines     []Machine
	terminateErr *dbus.Error
	rec          recorder[Terminate]
	images       machinedImages  // images.go
	running      machinedRunning // running.go
}

// NewMachined exports the fake on conn as org.freedesktop.machine1.
func NewMachined(t testing.TB, conn *dbus.Conn) *Machined {
	t.Helper()
	m := &Machined{conn: conn}
	if err := conn.Export(machinedManager{m}, machinedPath, machinedIf); err != nil {
		t.Fatal(err)
	}
	own(t, conn, machinedName)
	return m
}

// MachinePath is the object path of machine name.
func MachinePath(name string) dbus.ObjectPath {
	return dbus.ObjectPath("/org/freedesktop/machine1/machine/" + Escape(name))
}

// Add registers mc and emits MachineNew.
func (m *Machined) Add(mc Machine) {
	if mc.Class == "" {
		mc.Class = "container"
	}
	if mc.State == "" {
		mc.State = "running"
	}
	m.mu.Lock()
	m.machines = append(m.machines, mc)
	m.mu.Unlock()
	path := MachinePath(mc.Name)
	m.conn.Export(machineProps{m, mc.Name}, path, "org.freedesktop.DBus.Properties")
	m.conn.Emit(machinedPath, machinedIf+".MachineNew", mc.Name, path)
}

// Remove unregisters name and emits MachineRemoved; false if it was not there.
func (m *Machined) Remove(name string) bool {
	m.mu.Lock()
	i := slices.IndexFunc(m.machines, func(mc Machine) bool { return mc.Name == name })
	if i >= 0 {
		m.machines = slices.Delete(m.machines, i, i+1)
	}
	m.mu.Unlock()
	if i < 0 {
		return false
	}
	path := MachinePath(name)
	m.conn.Export(nil, path, "org.freedesktop.DBus.Properties")
	m.conn.Emit(machinedPath, machinedIf+".MachineRemoved", name, path)
	return true
}

// Names are the registered machines.
func (m *Machined) Names() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, mc := range m.machines {
		out = append(out, mc.Name)
	}
	return out
}

// FailTerminate makes TerminateMachine fail with err (nil: succeed again).
func (m *Machined) FailTerminate(err *dbus.Error) {
	m.mu.Lock()
	m.terminateErr = err
	m.mu.Unlock()
}

// Terminated are the TerminateMachine calls so far.
func (m *Machined) Terminated() []Terminate { return m.rec.all() }

func (m *Machined) get(name string) (Machine, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, mc := range m.machines {
		if mc.Name == name {
			return mc, true
		}
	}
	return Machine{}, false
}

func noSuchMachine(name string) *dbus.Error {
	return dbus.NewError("org.freedesktop.machine1.NoSuchMachine", []any{"No machine '" + name + "' known"})
}

type machinedManager struct{ m *Machined }

type machineEntry struct {
	Name, Class, Service string
	Path                 dbus.ObjectPath
}

func (mm machinedManager) ListMachines() ([]machineEntry, *dbus.Error) {
	out := []machineEntry{{".host", "host", "", "/org/freedesktop/machine1/machine/_2ehost"}}
	mm.m.mu.Lock()
	defer mm.m.mu.Unlock()
	for _, mc := range mm.m.machines {
		out = append(out, machineEntry{mc.Name, mc.Class, mc.Service, MachinePath(mc.Name)})
	}
	return out, nil
}

func (mm machinedManager) GetMachine(name string) (dbus.ObjectPath, *dbus.Error) {
	if _, ok := mm.m.get(name); !ok {
		return "", noSuchMachine(name)
	}
	return MachinePath(name), nil
}

func (mm machinedManager) TerminateMachine(msg dbus.Message, name string) *dbus.Error {
	sender, _ := msg.Headers[dbus.FieldSender].Value().(string)
	mm.m.rec.add(Terminate{Name: name, Interactive: msg.Flags&dbus.FlagAllowInteractiveAuthorization != 0, Sender: sender})
	mm.m.mu.Lock()
	err := mm.m.terminateErr
	mm.m.mu.Unlock()
	if err != nil {
		return err
	}
	if !mm.m.Remove(name) {
		return noSuchMachine(name)
	}
	return nil
}

type machineProps struct {
	m    *Machined
	name string
}

func (p machineProps) GetAll(iface string) (map[string]dbus.Variant, *dbus.Error) {
	mc, ok := p.m.get(p.name)
	if !ok || iface != machineIf {
		return nil, noSuchMachine(p.name)
	}
	return map[string]dbus.Variant{
		"Name": dbus.MakeVariant(mc.Name), "Class": dbus.MakeVariant(mc.Class), "Service": dbus.MakeVariant(mc.Service),
		"Unit": dbus.MakeVariant(mc.Unit), "RootDirectory": dbus.MakeVariant(mc.RootDirectory),
		"State": dbus.MakeVariant(mc.State), "Leader": dbus.MakeVariant(mc.Leader), "Timestamp": dbus.MakeVariant(mc.Timestamp),
	}, nil
}

func (p machineProps) Get(iface, prop string) (dbus.Variant, *dbus.Error) {
	all, err := p.GetAll(iface)
	if err != nil {
		return dbus.Variant{}, err
	}
	v, ok := all[prop]
	if !ok {
		return dbus.Variant{}, dbus.NewError("org.freedesktop.DBus.Error.UnknownProperty", []any{prop})
	}
	return v, nil
}
