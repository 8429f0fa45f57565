package daemon

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/launcher"
)

// api holds exactly the methods exported on the bus; the bus policy lets
// callers reach nothing else.
type api struct{ s *Service }

// Launch starts app for the caller and replies once the app's process
// runs (or with why it could not start). status is always -1, kept for
// clients of the first release; Wait gives the exit status.
func (a api) Launch(msg dbus.Message, app string, session map[string]dbus.Variant) (string, int32, *dbus.Error) {
	defer a.s.begin()()
	// The caller's descriptors in session are the fdTable's: closed when
	// this call's reply goes out.
	machine, err := a.s.launch(context.Background(), msg, app, session)
	return machine, -1, toDBusError(err)
}

// Wait replies with the exit status of one of the caller's instances once
// it has ended (128+N for signal N). It may be called again after the
// daemon restarted: the status is kept for an hour.
func (a api) Wait(msg dbus.Message, machine string) (int32, *dbus.Error) {
	defer a.s.begin()()
	status, err := a.s.wait(context.Background(), msg, machine)
	return status, toDBusError(err)
}

// List returns the running instances of every user. Like machined's
// ListMachines it needs no authorization: it tells nothing secret.
func (a api) List() ([]launcher.Instance, *dbus.Error) {
	defer a.s.begin()()
	list, err := a.s.list(context.Background())
	return list, toDBusError(err)
}

// Stop terminates one instance: the caller's own under stop-own, anyone's
// under stop-any.
func (a api) Stop(msg dbus.Message, machine string) *dbus.Error {
	defer a.s.begin()()
	return toDBusError(a.s.stop(context.Background(), msg, machine))
}

// Apps lists every definition and what stands in the way of launching it.
// Like List it needs no authorization: the definitions are readable by
// all, and whether an image is there is no secret.
func (a api) Apps() ([]launcher.AppStatus, *dbus.Error) {
	defer a.s.begin()()
	apps, err := a.s.apps()
	return apps, toDBusError(err)
}

// Logs has journalctl write the log of an instance (a machine name, or an
// app id for the caller's latest instance of it) to fd; see Service.logs.
func (a api) Logs(msg dbus.Message, target string, opts map[string]dbus.Variant, fd dbus.UnixFD) *dbus.Error {
	defer a.s.begin()()
	return toDBusError(a.s.logs(context.Background(), msg, target, opts, fd))
}

// Offers lists the apps the images offer that have no definition yet. Like
// Apps it needs no authorization: anyone may list the images (machined's
// ListImages) and this says only which apps they hold.
func (a api) Offers() ([]launcher.Offer, *dbus.Error) {
	defer a.s.begin()()
	offers, err := a.s.offers()
	return offers, toDBusError(err)
}

// AddApp writes the definition of an app an image offers, for an
// administrator (manage-apps); it returns the new app's id.
func (a api) AddApp(msg dbus.Message, image, desktopFile string) (string, *dbus.Error) {
	defer a.s.begin()()
	id, err := a.s.addApp(context.Background(), msg, image, desktopFile)
	return id, toDBusError(err)
}

// Metadata serves the desktop metadata and icons of app from its image,
// which only root can read; see Service.metadata.
func (a api) Metadata(app string) (string, map[string]dbus.Variant, []launcher.Icon, *dbus.Error) {
	defer a.s.begin()()
	id, entry, icons, err := a.s.metadata(app)
	return id, entry, icons, toDBusError(err)
}

// MetadataBatch is Metadata for many apps in one call: a sync of hundreds
// of apps is one round trip instead of one each. The answers are in the
// order of apps, each with its own error; past launcher.MetadataBatchBytes
// of icons the reply ends, and the caller asks again for the rest. An icon
// that known lists for its app (the same size, type and SHA-256) is
// answered without its bytes. Like Metadata it needs no authorization, and
// costs what as many Metadata calls cost (the same cache and extraction
// limits); known is bounded by the apps asked.
func (a api) MetadataBatch(apps []string, known []launcher.KnownIcon) ([]launcher.MetadataReply, *dbus.Error) {
	defer a.s.begin()()
	if len(apps) == 0 || len(apps) > launcher.MaxMetadataBatch {
		return nil, dbus.NewError(launcher.ErrNameInvalidArgs, []any{fmt.Sprintf("MetadataBatch takes 1 to %d apps, not %d", launcher.MaxMetadataBatch, len(apps))})
	}
	// The names come back in the reply: bounded, so it stays small.
	names := 0
	for _, app := range apps {
		names += len(app)
	}
	if names > 1<<16 {
		return nil, dbus.NewError(launcher.ErrNameInvalidArgs, []any{"MetadataBatch: the app ids are too long"})
	}
	have, err := knownIcons(known, len(apps))
	if err != nil {
		return nil, dbus.NewError(launcher.ErrNameInvalidArgs, []any{"MetadataBatch: " + err.Error()})
	}
	// Answering from the cache is CPU work (each definition's parse, the
	// stat of its image files), and the caller waits for all answers:
	// batchWorkers answer at once, taking the apps in order. They stop
	// taking more once the answers so far hold MetadataBatchBytes of icons,
	// so a reply's icons stay below that plus one app's per worker.
	replies := make([]launcher.MetadataReply, len(apps))
	var next, size atomic.Int64
	var wg sync.WaitGroup
	for range min(batchWorkers, len(apps)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for size.Load() <= launcher.MetadataBatchBytes {
				i := int(next.Add(1)) - 1
				if i >= len(apps) {
					return
				}
				replies[i] = a.metadataReply(apps[i], have)
				size.Add(int64(iconBytes(replies[i].Icons)))
			}
		}()
	}
	wg.Wait()
	// Every app taken was answered: they are the first ones. The reply ends
	// after the answer that passes MetadataBatchBytes.
	answered, total := min(int(next.Load()), len(apps)), 0
	for i := range answered {
		total += iconBytes(replies[i].Icons)
		if total > launcher.MetadataBatchBytes {
			answered = i + 1
			break
		}
	}
	return replies[:answered], nil
}

// batchWorkers is how many of a MetadataBatch's apps are answered at once.
var batchWorkers = runtime.GOMAXPROCS(0)

// metadataReply is app's answer in MetadataBatch, the bytes of the icons
// in have left out.
func (a api) metadataReply(app string, have map[iconKey][sha256.Size]byte) launcher.MetadataReply {
	id, entry, icons, sums, err := a.s.metadataSums(app)
	r := launcher.MetadataReply{App: app, DesktopID: id, Entry: entry, Icons: icons}
	if e := toDBusError(err); e != nil {
		r = launcher.MetadataReply{App: app, Entry: map[string]dbus.Variant{}, ErrorName: e.Name, ErrorMessage: e.Error()}
	}
	if r.Icons == nil {
		r.Icons = []launcher.Icon{}
	}
	if r.Entry == nil {
		r.Entry = map[string]dbus.Variant{}
	}
	r.Icons = withoutKnownBytes(r.Icons, sums, app, have)
	return r
}

func iconBytes(icons []launcher.Icon) int {
	n := 0
	for _, i := range icons {
		n += len(i.Data)
	}
	return n
}

// iconKey names an icon of an app in MetadataBatch's known list.
type iconKey struct{ app, sizeDir, ext string }

// knownIcons checks MetadataBatch's known list (at most
// launcher.MaxKnownIcons per app asked, each digest 32 bytes, short names)
// and maps it by icon.
func knownIcons(known []launcher.KnownIcon, apps int) (map[iconKey][sha256.Size]byte, error) {
	if len(known) > launcher.MaxKnownIcons*apps {
		return nil, fmt.Errorf("%d known icons for %d apps, at most %d each", len(known), apps, launcher.MaxKnownIcons)
	}
	have := make(map[iconKey][sha256.Size]byte, len(known))
	for _, k := range known {
		if len(k.SHA256) != sha256.Size || len(k.App) > 255 || len(k.SizeDir) > 16 || len(k.Ext) > 8 {
			return nil, errors.New("a known icon is not (app, size, type, SHA-256)")
		}
		have[iconKey{k.App, k.SizeDir, k.Ext}] = [sha256.Size]byte(k.SHA256)
	}
	return have, nil
}

// withoutKnownBytes is icons with the Data of those that have lists for
// app with the same digest (sums, in the order of icons) left out. The
// cached slice is not changed.
func withoutKnownBytes(icons []launcher.Icon, sums [][sha256.Size]byte, app string, have map[iconKey][sha256.Size]byte) []launcher.Icon {
	if len(have) == 0 || len(sums) != len(icons) {
		return icons
	}
	var out []launcher.Icon
	for i, ic := range icons {
		if sum, ok := have[iconKey{app, ic.SizeDir, ic.Ext}]; ok && sum == sums[i] {
			if out == nil {
				out = slices.Clone(icons)
			}
			out[i].Data = []byte{}
		}
	}
	if out == nil {
		return icons
	}
	return out
}

// callError is an error with the D-Bus name the client acts on; its message
// is meant for the user.
type callError struct {
	name string
	msg  string
}

func (e *callError) Error() string { return e.msg }

// fail makes a callError.
func fail(name, format string, args ...any) error {
	return &callError{name: name, msg: fmt.Sprintf(format, args...)}
}

// toDBusError is the reply for err: its own name when it is a callError,
// Failed otherwise.
func toDBusError(err error) *dbus.Error {
	if err == nil {
		return nil
	}
	var ce *callError
	if errors.As(err, &ce) {
		return dbus.NewError(ce.name, []any{ce.msg})
	}
	return dbus.NewError(launcher.ErrNameFailed, []any{err.Error()})
}

// truncate shows a caller's string in a message: bounded, valid UTF-8,
// without NUL.
func truncate(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", "\\0"), "?")
}
