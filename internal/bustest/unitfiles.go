package bustest

import (
	"strings"
	"sync"

	"github.com/godbus/dbus/v5"
)

// The fake systemd's units with unit files (systemd-nspawn@NAME.service):
// StartUnit, EnableUnitFiles, DisableUnitFiles, Reload, GetUnitFileState,
// the units' properties as UnitStatus reads them, UnitFilesChanged and
// Reloading, and refusals as polkit's.

// NoValue is systemd's "not known" for a unit's numbers.
const NoValue = ^uint64(0)

// SystemdCall is one call of a unit-file method (StartUnit, StopUnit,
// EnableUnitFiles, DisableUnitFiles, Reload).
type SystemdCall struct {
	Method string
	// Units are the units it named (none for Reload).
	Units []string
	// Interactive is the ALLOW_INTERACTIVE_AUTHORIZATION flag.
	Interactive bool
	Sender      string
}

type unitFiles struct {
	mu      sync.Mutex
	enabled map[string]bool
	missing map[string]bool
	refuse  map[string]*dbus.Error
	calls   recorder[SystemdCall]
}

// WantsDir is where the fake's EnableUnitFiles links units: machines.target's
// wants, as systemd-nspawn@.service's [Install] asks.
const WantsDir = "/etc/systemd/system/machines.target.wants"

// Refuse makes method fail with err (nil: succeed again), as systemd
// answers when polkit says no.
func (s *Systemd) Refuse(method string, err *dbus.Error) {
	s.files.mu.Lock()
	defer s.files.mu.Unlock()
	if s.files.refuse == nil {
		s.files.refuse = map[string]*dbus.Error{}
	}
	s.files.refuse[method] = err
}

// NoUnitFile makes GetUnitFileState, StartUnit and EnableUnitFiles say unit
// has no unit file.
func (s *Systemd) NoUnitFile(unit string) {
	s.files.mu.Lock()
	defer s.files.mu.Unlock()
	if s.files.missing == nil {
		s.files.missing = map[string]bool{}
	}
	s.files.missing[unit] = true
}

// Enabled reports whether unit is enabled.
func (s *Systemd) Enabled(unit string) bool {
	s.files.mu.Lock()
	defer s.files.mu.Unlock()
	return s.files.enabled[unit]
}

// Calls are the unit-file method calls so far.
func (s *Systemd) Calls() []SystemdCall { return s.files.calls.all() }

// SetStats gives the loaded unit its numbers and cgroup.
func (s *Systemd) SetStats(unit string, memory, cpu, tasks uint64, cgroup string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.units[unit]
	if ok {
		u.MemoryCurrent, u.CPUUsageNSec, u.TasksCurrent, u.ControlGroup = memory, cpu, tasks, cgroup
	}
	return ok
}

// Fail ends the loaded unit as failed with result ("exit-code", ...), as
// when a machine's init exits, and tells Follow.
func (s *Systemd) Fail(unit, result string) bool {
	s.mu.Lock()
	u, ok := s.units[unit]
	if ok {
		u.ActiveState, u.Result, u.ExecMainCode, u.ExecMainStatus = "failed", result, 1, 1
		s.ended(u)
	}
	s.mu.Unlock()
	if ok {
		s.jobs++
		s.conn.Emit(systemdPath, managerIf+".JobRemoved", s.jobs, dbus.ObjectPath("/org/freedesktop/systemd1/job/0"), unit, "done")
	}
	return ok
}

// called records a call and returns the refusal set for it, if any.
func (s *Systemd) called(msg dbus.Message, method string, units ...string) *dbus.Error {
	sender, _ := msg.Headers[dbus.FieldSender].Value().(string)
	s.files.calls.add(SystemdCall{Method: method, Units: units, Interactive: msg.Flags&dbus.FlagAllowInteractiveAuthorization != 0, Sender: sender})
	s.files.mu.Lock()
	defer s.files.mu.Unlock()
	return s.files.refuse[method]
}

func (s *Systemd) hasFile(unit string) bool {
	s.files.mu.Lock()
	defer s.files.mu.Unlock()
	return !s.files.missing[unit]
}

func noUnitFile() *dbus.Error {
	return dbus.NewError("org.freedesktop.DBus.Error.FileNotFound", []any{"No such file or directory"})
}

// StartUnit starts a unit from its unit file: like StartTransientUnit, the
// OnStart hook decides the job's result.
func (m systemdManager) StartUnit(msg dbus.Message, name, mode string) (dbus.ObjectPath, *dbus.Error) {
	s := m.s
	if err := s.called(msg, "StartUnit", name); err != nil {
		return "", err
	}
	if !s.hasFile(name) {
		return "", dbus.NewError("org.freedesktop.systemd1.NoSuchUnit", []any{"Unit " + name + " not found."})
	}
	u := &Unit{Name: name, Props: map[string]dbus.Variant{}, ActiveState: "active", Result: "success",
		MemoryCurrent: NoValue, CPUUsageNSec: NoValue, TasksCurrent: NoValue}
	s.started.add(*u)
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.units[name]; ok && old.ActiveState == "active" {
		return s.job(name, "done"), nil // already running: nothing to do
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
		u.ActiveState, u.Result = "failed", "exit-code"
		u.ExecMainCode, u.ExecMainStatus = 1, 1
		s.ended(u)
	}
	return s.job(name, result), nil
}

type unitFileChange struct {
	Type, Filename, Destination string
}

func wantsLink(unit string) string { return WantsDir + "/" + unit }

// template is the unit file an instance comes from.
func template(unit string) string {
	at := strings.IndexByte(unit, '@')
	dot := strings.LastIndexByte(unit, '.')
	if at < 0 || dot < at {
		return unit
	}
	return unit[:at+1] + unit[dot:]
}

func (m systemdManager) EnableUnitFiles(msg dbus.Message, units []string, runtime, force bool) (bool, []unitFileChange, *dbus.Error) {
	s := m.s
	if err := s.called(msg, "EnableUnitFiles", units...); err != nil {
		return false, nil, err
	}
	changes := []unitFileChange{}
	for _, u := range units {
		if !s.hasFile(u) {
			return false, nil, noUnitFile()
		}
	}
	s.files.mu.Lock()
	if s.files.enabled == nil {
		s.files.enabled = map[string]bool{}
	}
	for _, u := range units {
		if !s.files.enabled[u] {
			s.files.enabled[u] = true
			changes = append(changes, unitFileChange{"symlink", wantsLink(u), "/lib/systemd/system/" + template(u)})
		}
	}
	s.files.mu.Unlock()
	s.conn.Emit(systemdPath, managerIf+".UnitFilesChanged")
	return true, changes, nil
}

func (m systemdManager) DisableUnitFiles(msg dbus.Message, units []string, runtime bool) ([]unitFileChange, *dbus.Error) {
	s := m.s
	if err := s.called(msg, "DisableUnitFiles", units...); err != nil {
		return nil, err
	}
	changes := []unitFileChange{}
	s.files.mu.Lock()
	for _, u := range units {
		if s.files.enabled[u] {
			delete(s.files.enabled, u)
			changes = append(changes, unitFileChange{"unlink", wantsLink(u), ""})
		}
	}
	s.files.mu.Unlock()
	s.conn.Emit(systemdPath, managerIf+".UnitFilesChanged")
	return changes, nil
}

func (m systemdManager) Reload(msg dbus.Message) *dbus.Error {
	s := m.s
	if err := s.called(msg, "Reload"); err != nil {
		return err
	}
	s.conn.Emit(systemdPath, managerIf+".Reloading", true)
	s.conn.Emit(systemdPath, managerIf+".Reloading", false)
	return nil
}

func (m systemdManager) GetUnitFileState(name string) (string, *dbus.Error) {
	s := m.s
	if !s.hasFile(name) {
		return "", noUnitFile()
	}
	if s.Enabled(name) {
		return "enabled", nil
	}
	return "disabled", nil
}

// GetAll answers for the Unit interface and the unit type's, with what
// UnitStatus reads.
func (p unitProps) GetAll(iface string) (map[string]dbus.Variant, *dbus.Error) {
	u, ok := p.s.Loaded(p.name)
	if !ok {
		return nil, noSuchUnit(p.name)
	}
	sub := map[string]string{"active": "running", "inactive": "dead", "failed": "failed"}[u.ActiveState]
	switch iface {
	case unitIf:
		return map[string]dbus.Variant{
			"Id": dbus.MakeVariant(u.Name), "ActiveState": dbus.MakeVariant(u.ActiveState), "SubState": dbus.MakeVariant(sub),
			"ActiveEnterTimestamp": dbus.MakeVariant(u.ActiveEnter), "InactiveEnterTimestamp": dbus.MakeVariant(u.InactiveEnter),
		}, nil
	case serviceIf, "org.freedesktop.systemd1.Scope":
		return map[string]dbus.Variant{
			"Result": dbus.MakeVariant(u.Result), "ExecMainCode": dbus.MakeVariant(u.ExecMainCode),
			"ExecMainStatus": dbus.MakeVariant(u.ExecMainStatus), "MemoryCurrent": dbus.MakeVariant(u.MemoryCurrent),
			"CPUUsageNSec": dbus.MakeVariant(u.CPUUsageNSec), "TasksCurrent": dbus.MakeVariant(u.TasksCurrent),
			"ControlGroup": dbus.MakeVariant(u.ControlGroup),
		}, nil
	}
	return map[string]dbus.Variant{}, nil
}
