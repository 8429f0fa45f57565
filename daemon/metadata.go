package daemon

import (
	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/appmeta"
	"github.com/nspawn-tray/nspawn-tray/desktopfiles"
	"github.com/nspawn-tray/nspawn-tray/launcher"
)

// metadata reads app's desktop entry and icons from its image. It needs no
// authorization: it returns only fields of a desktop entry, sanitized, and
// icons that validated as PNG, SVG or XPM, read inside the app's own image
// (RESOLVE_IN_ROOT). Nothing else of the image, and nothing outside it, can
// come back.
func (s *Service) metadata(appID string) (string, map[string]dbus.Variant, []launcher.Icon, error) {
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
		return "", nil, nil, fail(launcher.ErrNameImageMissing, "app %q: %v", app.ID, err)
	}
	icons := make([]launcher.Icon, 0, len(m.Icons))
	for _, i := range m.Icons {
		icons = append(icons, launcher.Icon(i))
	}
	return m.DesktopID, launcher.EntryDict(desktopfiles.Sanitize(m.Entry)), icons, nil
}
