// Package systemd talks to the system manager (org.freedesktop.systemd1):
// starting transient units and waiting for their start jobs, stopping
// units, and asking whether one is loaded.
package systemd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/nameowner"
)

const (
	busName   = "org.freedesktop.systemd1"
	objPath   = "/org/freedesktop/systemd1"
	managerIf = "org.freedesktop.systemd1.Manager"

	errNoSuchUnit = "org.freedesktop.systemd1.NoSuchUnit"
	errUnitExists = "org.freedesktop.systemd1.UnitExists"
	errNoFile     = "org.freedesktop.DBus.Error.FileNotFound"
	errAccessDn   = "org.freedesktop.DBus.Error.AccessDenied"
	errInteract   = "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"
)

// Sentinel errors for the D-Bus errors callers act on.
var (
	ErrNoSuchUnit = errors.New("no such unit")
	ErrUnitExists = errors.New("unit exists")
	ErrJobFailed  = errors.New("job failed")
	// ErrNoUnitFile: no unit file of that name (GetUnitFileState).
	ErrNoUnitFile = errors.New("no such unit file")
	// ErrAccessDenied: polkit said no (an administrator is needed and no
	// agent asked for the password, or it was refused).
	ErrAccessDenied = errors.New("access denied")
)

// Property is one unit property of StartTransientUnit.
type Property struct {
	Name  string
	Value dbus.Variant
}

// Prop is shorthand for a Property.
func Prop(name string, value any) Property { return Property{name, dbus.MakeVariant(value)} }

// ExecProp is an Exec* property (ExecStart, ExecStopPost) whose commands
// reach their programs byte for byte: systemd expands $NAME, ${NAME} and
// $$ in each argument (a '$' must be written "$$"), even in a transient
// unit's argv, so every '$' is doubled here.
func ExecProp(name string, cmds ...ExecCommand) Property {
	out := make([]ExecCommand, len(cmds))
	for i, c := range cmds {
		argv := make([]string, len(c.Argv))
		for j, a := range c.Argv {
			argv[j] = strings.ReplaceAll(a, "$", "$$")
		}
		out[i] = ExecCommand{Path: c.Path, Argv: argv, IgnoreFailure: c.IgnoreFailure}
	}
	return Prop(name, out)
}

// ExecCommand is one entry of ExecStart= and friends: a path and the full
// argv (argv[0] included), never a shell string.
type ExecCommand struct {
	Path          string
	Argv          []string
	IgnoreFailure bool
}

// Manager wraps a system bus connection of its own: it takes over the
// connection's signal channel to follow jobs and units.
type Manager struct {
	conn *dbus.Conn

	// owner is systemd's unique name: only its signals count.
	owner *nameowner.Owner
	mu    sync.Mutex
	jobs  map[dbus.ObjectPath]chan string // job -> result
	// followers are the channels of Follow (units.go).
	followers []*follower
	// early keeps the results of jobs nobody waits for yet while
	// inflight calls that queue jobs are under way (units.go).
	early    map[dbus.ObjectPath]string
	inflight int
	// watched are the units of WatchUnit (units.go).
	watched map[string]bool
}

// New returns a Manager using conn (the system bus).
func New(conn *dbus.Conn) *Manager {
	return &Manager{conn: conn, owner: nameowner.New(busName), jobs: map[dbus.ObjectPath]chan string{},
		early: map[dbus.ObjectPath]string{}}
}

// Subscribe starts following jobs; StartTransientUnit needs it. Call it once. Signals count only when systemd sent
// them: any user may send a JobRemoved, to everyone or to us alone.
func (m *Manager) Subscribe(ctx context.Context) error {
	conn := m.conn
	ch := make(chan *dbus.Signal, 64)
	conn.Signal(ch)
	if err := m.owner.Follow(ctx, conn); err != nil {
		conn.RemoveSignal(ch)
		return fmt.Errorf("systemd: %w", err)
	}
	if err := conn.AddMatchSignalContext(ctx, dbus.WithMatchInterface(managerIf), dbus.WithMatchMember("JobRemoved"),
		dbus.WithMatchSender(busName)); err != nil {
		conn.RemoveSignal(ch)
		return fmt.Errorf("systemd: match JobRemoved: %w", err)
	}
	// Without Subscribe, systemd does not emit JobRemoved to us.
	if err := conn.Object(busName, objPath).CallWithContext(ctx, managerIf+".Subscribe", 0).Store(); err != nil {
		conn.RemoveSignal(ch)
		return fmt.Errorf("systemd: subscribe: %w", err)
	}
	go m.dispatch(ch)
	return nil
}

// StopUnit asks systemd to stop unit without waiting for it.
func (m *Manager) StopUnit(ctx context.Context, unit string) error {
	var job dbus.ObjectPath
	if err := m.conn.Object(busName, objPath).CallWithContext(ctx, managerIf+".StopUnit", 0, unit, "replace").Store(&job); err != nil {
		return fmt.Errorf("systemd: stop %s: %w", unit, mapError(err))
	}
	return nil
}

func (m *Manager) dispatch(ch chan *dbus.Signal) {
	for sig := range ch {
		if m.owner.Update(sig) {
			// systemd itself restarted (or went): what followers know is stale.
			m.notify("")
			continue
		}
		if !m.owner.Is(sig.Sender) {
			continue
		}
		switch sig.Name {
		case managerIf + ".JobRemoved":
			var id uint32
			var job dbus.ObjectPath
			var unit, result string
			if dbus.Store(sig.Body, &id, &job, &unit, &result) != nil {
				continue
			}
			m.mu.Lock()
			if c, ok := m.jobs[job]; ok {
				c <- result
				delete(m.jobs, job)
			} else if m.inflight > 0 {
				m.early[job] = result
			}
			m.mu.Unlock()
			m.notify(unit)
		case managerIf + ".UnitFilesChanged", managerIf + ".Reloading":
			m.notify("")
		case propsIf + ".PropertiesChanged":
			if unit := unitOfPath(sig.Path); unit != "" {
				m.notify(unit)
			}
		}
	}
	m.closeFollowers()
}

// StartTransientUnit starts a transient unit (mode "fail") and waits for its
// start job: for a Type=notify service, until it reported READY=1.
func (m *Manager) StartTransientUnit(ctx context.Context, name string, props []Property) error {
	// The job may finish before StartTransientUnit returns: hold the lock so
	// dispatch cannot miss it, and register the job under it.
	done := make(chan string, 1)
	m.mu.Lock()
	var job dbus.ObjectPath
	err := m.conn.Object(busName, objPath).CallWithContext(ctx, managerIf+".StartTransientUnit", 0,
		name, "fail", props, []struct {
			Name  string
			Props []Property
		}{}).Store(&job)
	if err != nil {
		m.mu.Unlock()
		return fmt.Errorf("systemd: start %s: %w", name, mapError(err))
	}
	m.jobs[job] = done
	m.mu.Unlock()

	select {
	case result := <-done:
		if result != "done" {
			return fmt.Errorf("systemd: start %s: %w: %s", name, ErrJobFailed, result)
		}
		return nil
	case <-ctx.Done():
		m.mu.Lock()
		delete(m.jobs, job)
		m.mu.Unlock()
		return fmt.Errorf("systemd: start %s: %w", name, ctx.Err())
	}
}

// Loaded reports whether systemd has unit loaded (an error counts as yes:
// callers use it to tell leftovers, and must not drop a live one).
func (m *Manager) Loaded(ctx context.Context, unit string) bool {
	var path dbus.ObjectPath
	err := m.conn.Object(busName, objPath).CallWithContext(ctx, managerIf+".GetUnit", 0, unit).Store(&path)
	return !errors.Is(mapError(err), ErrNoSuchUnit)
}

func mapError(err error) error {
	var e dbus.Error
	if errors.As(err, &e) {
		switch e.Name {
		case errNoSuchUnit:
			return fmt.Errorf("%w: %w", ErrNoSuchUnit, err)
		case errUnitExists:
			return fmt.Errorf("%w: %w", ErrUnitExists, err)
		case errNoFile:
			return fmt.Errorf("%w: %w", ErrNoUnitFile, err)
		case errAccessDn, errInteract:
			return fmt.Errorf("%w: %w", ErrAccessDenied, err)
		}
	}
	return err
}
