package launcher

import (
	"context"
	"fmt"

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
