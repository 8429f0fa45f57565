package launcher

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/desktopfiles"
)

// EntryDict and EntryFromDict carry a desktop entry over the bus (the second
// value of Metadata's reply, a{sv}).
func EntryDict(e desktopfiles.Entry) map[string]dbus.Variant {
	d := map[string]dbus.Variant{}
	put := func(k string, v any, empty bool) {
		if !empty {
			d[k] = dbus.MakeVariant(v)
		}
	}
	put("Name", e.Name, e.Name == "")
	put("NameLoc", e.NameLoc, len(e.NameLoc) == 0)
	put("GenericName", e.GenericName, e.GenericName == "")
	put("GenericNameLoc", e.GenericNameLoc, len(e.GenericNameLoc) == 0)
	put("Comment", e.Comment, e.Comment == "")
	put("CommentLoc", e.CommentLoc, len(e.CommentLoc) == 0)
	put("Icon", e.Icon, e.Icon == "")
	put("Categories", e.Categories, len(e.Categories) == 0)
	put("Keywords", e.Keywords, len(e.Keywords) == 0)
	put("MimeType", e.MimeType, len(e.MimeType) == 0)
	put("StartupWMClass", e.StartupWMClass, e.StartupWMClass == "")
	return d
}

// EntryFromDict ignores fields of the wrong type: the result is sanitized
// again by the caller anyway.
func EntryFromDict(d map[string]dbus.Variant) desktopfiles.Entry {
	var e desktopfiles.Entry
	str := func(k string) string { v, _ := d[k].Value().(string); return v }
	loc := func(k string) map[string]string { v, _ := d[k].Value().(map[string]string); return v }
	list := func(k string) []string { v, _ := d[k].Value().([]string); return v }
	e.Name, e.NameLoc = str("Name"), loc("NameLoc")
	e.GenericName, e.GenericNameLoc = str("GenericName"), loc("GenericNameLoc")
	e.Comment, e.CommentLoc = str("Comment"), loc("CommentLoc")
	e.Icon, e.StartupWMClass = str("Icon"), str("StartupWMClass")
	e.Categories, e.Keywords, e.MimeType = list("Categories"), list("Keywords"), list("MimeType")
	return e
}

// AppMetadata is what Client.Metadata returns.
type AppMetadata struct {
	DesktopID string
	Entry     desktopfiles.Entry
	Icons     []Icon
}

// Metadata asks the service for app's desktop metadata and icons. It needs
// no authorization.
func (c *Client) Metadata(ctx context.Context, app string) (AppMetadata, error) {
	call, err := c.call(ctx, "Metadata", app)
	if err != nil {
		return AppMetadata{}, wrap("metadata of "+app, err)
	}
	var m AppMetadata
	var dict map[string]dbus.Variant
	if err := call.Store(&m.DesktopID, &dict, &m.Icons); err != nil {
		return AppMetadata{}, fmt.Errorf("metadata of %s: reply: %w", app, err)
	}
	m.Entry = EntryFromDict(dict)
	return m, nil
}

// MetadataReply is one app's answer in MetadataBatch's reply
// (a(ssa{sv}a(sssay)ss)): Metadata's three values, or the error Metadata
// would have answered (ErrorName "" when none).
type MetadataReply struct {
	App          string
	DesktopID    string
	Entry        map[string]dbus.Variant
	Icons        []Icon
	ErrorName    string
	ErrorMessage string
}

// MetadataBatch bounds: at most MaxMetadataBatch apps per call, and the
// service stops adding answers past MetadataBatchBytes of icons (one app
// has at most appmeta.MaxIconBytesTotal, 4 MiB), so a reply stays well
// below dbus-daemon's 32 MiB message limit; the caller asks again for the
// apps not answered.
const (
	MaxMetadataBatch   = 1024
	MetadataBatchBytes = 16 << 20
)

// KnownIcon is an icon the caller has already (MetadataBatch's second
// argument, a(sssay)): which app's, where it goes (SizeDir and Ext, as in
// Icon) and the SHA-256 of its bytes. The service answers an icon that is
// the same with no bytes: a sync that changed nothing moves no icon data.
type KnownIcon struct {
	App     string
	SizeDir string
	Ext     string
	SHA256  []byte
}

// MaxKnownIcons bounds MetadataBatch's known icons: as many per app asked
// as an app can have (appmeta.MaxIcons).
const MaxKnownIcons = 12

// MetadataResult is one app's metadata, or why there is none.
type MetadataResult struct {
	Meta AppMetadata
	Err  error
}

// MetadataBatch asks the service for many apps' metadata in as few calls
// as the replies' size allows (one for hundreds of usual apps, where
// Metadata is a round trip each). The results are in the order of apps.
// An icon that known lists with the same bytes comes back with nil Data:
// the caller has it. known may be nil.
func (c *Client) MetadataBatch(ctx context.Context, apps []string, known []KnownIcon) ([]MetadataResult, error) {
	byApp := map[string][]KnownIcon{}
	for _, k := range known {
		byApp[k.App] = append(byApp[k.App], k)
	}
	out := make([]MetadataResult, 0, len(apps))
	for len(out) < len(apps) {
		ask := apps[len(out):]
		if len(ask) > MaxMetadataBatch {
			ask = ask[:MaxMetadataBatch]
		}
		askKnown := []KnownIcon{}
		for _, app := range ask {
			k := byApp[app]
			askKnown = append(askKnown, k[:min(len(k), MaxKnownIcons)]...)
		}
		call, err := c.call(ctx, "MetadataBatch", ask, askKnown)
		if err != nil {
			return nil, wrap("metadata", err)
		}
		replies, err := metadataReplies(call.Body)
		if err != nil {
			return nil, fmt.Errorf("metadata: reply: %w", err)
		}
		if len(replies) == 0 || len(replies) > len(ask) {
			return nil, fmt.Errorf("metadata: %d answers for %d apps", len(replies), len(ask))
		}
		for i, r := range replies {
			if r.App != ask[i] {
				return nil, fmt.Errorf("metadata: answer %d is for %q, not %q", i, r.App, ask[i])
			}
			if r.ErrorName != "" {
				err := MapError(dbus.Error{Name: r.ErrorName, Body: []any{r.ErrorMessage}})
				out = append(out, MetadataResult{Err: wrap("metadata of "+r.App, err)})
				continue
			}
			if err := sameAsKnown(r.Icons, byApp[r.App]); err != nil {
				out = append(out, MetadataResult{Err: fmt.Errorf("metadata of %s: %w", r.App, err)})
				continue
			}
			out = append(out, MetadataResult{Meta: AppMetadata{DesktopID: r.DesktopID, Entry: EntryFromDict(r.Entry), Icons: r.Icons}})
		}
	}
	return out, nil
}

// sameAsKnown checks the icons answered without bytes: each must be one
// the caller listed (by size and type), and its Data is made nil.
func sameAsKnown(icons []Icon, known []KnownIcon) error {
	for i := range icons {
		if len(icons[i].Data) > 0 {
			continue
		}
		if !slices.ContainsFunc(known, func(k KnownIcon) bool { return k.SizeDir == icons[i].SizeDir && k.Ext == icons[i].Ext }) {
			return fmt.Errorf("reply: icon %s.%s has no bytes and is not one we have", icons[i].SizeDir, icons[i].Ext)
		}
		icons[i].Data = nil
	}
	return nil
}

// IsUnknownMethod reports whether err is the bus's answer for a method the
// service does not have: a daemon older than the client, during an upgrade.
func IsUnknownMethod(err error) bool {
	var e dbus.Error
	return errors.As(err, &e) && e.Name == "org.freedesktop.DBus.Error.UnknownMethod"
}

// metadataReplies reads MetadataBatch's reply by type assertions: the
// reflection of dbus.Store copies each icon's bytes one at a time, which
// made it most of a sync of hundreds of apps.
func metadataReplies(body []any) ([]MetadataReply, error) {
	if len(body) != 1 {
		return nil, fmt.Errorf("%d values, want 1", len(body))
	}
	list, ok := body[0].([][]any)
	if !ok {
		return nil, fmt.Errorf("type %T, want a(ssa{sv}a(sssay)ss)", body[0])
	}
	out := make([]MetadataReply, len(list))
	for i, f := range list {
		bad := fmt.Errorf("answer %d: not (ssa{sv}a(sssay)ss)", i)
		if len(f) != 6 {
			return nil, bad
		}
		r := &out[i]
		var ok [6]bool
		r.App, ok[0] = f[0].(string)
		r.DesktopID, ok[1] = f[1].(string)
		r.Entry, ok[2] = f[2].(map[string]dbus.Variant)
		icons, ok3 := f[3].([][]any)
		ok[3] = ok3
		r.ErrorName, ok[4] = f[4].(string)
		r.ErrorMessage, ok[5] = f[5].(string)
		for _, o := range ok {
			if !o {
				return nil, bad
			}
		}
		r.Icons = make([]Icon, len(icons))
		for j, ic := range icons {
			if len(ic) != 4 {
				return nil, bad
			}
			var ok [4]bool
			r.Icons[j].Name, ok[0] = ic[0].(string)
			r.Icons[j].SizeDir, ok[1] = ic[1].(string)
			r.Icons[j].Ext, ok[2] = ic[2].(string)
			r.Icons[j].Data, ok[3] = ic[3].([]byte)
			if !ok[0] || !ok[1] || !ok[2] || !ok[3] {
				return nil, bad
			}
		}
	}
	return out, nil
}
