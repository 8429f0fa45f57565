package nameowner_test

import (
	"context"
	"testing"

	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/internal/bustest"
	"github.com/nspawn-tray/nspawn-tray/nameowner"
)

// follow starts an Owner of name on a fresh connection, feeding it that
// connection's signals.
func follow(t *testing.T, b *bustest.Bus, name string) (*nameowner.Owner, *dbus.Conn) {
	t.Helper()
	conn := b.Conn(t)
	ch := make(chan *dbus.Signal, 16)
	conn.Signal(ch)
	o := nameowner.New(name)
	if err := o.Follow(context.Background(), conn); err != nil {
		t.Fatal(err)
	}
	go func() {
		for s := range ch {
			o.Update(s)
		}
	}()
	return o, conn
}

func TestFollowsTheOwner(t *testing.T) {
	b := bustest.New(t)
	o, _ := follow(t, b, "org.example.Svc")
	if o.Current() != "" || o.Is("") {
		t.Fatalf("no owner yet: Current %q", o.Current())
	}
	svc := b.Conn(t)
	if r, err := svc.RequestName("org.example.Svc", dbus.NameFlagDoNotQueue); err != nil || r != dbus.RequestNameReplyPrimaryOwner {
		t.Fatal(r, err)
	}
	me := svc.Names()[0]
	bustest.Eventually(t, "the owner is known", func() bool { return o.Is(me) })
	if o.Is(":1.9999") {
		t.Error("another unique name counts as the owner")
	}
	svc.ReleaseName("org.example.Svc")
	bustest.Eventually(t, "the owner is gone", func() bool { return o.Current() == "" && !o.Is(me) })

	// Already owned when following starts.
	o2, _ := follow(t, b, "org.example.Svc2")
	svc2 := b.Conn(t)
	svc2.RequestName("org.example.Svc2", dbus.NameFlagDoNotQueue)
	o3, _ := follow(t, b, "org.example.Svc2")
	bustest.Eventually(t, "both followers know the owner", func() bool { return o2.Is(svc2.Names()[0]) && o3.Is(svc2.Names()[0]) })
}

// Only the bus may say who owns a name: a NameOwnerChanged from anyone else
// (sent to the follower alone) changes nothing.
func TestUpdateTakesOnlyTheBus(t *testing.T) {
	o := nameowner.New("org.example.Svc")
	forged := &dbus.Signal{Sender: ":1.5", Path: "/org/freedesktop/DBus", Name: "org.freedesktop.DBus.NameOwnerChanged",
		Body: []any{"org.example.Svc", "", ":1.5"}}
	if o.Update(forged) || o.Is(":1.5") {
		t.Error("a NameOwnerChanged from :1.5 was taken")
	}
	other := &dbus.Signal{Sender: "org.freedesktop.DBus", Path: "/org/freedesktop/DBus", Name: "org.freedesktop.DBus.NameOwnerChanged",
		Body: []any{"org.example.Other", "", ":1.6"}}
	if o.Update(other) || o.Current() != "" {
		t.Error("another name's change was taken")
	}
	bad := &dbus.Signal{Sender: "org.freedesktop.DBus", Path: "/org/freedesktop/DBus", Name: "org.freedesktop.DBus.NameOwnerChanged",
		Body: []any{uint32(1)}}
	if o.Update(bad) {
		t.Error("a malformed body was taken")
	}
	real := &dbus.Signal{Sender: "org.freedesktop.DBus", Path: "/org/freedesktop/DBus", Name: "org.freedesktop.DBus.NameOwnerChanged",
		Body: []any{"org.example.Svc", "", ":1.7"}}
	if !o.Update(real) || !o.Is(":1.7") {
		t.Error("the bus's own NameOwnerChanged was not taken")
	}
}

func TestFollowFailsOnAClosedConnection(t *testing.T) {
	b := bustest.New(t)
	conn := b.Conn(t)
	conn.Close()
	if err := nameowner.New("org.example.Svc").Follow(context.Background(), conn); err == nil {
		t.Error("Follow on a closed connection: no error")
	}
}
