package config

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nspawn-tray/nspawn-tray/machinename"
)

// Sentinel errors, so callers (the privileged side in particular) can tell
// which rule a value broke with errors.Is without parsing messages.
var (
	ErrInvalidID    = errors.New("invalid app id")
	ErrInvalidImage = errors.New("invalid image name")
	ErrInvalidName  = errors.New("invalid name")
	ErrInvalidExec  = errors.New("invalid exec")
	// ErrInvalidValue is a value outside a key's fixed set (x11, network).
	ErrInvalidValue = errors.New("invalid value")
	// ErrConflict is a value that another key's value rules out.
	ErrConflict        = errors.New("conflicting keys")
	ErrInvalidDBusName = errors.New("invalid D-Bus name")
	ErrInvalidEnv      = errors.New("invalid env")
)

// Limits. The ID ends up in desktop file names and machine names (which
// systemd caps at 64 characters, and we add a suffix per instance), hence 40.
const (
	maxIDLen      = machinename.MaxAppIDLen
	maxNameLen    = 128
	maxExecArgs   = 256
	maxExecArgLen = 4096
	// D-Bus spec limit on any bus name.
	maxDBusNameLen = 255
	maxDBusNames   = 64
	maxEnvVars     = 64
	maxEnvNameLen  = 128
	maxEnvValueLen = 4096
)

// ValidID reports whether id may name an app: ^[a-z0-9][a-z0-9-]{0,39}$.
func ValidID(id string) error {
	if id == "" {
		return fmt.Errorf("%w: empty", ErrInvalidID)
	}
	if len(id) > maxIDLen {
		return fmt.Errorf("%w %s: longer than %d characters", ErrInvalidID, quote(id), maxIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		lower := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !lower && (c != '-' || i == 0) {
			return fmt.Errorf("%w %s: must be lower-case letters, digits and '-', not starting with '-'", ErrInvalidID, quote(id))
		}
	}
	return nil
}

// ValidImage reports whether image is a directory name under
// /var/lib/machines that systemd would accept as a machine name
// (machinename.Check). It can never escape that directory.
func ValidImage(image string) error {
	switch p := machinename.Problem(image); {
	case p == "":
		return nil
	case image == "":
		return fmt.Errorf("%w: empty", ErrInvalidImage)
	default:
		return fmt.Errorf("%w %s: %s", ErrInvalidImage, quote(image), p)
	}
}

// ValidName reports whether name can be shown as an app's display name.
// Control characters are refused because the name lands in .desktop files
// and menus, where a newline would inject keys.
func ValidName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrInvalidName)
	case strings.TrimFunc(name, unicode.IsSpace) == "":
		// It would show as a blank menu entry and tray item.
		return fmt.Errorf("%w %s: only white space", ErrInvalidName, quote(name))
	case len(name) > maxNameLen:
		return fmt.Errorf("%w %s: longer than %d bytes", ErrInvalidName, quote(name), maxNameLen)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w %s: not valid UTF-8", ErrInvalidName, quote(name))
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w %s: contains a control character", ErrInvalidName, quote(name))
		}
	}
	return nil
}

// ValidExec reports whether argv may be run inside a container. It is an
// argv, never a shell string, so shell metacharacters are harmless and
// allowed; what matters is that exec.Command-style APIs get well-formed
// strings and that argv[0] is not resolved relative to an unknown directory.
func ValidExec(argv []string) error {
	switch {
	case len(argv) == 0:
		return fmt.Errorf("%w: empty", ErrInvalidExec)
	case len(argv) > maxExecArgs:
		return fmt.Errorf("%w: %d arguments, at most %d allowed", ErrInvalidExec, len(argv), maxExecArgs)
	case argv[0] == "":
		return fmt.Errorf("%w: the program (first element) is empty", ErrInvalidExec)
	case !strings.HasPrefix(argv[0], "/") && strings.Contains(argv[0], "/"):
		return fmt.Errorf("%w: program %s must be an absolute path or a bare command name", ErrInvalidExec, quote(argv[0]))
	}
	for i, arg := range argv {
		switch {
		case len(arg) > maxExecArgLen:
			return fmt.Errorf("%w: argument %d is longer than %d bytes", ErrInvalidExec, i, maxExecArgLen)
		case !utf8.ValidString(arg):
			return fmt.Errorf("%w: argument %d %s is not valid UTF-8", ErrInvalidExec, i, quote(arg))
		case strings.IndexByte(arg, 0) >= 0:
			return fmt.Errorf("%w: argument %d %s contains a NUL byte", ErrInvalidExec, i, quote(arg))
		}
	}
	return nil
}

// validEnum reports whether value is one of allowed, for key.
func validEnum(key, value string, allowed ...string) error {
	if slices.Contains(allowed, value) {
		return nil
	}
	q := make([]string, len(allowed))
	for i, a := range allowed {
		q[i] = strconv.Quote(a)
	}
	return fmt.Errorf("%w %s for %s: must be one of %s", ErrInvalidValue, quote(value), key, strings.Join(q, ", "))
}

// dbusRefused are session-bus names an app may never be allowed to talk to,
// each with the reason. A name is refused if it is one of these or starts
// with one (so "org.freedesktop.systemd1.Manager" and
// "org.freedesktop.systemd1x" too), and a wildcard is refused if it would
// match one.
var dbusRefused = []struct{ prefix, why string }{
	{"org.freedesktop.systemd1", "systemd --user can start processes outside the container"},
	{"org.freedesktop.Flatpak", "the Flatpak session helper runs commands on the host, outside the container"},
	{"org.freedesktop.portal.Flatpak", "the Flatpak portal spawns processes"},
	{"org.freedesktop.portal.Documents", "the document portal exports the user's files"},
	{"org.freedesktop.impl.portal", "portal backends are for xdg-desktop-portal alone; list org.freedesktop.portal.Desktop"},
	{"ca.desrt.dconf", "dconf writes the user's settings, which run commands (keybindings, autostart, terminal profiles)"},
	{"org.gnome.Shell", "GNOME Shell evaluates JavaScript and starts programs"},
	{"org.gnome.Terminal", "it opens terminals that run commands on the host"},
	{"org.kde.klauncher", "KLauncher starts programs on the host"},
	{"org.kde.plasmashell", "Plasma evaluates scripts"},
	{"org.kde.KWin", "KWin loads scripts"},
	{"org.kde.kded", "kded loads modules"},
	{"org.freedesktop.secrets", "the Secret Service hands out the user's stored passwords"},
	{"org.gtk.vfs", "gvfs opens the user's files and network shares"},
}

// ValidDBusName reports whether name may be passed to xdg-dbus-proxy as
// --talk=NAME: a well-known bus name as the D-Bus specification defines it
// (2 to 255 characters, at least two '.'-separated elements of
// [A-Za-z0-9_-], none empty or starting with a digit), optionally followed
// by ".*" to allow that name and every name below it. Unique names
// (":1.5"), the bus driver org.freedesktop.DBus (always reachable anyway)
// and names that would reach services which run code outside the container
// are refused.
func ValidDBusName(name string) error {
	base, wildcard := strings.CutSuffix(name, ".*")
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrInvalidDBusName)
	case len(name) > maxDBusNameLen:
		return fmt.Errorf("%w %s: longer than %d characters", ErrInvalidDBusName, quote(name), maxDBusNameLen)
	case name[0] == ':':
		return fmt.Errorf("%w %s: unique connection names are not allowed, only well-known names", ErrInvalidDBusName, quote(name))
	case name[0] == '.':
		return fmt.Errorf("%w %s: must not start with '.'", ErrInvalidDBusName, quote(name))
	}
	elems := strings.Split(base, ".")
	if len(elems) < 2 {
		return fmt.Errorf("%w %s: needs at least two elements separated by '.'", ErrInvalidDBusName, quote(name))
	}
	for _, e := range elems {
		if e == "" {
			return fmt.Errorf("%w %s: empty element (\"..\" or a '.' at the end)", ErrInvalidDBusName, quote(name))
		}
		if e[0] >= '0' && e[0] <= '9' {
			return fmt.Errorf("%w %s: element %s starts with a digit", ErrInvalidDBusName, quote(name), quote(e))
		}
		for i := 0; i < len(e); i++ {
			c := e[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
				return fmt.Errorf("%w %s: only letters, digits, '_' and '-' are allowed in elements, and \".*\" only at the end", ErrInvalidDBusName, quote(name))
			}
		}
	}
	// matches reports whether the name or wildcard allows talking to n.
	matches := func(n string) bool {
		return base == n || wildcard && strings.HasPrefix(n, base+".")
	}
	for _, r := range dbusRefused {
		if strings.HasPrefix(base, r.prefix) || matches(r.prefix) {
			return fmt.Errorf("%w %s: refused, %s", ErrInvalidDBusName, quote(name), r.why)
		}
	}
	if matches("org.freedesktop.DBus") {
		return fmt.Errorf("%w %s: the bus driver org.freedesktop.DBus is always reachable and must not be listed", ErrInvalidDBusName, quote(name))
	}
	return nil
}

// validDBusNames checks an app's whole dbus list.
func validDBusNames(names []string) error {
	if len(names) > maxDBusNames {
		return fmt.Errorf("%w: %d names listed, at most %d allowed", ErrInvalidDBusName, len(names), maxDBusNames)
	}
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if err := ValidDBusName(n); err != nil {
			return err
		}
		if seen[n] {
			return fmt.Errorf("%w %s: listed twice", ErrInvalidDBusName, quote(n))
		}
		seen[n] = true
	}
	return nil
}

// ownRefused are names no app may own, beyond dbusRefused: owning one, an
// app would stand in for the desktop's own service (notifications, the
// tray's watcher, the portals, the session manager) and receive what other
// programs send it.
var ownRefused = []struct{ prefix, why string }{
	{"org.freedesktop", "org.freedesktop names are the desktop's own services"},
	{"org.gtk", "org.gtk names are the desktop's own services"},
	{"org.a11y", "the accessibility bus sees every window's text"},
	{"org.gnome.SessionManager", "the session manager is the desktop's"},
	{"org.gnome.SettingsDaemon", "the settings daemon is the desktop's"},
	{"org.kde.StatusNotifierWatcher", "the tray's watcher is the panel's"},
	{"org.kde.KGlobalAccel", "global shortcuts are the desktop's"},
	{"org.kde.ksmserver", "the session manager is the desktop's"},
}

// ValidOwnName reports whether an app may own name on the session bus
// (xdg-dbus-proxy --own=NAME): a name ValidDBusName takes, and none that
// would let the app stand in for a service of the desktop, or take every
// media player's name.
func ValidOwnName(name string) error {
	if err := ValidDBusName(name); err != nil {
		return err
	}
	base := strings.TrimSuffix(name, ".*")
	for _, r := range ownRefused {
		if base == r.prefix || strings.HasPrefix(base, r.prefix+".") {
			return fmt.Errorf("%w %s: may not be owned, %s", ErrInvalidDBusName, quote(name), r.why)
		}
	}
	if base == "org.mpris" || base == "org.mpris.MediaPlayer2" {
		return fmt.Errorf("%w %s: may not be owned, it would take other players' names (mpris = true gives the app its own)", ErrInvalidDBusName, quote(name))
	}
	return nil
}

func validOwnNames(names []string) error {
	if len(names) > maxDBusNames {
		return fmt.Errorf("%w: %d names listed, at most %d allowed", ErrInvalidDBusName, len(names), maxDBusNames)
	}
	for _, n := range names {
		if err := ValidOwnName(n); err != nil {
			return err
		}
	}
	return nil
}

func validShare(dirs []string) error {
	seen := map[string]bool{}
	for _, d := range dirs {
		if _, ok := ShareDirs[d]; !ok {
			names := slices.Sorted(maps.Keys(ShareDirs))
			return fmt.Errorf("%w %s: share takes %s", ErrInvalidValue, quote(d), strings.Join(names, ", "))
		}
		if seen[d] {
			return fmt.Errorf("%w %s: listed twice", ErrInvalidValue, quote(d))
		}
		seen[d] = true
	}
	return nil
}

// envRefused are environment variables a definition may not set, each with
// the reason. Names are compared ignoring case, which refuses a few
// harmless names ("path") but nothing anyone needs.
var envRefused = map[string]string{}

func init() {
	for _, n := range []string{
		// glibc's unsecure-env list (sysdeps/generic/unsecvars.h), minus
		// the LD_ and MALLOC_ ones, which are refused by prefix.
		"GCONV_PATH", "GETCONF_DIR", "GLIBC_TUNABLES", "HOSTALIASES", "LOCALDOMAIN",
		"LOCPATH", "NIS_PATH", "NLSPATH", "RESOLV_HOST_CONF", "RES_OPTIONS", "TMPDIR", "TZDIR",
	} {
		envRefused[n] = "glibc considers it unsafe for privileged programs"
	}
	for _, n := range []string{
		"DISPLAY", "XAUTHORITY", "WAYLAND_DISPLAY", "PULSE_SERVER", "PULSE_CLIENTCONFIG",
		"PULSE_COOKIE", "DBUS_SESSION_BUS_ADDRESS", "DBUS_SYSTEM_BUS_ADDRESS", "XDG_RUNTIME_DIR",
		"HOME", "USER", "LOGNAME", "SHELL", "PATH", "NOTIFY_SOCKET", "CONTAINER",
	} {
		envRefused[n] = "the launcher sets it and a definition may not override it"
	}
}

// envRefusedPrefixes are refused like envRefused, for every name starting
// with them (ignoring case).
var envRefusedPrefixes = []struct{ prefix, why string }{
	{"LD_", "LD_* variables change how the dynamic linker loads programs"},
	{"MALLOC_", "glibc considers MALLOC_* unsafe for privileged programs"},
}

// ValidEnv reports whether a definition may set the environment variable
// name to value. Names match ^[A-Za-z_][A-Za-z0-9_]{0,127}$ and are not
// ones the dynamic linker or glibc treat as dangerous (LD_*, MALLOC_*,
// GLIBC_TUNABLES, ...) or that the launcher sets itself (DISPLAY, PATH,
// HOME, ...). Values are valid UTF-8 without NUL, at most 4096 bytes.
// Errors name the variable but never show its value, which may be secret.
func ValidEnv(name, value string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty variable name", ErrInvalidEnv)
	case len(name) > maxEnvNameLen:
		return fmt.Errorf("%w %s: name longer than %d characters", ErrInvalidEnv, quote(name), maxEnvNameLen)
	case name[0] >= '0' && name[0] <= '9':
		return fmt.Errorf("%w %s: name must not start with a digit", ErrInvalidEnv, quote(name))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return fmt.Errorf("%w %s: name may only contain letters, digits and '_'", ErrInvalidEnv, quote(name))
		}
	}
	upper := strings.ToUpper(name)
	if why, ok := envRefused[upper]; ok {
		return fmt.Errorf("%w %s: refused, %s", ErrInvalidEnv, quote(name), why)
	}
	for _, r := range envRefusedPrefixes {
		if strings.HasPrefix(upper, r.prefix) {
			return fmt.Errorf("%w %s: refused, %s", ErrInvalidEnv, quote(name), r.why)
		}
	}
	switch {
	case len(value) > maxEnvValueLen:
		return fmt.Errorf("%w %s: value longer than %d bytes", ErrInvalidEnv, quote(name), maxEnvValueLen)
	case strings.IndexByte(value, 0) >= 0:
		return fmt.Errorf("%w %s: value contains a NUL byte", ErrInvalidEnv, quote(name))
	case !utf8.ValidString(value):
		return fmt.Errorf("%w %s: value is not valid UTF-8", ErrInvalidEnv, quote(name))
	}
	return nil
}

// validEnvMap checks an app's whole env table, every variable, in name
// order.
func validEnvMap(env map[string]string) []keyError {
	if len(env) > maxEnvVars {
		return one(fmt.Errorf("%w: %d variables, at most %d allowed", ErrInvalidEnv, len(env), maxEnvVars))
	}
	var errs []keyError
	for _, name := range slices.Sorted(maps.Keys(env)) {
		if err := ValidEnv(name, env[name]); err != nil {
			errs = append(errs, keyError{sub: []string{name}, err: err})
		}
	}
	return errs
}

// quote makes untrusted values safe to put in a one-line error message and
// keeps overlong ones from flooding the terminal.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}
