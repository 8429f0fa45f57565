// Package menusync puts the defined apps into the user's desktop menu: one
// desktop entry per app in $XDG_DATA_HOME/applications, with the app's own
// name and icon (taken from its image through the daemon's Metadata), and
// its icons in $XDG_DATA_HOME/icons. It runs as the user, writes only files
// it owns (package ownedfiles), and refreshes the desktop's caches only
// when something changed.
package menusync

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"

	"github.com/nspawn-tray/nspawn-tray/config"
	"github.com/nspawn-tray/nspawn-tray/desktopfiles"
	"github.com/nspawn-tray/nspawn-tray/launcher"
	"github.com/nspawn-tray/nspawn-tray/ownedfiles"
	"github.com/nspawn-tray/nspawn-tray/paths"
)

// Metadata is where the apps' metadata comes from: the daemon's
// Metadata method (a *launcher.Client), since only root can read images.
type Metadata interface {
	Metadata(ctx context.Context, app string) (launcher.AppMetadata, error)
}

// Options say what to sync, and where.
type Options struct {
	// AppsDir holds the definitions.
	AppsDir string
	// DataHome is $XDG_DATA_HOME: entries go to DataHome/applications,
	// icons to DataHome/icons, the icon manifest to DataHome/nspawn-tray.
	DataHome string
	// Launcher is the nspawn-tray binary the entries run.
	Launcher string
	// Homes is where the daemon keeps the apps' persistent homes, and UID
	// the user's, for the entries' "Open home folder" action.
	Homes string
	UID   uint32
	// Source gives each app's metadata; nil means definitions only.
	Source Metadata
	// DataDirs are $XDG_DATA_DIRS: an entry never takes the name of a
	// desktop file there (the host's own apps).
	DataDirs []string
	// Refresh runs a cache tool (update-desktop-database,
	// gtk-update-icon-cache) when present; nil runs them with os/exec.
	Refresh func(name string, args ...string)
}

// Result says what a sync did.
type Result struct {
	Apps    int
	Entries ownedfiles.Result // below DataHome/applications
	Icons   ownedfiles.Result // below DataHome/icons
	// Warnings are problems that did not stop the sync: definitions
	// skipped, metadata that could not be had. One line each.
	Warnings []string
}

// Strategies of the files a sync owns.
var entryFiles = ownedfiles.OwnerKey(".desktop", func(b []byte) bool { return desktopfiles.ParseOwner(b) != "" })

// Sync makes the user's applications and icons directories show exactly
// the defined apps. Without a metadata source (no daemon) an app still gets
// an entry made from its definition.
func Sync(ctx context.Context, o Options) (Result, error) {
	var res Result
	apps, loadErr := config.LoadDir(o.AppsDir, config.Options{})
	for _, err := range config.Problems(loadErr) {
		res.Warnings = append(res.Warnings, "skipping "+err.Error())
	}
	res.Apps = len(apps)
	entries := map[string][]byte{}
	iconFiles := map[string][]byte{}
	noDaemon := false
	for _, app := range apps {
		var meta launcher.AppMetadata
		if o.Source != nil && !noDaemon {
			var err error
			meta, err = o.Source.Metadata(ctx, app.ID)
			switch {
			case errors.Is(err, launcher.ErrNoDaemon):
				res.Warnings = append(res.Warnings, err.Error()+"; entries use the app definitions only")
				noDaemon = true
			case err != nil:
				res.Warnings = append(res.Warnings, err.Error()+"; its entry uses the definition only")
			}
		}
		file, entry, icons := entryFor(app, meta, o, entries)
		entries[file] = entry
		for rel, data := range icons {
			iconFiles[rel] = data
		}
	}
	appDir := filepath.Join(o.DataHome, "applications")
	var err error
	if res.Entries, err = ownedfiles.Reconcile(appDir, entryFiles, entries); err != nil {
		return res, fmt.Errorf("menusync: %s: %w", appDir, err)
	}
	iconDir := filepath.Join(o.DataHome, "icons")
	manifest := ownedfiles.Manifest(filepath.Join(o.DataHome, "nspawn-tray", "icons.list"))
	if res.Icons, err = ownedfiles.Reconcile(iconDir, manifest, iconFiles); err != nil {
		return res, fmt.Errorf("menusync: %s: %w", iconDir, err)
	}
	refresh := o.Refresh
	if refresh == nil {
		refresh = runIfPresent
	}
	// Menus and icon lookups read these caches: refresh them only when
	// something changed.
	if res.Entries.Changed() {
		refresh("update-desktop-database", "-q", appDir)
	}
	if res.Icons.Changed() {
		refresh("gtk-update-icon-cache", "-q", "-t", "-f", filepath.Join(iconDir, "hicolor"))
	}
	return res, nil
}

// entryFor is the entry file name, its content and the icon files of app;
// taken are the entries of the apps before it.
func entryFor(app config.App, meta launcher.AppMetadata, o Options, taken map[string][]byte) (string, []byte, map[string][]byte) {
	entry := desktopfiles.Override(meta.Entry, definitionEntry(app))
	if entry.Name == "" {
		entry.Name = app.Name
	}
	// The entry is named after the image's desktop file id, so desktops
	// match its windows to it, unless that would shadow a host app's entry
	// (a hostile image calling itself firefox.desktop would take over the
	// host's Firefox and its MIME defaults) or another app took it. Then
	// the name is ours, and StartupWMClass keeps the image's id for
	// matching windows.
	file := app.ID + ".desktop"
	if id := meta.DesktopID; id != "" && desktopfiles.ValidFileID(id+".desktop") == nil {
		file = id + ".desktop"
		if _, dup := taken[file]; dup || hostHas(o.DataDirs, file) {
			file = "nspawn-tray-" + app.ID + ".desktop"
			if entry.StartupWMClass == "" {
				entry.StartupWMClass = id
			}
		}
	}
	// Our icon names are ours alone, so they never shadow a host icon; the
	// entry names them, and StartupWMClass and the desktop file id keep the
	// app's identity for window matching.
	entry.Icon = "nspawn-tray"
	icons := map[string][]byte{}
	for _, i := range meta.Icons {
		if !iconSizeRE.MatchString(i.SizeDir) || (i.Ext != "png" && i.Ext != "svg" && i.Ext != "xpm") {
			continue // the daemon validated it; a wrong one must still not make a path
		}
		name := IconName(app.ID)
		icons[filepath.Join("hicolor", i.SizeDir, "apps", name+"."+i.Ext)] = i.Data
		entry.Icon = name
	}
	home := ""
	if app.Home {
		home = paths.Home(o.Homes, o.UID, app.ID)
	}
	return file, desktopfiles.Render(desktopfiles.Ours{AppID: app.ID, Entry: desktopfiles.Sanitize(entry),
		Launcher: o.Launcher, HomeDir: home}), icons
}

var iconSizeRE = regexp.MustCompile(`^([1-9][0-9]{0,3}x[1-9][0-9]{0,3}|scalable)$`)

// hostHas reports whether a desktop file named file is in one of dataDirs'
// applications dirs (a symlink or anything else there counts).
func hostHas(dataDirs []string, file string) bool {
	for _, d := range dataDirs {
		if _, err := os.Lstat(filepath.Join(d, "applications", file)); err == nil {
			return true
		}
	}
	return false
}

// IconName is the icon name of app's own icons.
func IconName(app string) string { return "nspawn-tray." + app }

func definitionEntry(app config.App) desktopfiles.Entry {
	d := app.Desktop
	return desktopfiles.Entry{Name: d.Name, GenericName: d.GenericName, Comment: d.Comment, Categories: d.Categories,
		Keywords: d.Keywords, MimeType: d.MimeType, StartupWMClass: d.StartupWMClass}
}

func runIfPresent(name string, args ...string) {
	if path, err := exec.LookPath(name); err == nil {
		_ = exec.Command(path, args...).Run()
	}
}
