// Package autostart manages nspawn-tray's entries in the user's XDG
// autostart directory: the tray's own, and one per app to start at login.
// It never touches an entry that does not carry nspawn-tray's owner key.
package autostart

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nspawn-tray/nspawn-tray/config"
	"github.com/nspawn-tray/nspawn-tray/desktopfiles"
	"github.com/nspawn-tray/nspawn-tray/menusync"
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

// AppEntry is the entry that starts app at login; self is the nspawn-tray
// binary. It shows the app as its menu entry does: with the name sync
// gives it among the definitions apps (menusync.Names), and with its own
// icon when sync has installed one below dataHome ($XDG_DATA_HOME), else
// nspawn-tray's.
func AppEntry(self, dataHome string, apps []config.App, app config.App) []byte {
	name, ok := menusync.Names(apps)[app.ID]
	if !ok {
		name = menusync.Names([]config.App{app})[app.ID]
	}
	return desktopfiles.Render(desktopfiles.Ours{AppID: app.ID, Launcher: self,
		Entry: desktopfiles.Sanitize(desktopfiles.Entry{Name: name, Icon: menusync.Icon(dataHome, app.ID)})})
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

// List says which entries of dir are enabled: the tray's, and the ids of
// the apps whose entries are (sorted), defined or not. An unreadable dir
// has none.
func List(dir string) (tray bool, apps []string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		id := strings.TrimSuffix(strings.TrimPrefix(e.Name(), "nspawn-tray-"), ".desktop")
		if config.ValidID(id) == nil && e.Name() == AppFile(id) && Enabled(dir, e.Name()) {
			apps = append(apps, id)
		}
	}
	slices.Sort(apps)
	return Enabled(dir, TrayFile), apps
}
