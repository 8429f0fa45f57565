package bustest

import (
	"net/netip"
	"sync"

	"github.com/godbus/dbus/v5"
)

// The fake machined's side of machinectl poweroff, status and image paths:
// KillMachine, GetMachineOSRelease, GetMachineAddresses, GetImage and the
// images' Path.

// Kill is one KillMachine call.
type Kill struct {
	Name, Who string
	Signal    int32
	// Interactive is the ALLOW_INTERACTIVE_AUTHORIZATION flag.
	Interactive bool
}

type machinedRunning struct {
	mu          sync.Mutex
	killErr     *dbus.Error
	ignoreKills bool
	osRelease   map[string]map[string]string
	addresses   map[string][]netip.Addr
	imagePaths  map[string]string
	kills       recorder[Kill]
}

// FailKill makes KillMachine fail with err (nil: succeed again).
func (m *Machined) FailKill(err *dbus.Error) {
	m.running.mu.Lock()
	m.running.killErr = err
	m.running.mu.Unlock()
}

// IgnoreKills makes machines outlive KillMachine, as a machine whose init
// does not power off; by default a kill of the leader removes the machine.
func (m *Machined) IgnoreKills(ignore bool) {
	m.running.mu.Lock()
	m.running.ignoreKills = ignore
	m.running.mu.Unlock()
}

// Kills are the KillMachine calls so far.
func (m *Machined) Kills() []Kill { return m.running.kills.all() }

// SetOSRelease gives machine name its os-release.
func (m *Machined) SetOSRelease(name string, fields map[string]string) {
	m.running.mu.Lock()
	defer m.running.mu.Unlock()
	if m.running.osRelease == nil {
		m.running.osRelease = map[string]map[string]string{}
	}
	m.running.osRelease[name] = fields
}

// SetAddresses gives machine name its addresses; without, it is on the
// host's network (NotSupported, as machined says).
func (m *Machined) SetAddresses(name string, addrs ...netip.Addr) {
	m.running.mu.Lock()
	defer m.running.mu.Unlock()
	if m.running.addresses == nil {
		m.running.addresses = map[string][]netip.Addr{}
	}
	m.running.addresses[name] = addrs
}

// SetImagePath makes image name be at path (GetImage and its Path).
func (m *Machined) SetImagePath(name, path string) {
	m.running.mu.Lock()
	if m.running.imagePaths == nil {
		m.running.imagePaths = map[string]string{}
	}
	m.running.imagePaths[name] = path
	m.running.mu.Unlock()
	m.conn.Export(imageProps{m, name}, ImagePath(name), "org.freedesktop.DBus.Properties")
}

func (mm machinedManager) KillMachine(msg dbus.Message, name, who string, signal int32) *dbus.Error {
	r := &mm.m.running
	r.kills.add(Kill{Name: name, Who: who, Signal: signal, Interactive: msg.Flags&dbus.FlagAllowInteractiveAuthorization != 0})
	r.mu.Lock()
	err, ignore := r.killErr, r.ignoreKills
	r.mu.Unlock()
	if err != nil {
		return err
	}
	if _, ok := mm.m.get(name); !ok {
		return noSuchMachine(name)
	}
	if !ignore {
		go mm.m.Remove(name) // after the reply, as a real poweroff takes a while
	}
	return nil
}

func (mm machinedManager) GetMachineOSRelease(name string) (map[string]string, *dbus.Error) {
	if _, ok := mm.m.get(name); !ok {
		return nil, noSuchMachine(name)
	}
	r := &mm.m.running
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]string{}
	for k, v := range r.osRelease[name] {
		out[k] = v
	}
	return out, nil
}

type machineAddress struct {
	Family int32
	Addr   []byte
}

func (mm machinedManager) GetMachineAddresses(name string) ([]machineAddress, *dbus.Error) {
	if _, ok := mm.m.get(name); !ok {
		return nil, noSuchMachine(name)
	}
	r := &mm.m.running
	r.mu.Lock()
	defer r.mu.Unlock()
	addrs, ok := r.addresses[name]
	if !ok {
		return nil, dbus.NewError("org.freedesktop.DBus.Error.NotSupported", []any{"Machine " + name + " does not use private networking"})
	}
	out := []machineAddress{}
	for _, a := range addrs {
		family := int32(2) // AF_INET
		if a.Is6() {
			family = 10
		}
		out = append(out, machineAddress{family, a.AsSlice()})
	}
	return out, nil
}

func (mm machinedManager) GetImage(name string) (dbus.ObjectPath, *dbus.Error) {
	r := &mm.m.running
	r.mu.Lock()
	_, ok := r.imagePaths[name]
	r.mu.Unlock()
	if !ok {
		return "", dbus.NewError("org.freedesktop.machine1.NoSuchImage", []any{"No image '" + name + "' known"})
	}
	return ImagePath(name), nil
}

type imageProps struct {
	m    *Machined
	name string
}

func (p imageProps) Get(iface, prop string) (dbus.Variant, *dbus.Error) {
	r := &p.m.running
	r.mu.Lock()
	path, ok := r.imagePaths[p.name]
	r.mu.Unlock()
	if !ok || iface != "org.freedesktop.machine1.Image" || prop != "Path" {
		return dbus.Variant{}, dbus.NewError("org.freedesktop.DBus.Error.UnknownProperty", []any{iface + "." + prop})
	}
	return dbus.MakeVariant(path), nil
}
