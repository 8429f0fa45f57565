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

// service is the property list of a transient service the daemon would
// start.
func service(argv ...string) []Property {
	return []Property{
		Prop("Description", "test app"),
		Prop("ExecStart", []ExecCommand{{Path: argv[0], Argv: argv}}),
		Prop("CollectMode", "inactive-or-failed"),
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
	// Stopped and, collected when inactive, gone.
	if u, ok := fake.Loaded("run.service"); ok {
		t.Errorf("after stop: unit %+v still loaded", u)
	}
	if m.Loaded(ctx, "run.service") {
		t.Error("Loaded after the stop")
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
