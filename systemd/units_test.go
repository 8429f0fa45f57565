package systemd

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/internal/bustest"
)

func TestStartUnitWaitsForItsJobAndAllowsAPrompt(t *testing.T) {
	fake, m, conn := setup(t)
	ctx := context.Background()
	if err := m.StartUnit(ctx, "systemd-nspawn@tiny.service"); err != nil {
		t.Fatal(err)
	}
	calls := fake.Calls()
	want := bustest.SystemdCall{Method: "StartUnit", Units: []string{"systemd-nspawn@tiny.service"}, Interactive: true, Sender: conn.Names()[0]}
	if len(calls) != 1 || calls[0].Method != want.Method || !slices.Equal(calls[0].Units, want.Units) || !calls[0].Interactive || calls[0].Sender != want.Sender {
		t.Errorf("calls = %+v, want %+v", calls, want)
	}
	st, err := m.UnitStatus(ctx, "systemd-nspawn@tiny.service")
	if err != nil || !st.Loaded || st.ActiveState != "active" || st.SubState != "running" || st.Memory != NoValue {
		t.Errorf("UnitStatus = %+v, %v", st, err)
	}
	if err := m.StopUnitAndWait(ctx, "systemd-nspawn@tiny.service"); err != nil {
		t.Fatal(err)
	}
	if m.pendingJobs() != 0 || len(m.early) != 0 {
		t.Errorf("%d jobs and %d early results left", m.pendingJobs(), len(m.early))
	}
}

func TestStartUnitFailures(t *testing.T) {
	fake, m, _ := setup(t)
	ctx := context.Background()
	fake.OnStart(func(bustest.Unit) (string, *dbus.Error) { return "dependency", nil })
	err := m.StartUnit(ctx, "a.service")
	var je *JobError
	if !errors.Is(err, ErrJobFailed) || !errors.As(err, &je) || je.Result != "dependency" {
		t.Errorf("failed job = %v", err)
	}
	st, _ := m.UnitStatus(ctx, "a.service")
	if st.ActiveState != "failed" || st.Result != "exit-code" || st.ExecMainStatus != 1 {
		t.Errorf("failed unit = %+v", st)
	}
	fake.Refuse("StartUnit", dbus.NewError("org.freedesktop.DBus.Error.AccessDenied", []any{"Access denied"}))
	if err := m.StartUnit(ctx, "b.service"); !errors.Is(err, ErrAccessDenied) {
		t.Errorf("refused start = %v", err)
	}
	fake.Refuse("StopUnit", dbus.NewError("org.freedesktop.DBus.Error.InteractiveAuthorizationRequired", []any{"no"}))
	if err := m.StopUnitAndWait(ctx, "a.service"); !errors.Is(err, ErrAccessDenied) {
		t.Errorf("refused stop = %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := m.StartUnit(cancelled, "c.service"); err == nil {
		t.Error("StartUnit with a cancelled context succeeded")
	}
}

func TestUnitFilesAndReload(t *testing.T) {
	fake, m, _ := setup(t)
	ctx := context.Background()
	changes, err := m.EnableUnitFiles(ctx, []string{"systemd-nspawn@tiny.service"})
	if err != nil || len(changes) != 1 || changes[0].Type != "symlink" {
		t.Fatalf("EnableUnitFiles = %+v, %v", changes, err)
	}
	if s, err := m.UnitFileState(ctx, "systemd-nspawn@tiny.service"); s != "enabled" || err != nil {
		t.Errorf("UnitFileState = %q, %v", s, err)
	}
	changes, err = m.DisableUnitFiles(ctx, []string{"systemd-nspawn@tiny.service"})
	if err != nil || len(changes) != 1 || changes[0].Type != "unlink" {
		t.Fatalf("DisableUnitFiles = %+v, %v", changes, err)
	}
	if err := m.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	fake.NoUnitFile("nosuch.service")
	if _, err := m.UnitFileState(ctx, "nosuch.service"); !errors.Is(err, ErrNoUnitFile) {
		t.Errorf("UnitFileState of no file = %v", err)
	}
	for _, method := range []string{"EnableUnitFiles", "DisableUnitFiles", "Reload"} {
		fake.Refuse(method, dbus.NewError("org.freedesktop.DBus.Error.InteractiveAuthorizationRequired", []any{"no"}))
	}
	if _, err := m.EnableUnitFiles(ctx, []string{"x.service"}); !errors.Is(err, ErrAccessDenied) {
		t.Errorf("refused enable = %v", err)
	}
	if _, err := m.DisableUnitFiles(ctx, []string{"x.service"}); !errors.Is(err, ErrAccessDenied) {
		t.Errorf("refused disable = %v", err)
	}
	if err := m.Reload(ctx); !errors.Is(err, ErrAccessDenied) {
		t.Errorf("refused reload = %v", err)
	}
	for _, c := range fake.Calls() {
		if !c.Interactive {
			t.Errorf("%s without the interactive flag", c.Method)
		}
	}
}

func TestUnitStatusOfAnUnloadedUnit(t *testing.T) {
	_, m, _ := setup(t)
	st, err := m.UnitStatus(context.Background(), "systemd-nspawn@never.service")
	if err != nil || st.Loaded || st.ActiveState != "inactive" || st.CPU != NoValue {
		t.Errorf("UnitStatus = %+v, %v; want inactive, not loaded", st, err)
	}
	if typeInterface("x.target") != "" || typeInterface("machine-x.scope") != "org.freedesktop.systemd1.Scope" {
		t.Error("typeInterface")
	}
}

// Follow hears enables (anyone's), reloads and the end of jobs of the units
// it watches, and nothing else.
func TestFollow(t *testing.T) {
	fake, m, _, svc := setupWithService(t)
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := m.Follow(ctx, func(unit string) bool { return unit == "watched.service" })
	if err != nil {
		t.Fatal(err)
	}
	drain := func() {
		select {
		case <-ch:
		default:
		}
	}
	wait := func(what string) {
		t.Helper()
		if _, ok := <-ch; !ok {
			t.Fatalf("%s: channel closed", what)
		}
	}
	m.EnableUnitFiles(ctx, []string{"x.service"})
	wait("enable")
	m.Reload(ctx)
	wait("reload")
	drain()
	m.StartUnit(ctx, "other.service")
	m.StartUnit(ctx, "watched.service")
	wait("job of watched.service")
	// Someone else's enable, told by systemd's own signal.
	drain()
	svc.Emit("/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager.UnitFilesChanged")
	wait("systemd's own signal")
	if len(fake.Calls()) != 4 {
		t.Errorf("calls = %+v", fake.Calls())
	}
	cancel()
	for range ch {
	}
}

// A watched unit that ends without a job (its machine powered off from
// inside) is told by its PropertiesChanged.
func TestWatchUnit(t *testing.T) {
	fake, m, _ := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	unit := "systemd-nspawn@tiny-1.service"
	ch, err := m.Follow(ctx, func(u string) bool { return u == unit })
	if err != nil {
		t.Fatal(err)
	}
	if err := m.StartUnit(ctx, unit); err != nil {
		t.Fatal(err)
	}
	<-ch // its job
	for range 2 {
		if err := m.WatchUnit(ctx, unit); err != nil {
			t.Fatal(err)
		}
	}
	if err := fake.Exit(unit, 1, 0); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-ch; !ok {
		t.Fatal("channel closed")
	}
	for _, u := range []string{unit, "a.service", "x-y@z\\w.scope"} {
		if p := unitPath(u); p != bustest.UnitPath(u) || unitOfPath(p) != u {
			t.Errorf("unitPath(%q) = %q (want %q), back %q", u, p, bustest.UnitPath(u), unitOfPath(p))
		}
	}
	if unitOfPath("/org/freedesktop/systemd1/job/1") != "" || unitOfPath("/org/freedesktop/systemd1/unit/a/b") != "" {
		t.Error("unitOfPath of other paths")
	}
}

// MainExit knows how the main process ended while the unit is still
// deactivating (its ExecStopPost running), and WatchUnitWhile's match goes
// with its context: later changes are no longer followed.
func TestMainExitAndWatchUnitWhile(t *testing.T) {
	fake, m, _ := setup(t)
	ctx := context.Background()
	unit := "systemd-nspawn@tiny-2.service"
	if _, _, err := m.MainExit(ctx, unit); !errors.Is(err, ErrNoSuchUnit) {
		t.Errorf("MainExit of an unloaded unit: %v, want ErrNoSuchUnit", err)
	}
	release := make(chan struct{})
	fake.OnEnd(func(bustest.Unit) { <-release })
	defer close(release)
	if err := m.StartUnit(ctx, unit); err != nil {
		t.Fatal(err)
	}
	if code, _, err := m.MainExit(ctx, unit); err != nil || code != 0 {
		t.Errorf("MainExit while it runs: %d, %v; want 0", code, err)
	}
	wctx, cancel := context.WithCancel(ctx)
	ch, err := m.WatchUnitWhile(wctx, unit)
	if err != nil {
		t.Fatal(err)
	}
	// Another follower sees the end, once the match is gone.
	other, err := m.Follow(ctx, func(u string) bool { return u == unit })
	if err != nil {
		t.Fatal(err)
	}
	if err := fake.Exit(unit, 2, 15); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("no change followed for the watched unit")
	}
	if code, status, err := m.MainExit(ctx, unit); err != nil || code != 2 || status != 15 {
		t.Errorf("MainExit while its ExecStopPost runs: %d, %d, %v; want 2, 15", code, status, err)
	}
	// Its context ended: the channel closes, and the match is removed, so
	// the unit's end (once the hook returns) reaches no follower.
	cancel()
	for range ch {
	}
	time.Sleep(100 * time.Millisecond) // the RemoveMatch goes out
	for len(other) > 0 {
		<-other
	}
	release <- struct{}{}
	select {
	case <-other:
		t.Error("the unit's PropertiesChanged still arrives after WatchUnitWhile's context ended")
	case <-time.After(300 * time.Millisecond):
	}
}
