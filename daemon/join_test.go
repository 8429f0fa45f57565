package daemon

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/internal/bustest"
	"github.com/nspawn-tray/nspawn-tray/launcher"
)

// register has machined know machine as running with leader, as nspawn
// would have it registered by the time Launch returns.
func (e *env) register(machine string, leader uint32) {
	e.machined.Add(bustest.Machine{Name: machine, Service: "nspawn", Unit: unitName(machine), Leader: leader, State: "running"})
}

func (e *env) joinUnits() []bustest.Unit {
	var out []bustest.Unit
	for _, u := range e.systemd.Started() {
		if strings.HasPrefix(u.Name, "nspawn-tray-join-") {
			out = append(out, u)
		}
	}
	return out
}

// A second launch of an app that runs for the user starts the program in
// that machine: one machine, a join unit entering it, the same
// environment and the user's own exec-as, ended with the instance.
func TestSecondLaunchJoinsTheRunningInstance(t *testing.T) {
	e := newEnv(t)
	first := e.mustLaunch(bustest.Alice, "plain")
	e.register(first, 4242)
	second, status, err := e.launch(bustest.Alice, "plain", launcher.Session{Args: []string{"--new-window", "$HOME"}})
	if err != nil || second != first || status != -1 {
		t.Fatalf("second launch = %q, %d, %v; want %s", second, status, err, first)
	}
	joins := e.joinUnits()
	if len(joins) != 1 {
		t.Fatalf("join units %v", e.started())
	}
	u := joins[0]
	argv := u.Argv("ExecStart")
	wantPrefix := []string{"/usr/bin/nsenter", "--target", "4242", "--all", "--", inExec, "exec-as", "--uid", "65534", "--gid", "65534",
		"--home", "/home/nobody", "--status"}
	if len(argv) < len(wantPrefix)+1 || !slices.Equal(argv[:len(wantPrefix)], wantPrefix) ||
		!strings.HasPrefix(argv[len(wantPrefix)], inStatusDir+"/join-") ||
		!slices.Equal(argv[len(wantPrefix)+1:], []string{"--", "/usr/bin/plain", "--new-window", "$$HOME"}) { // systemd makes $$ a $
		t.Errorf("join ExecStart %q", argv)
	}
	for k, want := range map[string]any{"BindsTo": []string{unitName(first)}, "After": []string{unitName(first)}, "Slice": "machine.slice"} {
		if got := u.Props[k].Value(); !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %v, want %v", k, got, want)
		}
	}
	env, _ := u.Props["Environment"].Value().([]string)
	if !slices.Contains(env, "HOME=/home/nobody") || !slices.Contains(env, "USER=nobody") {
		t.Errorf("Environment %q: want the instance's", env)
	}
	// The join's status socket goes once it reported.
	left, _ := os.ReadDir(filepath.Join(e.paths.Stage, first, "status"))
	if len(left) != 1 || left[0].Name() != "launch" {
		t.Errorf("status dir holds %v", left)
	}
	if got := len(e.staged()); got != 1 {
		t.Errorf("%d staging dirs, want the one instance", got)
	}

	// Another user, a new instance asked for, a machine per launch: no join.
	e.app("many", strings.Replace(plainApp, "home = false", "home = false\ninstances = \"many\"", 1), 0o644)
	for _, tc := range []struct {
		uid uint32
		app string
		s   launcher.Session
	}{
		{bustest.Mallory, "plain", launcher.Session{}},
		{bustest.Alice, "plain", launcher.Session{NewInstance: true}},
		{bustest.Alice, "plain", launcher.Session{Wait: true}},
	} {
		if tc.uid == bustest.Mallory {
			e.polkit.Answer(launcher.ActionLaunch, bustest.PolkitAnswer{Authorized: true})
		}
		m, _, err := e.launch(tc.uid, tc.app, tc.s)
		if err != nil || m == first {
			t.Errorf("launch %+v as %d = %q, %v; want a machine of its own", tc.s, tc.uid, m, err)
		}
	}
	many := e.mustLaunch(bustest.Alice, "many")
	e.register(many, 4343)
	if m := e.mustLaunch(bustest.Alice, "many"); m == many {
		t.Error(`instances = "many" joined`)
	}
	if len(e.joinUnits()) != 1 {
		t.Errorf("join units %v", e.joinUnits())
	}
}

// Two quick clicks make one machine: the second launch waits for the first
// and joins it.
func TestQuickLaunchesMakeOneMachine(t *testing.T) {
	e := newEnv(t)
	e.instanceStart = func(u bustest.Unit) (string, *dbus.Error) {
		// nspawn registers the machine before it reports READY=1.
		m := strings.TrimSuffix(strings.TrimPrefix(u.Name, "nspawn-tray-"), ".service")
		e.register(m, 5000)
		return "done", nil
	}
	var wg sync.WaitGroup
	machines := make([]string, 5)
	for i := range machines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, _, err := e.launch(bustest.Alice, "plain", launcher.Session{})
			if err != nil {
				t.Error(err)
			}
			machines[i] = m
		}()
	}
	wg.Wait()
	slices.Sort(machines)
	if machines = slices.Compact(machines); len(machines) != 1 {
		t.Errorf("machines %v, want one", machines)
	}
	if n := len(e.joinUnits()); n != 4 {
		t.Errorf("%d joins, want 4", n)
	}
}

// A join whose program cannot start says why, like a first launch.
func TestJoinReportsExecFailure(t *testing.T) {
	e := newEnv(t)
	first := e.mustLaunch(bustest.Alice, "plain")
	e.register(first, 4242)
	e.execReport = "cannot run /usr/bin/plain: no such file or directory"
	_, _, err := e.launch(bustest.Alice, "plain", launcher.Session{})
	if !errors.Is(err, launcher.ErrExecFailed) || !strings.Contains(err.Error(), "cannot run /usr/bin/plain") {
		t.Errorf("join = %v, want ExecFailed with the reason", err)
	}
}
