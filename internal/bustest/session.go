package bustest

import (
	"sync"
	"testing"

	"github.com/godbus/dbus/v5"
)

// Notification is one Notify call.
type Notification struct {
	App, Icon, Summary, Body string
}

// Notifications fakes org.freedesktop.Notifications on a session bus.
type Notifications struct {
	mu   sync.Mutex
	next uint32
	rec  recorder[Notification]
}

// NewNotifications exports the fake on conn.
func NewNotifications(t testing.TB, conn *dbus.Conn) *Notifications {
	t.Helper()
	n := &Notifications{}
	if err := conn.Export(notificationsServer{n}, "/org/freedesktop/Notifications", "org.freedesktop.Notifications"); err != nil {
		t.Fatal(err)
	}
	own(t, conn, "org.freedesktop.Notifications")
	return n
}

// Sent are the notifications shown so far.
func (n *Notifications) Sent() []Notification { return n.rec.all() }

type notificationsServer struct{ n *Notifications }

func (s notificationsServer) Notify(app string, replaces uint32, icon, summary, body string, actions []string,
	hints map[string]dbus.Variant, timeout int32) (uint32, *dbus.Error) {
	s.n.rec.add(Notification{App: app, Icon: icon, Summary: summary, Body: body})
	s.n.mu.Lock()
	defer s.n.mu.Unlock()
	s.n.next++
	return s.n.next, nil
}
