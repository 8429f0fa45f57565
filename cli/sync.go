package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/adrg/xdg"

	"github.com/nspawn-tray/nspawn-tray/autostart"
	"github.com/nspawn-tray/nspawn-tray/config"
	"github.com/nspawn-tray/nspawn-tray/desktopfiles"
	"github.com/nspawn-tray/nspawn-tray/launcher"
	"github.com/nspawn-tray/nspawn-tray/menusync"
	"github.com/nspawn-tray/nspawn-tray/paths"
)

func syncFlags(fs *flag.FlagSet) Run {
	dir := fs.String("dir", paths.AppsDir, "read app definitions from `DIR`")
	return func(e *Env, args []string) error {
		if err := NoArgs(args); err != nil {
			return err
		}
		res, err := syncMenu(context.Background(), *dir)
		for _, w := range res.Warnings {
			e.Warn(w)
		}
		if err != nil {
			return fmt.Errorf("sync: %w", err)
		}
		fmt.Fprintf(e.Stdout, "%d apps: %d entries written, %d removed; %d icons written, %d removed\n",
			res.Apps, len(res.Entries.Written), len(res.Entries.Removed), len(res.Icons.Written), len(res.Icons.Removed))
		for _, s := range append(res.Entries.Skipped, res.Icons.Skipped...) {
			e.Warn("left " + s + " alone: it is not nspawn-tray's")
		}
		return nil
	}
}

// syncMenu syncs the user's menu with the definitions in appsDir, taking
// the apps' metadata from the daemon when it can be reached.
func syncMenu(ctx context.Context, appsDir string) (menusync.Result, error) {
	self, err := os.Executable()
	if err != nil {
		return menusync.Result{}, err
	}
	o := menusync.Options{AppsDir: appsDir, DataHome: xdg.DataHome, DataDirs: xdg.DataDirs, Launcher: self, Homes: paths.Homes,
		UID: uint32(os.Getuid())}
	if conn, err := systemBus(); err == nil {
		defer conn.Close()
		o.Source = launcher.NewClient(conn)
	}
	return menusync.Sync(ctx, o)
}

// appsDir is where autostart and the tray read the definitions; tests point
// it elsewhere, since neither command has a --dir.
var appsDir = paths.AppsDir

// autostartFlags: entries in $XDG_CONFIG_HOME/autostart, run at login by
// the desktop (XDG Autostart spec): the tray's own, or one per app.
func autostartFlags(fs *flag.FlagSet) Run {
	return func(e *Env, args []string) error {
		if len(args) < 1 || len(args) > 2 || (args[0] != "enable" && args[0] != "disable") {
			return UsageError("want enable or disable, and an optional APP")
		}
		self, err := os.Executable()
		if err != nil {
			return fmt.Errorf("autostart: %w", err)
		}
		file, content := autostart.TrayFile, autostart.TrayEntry(self)
		switch {
		case len(args) == 2 && args[0] == "disable":
			// The definition may be gone already: its entry must still go.
			if config.ValidID(args[1]) != nil {
				return fmt.Errorf("unknown app %q (see 'nspawn-tray apps')", args[1])
			}
			file = autostart.AppFile(args[1])
		case len(args) == 2:
			app, err := config.LoadApp(appsDir, args[1], config.Options{})
			if err != nil {
				return fmt.Errorf("unknown app %q (see 'nspawn-tray apps')", args[1])
			}
			file = autostart.AppFile(app.ID)
			content = desktopfiles.Render(desktopfiles.Ours{AppID: app.ID, Launcher: self,
				Entry: desktopfiles.Sanitize(desktopfiles.Entry{Name: app.Name, Icon: "nspawn-tray"})})
		}
		if args[0] == "disable" {
			content = nil
		}
		return autostart.Set(filepath.Join(xdg.ConfigHome, "autostart"), file, content)
	}
}
