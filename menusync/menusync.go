// Package menusync puts the defined apps into the user's desktop menu: one
// desktop entry per app in $XDG_DATA_HOME/applications, with the app's own
// name and icon (taken from its image through the daemon's Metadata), and
// its icons in $XDG_DATA_HOME/icons. It runs as the user, writes only files
// it owns (package ownedfiles), and refreshes the desktop's caches only
// when something changed.
package menusync

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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
// Sync calls it from several goroutines at once.
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
	appDir := filepath.Join(o.DataHome, "applications")
	// The daemon is asked while the definitions are read and parsed, and
	// the entries there are read: its ids are the definition files' names
	// (an id whose definition turns out invalid gets an answer no one
	// uses).
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	early := make(chan map[string]metaResult, 1)
	go func() {
		if o.Source == nil {
			early <- nil
			return
		}
		ids := definitionIDs(o.AppsDir)
		early <- byID(ids, fetchMetadata(ctx, o.Source, ids, KnownIcons(o.DataHome, ids)))
	}()
	apps, invalid, err := Definitions(o.AppsDir, o.AppsOwner)
	if err != nil {
		return res, fmt.Errorf("menusync: %w", err)
	}
	owned := ownedEntries(appDir)
	for _, a := range invalid {
		res.Warnings = append(res.Warnings, a.Message)
	}
	slices.SortFunc(apps, func(a, b config.App) int { return strings.Compare(a.ID, b.ID) })
	res.Apps = len(apps)
	infos := make([]appInfo, 0, len(apps))
	metas := metadataOf(ctx, o, apps, <-early)
	noDaemon := false
	for i, app := range apps {
		info := appInfo{App: app}
		if app.Desktop.Name != "" {
			res.Warnings = append(res.Warnings, fmt.Sprintf("app %q: [desktop] name is ignored: its entry takes the definition's name %q",
				app.ID, app.Name))
		}
		if o.Source != nil && !noDaemon {
			meta, err := metas[i].meta, metas[i].err
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
	files := fileNames(infos, owned, func(file string) bool { return hostHas(o.DataDirs, file) })
	names := Names(apps)
	entries := map[string][]byte{}
	iconFiles := map[string][]byte{}
	keep := map[string]bool{}
	iconApp := map[string]int{} // icon file -> index in infos
	rendered := renderAll(infos, files, names, o)
	for i, info := range infos {
		entry, icons := rendered[i].entry, rendered[i].icons
		entries[files[info.ID]] = entry
		for rel, data := range icons {
			iconApp[rel] = i
			if data == nil {
				keep[rel] = true // the daemon said we have it
			} else {
				iconFiles[rel] = data
			}
		}
	}
	// Two directories, two reconciles: at once.
	iconDir := filepath.Join(o.DataHome, "icons")
	manifest := ownedfiles.Manifest(iconManifest(o.DataHome))
	var iconErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		res.Icons, iconErr = ownedfiles.ReconcileKeeping(iconDir, manifest, iconFiles, keep)
	}()
	res.Entries, err = ownedfiles.Reconcile(appDir, entryFiles, entries)
	wg.Wait()
	if err != nil {
		return res, fmt.Errorf("menusync: %s: %w", appDir, err)
	}
	if iconErr != nil {
		return res, fmt.Errorf("menusync: %s: %w", iconDir, iconErr)
	}
	if len(res.Icons.Missing) > 0 {
		// An icon went away after it was listed as known (removed by hand
		// during the sync): ask again for those apps' bytes.
		again, err := refetchIcons(ctx, o, infos, iconApp, res.Icons.Missing, files, names)
		if err != nil {
			res.Warnings = append(res.Warnings, err.Error())
		}
		if len(again) > 0 {
			maps.Copy(iconFiles, again)
			more, err := ownedfiles.ReconcileKeeping(iconDir, manifest, iconFiles, keep)
			if err != nil {
				return res, fmt.Errorf("menusync: %s: %w", iconDir, err)
			}
			res.Icons.Written = append(res.Icons.Written, more.Written...)
			res.Icons.Skipped = append(res.Icons.Skipped, more.Skipped...)
			slices.Sort(res.Icons.Written)
		}
		res.Icons.Missing = nil
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

// BatchMetadata is a Metadata source that answers many apps in one call
// (the daemon's MetadataBatch, a *launcher.Client): Sync uses it when the
// source has it. An icon listed in known with the same bytes is answered
// with nil Data.
type BatchMetadata interface {
	MetadataBatch(ctx context.Context, apps []string, known []launcher.KnownIcon) ([]launcher.MetadataResult, error)
}

var _ BatchMetadata = (*launcher.Client)(nil)

// definitionIDs are the ids of the definition files in dir, valid or not,
// as config.LoadDir would find them; none if dir cannot be read.
func definitionIDs(dir string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var ids []string
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".toml")
		if ok && !strings.HasPrefix(id, ".") && config.ValidID(id) == nil {
			ids = append(ids, id)
		}
	}
	return ids
}

func byID(ids []string, res []metaResult) map[string]metaResult {
	m := make(map[string]metaResult, len(ids))
	for i, id := range ids {
		m[id] = res[i]
	}
	return m
}

// metadataOf is each app's metadata from early (asked for by file name
// before the definitions were read), and asked for now for the apps whose
// definition appeared since.
func metadataOf(ctx context.Context, o Options, apps []config.App, early map[string]metaResult) []metaResult {
	out := make([]metaResult, len(apps))
	var late []string
	for i, a := range apps {
		r, ok := early[a.ID]
		if !ok {
			late = append(late, a.ID)
		}
		out[i] = r
	}
	if len(late) == 0 || o.Source == nil {
		return out
	}
	more := byID(late, fetchMetadata(ctx, o.Source, late, KnownIcons(o.DataHome, late)))
	for i, a := range apps {
		if r, ok := more[a.ID]; ok {
			out[i] = r
		}
	}
	return out
}

type renderedApp struct {
	entry []byte
	icons map[string][]byte
}

// renderAll is entryFor of every app, on all CPUs: sanitizing and
// rendering hundreds of entries is most of an unchanged sync's own work.
func renderAll(infos []appInfo, files, names map[string]string, o Options) []renderedApp {
	out := make([]renderedApp, len(infos))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(infos)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < len(infos); i = int(next.Add(1)) - 1 {
				info := infos[i]
				out[i].entry, out[i].icons = entryFor(info, files[info.ID], names[info.ID], o)
			}
		}()
	}
	wg.Wait()
	return out
}

// KnownIcons lists the icons of apps that sync installed and that are
// still there (the manifest's digest of each), so that the daemon leaves
// out the bytes of those that did not change. Which of them are still ours
// is decided by reading them only before one is replaced or removed
// (ownedfiles).
func KnownIcons(dataHome string, apps []string) []launcher.KnownIcon {
	byIcon := map[string]string{}
	for _, id := range apps {
		byIcon[IconName(id)] = id
	}
	var out []launcher.KnownIcon
	for _, ic := range manifestIcons(dataHome) {
		if app, ok := byIcon[ic.name]; ok {
			out = append(out, launcher.KnownIcon{App: app, SizeDir: ic.SizeDir, Ext: ic.Ext, SHA256: ic.sum})
		}
	}
	return out
}

// refetchIcons asks again, without known icons, for the apps of the icon
// files missing, and gives those apps' icon files with their bytes.
func refetchIcons(ctx context.Context, o Options, infos []appInfo, iconApp map[string]int, missing []string, files, names map[string]string) (map[string][]byte, error) {
	var idx []int
	for _, rel := range missing {
		if i, ok := iconApp[rel]; ok && !slices.Contains(idx, i) {
			idx = append(idx, i)
		}
	}
	ids := make([]string, len(idx))
	for j, i := range idx {
		ids[j] = infos[i].ID
	}
	metas := fetchMetadata(ctx, o.Source, ids, nil)
	out := map[string][]byte{}
	for j, i := range idx {
		if metas[j].err != nil {
			return out, metas[j].err
		}
		info := infos[i]
		info.meta = metas[j].meta
		_, icons := entryFor(info, files[info.ID], names[info.ID], o)
		for rel, data := range icons {
			if data != nil {
				out[rel] = data
			}
		}
	}
	return out, nil
}

// metaInFlight bounds the Metadata calls sync has open at once: enough to
// hide the round trips (one call is ~1.3 ms, mostly waiting), well below
// dbus-daemon's max_replies_per_connection (128 on the system bus).
const metaInFlight = 16

type metaResult struct {
	meta launcher.AppMetadata
	err  error
}

// fetchMetadata asks src for every app's metadata, metaInFlight calls at a
// time, each answer at its app's index. Without a daemon, the first
// ErrNoDaemon stops the asking.
func fetchMetadata(ctx context.Context, src Metadata, apps []string, known []launcher.KnownIcon) []metaResult {
	out := make([]metaResult, len(apps))
	if src == nil || len(apps) == 0 {
		return out
	}
	if b, ok := src.(BatchMetadata); ok {
		res, err := b.MetadataBatch(ctx, apps, known)
		// A daemon of the version before MetadataBatch (during an
		// upgrade) is asked app by app below.
		if !launcher.IsUnknownMethod(err) {
			for i := range out {
				if err != nil {
					out[i].err = err
				} else {
					out[i] = metaResult{res[i].Meta, res[i].Err}
				}
			}
			return out
		}
	}
	// The first alone: it activates the daemon, or finds none, and then
	// the rest are not asked at all.
	m, err := src.Metadata(ctx, apps[0])
	out[0] = metaResult{m, err}
	if errors.Is(err, launcher.ErrNoDaemon) {
		for i := range out[1:] {
			out[i+1].err = err
		}
		return out
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(metaInFlight, len(apps)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				m, err := src.Metadata(ctx, apps[i])
				out[i] = metaResult{m, err}
				if errors.Is(err, launcher.ErrNoDaemon) {
					cancel()
				}
			}
		}()
	}
	asked := 1
	for ; asked < len(apps); asked++ {
		select {
		case next <- asked:
			continue
		case <-ctx.Done():
		}
		break
	}
	close(next)
	wg.Wait()
	// The apps not asked: the daemon is gone, or the caller's ctx ended.
	why := ctx.Err()
	if slices.ContainsFunc(out[:asked], func(r metaResult) bool { return errors.Is(r.err, launcher.ErrNoDaemon) }) {
		why = launcher.ErrNoDaemon
	}
	for i := asked; i < len(apps); i++ {
		out[i].err = why
	}
	return out
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
	var out []InstalledIcon
	for _, ic := range manifestIcons(dataHome) {
		if ic.name == IconName(app) {
			out = append(out, ic.InstalledIcon)
		}
	}
	return out
}

type manifestIcon struct {
	InstalledIcon
	name string // the icon name: IconName of its app
	sum  []byte // SHA-256 of what sync wrote
}

// manifestIcons are the icons sync's manifest lists, "SHA256
// hicolor/SIZE/apps/NAME.EXT" as entryFor names them, that are still there
// as regular files.
func manifestIcons(dataHome string) []manifestIcon {
	data, err := os.ReadFile(iconManifest(dataHome))
	if err != nil {
		return nil
	}
	var out []manifestIcon
	for _, line := range strings.Split(string(data), "\n") {
		sum, rel, _ := strings.Cut(line, " ")
		parts := strings.Split(rel, "/")
		if len(parts) != 4 || parts[0] != "hicolor" || !iconSizeRE.MatchString(parts[1]) || parts[2] != "apps" {
			continue
		}
		name, ext, ok := cutLast(parts[3], ".")
		digest, err := hex.DecodeString(sum)
		if !ok || !iconExts[ext] || err != nil || len(digest) != 32 {
			continue
		}
		path := filepath.Join(dataHome, "icons", rel)
		if fi, err := os.Lstat(path); err == nil && fi.Mode().IsRegular() {
			out = append(out, manifestIcon{InstalledIcon{Path: path, SizeDir: parts[1], Ext: ext}, name, digest})
		}
	}
	return out
}

// cutLast is strings.Cut at the last sep.
func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
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
