package machined

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/nameowner"
	"github.com/nspawn-tray/nspawn-tray/polkit"
)

// What machinectl poweroff, status and list do with a running machine, and
// where an image is. None but PowerOff needs authorization.

const imageIf = "org.freedesktop.machine1.Image"

// sigPowerOff is SIGRTMIN+4 as glibc numbers it (34+4): systemd powers off
// on it, as machinectl poweroff sends it.
const sigPowerOff = 38

// PowerOff asks the machine's init to shut down (machinectl poweroff: the
// leader gets SIGRTMIN+4) and returns without waiting; WaitGone waits.
// machined asks polkit (org.freedesktop.machine1.manage-machines, verb
// "kill") for callers other than root, so the call lets polkit ask for a
// password.
func (m *Manager) PowerOff(ctx context.Context, name string) error {
	_, err := polkit.CallInteractive(ctx, m.conn, busName, objPath, managerIf+".KillMachine", name, "leader", int32(sigPowerOff))
	if err != nil {
		return fmt.Errorf("machined: power off %q: %w", name, mapError(err))
	}
	return nil
}

// WaitGone returns once no machine called name is registered: at once if
// none is, else at its MachineRemoved (machined's own), or when machined
// goes away. It adds a signal channel to the connection for the wait.
func (m *Manager) WaitGone(ctx context.Context, name string) error {
	sigs := make(chan *dbus.Signal, 8)
	m.conn.Signal(sigs)
	defer m.conn.RemoveSignal(sigs)
	owner := nameowner.New(busName)
	if err := owner.Follow(ctx, m.conn); err != nil {
		return fmt.Errorf("machined: wait for %q: %w", name, err)
	}
	// A tray stops many machines over its life: its match rules must not
	// pile up (the bus limits them per connection).
	defer owner.Unfollow(m.conn)
	match := []dbus.MatchOption{dbus.WithMatchSender(busName), dbus.WithMatchInterface(managerIf),
		dbus.WithMatchMember("MachineRemoved"), dbus.WithMatchArg(0, name)}
	if err := m.conn.AddMatchSignalContext(ctx, match...); err != nil {
		return fmt.Errorf("machined: wait for %q: %w", name, err)
	}
	defer m.conn.RemoveMatchSignal(match...)
	// Asked after the match is in place, so a removal in between is seen;
	// and again when machined restarted (it keeps its machines).
	gone := func() (bool, error) {
		var path dbus.ObjectPath
		err := m.conn.Object(busName, objPath).CallWithContext(ctx, managerIf+".GetMachine", 0, name).Store(&path)
		if errors.Is(mapError(err), ErrNoSuchMachine) {
			return true, nil
		}
		if err != nil {
			return false, fmt.Errorf("machined: wait for %q: %w", name, mapError(err))
		}
		return false, nil
	}
	if g, err := gone(); g || err != nil {
		return err
	}
	for {
		select {
		case s, ok := <-sigs:
			if !ok {
				return fmt.Errorf("machined: wait for %q: the connection closed", name)
			}
			if owner.Update(s) {
				if owner.Current() == "" {
					continue // the next one answers
				}
				if g, err := gone(); g || err != nil {
					return err
				}
				continue
			}
			var removed string
			if owner.Is(s.Sender) && s.Name == managerIf+".MachineRemoved" && len(s.Body) > 0 &&
				dbus.Store(s.Body[:1], &removed) == nil && removed == name {
				return nil
			}
		case <-ctx.Done():
			return fmt.Errorf("machined: wait for %q: %w", name, ctx.Err())
		}
	}
}

// OSRelease is the running machine's os-release fields (NAME, PRETTY_NAME,
// VERSION_ID, ...).
func (m *Manager) OSRelease(ctx context.Context, name string) (map[string]string, error) {
	var out map[string]string
	err := m.conn.Object(busName, objPath).CallWithContext(ctx, managerIf+".GetMachineOSRelease", 0, name).Store(&out)
	if err != nil {
		return nil, fmt.Errorf("machined: os-release of %q: %w", name, mapError(err))
	}
	return out, nil
}

// Addresses are the running machine's IP addresses. A machine on the
// host's network has none of its own: machined says so, and this is nil
// without an error.
func (m *Manager) Addresses(ctx context.Context, name string) ([]netip.Addr, error) {
	var raw []struct {
		Family int32
		Addr   []byte
	}
	err := m.conn.Object(busName, objPath).CallWithContext(ctx, managerIf+".GetMachineAddresses", 0, name).Store(&raw)
	var e dbus.Error
	if errors.As(err, &e) && e.Name == "org.freedesktop.DBus.Error.NotSupported" {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("machined: addresses of %q: %w", name, mapError(err))
	}
	var out []netip.Addr
	for _, a := range raw {
		if ip, ok := netip.AddrFromSlice(a.Addr); ok {
			out = append(out, ip.Unmap())
		}
	}
	return out, nil
}

// ImagePath is where the image called name is: a directory, or a raw
// image's file.
func (m *Manager) ImagePath(ctx context.Context, name string) (string, error) {
	var path dbus.ObjectPath
	err := m.conn.Object(busName, objPath).CallWithContext(ctx, managerIf+".GetImage", 0, name).Store(&path)
	if err != nil {
		return "", fmt.Errorf("machined: image %q: %w", name, mapError(err))
	}
	var v dbus.Variant
	err = m.conn.Object(busName, path).CallWithContext(ctx, "org.freedesktop.DBus.Properties.Get", 0, imageIf, "Path").Store(&v)
	if err != nil {
		return "", fmt.Errorf("machined: path of image %q: %w", name, mapError(err))
	}
	p, ok := v.Value().(string)
	if !ok {
		return "", fmt.Errorf("machined: path of image %q: a %s, not a string", name, v.Signature())
	}
	return p, nil
}
