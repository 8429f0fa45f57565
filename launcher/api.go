// Package launcher is the contract of nspawn-tray's privileged door and its
// client: the D-Bus names, polkit actions, error names and the shapes that
// cross the system bus (the session dict, Instance, the metadata), and the
// Client the desktop entries, the CLI and the tray use. The service itself
// is package daemon; nothing here runs as root.
package launcher

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
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
	// ActionManageApps writes app definitions (AddApp): an administrator's.
	ActionManageApps = "io.github.nspawn-tray.manage-apps"
)

// D-Bus error names the service replies with; the client maps each to a
// sentinel below.
const (
	ErrNameUnknownApp      = Interface + ".UnknownApp"
	ErrNameImageMissing    = Interface + ".ImageMissing"
	ErrNameInvalidArgs     = Interface + ".InvalidArguments"
	ErrNameNoSuchInstance  = Interface + ".NoSuchInstance"
	ErrNameSessionResource = Interface + ".SessionResource"
	ErrNameFailed          = Interface + ".Failed"
	ErrNameLimitReached    = Interface + ".LimitReached"
	ErrNameExecFailed      = Interface + ".ExecFailed"
	ErrNameOthersInstance  = Interface + ".OthersInstance"
	// The bus's own names, for a refused authorization.
	ErrNameAccessDenied = "org.freedesktop.DBus.Error.AccessDenied"
	ErrNameInteractive  = "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"
	// The bus's answer when nothing provides (or can activate) BusName.
	ErrNameServiceUnknown = "org.freedesktop.DBus.Error.ServiceUnknown"
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
	ErrFailed          = errors.New("failed")
	ErrLimitReached    = errors.New("limit reached")
	// ErrExecFailed: the container started, the app's program did not.
	ErrExecFailed = errors.New("the app could not start")
	// ErrOthersInstance: the instance is another user's, which only an
	// administrator may act on (stop-any). It is an ErrNotAuthorized too.
	ErrOthersInstance = fmt.Errorf("%w: another user's instance", ErrNotAuthorized)
)

// errorNames maps each service error name to its sentinel, both ways.
var errorNames = map[string]error{
	ErrNameUnknownApp:      ErrUnknownApp,
	ErrNameImageMissing:    ErrImageMissing,
	ErrNameInvalidArgs:     ErrInvalidArgs,
	ErrNameNoSuchInstance:  ErrNoSuchInstance,
	ErrNameSessionResource: ErrSessionResource,
	ErrNameFailed:          ErrFailed,
	ErrNameLimitReached:    ErrLimitReached,
	ErrNameExecFailed:      ErrExecFailed,
	ErrNameOthersInstance:  ErrOthersInstance,
	ErrNameAccessDenied:    ErrNotAuthorized,
	ErrNameInteractive:     ErrNotAuthorized,
	ErrNameServiceUnknown:  ErrNoDaemon,
}

// Instance is one running app instance: the record the daemon keeps in the
// instance's staging dir, the element of List's reply (a(ssuts)) and an
// element of `nspawn-tray ps --json`. Its machine is registered with
// machined under the same name.
type Instance struct {
	Machine string `json:"machine"`
	App     string `json:"app"`
	UID     uint32 `json:"uid"`
	Since   Time   `json:"since"`
	Unit    string `json:"unit"`
}

// Time is a point in time as machined gives it: µs since the epoch on the
// bus (D-Bus 't'), RFC 3339 in JSON.
type Time uint64

// Now is the current time.
func Now() Time { return Time(time.Now().UnixMicro()) }

// Time is t as a time.Time.
func (t Time) Time() time.Time { return time.UnixMicro(int64(t)) }

// MarshalJSON writes t as an RFC 3339 string in UTC.
func (t Time) MarshalJSON() ([]byte, error) { return t.Time().UTC().MarshalJSON() }

// UnmarshalJSON reads an RFC 3339 string, or a number of µs (the records of
// an earlier version, still in /run across a daemon upgrade).
func (t *Time) UnmarshalJSON(b []byte) error {
	var n uint64
	if err := json.Unmarshal(b, &n); err == nil {
		*t = Time(n)
		return nil
	}
	var tt time.Time
	if err := json.Unmarshal(b, &tt); err != nil {
		return fmt.Errorf("time: want RFC 3339 or µs since the epoch: %w", err)
	}
	*t = Time(tt.UnixMicro())
	return nil
}

// Icon is one validated icon of an app, as Metadata returns it (sssay).
type Icon struct {
	Name    string // the icon name, a plain file name stem
	SizeDir string // hicolor size directory: "48x48", "scalable", ...
	Ext     string // "png", "svg" or "xpm"
	Data    []byte
}

// Offer is an app an image offers that no definition has yet: one of its
// desktop entries (Offers: a(ssss)).
type Offer struct {
	Image       string
	DesktopFile string // "firefox-esr.desktop"
	ID          string // the id AddApp would give it
	Name        string
}

// AppStatus is one definition as the daemon sees it (Apps: a(ssss)).
type AppStatus struct {
	ID    string
	Name  string
	Image string
	// Problem says, in words for the user, why the app cannot launch now:
	// an invalid definition, a missing image. "" when it can.
	Problem string
}
