package machines

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/internal/bustest"
	"github.com/nspawn-tray/nspawn-tray/machined"
	"github.com/nspawn-tray/nspawn-tray/systemd"
)

type env struct {
	sd  *bustest.Systemd
	md  *bustest.Machined
	m   *Manager
	tmp string
}

var ctx = context.Background()

// setup is a Manager over the fake systemd and machined, its settings
// dirs, /proc and cgroup tree in a temporary directory, and a journal
// that has two lines of every unit.
func setup(t *testing.T) env {
	t.Helper()
	b := bustest.New(t)
	e := env{sd: bustest.NewSystemd(t, b.Conn(t)), md: bustest.NewMachined(t, b.Conn(t)), tmp: t.TempDir()}
	sd := systemd.New(b.Conn(t))
	if err := sd.Subscribe(ctx); err != nil {
		t.Fatal(err)
	}
	e.m = New(sd, machined.New(b.Conn(t)))
	e.m.SettingsDirs = []string{filepath.Join(e.tmp, "etc"), filepath.Join(e.tmp, "run")}
	e.m.Proc = filepath.Join(e.tmp, "proc")
	e.m.Cgroups = filepath.Join(e.tmp, "cgroup")
	e.m.Journal = func(ctx context.Context, unit string, n int) ([]string, error) {
		return []string{"first line of " + unit, "last line"}, nil
	}
	// Starting the template registers the machine, as nspawn does.
	e.sd.OnStart(func(u bustest.Unit) (string, *dbus.Error) {
		name := strings.TrimSuffix(strings.TrimPrefix(u.Name, "systemd-nspawn@"), ".service")
		e.md.Add(bustest.Machine{Name: name, Service: "systemd-nspawn", Unit: u.Name, Leader: 4242, Timestamp: uint64(time.Now().UnixMicro())})
		return "done", nil
	})
	return e
}

// image adds a directory image with tree (paths relative to it, "" for
// the image without any).
func (e env) image(t *testing.T, name string, files ...string) {
	t.Helper()
	dir := filepath.Join(e.tmp, "machines", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		p := filepath.Join(dir, f)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	e.md.AddImage(bustest.Image{Name: name, Usage: bustest.NoValue})
	e.md.SetImagePath(name, dir)
}

func mustWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestUnitIsTheTemplatesInstance(t *testing.T) {
	if got := Unit("network-manager"); got != "systemd-nspawn@network-manager.service" {
		t.Errorf("Unit = %q", got)
	}
	if got := LogCommand("tiny"); got != "journalctl -u systemd-nspawn@tiny.service" {
		t.Errorf("LogCommand = %q", got)
	}
}

func TestListTellsWhichImagesBoot(t *testing.T) {
	e := setup(t)
	e.image(t, "merged", "usr/lib/systemd/systemd")
	e.image(t, "sysv", "sbin/init")
	e.image(t, "app", "usr/bin/xeyes")
	e.md.AddImage(bustest.Image{Name: "disk", Type: "raw"})
	e.md.AddImage(bustest.Image{Name: "hidden"}) // no path: machined cannot say
	e.md.AddImage(bustest.Image{Name: ".host"})
	e.md.AddImage(bustest.Image{Name: ".secret"})
	// A symlink in the image's own path is not followed.
	os.Symlink(filepath.Join(e.tmp, "machines", "merged"), filepath.Join(e.tmp, "link"))
	e.md.AddImage(bustest.Image{Name: "link"})
	e.md.SetImagePath("link", filepath.Join(e.tmp, "link"))

	list, err := e.m.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Boot{}
	var names []string
	for _, mc := range list {
		got[mc.Name] = mc.Boot
		names = append(names, mc.Name)
		if mc.State != StateStopped || mc.Enabled || mc.Memory != NoValue {
			t.Errorf("%s = %+v, want stopped, disabled, no numbers", mc.Name, mc)
		}
	}
	if want := []string{"app", "disk", "hidden", "link", "merged", "sysv"}; !slices.Equal(names, want) {
		t.Errorf("names = %v, want %v (sorted, without .host and hidden images)", names, want)
	}
	want := map[string]Boot{"merged": BootYes, "sysv": BootYes, "app": BootNo, "disk": BootYes, "hidden": BootUnknown, "link": BootUnknown}
	for n, b := range want {
		if got[n] != b {
			t.Errorf("%s boots %v, want %v", n, got[n], b)
		}
	}
}

func TestStartBootsTheTemplateInteractively(t *testing.T) {
	e := setup(t)
	e.image(t, "tiny", "sbin/init")
	if err := e.m.Start(ctx, "tiny"); err != nil {
		t.Fatal(err)
	}
	calls := e.sd.Calls()
	if len(calls) != 1 || calls[0].Method != "StartUnit" || !slices.Equal(calls[0].Units, []string{"systemd-nspawn@tiny.service"}) || !calls[0].Interactive {
		t.Errorf("calls = %+v, want one interactive StartUnit of the template's instance", calls)
	}
	e.sd.SetStats("systemd-nspawn@tiny.service", 23<<20, 1500*uint64(time.Millisecond), 7, "/machine.slice/systemd-nspawn@tiny.service")
	mc, err := e.m.Get(ctx, "tiny")
	if err != nil {
		t.Fatal(err)
	}
	if mc.State != StateRunning || mc.Since.IsZero() || mc.Memory != 23<<20 || mc.CPU != 1500*uint64(time.Millisecond) || mc.Tasks != 7 || mc.MemoryRSS {
		t.Errorf("running machine = %+v", mc)
	}
}

func TestStartErrors(t *testing.T) {
	for _, c := range []struct {
		name  string
		setup func(env)
		image string
		want  string
		is    error
	}{
		{"refused", func(e env) {
			e.sd.Refuse("StartUnit", dbus.NewError("org.freedesktop.DBus.Error.InteractiveAuthorizationRequired", []any{"Interactive authentication required."}))
		}, "tiny", "Interactive authentication required", ErrNotAuthorized},
		{"access denied", func(e env) {
			e.sd.Refuse("StartUnit", dbus.NewError("org.freedesktop.DBus.Error.AccessDenied", []any{"Access denied"}))
		}, "tiny", "Access denied", ErrNotAuthorized},
		{"no image", func(env) {}, "nosuch", `no such image "nosuch"`, ErrNoSuchImage},
		{"bad name", func(env) {}, "../etc", `machine "../etc"`, nil},
		{"job failed", func(e env) {
			e.sd.OnStart(func(bustest.Unit) (string, *dbus.Error) { return "failed", nil })
		}, "tiny", "machine tiny failed to boot (exit-code, status 1): see its log with journalctl -u systemd-nspawn@tiny.service", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := setup(t)
			e.image(t, "tiny", "sbin/init")
			c.setup(e)
			err := e.m.Start(ctx, c.image)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Start = %v, want %q", err, c.want)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("Start = %v, not %v", err, c.is)
			}
		})
	}
}

func TestStartSeesAnInitThatFailedAtOnce(t *testing.T) {
	e := setup(t)
	e.image(t, "noinit")
	e.sd.OnStart(func(u bustest.Unit) (string, *dbus.Error) {
		go e.sd.Fail(u.Name, "exit-code")
		return "done", nil
	})
	err := e.m.Start(ctx, "noinit")
	var be *BootError
	// The unit fails just after its job: Start may return before it.
	if err != nil && (!errors.As(err, &be) || be.Result != "exit-code") {
		t.Fatalf("Start = %v, want nil or a BootError of exit-code", err)
	}
	var mc Machine
	deadline := time.Now().Add(5 * time.Second)
	for {
		mc, err = e.m.Get(ctx, "noinit")
		if err != nil || mc.State == StateFailed || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err != nil || mc.State != StateFailed || mc.Result != "exit-code" {
		t.Errorf("after the failure: %+v, %v; want failed (exit-code)", mc, err)
	}
}

func TestStopPowersOffAndWaits(t *testing.T) {
	e := setup(t)
	e.image(t, "tiny", "sbin/init")
	if err := e.m.Start(ctx, "tiny"); err != nil {
		t.Fatal(err)
	}
	terminated, err := e.m.Stop(ctx, "tiny")
	if err != nil || terminated {
		t.Fatalf("Stop = %v, %v; want a poweroff", terminated, err)
	}
	if kills := e.md.Kills(); len(kills) != 1 || kills[0] != (bustest.Kill{Name: "tiny", Who: "leader", Signal: 38, Interactive: true}) {
		t.Errorf("kills = %+v, want one interactive SIGRTMIN+4 to the leader", kills)
	}
	if slices.Contains(e.md.Names(), "tiny") {
		t.Error("tiny still registered after Stop returned")
	}
	if len(e.md.Terminated()) != 0 {
		t.Errorf("terminated %+v after a poweroff", e.md.Terminated())
	}
}

func TestStopTerminatesAfterTheTimeout(t *testing.T) {
	e := setup(t)
	e.image(t, "tiny", "sbin/init")
	e.m.StopTimeout = time.Millisecond
	e.md.IgnoreKills(true)
	if err := e.m.Start(ctx, "tiny"); err != nil {
		t.Fatal(err)
	}
	terminated, err := e.m.Stop(ctx, "tiny")
	if err != nil || !terminated {
		t.Fatalf("Stop = %v, %v; want terminated", terminated, err)
	}
	if ts := e.md.Terminated(); len(ts) != 1 || ts[0].Name != "tiny" || !ts[0].Interactive {
		t.Errorf("terminations = %+v", ts)
	}
}

func TestStopErrors(t *testing.T) {
	e := setup(t)
	e.image(t, "tiny", "sbin/init")
	if _, err := e.m.Stop(ctx, "tiny"); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Stop of a stopped machine = %v, want ErrNotRunning", err)
	}
	if err := e.m.Start(ctx, "tiny"); err != nil {
		t.Fatal(err)
	}
	e.md.FailKill(dbus.NewError("org.freedesktop.DBus.Error.InteractiveAuthorizationRequired", []any{"Interactive authentication required."}))
	if _, err := e.m.Stop(ctx, "tiny"); !errors.Is(err, ErrNotAuthorized) {
		t.Errorf("refused Stop = %v, want ErrNotAuthorized", err)
	}
	e.md.FailKill(nil)
	e.md.IgnoreKills(true)
	e.m.StopTimeout = time.Millisecond
	e.md.FailTerminate(dbus.NewError("org.freedesktop.DBus.Error.AccessDenied", []any{"Access denied"}))
	if _, err := e.m.Stop(ctx, "tiny"); !errors.Is(err, ErrNotAuthorized) || !strings.Contains(err.Error(), "did not power off within 1ms") {
		t.Errorf("refused terminate = %v", err)
	}
	if _, err := e.m.Stop(ctx, "-bad"); err == nil {
		t.Error("Stop of an invalid name succeeded")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := e.m.Stop(cancelled, "tiny"); err == nil {
		t.Error("Stop with a cancelled context succeeded")
	}
}

func TestStopOfAMachineStillStartingStopsItsUnit(t *testing.T) {
	e := setup(t)
	e.image(t, "tiny", "sbin/init")
	// The unit runs but nspawn has not registered the machine yet.
	e.sd.OnStart(func(bustest.Unit) (string, *dbus.Error) { return "done", nil })
	if err := e.m.Start(ctx, "tiny"); err != nil {
		t.Fatal(err)
	}
	if mc, _ := e.m.Get(ctx, "tiny"); mc.State != StateStarting {
		t.Errorf("state = %q, want starting", mc.State)
	}
	if _, err := e.m.Stop(ctx, "tiny"); err != nil {
		t.Fatal(err)
	}
	calls := e.sd.Calls()
	if last := calls[len(calls)-1]; last.Method != "StopUnit" || !last.Interactive || last.Units[0] != Unit("tiny") {
		t.Errorf("last call %+v, want an interactive StopUnit of the template", last)
	}
}

func TestEnableAndDisable(t *testing.T) {
	e := setup(t)
	e.image(t, "tiny", "sbin/init")
	res, err := e.m.Enable(ctx, "tiny")
	if err != nil {
		t.Fatal(err)
	}
	want := []systemd.UnitFileChange{
		{Type: "symlink", Filename: bustest.WantsDir + "/systemd-nspawn@tiny.service", Destination: "/lib/systemd/system/systemd-nspawn@.service"},
		{Type: "symlink", Filename: bustest.WantsDir + "/machines.target", Destination: "/lib/systemd/system/machines.target"},
	}
	if !slices.Equal(res.Changes, want) || res.Settings != "" || res.ReloadErr != nil {
		t.Errorf("Enable = %+v, want %+v and no settings", res, want)
	}
	if mc, _ := e.m.Get(ctx, "tiny"); !mc.Enabled {
		t.Error("tiny not enabled after Enable")
	}
	var methods []string
	for _, c := range e.sd.Calls() {
		methods = append(methods, c.Method)
		if !c.Interactive {
			t.Errorf("%s without the interactive flag", c.Method)
		}
	}
	if !slices.Equal(methods, []string{"EnableUnitFiles", "Reload"}) {
		t.Errorf("calls %v, want EnableUnitFiles then Reload", methods)
	}

	mustWrite(t, filepath.Join(e.tmp, "run", "tiny.nspawn"), "[Network]\nVirtualEthernet=no\n")
	res, err = e.m.Disable(ctx, "tiny")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changes) != 1 || res.Changes[0].Type != "unlink" || res.Settings != filepath.Join(e.tmp, "run", "tiny.nspawn") {
		t.Errorf("Disable = %+v", res)
	}
	if mc, _ := e.m.Get(ctx, "tiny"); mc.Enabled {
		t.Error("tiny still enabled after Disable")
	}
	// /etc comes first.
	mustWrite(t, filepath.Join(e.tmp, "etc", "tiny.nspawn"), "")
	if got := e.m.Settings("tiny"); got != filepath.Join(e.tmp, "etc", "tiny.nspawn") {
		t.Errorf("Settings = %q, want the one in etc", got)
	}
}

func TestEnableErrors(t *testing.T) {
	e := setup(t)
	e.image(t, "tiny", "sbin/init")
	if _, err := e.m.Enable(ctx, "nosuch"); !errors.Is(err, ErrNoSuchImage) {
		t.Errorf("Enable of no image = %v", err)
	}
	if _, err := e.m.Enable(ctx, "a/b"); err == nil {
		t.Error("Enable of a bad name succeeded")
	}
	if _, err := e.m.Disable(ctx, "a/b"); err == nil {
		t.Error("Disable of a bad name succeeded")
	}
	e.sd.Refuse("Reload", dbus.NewError("org.freedesktop.DBus.Error.InteractiveAuthorizationRequired", []any{"no"}))
	res, err := e.m.Enable(ctx, "tiny")
	if err != nil || !errors.Is(res.ReloadErr, ErrNotAuthorized) {
		t.Errorf("Enable with Reload refused = %+v, %v; want enabled and ReloadErr", res, err)
	}
	res, err = e.m.Disable(ctx, "tiny")
	if err != nil || !errors.Is(res.ReloadErr, ErrNotAuthorized) {
		t.Errorf("Disable with Reload refused = %+v, %v", res, err)
	}
	for _, method := range []string{"EnableUnitFiles", "DisableUnitFiles"} {
		e.sd.Refuse(method, dbus.NewError("org.freedesktop.DBus.Error.InteractiveAuthorizationRequired", []any{"no"}))
	}
	if _, err := e.m.Enable(ctx, "tiny"); !errors.Is(err, ErrNotAuthorized) {
		t.Errorf("refused Enable = %v", err)
	}
	if _, err := e.m.Disable(ctx, "tiny"); !errors.Is(err, ErrNotAuthorized) {
		t.Errorf("refused Disable = %v", err)
	}
}

func TestStatusOfARunningMachine(t *testing.T) {
	e := setup(t)
	e.image(t, "tiny", "sbin/init")
	if err := e.m.Start(ctx, "tiny"); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(e.m.Proc, "4242", "comm"), "systemd\n")
	e.md.SetOSRelease("tiny", map[string]string{"NAME": "Debian GNU/Linux", "PRETTY_NAME": "Debian GNU/Linux 12 (bookworm)"})
	e.md.SetAddresses("tiny", netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("fe80::1"))
	e.sd.SetStats(Unit("tiny"), 5<<20, 2*uint64(time.Second), 9, "")
	st, err := e.m.Status(ctx, "tiny")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Join(st.Lines(time.Now()), "\n")
	for _, want := range []string{"State: running", "Since: ", "Leader: 4242 (systemd)", "Unit: systemd-nspawn@tiny.service, disabled",
		"OS: Debian GNU/Linux 12 (bookworm)", "Address: 10.0.0.2, fe80::1", "Memory: 5.0M", "CPU: 2.000s", "Tasks: 9",
		"Settings: none (the template's defaults: a private network, a user namespace)"} {
		if !strings.Contains(lines, want) {
			t.Errorf("status lacks %q:\n%s", want, lines)
		}
	}
	if !slices.Equal(st.Journal, []string{"first line of systemd-nspawn@tiny.service", "last line"}) {
		t.Errorf("journal = %q", st.Journal)
	}
}

func TestStatusOfStoppedAndFailedMachines(t *testing.T) {
	e := setup(t)
	e.image(t, "app")
	e.m.Journal = func(context.Context, string, int) ([]string, error) { return nil, ErrJournal }
	st, err := e.m.Status(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Join(st.Lines(time.Now()), "\n")
	if !strings.HasPrefix(lines, "State: stopped\n") || !strings.Contains(lines, "Boot: no init in the image") || strings.Contains(lines, "Memory") {
		t.Errorf("status of a stopped image:\n%s", lines)
	}
	if !errors.Is(st.JournalErr, ErrJournal) {
		t.Errorf("JournalErr = %v", st.JournalErr)
	}
	e.sd.OnStart(func(bustest.Unit) (string, *dbus.Error) { return "failed", nil })
	e.m.Start(ctx, "app")
	st, _ = e.m.Status(ctx, "app")
	if got := st.Lines(time.Now())[0]; got != "State: failed (exit-code)" {
		t.Errorf("failed status starts %q", got)
	}
	if _, err := e.m.Status(ctx, "nosuch"); !errors.Is(err, ErrNoSuchImage) {
		t.Errorf("Status of no image = %v", err)
	}
}

// A host that does not account the unit (cgroup v1 controllers not
// delegated, as in the test host): the numbers come from the cgroup v2
// tree and /proc.
func TestNumbersFromTheCgroupTree(t *testing.T) {
	e := setup(t)
	e.image(t, "tiny", "sbin/init")
	if err := e.m.Start(ctx, "tiny"); err != nil {
		t.Fatal(err)
	}
	cg := "/machine.slice/systemd-nspawn@tiny.service"
	e.sd.SetStats(Unit("tiny"), NoValue, NoValue, NoValue, cg)
	dir := filepath.Join(e.m.Cgroups, cg)
	mustWrite(t, filepath.Join(dir, "cpu.stat"), "usage_usec 236843\nuser_usec 163067\n")
	mustWrite(t, filepath.Join(dir, "cgroup.threads"), "")
	mustWrite(t, filepath.Join(dir, "payload", "cgroup.procs"), "10\n11\n")
	mustWrite(t, filepath.Join(dir, "payload", "cgroup.threads"), "10\n11\n12\n")
	mustWrite(t, filepath.Join(dir, "supervisor", "cgroup.procs"), "9\n99\n")
	mustWrite(t, filepath.Join(dir, "supervisor", "cgroup.threads"), "9\n")
	page := uint64(os.Getpagesize())
	mustWrite(t, filepath.Join(e.m.Proc, "10", "statm"), "100 5 3 1 0 2 0\n")
	mustWrite(t, filepath.Join(e.m.Proc, "11", "statm"), "100 7 3 1 0 2 0\n")
	mustWrite(t, filepath.Join(e.m.Proc, "9", "statm"), "100 1 3 1 0 2 0\n")
	mc, err := e.m.Get(ctx, "tiny")
	if err != nil {
		t.Fatal(err)
	}
	if mc.CPU != 236843000 || mc.Tasks != 4 || mc.Memory != 13*page || !mc.MemoryRSS {
		t.Errorf("numbers = cpu %d tasks %d memory %d rss %v; want 236843000, 4, %d, true", mc.CPU, mc.Tasks, mc.Memory, mc.MemoryRSS, 13*page)
	}
	if got := MemoryText(mc); !strings.HasPrefix(got, "~") {
		t.Errorf("MemoryText = %q, want it marked as a sum", got)
	}
	// With the memory controller, memory.current counts.
	mustWrite(t, filepath.Join(dir, "memory.current"), "4096\n")
	if mc, _ = e.m.Get(ctx, "tiny"); mc.Memory != 4096 || mc.MemoryRSS {
		t.Errorf("memory = %d rss %v, want memory.current's 4096", mc.Memory, mc.MemoryRSS)
	}
}

func TestCgroup2Mount(t *testing.T) {
	tmp := t.TempDir()
	for _, c := range []struct{ mountinfo, want string }{
		{"25 30 0:22 / /sys/fs/cgroup rw,nosuid shared:9 - cgroup2 cgroup2 rw\n", "/sys/fs/cgroup"},
		{"25 30 0:22 / /sys/fs/cgroup ro - tmpfs tmpfs ro\n26 25 0:23 / /sys/fs/cgroup/unified rw - cgroup2 cgroup rw\n", "/sys/fs/cgroup/unified"},
		{"25 30 0:22 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n", ""},
	} {
		p := filepath.Join(tmp, "mountinfo")
		mustWrite(t, p, c.mountinfo)
		if got := cgroup2Mount(p); got != c.want {
			t.Errorf("cgroup2Mount(%q) = %q, want %q", c.mountinfo, got, c.want)
		}
	}
	if got := cgroup2Mount(filepath.Join(tmp, "none")); got != "" {
		t.Errorf("cgroup2Mount without a file = %q", got)
	}
}

func TestFormats(t *testing.T) {
	for _, c := range []struct {
		got, want string
	}{
		{Bytes(512), "512B"}, {Bytes(1536), "1.5K"}, {Bytes(23 << 20), "23M"}, {Bytes(5 << 20), "5.0M"}, {Bytes(3 << 30), "3.0G"}, {Bytes(NoValue), "-"},
		{CPUTime(812 * uint64(time.Millisecond)), "812ms"}, {CPUTime(1234 * uint64(time.Millisecond)), "1.234s"},
		{CPUTime(uint64(2*time.Minute + 3456*time.Millisecond)), "2min 3.456s"}, {CPUTime(uint64(62 * time.Minute)), "1h 2min"}, {CPUTime(NoValue), "-"},
		{Age(-time.Second), "0s"}, {Age(12 * time.Second), "12s"}, {Age(5 * time.Minute), "5m"}, {Age(125 * time.Minute), "2h 5m"}, {Age(76 * time.Hour), "3d 4h"},
		{BootYes.String(), "yes"}, {BootNo.String(), "no"}, {BootUnknown.String(), "unknown"},
		{MemoryText(Machine{Memory: NoValue}), "-"},
		{(&BootError{Name: "x", Job: "timeout"}).Error(), "machine x failed to boot (timeout): see its log with journalctl -u systemd-nspawn@x.service"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestJournalWithoutJournalctlLines(t *testing.T) {
	// journalctl as this user on a unit nobody has: no lines, one error.
	if _, err := journal(ctx, "nspawn-tray-no-such-unit-"+t.Name()+".service", 3); !errors.Is(err, ErrJournal) {
		t.Errorf("journal of no unit = %v, want ErrJournal", err)
	}
}

func TestListWithoutMachined(t *testing.T) {
	b := bustest.New(t)
	bustest.NewSystemd(t, b.Conn(t))
	m := New(systemd.New(b.Conn(t)), machined.New(b.Conn(t)))
	if _, err := m.List(ctx); err == nil {
		t.Error("List without machined succeeded")
	}
	if _, err := m.Get(ctx, "tiny"); err == nil {
		t.Error("Get without machined succeeded")
	}
}
