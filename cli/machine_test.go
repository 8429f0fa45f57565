package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/internal/bustest"
	"github.com/nspawn-tray/nspawn-tray/machines"
)

type machineEnv struct {
	sd *bustest.Systemd
	md *bustest.Machined
}

// fakeMachines is a system bus with the fake systemd and machined, the
// image "tiny" (bootable) and "app" (not), and no .nspawn files.
func fakeMachines(t *testing.T) machineEnv {
	t.Helper()
	b := bustest.New(t)
	b.AsSystemBus(t)
	e := machineEnv{sd: bustest.NewSystemd(t, b.Conn(t)), md: bustest.NewMachined(t, b.Conn(t))}
	tmp := t.TempDir()
	for name, init := range map[string]string{"tiny": "sbin/init", "app": "usr/bin/app"} {
		p := filepath.Join(tmp, name, init)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, nil, 0o755)
		e.md.AddImage(bustest.Image{Name: name, Usage: bustest.NoValue})
		e.md.SetImagePath(name, filepath.Join(tmp, name))
	}
	settings := filepath.Join(tmp, "nspawn")
	old := adjustMachines
	adjustMachines = func(m *machines.Manager) {
		m.SettingsDirs = []string{settings}
		m.Cgroups = filepath.Join(tmp, "cgroup")
		m.StopTimeout = time.Minute
		m.Journal = func(context.Context, string, int) ([]string, error) {
			return []string{"Nov 28 23:22:38 testhost systemd-nspawn[1]: tiny: up"}, nil
		}
	}
	t.Cleanup(func() { adjustMachines = old })
	e.sd.OnStart(func(u bustest.Unit) (string, *dbus.Error) {
		e.md.Add(bustest.Machine{Name: "tiny", Unit: u.Name, Leader: 1, Timestamp: uint64(time.Now().UnixMicro())})
		return "done", nil
	})
	return e
}

func TestMachineStartListStatusStop(t *testing.T) {
	e := fakeMachines(t)
	if code, stdout, stderr := run(t, Program{}, "machine", "start", "tiny"); code != 0 || stdout != "" || stderr != "" {
		t.Fatalf("start: %d %q %q", code, stdout, stderr)
	}
	e.sd.SetStats("systemd-nspawn@tiny.service", 12<<20, 2*uint64(time.Second), 5, "")
	code, stdout, stderr := run(t, Program{}, "machine", "list")
	if code != 0 || stderr != "" {
		t.Fatalf("list: %d %q", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME  STATE") {
		t.Fatalf("list:\n%s", stdout)
	}
	if f := strings.Fields(lines[1]); f[0] != "app" || f[1] != "stopped" || f[2] != "no" || f[3] != "no" {
		t.Errorf("app line %q", lines[1])
	}
	if f := strings.Fields(lines[2]); f[0] != "tiny" || f[1] != "running" || f[2] != "yes" || f[len(f)-2] != "12M" || f[len(f)-1] != "2.000s" {
		t.Errorf("tiny line %q", lines[2])
	}
	code, stdout, _ = run(t, Program{}, "machine", "status", "tiny")
	for _, want := range []string{"tiny\n", "     State: running\n", "    Memory: 12M\n", "       CPU: 2.000s\n", "     Tasks: 5\n",
		"systemd-nspawn[1]: tiny: up\n"} {
		if code != 0 || !strings.Contains(stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, stdout)
		}
	}
	if code, stdout, stderr := run(t, Program{}, "machine", "stop", "tiny"); code != 0 || stdout != "" || stderr != "" {
		t.Fatalf("stop: %d %q %q", code, stdout, stderr)
	}
	if len(e.md.Names()) != 0 {
		t.Errorf("machines left: %v", e.md.Names())
	}
	// nspawn exits once the machine powered off.
	e.sd.Exit("systemd-nspawn@tiny.service", 1, 0)
	code, _, stderr = run(t, Program{}, "machine", "stop", "tiny")
	if code != 1 || stderr != "nspawn-tray: stop tiny: not running\n" {
		t.Errorf("stop of a stopped machine: %d %q", code, stderr)
	}
}

func TestMachineStopTerminatesAfterTimeout(t *testing.T) {
	e := fakeMachines(t)
	e.md.IgnoreKills(true)
	run(t, Program{}, "machine", "start", "tiny")
	code, _, stderr := run(t, Program{}, "machine", "stop", "--timeout", "1ms", "tiny")
	if code != 0 || stderr != "nspawn-tray machine stop: tiny did not power off within 1ms: terminated it\n" {
		t.Errorf("stop: %d %q", code, stderr)
	}
}

func TestMachineEnableDisable(t *testing.T) {
	e := fakeMachines(t)
	code, stdout, stderr := run(t, Program{}, "machine", "enable", "tiny")
	want := "Created symlink /etc/systemd/system/machines.target.wants/systemd-nspawn@tiny.service → /lib/systemd/system/systemd-nspawn@.service.\n"
	if code != 0 || stderr != "" || !strings.HasPrefix(stdout, want) ||
		!strings.Contains(stdout, "tiny starts at boot (machines.target wants systemd-nspawn@tiny.service).\n") ||
		!strings.Contains(stdout, "tiny has no .nspawn file in /etc/systemd/nspawn") || !strings.Contains(stdout, "  VirtualEthernet=no\n") {
		t.Errorf("enable: %d %q\n%s", code, stderr, stdout)
	}
	if !e.sd.Enabled("systemd-nspawn@tiny.service") {
		t.Error("not enabled")
	}
	e.sd.Refuse("Reload", dbus.NewError("org.freedesktop.DBus.Error.InteractiveAuthorizationRequired", []any{"Interactive authentication required."}))
	code, stdout, stderr = run(t, Program{}, "machine", "disable", "tiny")
	if code != 0 || !strings.HasPrefix(stdout, "Removed /etc/systemd/system/machines.target.wants/systemd-nspawn@tiny.service.\n") ||
		!strings.Contains(stderr, "systemd was not reloaded") {
		t.Errorf("disable: %d %q\n%s", code, stderr, stdout)
	}
}

func TestMachineErrorsAreOneLine(t *testing.T) {
	e := fakeMachines(t)
	e.sd.Refuse("StartUnit", dbus.NewError("org.freedesktop.DBus.Error.InteractiveAuthorizationRequired", []any{"Interactive authentication required."}))
	e.sd.Refuse("EnableUnitFiles", dbus.NewError("org.freedesktop.DBus.Error.AccessDenied", []any{"Access denied"}))
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"machine", "start", "tiny"}, 1, "nspawn-tray: not authorized to start tiny: " + machines.AuthHint + "\n"},
		{[]string{"machine", "enable", "tiny"}, 1, "nspawn-tray: not authorized to enable tiny: " + machines.AuthHint + "\n"},
		{[]string{"machine", "start", "nosuch"}, 1, "nspawn-tray: no such image \"nosuch\" (machinectl list-images lists them)\n"},
		{[]string{"machine", "start"}, 2, "nspawn-tray machine start: missing NAME (see 'nspawn-tray machine list') (see 'nspawn-tray machine start --help')\n"},
		{[]string{"machine", "status", "a", "b"}, 2, "nspawn-tray machine status: unexpected argument \"b\" (want one NAME; options go before it) (see 'nspawn-tray machine status --help')\n"},
		{[]string{"machine", "stop", "--timeout", "0s", "tiny"}, 2, "nspawn-tray machine stop: --timeout 0s: want a positive duration (see 'nspawn-tray machine stop --help')\n"},
		{[]string{"machine", "list", "x"}, 2, "nspawn-tray machine list: unexpected argument \"x\" (see 'nspawn-tray machine list --help')\n"},
		{[]string{"machine", "reboot", "tiny"}, 2, "nspawn-tray machine: want list or start or stop or enable or disable or status (see 'nspawn-tray machine --help')\n"},
	} {
		code, _, stderr := run(t, Program{}, c.args...)
		if code != c.code || stderr != c.want {
			t.Errorf("%v: %d %q, want %d %q", c.args, code, stderr, c.code, c.want)
		}
	}
}

func TestMachineWithoutSystemBus(t *testing.T) {
	noSystemBus(t)
	code, _, stderr := run(t, Program{}, "machine", "list")
	if code != 1 || !strings.HasPrefix(stderr, "nspawn-tray: connect to the system bus") {
		t.Errorf("list without a bus: %d %q", code, stderr)
	}
}

func TestMachineHelp(t *testing.T) {
	code, stdout, _ := run(t, Program{}, "machine", "--help")
	if code != 0 || !strings.Contains(stdout, "  enable   Start machine NAME at boot (as machinectl enable)\n") {
		t.Errorf("machine --help:\n%s", stdout)
	}
	code, stdout, _ = run(t, Program{}, "help", "machine")
	if code != 0 || !strings.Contains(stdout, "Usage: nspawn-tray machine COMMAND") {
		t.Errorf("help machine:\n%s", stdout)
	}
}
