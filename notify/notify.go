// Package notify shows desktop notifications (org.freedesktop.Notifications
// on the session bus).
package notify

import (
	"context"
	"fmt"

	"github.com/godbus/dbus/v5"
)

const (
	busName = "org.freedesktop.Notifications"
	objPath = "/org/freedesktop/Notifications"
)

// Notifier wraps a session bus connection.
type Notifier struct {
	conn *dbus.Conn
	app  string
	icon string
}

// New returns a Notifier sending as app with icon (an icon name).
func New(conn *dbus.Conn, app, icon string) *Notifier {
	return &Notifier{conn: conn, app: app, icon: icon}
}

// Send shows summary and body; it returns the notification id.
func (n *Notifier) Send(ctx context.Context, summary, body string) (uint32, error) {
	var id uint32
	err := n.conn.Object(busName, objPath).CallWithContext(ctx, busName+".Notify", 0,
		n.app, uint32(0), n.icon, summary, body, []string{}, map[string]dbus.Variant{}, int32(-1)).Store(&id)
	if err != nil {
		return 0, fmt.Errorf("notify: %q: %w", summary, err)
	}
	return id, nil
}
