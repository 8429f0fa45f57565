package bustest

import (
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/introspect"
	"golang.org/x/sys/unix"
)

const (
	importdName       = "org.freedesktop.import1"
	importdPath       = dbus.ObjectPath("/org/freedesktop/import1")
	importdIf         = "org.freedesktop.import1.Manager"
	importdTransferIf = "org.freedesktop.import1.Transfer"
)

// ImportdOptions shape the fake importd.
type ImportdOptions struct {
	// Ex: the importd of systemd ≥ 256 (Debian 13's 257), with
	// ImportTarEx, ImportRawEx, PullTarEx, PullRawEx and ListTransfersEx
	// besides the old methods. Without it, the old methods only (Debian
	// 12's 252).
	Ex bool
	// NoIntrospect: Introspect is refused, so a client must find out by
	// calling.
	NoIntrospect bool
}

// ImportdCall is one call of a method that starts a transfer.
type ImportdCall struct {
	Method string
	Local  string
	// URL and Verify of a pull.
	URL, Verify string
	// Class and Flags of an Ex method.
	Class string
	Flags uint64
	// Force and ReadOnly of an old method.
	Force, ReadOnly bool
	// Interactive is the ALLOW_INTERACTIVE_AUTHORIZATION flag.
	Interactive bool
	// FDKind is what the passed descriptor was: "file", "fifo" or other.
	FDKind string
}

// Importd fakes org.freedesktop.import1: the Manager's methods of either
// generation, Transfer objects with their Progress, and the TransferNew,
// TransferRemoved and LogMessage signals. A transfer of an import reads
// its descriptor to the end (Received has what it read), then ends as
// Outcome says; Hold keeps transfers running until CancelTransfer or
// Release.
type Importd struct {
	conn *dbus.Conn
	opts ImportdOptions

	mu        sync.Mutex
	next      uint32
	transfers map[uint32]*fakeTransfer
	deny      *dbus.Error
	result    string
	logs      []string
	hold      bool
	ignore    int
	received  map[string][]byte
	rec       recorder[ImportdCall]
	cancels   recorder[uint32]
	// exportMu serializes Export: godbus's is not safe against
	// concurrent ones on a connection, and transfers end concurrently.
	exportMu sync.Mutex
}

func (f *Importd) export(v any, path dbus.ObjectPath, iface string) {
	f.exportMu.Lock()
	f.conn.Export(v, path, iface)
	f.exportMu.Unlock()
}

type fakeTransfer struct {
	id       uint32
	path     dbus.ObjectPath
	typ      string
	remote   string
	local    string
	progress float64
	release  chan string // a result; closed-over by Hold
}

// NewImportd exports the fake on conn as org.freedesktop.import1.
func NewImportd(t testing.TB, conn *dbus.Conn, opts ImportdOptions) *Importd {
	t.Helper()
	f := &Importd{conn: conn, opts: opts, transfers: map[uint32]*fakeTransfer{}, result: "done", received: map[string][]byte{}}
	m := importdManager{f}
	methods := map[string]any{
		"ImportTar":      m.ImportTar,
		"ImportRaw":      m.ImportRaw,
		"PullTar":        m.PullTar,
		"PullRaw":        m.PullRaw,
		"ListTransfers":  m.ListTransfers,
		"CancelTransfer": m.CancelTransfer,
	}
	if opts.Ex {
		methods["ImportTarEx"] = m.ImportTarEx
		methods["ImportRawEx"] = m.ImportRawEx
		methods["PullTarEx"] = m.PullTarEx
		methods["PullRawEx"] = m.PullRawEx
		methods["ListTransfersEx"] = m.ListTransfersEx
	}
	if err := conn.ExportMethodTable(methods, importdPath, importdIf); err != nil {
		t.Fatal(err)
	}
	var intro any
	if opts.NoIntrospect {
		intro = refusedIntrospection{}
	} else {
		node := &introspect.Node{Interfaces: []introspect.Interface{introspect.IntrospectData, {Name: importdIf}}}
		for _, name := range slices.Sorted(maps.Keys(methods)) {
			node.Interfaces[1].Methods = append(node.Interfaces[1].Methods, introspect.Method{Name: name})
		}
		intro = introspect.NewIntrospectable(node)
	}
	if err := conn.Export(intro, importdPath, "org.freedesktop.DBus.Introspectable"); err != nil {
		t.Fatal(err)
	}
	own(t, conn, importdName)
	return f
}

type refusedIntrospection struct{}

func (refusedIntrospection) Introspect() (string, *dbus.Error) {
	return "", dbus.NewError("org.freedesktop.DBus.Error.AccessDenied", []any{"introspection is not allowed here"})
}

// TransferPath is the object path of transfer id.
func TransferPath(id uint32) dbus.ObjectPath {
	return dbus.ObjectPath(fmt.Sprintf("/org/freedesktop/import1/transfer/_%d", id))
}

// Deny makes every method that starts a transfer fail with err, as
// importd does when polkit refuses (nil: allow again).
func (f *Importd) Deny(err *dbus.Error) {
	f.mu.Lock()
	f.deny = err
	f.mu.Unlock()
}

// Outcome sets how the next transfers end: their result ("done",
// "failed") and the lines they log before.
func (f *Importd) Outcome(result string, logs ...string) {
	f.mu.Lock()
	f.result, f.logs = result, logs
	f.mu.Unlock()
}

// Hold keeps transfers running once they read their input, until
// CancelTransfer or Release.
func (f *Importd) Hold() {
	f.mu.Lock()
	f.hold = true
	f.mu.Unlock()
}

// IgnoreCancels makes the next n CancelTransfer calls succeed without
// effect, as a transfer stuck where SIGTERM does not reach it.
func (f *Importd) IgnoreCancels(n int) {
	f.mu.Lock()
	f.ignore = n
	f.mu.Unlock()
}

// Release ends every held transfer with result.
func (f *Importd) Release(result string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range f.transfers {
		select {
		case t.release <- result:
		default:
		}
	}
}

// SetProgress sets a running transfer's Progress property.
func (f *Importd) SetProgress(id uint32, p float64) {
	f.mu.Lock()
	if t, ok := f.transfers[id]; ok {
		t.progress = p
	}
	f.mu.Unlock()
}

// Running are the ids of the transfers under way.
func (f *Importd) Running() []uint32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []uint32
	for id := range f.transfers {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// Calls are the calls that started (or tried to start) a transfer.
func (f *Importd) Calls() []ImportdCall { return f.rec.all() }

// Canceled are the ids CancelTransfer was called with.
func (f *Importd) Canceled() []uint32 { return f.cancels.all() }

// Received is what the import into local read from its descriptor.
func (f *Importd) Received(local string) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.received[local]
}

type importdManager struct{ f *Importd }

func (m importdManager) begin(msg dbus.Message, c ImportdCall) *dbus.Error {
	c.Interactive = msg.Flags&dbus.FlagAllowInteractiveAuthorization != 0
	m.f.rec.add(c)
	m.f.mu.Lock()
	defer m.f.mu.Unlock()
	return m.f.deny
}

func fdKind(fd dbus.UnixFD) string {
	var st unix.Stat_t
	if unix.Fstat(int(fd), &st) != nil {
		return "unknown"
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		return "file"
	case unix.S_IFIFO:
		return "fifo"
	case unix.S_IFSOCK:
		return "socket"
	}
	return "other"
}

func (m importdManager) importFD(msg dbus.Message, c ImportdCall, fd dbus.UnixFD) (uint32, dbus.ObjectPath, *dbus.Error) {
	c.FDKind = fdKind(fd)
	if err := m.begin(msg, c); err != nil {
		unix.Close(int(fd))
		return 0, "", err
	}
	// importd takes regular files and pipes only.
	if c.FDKind != "file" && c.FDKind != "fifo" {
		unix.Close(int(fd))
		return 0, "", dbus.NewError("org.freedesktop.DBus.Error.InvalidArgs", []any{"not a regular file or a pipe"})
	}
	typ := "import-tar"
	if strings.HasPrefix(c.Method, "ImportRaw") {
		typ = "import-raw"
	}
	t := m.f.newTransfer(typ, "", c.Local)
	in := os.NewFile(uintptr(fd), "import")
	read := make(chan struct{})
	go func() {
		data, _ := io.ReadAll(in)
		in.Close()
		m.f.mu.Lock()
		m.f.received[c.Local] = data
		m.f.mu.Unlock()
		close(read)
	}()
	go m.f.finish(t, read)
	return t.id, t.path, nil
}

func (m importdManager) pull(msg dbus.Message, c ImportdCall) (uint32, dbus.ObjectPath, *dbus.Error) {
	if err := m.begin(msg, c); err != nil {
		return 0, "", err
	}
	typ := "pull-tar"
	if strings.HasPrefix(c.Method, "PullRaw") {
		typ = "pull-raw"
	}
	t := m.f.newTransfer(typ, c.URL, c.Local)
	read := make(chan struct{})
	close(read)
	go m.f.finish(t, read)
	return t.id, t.path, nil
}

func (f *Importd) newTransfer(typ, remote, local string) *fakeTransfer {
	f.mu.Lock()
	f.next++
	t := &fakeTransfer{id: f.next, path: TransferPath(f.next), typ: typ, remote: remote, local: local, progress: -1.7976931348623157e308,
		release: make(chan string, 1)}
	f.transfers[t.id] = t
	f.mu.Unlock()
	f.export(transferProps{f, t.id}, t.path, "org.freedesktop.DBus.Properties")
	f.conn.Emit(importdPath, importdIf+".TransferNew", t.id, t.path)
	return t
}

// finish ends t as Outcome says once its input was read, or, if held,
// when released or canceled (as importd stops reading when canceled).
func (f *Importd) finish(t *fakeTransfer, read <-chan struct{}) {
	f.mu.Lock()
	result, logs, hold := f.result, f.logs, f.hold
	f.mu.Unlock()
	if hold {
		result = <-t.release
	} else {
		select {
		case <-read:
		case r := <-t.release:
			result = r
		}
	}
	if result != "canceled" {
		for _, l := range logs {
			f.conn.Emit(t.path, importdTransferIf+".LogMessage", uint32(6), l)
		}
	}
	f.mu.Lock()
	delete(f.transfers, t.id)
	f.mu.Unlock()
	f.export(nil, t.path, "org.freedesktop.DBus.Properties")
	f.conn.Emit(importdPath, importdIf+".TransferRemoved", t.id, t.path, result)
}

func (m importdManager) ImportTar(msg dbus.Message, fd dbus.UnixFD, local string, force, readOnly bool) (uint32, dbus.ObjectPath, *dbus.Error) {
	return m.importFD(msg, ImportdCall{Method: "ImportTar", Local: local, Force: force, ReadOnly: readOnly}, fd)
}

func (m importdManager) ImportRaw(msg dbus.Message, fd dbus.UnixFD, local string, force, readOnly bool) (uint32, dbus.ObjectPath, *dbus.Error) {
	return m.importFD(msg, ImportdCall{Method: "ImportRaw", Local: local, Force: force, ReadOnly: readOnly}, fd)
}

func (m importdManager) ImportTarEx(msg dbus.Message, fd dbus.UnixFD, local, class string, flags uint64) (uint32, dbus.ObjectPath, *dbus.Error) {
	return m.importFD(msg, ImportdCall{Method: "ImportTarEx", Local: local, Class: class, Flags: flags}, fd)
}

func (m importdManager) ImportRawEx(msg dbus.Message, fd dbus.UnixFD, local, class string, flags uint64) (uint32, dbus.ObjectPath, *dbus.Error) {
	return m.importFD(msg, ImportdCall{Method: "ImportRawEx", Local: local, Class: class, Flags: flags}, fd)
}

func (m importdManager) PullTar(msg dbus.Message, url, local, verify string, force bool) (uint32, dbus.ObjectPath, *dbus.Error) {
	return m.pull(msg, ImportdCall{Method: "PullTar", URL: url, Local: local, Verify: verify, Force: force})
}

func (m importdManager) PullRaw(msg dbus.Message, url, local, verify string, force bool) (uint32, dbus.ObjectPath, *dbus.Error) {
	return m.pull(msg, ImportdCall{Method: "PullRaw", URL: url, Local: local, Verify: verify, Force: force})
}

func (m importdManager) PullTarEx(msg dbus.Message, url, local, class, verify string, flags uint64) (uint32, dbus.ObjectPath, *dbus.Error) {
	return m.pull(msg, ImportdCall{Method: "PullTarEx", URL: url, Local: local, Class: class, Verify: verify, Flags: flags})
}

func (m importdManager) PullRawEx(msg dbus.Message, url, local, class, verify string, flags uint64) (uint32, dbus.ObjectPath, *dbus.Error) {
	return m.pull(msg, ImportdCall{Method: "PullRawEx", URL: url, Local: local, Class: class, Verify: verify, Flags: flags})
}

type transferEntry struct {
	ID                  uint32
	Type, Remote, Local string
	Progress            float64
	Path                dbus.ObjectPath
}

type transferEntryEx struct {
	ID                         uint32
	Type, Remote, Local, Class string
	Progress                   float64
	Path                       dbus.ObjectPath
}

func (m importdManager) ListTransfers() ([]transferEntry, *dbus.Error) {
	m.f.mu.Lock()
	defer m.f.mu.Unlock()
	out := []transferEntry{}
	for _, id := range slices.Sorted(maps.Keys(m.f.transfers)) {
		t := m.f.transfers[id]
		out = append(out, transferEntry{t.id, t.typ, t.remote, t.local, t.progress, t.path})
	}
	return out, nil
}

func (m importdManager) ListTransfersEx(class string, flags uint64) ([]transferEntryEx, *dbus.Error) {
	if flags != 0 {
		return nil, dbus.NewError("org.freedesktop.DBus.Error.InvalidArgs", []any{"flags"})
	}
	m.f.mu.Lock()
	defer m.f.mu.Unlock()
	out := []transferEntryEx{}
	for _, id := range slices.Sorted(maps.Keys(m.f.transfers)) {
		t := m.f.transfers[id]
		if class == "" || class == "machine" {
			out = append(out, transferEntryEx{t.id, t.typ, t.remote, t.local, "machine", t.progress, t.path})
		}
	}
	return out, nil
}

func (m importdManager) CancelTransfer(msg dbus.Message, id uint32) *dbus.Error {
	m.f.cancels.add(id)
	m.f.mu.Lock()
	t, ok := m.f.transfers[id]
	ignore := ok && m.f.ignore > 0
	if ignore {
		m.f.ignore--
	}
	m.f.mu.Unlock()
	if ignore {
		return nil
	}
	if !ok {
		return dbus.NewError("org.freedesktop.import1.NoSuchTransfer", []any{fmt.Sprintf("No transfer by id %d", id)})
	}
	select {
	case t.release <- "canceled":
	default:
	}
	return nil
}

type transferProps struct {
	f  *Importd
	id uint32
}

func (p transferProps) Get(iface, prop string) (dbus.Variant, *dbus.Error) {
	p.f.mu.Lock()
	t, ok := p.f.transfers[p.id]
	p.f.mu.Unlock()
	if !ok || iface != importdTransferIf {
		return dbus.Variant{}, dbus.NewError("org.freedesktop.DBus.Error.UnknownObject", []any{"no such transfer"})
	}
	switch prop {
	case "Progress":
		p.f.mu.Lock()
		defer p.f.mu.Unlock()
		return dbus.MakeVariant(t.progress), nil
	case "Id":
		return dbus.MakeVariant(t.id), nil
	case "Local":
		return dbus.MakeVariant(t.local), nil
	case "Type":
		return dbus.MakeVariant(t.typ), nil
	}
	return dbus.Variant{}, dbus.NewError("org.freedesktop.DBus.Error.UnknownProperty", []any{prop})
}
