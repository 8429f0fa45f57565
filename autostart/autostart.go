// Package autostart manages nspawn-tray's entries in the user's XDG
// autostart directory: the tray's own, and one per app to start at login.
// It never touches an entry that does not carry nspawn-tray's owner key.
package autostart

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/nspawn-tray/nspawn-tray/desktopfiles"
	"github.com/nspawn-tray/nspawn-tray/ownedfiles"
)

// TrayFile is the tray's own entry.
const TrayFile = "nspawn-tray.desktop"

// AppFile is the entry that starts app at login.
func AppFile(app string) string { return "nspawn-tray-" + app + ".desktop" }

// TrayEntry is the tray's autostart entry; self is the nspawn-tray binary.
func TrayEntry(self string) []byte {
	return []byte(`# Written by nspawn-tray ("Start on login" in its menu, or nspawn-tray autostart).
[Desktop Entry]
Type=Application
Name=nspawn-tray
Comment=Container apps and machines in the system tray
Icon=nspawn-tray
Exec=` + desktopfiles.ExecValue(self, "tray") + `
TryExec=` + desktopfiles.StringValue(self) + `
Terminal=false
NoDisplay=true
` + desktopfiles.OwnerKey + `=tray
`)
}

var entries = ownedfiles.OwnerKey(".desktop", func(b []byte) bool { return desktopfiles.ParseOwner(b) != "" })

// Set makes dir/file hold content (enable) or not exist (disable, when
// content is nil), leaving every other entry as it is.
func Set(dir, file string, content []byte) error {
	res, err := ownedfiles.Set(dir, entries, file, content)
	if err != nil {
		return fmt.Errorf("autostart: %w", err)
	}
	if slices.Contains(res.Skipped, file) {
		return fmt.Errorf("autostart: %s exists and is not nspawn-tray's: left alone", filepath.Join(dir, file))
	}
	return nil
}

// Enabled reports whether dir/file is an nspawn-tray entry.
func Enabled(dir, file string) bool {
	data, err := os.ReadFile(filepath.Join(dir, file))
	return err == nil && desktopfiles.ParseOwner(data) != ""
}
