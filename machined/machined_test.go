package machined_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/internal/bustest"
	"github.com/nspawn-tray/nspawn-tray/machined"
)

// setup starts a bus with the fake machined on a connection of its own and
// returns it with a Manager on another.
func setup(t *testing.T) (*bustest.Bus, *bustest.Machined, *machined.Manager, *dbus.Conn) {
	t.Helper()
	b := bustest.New(t)
	fake := bustest.NewMachined(t, b.Conn(t))
	conn := b.Conn(t)
	return b, fake, machined.New(conn), conn
}

func TestListIncludesHostAndMachines(t *testing.T) {
	_, fake, m, _ := setup(t)
	fake.Add(bustest.Machine{Name: "firefox-0001", Service: "nspawn-tray"})
	fake.Add(bustest.Machine{Name: "debian", Class: "vm", Service: "systemd-vmspawn"})

	got, err := m.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []machined.Machine{
		{Name: ".host", Class: "host", Path: "/org/freedesktop/machine1/machine/_2ehost"},
		{Name: "firefox-0001", Class: "container", Service: "nspawn-tray", Path: bustest.MachinePath("firefox-0001")},
		{Name: "debian", Class: "vm", Service: "systemd-vmspawn", Path: bustest.MachinePath("debian")},
	}
	if !slices.Equal(got, want) {
		t.Errorf("List =\n%+v\nwant\n%+v", got, want)
	}
}

func TestListWithoutMachined(t *testing.T) {
	b := bustest.New(t)
	m := machined.New(b.Conn(t))
	if got, err := m.List(context.Background()); err == nil {
		t.Errorf("List without machined = %v, want an error", got)
	}
}

func TestGetReturnsAllProperties(t *testing.T) {
	_, fake, m, _ := setup(t)
	mc := bustest.Machine{Name: "gimp-00ab", Class: "container", Service: "nspawn-tray", Unit: "nspawn-tray-gimp-00ab.service",
		RootDirectory: "/var/lib/nspawn-tray/run/gimp-00ab/root", State: "running", Leader: 4242, Timestamp: 1700000000123456}
	fake.Add(mc)
	fake.Add(bustest.Machine{Name: "other", Leader: 1})

	got, err := m.Get(context.Background(), "gimp-00ab")
	if err != nil {
		t.Fatal(err)
	}
	want := machined.Details{Name: mc.Name, Class: mc.Class, Service: mc.Service, Unit: mc.Unit,
		RootDirectory: mc.RootDirectory, State: mc.State, Leader: mc.Leader, Timestamp: mc.Timestamp}
	if got != want {
		t.Errorf("Get =\n%+v\nwant\n%+v", got, want)
	}
}

func TestGetUnknownIsNoSuchMachine(t *testing.T) {
	_, _, m, _ := setup(t)
	_, err := m.Get(context.Background(), "ghost")
	if !errors.Is(err, machined.ErrNoSuchMachine) {
		t.Errorf("Get(ghost) err = %v, want ErrNoSuchMachine", err)
	}
	if errors.Is(err, machined.ErrAccessDenied) {
		t.Errorf("Get(ghost) err = %v also claims AccessDenied", err)
	}
}

// badProps answers GetMachine like machined but its machine object's
// properties fail or carry a wrong type, as a broken or newer machined
// might.
type badProps struct{ props map[string]dbus.Variant }

func (b badProps) GetMachine(name string) (dbus.ObjectPath, *dbus.Error) {
	return bustest.MachinePath(name), nil
}

func (b badProps) GetAll(iface string) (map[string]dbus.Variant, *dbus.Error) {
	if b.props == nil {
		return nil, dbus.NewError("org.freedesktop.DBus.Error.AccessDenied", []any{"no"})
	}
	return b.props, nil
}

func TestGetPropertyErrors(t *testing.T) {
	for _, tc := range []struct {
		desc  string
		props map[string]dbus.Variant
		is    error
	}{
		{"GetAll refused", nil, machined.ErrAccessDenied},
		{"property of the wrong type", map[string]dbus.Variant{"Name": dbus.MakeVariant("x"), "Leader": dbus.MakeVariant("not a pid")}, nil},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			b := bustest.New(t)
			svc := b.Conn(t)
			fake := badProps{tc.props}
			if err := svc.Export(fake, "/org/freedesktop/machine1", "org.freedesktop.machine1.Manager"); err != nil {
				t.Fatal(err)
			}
			if err := svc.Export(fake, bustest.MachinePath("x"), "org.freedesktop.DBus.Properties"); err != nil {
				t.Fatal(err)
			}
			if _, err := svc.RequestName("org.freedesktop.machine1", dbus.NameFlagDoNotQueue); err != nil {
				t.Fatal(err)
			}
			d, err := machined.New(b.Conn(t)).Get(context.Background(), "x")
			if err == nil {
				t.Fatalf("Get = %+v, want an error", d)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("err = %v, want %v", err, tc.is)
			}
			if d != (machined.Details{}) {
				t.Errorf("Get returned partial details %+v with its error", d)
			}
		})
	}
}

func TestTerminateAllowsInteractiveAuthorization(t *testing.T) {
	_, fake, m, conn := setup(t)
	fake.Add(bustest.Machine{Name: "firefox-0001"})
	fake.Add(bustest.Machine{Name: "keep"})

	if err := m.Terminate(context.Background(), "firefox-0001"); err != nil {
		t.Fatal(err)
	}
	calls := fake.Terminated()
	want := []bustest.Terminate{{Name: "firefox-0001", Interactive: true, Sender: conn.Names()[0]}}
	if !slices.Equal(calls, want) {
		t.Errorf("TerminateMachine calls = %+v, want %+v", calls, want)
	}
	if names := fake.Names(); !slices.Equal(names, []string{"keep"}) {
		t.Errorf("machines left = %v, want [keep]", names)
	}
}

func TestTerminateErrors(t *testing.T) {
	for _, tc := range []struct {
		desc       string
		fail       *dbus.Error
		noSuch     bool
		denied     bool
		keepsAlive bool
	}{
		{"unknown machine", nil, true, false, false},
		{"access denied", dbus.NewError("org.freedesktop.DBus.Error.AccessDenied", []any{"no"}), false, true, true},
		{"interactive authorization required", dbus.NewError("org.freedesktop.DBus.Error.InteractiveAuthorizationRequired", []any{"ask"}), false, true, true},
		{"other failure", dbus.NewError("org.freedesktop.DBus.Error.Failed", []any{"boom"}), false, false, true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, fake, m, _ := setup(t)
			name := "ghost"
			if tc.fail != nil {
				name = "alive"
				fake.Add(bustest.Machine{Name: name})
				fake.FailTerminate(tc.fail)
			}
			err := m.Terminate(context.Background(), name)
			if err == nil {
				t.Fatal("Terminate succeeded")
			}
			if got := errors.Is(err, machined.ErrNoSuchMachine); got != tc.noSuch {
				t.Errorf("errors.Is(%v, ErrNoSuchMachine) = %v, want %v", err, got, tc.noSuch)
			}
			if got := errors.Is(err, machined.ErrAccessDenied); got != tc.denied {
				t.Errorf("errors.Is(%v, ErrAccessDenied) = %v, want %v", err, got, tc.denied)
			}
			var de dbus.Error
			if !errors.As(err, &de) {
				t.Errorf("err %v lost the D-Bus error", err)
			}
			if tc.keepsAlive && !slices.Contains(fake.Names(), name) {
				t.Error("a failed terminate removed the machine")
			}
		})
	}
}

func TestChangesFollowsMachinesAndMachined(t *testing.T) {
	b := bustest.New(t)
	svc := b.Conn(t)
	fake := bustest.NewMachined(t, svc)
	m := machined.New(b.Conn(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := m.Changes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// next waits for one change, draining nothing else: each step below
	// causes at least one signal.
	next := func(what string) {
		t.Helper()
		select {
		case _, ok := <-ch:
			if !ok {
				t.Fatalf("%s: channel closed", what)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no change reported", what)
		}
	}
	fake.Add(bustest.Machine{Name: "a"})
	next("MachineNew")
	fake.Remove("a")
	next("MachineRemoved")

	// machined restarting: its name loses its owner, then gains one.
	if r, err := svc.ReleaseName("org.freedesktop.machine1"); err != nil || r != dbus.ReleaseNameReplyReleased {
		t.Fatalf("release: %v %v", r, err)
	}
	next("machined going away")
	bustest.NewMachined(t, b.Conn(t))
	next("machined coming back")
}

// A signal that is none of the three must not count as a change, or every
// unrelated signal would make the tray re-read the list.
func TestChangesIgnoresOtherSignals(t *testing.T) {
	b := bustest.New(t)
	svc := b.Conn(t)
	fake := bustest.NewMachined(t, svc)
	conn := b.Conn(t)
	m := machined.New(conn)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := m.Changes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Emit("/org/freedesktop/machine1", "org.freedesktop.machine1.Manager.SomethingElse", "x"); err != nil {
		t.Fatal(err)
	}
	if err := svc.Emit("/org/example", "org.example.Iface.MachineNew", "x", dbus.ObjectPath("/x")); err != nil {
		t.Fatal(err)
	}
	if r, err := svc.RequestName("org.example.Other", dbus.NameFlagDoNotQueue); err != nil || r != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("own org.example.Other: %v %v", r, err)
	}
	// Changes are coalesced, so a wrongly reported signal would hide
	// behind a real change: look for one before making any. A round trip
	// on each connection puts whatever the bus routed to conn into its
	// signal channel; absence can only be checked for a while.
	for _, c := range []*dbus.Conn{svc, conn} {
		if err := c.BusObject().Call("org.freedesktop.DBus.GetId", 0).Err; err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-ch:
		t.Fatal("an unrelated signal was reported as a change")
	case <-time.After(100 * time.Millisecond):
	}
	fake.Add(bustest.Machine{Name: "a"})
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("no change reported for MachineNew")
	}
}

func TestChangesClosesOnCancel(t *testing.T) {
	_, _, m, _ := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := m.Changes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case _, ok := <-ch:
		if ok {
			// A change may have been pending; the close must follow.
			if _, ok := <-ch; ok {
				t.Fatal("channel still open after cancel")
			}
		}
	case <-time.After(5 * time.Second):
		t.Fatal("channel not closed after cancel")
	}
}

func TestChangesClosesWhenTheConnectionCloses(t *testing.T) {
	_, _, m, conn := setup(t)
	ch, err := m.Changes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	bustest.Eventually(t, "the channel to close", func() bool {
		select {
		case _, ok := <-ch:
			return !ok
		default:
			return false
		}
	})
}

func TestChangesFailsOnCancelledContext(t *testing.T) {
	_, _, m, _ := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if ch, err := m.Changes(ctx); err == nil {
		t.Errorf("Changes(cancelled) = %v, nil; want an error", ch)
	}
}

// Any user may send a MachineNew, to everyone or to one connection: only
// machined's own count, or a hostile user could make every tray re-list
// machines as fast as it likes.
func TestChangesIgnoresForgedMachineSignals(t *testing.T) {
	b := bustest.New(t)
	fake := bustest.NewMachined(t, b.Conn(t))
	conn := b.Conn(t)
	ch, err := machined.New(conn).Changes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	mallory := b.ConnAs(t, bustest.Mallory, bustest.Mallory)
	path := dbus.ObjectPath("/org/freedesktop/machine1")
	forged := []*dbus.Message{}
	for _, member := range []string{"MachineNew", "MachineRemoved"} {
		for _, dest := range []string{"", conn.Names()[0]} {
			msg := &dbus.Message{Type: dbus.TypeSignal, Headers: map[dbus.HeaderField]dbus.Variant{
				dbus.FieldPath:      dbus.MakeVariant(path),
				dbus.FieldInterface: dbus.MakeVariant("org.freedesktop.machine1.Manager"),
				dbus.FieldMember:    dbus.MakeVariant(member),
				dbus.FieldSignature: dbus.MakeVariant(dbus.SignatureOf("x", path)),
			}, Body: []any{"x", path}}
			if dest != "" {
				msg.Headers[dbus.FieldDestination] = dbus.MakeVariant(dest)
			}
			forged = append(forged, msg)
		}
	}
	// A forged NameOwnerChanged, claiming machined restarted.
	forged = append(forged, &dbus.Message{Type: dbus.TypeSignal, Headers: map[dbus.HeaderField]dbus.Variant{
		dbus.FieldPath:        dbus.MakeVariant(dbus.ObjectPath("/org/freedesktop/DBus")),
		dbus.FieldInterface:   dbus.MakeVariant("org.freedesktop.DBus"),
		dbus.FieldMember:      dbus.MakeVariant("NameOwnerChanged"),
		dbus.FieldDestination: dbus.MakeVariant(conn.Names()[0]),
		dbus.FieldSignature:   dbus.MakeVariant(dbus.SignatureOf("a", "b", "c")),
	}, Body: []any{"org.freedesktop.machine1", ":1.1", mallory.Names()[0]}})
	for _, msg := range forged {
		if err := mallory.Send(msg, nil).Err; err != nil {
			t.Fatal(err)
		}
	}
	// A round trip on each connection puts what the bus routed to conn in
	// its channel; absence can only be checked for a while.
	for _, c := range []*dbus.Conn{mallory, conn} {
		if err := c.BusObject().Call("org.freedesktop.DBus.GetId", 0).Err; err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-ch:
		t.Fatal("a forged signal was reported as a change")
	case <-time.After(200 * time.Millisecond):
	}
	// machined itself still counts, and was not replaced by the forged
	// NameOwnerChanged.
	fake.Add(bustest.Machine{Name: "a"})
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("no change reported for machined's MachineNew")
	}
}

func TestListImagesIsTyped(t *testing.T) {
	_, fake, m, _ := setup(t)
	fake.AddImage(bustest.Image{Name: "xapps", Created: 1700000000000001, Modified: 1700000000000002, Usage: machined.UsageUnknown})
	fake.AddImage(bustest.Image{Name: "debian.raw", Type: "raw", ReadOnly: true, Usage: 1 << 30})

	got, err := m.ListImages(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []machined.Image{
		{Name: "xapps", Type: "directory", Created: 1700000000000001, Modified: 1700000000000002, Usage: machined.UsageUnknown, Path: bustest.ImagePath("xapps")},
		{Name: "debian.raw", Type: "raw", ReadOnly: true, Usage: 1 << 30, Path: bustest.ImagePath("debian.raw")},
	}
	if !slices.Equal(got, want) {
		t.Errorf("ListImages =\n%+v\nwant\n%+v", got, want)
	}
}

func TestListImagesWithoutMachined(t *testing.T) {
	b := bustest.New(t)
	if got, err := machined.New(b.Conn(t)).ListImages(context.Background()); err == nil {
		t.Errorf("ListImages without machined = %v, want an error", got)
	}
}

func TestRemoveImage(t *testing.T) {
	for _, tc := range []struct {
		desc string
		name string
		fail *dbus.Error
		is   error
		left []string
	}{
		{desc: "removed", name: "old", left: []string{"keep"}},
		{desc: "unknown", name: "ghost", is: machined.ErrNoSuchImage, left: []string{"old", "keep"}},
		{desc: "refused", name: "old", fail: dbus.NewError("org.freedesktop.DBus.Error.InteractiveAuthorizationRequired", []any{"no"}),
			is: machined.ErrAccessDenied, left: []string{"old", "keep"}},
		// nspawn holds a lock on the image of a running machine.
		{desc: "in use", name: "old", fail: dbus.NewError("System.Error.EBUSY", []any{"Device or resource busy"}),
			is: machined.ErrBusy, left: []string{"old", "keep"}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, fake, m, _ := setup(t)
			fake.AddImage(bustest.Image{Name: "old"})
			fake.AddImage(bustest.Image{Name: "keep"})
			fake.FailRemoveImage(tc.fail)

			err := m.RemoveImage(context.Background(), tc.name)
			if (err == nil) != (tc.is == nil) || (tc.is != nil && !errors.Is(err, tc.is)) {
				t.Errorf("RemoveImage(%q) = %v, want %v", tc.name, err, tc.is)
			}
			if err != nil && !strings.Contains(err.Error(), `remove image "`+tc.name+`"`) {
				t.Errorf("error %q does not name the operation and image", err)
			}
			// An administrator's password may be asked for.
			if calls := fake.RemovedImages(); len(calls) != 1 || !calls[0].Interactive || calls[0].Name != tc.name {
				t.Errorf("RemoveImage calls = %+v, want one interactive call for %q", calls, tc.name)
			}
			if names := fake.ImageNames(); !slices.Equal(names, tc.left) {
				t.Errorf("images left = %v, want %v", names, tc.left)
			}
		})
	}
}
