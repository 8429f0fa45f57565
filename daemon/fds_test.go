package daemon

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/internal/bustest"
	"github.com/nspawn-tray/nspawn-tray/launcher"
)

func openFDCount(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func TestBodyFDsFindsEveryShapeOnce(t *testing.T) {
	fd := dbus.UnixFD(7)
	body := []any{
		fd,
		[]dbus.UnixFD{fd, 8},
		map[string]dbus.UnixFD{"a": 9},
		map[dbus.UnixFD]string{10: "k"},
		[]any{dbus.UnixFD(11), "x", []byte{1, 2}},
		dbus.MakeVariant([]dbus.UnixFD{12}),
		map[string]dbus.Variant{"v": dbus.MakeVariant(dbus.MakeVariant(dbus.UnixFD(13)))},
		int32(99), uint32(98), "no", []string{"a"},
	}
	got := bodyFDs(body)
	want := []int{7, 8, 9, 10, 11, 12, 13}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("bodyFDs = %v, want %v (each once, int32s that are not descriptors left out)", got, want)
	}
}

// fdAttacker sends raw messages with descriptors, as any local user can.
type fdAttacker struct {
	t      *testing.T
	conn   *dbus.Conn
	daemon string // the daemon's unique name
	fd     dbus.UnixFD
}

func (a fdAttacker) send(typ dbus.Type, flags dbus.Flags, path dbus.ObjectPath, iface, member string, body ...any) {
	a.t.Helper()
	msg := &dbus.Message{Type: typ, Flags: flags, Headers: map[dbus.HeaderField]dbus.Variant{
		dbus.FieldDestination: dbus.MakeVariant(a.daemon),
		dbus.FieldPath:        dbus.MakeVariant(path),
		dbus.FieldMember:      dbus.MakeVariant(member),
	}, Body: body}
	if iface != "" {
		msg.Headers[dbus.FieldInterface] = dbus.MakeVariant(iface)
	}
	if len(body) > 0 {
		msg.Headers[dbus.FieldSignature] = dbus.MakeVariant(dbus.SignatureOf(body...))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ch := make(chan *dbus.Call, 1)
	call := a.conn.SendWithContext(ctx, msg, ch)
	if typ == dbus.TypeMethodCall && flags&dbus.FlagNoReplyExpected == 0 {
		<-call.Done // any answer will do, as long as one comes
		if ctx.Err() != nil {
			a.t.Errorf("%s.%s(%s): no answer", iface, member, dbus.SignatureOf(body...))
		}
	}
}

// Every descriptor a caller sends reaches the daemon as its own copy. In
// whatever shape, to whatever method, known or not, with or without a
// reply, as a call or a signal: after the calls the daemon holds none of
// them, and it still answers. (A copy kept is a pipe whose reader never
// sees EOF, and a root daemon any user can drive out of descriptors.)
func TestHostileDescriptorsAreAllClosed(t *testing.T) {
	e := newEnv(t)
	// Refused launches: a launch that ran would hold its caller's
	// descriptors, rightly, until its app exits.
	e.polkit.Answer(launcher.ActionLaunch, bustest.PolkitAnswer{})
	daemonName := e.svcConn.Names()[0]
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	fd := dbus.UnixFD(w.Fd())
	for _, uid := range []uint32{bustest.Mallory, bustest.Alice} {
		e.conn(uid) // connect before counting
	}
	base := openFDCount(t)

	path, iface := dbus.ObjectPath(launcher.ObjectPath), launcher.Interface
	for _, uid := range []uint32{bustest.Mallory, bustest.Alice} {
		a := fdAttacker{t, e.conn(uid), daemonName, fd}
		// dbus-daemon passes at most 16 descriptors a message (it drops a
		// connection that sends more): the most one call can bring.
		many := map[string]dbus.Variant{}
		for i := range 16 {
			many[fmt.Sprintf("k%d", i)] = dbus.MakeVariant(fd)
		}
		for round := 0; round < 5; round++ {
			call := dbus.TypeMethodCall
			for _, body := range [][]any{
				{"plain", map[string]dbus.Variant{"stdout": dbus.MakeVariant(fd)}},
				{"plain", map[string]dbus.Variant{"wait": dbus.MakeVariant(true), "stdout": dbus.MakeVariant(fd), "stderr": dbus.MakeVariant(fd)}},
				{"plain", map[string]dbus.Variant{"stdout": dbus.MakeVariant([]dbus.UnixFD{fd, fd})}},
				{"plain", map[string]dbus.Variant{"x": dbus.MakeVariant(map[string]dbus.UnixFD{"a": fd})}},
				{"plain", map[string]dbus.Variant{"stdout": dbus.MakeVariant(struct{ A, B dbus.UnixFD }{fd, fd})}},
				{"plain", map[string]dbus.Variant{"x": dbus.MakeVariant(dbus.MakeVariant([]dbus.UnixFD{fd}))}},
				{"plain", many},
				{"nosuchapp", map[string]dbus.Variant{"stdout": dbus.MakeVariant(fd)}},
			} {
				a.send(call, 0, path, iface, "Launch", body...)
				a.send(call, dbus.FlagNoReplyExpected, path, iface, "Launch", body...)
			}
			// Known methods with a body of the wrong shape.
			a.send(call, 0, path, iface, "List", fd)
			a.send(call, 0, path, iface, "Stop", fd)
			a.send(call, 0, path, iface, "Stop", "plain-00000000", fd)
			a.send(call, 0, path, iface, "Metadata", []dbus.UnixFD{fd})
			a.send(call, 0, path, iface, "Launch", fd, fd)
			// What the daemon does not have.
			a.send(call, 0, path, iface, "NoSuchMethod", fd)
			a.send(call, dbus.FlagNoReplyExpected, path, iface, "NoSuchMethod", fd)
			a.send(call, 0, path, "no.such.Interface", "Launch", fd)
			a.send(call, 0, "/no/such/path", iface, "Launch", fd)
			a.send(call, 0, path, "org.freedesktop.DBus.Peer", "Ping", fd)
			a.send(call, 0, path, "org.freedesktop.DBus.Introspectable", "Introspect", fd)
			// Signals sent to the daemon alone, with descriptors.
			a.send(dbus.TypeSignal, 0, "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", "JobRemoved",
				uint32(1), dbus.ObjectPath("/org/freedesktop/systemd1/job/1"), "x.service", "done", fd)
			a.send(dbus.TypeSignal, 0, path, iface, "Whatever", []dbus.UnixFD{fd, fd})
		}
	}
	// Replies to no-reply calls and signals are not waited for: a final
	// round trip per connection orders them all before it.
	for _, uid := range []uint32{bustest.Mallory, bustest.Alice} {
		if _, err := e.client(uid).List(context.Background()); err != nil {
			t.Fatalf("the daemon does not answer after the hostile calls: %v", err)
		}
	}
	bustest.Eventually(t, "the daemon's descriptors are back to the baseline", func() bool {
		return openFDCount(t) == base && e.svc.fds.held() == 0
	})
	// And the caller's pipe sees EOF once its own end closes: no copy is
	// left anywhere.
	w.Close()
	r.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := r.Read(make([]byte, 1)); n != 0 || err == nil || os.IsTimeout(err) {
		t.Errorf("the caller's pipe: read %d, %v; want EOF", n, err)
	}
	if got := e.staged(); len(got) != 0 {
		t.Errorf("the hostile calls left staging dirs: %v", got)
	}
}

// A call that asks for no reply and succeeds (a --wait launch whose app
// ran and ended) gets none from godbus: its descriptors must go all the
// same. (The fake systemd closes its own copies when the unit ends, as
// systemd does.)
func TestNoReplyLaunchClosesItsDescriptors(t *testing.T) {
	e := newEnv(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	e.conn(bustest.Alice)
	base := openFDCount(t)
	a := fdAttacker{t, e.conn(bustest.Alice), e.svcConn.Names()[0], dbus.UnixFD(w.Fd())}
	a.send(dbus.TypeMethodCall, dbus.FlagNoReplyExpected, launcher.ObjectPath, launcher.Interface, "Launch", "plain",
		map[string]dbus.Variant{"wait": dbus.MakeVariant(true), "stdout": dbus.MakeVariant(a.fd)})
	var unit string
	bustest.Eventually(t, "the instance unit runs", func() bool {
		m, _, inst := e.units()
		unit = unitName(m)
		return inst
	})
	if err := e.systemd.Exit(unit, 1, 0); err != nil {
		t.Fatal(err)
	}
	bustest.Eventually(t, "the daemon's descriptors are back to the baseline", func() bool {
		return openFDCount(t) == base && e.svc.fds.held() == 0 && e.svc.idle(0)
	})
	w.Close()
	r.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := r.Read(make([]byte, 1)); n != 0 || err == nil || os.IsTimeout(err) {
		t.Errorf("the caller's pipe: read %d, %v; want EOF", n, err)
	}
}
