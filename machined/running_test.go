package machined_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/internal/bustest"
	"github.com/nspawn-tray/nspawn-tray/machined"
)

func TestPowerOffSendsSIGRTMIN4ToTheLeader(t *testing.T) {
	b := bustest.New(t)
	fake := bustest.NewMachined(t, b.Conn(t))
	m := machined.New(b.Conn(t))
	ctx := context.Background()
	fake.Add(bustest.Machine{Name: "tiny"})
	if err := m.PowerOff(ctx, "tiny"); err != nil {
		t.Fatal(err)
	}
	if err := m.WaitGone(ctx, "tiny"); err != nil {
		t.Fatal(err)
	}
	if k := fake.Kills(); len(k) != 1 || k[0] != (bustest.Kill{Name: "tiny", Who: "leader", Signal: 38, Interactive: true}) {
		t.Errorf("kills = %+v", k)
	}
	if err := m.PowerOff(ctx, "tiny"); !errors.Is(err, machined.ErrNoSuchMachine) {
		t.Errorf("PowerOff of no machine = %v", err)
	}
	fake.FailKill(dbus.NewError("org.freedesktop.DBus.Error.InteractiveAuthorizationRequired", []any{"no"}))
	if err := m.PowerOff(ctx, "tiny"); !errors.Is(err, machined.ErrAccessDenied) {
		t.Errorf("refused PowerOff = %v", err)
	}
}

// WaitGone returns at the machine's MachineRemoved, not at another's, and
// asks again when machined restarts.
func TestWaitGone(t *testing.T) {
	b := bustest.New(t)
	svc := b.Conn(t)
	fake := bustest.NewMachined(t, svc)
	m := machined.New(b.Conn(t))
	fake.Add(bustest.Machine{Name: "tiny"})
	fake.Add(bustest.Machine{Name: "other"})
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { done <- m.WaitGone(ctx, "tiny") }()
	fake.Remove("other")
	select {
	case err := <-done:
		t.Fatalf("WaitGone returned %v when another machine went", err)
	default:
	}
	fake.Remove("tiny")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Gone already: at once.
	if err := m.WaitGone(ctx, "tiny"); err != nil {
		t.Fatal(err)
	}
	fake.Add(bustest.Machine{Name: "stays"})
	short, stop := context.WithCancel(ctx)
	stop()
	if err := m.WaitGone(short, "stays"); err == nil {
		t.Error("WaitGone with a cancelled context returned nil")
	}
}

func TestRunningMachineDetails(t *testing.T) {
	b := bustest.New(t)
	fake := bustest.NewMachined(t, b.Conn(t))
	m := machined.New(b.Conn(t))
	ctx := context.Background()
	fake.Add(bustest.Machine{Name: "tiny"})
	fake.SetOSRelease("tiny", map[string]string{"PRETTY_NAME": "Debian GNU/Linux 12 (bookworm)"})
	osr, err := m.OSRelease(ctx, "tiny")
	if err != nil || osr["PRETTY_NAME"] != "Debian GNU/Linux 12 (bookworm)" {
		t.Errorf("OSRelease = %v, %v", osr, err)
	}
	if addrs, err := m.Addresses(ctx, "tiny"); addrs != nil || err != nil {
		t.Errorf("Addresses on the host's network = %v, %v; want none", addrs, err)
	}
	fake.SetAddresses("tiny", netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("fe80::1"))
	addrs, err := m.Addresses(ctx, "tiny")
	if err != nil || len(addrs) != 2 || addrs[0].String() != "10.0.0.2" || addrs[1].String() != "fe80::1" {
		t.Errorf("Addresses = %v, %v", addrs, err)
	}
	for _, f := range []func() error{
		func() error { _, err := m.OSRelease(ctx, "nosuch"); return err },
		func() error { _, err := m.Addresses(ctx, "nosuch"); return err },
	} {
		if err := f(); !errors.Is(err, machined.ErrNoSuchMachine) {
			t.Errorf("of no machine: %v", err)
		}
	}
	fake.AddImage(bustest.Image{Name: "tiny"})
	fake.SetImagePath("tiny", "/var/lib/machines/tiny")
	if p, err := m.ImagePath(ctx, "tiny"); p != "/var/lib/machines/tiny" || err != nil {
		t.Errorf("ImagePath = %q, %v", p, err)
	}
	if _, err := m.ImagePath(ctx, "nosuch"); !errors.Is(err, machined.ErrNoSuchImage) {
		t.Errorf("ImagePath of no image = %v", err)
	}
}
