// Package machined talks to systemd-machined (org.freedesktop.machine1): the
// registry of running containers that machinectl shows.
package machined

import (
	"context"
	"errors"
	"fmt"

	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/nameowner"
	"github.com/nspawn-tray/nspawn-tray/polkit"
)

const (
	busName     = "org.freedesktop.machine1"
	objPath     = "/org/freedesktop/machine1"
	managerIf   = "org.freedesktop.machine1.Manager"
	machineIf   = "org.freedesktop.machine1.Machine"
	errNoSuch   = "org.freedesktop.machine1.NoSuchMachine"
	errAccessDn = "org.freedesktop.DBus.Error.AccessDenied"
	errInteract = "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"
)

// The errors of images.
const (
	errNoImage = "org.freedesktop.machine1.NoSuchImage"
	// sd-bus's name for an EBUSY: an image a running machine holds.
	errBusy = "System.Error.EBUSY"
)

// Sentinel errors for the D-Bus errors callers act on.
var (
	ErrNoSuchMachine = errors.New("no such machine")
	ErrAccessDenied  = errors.New("access denied")
)

// Sentinel errors of images.
var (
	ErrNoSuchImage = errors.New("no such image")
	// ErrBusy: a running machine holds the image (nspawn locks it).
	ErrBusy = errors.New("image in use")
)

// Manager wraps a system bus connection.
type Manager struct {
	conn *dbus.Conn
}

// New returns a Manager using conn (the system bus).
func New(conn *dbus.Conn) *Manager { return &Manager{conn: conn} }

// Machine is one entry of ListMachines.
type Machine struct {
	Name    string
	Class   string
	Service string
	Path    dbus.ObjectPath
}

// List returns the registered machines, the host itself (".host") included.
func (m *Manager) List(ctx context.Context) ([]Machine, error) {
	var ms []Machine
	err := m.conn.Object(busName, objPath).CallWithContext(ctx, managerIf+".ListMachines", 0).Store(&ms)
	if err != nil {
		return nil, fmt.Errorf("machined: list machines: %w", mapError(err))
	}
	return ms, nil
}

// Details are a machine's properties.
type Details struct {
	Name          string
	Class         string
	Service       string
	Unit          string
	RootDirectory string
	State         string
	Leader        uint32
	// Timestamp is the registration time, µs since the epoch.
	Timestamp uint64
}

// Get returns the properties of the machine called name.
func (m *Manager) Get(ctx context.Context, name string) (Details, error) {
	var path dbus.ObjectPath
	err := m.conn.Object(busName, objPath).CallWithContext(ctx, managerIf+".GetMachine", 0, name).Store(&path)
	if err != nil {
		return Details{}, fmt.Errorf("machined: get %q: %w", name, mapError(err))
	}
	var props map[string]dbus.Variant
	err = m.conn.Object(busName, path).CallWithContext(ctx, "org.freedesktop.DBus.Properties.GetAll", 0, machineIf).Store(&props)
	if err != nil {
		return Details{}, fmt.Errorf("machined: properties of %q: %w", name, mapError(err))
	}
	var d Details
	for key, dst := range map[string]any{
		"Name": &d.Name, "Class": &d.Class, "Service": &d.Service, "Unit": &d.Unit,
		"RootDirectory": &d.RootDirectory, "State": &d.State, "Leader": &d.Leader, "Timestamp": &d.Timestamp,
	} {
		if v, ok := props[key]; ok {
			if err := v.Store(dst); err != nil {
				return Details{}, fmt.Errorf("machined: property %s of %q: %w", key, name, err)
			}
		}
	}
	return d, nil
}

// Terminate kills all processes of the machine (machined checks polkit
// itself when the caller is not root).
func (m *Manager) Terminate(ctx context.Context, name string) error {
	// An unprivileged caller stopping a machine it did not start: let
	// polkit ask for a password.
	_, err := polkit.CallInteractive(ctx, m.conn, busName, objPath, managerIf+".TerminateMachine", name)
	if err != nil {
		return fmt.Errorf("machined: terminate %q: %w", name, mapError(err))
	}
	return nil
}

// UsageUnknown is an image's Usage when machined does not know it: a
// plain directory outside btrfs quotas.
const UsageUnknown = ^uint64(0)

// Image is one entry of ListImages: what machinectl list-images shows.
type Image struct {
	Name string
	// Type is "directory", "subvolume", "raw" or "block".
	Type     string
	ReadOnly bool
	// Created and Modified are µs since the epoch, 0 when unknown.
	Created  uint64
	Modified uint64
	// Usage is the disk space in bytes, or UsageUnknown.
	Usage uint64
	Path  dbus.ObjectPath
}

// ListImages returns the images machined finds (in /var/lib/machines and
// the other image directories). It needs no authorization.
func (m *Manager) ListImages(ctx context.Context) ([]Image, error) {
	var out []Image
	err := m.conn.Object(busName, objPath).CallWithContext(ctx, managerIf+".ListImages", 0).Store(&out)
	if err != nil {
		return nil, fmt.Errorf("machined: list images: %w", mapError(err))
	}
	return out, nil
}

// RemoveImage removes the image called name. machined asks polkit
// (org.freedesktop.machine1.manage-images, an administrator) for callers
// other than root, so the call lets polkit ask for a password.
func (m *Manager) RemoveImage(ctx context.Context, name string) error {
	_, err := polkit.CallInteractive(ctx, m.conn, busName, objPath, managerIf+".RemoveImage", name)
	if err != nil {
		return fmt.Errorf("machined: remove image %q: %w", name, mapError(err))
	}
	return nil
}

func mapError(err error) error {
	var e dbus.Error
	if errors.As(err, &e) {
		switch e.Name {
		case errNoSuch:
			return fmt.Errorf("%w: %w", ErrNoSuchMachine, err)
		case errNoImage:
			return fmt.Errorf("%w: %w", ErrNoSuchImage, err)
		case errBusy:
			return fmt.Errorf("%w: %w", ErrBusy, err)
		case errAccessDn, errInteract:
			return fmt.Errorf("%w: %w", ErrAccessDenied, err)
		}
	}
	return err
}

// Changes follows machines starting and stopping (MachineNew,
// MachineRemoved) and machined itself restarting, and sends on the returned
// channel after each (coalesced: a pending send is not repeated). Only
// machined's own signals count: any user may send a MachineNew. It takes
// over conn's signal channel: give it a connection of its own.
func (m *Manager) Changes(ctx context.Context) (<-chan struct{}, error) {
	sigs := make(chan *dbus.Signal, 32)
	m.conn.Signal(sigs)
	owner := nameowner.New(busName)
	if err := owner.Follow(ctx, m.conn); err != nil {
		m.conn.RemoveSignal(sigs)
		return nil, fmt.Errorf("machined: follow changes: %w", err)
	}
	for _, member := range []string{"MachineNew", "MachineRemoved"} {
		err := m.conn.AddMatchSignalContext(ctx, dbus.WithMatchSender(busName), dbus.WithMatchInterface(managerIf),
			dbus.WithMatchMember(member))
		if err != nil {
			m.conn.RemoveSignal(sigs)
			return nil, fmt.Errorf("machined: follow changes: %w", err)
		}
	}
	out := make(chan struct{}, 1)
	go func() {
		defer close(out)
		for {
			select {
			case s, ok := <-sigs:
				if !ok || s == nil {
					return
				}
				restarted := owner.Update(s)
				ours := owner.Is(s.Sender) && s.Path == objPath &&
					(s.Name == managerIf+".MachineNew" || s.Name == managerIf+".MachineRemoved")
				if !restarted && !ours {
					continue
				}
				select {
				case out <- struct{}{}:
				default:
				}
			case <-ctx.Done():
				m.conn.RemoveSignal(sigs)
				return
			}
		}
	}()
	return out, nil
}
