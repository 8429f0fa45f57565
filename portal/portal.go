// Package portal asks the desktop's portal (org.freedesktop.portal.Desktop
// on the session bus, xdg-desktop-portal) to open a link in the user's
// default app: what an app in a container does with a link, since the
// browser is the host's.
package portal

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode"

	"github.com/godbus/dbus/v5"
)

const (
	busName   = "org.freedesktop.portal.Desktop"
	objPath   = "/org/freedesktop/portal/desktop"
	openURIIf = "org.freedesktop.portal.OpenURI"
)

// Sentinel errors callers act on.
var (
	// ErrNoPortal: nothing on the session bus opens links (no
	// xdg-desktop-portal), or the app may not reach it.
	ErrNoPortal = errors.New("no desktop portal to open links")
	// ErrScheme: only web and mail links leave the container.
	ErrScheme = errors.New("only http, https and mailto links are opened on the host")
)

// maxURI bounds a link: longer ones are no link a user clicked.
const maxURI = 4096

// CheckURI accepts what may be handed to the host: an http(s) link with a
// host, or a mailto link, printable ASCII without spaces (a file: link
// would name a path in the container, which the host does not have).
func CheckURI(uri string) error {
	if len(uri) > maxURI || strings.IndexFunc(uri, func(r rune) bool { return r > unicode.MaxASCII || !unicode.IsPrint(r) || r == ' ' }) >= 0 {
		return fmt.Errorf("%w: not a link of printable characters without spaces (at most %d)", ErrScheme, maxURI)
	}
	u, err := url.Parse(uri)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrScheme, err)
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
		if u.Host == "" {
			return fmt.Errorf("%w: %q has no host", ErrScheme, uri)
		}
		return nil
	case "mailto":
		return nil
	}
	return fmt.Errorf("%w, not %q", ErrScheme, u.Scheme+":")
}

// Portal wraps a session bus connection.
type Portal struct{ conn *dbus.Conn }

// New returns a Portal on conn (the session bus).
func New(conn *dbus.Conn) *Portal { return &Portal{conn: conn} }

// OpenURI asks the portal to open uri (CheckURI) in the user's default app;
// the portal may ask the user which. It returns once the portal took the
// request.
func (p *Portal) OpenURI(ctx context.Context, uri string) error {
	if err := CheckURI(uri); err != nil {
		return err
	}
	var handle dbus.ObjectPath
	err := p.conn.Object(busName, objPath).CallWithContext(ctx, openURIIf+".OpenURI", 0,
		"", uri, map[string]dbus.Variant{}).Store(&handle)
	var de dbus.Error
	if errors.As(err, &de) && (de.Name == "org.freedesktop.DBus.Error.ServiceUnknown" || de.Name == "org.freedesktop.DBus.Error.AccessDenied" ||
		de.Name == "org.freedesktop.DBus.Error.UnknownMethod" || de.Name == "org.freedesktop.DBus.Error.UnknownInterface") {
		return fmt.Errorf("portal: open %q: %w (%s)", uri, ErrNoPortal, de.Name)
	}
	if err != nil {
		return fmt.Errorf("portal: open %q: %w", uri, err)
	}
	return nil
}
