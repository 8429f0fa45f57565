package launcher

import (
	"context"

	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/appmeta"
	"github.com/nspawn-tray/nspawn-tray/desktopfiles"
)

// wireIcon is one icon on the bus: a(sssay).
type wireIcon struct {
	Name, SizeDir, Ext string
	Data               []byte
}

// Metadata serves the desktop metadata and icons of app from its image,
// which only root can read. It needs no authorization: it returns only
// fields of a desktop entry, sanitized, and icons that validated as PNG,
// SVG or XPM, read inside the app's own image (RESOLVE_IN_ROOT). Nothing
// else of the image, and nothing outside it, can come back.
func (a api) Metadata(app string) (string, map[string]dbus.Variant, []wireIcon, *dbus.Error) {
	defer a.s.begin()()
	id, entry, icons, err := a.s.metadata(context.Background(), app)
	return id, entry, icons, toDBusError(err)
}

func (s *Service) metadata(_ context.Context, appID string) (string, map[string]dbus.Variant, []wireIcon, error) {
	app, err := s.findApp(appID)
	if err != nil {
		return "", nil, nil, err
	}
	imageDir, err := s.imageDir(app)
	if err != nil {
		return "", nil, nil, err
	}
	m, err := appmeta.Extract(imageDir, app.Exec[0], appmeta.Options{DesktopFile: app.Desktop.File})
	if err != nil {
		return "", nil, nil, fail(ErrNameImageMissing, "app %q: %v", app.ID, err)
	}
	icons := make([]wireIcon, 0, len(m.Icons))
	for _, i := range m.Icons {
		icons = append(icons, wireIcon{i.Name, i.SizeDir, i.Ext, i.Data})
	}
	return m.DesktopID, EntryDict(desktopfiles.Sanitize(m.Entry)), icons, nil
}

// EntryDict and EntryFromDict carry a desktop entry over the bus.
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
	Icons     []appmeta.Icon
}

// Metadata asks the service for app's desktop metadata and icons.
func (c *Client) Metadata(ctx context.Context, app string) (AppMetadata, error) {
	call, err := c.call(ctx, "Metadata", app)
	if err != nil {
		return AppMetadata{}, wrap("metadata of "+app, err)
	}
	var id string
	var dict map[string]dbus.Variant
	var icons []wireIcon
	if err := call.Store(&id, &dict, &icons); err != nil {
		return AppMetadata{}, wrap("metadata of "+app, err)
	}
	m := AppMetadata{DesktopID: id, Entry: EntryFromDict(dict)}
	for _, i := range icons {
		m.Icons = append(m.Icons, appmeta.Icon{Name: i.Name, SizeDir: i.SizeDir, Ext: i.Ext, Data: i.Data})
	}
	return m, nil
}
