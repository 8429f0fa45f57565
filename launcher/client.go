package launcher

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/polkit"
)

// Client calls the service on the system bus.
type Client struct {
	conn *dbus.Conn
}

// NewClient returns a Client using conn (the system bus).
func NewClient(conn *dbus.Conn) *Client { return &Client{conn: conn} }

// call calls method on the service, allowing polkit to ask for a password.
func (c *Client) call(ctx context.Context, method string, args ...any) (*dbus.Call, error) {
	call, err := polkit.CallInteractive(ctx, c.conn, BusName, ObjectPath, Interface+"."+method, args...)
	if err != nil {
		return nil, MapError(err)
	}
	return call, nil
}

// Launch asks the service to start app, and returns once the app's process
// runs, or with why it could not start (ErrExecFailed and others). status
// is always -1: Wait gives the exit status.
func (c *Client) Launch(ctx context.Context, app string, s Session) (machine string, status int32, err error) {
	call, err := c.call(ctx, "Launch", app, s.Dict())
	if err != nil {
		return "", -1, wrap("launch "+app, err)
	}
	if err := call.Store(&machine, &status); err != nil {
		return "", -1, fmt.Errorf("launch %s: reply: %w", app, err)
	}
	return machine, status, nil
}

// List returns the running instances of every user.
func (c *Client) List(ctx context.Context) ([]Instance, error) {
	call, err := c.call(ctx, "List")
	if err != nil {
		return nil, wrap("list", err)
	}
	var out []Instance
	if err := call.Store(&out); err != nil {
		return nil, fmt.Errorf("list: reply: %w", err)
	}
	return out, nil
}

// Apps returns every definition with whether it can launch now. It needs
// no authorization.
func (c *Client) Apps(ctx context.Context) ([]AppStatus, error) {
	call, err := c.call(ctx, "Apps")
	if err != nil {
		return nil, wrap("apps", err)
	}
	var out []AppStatus
	if err := call.Store(&out); err != nil {
		return nil, fmt.Errorf("apps: reply: %w", err)
	}
	return out, nil
}

// Wait waits until the caller's instance machine has ended and returns how
// its app exited: its status, or 128+N for signal N. The instance may have
// ended already (a while ago, or while the daemon restarted). A daemon that
// goes away mid-call (a package upgrade restarts it) is asked again: the
// next call activates the new one, which finds the status where the old one
// would have.
func (c *Client) Wait(ctx context.Context, machine string) (int32, error) {
	retry := time.NewTimer(0)
	defer retry.Stop()
	lost := time.Time{}
	for {
		call, err := c.call(ctx, "Wait", machine)
		if err == nil {
			var status int32
			if err := call.Store(&status); err != nil {
				return -1, fmt.Errorf("wait for %s: reply: %w", machine, err)
			}
			return status, nil
		}
		if !daemonGone(err) {
			return -1, wrap("wait for "+machine, err)
		}
		if lost.IsZero() {
			lost = time.Now()
		} else if time.Since(lost) > waitRetryFor {
			return -1, fmt.Errorf("wait for %s: the daemon went away and did not come back for %v (the app may still run: nspawn-tray ps): %w", machine, waitRetryFor, err)
		}
		retry.Reset(waitRetryEvery)
		select {
		case <-retry.C:
		case <-ctx.Done():
			return -1, ctx.Err()
		}
	}
}

// How long Wait keeps asking a daemon that went away, and how often: an
// upgrade replaces the binary and restarts it within seconds.
var (
	waitRetryFor   = time.Minute
	waitRetryEvery = 250 * time.Millisecond
)

// daemonGone tells the errors of a daemon that exited (or was between
// binaries) mid-call from answers it gave.
func daemonGone(err error) bool {
	var name string
	var de dbus.Error
	var se *ServiceError
	switch {
	case errors.As(err, &se):
		name = se.Name
	case errors.As(err, &de):
		name = de.Name
	}
	switch {
	case name == "org.freedesktop.DBus.Error.NoReply",
		name == "org.freedesktop.DBus.Error.NameHasNoOwner",
		// Between the old daemon's exit and the new one's name, or with
		// the binary mid-replacement.
		name == ErrNameServiceUnknown,
		strings.HasPrefix(name, "org.freedesktop.DBus.Error.Spawn."):
		return true
	}
	return false
}

// Logs has the daemon write the last lines of the output of target (a
// machine, or an app id: the caller's latest instance of it) to out; with
// follow it goes on writing new lines until out's reader goes away or the
// instance ends. It returns once the daemon started writing: read out's
// other end until EOF.
func (c *Client) Logs(ctx context.Context, target string, lines int, follow bool, out *os.File) error {
	opts := map[string]dbus.Variant{"lines": dbus.MakeVariant(int32(lines)), "follow": dbus.MakeVariant(follow)}
	if _, err := c.call(ctx, "Logs", target, opts, dbus.UnixFD(out.Fd())); err != nil {
		return wrap("logs of "+target, err)
	}
	return nil
}

// Offers lists the apps the images offer that have no definition yet. It
// needs no authorization.
func (c *Client) Offers(ctx context.Context) ([]Offer, error) {
	call, err := c.call(ctx, "Offers")
	if err != nil {
		return nil, wrap("offers", err)
	}
	var out []Offer
	if err := call.Store(&out); err != nil {
		return nil, fmt.Errorf("offers: reply: %w", err)
	}
	return out, nil
}

// AddApp has the daemon write the definition of the app image offers with
// desktopFile (an administrator's, under manage-apps), and returns the new
// app's id.
func (c *Client) AddApp(ctx context.Context, image, desktopFile string) (string, error) {
	call, err := c.call(ctx, "AddApp", image, desktopFile)
	if err != nil {
		return "", wrap("add "+desktopFile+" of "+image, err)
	}
	var id string
	if err := call.Store(&id); err != nil {
		return "", fmt.Errorf("add %s of %s: reply: %w", desktopFile, image, err)
	}
	return id, nil
}

// Stop terminates the instance running as machine.
func (c *Client) Stop(ctx context.Context, machine string) error {
	if _, err := c.call(ctx, "Stop", machine); err != nil {
		return wrap("stop "+machine, err)
	}
	return nil
}

// wrap adds the operation to transport errors and to Failed, whose message
// may be an internal one; the service's other answers already say what
// failed, in words meant for the user.
func wrap(op string, err error) error {
	var se *ServiceError
	if errors.As(err, &se) && se.Name != ErrNameFailed {
		return err
	}
	return fmt.Errorf("%s: %w", op, err)
}

// ServiceError is an error the service (or the bus, on its behalf)
// answered: its message is meant for the user, and it matches one of the
// sentinels with errors.Is.
type ServiceError struct {
	Name string // the D-Bus error name
	Msg  string
	kind error
}

func (e *ServiceError) Error() string { return e.Msg }
func (e *ServiceError) Unwrap() error { return e.kind }

// MapError turns a D-Bus error of a known name into a *ServiceError that
// matches its sentinel; other errors are returned as they are.
func MapError(err error) error {
	var e dbus.Error
	if !errors.As(err, &e) {
		return err
	}
	kind, ok := errorNames[e.Name]
	if !ok {
		return err
	}
	msg := e.Error()
	if kind == ErrNoDaemon {
		msg = ErrNoDaemon.Error()
	}
	return &ServiceError{Name: e.Name, Msg: msg, kind: kind}
}

// SessionFromEnv gathers the caller's session: the X display and its cookie,
// the Wayland socket. getenv is os.Getenv-like; hostname picks this host's
// cookie from the Xauthority file.
func SessionFromEnv(getenv func(string) string, hostname string) (Session, error) {
	var s Session
	if d := getenv("DISPLAY"); d != "" {
		d = strings.TrimPrefix(d, "unix")
		if !displayRe.MatchString(d) {
			return Session{}, fmt.Errorf("DISPLAY=%s is not a local display (:N); remote X is not supported", getenv("DISPLAY"))
		}
		s.Display = d
		xauth := getenv("XAUTHORITY")
		if xauth == "" {
			if home := getenv("HOME"); home != "" {
				xauth = filepath.Join(home, ".Xauthority")
			}
		}
		if xauth != "" {
			data, err := os.ReadFile(xauth)
			if err == nil {
				cookie, err := FindCookie(data, s.DisplayNumber(), hostname)
				if err == nil {
					s.XCookie = cookie
				} else if !errors.Is(err, ErrNoCookie) {
					return Session{}, fmt.Errorf("%s: %w", xauth, err)
				}
			} else if !errors.Is(err, os.ErrNotExist) {
				return Session{}, fmt.Errorf("read %w", err)
			}
		}
	}
	// The desktop's theme settings, for apps with host_look; a value the
	// daemon would refuse is left out rather than failing the launch.
	for k := range LookVars {
		if v := getenv(k); v != "" && LookValid(k, v) {
			if s.Look == nil {
				s.Look = map[string]string{}
			}
			s.Look[k] = v
		}
	}
	s.SessionBus = getenv("DBUS_SESSION_BUS_ADDRESS")
	if len(s.SessionBus) > maxArgLen || !printableASCII(s.SessionBus) {
		s.SessionBus = "" // not an address the daemon would take; it assumes the usual path
	}
	if w := getenv("WAYLAND_DISPLAY"); w != "" {
		// An absolute WAYLAND_DISPLAY is fine when it is in XDG_RUNTIME_DIR.
		if filepath.IsAbs(w) && filepath.Dir(w) == filepath.Clean(getenv("XDG_RUNTIME_DIR")) {
			w = filepath.Base(w)
		}
		if waylandRe.MatchString(w) {
			s.WaylandDisplay = w
		}
	}
	return s, nil
}
