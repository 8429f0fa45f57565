package tray

import (
	"bytes"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/nspawn-tray/nspawn-tray/menusync"
)

// The apps' entries in the tray's menu show the apps' own icons, the ones
// sync installed for the desktop menu. dbusmenu carries a menu entry's
// icon as PNG data (icon-data): hosts draw it as they get it, or scale it
// down to their menus' size (libdbusmenu-gtk does), so the PNG closest
// above that size is the one sent. An app whose icons are all SVG or XPM
// shows its label only.

// menuIconSize is the size of icons in the panels' menus (GTK's
// GTK_ICON_SIZE_MENU).
const menuIconSize = 16

// maxMenuIcon caps the PNG data of one entry: every GetLayout of the menu
// carries it.
const maxMenuIcon = 64 << 10

// pngMagic starts every PNG file.
var pngMagic = []byte("\x89PNG\r\n\x1a\n")

// menuIcon is the PNG the menu shows beside app's entry, nil for none:
// of the PNG icons sync installed below dataHome, the smallest that is at
// least menuIconSize, else the largest.
func menuIcon(dataHome, app string) []byte {
	best, bestSize := "", 0
	for _, ic := range menusync.InstalledIcons(dataHome, app) {
		size := squareSize(ic.SizeDir)
		if ic.Ext != "png" || size == 0 {
			continue
		}
		better := best == "" ||
			(size >= menuIconSize && (bestSize < menuIconSize || size < bestSize)) ||
			(size < menuIconSize && bestSize < menuIconSize && size > bestSize)
		if better {
			best, bestSize = ic.Path, size
		}
	}
	if best == "" {
		return nil
	}
	f, err := os.Open(best)
	if err != nil {
		return nil
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxMenuIcon+1))
	if err != nil || len(data) > maxMenuIcon || !bytes.HasPrefix(data, pngMagic) {
		return nil
	}
	return data
}

// squareSize is N of a size directory "NxN", 0 for any other.
func squareSize(dir string) int {
	w, h, ok := strings.Cut(dir, "x")
	n, err := strconv.Atoi(w)
	if !ok || err != nil || w != h || n <= 0 {
		return 0
	}
	return n
}

// addIcons gives each of apps the icon its menu entry shows.
func (t *Tray) addIcons(apps []App) {
	if t.opts.DataHome == "" {
		return
	}
	for i := range apps {
		apps[i].Icon = menuIcon(t.opts.DataHome, apps[i].ID)
	}
}
