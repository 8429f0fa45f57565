package rootcmd

import (
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"golang.org/x/sys/unix"

	"github.com/nspawn-tray/nspawn-tray/catalog"
	"github.com/nspawn-tray/nspawn-tray/cli"
	"github.com/nspawn-tray/nspawn-tray/config"
	"github.com/nspawn-tray/nspawn-tray/paths"
)

// Where app add finds images and writes definitions; tests point them
// elsewhere.
var (
	machinesDir = paths.Machines
	appsDir     = paths.AppsDir
)

// appCommand: app definitions made from an image's own desktop entries, as
// root (definitions are every user's). The tray offers the same through
// the daemon's AddApp, for an administrator.
func appCommand() cli.Command {
	return cli.Command{Name: "app", Summary: "Make apps of an image's own desktop entries (as root)", Sub: []cli.Command{
		{Name: "add", Summary: "List an image's apps, or write the definitions of the ones named", Args: "IMAGE [DESKTOP-FILE...]", Flags: appAddFlags},
		{Name: "remove", Summary: "Remove an app's definition", Args: "ID", Flags: appRemoveFlags},
	}}
}

func appAddFlags(fs *flag.FlagSet) cli.Run {
	force := fs.Bool("force", false, "replace an existing definition")
	id := fs.String("id", "", "the app `ID` (one DESKTOP-FILE only; default: made from the file name)")
	return func(e *cli.Env, args []string) error {
		if len(args) == 0 {
			return cli.UsageError("missing IMAGE (see 'machinectl list-images')")
		}
		if *id != "" && len(args) != 2 {
			return cli.UsageError("--id names one app: give exactly one DESKTOP-FILE with it")
		}
		if err := mustBeRoot("app add"); err != nil {
			return err
		}
		image, files := args[0], args[1:]
		dir, err := imageTree(image)
		if err != nil {
			return err
		}
		if len(files) == 0 {
			return listOffers(e, image, dir)
		}
		var errs []error
		for _, f := range files {
			if !strings.HasSuffix(f, ".desktop") {
				f += ".desktop"
			}
			o, err := catalog.Find(dir, f)
			if err != nil {
				errs = append(errs, fmt.Errorf("image %q: %w (nspawn-tray app add %s lists its apps)", image, err, image))
				continue
			}
			appID := o.ID
			if *id != "" {
				appID = *id
			}
			path, err := catalog.Add(appsDir, image, appID, o, *force)
			if err != nil {
				errs = append(errs, fmt.Errorf("add %s: %w", appID, err))
				continue
			}
			fmt.Fprintf(e.Stdout, "Added %s (%s): %s\n", appID, o.Name, path)
		}
		if len(errs) < len(files) {
			fmt.Fprintln(e.Stdout, "Menus show it at the next sync: the tray syncs by itself, or run 'nspawn-tray sync'.")
		}
		return errors.Join(errs...)
	}
}

func appRemoveFlags(fs *flag.FlagSet) cli.Run {
	return func(e *cli.Env, args []string) error {
		if len(args) != 1 {
			return cli.UsageError("want exactly one app ID")
		}
		if err := mustBeRoot("app remove"); err != nil {
			return err
		}
		if err := catalog.Remove(appsDir, args[0]); err != nil {
			return fmt.Errorf("remove %s: %w", args[0], err)
		}
		_, err := fmt.Fprintf(e.Stdout, "Removed %s\n", filepath.Join(appsDir, args[0]+".toml"))
		return err
	}
}

func mustBeRoot(what string) error {
	if geteuid() != 0 {
		return fmt.Errorf("%s changes the apps of every user: run it as root (sudo nspawn-tray %s ...), or use Add app in the tray", what, what)
	}
	return nil
}

// imageTree is the directory of image, which must be one (not a symlink).
func imageTree(image string) (string, error) {
	if err := config.ValidImage(image); err != nil {
		return "", err
	}
	dir := filepath.Join(machinesDir, image)
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Errorf("no image %q: no directory %s (machinectl list-images shows the images)", image, dir)
	}
	unix.Close(fd)
	return dir, nil
}

// listOffers shows what app add IMAGE FILE would add, and what is defined
// already.
func listOffers(e *cli.Env, image, dir string) error {
	offers, err := catalog.Offers(dir)
	if err != nil {
		return err
	}
	if len(offers) == 0 {
		_, err := fmt.Fprintf(e.Stdout, "Image %q has no desktop entries to make apps of (%s/usr/share/applications).\n", image, dir)
		return err
	}
	apps, _ := config.LoadDir(appsDir, config.Options{RequireRootOwned: true})
	tw := tabwriter.NewWriter(e.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DESKTOP-FILE\tID\tNAME\tEXEC\tDEFINED")
	for _, o := range offers {
		args := make([]string, len(o.Exec))
		for i, a := range o.Exec {
			args[i] = cli.ShellQuote(a)
		}
		def := "-"
		if id := catalog.DefinedAs(o, image, apps); id != "" {
			def = "as " + id
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", strings.TrimSuffix(o.DesktopFile, ".desktop"), o.ID, o.Name, strings.Join(args, " "), def)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.Stdout, "Add with: nspawn-tray app add %s DESKTOP-FILE...\n", image)
	return err
}
