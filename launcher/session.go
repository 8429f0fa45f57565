package launcher

import (
	"fmt"
	"regexp"
	"sync"
	"unicode/utf8"

	"github.com/godbus/dbus/v5"
)

// Session is the closed set of facts about the caller's desktop session that
// the client sends with Launch. The service trusts none of it: each field is
// validated, and it only names resources the service then finds and checks
// itself (the caller's UID comes from the bus, never from here).
type Session struct {
	// Display is the X11 display, ":N" (local displays only).
	Display string
	// XCookie is the MIT-MAGIC-COOKIE-1 for Display, 16 bytes.
	XCookie []byte
	// WaylandDisplay is the socket name in the caller's XDG_RUNTIME_DIR.
	WaylandDisplay string
	// SessionBus is the caller's DBUS_SESSION_BUS_ADDRESS: the daemon
	// refuses a bus an app could reach without the filter.
	SessionBus string
	// Args are appended to the app's exec.
	Args []string
	// Wait: the caller follows the app like a foreground program: the app
	// gets the caller's Stdin, Stdout and Stderr (each optional), and the
	// caller asks Wait for its exit status.
	Wait                  bool
	Stdin, Stdout, Stderr *dbus.UnixFD
	// NewInstance starts a machine of its own even when the app's
	// definition shares one per user (instances = "one").
	NewInstance bool
	// Look is the session's theme settings that apps with host_look get:
	// only LookVars' names, each value of its closed form (LookValid).
	Look map[string]string
}

// LookVars are the environment variables of the session's look an app may
// get, each with the form its value must have. None is a path: GTK and Qt
// find a theme by name in the container's own dirs (and the host's fonts
// are bound by the daemon, never at a path the user names).
var LookVars = map[string]string{
	// A theme name, with GTK's ":dark" variant suffix.
	"GTK_THEME":     `^[A-Za-z0-9][A-Za-z0-9 ._+-]{0,63}(:[a-z]{1,16})?$`,
	"XCURSOR_THEME": `^[A-Za-z0-9][A-Za-z0-9 ._+-]{0,63}$`,
	"XCURSOR_SIZE":  `^[1-9][0-9]{0,2}$`,
	// Qt's platform theme plugin and style: plugin names.
	"QT_QPA_PLATFORMTHEME": `^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$`,
	"QT_STYLE_OVERRIDE":    `^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$`,
	"QT_SCALE_FACTOR":      `^[0-9]{1,2}(\.[0-9]{1,3})?$`,
	"GDK_SCALE":            `^[1-9]$`,
}

// lookRE are LookVars compiled, when first needed: their counted
// repetitions compile to hundreds of states, which every start of the
// binary paid (the tray's before its icon showed) whether or not it looked.
var lookRE = sync.OnceValue(func() map[string]*regexp.Regexp {
	m := make(map[string]*regexp.Regexp, len(LookVars))
	for k, p := range LookVars {
		m[k] = regexp.MustCompile(p)
	}
	return m
})

// LookValid says whether value is a value LookVars allows for name.
func LookValid(name, value string) bool {
	re, ok := lookRE()[name]
	return ok && re.MatchString(value)
}

// Session dict keys on the bus.
const (
	keyDisplay        = "display"
	keyXCookie        = "x11-cookie"
	keyWaylandDisplay = "wayland-display"
	keySessionBus     = "session-bus"
	keyArgs           = "args"
	keyWait           = "wait"
	keyStdin          = "stdin"
	keyNewInstance    = "new-instance"
	keyStdout         = "stdout"
	keyStderr         = "stderr"
	keyLook           = "look"
)

const (
	maxArgs      = 256
	maxArgLen    = 4096
	cookieLength = 16
)

var (
	displayRe = regexp.MustCompile(`^:[0-9]{1,4}(\.[0-9]{1,2})?$`)
	waylandRe = regexp.MustCompile(`^wayland-[0-9]{1,4}$`)
)

// Dict is the session as the bus carries it.
func (s Session) Dict() map[string]dbus.Variant {
	d := map[string]dbus.Variant{}
	if s.Display != "" {
		d[keyDisplay] = dbus.MakeVariant(s.Display)
	}
	if len(s.XCookie) > 0 {
		d[keyXCookie] = dbus.MakeVariant(s.XCookie)
	}
	if s.WaylandDisplay != "" {
		d[keyWaylandDisplay] = dbus.MakeVariant(s.WaylandDisplay)
	}
	if s.SessionBus != "" {
		d[keySessionBus] = dbus.MakeVariant(s.SessionBus)
	}
	if len(s.Args) > 0 {
		d[keyArgs] = dbus.MakeVariant(s.Args)
	}
	if s.Wait {
		d[keyWait] = dbus.MakeVariant(true)
	}
	if s.Stdin != nil {
		d[keyStdin] = dbus.MakeVariant(*s.Stdin)
	}
	if s.NewInstance {
		d[keyNewInstance] = dbus.MakeVariant(true)
	}
	if s.Stdout != nil {
		d[keyStdout] = dbus.MakeVariant(*s.Stdout)
	}
	if s.Stderr != nil {
		d[keyStderr] = dbus.MakeVariant(*s.Stderr)
	}
	if len(s.Look) > 0 {
		d[keyLook] = dbus.MakeVariant(s.Look)
	}
	return d
}

// ParseSession validates a session dict from the bus. Unknown keys and wrong
// types are errors: the set is closed.
func ParseSession(d map[string]dbus.Variant) (Session, error) {
	var s Session
	for k, v := range d {
		var err error
		switch k {
		case keyDisplay:
			s.Display, err = exact[string](v)
		case keyXCookie:
			s.XCookie, err = exact[[]byte](v)
		case keyWaylandDisplay:
			s.WaylandDisplay, err = exact[string](v)
		case keySessionBus:
			s.SessionBus, err = exact[string](v)
		case keyArgs:
			s.Args, err = exact[[]string](v)
		case keyWait:
			s.Wait, err = exact[bool](v)
		case keyNewInstance:
			s.NewInstance, err = exact[bool](v)
		case keyLook:
			s.Look, err = exact[map[string]string](v)
		case keyStdin, keyStdout, keyStderr:
			fd, ok := v.Value().(dbus.UnixFD)
			if !ok {
				err = fmt.Errorf("want a file descriptor, got %s", v.Signature())
				break
			}
			*map[string]**dbus.UnixFD{keyStdin: &s.Stdin, keyStdout: &s.Stdout, keyStderr: &s.Stderr}[k] = &fd
		default:
			return Session{}, fmt.Errorf("unknown session field %q", k)
		}
		if err != nil {
			return Session{}, fmt.Errorf("session field %q: %w", k, err)
		}
	}
	return s, s.Validate()
}

// exact takes v's value only if it has exactly type T: godbus's Store would
// convert, say, a uint32 into a one-rune string.
func exact[T any](v dbus.Variant) (T, error) {
	x, ok := v.Value().(T)
	if !ok {
		var zero T
		return zero, fmt.Errorf("want %s, got %s", dbus.SignatureOf(zero), v.Signature())
	}
	return x, nil
}

// Validate checks every field against its closed form.
func (s Session) Validate() error {
	if s.Display != "" && !displayRe.MatchString(s.Display) {
		return fmt.Errorf("display %q: want a local display like :0", s.Display)
	}
	if s.XCookie != nil && len(s.XCookie) != cookieLength {
		return fmt.Errorf("x11 cookie: %d bytes, want %d", len(s.XCookie), cookieLength)
	}
	if s.XCookie != nil && s.Display == "" {
		return fmt.Errorf("x11 cookie without a display")
	}
	if s.WaylandDisplay != "" && !waylandRe.MatchString(s.WaylandDisplay) {
		return fmt.Errorf("wayland display %q: want a socket name like wayland-0", s.WaylandDisplay)
	}
	if len(s.SessionBus) > maxArgLen || !printableASCII(s.SessionBus) {
		return fmt.Errorf("session bus address: not printable ASCII of at most %d bytes", maxArgLen)
	}
	if len(s.Args) > maxArgs {
		return fmt.Errorf("%d arguments, at most %d", len(s.Args), maxArgs)
	}
	for i, a := range s.Args {
		if len(a) > maxArgLen || !utf8.ValidString(a) || containsNUL(a) {
			return fmt.Errorf("argument %d: not UTF-8 text of at most %d bytes without NUL", i+1, maxArgLen)
		}
	}
	for k, v := range s.Look {
		if _, ok := LookVars[k]; !ok {
			return fmt.Errorf("look: %q is not a theme setting an app may get", k)
		}
		if !LookValid(k, v) {
			return fmt.Errorf("look: %s=%q is not a valid value", k, v)
		}
	}
	if (s.Stdin != nil || s.Stdout != nil || s.Stderr != nil) && !s.Wait {
		return fmt.Errorf("standard descriptors are only taken with wait")
	}
	return nil
}

// DisplayNumber is N of ":N" or ":N.S".
func (s Session) DisplayNumber() string {
	n := s.Display[1:]
	for i := range n {
		if n[i] == '.' {
			return n[:i]
		}
	}
	return n
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func containsNUL(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return true
		}
	}
	return false
}
