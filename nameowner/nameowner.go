// Package nameowner follows which connection owns a well-known bus name
// (org.freedesktop.DBus's GetNameOwner and NameOwnerChanged), so that a
// signal can be taken only from the service it claims to come from. On the
// system bus any user may send a signal, and a signal sent to one
// connection reaches it whatever its match rules: a MachineNew or a
// JobRemoved is systemd's or machined's only if its sender is their unique
// name.
package nameowner

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/godbus/dbus/v5"
)

const (
	busName = "org.freedesktop.DBus"
	busPath = "/org/freedesktop/DBus"
)

// Owner is the current owner of one well-known name.
type Owner struct {
	name    string
	mu      sync.Mutex
	current string
}

// New returns an Owner of name that knows no owner yet.
func New(name string) *Owner { return &Owner{name: name} }

// Follow starts following the name on conn: it matches NameOwnerChanged for
// the name from the bus itself and asks who owns it now. The caller feeds
// the connection's signals to Update, from a channel registered before
// Follow, so no change between the two is missed.
func (o *Owner) Follow(ctx context.Context, conn *dbus.Conn) error {
	err := conn.AddMatchSignalContext(ctx, o.match()...)
	if err != nil {
		return fmt.Errorf("nameowner: follow %s: %w", o.name, err)
	}
	var owner string
	err = conn.BusObject().CallWithContext(ctx, busName+".GetNameOwner", 0, o.name).Store(&owner)
	var e dbus.Error
	switch {
	case errors.As(err, &e) && e.Name == "org.freedesktop.DBus.Error.NameHasNoOwner":
		// Not running now; NameOwnerChanged tells when it comes.
	case err != nil:
		return fmt.Errorf("nameowner: owner of %s: %w", o.name, err)
	default:
		o.mu.Lock()
		o.current = owner
		o.mu.Unlock()
	}
	return nil
}

func (o *Owner) match() []dbus.MatchOption {
	return []dbus.MatchOption{dbus.WithMatchSender(busName), dbus.WithMatchInterface(busName),
		dbus.WithMatchMember("NameOwnerChanged"), dbus.WithMatchArg(0, o.name)}
}

// Unfollow removes the match rule Follow added, for a connection that
// followed the name only for a while.
func (o *Owner) Unfollow(conn *dbus.Conn) error {
	if err := conn.RemoveMatchSignal(o.match()...); err != nil {
		return fmt.Errorf("nameowner: unfollow %s: %w", o.name, err)
	}
	return nil
}

// Update takes sig into account if it is the bus's NameOwnerChanged for the
// followed name, and reports whether it was.
func (o *Owner) Update(sig *dbus.Signal) bool {
	if sig.Sender != busName || sig.Path != busPath || sig.Name != busName+".NameOwnerChanged" {
		return false
	}
	var name, old, next string
	if dbus.Store(sig.Body, &name, &old, &next) != nil || name != o.name {
		return false
	}
	o.mu.Lock()
	o.current = next
	o.mu.Unlock()
	return true
}

// Is reports whether sender (a unique name, as signals carry it) owns the
// name now.
func (o *Owner) Is(sender string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return sender != "" && sender == o.current
}

// Current is the unique name owning the name now, "" when none.
func (o *Owner) Current() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.current
}
