package tray

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/internal/bustest"
	"github.com/nspawn-tray/nspawn-tray/machines"
)

// stopped is a machine that is not running, booting as boot says.
func stopped(name string, boot machines.Boot) machines.Machine {
	return machines.Machine{Name: name, State: machines.StateStopped, Boot: boot, Memory: machines.NoValue, CPU: machines.NoValue, Tasks: machines.NoValue}
}

func TestBuildMachinesSection(t *testing.T) {
	nm := machines.Machine{Name: "network-manager", State: machines.StateRunning, Boot: machines.BootUnknown, Enabled: true,
		Since: ago(5 * time.Minute), Memory: 12 << 20, CPU: 1234 * uint64(time.Millisecond), Tasks: 9}
	broken := stopped("broken", machines.BootNo)
	broken.State, broken.Result = machines.StateFailed, "exit-code"
	st := State{Bootable: []machines.Machine{
		stopped("xapps", machines.BootUnknown), // an app's image: left out
		stopped("empty", machines.BootNo),      // cannot boot: left out
		stopped("tiny", machines.BootUnknown),  // may boot: listed
		nm, broken,
	}}
	apps := []App{{ID: "xterm", Name: "XTerm", Image: "xapps"}}
	running := []Machine{{Name: "network-manager", Since: ago(5 * time.Minute)}, {Name: "other", Since: ago(time.Minute)}}
	got := render(Build(apps, running, st, now))
	want := `- Apps
  launch:xterm XTerm
----
- Running
  other (not nspawn-tray) — 1m
    stop:other Stop
    log:other Show recent log
----
- Machines
  broken — failed (exit-code)
    boot-start:broken Start
  - boot-stop:broken Stop
    [ ] boot-enable:broken Start at boot
    boot-status:broken Status
  network-manager — running 5m, 12M, CPU 1.234s
  - boot-start:network-manager Start
    boot-stop:network-manager Stop
    [x] boot-enable:network-manager Start at boot
    boot-status:network-manager Status
  tiny — stopped
    boot-start:tiny Start
  - boot-stop:tiny Stop
    [ ] boot-enable:tiny Start at boot
    boot-status:tiny Status
----
  [ ] autostart Start on login
  sync Refresh desktop entries
  quit Quit
`
	if got != want {
		t.Errorf("menu:\n%s\nwant:\n%s", got, want)
	}
	st.EnableAuth = AuthChallenge
	tip := tips(Build(apps, nil, st, now))
	for _, w := range []string{
		"tiny — stopped: machine tiny (systemd-nspawn@tiny.service); whether it boots, systemd tells when it tries (only root can look into its image)",
		"boot-enable:tiny: Start tiny when the computer starts, as machinectl enable (asks for an administrator's password)",
		"broken — failed (exit-code): machine broken (systemd-nspawn@broken.service); its image has no init",
	} {
		if !strings.Contains(tip, w+"\n") {
			t.Errorf("tooltips lack %q:\n%s", w, tip)
		}
	}
}

func TestBuildMachinesSectionSaysWhoMay(t *testing.T) {
	tiny := stopped("tiny", machines.BootYes)
	for _, c := range []struct {
		auth Auth
		note string
	}{
		{AuthYes, ""},
		{AuthChallenge, "- Starting and stopping needs an administrator's password\n"},
		{AuthNo, "- Starting and stopping needs an administrator\n"},
	} {
		got := render(Build(nil, nil, State{Bootable: []machines.Machine{tiny}, BootAuth: c.auth, EnableAuth: AuthYes}, now))
		has := c.note != "" && strings.Contains(got, "- Machines\n"+c.note)
		if (c.note == "" && strings.Contains(got, "Starting and stopping")) || (c.note != "" && !has) {
			t.Errorf("auth %v: menu\n%s", c.auth, got)
		}
	}
	// No machines, no section.
	if got := render(Build(nil, nil, State{Bootable: []machines.Machine{stopped("app", machines.BootNo)}}, now)); strings.Contains(got, "Machines") {
		t.Errorf("a section without machines:\n%s", got)
	}
	// A long list ends in a pointer to the command.
	var many []machines.Machine
	for i := range maxBootable + 3 {
		many = append(many, stopped(strings.Repeat("m", 3)+string(rune('a'+i)), machines.BootYes))
	}
	if got := render(Build(nil, nil, State{Bootable: many}, now)); !strings.Contains(got, "- … more: nspawn-tray machine list\n") {
		t.Errorf("no pointer past %d machines", maxBootable)
	}
}

// bootEnv is a tray with the image tiny, bootable, on the fake machined
// and systemd: starting its template registers the machine as nspawn does.
func bootEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t, without{})
	e.machined.AddImage(bustest.Image{Name: "tiny", Usage: bustest.NoValue})
	e.machined.SetImagePath("tiny", "/nonexistent/tiny")
	e.systemd.OnStart(func(u bustest.Unit) (string, *dbus.Error) {
		e.machined.Add(bustest.Machine{Name: "tiny", Unit: u.Name, Leader: 1, Timestamp: uint64(time.Now().UnixMicro())})
		return "done", nil
	})
	e.machined.SetAddresses("tiny", netip.MustParseAddr("10.0.0.2"))
	return e
}

func TestTrayStartsStopsAndEnablesAMachine(t *testing.T) {
	e := bootEnv(t)
	e.start(t)
	e.waitMenu(t, has("  tiny — stopped", "    boot-start:tiny Start", "  - boot-stop:tiny Stop"))
	// The example rule's group is not ours here, and polkit's answer for
	// manage-units is no: the menu says so.
	e.waitMenu(t, has("- Starting and stopping needs an administrator"))

	e.ui.clickItem(t, "boot-start:tiny")
	e.waitMenu(t, hasPrefix("  tiny — running "))
	calls := e.systemd.Calls()
	if len(calls) == 0 || calls[0].Method != "StartUnit" || calls[0].Units[0] != "systemd-nspawn@tiny.service" || !calls[0].Interactive {
		t.Fatalf("calls = %+v, want an interactive StartUnit of the template", calls)
	}
	// The running machine is not listed under Running again.
	if m := e.ui.menu(); strings.Contains(m, "tiny (not nspawn-tray)") {
		t.Errorf("tiny listed twice:\n%s", m)
	}
	// The numbers come with the next rebuild: opening the menu is one.
	e.systemd.SetStats("systemd-nspawn@tiny.service", 12<<20, 2*uint64(time.Second), 3, "")
	e.ui.opened()
	e.waitMenu(t, hasPrefix("  tiny — running 0s, 12M, CPU 2.000s"))

	e.ui.clickItem(t, "boot-enable:tiny")
	e.waitMenu(t, has("    [x] boot-enable:tiny Start at boot"))
	if !e.systemd.Enabled("systemd-nspawn@tiny.service") {
		t.Error("not enabled")
	}
	n := e.waitNote(t, "tiny starts at boot")
	if !strings.Contains(n.Body, "VirtualEthernet=no") {
		t.Errorf("enable note %q lacks the .nspawn hint", n.Body)
	}

	e.ui.clickItem(t, "boot-status:tiny")
	n = e.waitNote(t, "tiny: running")
	for _, w := range []string{"State: running", "Address: 10.0.0.2", "Memory: 12M", "tiny: up"} {
		if !strings.Contains(n.Body, w) {
			t.Errorf("status note lacks %q:\n%s", w, n.Body)
		}
	}

	e.ui.clickItem(t, "boot-stop:tiny")
	if k := e.machined.Kills(); len(k) != 1 || k[0].Signal != 38 || !k[0].Interactive {
		t.Errorf("kills = %+v", k)
	}
	e.systemd.Exit("systemd-nspawn@tiny.service", 1, 0) // nspawn ends with its machine
	e.waitMenu(t, has("  tiny — stopped"))

	e.ui.clickItem(t, "boot-enable:tiny")
	e.waitMenu(t, has("    [ ] boot-enable:tiny Start at boot"))
	var methods []string
	for _, c := range e.systemd.Calls() {
		methods = append(methods, c.Method)
	}
	if want := []string{"StartUnit", "EnableUnitFiles", "Reload", "DisableUnitFiles", "Reload"}; !slices.Equal(methods, want) {
		t.Errorf("systemd calls %v, want %v", methods, want)
	}
}

func TestTrayTellsWhyAMachineDidNotStart(t *testing.T) {
	e := bootEnv(t)
	e.start(t)
	e.waitMenu(t, has("  tiny — stopped"))
	e.systemd.Refuse("StartUnit", dbus.NewError("org.freedesktop.DBus.Error.InteractiveAuthorizationRequired", []any{"Interactive authentication required."}))
	e.ui.clickItem(t, "boot-start:tiny")
	n := e.waitNote(t, "Could not start tiny")
	if !strings.Contains(n.Body, "not authorized: "+machines.AuthHint) {
		t.Errorf("refusal note %q", n.Body)
	}
	// A start that fails: the unit's result and the command of its log.
	e.systemd.Refuse("StartUnit", nil)
	e.systemd.OnStart(func(bustest.Unit) (string, *dbus.Error) { return "failed", nil })
	e.ui.clickItem(t, "boot-start:tiny")
	n = e.waitNote(t, "tiny failed")
	if n.Body != "Its unit systemd-nspawn@tiny.service ended with result exit-code. Its log: journalctl -u systemd-nspawn@tiny.service" {
		t.Errorf("failure note %q", n.Body)
	}
	e.waitMenu(t, has("  tiny — failed (exit-code)"))
	// Told once, not again at every rebuild.
	e.ui.opened()
	e.ui.opened()
	e.waitMenu(t, has("  tiny — failed (exit-code)"))
	count := 0
	for _, s := range e.notes.Sent() {
		if strings.HasPrefix(s.Summary, "tiny failed") {
			count++
		}
	}
	if count != 1 {
		t.Errorf("%d failure notes, want 1: %+v", count, e.notes.Sent())
	}
}

// A machine that fails on its own (enabled, at boot; or a moment after
// its start) is told once the tray sees it.
func TestTrayTellsOfAMachineThatFailedOnItsOwn(t *testing.T) {
	e := bootEnv(t)
	e.start(t)
	e.ui.clickItem(t, "boot-start:tiny")
	e.waitMenu(t, hasPrefix("  tiny — running"))
	e.systemd.Fail("systemd-nspawn@tiny.service", "watchdog")
	e.machined.Remove("tiny")
	n := e.waitNote(t, "tiny failed")
	if !strings.Contains(n.Body, "result watchdog") {
		t.Errorf("note %q", n.Body)
	}
}

func TestTrayWithoutSystemdHasNoMachinesSection(t *testing.T) {
	e := newEnv(t, without{systemd: true})
	e.machined.AddImage(bustest.Image{Name: "tiny"})
	e.start(t)
	e.waitLog(t, "no Machines section")
	if m := e.ui.menu(); strings.Contains(m, "Machines") {
		t.Errorf("a Machines section without systemd:\n%s", m)
	}
}

// Membership must hold for both ways polkit reads it: the group database
// (polkit 122) and the process's supplementary groups (later polkit).
func TestMemberBoth(t *testing.T) {
	for _, c := range []struct {
		name string
		db   []string
		proc []int
		want bool
	}{
		{"member since the last login", []string{"1000", "994"}, []int{1000, 994}, true},
		{"added, not logged in again", []string{"1000", "994"}, []int{1000}, false},
		{"removed, not logged in again", []string{"1000"}, []int{1000, 994}, false},
		{"never", []string{"1000"}, []int{1000}, false},
	} {
		if got := memberBoth("994", c.db, c.proc); got != c.want {
			t.Errorf("%s: memberBoth = %v, want %v", c.name, got, c.want)
		}
	}
}
