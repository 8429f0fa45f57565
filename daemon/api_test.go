package daemon

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/internal/bustest"
	"github.com/nspawn-tray/nspawn-tray/launcher"
	"github.com/nspawn-tray/nspawn-tray/stage"
)

var sentinels = []error{launcher.ErrUnknownApp, launcher.ErrImageMissing, launcher.ErrNotAuthorized, launcher.ErrNoSuchInstance,
	launcher.ErrNoDaemon, launcher.ErrInvalidArgs, launcher.ErrSessionResource, launcher.ErrFailed}

// Every error name the daemon answers reaches the client as its sentinel
// (and no other) with the daemon's message, which is meant for the user.
func TestErrorNamesReachTheClient(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		errName string
		want    error
		msg     string
		provoke func(e *env) error
	}{
		{"UnknownApp", launcher.ErrNameUnknownApp, launcher.ErrUnknownApp, `unknown app "nosuch"`,
			func(e *env) error { _, err := e.client(bustest.Alice).Metadata(ctx, "nosuch"); return err }},
		{"ImageMissing", launcher.ErrNameImageMissing, launcher.ErrImageMissing,
			`image "absent" of app "noimage" is missing: no directory `,
			func(e *env) error {
				e.app("noimage", strings.Replace(plainApp, `"img"`, `"absent"`, 1), 0o644)
				_, err := e.client(bustest.Alice).Metadata(ctx, "noimage")
				return err
			}},
		{"InvalidArguments", launcher.ErrNameInvalidArgs, launcher.ErrInvalidArgs,
			`unknown session field "LD_PRELOAD"`,
			func(e *env) error {
				return launcher.MapError(e.raw(bustest.Alice, "Launch", "plain",
					map[string]dbus.Variant{"LD_PRELOAD": dbus.MakeVariant("/tmp/x.so")}).Err)
			}},
		{"NoSuchInstance", launcher.ErrNameNoSuchInstance, launcher.ErrNoSuchInstance, `no nspawn-tray instance "plain-0000abcd"`,
			func(e *env) error { return e.client(bustest.Alice).Stop(ctx, "plain-0000abcd") }},
		{"SessionResource", launcher.ErrNameSessionResource, launcher.ErrSessionResource,
			`app "full" needs a display, and the session has none (DISPLAY is not set)`,
			func(e *env) error { _, _, err := e.launch(bustest.Alice, "full", launcher.Session{}); return err }},
		// Failed carries what went wrong inside, so the client says what
		// it was doing.
		{"Failed", launcher.ErrNameFailed, launcher.ErrFailed, "launch plain: polkit: check " + launcher.ActionLaunch,
			func(e *env) error {
				e.polkit.Fail(dbus.NewError("org.freedesktop.PolicyKit1.Error.Failed", []any{"broken"}))
				_, _, err := e.launch(bustest.Alice, "plain", launcher.Session{})
				return err
			}},
		{"AccessDenied", launcher.ErrNameAccessDenied, launcher.ErrNotAuthorized, "not authorized for " + launcher.ActionLaunch,
			func(e *env) error {
				e.polkit.Answer(launcher.ActionLaunch, bustest.PolkitAnswer{})
				_, _, err := e.launch(bustest.Alice, "plain", launcher.Session{})
				return err
			}},
		{"InteractiveAuthorizationRequired", launcher.ErrNameInteractive, launcher.ErrNotAuthorized,
			launcher.ActionLaunch + " needs authentication, and the call did not allow it",
			func(e *env) error {
				e.polkit.Answer(launcher.ActionLaunch, bustest.PolkitAnswer{Challenge: true})
				return launcher.MapError(e.raw(bustest.Alice, "Launch", "plain", map[string]dbus.Variant{}).Err)
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			err := tc.provoke(e)
			var se *launcher.ServiceError
			if !errors.As(err, &se) || se.Name != tc.errName {
				t.Fatalf("error %v (%T), want a ServiceError %s", err, err, tc.errName)
			}
			if !strings.HasPrefix(err.Error(), tc.msg) {
				t.Errorf("message %q, want it to start with %q", err.Error(), tc.msg)
			}
			for _, s := range sentinels {
				if errors.Is(err, s) != (s == tc.want) {
					t.Errorf("errors.Is(err, %q) = %v", s, !(s == tc.want))
				}
			}
		})
	}
}

// Without a daemon on the bus (and nothing to activate one) the client
// says the daemon is not installed.
func TestNoDaemonIsErrNoDaemon(t *testing.T) {
	b := bustest.New(t)
	c := launcher.NewClient(b.Conn(t))
	ctx := context.Background()
	_, _, err := c.Launch(ctx, "plain", launcher.Session{})
	var se *launcher.ServiceError
	if !errors.Is(err, launcher.ErrNoDaemon) || !errors.As(err, &se) || se.Name != launcher.ErrNameServiceUnknown {
		t.Fatalf("Launch: %v, want ErrNoDaemon", err)
	}
	if err.Error() != launcher.ErrNoDaemon.Error() {
		t.Errorf("message %q, want %q (not the bus's)", err.Error(), launcher.ErrNoDaemon.Error())
	}
	if _, err := c.List(ctx); !errors.Is(err, launcher.ErrNoDaemon) {
		t.Errorf("List: %v, want ErrNoDaemon", err)
	}
}

func TestStopErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		machine func(e *env) string
		want    error
		msg     string
	}{
		{"not an instance name", func(*env) string { return "sshd" }, launcher.ErrNoSuchInstance, `no nspawn-tray instance "sshd"`},
		{"overlong name is cut short", func(*env) string { return strings.Repeat("x", 100) }, launcher.ErrNoSuchInstance,
			`no nspawn-tray instance "` + strings.Repeat("x", 64) + `…"`},
		{"no record", func(*env) string { return "plain-0000abcd" }, launcher.ErrNoSuchInstance, `no nspawn-tray instance "plain-0000abcd"`},
		{"record of another machine", func(e *env) string {
			m := e.mustLaunch(bustest.Alice, "plain")
			d, err := stage.Create(e.paths.Stage, "plain-0000abcd")
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			// A record copied from another instance must not pass for this one.
			if _, err := d.WriteFile(recordFile, fmt.Appendf(nil, `{"machine":%q,"app":"plain","uid":65534}`, m), 0o644); err != nil {
				t.Fatal(err)
			}
			return "plain-0000abcd"
		}, launcher.ErrNoSuchInstance, `no nspawn-tray instance "plain-0000abcd"`},
		{"not running", func(e *env) string { return e.mustLaunch(bustest.Alice, "plain") },
			launcher.ErrNoSuchInstance, "is not running"},
		{"machined fails", func(e *env) string {
			m := e.mustLaunch(bustest.Alice, "plain")
			e.machined.Add(bustest.Machine{Name: m})
			e.machined.FailTerminate(dbus.NewError("org.freedesktop.DBus.Error.NoMemory", []any{"out of memory"}))
			return m
		}, launcher.ErrFailed, "out of memory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.polkit.Answer(launcher.ActionStopOwn, bustest.PolkitAnswer{Authorized: true})
			m := tc.machine(e)
			err := e.client(bustest.Alice).Stop(ctx, m)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("Stop(%q): %v, want %v containing %q", m, err, tc.want, tc.msg)
			}
		})
	}
}

func TestListSkipsWhatIsNoInstance(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	list, err := e.client(bustest.Alice).List(ctx)
	if err != nil || len(list) != 0 {
		t.Fatalf("List without any staging dir = %+v, %v; want none", list, err)
	}
	m := e.mustLaunch(bustest.Alice, "plain")
	// Registered with machined, but not ours, or broken: never listed.
	for _, name := range []string{"sshd", "plain-0000abcd"} {
		mkdir(t, e.paths.Stage+"/"+name)
		e.machined.Add(bustest.Machine{Name: name})
	}
	writeFile(t, e.paths.Stage+"/plain-0000abcd/"+recordFile, "{not json", 0o644)
	e.machined.Add(bustest.Machine{Name: m})
	list, err = e.client(bustest.Alice).List(ctx)
	if err != nil || len(list) != 1 || list[0].Machine != m {
		t.Fatalf("List = %+v, %v; want only %s", list, err, m)
	}
}

func TestListFailsWithoutMachined(t *testing.T) {
	needRoot(t)
	b := bustest.New(t)
	fakes := b.Conn(t)
	bustest.NewSystemd(t, fakes)
	p := Paths{Stage: t.TempDir(), Exits: t.TempDir()}
	svc, err := New(context.Background(), dialer(b), p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	if err := svc.Export(); err != nil {
		t.Fatal(err)
	}
	_, err = launcher.NewClient(b.Conn(t)).List(context.Background())
	if !errors.Is(err, launcher.ErrFailed) || !strings.Contains(err.Error(), "machined: list machines") {
		t.Errorf("List: %v, want Failed naming machined", err)
	}
}

func TestNewFailsWithoutSystemd(t *testing.T) {
	b := bustest.New(t)
	if _, err := New(context.Background(), dialer(b), Paths{}); err == nil || !strings.Contains(err.Error(), "systemd: subscribe") {
		t.Errorf("New without systemd: %v, want a subscribe error", err)
	}
}

func TestExportRefusesATakenName(t *testing.T) {
	e := newEnv(t)
	other, err := New(context.Background(), dialer(e.bus), e.paths)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	if err := other.Export(); err == nil || !strings.Contains(err.Error(), "already taken") {
		t.Errorf("a second Export: %v, want the name taken", err)
	}
}

func TestServeReleasesTheNameWhenIdle(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.svc.Serve(ctx, 20*time.Millisecond); !errors.Is(err, ErrIdle) {
		t.Fatalf("Serve = %v, want ErrIdle", err)
	}
	var has bool
	if err := e.conn(0).BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, launcher.BusName).Store(&has); err != nil {
		t.Fatal(err)
	}
	if has {
		t.Error("the bus name is still owned after an idle exit: the next call would not activate a fresh daemon")
	}
	if _, err := e.client(bustest.Alice).List(ctx); !errors.Is(err, launcher.ErrNoDaemon) {
		t.Errorf("List after the idle exit: %v, want ErrNoDaemon", err)
	}
}

func TestServeReturnsNilWhenCancelled(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.svc.Serve(ctx, time.Hour) }()
	// Calls are answered while Serve runs.
	if _, err := e.client(bustest.Alice).List(context.Background()); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve = %v, want nil", err)
	}
}

// A running call counts as activity however long it takes (a Wait may
// take hours): the daemon is not idle until it returned.
func TestARunningCallKeepsTheDaemonBusy(t *testing.T) {
	e := newEnv(t)
	unit, waited := e.waitedLaunch(launcher.Session{})
	bustest.Eventually(t, "Wait is being answered", func() bool { return !e.svc.idle(0) })
	time.Sleep(50 * time.Millisecond)
	if e.svc.idle(0) {
		t.Error("idle while a Wait waits for the app")
	}
	e.systemd.Exit(unit, 1, 0)
	if r := <-waited; r.err != nil || r.status != 0 {
		t.Fatalf("Wait = %+v", r)
	}
	bustest.Eventually(t, "the daemon is idle", func() bool { return e.svc.idle(0) })
	if e.svc.idle(time.Hour) {
		t.Error("idle for an hour right after a call")
	}
}

func TestCleanup(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := Cleanup(ctx, e.conn(0), e.paths, "../etc", Ended{}); err == nil {
		t.Error("Cleanup of ../etc: no error")
	}
	// Twice: the second finds nothing to stop and nothing to remove.
	m := e.mustLaunch(bustest.Alice, "plain")
	for range 2 {
		if err := Cleanup(ctx, e.conn(0), e.paths, m, Ended{"exited", "0"}); err != nil {
			t.Fatal(err)
		}
	}
	if len(e.staged()) != 0 {
		t.Errorf("staged after Cleanup: %v", e.staged())
	}
}
