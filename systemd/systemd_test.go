package systemd

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/internal/bustest"
)

// setup starts a bus with the fake systemd on a connection of its own and
// returns it with a subscribed Manager on another.
func setup(t *testing.T) (*bustest.Systemd, *Manager, *dbus.Conn) {
	t.Helper()
	fake, m, conn, _ := setupWithService(t)
	return fake, m, conn
}

// setupWithService is setup that also returns the fake's own connection,
// to emit what the fake does not.
func setupWithService(t *testing.T) (*bustest.Systemd, *Manager, *dbus.Conn, *dbus.Conn) {
	t.Helper()
	b := bustest.New(t)
	svc := b.Conn(t)
	fake := bustest.NewSystemd(t, svc)
	conn := b.Conn(t)
	m := New(conn)
	if err := m.Subscribe(context.Background()); err != nil {
		t.Fatal(err)
	}
	return fake, m, conn, svc
}

func (m *Manager) pendingJobs() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.jobs)
}

func (m *Manager) waiters() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, cs := range m.changes {
		n += len(cs)
	}
	return n
}

// service is the property list of a transient service the daemon would
// start: held by a reference, so WaitExit can read how it ended.
func service(argv ...string) []Property {
	return []Property{
		Prop("Description", "test app"),
		Prop("ExecStart", []ExecCommand{{Path: argv[0], Argv: argv}}),
		Prop("CollectMode", "inactive-or-failed"),
		Prop("AddRef", true),
	}
}

func TestProp(t *testing.T) {
	p := Prop("AddRef", true)
	if p.Name != "AddRef" || p.Value.Value() != true || p.Value.Signature().String() != "b" {
		t.Errorf("Prop = %+v", p)
	}
}

func TestSubscribeRegistersWithSystemd(t *testing.T) {
	fake, _, conn := setup(t)
	if subs := fake.Subscribers(); !slices.Equal(subs, []string{conn.Names()[0]}) {
		t.Errorf("Subscribers = %v, want [%s]", subs, conn.Names()[0])
	}
}

func TestSubscribeWithoutSystemd(t *testing.T) {
	b := bustest.New(t)
	if err := New(b.Conn(t)).Subscribe(context.Background()); err == nil || !strings.Contains(err.Error(), "subscribe") {
		t.Errorf("Subscribe without systemd = %v, want a subscribe error", err)
	}
}

func TestSubscribeCancelled(t *testing.T) {
	b := bustest.New(t)
	bustest.NewSystemd(t, b.Conn(t))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := New(b.Conn(t)).Subscribe(ctx); err == nil {
		t.Error("Subscribe with a cancelled context succeeded")
	}
}

func TestStartTransientUnitPassesProperties(t *testing.T) {
	fake, m, _ := setup(t)
	if err := m.StartTransientUnit(context.Background(), "nspawn-tray-a.service", service("/bin/true", "-x")); err != nil {
		t.Fatal(err)
	}
	started := fake.Started()
	if len(started) != 1 || started[0].Name != "nspawn-tray-a.service" {
		t.Fatalf("Started = %+v", started)
	}
	u := started[0]
	if got := u.Argv("ExecStart"); !slices.Equal(got, []string{"/bin/true", "-x"}) {
		t.Errorf("ExecStart argv = %q", got)
	}
	if d, _ := u.Props["Description"].Value().(string); d != "test app" {
		t.Errorf("Description = %q", d)
	}
	if _, ok := fake.Loaded("nspawn-tray-a.service"); !ok {
		t.Error("unit not loaded after a successful start")
	}
	if n := m.pendingJobs(); n != 0 {
		t.Errorf("%d jobs still tracked after the start finished", n)
	}
}

func TestStartTransientUnitResults(t *testing.T) {
	for _, tc := range []struct {
		desc   string
		result string
		err    *dbus.Error
		is     []error
		isNot  []error
		detail string
	}{
		{desc: "done", result: "done"},
		{desc: "job failed", result: "failed", is: []error{ErrJobFailed}, detail: "failed"},
		{desc: "job dependency", result: "dependency", is: []error{ErrJobFailed}, detail: "dependency"},
		{desc: "unit exists", err: dbus.NewError(errUnitExists, []any{"exists"}), is: []error{ErrUnitExists}, isNot: []error{ErrJobFailed, ErrNoSuchUnit}},
		{desc: "other error", err: dbus.NewError("org.freedesktop.DBus.Error.AccessDenied", []any{"no"}), isNot: []error{ErrUnitExists, ErrJobFailed}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			fake, m, _ := setup(t)
			fake.OnStart(func(bustest.Unit) (string, *dbus.Error) { return tc.result, tc.err })
			err := m.StartTransientUnit(context.Background(), "u.service", service("/bin/true"))
			if tc.result == "done" {
				if err != nil {
					t.Fatalf("err = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("StartTransientUnit succeeded")
			}
			for _, e := range tc.is {
				if !errors.Is(err, e) {
					t.Errorf("err = %v, want %v", err, e)
				}
			}
			for _, e := range tc.isNot {
				if errors.Is(err, e) {
					t.Errorf("err = %v, must not be %v", err, e)
				}
			}
			if !strings.Contains(err.Error(), "u.service") || !strings.Contains(err.Error(), tc.detail) {
				t.Errorf("err %q does not name the unit and %q", err, tc.detail)
			}
			if n := m.pendingJobs(); n != 0 {
				t.Errorf("%d jobs still tracked", n)
			}
		})
	}
}

// The same name twice: the real systemd refuses the second, and callers
// tell that apart from other failures.
func TestStartTransientUnitTwiceIsUnitExists(t *testing.T) {
	_, m, _ := setup(t)
	ctx := context.Background()
	if err := m.StartTransientUnit(ctx, "dup.service", service("/bin/true")); err != nil {
		t.Fatal(err)
	}
	if err := m.StartTransientUnit(ctx, "dup.service", service("/bin/true")); !errors.Is(err, ErrUnitExists) {
		t.Errorf("second start: err = %v, want ErrUnitExists", err)
	}
}

// Concurrent starts: each must get its own job's result, not another's.
func TestStartTransientUnitConcurrentJobsGetTheirOwnResult(t *testing.T) {
	fake, m, _ := setup(t)
	fake.OnStart(func(u bustest.Unit) (string, *dbus.Error) {
		if strings.HasPrefix(u.Name, "bad") {
			return "failed", nil
		}
		return "done", nil
	})
	names := []string{"good1.service", "bad1.service", "good2.service", "bad2.service", "good3.service", "bad3.service"}
	type result struct {
		name string
		err  error
	}
	ch := make(chan result, len(names))
	for _, n := range names {
		go func() { ch <- result{n, m.StartTransientUnit(context.Background(), n, service("/bin/true"))} }()
	}
	results := map[string]error{}
	for range names {
		r := <-ch
		results[r.name] = r.err
	}
	for _, n := range names {
		if failed := errors.Is(results[n], ErrJobFailed); failed != strings.HasPrefix(n, "bad") || (!failed && results[n] != nil) {
			t.Errorf("%s: err = %v", n, results[n])
		}
	}
	if n := m.pendingJobs(); n != 0 {
		t.Errorf("%d jobs still tracked", n)
	}
}

// A start whose job never finishes must give up with the context, and
// forget the job.
func TestStartTransientUnitCancelled(t *testing.T) {
	b := bustest.New(t)
	bustest.NewSystemd(t, b.Conn(t))
	// Not subscribed: no JobRemoved ever reaches this Manager, so the job
	// stays pending until the context ends.
	m := New(b.Conn(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- m.StartTransientUnit(ctx, "slow.service", service("/bin/true")) }()
	bustest.Eventually(t, "the job to be tracked", func() bool { return m.pendingJobs() == 1 })
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrJobFailed) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("StartTransientUnit did not return after cancel")
	}
	if n := m.pendingJobs(); n != 0 {
		t.Errorf("%d jobs still tracked after cancel", n)
	}
}

func TestStopUnit(t *testing.T) {
	fake, m, _ := setup(t)
	ctx := context.Background()
	if err := m.StartTransientUnit(ctx, "run.service", service("/bin/sleep", "1000")); err != nil {
		t.Fatal(err)
	}
	if err := m.StopUnit(ctx, "run.service"); err != nil {
		t.Fatal(err)
	}
	if got := fake.Stopped(); !slices.Equal(got, []string{"run.service"}) {
		t.Errorf("Stopped = %v", got)
	}
	u, ok := fake.Loaded("run.service")
	if !ok || u.ActiveState != "inactive" {
		t.Errorf("after stop: unit %+v loaded=%v, want inactive and held by its reference", u, ok)
	}
}

func TestStopUnitUnknownIsNoSuchUnit(t *testing.T) {
	_, m, _ := setup(t)
	err := m.StopUnit(context.Background(), "ghost.service")
	if !errors.Is(err, ErrNoSuchUnit) || errors.Is(err, ErrUnitExists) {
		t.Errorf("err = %v, want ErrNoSuchUnit", err)
	}
	var de dbus.Error
	if !errors.As(err, &de) || de.Name != errNoSuchUnit {
		t.Errorf("err = %v lost the D-Bus error", err)
	}
}

func TestUnrefDropsTheReference(t *testing.T) {
	fake, m, _ := setup(t)
	ctx := context.Background()
	if err := m.StartTransientUnit(ctx, "held.service", service("/bin/true")); err != nil {
		t.Fatal(err)
	}
	if err := fake.Exit("held.service", CodeExited, 3); err != nil {
		t.Fatal(err)
	}
	// A failed unit with a reference stays loaded until it is dropped.
	if _, ok := fake.Loaded("held.service"); !ok {
		t.Fatal("unit collected while referenced")
	}
	if err := m.Unref(ctx, "held.service"); err != nil {
		t.Fatal(err)
	}
	if got := fake.Unrefs(); !slices.Equal(got, []string{"held.service"}) {
		t.Errorf("Unrefs = %v", got)
	}
	if _, ok := fake.Loaded("held.service"); ok {
		t.Error("unit still loaded after Unref")
	}
}

// A unit already gone has nothing to drop: that is not an error.
func TestUnrefOfUnknownUnitIsNotAnError(t *testing.T) {
	fake, m, _ := setup(t)
	if err := m.Unref(context.Background(), "gone.service"); err != nil {
		t.Errorf("Unref(gone) = %v", err)
	}
	if got := fake.Unrefs(); len(got) != 0 {
		t.Errorf("Unref called on a unit that GetUnit did not find: %v", got)
	}
}

func TestUnrefWithoutSystemd(t *testing.T) {
	b := bustest.New(t)
	err := New(b.Conn(t)).Unref(context.Background(), "x.service")
	if err == nil || errors.Is(err, ErrNoSuchUnit) || !strings.Contains(err.Error(), "x.service") {
		t.Errorf("Unref without systemd = %v, want an error naming the unit", err)
	}
}

func TestWaitExit(t *testing.T) {
	for _, tc := range []struct {
		desc string
		end  func(*bustest.Systemd, *Manager, *dbus.Conn) error
		want Exit
	}{
		{"exit 0", func(f *bustest.Systemd, _ *Manager, _ *dbus.Conn) error { return f.Exit("w.service", CodeExited, 0) }, Exit{CodeExited, 0}},
		{"exit 7", func(f *bustest.Systemd, _ *Manager, _ *dbus.Conn) error { return f.Exit("w.service", CodeExited, 7) }, Exit{CodeExited, 7}},
		{"killed by SIGKILL", func(f *bustest.Systemd, _ *Manager, _ *dbus.Conn) error { return f.Exit("w.service", CodeKilled, 9) }, Exit{CodeKilled, 9}},
		{"stopped", func(_ *bustest.Systemd, m *Manager, svc *dbus.Conn) error {
			if err := m.StopUnit(context.Background(), "w.service"); err != nil {
				return err
			}
			// The fake's StopUnit changes the state without announcing it;
			// systemd would, so announce it for the fake.
			return svc.Emit(bustest.UnitPath("w.service"), propsIf+".PropertiesChanged", unitIf,
				map[string]dbus.Variant{"ActiveState": dbus.MakeVariant("inactive")}, []string{})
		}, Exit{CodeKilled, 15}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			fake, m, _, svc := setupWithService(t)
			ctx := context.Background()
			if err := m.StartTransientUnit(ctx, "w.service", service("/bin/app")); err != nil {
				t.Fatal(err)
			}
			type result struct {
				e   Exit
				err error
			}
			done := make(chan result, 1)
			go func() {
				e, err := m.WaitExit(ctx, "w.service")
				done <- result{e, err}
			}()
			// End it only once WaitExit follows the unit, so the exit comes
			// through PropertiesChanged rather than the first read.
			bustest.Eventually(t, "WaitExit to follow the unit", func() bool { return m.waiters() == 1 })
			select {
			case r := <-done:
				t.Fatalf("WaitExit returned %+v, %v before the unit ended", r.e, r.err)
			default:
			}
			if err := tc.end(fake, m, svc); err != nil {
				t.Fatal(err)
			}
			select {
			case r := <-done:
				if r.err != nil || r.e != tc.want {
					t.Errorf("WaitExit = %+v, %v; want %+v", r.e, r.err, tc.want)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("WaitExit did not return after the unit ended")
			}
			if n := m.waiters(); n != 0 {
				t.Errorf("%d waiters left registered", n)
			}
		})
	}
}

func TestWaitExitOfAnEndedUnitReturnsAtOnce(t *testing.T) {
	fake, m, _ := setup(t)
	ctx := context.Background()
	if err := m.StartTransientUnit(ctx, "e.service", service("/bin/app")); err != nil {
		t.Fatal(err)
	}
	if err := fake.Exit("e.service", CodeExited, 42); err != nil {
		t.Fatal(err)
	}
	e, err := m.WaitExit(ctx, "e.service")
	if err != nil || e != (Exit{CodeExited, 42}) {
		t.Errorf("WaitExit = %+v, %v; want exit 42", e, err)
	}
}

// Two waiters on one unit (the daemon and a `launch --wait` caller) both
// learn how it ended, and a change of another unit wakes neither wrongly.
func TestWaitExitTwoWaitersAndAnotherUnit(t *testing.T) {
	fake, m, _ := setup(t)
	ctx := context.Background()
	for _, n := range []string{"one.service", "other.service"} {
		if err := m.StartTransientUnit(ctx, n, service("/bin/app")); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan Exit, 2)
	for range 2 {
		go func() {
			e, err := m.WaitExit(ctx, "one.service")
			if err != nil {
				t.Error(err)
			}
			done <- e
		}()
	}
	bustest.Eventually(t, "both waiters", func() bool { return m.waiters() == 2 })
	if err := fake.Exit("other.service", CodeExited, 1); err != nil {
		t.Fatal(err)
	}
	if err := fake.Exit("one.service", CodeExited, 5); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case e := <-done:
			if e != (Exit{CodeExited, 5}) {
				t.Errorf("WaitExit = %+v, want the exit of one.service (status 5)", e)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a waiter did not return")
		}
	}
	if n := m.waiters(); n != 0 {
		t.Errorf("%d waiters left registered", n)
	}
}

func TestWaitExitCancelled(t *testing.T) {
	fake, m, _ := setup(t)
	if err := m.StartTransientUnit(context.Background(), "c.service", service("/bin/app")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := m.WaitExit(ctx, "c.service")
		errc <- err
	}()
	bustest.Eventually(t, "WaitExit to follow the unit", func() bool { return m.waiters() == 1 })
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitExit did not return after cancel")
	}
	if n := m.waiters(); n != 0 {
		t.Errorf("%d waiters left registered after cancel", n)
	}
	if u, ok := fake.Loaded("c.service"); !ok || u.ActiveState != "active" {
		t.Errorf("cancelling the wait touched the unit: %+v %v", u, ok)
	}
}

func TestWaitExitUnknownUnit(t *testing.T) {
	_, m, _ := setup(t)
	_, err := m.WaitExit(context.Background(), "ghost.service")
	if !errors.Is(err, ErrNoSuchUnit) {
		t.Errorf("err = %v, want ErrNoSuchUnit", err)
	}
}

// A unit without a reference may be collected the moment it ends (which
// is why callers start units with AddRef): the waiter must then fail
// instead of hanging. Which error depends on the bus: the fake drops the
// object, real systemd would answer for a fresh, inactive unit.
func TestWaitExitUnitCollectedUnderIt(t *testing.T) {
	fake, m, _ := setup(t)
	ctx := context.Background()
	props := []Property{Prop("ExecStart", []ExecCommand{{Path: "/bin/app", Argv: []string{"/bin/app"}}}),
		Prop("CollectMode", "inactive-or-failed")}
	if err := m.StartTransientUnit(ctx, "nr.service", props); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := m.WaitExit(ctx, "nr.service")
		errc <- err
	}()
	bustest.Eventually(t, "WaitExit to follow the unit", func() bool { return m.waiters() == 1 })
	if err := fake.Exit("nr.service", CodeExited, 0); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if err == nil || !strings.Contains(err.Error(), "nr.service") {
			t.Errorf("err = %v, want an error naming the unit", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitExit hung on a collected unit")
	}
}

// Anyone on the bus can emit a JobRemoved: a malformed one, or one for a
// job nobody waits for, must neither stop the dispatcher nor confuse a
// start that follows.
func TestDispatchSkipsMalformedAndUnknownJobRemoved(t *testing.T) {
	fake, m, _, svc := setupWithService(t)
	for _, body := range [][]any{
		{"not", "a", "job"},
		{uint32(99), dbus.ObjectPath("/org/freedesktop/systemd1/job/99"), "x.service", "failed"},
	} {
		if err := svc.Emit(objPath, managerIf+".JobRemoved", body...); err != nil {
			t.Fatal(err)
		}
	}
	fake.OnStart(func(bustest.Unit) (string, *dbus.Error) { return "failed", nil })
	if err := m.StartTransientUnit(context.Background(), "after.service", service("/bin/true")); !errors.Is(err, ErrJobFailed) {
		t.Errorf("start after stray signals: err = %v, want ErrJobFailed", err)
	}
}

// Any user on the system bus (whose default policy lets everyone send
// signals) can send a JobRemoved, and job paths are sequential, so the next
// one is easy to guess. Here an unprivileged connection reports "failed" for
// a job systemd completes with "done": the start must not believe it.
func TestStartTransientUnitIgnoresJobRemovedFromOthers(t *testing.T) {
	b := bustest.New(t)
	fake := bustest.NewSystemd(t, b.Conn(t))
	m := New(b.Conn(t))
	if err := m.Subscribe(context.Background()); err != nil {
		t.Fatal(err)
	}
	mallory := b.ConnAs(t, bustest.Mallory, bustest.Mallory)
	fake.OnStart(func(bustest.Unit) (string, *dbus.Error) {
		// The fake's first job is job/1. The round trip makes the bus route
		// the forged signal before systemd's reply to the start.
		mallory.Emit(objPath, managerIf+".JobRemoved", uint32(1), dbus.ObjectPath("/org/freedesktop/systemd1/job/1"), "victim.service", "failed")
		mallory.BusObject().Call("org.freedesktop.DBus.GetId", 0)
		return "done", nil
	})
	if err := m.StartTransientUnit(context.Background(), "victim.service", service("/bin/true")); err != nil {
		t.Errorf("systemd finished the job with \"done\", but StartTransientUnit = %v (a forged JobRemoved won)", err)
	}
}
