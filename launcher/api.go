// Package launcher is nspawn-tray's privileged door: the root D-Bus service
// that starts an app in its container for an authorized caller, and the
// client the desktop entries and the tray use to ask it.
package launcher

import (
	"errors"
	"regexp"
)

// The D-Bus names of the service.
const (
	BusName    = "io.github.nspawn_tray.Launcher1"
	ObjectPath = "/io/github/nspawn_tray/Launcher1"
	Interface  = "io.github.nspawn_tray.Launcher1"
)

// polkit action ids, shipped in packaging/io.github.nspawn-tray.policy.
const (
	ActionLaunch  = "io.github.nspawn-tray.launch"
	ActionStopOwn = "io.github.nspawn-tray.stop-own"
	ActionStopAny = "io.github.nspawn-tray.stop-any"
)

// D-Bus error names the service replies with; the client turns each into a
// one-line message.
const (
	ErrNameUnknownApp      = Interface + ".UnknownApp"
	ErrNameImageMissing    = Interface + ".ImageMissing"
	ErrNameInvalidArgs     = Interface + ".InvalidArguments"
	ErrNameNoSuchInstance  = Interface + ".NoSuchInstance"
	ErrNameSessionResource = Interface + ".SessionResource"
	ErrNameFailed          = Interface + ".Failed"
	errNameAccessDenied    = "org.freedesktop.DBus.Error.AccessDenied"
	errNameInteractive     = "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"
	errNameServiceUnknown  = "org.freedesktop.DBus.Error.ServiceUnknown"
)

// Sentinel errors for what callers of the client act on.
var (
	ErrUnknownApp      = errors.New("unknown app")
	ErrImageMissing    = errors.New("image missing")
	ErrNotAuthorized   = errors.New("not authorized")
	ErrNoSuchInstance  = errors.New("no such instance")
	ErrNoDaemon        = errors.New("the nspawn-tray daemon is not installed")
	ErrInvalidArgs     = errors.New("invalid arguments")
	ErrSessionResource = errors.New("session resource refused")
)

// machineRe is the form of the machine names the service generates: the app
// id, a dash and 8 hex digits. It is also the name of the staging dir.
var machineRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}-[0-9a-f]{8}$`)

// ValidMachine reports whether name is a machine name this service could
// have generated. Anything else is refused before it reaches a path or unit.
func ValidMachine(name string) bool { return machineRe.MatchString(name) }

// Instance is one running app, as List returns it.
type Instance struct {
	Machine string
	App     string
	UID     uint32
	// Since is when it started, µs since the epoch.
	Since uint64
	Unit  string
}
