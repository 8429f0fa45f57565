package systemd

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/polkit"
)

// What a user does with units that have unit files, as systemctl does it:
// start and stop them by name, enable and disable them, reload the manager.
// Each call lets systemd's polkit check ask the desktop's agent for a
// password (ALLOW_INTERACTIVE_AUTHORIZATION), so an unprivileged caller has
// exactly the rights systemctl gives it, and root needs no polkit at all.

const (
	unitIf    = "org.freedesktop.systemd1.Unit"
	serviceIf = "org.freedesktop.systemd1.Service"
	propsIf   = "org.freedesktop.DBus.Properties"
)

// StartUnit starts unit (mode "replace", as systemctl start does) and waits
// for its job: for a Type=notify service, until it reported READY=1. A job
// that ends other than "done" is ErrJobFailed with systemd's result
// ("failed", "dependency", "timeout", ...); UnitStatus says why. It needs
// Subscribe.
func (m *Manager) StartUnit(ctx context.Context, unit string) error {
	if err := m.runJob(ctx, "StartUnit", unit); err != nil {
		return fmt.Errorf("systemd: start %s: %w", unit, err)
	}
	return nil
}

// StopUnitAndWait stops unit (mode "replace") and waits for its job. It
// needs Subscribe.
func (m *Manager) StopUnitAndWait(ctx context.Context, unit string) error {
	if err := m.runJob(ctx, "StopUnit", unit); err != nil {
		return fmt.Errorf("systemd: stop %s: %w", unit, err)
	}
	return nil
}

// runJob calls method(unit, "replace") interactively and waits for the job
// it queued. The call may wait for a password for minutes, so m.mu is not
// held across it: a job that ends before the reply names it is kept in
// m.early while any such call is under way.
func (m *Manager) runJob(ctx context.Context, method, unit string) error {
	m.mu.Lock()
	m.inflight++
	m.mu.Unlock()
	call, err := polkit.CallInteractive(ctx, m.conn, busName, objPath, managerIf+"."+method, unit, "replace")
	var job dbus.ObjectPath
	if err == nil {
		err = call.Store(&job)
	}
	done := make(chan string, 1)
	m.mu.Lock()
	m.inflight--
	if err == nil {
		if result, ok := m.early[job]; ok {
			done <- result
		} else {
			m.jobs[job] = done
		}
	}
	if m.inflight == 0 {
		clear(m.early)
	}
	m.mu.Unlock()
	if err != nil {
		return mapError(err)
	}
	select {
	case result := <-done:
		if result != "done" {
			return &JobError{Result: result}
		}
		return nil
	case <-ctx.Done():
		m.mu.Lock()
		delete(m.jobs, job)
		m.mu.Unlock()
		return ctx.Err()
	}
}

// JobError is a job of StartUnit or StopUnitAndWait that ended other than
// "done"; it is ErrJobFailed.
type JobError struct {
	// Result is systemd's: "failed", "dependency", "timeout", "canceled", ...
	Result string
}

func (e *JobError) Error() string        { return ErrJobFailed.Error() + ": " + e.Result }
func (e *JobError) Is(target error) bool { return target == ErrJobFailed }

// UnitFileChange is one change of EnableUnitFiles or DisableUnitFiles:
// Type "symlink" (Filename now points to Destination) or "unlink"
// (Filename is gone).
type UnitFileChange struct {
	Type, Filename, Destination string
}

// EnableUnitFiles enables units in /etc (not at runtime, without forcing),
// as systemctl enable does before its daemon-reload: the symlinks their
// [Install] sections ask for. polkit's action is
// org.freedesktop.systemd1.manage-unit-files, which names no unit.
func (m *Manager) EnableUnitFiles(ctx context.Context, units []string) ([]UnitFileChange, error) {
	call, err := polkit.CallInteractive(ctx, m.conn, busName, objPath, managerIf+".EnableUnitFiles", units, false, false)
	var installInfo bool
	var changes []UnitFileChange
	if err == nil {
		err = call.Store(&installInfo, &changes)
	}
	if err != nil {
		return nil, fmt.Errorf("systemd: enable %v: %w", units, mapError(err))
	}
	return changes, nil
}

// DisableUnitFiles removes the symlinks that enabled units in /etc.
func (m *Manager) DisableUnitFiles(ctx context.Context, units []string) ([]UnitFileChange, error) {
	call, err := polkit.CallInteractive(ctx, m.conn, busName, objPath, managerIf+".DisableUnitFiles", units, false)
	var changes []UnitFileChange
	if err == nil {
		err = call.Store(&changes)
	}
	if err != nil {
		return nil, fmt.Errorf("systemd: disable %v: %w", units, mapError(err))
	}
	return changes, nil
}

// Reload is systemctl daemon-reload: systemd reads the unit files and their
// symlinks again (org.freedesktop.systemd1.reload-daemon).
func (m *Manager) Reload(ctx context.Context) error {
	if _, err := polkit.CallInteractive(ctx, m.conn, busName, objPath, managerIf+".Reload"); err != nil {
		return fmt.Errorf("systemd: reload: %w", mapError(err))
	}
	return nil
}

// UnitFileState is systemctl is-enabled: "enabled", "disabled", "static",
// "masked", ... from the unit files on disk. A unit without a unit file is
// ErrNoUnitFile.
func (m *Manager) UnitFileState(ctx context.Context, unit string) (string, error) {
	var state string
	err := m.conn.Object(busName, objPath).CallWithContext(ctx, managerIf+".GetUnitFileState", 0, unit).Store(&state)
	if err != nil {
		return "", fmt.Errorf("systemd: state of %s: %w", unit, mapError(err))
	}
	return state, nil
}

// NoValue is systemd's number for "not known": MemoryCurrent without
// memory accounting, CPUUsageNSec without CPU accounting.
const NoValue = ^uint64(0)

// UnitStatus is what systemctl status shows of a unit.
type UnitStatus struct {
	Name string
	// Loaded is false when systemd has the unit not loaded: it never ran
	// since the last reload, or it ended and was collected. It is then
	// inactive and the rest is zero, the numbers NoValue.
	Loaded                bool
	ActiveState, SubState string
	// Result is how the unit last ended: "success", "exit-code",
	// "signal", "timeout", "core-dump", "watchdog", "resources", ...
	Result string
	// ExecMainCode and ExecMainStatus are its main process's end (a
	// service's): CLD_EXITED (1) and the exit status, or CLD_KILLED (2)
	// and the signal.
	ExecMainCode, ExecMainStatus int32
	// ActiveEnter and InactiveEnter are when it last became active and
	// inactive, µs since the epoch, 0 for never.
	ActiveEnter, InactiveEnter uint64
	// Memory (bytes), CPU (ns) and Tasks are its cgroup's, NoValue when
	// systemd does not account them on this host.
	Memory, CPU, Tasks uint64
	// ControlGroup is its cgroup, relative to the cgroup root.
	ControlGroup string
}

// UnitStatus returns unit's state. A unit that is not loaded is inactive,
// without an error.
func (m *Manager) UnitStatus(ctx context.Context, unit string) (UnitStatus, error) {
	st := UnitStatus{Name: unit, ActiveState: "inactive", SubState: "dead", Memory: NoValue, CPU: NoValue, Tasks: NoValue}
	var path dbus.ObjectPath
	err := m.conn.Object(busName, objPath).CallWithContext(ctx, managerIf+".GetUnit", 0, unit).Store(&path)
	if errors.Is(mapError(err), ErrNoSuchUnit) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("systemd: status of %s: %w", unit, mapError(err))
	}
	obj := m.conn.Object(busName, path)
	var props map[string]dbus.Variant
	if err := obj.CallWithContext(ctx, propsIf+".GetAll", 0, unitIf).Store(&props); err != nil {
		if errors.Is(mapError(err), ErrNoSuchUnit) {
			return st, nil // collected in between
		}
		return st, fmt.Errorf("systemd: status of %s: %w", unit, mapError(err))
	}
	st.Loaded = true
	fields := map[string]any{
		"ActiveState": &st.ActiveState, "SubState": &st.SubState,
		"ActiveEnterTimestamp": &st.ActiveEnter, "InactiveEnterTimestamp": &st.InactiveEnter,
	}
	if err := storeProps(props, fields); err != nil {
		return st, fmt.Errorf("systemd: status of %s: %w", unit, err)
	}
	// The numbers and the result are on the unit type's own interface.
	typeIf := typeInterface(unit)
	if typeIf == "" {
		return st, nil
	}
	props = nil
	if err := obj.CallWithContext(ctx, propsIf+".GetAll", 0, typeIf).Store(&props); err != nil {
		return st, fmt.Errorf("systemd: status of %s: %w", unit, mapError(err))
	}
	fields = map[string]any{
		"Result": &st.Result, "ExecMainCode": &st.ExecMainCode, "ExecMainStatus": &st.ExecMainStatus,
		"MemoryCurrent": &st.Memory, "CPUUsageNSec": &st.CPU, "TasksCurrent": &st.Tasks, "ControlGroup": &st.ControlGroup,
	}
	if err := storeProps(props, fields); err != nil {
		return st, fmt.Errorf("systemd: status of %s: %w", unit, err)
	}
	return st, nil
}

// typeInterface is the interface of unit's type that holds its cgroup's
// numbers, "" for types without a cgroup.
func typeInterface(unit string) string {
	for _, t := range []struct{ suffix, iface string }{
		{".service", "Service"}, {".scope", "Scope"}, {".slice", "Slice"}, {".socket", "Socket"}, {".mount", "Mount"}, {".swap", "Swap"},
	} {
		if len(unit) > len(t.suffix) && unit[len(unit)-len(t.suffix):] == t.suffix {
			return "org.freedesktop.systemd1." + t.iface
		}
	}
	return ""
}

// storeProps stores the properties named in fields that props has.
func storeProps(props map[string]dbus.Variant, fields map[string]any) error {
	for key, dst := range fields {
		if v, ok := props[key]; ok {
			if err := v.Store(dst); err != nil {
				return fmt.Errorf("property %s: %w", key, err)
			}
		}
	}
	return nil
}

// WatchUnit makes Follow's channels also fire when unit's state changes
// (its PropertiesChanged): a machine that powers off from inside, or fails
// after its start job, ends its unit without a job. Once per unit; the
// match stays until the connection closes.
func (m *Manager) WatchUnit(ctx context.Context, unit string) error {
	m.mu.Lock()
	if m.watched == nil {
		m.watched = map[string]bool{}
	}
	done := m.watched[unit]
	m.watched[unit] = true
	m.mu.Unlock()
	if done {
		return nil
	}
	err := m.conn.AddMatchSignalContext(ctx, dbus.WithMatchSender(busName), dbus.WithMatchInterface(propsIf),
		dbus.WithMatchMember("PropertiesChanged"), dbus.WithMatchObjectPath(unitPath(unit)))
	if err != nil {
		m.mu.Lock()
		delete(m.watched, unit)
		m.mu.Unlock()
		return fmt.Errorf("systemd: watch %s: %w", unit, err)
	}
	return nil
}

// WatchUnitWhile sends on the returned channel when unit's properties
// change or a job of it ends (and when systemd restarted), for as long as
// ctx lasts; then the channel closes and its match rule is removed. A
// daemon that waits for each of many instances must not collect match
// rules: dbus-daemon allows a connection a few hundred. It needs
// Subscribe.
func (m *Manager) WatchUnitWhile(ctx context.Context, unit string) (<-chan struct{}, error) {
	opts := []dbus.MatchOption{dbus.WithMatchSender(busName), dbus.WithMatchInterface(propsIf),
		dbus.WithMatchMember("PropertiesChanged"), dbus.WithMatchObjectPath(unitPath(unit))}
	if err := m.conn.AddMatchSignalContext(ctx, opts...); err != nil {
		return nil, fmt.Errorf("systemd: watch %s: %w", unit, err)
	}
	ch := m.follow(ctx, func(u string) bool { return u == unit })
	go func() {
		<-ctx.Done()
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = m.conn.RemoveMatchSignalContext(rctx, opts...)
	}()
	return ch, nil
}

// MainExit says how unit's main process ended: CLD_EXITED (1) with its
// exit status, CLD_KILLED (2) or CLD_DUMPED (3) with the signal; code 0
// while it runs or before it ran. A unit that is not loaded is ErrNoSuchUnit.
// For a service whose ExecStopPost still runs, this is known before the
// unit is inactive.
func (m *Manager) MainExit(ctx context.Context, unit string) (code, status int32, err error) {
	var path dbus.ObjectPath
	if err := m.conn.Object(busName, objPath).CallWithContext(ctx, managerIf+".GetUnit", 0, unit).Store(&path); err != nil {
		return 0, 0, fmt.Errorf("systemd: main process of %s: %w", unit, mapError(err))
	}
	obj := m.conn.Object(busName, path)
	for _, p := range []struct {
		name string
		dst  *int32
	}{{"ExecMainCode", &code}, {"ExecMainStatus", &status}} {
		if err := obj.CallWithContext(ctx, propsIf+".Get", 0, serviceIf, p.name).Store(p.dst); err != nil {
			return 0, 0, fmt.Errorf("systemd: main process of %s: %w", unit, mapError(err))
		}
	}
	return code, status, nil
}

const unitPathPrefix = "/org/freedesktop/systemd1/unit/"

// unitPath is systemd's object path of unit: every byte but [A-Za-z0-9]
// as _XX (bus_label_escape).
func unitPath(unit string) dbus.ObjectPath {
	var b strings.Builder
	b.WriteString(unitPathPrefix)
	for i := 0; i < len(unit); i++ {
		c := unit[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "_%02x", c)
		}
	}
	return dbus.ObjectPath(b.String())
}

// unitOfPath is the unit of a unit object path, "" for another path.
func unitOfPath(p dbus.ObjectPath) string {
	label, ok := strings.CutPrefix(string(p), unitPathPrefix)
	if !ok || label == "" || strings.Contains(label, "/") {
		return ""
	}
	var b strings.Builder
	for i := 0; i < len(label); i++ {
		if label[i] == '_' && i+2 < len(label) {
			if v, err := strconv.ParseUint(label[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 2
				continue
			}
		}
		b.WriteByte(label[i])
	}
	return b.String()
}

// follower is one channel of Follow.
type follower struct {
	watch  func(unit string) bool
	ch     chan struct{}
	closed bool
}

// Follow sends on the returned channel after systemd changed unit files
// (UnitFilesChanged: anyone's enable or disable), reloaded, restarted, or
// ended a job of a unit for which watch returns true; sends are coalesced.
// Only systemd's own signals count. It needs Subscribe; the channel closes
// when ctx ends or the connection does.
func (m *Manager) Follow(ctx context.Context, watch func(unit string) bool) (<-chan struct{}, error) {
	for _, member := range []string{"UnitFilesChanged", "Reloading"} {
		err := m.conn.AddMatchSignalContext(ctx, dbus.WithMatchSender(busName), dbus.WithMatchInterface(managerIf),
			dbus.WithMatchMember(member))
		if err != nil {
			return nil, fmt.Errorf("systemd: follow units: %w", err)
		}
	}
	return m.follow(ctx, watch), nil
}

// follow adds a follower for as long as ctx lasts.
func (m *Manager) follow(ctx context.Context, watch func(unit string) bool) <-chan struct{} {
	f := &follower{watch: watch, ch: make(chan struct{}, 1)}
	m.mu.Lock()
	m.followers = append(m.followers, f)
	m.mu.Unlock()
	go func() {
		<-ctx.Done()
		m.mu.Lock()
		defer m.mu.Unlock()
		for i, g := range m.followers {
			if g == f {
				m.followers = append(m.followers[:i], m.followers[i+1:]...)
				break
			}
		}
		if !f.closed {
			f.closed = true
			close(f.ch)
		}
	}()
	return f.ch
}

// notify tells the followers watching unit ("" for all) that something
// changed.
func (m *Manager) notify(unit string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, f := range m.followers {
		if f.closed || (unit != "" && !f.watch(unit)) {
			continue
		}
		select {
		case f.ch <- struct{}{}:
		default:
		}
	}
}

// closeFollowers closes the followers' channels: the connection is gone.
func (m *Manager) closeFollowers() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, f := range m.followers {
		if !f.closed {
			f.closed = true
			close(f.ch)
		}
	}
}
