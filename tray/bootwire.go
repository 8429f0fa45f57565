package tray

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nspawn-tray/nspawn-tray/machines"
)

// The Machines section's wiring: what refreshes it, what its clicks do,
// and the notification when a machine fails.

// MachinesGroup is the group the example polkit rule lets boot and stop
// chosen machines without a password
// (packaging/60-nspawn-tray-machines.rules.example).
const MachinesGroup = "nspawn-tray-machines"

// polkit's actions for what the Machines section does (systemd's own).
const (
	actionManageUnits     = "org.freedesktop.systemd1.manage-units"
	actionManageUnitFiles = "org.freedesktop.systemd1.manage-unit-files"
)

// followUnits subscribes to systemd for the Machines section: the unit
// files changing (anyone's machinectl enable) and the template's jobs
// ending. Without systemd the section stays empty; nil is a channel that
// never fires.
func (t *Tray) followUnits(ctx context.Context) <-chan struct{} {
	if err := t.units.Subscribe(ctx); err != nil {
		t.log.Warn("cannot follow systemd: no Machines section", "err", err)
		return nil
	}
	ch, err := t.units.Follow(ctx, func(unit string) bool { return strings.HasPrefix(unit, "systemd-nspawn@") })
	if err != nil {
		t.log.Warn("cannot follow systemd's units: the Machines section will not update by itself", "err", err)
	}
	t.mu.Lock()
	t.bootOK = true
	t.mu.Unlock()
	return ch
}

// opened is the user opening the menu: the autostart check mark, and the
// machines' numbers, as they are now.
func (t *Tray) opened() {
	if !t.connected() {
		return
	}
	t.refreshAutostart()
	select {
	case t.bootKick <- struct{}{}:
	default:
	}
}

// refreshBootable lists the machines again, and tells of each machine
// that failed since the last time (at boot, or when it started).
func (t *Tray) refreshBootable(ctx context.Context) {
	t.mu.Lock()
	ok := t.bootOK
	t.mu.Unlock()
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	list, err := t.boot.List(ctx)
	if err != nil {
		t.log.Warn("cannot list the machines", "err", err)
		return
	}
	for _, mc := range list {
		// Its unit's state changes come as signals from now on.
		if err := t.units.WatchUnit(ctx, machines.Unit(mc.Name)); err != nil {
			t.log.Debug("cannot watch a machine's unit", "err", err)
		}
	}
	var failed []machines.Machine
	t.mu.Lock()
	for _, mc := range list {
		switch {
		case mc.State != machines.StateFailed:
			delete(t.failed, mc.Name)
			if mc.State == machines.StateStopped {
				delete(t.stopping, mc.Name)
			}
		case !t.failed[mc.Name] && !t.stopping[mc.Name]:
			t.failed[mc.Name] = true
			failed = append(failed, mc)
		}
	}
	t.bootable = list
	t.mu.Unlock()
	for _, mc := range failed {
		t.note(ctx, mc.Name+" failed", failedBody(mc.Name, mc.Result))
	}
}

// failedBody says how a machine failed and how to read why.
func failedBody(name, result string) string {
	if result == "" {
		result = "failed"
	}
	return fmt.Sprintf("Its unit %s ended with result %s. Its log: %s", machines.Unit(name), result, machines.LogCommand(name))
}

// bootAuth is whether this user may start and stop machines, and enable
// them. polkit answers only root when a check carries details, and
// systemd's checks carry the unit: a rule for chosen machines cannot be
// asked about beforehand, so membership in MachinesGroup stands for it.
// Enabling has no unit detail (manage-unit-files), so polkit's answer is
// the answer.
func (t *Tray) bootAuth(ctx context.Context) (boot, enable Auth) {
	names := t.sys.Names()
	if len(names) == 0 {
		return AuthChallenge, AuthChallenge
	}
	ask := func(action string) Auth {
		r, err := t.auth.CheckBusName(ctx, names[0], action, nil, false)
		switch {
		case err != nil:
			return AuthChallenge
		case r.Authorized:
			return AuthYes
		case r.Challenge:
			return AuthChallenge
		}
		return AuthNo
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		enable = ask(actionManageUnitFiles)
	}()
	boot = ask(actionManageUnits)
	wg.Wait()
	if boot != AuthYes && inGroup(MachinesGroup) {
		boot = AuthYes
	}
	return boot, enable
}

// inGroup reports whether this process counts as a member of group name
// for polkit's subject.isInGroup. polkit 122 (Debian 12) reads the group
// database; polkit 126 (Debian 13) reads the calling process's
// supplementary groups, which a session gets at login. Someone just added
// to the group is a member for the first only until they log in again; one
// just removed, for the second. Both must agree, so that the menu never
// offers what polkit would refuse.
func inGroup(name string) bool {
	g, err := user.LookupGroup(name)
	if err != nil {
		return false
	}
	u, err := user.Current()
	if err != nil {
		return false
	}
	dbGroups, err := u.GroupIds()
	if err != nil {
		return false
	}
	procGroups, err := os.Getgroups()
	if err != nil {
		return false
	}
	return memberBoth(g.Gid, dbGroups, procGroups)
}

// memberBoth: gid is in the database's groups of the user and in the
// process's.
func memberBoth(gid string, dbGroups []string, procGroups []int) bool {
	return slices.Contains(dbGroups, gid) &&
		slices.ContainsFunc(procGroups, func(g int) bool { return strconv.Itoa(g) == gid })
}

// bootAct does what a click in the Machines section asks.
func (t *Tray) bootAct(ctx context.Context, verb, name string) {
	defer t.kickBoot()
	switch verb {
	case "boot-start":
		t.mu.Lock()
		delete(t.stopping, name)
		t.mu.Unlock()
		err := t.boot.Start(ctx, name)
		var be *machines.BootError
		switch {
		case errors.As(err, &be):
			t.mu.Lock()
			told := t.failed[name]
			t.failed[name] = true
			t.mu.Unlock()
			if !told {
				result := be.Result
				if result == "" || result == "success" {
					result = be.Job
				}
				t.note(ctx, name+" failed", failedBody(name, result))
			}
		case err != nil:
			t.fail(ctx, "Could not start "+name, bootError(err))
		}
	case "boot-stop":
		t.mu.Lock()
		t.stopping[name] = true
		t.mu.Unlock()
		terminated, err := t.boot.Stop(ctx, name)
		switch {
		case err != nil:
			t.fail(ctx, "Could not stop "+name, bootError(err))
		case terminated:
			t.note(ctx, name+" terminated", fmt.Sprintf("It did not power off within %v.", t.boot.StopTimeout))
		}
	case "boot-enable":
		t.mu.Lock()
		i := slices.IndexFunc(t.bootable, func(mc machines.Machine) bool { return mc.Name == name })
		enabled := i >= 0 && t.bootable[i].Enabled
		t.mu.Unlock()
		if enabled {
			res, err := t.boot.Disable(ctx, name)
			if err != nil {
				t.fail(ctx, "Could not change Start at boot of "+name, bootError(err))
				return
			}
			t.reloadNote(ctx, res)
			return
		}
		res, err := t.boot.Enable(ctx, name)
		if err != nil {
			t.fail(ctx, "Could not change Start at boot of "+name, bootError(err))
			return
		}
		t.reloadNote(ctx, res)
		if res.Settings == "" {
			t.note(ctx, name+" starts at boot", machines.NoSettingsNote(name))
		}
	case "boot-status":
		st, err := t.boot.Status(ctx, name)
		if err != nil {
			t.fail(ctx, "No status of "+name, err)
			return
		}
		body := strings.Join(st.Lines(time.Now()), "\n")
		if st.JournalErr != nil {
			body += "\n\nLog: " + machines.LogCommand(name) + " (as a member of group systemd-journal or adm)"
		} else if len(st.Journal) > 0 {
			lines := st.Journal[max(0, len(st.Journal)-5):]
			body += "\n\n" + logText(strings.Join(lines, "\n"))
		}
		t.note(ctx, name+": "+st.State, body)
	}
}

// reloadNote tells the user that systemd sees a change only later.
func (t *Tray) reloadNote(ctx context.Context, res machines.Enabled) {
	if res.ReloadErr != nil {
		t.note(ctx, "systemd not reloaded", "The change counts from the next boot (or systemctl daemon-reload): "+res.ReloadErr.Error())
	}
}

// bootError is err with what the user can do about a refusal.
func bootError(err error) error {
	if errors.Is(err, machines.ErrNotAuthorized) {
		return fmt.Errorf("not authorized: %s (%w)", machines.AuthHint, err)
	}
	return err
}

func (t *Tray) kickBoot() {
	select {
	case t.bootKick <- struct{}{}:
	default:
	}
}
