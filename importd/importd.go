// Package importd talks to systemd-importd (org.freedesktop.import1), which
// unpacks tarballs and disk images into /var/lib/machines from a file
// descriptor or a URL, as transfers that run on after the call returned.
// importd authorizes each call itself with its own polkit actions
// (org.freedesktop.import1.import and .pull: administrators), so every call
// allows interactive authorization and a refusal is ErrNotAuthorized.
//
// systemd 256 added ImportTarEx, ImportRawEx, PullTarEx and PullRawEx
// (with an image class and flags); older ones (Debian 12's 252) have only
// ImportTar and friends. Which one a Manager calls is decided by what the
// running importd says it has (introspection), or, when it cannot tell, by
// trying the Ex method and falling back on UnknownMethod; never by a
// version number.
package importd

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/introspect"

	"github.com/nspawn-tray/nspawn-tray/machinename"
	"github.com/nspawn-tray/nspawn-tray/polkit"
)

const (
	busName    = "org.freedesktop.import1"
	objPath    = dbus.ObjectPath("/org/freedesktop/import1")
	managerIf  = "org.freedesktop.import1.Manager"
	transferIf = "org.freedesktop.import1.Transfer"

	errAccessDenied       = "org.freedesktop.DBus.Error.AccessDenied"
	errInteractive        = "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"
	errUnknownMethod      = "org.freedesktop.DBus.Error.UnknownMethod"
	errServiceUnknown     = "org.freedesktop.DBus.Error.ServiceUnknown"
	errNoSuchTransfer     = "org.freedesktop.import1.NoSuchTransfer"
	errTransferInProgress = "org.freedesktop.import1.TransferInProgress"

	// The class of every image nspawn-tray imports (the Ex methods'
	// argument; the others import machines only).
	classMachine = "machine"
)

// Flags of the Ex methods: systemd's ImportFlags, stable on the bus.
const (
	flagForce    uint64 = 1 << 0
	flagReadOnly uint64 = 1 << 1
)

// Sentinel errors for the D-Bus errors callers act on.
var (
	// ErrNotAuthorized: polkit refused importd's action to the caller
	// (AccessDenied, or InteractiveAuthorizationRequired when no agent
	// could ask for a password).
	ErrNotAuthorized = errors.New("not authorized")
	// ErrUnavailable: no systemd-importd on the bus (systemd-container is
	// not installed).
	ErrUnavailable    = errors.New("systemd-importd is not available")
	ErrNoSuchTransfer = errors.New("no such transfer")
	// ErrInProgress: a pull of the same URL is under way.
	ErrInProgress = errors.New("a transfer of the same URL is in progress")
	// ErrGone: importd exited while a transfer was followed; the transfer
	// went with it.
	ErrGone = errors.New("systemd-importd went away")
)

// The results of a transfer, as TransferRemoved gives them.
const (
	ResultDone     = "done"
	ResultFailed   = "failed"
	ResultCanceled = "canceled"
)

// Verify is how a pull checks what it downloaded.
type Verify string

const (
	// VerifyChecksum: the file's SHA-256 must be listed in SHA256SUMS
	// next to it.
	VerifyChecksum Verify = "checksum"
	// VerifySignature: as checksum, and SHA256SUMS must carry a valid
	// signature (SHA256SUMS.gpg) by a key importd trusts.
	VerifySignature Verify = "signature"
	VerifyNo        Verify = "no"
)

// ParseVerify checks s is one of the verify modes.
func ParseVerify(s string) (Verify, error) {
	switch v := Verify(s); v {
	case VerifyChecksum, VerifySignature, VerifyNo:
		return v, nil
	}
	return "", fmt.Errorf("unknown verify mode %q (checksum, signature or no)", s)
}

// Transfer is a transfer importd started.
type Transfer struct {
	ID   uint32
	Path dbus.ObjectPath
}

// TransferInfo is one entry of ListTransfers.
type TransferInfo struct {
	ID uint32
	// Type is "import-tar", "import-raw", "pull-tar", "pull-raw", ...
	Type   string
	Remote string
	Local  string
	// Class is "machine" for every transfer of an importd without
	// ListTransfersEx.
	Class string
	// Progress is 0..1, or negative when importd does not know.
	Progress float64
	Path     dbus.ObjectPath
}

// Manager wraps a system bus connection.
type Manager struct {
	conn *dbus.Conn

	mu sync.Mutex
	// methods are the Manager methods importd said it has; nil until it
	// was asked, or when it could not say.
	methods map[string]bool
	asked   bool
}

// New returns a Manager using conn (the system bus).
func New(conn *dbus.Conn) *Manager { return &Manager{conn: conn} }

// has reports whether importd has method: yes or no from its
// introspection, or unknown (known false).
func (m *Manager) has(ctx context.Context, method string) (has, known bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.asked {
		m.asked = true
		m.methods = introspectMethods(ctx, m.conn)
	}
	if m.methods == nil {
		return false, false
	}
	return m.methods[method], true
}

// learn records that importd has (or lacks) method, from a call's answer.
func (m *Manager) learn(method string, has bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.methods == nil {
		m.methods = map[string]bool{}
	}
	m.methods[method] = has
}

// introspectMethods asks importd which Manager methods it has; nil when
// it cannot tell (introspection refused or unparsable). This also starts
// importd if it is not running (D-Bus activation), as any call would.
func introspectMethods(ctx context.Context, conn *dbus.Conn) map[string]bool {
	var data string
	err := conn.Object(busName, objPath).CallWithContext(ctx, "org.freedesktop.DBus.Introspectable.Introspect", 0).Store(&data)
	if err != nil {
		return nil
	}
	var node introspect.Node
	if xml.Unmarshal([]byte(data), &node) != nil {
		return nil
	}
	for _, iface := range node.Interfaces {
		if iface.Name != managerIf {
			continue
		}
		out := map[string]bool{}
		for _, meth := range iface.Methods {
			out[meth.Name] = true
		}
		return out
	}
	return nil
}

// start calls the Ex method if importd has it (or might), else the old
// one, and returns the transfer.
func (m *Manager) start(ctx context.Context, op, ex string, exArgs []any, old string, oldArgs []any) (Transfer, error) {
	has, known := m.has(ctx, ex)
	if has || !known {
		call, err := polkit.CallInteractive(ctx, m.conn, busName, objPath, managerIf+"."+ex, exArgs...)
		if !isUnknownMethod(err) {
			if err != nil {
				return Transfer{}, fmt.Errorf("importd: %s: %w", op, mapError(err))
			}
			m.learn(ex, true)
			return storeTransfer(op, call)
		}
		// An importd older than the Ex methods (or one replaced by an
		// older one since it was asked).
		m.learn(ex, false)
	}
	call, err := polkit.CallInteractive(ctx, m.conn, busName, objPath, managerIf+"."+old, oldArgs...)
	if err != nil {
		return Transfer{}, fmt.Errorf("importd: %s: %w", op, mapError(err))
	}
	return storeTransfer(op, call)
}

func storeTransfer(op string, call *dbus.Call) (Transfer, error) {
	var t Transfer
	if err := call.Store(&t.ID, &t.Path); err != nil {
		return Transfer{}, fmt.Errorf("importd: %s: reply: %w", op, err)
	}
	return t, nil
}

func isUnknownMethod(err error) bool {
	var e dbus.Error
	return errors.As(err, &e) && e.Name == errUnknownMethod
}

// ImportTar has importd unpack the tarball (plain, gzip, xz or bzip2; a
// zstd one only where importd's tar reads zstd) read from fd, a regular
// file or a pipe, into the image local. importd reads fd on its own
// after the call returned: keep a copy open until the transfer ended only
// to watch its offset. An existing image is never replaced.
func (m *Manager) ImportTar(ctx context.Context, fd int, local string, readOnly bool) (Transfer, error) {
	return m.importFD(ctx, "Tar", fd, local, readOnly)
}

// ImportRaw is ImportTar for a disk image (raw, or qcow2, which importd
// converts), stored as local.raw.
func (m *Manager) ImportRaw(ctx context.Context, fd int, local string, readOnly bool) (Transfer, error) {
	return m.importFD(ctx, "Raw", fd, local, readOnly)
}

func (m *Manager) importFD(ctx context.Context, kind string, fd int, local string, readOnly bool) (Transfer, error) {
	op := fmt.Sprintf("import %s as %q", map[string]string{"Tar": "tarball", "Raw": "disk image"}[kind], local)
	if err := machinename.Check(local); err != nil {
		return Transfer{}, fmt.Errorf("importd: %s: %w", op, err)
	}
	var flags uint64
	if readOnly {
		flags |= flagReadOnly
	}
	return m.start(ctx, op,
		"Import"+kind+"Ex", []any{dbus.UnixFD(fd), local, classMachine, flags},
		"Import"+kind, []any{dbus.UnixFD(fd), local, false, readOnly})
}

// PullTar has importd download the tarball at url (http, https or file)
// into the image local, checking it as verify says.
func (m *Manager) PullTar(ctx context.Context, url, local string, verify Verify) (Transfer, error) {
	return m.pull(ctx, "Tar", url, local, verify)
}

// PullRaw is PullTar for a disk image.
func (m *Manager) PullRaw(ctx context.Context, url, local string, verify Verify) (Transfer, error) {
	return m.pull(ctx, "Raw", url, local, verify)
}

func (m *Manager) pull(ctx context.Context, kind, url, local string, verify Verify) (Transfer, error) {
	op := fmt.Sprintf("pull %s as %q", url, local)
	if err := machinename.Check(local); err != nil {
		return Transfer{}, fmt.Errorf("importd: %s: %w", op, err)
	}
	if _, err := ParseVerify(string(verify)); err != nil {
		return Transfer{}, fmt.Errorf("importd: %s: %w", op, err)
	}
	return m.start(ctx, op,
		"Pull"+kind+"Ex", []any{url, local, classMachine, string(verify), uint64(0)},
		"Pull"+kind, []any{url, local, string(verify), false})
}

// ListTransfers returns the transfers under way.
func (m *Manager) ListTransfers(ctx context.Context) ([]TransferInfo, error) {
	obj := m.conn.Object(busName, objPath)
	if has, _ := m.has(ctx, "ListTransfersEx"); has {
		var ex []struct {
			ID                         uint32
			Type, Remote, Local, Class string
			Progress                   float64
			Path                       dbus.ObjectPath
		}
		if err := obj.CallWithContext(ctx, managerIf+".ListTransfersEx", 0, "", uint64(0)).Store(&ex); err != nil {
			return nil, fmt.Errorf("importd: list transfers: %w", mapError(err))
		}
		out := make([]TransferInfo, 0, len(ex))
		for _, t := range ex {
			out = append(out, TransferInfo{t.ID, t.Type, t.Remote, t.Local, t.Class, progress(t.Progress), t.Path})
		}
		return out, nil
	}
	var old []struct {
		ID                  uint32
		Type, Remote, Local string
		Progress            float64
		Path                dbus.ObjectPath
	}
	if err := obj.CallWithContext(ctx, managerIf+".ListTransfers", 0).Store(&old); err != nil {
		return nil, fmt.Errorf("importd: list transfers: %w", mapError(err))
	}
	out := make([]TransferInfo, 0, len(old))
	for _, t := range old {
		out = append(out, TransferInfo{t.ID, t.Type, t.Remote, t.Local, classMachine, progress(t.Progress), t.Path})
	}
	return out, nil
}

// CancelTransfer stops transfer id; importd removes what it had written.
// polkit may ask for a password (importd checks an action for it too).
func (m *Manager) CancelTransfer(ctx context.Context, id uint32) error {
	_, err := polkit.CallInteractive(ctx, m.conn, busName, objPath, managerIf+".CancelTransfer", id)
	if err != nil {
		return fmt.Errorf("importd: cancel transfer %d: %w", id, mapError(err))
	}
	return nil
}

// Progress returns the transfer's Progress property: 0..1, or -1 when
// importd does not know (a pipe of unknown size: importd never counts
// bytes, only a fraction of a size it knows).
func (m *Manager) Progress(ctx context.Context, path dbus.ObjectPath) (float64, error) {
	var v dbus.Variant
	err := m.conn.Object(busName, path).CallWithContext(ctx, "org.freedesktop.DBus.Properties.Get", 0, transferIf, "Progress").Store(&v)
	if err != nil {
		return -1, fmt.Errorf("importd: progress of %s: %w", path, mapError(err))
	}
	f, ok := v.Value().(float64)
	if !ok {
		return -1, fmt.Errorf("importd: progress of %s: a %s, not a double", path, v.Signature())
	}
	return progress(f), nil
}

// progress clamps importd's value: it says -DBL_MAX (or NaN) when it does
// not know.
func progress(f float64) float64 {
	switch {
	case math.IsNaN(f) || f < 0:
		return -1
	case f > 1:
		return 1
	}
	return f
}

func mapError(err error) error {
	var e dbus.Error
	if errors.As(err, &e) {
		switch e.Name {
		case errAccessDenied, errInteractive:
			return fmt.Errorf("%w: %w", ErrNotAuthorized, err)
		case errServiceUnknown:
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		case errNoSuchTransfer:
			return fmt.Errorf("%w: %w", ErrNoSuchTransfer, err)
		case errTransferInProgress:
			return fmt.Errorf("%w: %w", ErrInProgress, err)
		}
	}
	return err
}
