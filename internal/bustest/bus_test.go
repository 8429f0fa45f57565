package bustest

import (
	"testing"

	"github.com/godbus/dbus/v5"
)

func uidOf(t *testing.T, c *dbus.Conn, name string) uint32 {
	t.Helper()
	var uid uint32
	if err := c.BusObject().Call("org.freedesktop.DBus.GetConnectionUnixUser", 0, name).Store(&uid); err != nil {
		t.Fatal(err)
	}
	return uid
}

// The bus sees ConnAs's connection as that user, and the test process stays
// itself.
func TestConnAs(t *testing.T) {
	b := New(t)
	root := b.Conn(t)
	alice := b.ConnAs(t, Alice, Alice)
	if got := uidOf(t, root, alice.Names()[0]); got != Alice {
		t.Errorf("ConnAs(Alice): bus sees uid %d", got)
	}
	mallory := b.ConnAs(t, Mallory, Mallory)
	if got := uidOf(t, root, mallory.Names()[0]); got != Mallory {
		t.Errorf("ConnAs(Mallory): bus sees uid %d", got)
	}
	me := b.Conn(t)
	if got := uidOf(t, root, me.Names()[0]); got != 0 {
		t.Errorf("a later Conn: bus sees uid %d, want root", got)
	}
}

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"":                      "_",
		"foo":                   "foo",
		"nspawn-tray-x.service": "nspawn_2dtray_2dx_2eservice",
		"1abc":                  "_31abc",
		"a1":                    "a1",
		"probe-0a1b2c3d":        "probe_2d0a1b2c3d",
	} {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
	}
}
