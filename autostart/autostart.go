// Package autostart manages nspawn-tray's entries in the user's XDG
// autostart directory: the tray's own, and one per app to start at login.
// It never touches an entry that does not carry nspawn-tray's owner key.
package autostart

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/nspawn-tray/nspawn-tray/desktopfiles"
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

// Set makes dir/file hold content (enable) or not exist (disable, when
// content is nil), leaving every other entry as it is.
func Set(dir, file string, content []byte) error {
	want := map[string][]byte{}
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("autostart: %w", err)
	}
	// Reconcile removes owned entries that are not wanted: keep the others.
	for _, e := range ents {
		if e.Name() == file || !e.Type().IsRegular() || filepath.Ext(e.Name()) != ".desktop" {
			continue
		}
		if data, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil && desktopfiles.ParseOwner(data) != "" {
			want[e.Name()] = data
		}
	}
	if content != nil {
		want[file] = content
	}
	res, err := desktopfiles.Reconcile(dir, ".desktop", want)
	if err != nil {
		return fmt.Errorf("autostart: %w", err)
	}
	for _, s := range res.Skipped {
		if s == file {
			return fmt.Errorf("autostart: %s exists and is not nspawn-tray's: left alone", filepath.Join(dir, file))
		}
	}
	return nil
}

// Enabled reports whether dir/file is an nspawn-tray entry.
func Enabled(dir, file string) bool {
	data, err := os.ReadFile(filepath.Join(dir, file))
	return err == nil && desktopfiles.ParseOwner(data) != ""
}
