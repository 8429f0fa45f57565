package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/adrg/xdg"

	"github.com/nspawn-tray/nspawn-tray/autostart"
	"github.com/nspawn-tray/nspawn-tray/config"
	"github.com/nspawn-tray/nspawn-tray/desktopfiles"
	"github.com/nspawn-tray/nspawn-tray/icons"
	"github.com/nspawn-tray/nspawn-tray/launcher"
)

// homesDir is where the daemon keeps the apps' persistent homes.
const homesDir = "/var/lib/nspawn-tray/homes"

func syncFlags(fs *flag.FlagSet) func(*env, []string) int {
	dir := fs.String("dir", config.DefaultDir, "read app definitions from `DIR`")
	return func(e *env, args []string) int {
		if !e.noArgs("sync", args) {
			return exitUsage
		}
		res, err := syncEntries(context.Background(), *dir, xdg.DataHome, e)
		if err != nil {
			fmt.Fprintf(e.stderr, "%s: sync: %s\n", progName, oneLine(err.Error()))
			return exitFail
		}
		fmt.Fprintf(e.stdout, "%d apps: %d entries written, %d removed; %d icons written, %d removed\n",
			res.apps, len(res.entries.Written), len(res.entries.Removed), len(res.icons.Written), len(res.icons.Removed))
		for _, s := range append(res.entries.Skipped, res.icons.Skipped...) {
			fmt.Fprintf(e.stderr, "%s: sync: left %s alone: it is not nspawn-tray's\n", progName, s)
		}
		return exitOK
	}
}

type syncResult struct {
	apps    int
	entries desktopfiles.Result
	icons   icons.Written
}

// syncEntries makes dataHome/applications and dataHome/icons show exactly
// the defined apps. Metadata and icons come from the daemon, which alone
// can read the images; without it an app still gets an entry from its
// definition.
func syncEntries(ctx context.Context, appsDir, dataHome string, e *env) (syncResult, error) {
	var res syncResult
	apps, loadErr := config.LoadDir(appsDir, config.Options{})
	for _, err := range leafErrors(loadErr) {
		if err != nil {
			fmt.Fprintf(e.stderr, "%s: sync: skipping %s\n", progName, oneLine(err.Error()))
		}
	}
	self, err := os.Executable()
	if err != nil {
		return res, err
	}
	var client *launcher.Client
	if conn, err := systemBus(); err == nil {
		defer conn.Close()
		client = launcher.NewClient(conn)
	}
	entries := map[string][]byte{}
	iconFiles := map[string][]byte{}
	warned := false
	for _, app := range apps {
		var meta launcher.AppMetadata
		if client != nil {
			meta, err = client.Metadata(ctx, app.ID)
			switch {
			case errors.Is(err, launcher.ErrNoDaemon):
				if !warned {
					fmt.Fprintf(e.stderr, "%s: sync: %s; entries use the app definitions only\n", progName, oneLine(err.Error()))
				}
				warned = true
			case err != nil:
				fmt.Fprintf(e.stderr, "%s: sync: %s; its entry uses the definition only\n", progName, oneLine(err.Error()))
			}
		}
		entry := desktopfiles.Override(meta.Entry, definitionEntry(app))
		if entry.Name == "" {
			entry.Name = app.Name
		}
		// Our icon names are ours alone, so they never shadow a host icon;
		// the entry names them, and StartupWMClass/the desktop file id keep
		// the app's identity for window matching.
		entry.Icon = "nspawn-tray"
		for _, i := range meta.Icons {
			name := "nspawn-tray." + app.ID
			iconFiles[filepath.Join("hicolor", i.SizeDir, "apps", name+"."+i.Ext)] = i.Data
			entry.Icon = name
		}
		file := app.ID + ".desktop"
		if meta.DesktopID != "" {
			file = meta.DesktopID + ".desktop"
		}
		if _, taken := entries[file]; taken {
			file = "nspawn-tray-" + app.ID + ".desktop"
		}
		home := ""
		if app.Home {
			home = filepath.Join(homesDir, strconv.Itoa(os.Getuid()), app.ID)
		}
		entries[file] = desktopfiles.Render(desktopfiles.Ours{AppID: app.ID, Entry: desktopfiles.Sanitize(entry), Launcher: self, HomeDir: home})
	}
	res.apps = len(apps)
	appDir := filepath.Join(dataHome, "applications")
	if res.entries, err = desktopfiles.Reconcile(appDir, ".desktop", entries); err != nil {
		return res, err
	}
	iconDir := filepath.Join(dataHome, "icons")
	if res.icons, err = icons.Reconcile(iconDir, filepath.Join(dataHome, "nspawn-tray", "icons.list"), iconFiles); err != nil {
		return res, err
	}
	// Menus and icon lookups read these caches: refresh them only when
	// something changed.
	if res.entries.Changed() {
		runIfPresent("update-desktop-database", "-q", appDir)
	}
	if res.icons.Changed() {
		runIfPresent("gtk-update-icon-cache", "-q", "-t", "-f", filepath.Join(iconDir, "hicolor"))
	}
	return res, nil
}

func runIfPresent(name string, args ...string) {
	if path, err := exec.LookPath(name); err == nil {
		_ = exec.Command(path, args...).Run()
	}
}

func definitionEntry(app config.App) desktopfiles.Entry {
	d := app.Desktop
	return desktopfiles.Entry{Name: d.Name, GenericName: d.GenericName, Comment: d.Comment, Categories: d.Categories,
		Keywords: d.Keywords, MimeType: d.MimeType, StartupWMClass: d.StartupWMClass}
}

// autostartFlags: entries in $XDG_CONFIG_HOME/autostart, run at login by
// the desktop (XDG Autostart spec): the tray's own, or one per app.
func autostartFlags(fs *flag.FlagSet) func(*env, []string) int {
	return func(e *env, args []string) int {
		if len(args) < 1 || len(args) > 2 || (args[0] != "enable" && args[0] != "disable") {
			return e.usageError("autostart", "want enable or disable, and an optional APP")
		}
		self, err := os.Executable()
		if err != nil {
			fmt.Fprintf(e.stderr, "%s: autostart: %v\n", progName, err)
			return exitFail
		}
		dir := filepath.Join(xdg.ConfigHome, "autostart")
		file, content := autostart.TrayFile, autostart.TrayEntry(self)
		if len(args) == 2 {
			app, err := config.LoadApp(config.DefaultDir, args[1], config.Options{})
			if err != nil {
				fmt.Fprintf(e.stderr, "%s: unknown app %q (see 'nspawn-tray apps')\n", progName, args[1])
				return exitFail
			}
			file = autostart.AppFile(app.ID)
			content = desktopfiles.Render(desktopfiles.Ours{AppID: app.ID, Launcher: self,
				Entry: desktopfiles.Sanitize(desktopfiles.Entry{Name: app.Name, Icon: "nspawn-tray"})})
		}
		if args[0] == "disable" {
			content = nil
		}
		if err := autostart.Set(dir, file, content); err != nil {
			fmt.Fprintf(e.stderr, "%s: %s\n", progName, oneLine(err.Error()))
			return exitFail
		}
		return exitOK
	}
}
