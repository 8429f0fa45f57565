package daemon

import (
	"context"
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/catalog"
	"github.com/nspawn-tray/nspawn-tray/config"
	"github.com/nspawn-tray/nspawn-tray/desktopfiles"
	"github.com/nspawn-tray/nspawn-tray/launcher"
	"github.com/nspawn-tray/nspawn-tray/machinename"
)

// maxImages caps how many images Offers looks into.
const maxImages = 256

// offers lists, image by image, the apps each offers (its desktop entries)
// that no valid definition makes an app of yet (catalog.DefinedAs).
// Definitions are read as Launch reads them; the ids of invalid ones are
// taken all the same.
func (s *Service) offers() ([]launcher.Offer, error) {
	defs, loadErr := config.LoadDir(s.paths.Apps, config.Options{RequireRootOwned: true})
	if _, dirErr := config.InvalidApps(loadErr); dirErr != nil {
		return nil, dirErr
	}
	ids := map[string]bool{}
	for _, d := range defs {
		ids[d.ID] = true
	}
	for _, bad := range invalidIDs(loadErr) {
		ids[bad] = true
	}
	entries, err := os.ReadDir(s.paths.Machines)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	out := []launcher.Offer{}
	for i, e := range entries {
		if i >= maxImages {
			break
		}
		image := e.Name()
		if !e.IsDir() || config.ValidImage(image) != nil {
			continue
		}
		dir, err := s.imageDir(config.App{ID: "offers", Image: image})
		if err != nil {
			continue
		}
		offers, err := catalog.Offers(dir)
		if err != nil {
			continue
		}
		for _, o := range offers {
			if catalog.DefinedAs(o, image, defs) != "" {
				continue
			}
			out = append(out, launcher.Offer{Image: image, DesktopFile: o.DesktopFile, ID: freeID(o.ID, ids), Name: o.Name})
		}
	}
	return out, nil
}

func invalidIDs(loadErr error) []string {
	invalid, _ := config.InvalidApps(loadErr)
	var out []string
	for _, a := range invalid {
		out = append(out, a.ID)
	}
	return out
}

// freeID is id, or id-2, id-3... when a definition has it.
func freeID(id string, taken map[string]bool) string {
	if !taken[id] {
		return id
	}
	for n := 2; n < 100; n++ {
		suffix := "-" + strconv.Itoa(n)
		c := id
		if len(c)+len(suffix) > machinename.MaxAppIDLen {
			c = strings.TrimRight(c[:machinename.MaxAppIDLen-len(suffix)], "-")
		}
		if c += suffix; !taken[c] && config.ValidID(c) == nil {
			return c
		}
	}
	return ""
}

// addApp writes the definition of the app image offers with file, for an
// administrator (manage-apps): the tray's "Add app". Everything in it
// comes from the image through catalog; the caller only chooses which
// entry.
func (s *Service) addApp(ctx context.Context, msg dbus.Message, image, file string) (string, error) {
	sender, _, err := s.caller(ctx, msg)
	if err != nil {
		return "", err
	}
	if config.ValidImage(image) != nil || desktopfiles.ValidFileID(file) != nil {
		return "", fail(launcher.ErrNameInvalidArgs, "no app %q in image %q", truncate(file), truncate(image))
	}
	if err := s.authorize(ctx, msg, sender, launcher.ActionManageApps, map[string]string{"image": image, "desktop-file": file}); err != nil {
		return "", err
	}
	offers, err := s.offers()
	if err != nil {
		return "", err
	}
	i := slices.IndexFunc(offers, func(o launcher.Offer) bool { return o.Image == image && o.DesktopFile == file })
	if i < 0 {
		return "", fail(launcher.ErrNameInvalidArgs, "image %q offers no app %q without a definition (nspawn-tray app add %s lists them)", image, file, image)
	}
	id := offers[i].ID
	if id == "" {
		return "", fail(launcher.ErrNameFailed, "no free app id for %s", file)
	}
	dir, err := s.imageDir(config.App{ID: id, Image: image})
	if err != nil {
		return "", err
	}
	o, err := catalog.Find(dir, file)
	if err != nil {
		return "", fail(launcher.ErrNameInvalidArgs, "%v", err)
	}
	if _, err := catalog.Add(s.paths.Apps, image, id, o, false); err != nil {
		return "", err
	}
	return id, nil
}
