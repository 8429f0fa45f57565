package launcher_test

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/desktopfiles"
	"github.com/nspawn-tray/nspawn-tray/internal/bustest"
	"github.com/nspawn-tray/nspawn-tray/launcher"
)

// newClient is a client and the fake daemon it talks to on a private bus.
func newClient(t *testing.T) (*launcher.Client, *bustest.Launcher, *dbus.Conn) {
	t.Helper()
	b := bustest.New(t)
	fake := bustest.NewLauncher(t, b.Conn(t))
	conn := b.Conn(t)
	return launcher.NewClient(conn), fake, conn
}

func TestClientLaunch(t *testing.T) {
	c, fake, conn := newClient(t)
	cookie := bytes.Repeat([]byte{7}, 16)
	s := launcher.Session{Display: ":1", XCookie: cookie, WaylandDisplay: "wayland-0", Args: []string{"a", "b c"}}
	machine, status, err := c.Launch(context.Background(), "x", s)
	if err != nil || machine != "x-00000001" || status != -1 {
		t.Fatalf("Launch = %q, %d, %v", machine, status, err)
	}
	calls := fake.Calls()
	if len(calls) != 1 {
		t.Fatalf("calls %+v", calls)
	}
	got := calls[0]
	// Always interactive: polkit may prompt for the password.
	if got.Method != "Launch" || got.Arg != "x" || !got.Interactive || got.Sender != conn.Names()[0] {
		t.Errorf("call %+v", got)
	}
	if parsed, err := launcher.ParseSession(got.Session); err != nil || !reflect.DeepEqual(parsed, s) {
		t.Errorf("the daemon got session %+v, %v; want %+v", parsed, err, s)
	}

	// Wait is the status's business now: Launch returns once the app runs.
	_, status, err = c.Launch(context.Background(), "x", launcher.Session{Wait: true})
	if err != nil || status != -1 {
		t.Errorf("Launch with wait = %d, %v; want -1", status, err)
	}
}

func TestClientErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		err  *dbus.Error
		want error
		msg  string
	}{
		// The service's answers are meant for the user as they are...
		{"unknown app", dbus.NewError(launcher.ErrNameUnknownApp, []any{`unknown app "x"`}), launcher.ErrUnknownApp, `unknown app "x"`},
		{"not authorized", dbus.NewError(launcher.ErrNameAccessDenied, []any{"not authorized"}), launcher.ErrNotAuthorized, "not authorized"},
		// ...but Failed is an internal error: say what failed.
		{"failed", dbus.NewError(launcher.ErrNameFailed, []any{"systemd: boom"}), launcher.ErrFailed, "launch x: systemd: boom"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, fake, _ := newClient(t)
			fake.OnLaunch(func(bustest.LauncherCall) (string, int32, *dbus.Error) { return "", 0, tc.err })
			m, status, err := c.Launch(ctx, "x", launcher.Session{})
			if !errors.Is(err, tc.want) || err.Error() != tc.msg || m != "" || status != -1 {
				t.Errorf("Launch = %q, %d, %v; want %v %q", m, status, err, tc.want, tc.msg)
			}
		})
	}
}

// An error name the client does not know reaches the caller as the bus
// gave it, with the operation.
func TestClientPassesUnknownErrorsThrough(t *testing.T) {
	c, fake, _ := newClient(t)
	fake.OnStop(func(bustest.LauncherCall) *dbus.Error { return dbus.NewError("org.example.Odd", []any{"odd"}) })
	err := c.Stop(context.Background(), "x-00000001")
	var de dbus.Error
	var se *launcher.ServiceError
	if !errors.As(err, &de) || de.Name != "org.example.Odd" || errors.As(err, &se) || err.Error() != "stop x-00000001: odd" {
		t.Errorf("Stop: %#v", err)
	}
}

func TestClientNoDaemon(t *testing.T) {
	c := launcher.NewClient(bustest.New(t).Conn(t))
	err := c.Stop(context.Background(), "x-00000001")
	if !errors.Is(err, launcher.ErrNoDaemon) || err.Error() != launcher.ErrNoDaemon.Error() {
		t.Errorf("Stop without a daemon: %v", err)
	}
	if _, err := c.Metadata(context.Background(), "x"); !errors.Is(err, launcher.ErrNoDaemon) {
		t.Errorf("Metadata without a daemon: %v", err)
	}
}

func TestClientStop(t *testing.T) {
	c, fake, _ := newClient(t)
	if err := c.Stop(context.Background(), "x-00000001"); err != nil {
		t.Fatal(err)
	}
	if calls := fake.Calls(); len(calls) != 1 || calls[0].Method != "Stop" || calls[0].Arg != "x-00000001" || !calls[0].Interactive {
		t.Errorf("calls %+v", calls)
	}
}

func TestClientList(t *testing.T) {
	c, fake, _ := newClient(t)
	list, err := c.List(context.Background())
	if err != nil || len(list) != 0 {
		t.Fatalf("List of nothing = %+v, %v", list, err)
	}
	want := []launcher.Instance{
		{Machine: "x-00000001", App: "x", UID: 1000, Since: 1700000000123456, Unit: "nspawn-tray-x-00000001.service"},
		{Machine: "y-0000000f", App: "y", UID: 1001, Since: 1, Unit: "nspawn-tray-y-0000000f.service"},
	}
	fake.SetInstances(want)
	list, err = c.List(context.Background())
	if err != nil || !reflect.DeepEqual(list, want) {
		t.Errorf("List = %+v, %v; want %+v", list, err, want)
	}
}

func TestClientMetadata(t *testing.T) {
	c, fake, _ := newClient(t)
	entry := desktopfiles.Entry{Name: "X", NameLoc: map[string]string{"de": "Y"}, Icon: "x", Categories: []string{"System"}}
	icons := []launcher.Icon{{Name: "x", SizeDir: "48x48", Ext: "png", Data: []byte{1, 2, 3}}}
	fake.OnMetadata(func(c bustest.LauncherCall) (string, map[string]dbus.Variant, []launcher.Icon, *dbus.Error) {
		if c.Arg != "x" {
			return "", nil, nil, dbus.NewError(launcher.ErrNameUnknownApp, []any{"unknown app"})
		}
		return "org.example.X", launcher.EntryDict(entry), icons, nil
	})
	m, err := c.Metadata(context.Background(), "x")
	if err != nil {
		t.Fatal(err)
	}
	if m.DesktopID != "org.example.X" || !reflect.DeepEqual(m.Entry, entry) || !reflect.DeepEqual(m.Icons, icons) {
		t.Errorf("Metadata = %+v", m)
	}
	if _, err := c.Metadata(context.Background(), "y"); !errors.Is(err, launcher.ErrUnknownApp) {
		t.Errorf("Metadata of an unknown app: %v", err)
	}
}

// badDaemon answers every method with a reply of the wrong shape.
type badDaemon struct{}

func (badDaemon) Launch(string, map[string]dbus.Variant) (uint32, *dbus.Error) { return 1, nil }
func (badDaemon) List() ([]string, *dbus.Error)                                { return []string{"x"}, nil }
func (badDaemon) Metadata(string) (string, *dbus.Error)                        { return "x", nil }

func TestClientRefusesMalformedReplies(t *testing.T) {
	b := bustest.New(t)
	srv := b.Conn(t)
	if err := srv.Export(badDaemon{}, launcher.ObjectPath, launcher.Interface); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.RequestName(launcher.BusName, dbus.NameFlagDoNotQueue); err != nil {
		t.Fatal(err)
	}
	c := launcher.NewClient(b.Conn(t))
	ctx := context.Background()
	if m, status, err := c.Launch(ctx, "x", launcher.Session{}); !isReplyError(err, "launch x") || m != "" || status != -1 {
		t.Errorf("Launch = %q, %d, %v; want a reply error", m, status, err)
	}
	if l, err := c.List(ctx); !isReplyError(err, "list") || l != nil {
		t.Errorf("List = %v, %v; want a reply error", l, err)
	}
	if m, err := c.Metadata(ctx, "x"); !isReplyError(err, "metadata of x") || m.DesktopID != "" {
		t.Errorf("Metadata = %+v, %v; want a reply error", m, err)
	}
}

func isReplyError(err error, op string) bool {
	return err != nil && strings.HasPrefix(err.Error(), op+": reply: ")
}

// A daemon that went away mid-Wait (NoReply: "Message recipient
// disconnected"), or is not back yet, is asked again; its answers are not.
func TestClientWaitRetriesALostDaemon(t *testing.T) {
	defer launcher.SetWaitRetry(time.Millisecond, time.Second)()
	c, fake, _ := newClient(t)
	gone := []*dbus.Error{
		dbus.NewError("org.freedesktop.DBus.Error.NoReply", []any{"Message recipient disconnected from message bus without replying"}),
		dbus.NewError(launcher.ErrNameServiceUnknown, []any{"not there"}),
		dbus.NewError("org.freedesktop.DBus.Error.Spawn.ChildExited", []any{"exited"}),
	}
	// Atomic: the fake answers on the bus's goroutines.
	var n atomic.Int32
	fake.OnWait(func(bustest.LauncherCall) (int32, *dbus.Error) {
		if k := n.Add(1); int(k) <= len(gone) {
			return -1, gone[k-1]
		}
		return 7, nil
	})
	if status, err := c.Wait(context.Background(), "x-00000001"); err != nil || status != 7 || n.Load() != 4 {
		t.Errorf("Wait = %d, %v after %d calls; want 7 after 4", status, err, n.Load())
	}

	fake.OnWait(func(bustest.LauncherCall) (int32, *dbus.Error) {
		return -1, dbus.NewError(launcher.ErrNameNoSuchInstance, []any{"no instance"})
	})
	if _, err := c.Wait(context.Background(), "x-00000001"); !errors.Is(err, launcher.ErrNoSuchInstance) {
		t.Errorf("Wait = %v, want the daemon's answer at once", err)
	}

	fake.OnWait(func(bustest.LauncherCall) (int32, *dbus.Error) { return -1, gone[0] })
	defer launcher.SetWaitRetry(time.Millisecond, 20*time.Millisecond)()
	if _, err := c.Wait(context.Background(), "x-00000001"); err == nil || !strings.Contains(err.Error(), "the app may still run: nspawn-tray ps") {
		t.Errorf("Wait with the daemon gone for good = %v", err)
	}
}
