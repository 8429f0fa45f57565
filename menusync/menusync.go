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
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/sys/unix"

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
	// AppsOwner stands in for root as the owner the definitions must have
	// (config.Options.Owner): 0 on every real system, where they are read
	// as strictly as the daemon reads them; tests that run as a user set
	// their own uid.
	AppsOwner uint32
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

// Summary says what a sync did in one line: "1 app: 1 entry written, 0
// removed; 2 icons written, 0 removed".
func (r Result) Summary() string {
	return fmt.Sprintf("%s: %s written, %d removed; %s written, %d removed",
		count(r.Apps, "app", "apps"), count(len(r.Entries.Written), "entry", "entries"), len(r.Entries.Removed),
		count(len(r.Icons.Written), "icon", "icons"), len(r.Icons.Removed))
}

func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// Strategies of the files a sync owns.
var entryFiles = ownedfiles.OwnerKey(".desktop", func(b []byte) bool { return desktopfiles.ParseOwner(b) != "" })

// Definitions loads the definitions in dir with the checks the daemon
// applies (config.Options.RequireRootOwned, with owner standing in for
// root), so that nothing shows an app the daemon would refuse. invalid
// lists the definitions refused, each with its one message (all the
// problems of its file: config.InvalidApps). err is a problem with dir
// itself, which leaves no definition usable.
func Definitions(dir string, owner uint32) (apps []config.App, invalid []config.InvalidApp, err error) {
	apps, loadErr := config.LoadDir(dir, config.Options{RequireRootOwned: true, Owner: owner})
	invalid, err = config.InvalidApps(loadErr)
	if err != nil {
		return nil, nil, err
	}
	return apps, invalid, nil
}

// Sync makes the user's applications and icons directories show exactly
// the defined apps. Without a metadata source (no daemon) an app still gets
// an entry made from its definition. A definition the daemon would refuse
// gets no entry, and one warning.
func Sync(ctx context.Context, o Options) (Result, error) {
	var res Result
	apps, invalid, err := Definitions(o.AppsDir, o.AppsOwner)
	if err != nil {
		return res, fmt.Errorf("menusync: %w", err)
	}
	for _, a := range invalid {
		res.Warnings = append(res.Warnings, a.Message)
	}
	slices.SortFunc(apps, func(a, b config.App) int { return strings.Compare(a.ID, b.ID) })
	res.Apps = len(apps)
	infos := make([]appInfo, 0, len(apps))
	noDaemon := false
	for _, app := range apps {
		info := appInfo{App: app}
		if app.Desktop.Name != "" {
			res.Warnings = append(res.Warnings, fmt.Sprintf("app %q: [desktop] name is ignored: its entry takes the definition's name %q",
				app.ID, app.Name))
		}
		if o.Source != nil && !noDaemon {
			meta, err := o.Source.Metadata(ctx, app.ID)
			switch {
			case errors.Is(err, launcher.ErrNoDaemon):
				res.Warnings = append(res.Warnings, err.Error()+"; entries use the app definitions only")
				noDaemon = true
			case err != nil:
				res.Warnings = append(res.Warnings, err.Error()+"; its entry uses the definition only")
			default:
				info.meta, info.known = meta, true
			}
		}
		infos = append(infos, info)
	}
	appDir := filepath.Join(o.DataHome, "applications")
	files := fileNames(infos, ownedEntries(appDir), func(file string) bool { return hostHas(o.DataDirs, file) })
	names := Names(apps)
	entries := map[string][]byte{}
	iconFiles := map[string][]byte{}
	for _, info := range infos {
		file := files[info.ID]
		entry, icons := entryFor(info, file, names[info.ID], o)
		entries[file] = entry
		for rel, data := range icons {
			iconFiles[rel] = data
		}
	}
	if res.Entries, err = ownedfiles.Reconcile(appDir, entryFiles, entries); err != nil {
		return res, fmt.Errorf("menusync: %s: %w", appDir, err)
	}
	iconDir := filepath.Join(o.DataHome, "icons")
	manifest := ownedfiles.Manifest(iconManifest(o.DataHome))
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

// appInfo is an app with its metadata; known is false when the daemon did
// not give any (no daemon, or an error), so the image's desktop id is not
// known.
type appInfo struct {
	config.App
	meta  launcher.AppMetadata
	known bool
}

// fallback is an app's entry file name of our own, when the image's
// desktop id cannot be used. No other name starts with "nspawn-tray-"
// (reserved), so it is always the app's.
func fallback(app string) string { return "nspawn-tray-" + app + ".desktop" }

// reserved reports whether file is one of nspawn-tray's own names: the
// tray's application entry, and the fallback names of all apps.
func reserved(file string) bool {
	return file == "nspawn-tray.desktop" || strings.HasPrefix(file, "nspawn-tray-")
}

// primary is the entry file name app would like: its image's desktop file
// id, so desktops match its windows to it, or its own id when the image
// has none (or its metadata is not known). "" when that name can never be
// the app's: not a valid desktop file id, or reserved.
func (a appInfo) primary() string {
	file := a.ID + ".desktop"
	if id := a.meta.DesktopID; id != "" && desktopfiles.ValidFileID(id+".desktop") == nil {
		file = id + ".desktop"
	}
	if desktopfiles.ValidFileID(file) != nil || reserved(file) {
		return ""
	}
	return file
}

// fileNames gives each app the name of its entry file. owned lists, by app
// id, the entries in the applications directory that are ours (sorted);
// host reports whether a name is a desktop file of the host's.
//
// An app keeps the name of the entry it has, so adding an app never takes
// another's entry over: the name must still be allowed (a valid id, not a
// host's entry) and, when the image's desktop id is known, be that id or
// the app's fallback name; without metadata (no daemon) any name it has is
// kept. The other apps, in id order, get their primary name if no one has
// it and it does not shadow a host entry (a hostile image calling itself
// firefox.desktop would take over the host's Firefox and its MIME
// defaults), else their fallback name. So the names depend on the
// definitions and on the entries already there, never on the order in
// which definitions are read.
func fileNames(apps []appInfo, owned map[string][]string, host func(string) bool) map[string]string {
	files := map[string]string{}
	taken := map[string]bool{}
	allowed := func(a appInfo, file string) bool {
		if file == fallback(a.ID) {
			return true
		}
		return desktopfiles.ValidFileID(file) == nil && !reserved(file) && !taken[file] && !host(file)
	}
	for _, a := range apps {
		candidates := owned[a.ID]
		if a.known {
			candidates = nil
			for _, f := range []string{a.primary(), fallback(a.ID)} {
				if f != "" && slices.Contains(owned[a.ID], f) {
					candidates = append(candidates, f)
				}
			}
		}
		for _, f := range candidates {
			if allowed(a, f) {
				files[a.ID], taken[f] = f, true
				break
			}
		}
	}
	for _, a := range apps {
		if _, ok := files[a.ID]; ok {
			continue
		}
		f := a.primary()
		if f == "" || !allowed(a, f) {
			f = fallback(a.ID)
		}
		files[a.ID], taken[f] = f, true
	}
	return files
}

// ownedEntries lists the entries of dir that are ours, by the app id their
// owner key names, each list sorted. A directory that cannot be read has
// none: Reconcile reports why.
func ownedEntries(dir string) map[string][]string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	owned := map[string][]string{}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".desktop") || !e.Type().IsRegular() {
			continue
		}
		if owner := readOwner(filepath.Join(dir, e.Name())); owner != "" {
			owned[owner] = append(owned[owner], e.Name())
		}
	}
	return owned // os.ReadDir sorts by name
}

// readOwner is the owner key of the regular file p, "" if none or if it
// is not one; a symlink is never followed.
func readOwner(p string) string {
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return ""
	}
	data, err := io.ReadAll(io.LimitReader(f, maxEntrySize))
	if err != nil {
		return ""
	}
	return desktopfiles.ParseOwner(data)
}

// maxEntrySize is the most read of an entry to learn its owner: ours are
// a few kilobytes.
const maxEntrySize = 1 << 20

// Names gives each app the name its menu and autostart entries show: the
// name of its definition, the one the tray and ps show too. Apps whose
// names are the same (as written to an entry) are told apart: the first of
// them in id order keeps the name, each other one adds its id, "XTerm
// (xterm-offline)". Which apps are defined decides it, not the order they
// are read or were added in.
func Names(apps []config.App) map[string]string {
	sorted := slices.Clone(apps)
	slices.SortFunc(sorted, func(a, b config.App) int { return strings.Compare(a.ID, b.ID) })
	names := map[string]string{}
	seen := map[string]bool{}
	for _, a := range sorted {
		name := desktopfiles.Sanitize(desktopfiles.Entry{Name: a.Name}).Name
		if name == "" {
			name = a.ID
		}
		if seen[name] {
			suffix := " (" + a.ID + ")"
			name = strings.TrimRightFunc(cut(name, maxName-len(suffix)), unicode.IsSpace) + suffix
		} else {
			seen[name] = true
		}
		names[a.ID] = name
	}
	return names
}

// maxName is the longest Name desktopfiles keeps, in bytes.
const maxName = 128

// cut cuts s to at most max bytes at a character boundary.
func cut(s string, max int) string {
	if len(s) <= max {
		return s
	}
	for max > 0 && !utf8.RuneStart(s[max]) {
		max--
	}
	return s[:max]
}

// entryFor is the content of app's entry, to be written as file and named
// name, and its icon files.
func entryFor(a appInfo, file, name string, o Options) ([]byte, map[string][]byte) {
	entry := desktopfiles.Override(a.meta.Entry, definitionEntry(a.App))
	// One name everywhere: the definition's, in every language.
	entry.Name, entry.NameLoc = name, nil
	// An entry not named after the image's desktop file id keeps the id in
	// StartupWMClass, for matching windows.
	if id := a.meta.DesktopID; id != "" && file != id+".desktop" && entry.StartupWMClass == "" {
		entry.StartupWMClass = id
	}
	// Our icon names are ours alone, so they never shadow a host icon; the
	// entry names them, and StartupWMClass and the desktop file id keep the
	// app's identity for window matching.
	entry.Icon = GenericIcon
	icons := map[string][]byte{}
	for _, i := range a.meta.Icons {
		if !iconSizeRE.MatchString(i.SizeDir) || !iconExts[i.Ext] {
			continue // the daemon validated it; a wrong one must still not make a path
		}
		icons[filepath.Join("hicolor", i.SizeDir, "apps", IconName(a.ID)+"."+i.Ext)] = i.Data
		entry.Icon = IconName(a.ID)
	}
	home := ""
	if a.Home {
		home = paths.Home(o.Homes, o.UID, a.ID)
	}
	return desktopfiles.Render(desktopfiles.Ours{AppID: a.ID, Entry: desktopfiles.Sanitize(entry),
		Launcher: o.Launcher, HomeDir: home}), icons
}

var iconExts = map[string]bool{"png": true, "svg": true, "xpm": true}

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

// GenericIcon is the icon of an app that has none of its own.
const GenericIcon = "nspawn-tray"

// iconManifest lists the icons sync wrote below dataHome/icons.
func iconManifest(dataHome string) string {
	return filepath.Join(dataHome, "nspawn-tray", "icons.list")
}

// Icon is the icon name app's entries show: its own (IconName) when sync
// has installed an icon of it below dataHome/icons, as its manifest says
// and the file is still there; else GenericIcon.
func Icon(dataHome, app string) string {
	if len(InstalledIcons(dataHome, app)) > 0 {
		return IconName(app)
	}
	return GenericIcon
}

// InstalledIcon is one icon file of an app that sync installed.
type InstalledIcon struct {
	Path    string // below dataHome/icons
	SizeDir string // "48x48", "scalable"
	Ext     string // "png", "svg" or "xpm"
}

// InstalledIcons are app's icons that sync installed below dataHome/icons,
// as its manifest lists them, that are still there as regular files.
func InstalledIcons(dataHome, app string) []InstalledIcon {
	data, err := os.ReadFile(iconManifest(dataHome))
	if err != nil {
		return nil
	}
	var out []InstalledIcon
	for _, line := range strings.Split(string(data), "\n") {
		// "SHA256 hicolor/SIZE/apps/NAME.EXT", as entryFor names them.
		_, rel, _ := strings.Cut(line, " ")
		parts := strings.Split(rel, "/")
		if len(parts) != 4 || parts[0] != "hicolor" || !iconSizeRE.MatchString(parts[1]) || parts[2] != "apps" {
			continue
		}
		ext, ok := strings.CutPrefix(parts[3], IconName(app)+".")
		if !ok || !iconExts[ext] {
			continue
		}
		path := filepath.Join(dataHome, "icons", rel)
		if fi, err := os.Lstat(path); err == nil && fi.Mode().IsRegular() {
			out = append(out, InstalledIcon{Path: path, SizeDir: parts[1], Ext: ext})
		}
	}
	return out
}

func definitionEntry(app config.App) desktopfiles.Entry {
	d := app.Desktop // d.Name is not used: the app has one name, its definition's
	return desktopfiles.Entry{GenericName: d.GenericName, Comment: d.Comment, Categories: d.Categories,
		Keywords: d.Keywords, MimeType: d.MimeType, StartupWMClass: d.StartupWMClass}
}

func runIfPresent(name string, args ...string) {
	if path, err := exec.LookPath(name); err == nil {
		_ = exec.Command(path, args...).Run()
	}
}
