package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/adrg/xdg"

	"github.com/nspawn-tray/nspawn-tray/autostart"
	"github.com/nspawn-tray/nspawn-tray/config"
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
		fmt.Fprintln(e.Stdout, res.Summary())
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
	o := menusync.Options{AppsDir: appsDir, AppsOwner: appsOwner, DataHome: xdg.DataHome, DataDirs: xdg.DataDirs, Launcher: self, Homes: paths.Homes,
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

// appsOwner is who must own the definitions, as the daemon requires of
// them: root (0); tests that run as a user set their uid.
var appsOwner uint32

// autostartFlags: entries in $XDG_CONFIG_HOME/autostart, run at login by
// the desktop (XDG Autostart spec): the tray's own, or one per app.
func autostartFlags(fs *flag.FlagSet) Run {
	return func(e *Env, args []string) error {
		dir := filepath.Join(xdg.ConfigHome, "autostart")
		switch {
		case len(args) == 1 && args[0] == "list":
			return autostartList(e, dir)
		case len(args) < 1 || len(args) > 2 || (args[0] != "enable" && args[0] != "disable"):
			return UsageError("want enable or disable and an optional APP, or list")
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
			// All of them: the entry is named as the menu names the app,
			// which depends on the others' names.
			apps, invalid, err := menusync.Definitions(appsDir, appsOwner)
			if err != nil {
				return fmt.Errorf("autostart: %w", err)
			}
			if i := slices.IndexFunc(invalid, func(a config.InvalidApp) bool { return a.ID == args[1] }); i >= 0 {
				return errors.New(invalid[i].Message)
			}
			i := slices.IndexFunc(apps, func(a config.App) bool { return a.ID == args[1] })
			if i < 0 {
				return fmt.Errorf("unknown app %q (see 'nspawn-tray apps')", args[1])
			}
			file, content = autostart.AppFile(apps[i].ID), autostart.AppEntry(self, xdg.DataHome, apps, apps[i])
		}
		if args[0] == "disable" {
			content = nil
		}
		return autostart.Set(dir, file, content)
	}
}

// autostartList prints whether the tray and each app start at login, one
// per line: the tray, then every defined app and every app with an entry,
// by id. An entry whose definition is gone or invalid says so, since it
// fails at every login.
func autostartList(e *Env, dir string) error {
	apps, invalid, err := menusync.Definitions(appsDir, appsOwner)
	if err != nil {
		return fmt.Errorf("autostart: %w", err)
	}
	tray, enabled := autostart.List(dir)
	state := map[string]string{}
	for _, a := range apps {
		state[a.ID] = "disabled"
	}
	for _, a := range invalid {
		state[a.ID] = "disabled (invalid definition)"
	}
	for _, id := range enabled {
		switch s, ok := state[id]; {
		case !ok:
			state[id] = "enabled (no definition)"
		case s == "disabled":
			state[id] = "enabled"
		default:
			state[id] = "enabled (invalid definition)"
		}
	}
	fmt.Fprintf(e.Stdout, "tray\t%s\n", enabledWord(tray))
	for _, id := range slices.Sorted(maps.Keys(state)) {
		fmt.Fprintf(e.Stdout, "%s\t%s\n", id, state[id])
	}
	return nil
}

func enabledWord(on bool) string {
	if on {
		return "enabled"
	}
	return "disabled"
}
