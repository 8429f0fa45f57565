package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"

	"github.com/nspawn-tray/nspawn-tray/config"
	"github.com/nspawn-tray/nspawn-tray/launcher"
	"github.com/nspawn-tray/nspawn-tray/paths"
)

// appJSON is the stable --json shape, kept apart from config.App so the
// file format and the output format can change independently.
type appJSON struct {
	ID    string   `json:"id"`
	Name  string   `json:"name"`
	Image string   `json:"image"`
	Exec  []string `json:"exec"`
	File  string   `json:"file"`
	X11   string   `json:"x11"`
}

func appsFlags(fs *flag.FlagSet) Run {
	dir := fs.String("dir", paths.AppsDir, "read app definitions from `DIR`")
	asJSON := fs.Bool("json", false, "print a JSON array instead of a table")
	return func(e *Env, args []string) error {
		if err := NoArgs(args); err != nil {
			return err
		}
		// Checked as the daemon checks them, so what is listed launches.
		// The valid ones are listed even when others are not; each one
		// that cannot launch is the command's error, one line each.
		apps, loadErr := config.LoadDir(*dir, config.Options{RequireRootOwned: true, Owner: appsOwner})
		invalid, dirErr := config.InvalidApps(loadErr)
		problems := []error{dirErr}
		for _, a := range invalid {
			problems = append(problems, errors.New(a.Message))
		}
		if *dir == paths.AppsDir {
			problems = append(problems, imageProblems(apps)...)
		}
		var err error
		if *asJSON {
			err = writeAppsJSON(e.Stdout, apps)
		} else {
			err = writeAppsTable(e.Stdout, apps, *dir)
		}
		return errors.Join(append([]error{err}, problems...)...)
	}
}

// imageProblems asks the daemon which of apps' images are missing: only
// root can look into /var/lib/machines. Without a daemon there is nothing
// to add (launch says so itself).
func imageProblems(apps []config.App) []error {
	var st []launcher.AppStatus
	if withClient(func(c *launcher.Client) (err error) {
		st, err = c.Apps(context.Background())
		return err
	}) != nil {
		return nil
	}
	valid := map[string]bool{}
	for _, a := range apps {
		valid[a.ID] = true
	}
	var out []error
	for _, a := range st {
		if valid[a.ID] && a.Problem != "" {
			out = append(out, errors.New(a.Problem))
		}
	}
	return out
}

func writeAppsJSON(w io.Writer, apps []config.App) error {
	out := make([]appJSON, 0, len(apps))
	for _, a := range apps {
		out = append(out, appJSON{ID: a.ID, Name: a.Name, Image: a.Image, Exec: a.Exec, File: a.File, X11: a.X11})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func writeAppsTable(w io.Writer, apps []config.App, dir string) error {
	if len(apps) == 0 {
		_, err := fmt.Fprintf(w, "No apps in %s.\n", dir)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tIMAGE\tX11\tEXEC")
	shared := false
	for _, a := range apps {
		args := make([]string, len(a.Exec))
		for i, arg := range a.Exec {
			args[i] = ShellQuote(arg)
		}
		x11 := a.X11
		if a.X11 == config.X11Host {
			x11, shared = "host*", true
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.ID, a.Name, a.Image, x11, strings.Join(args, " "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if shared {
		_, err := fmt.Fprintln(w, "* shares your X server: it can read your other windows and type into them (x11 = \"none\" turns it off)")
		return err
	}
	return nil
}

// ShellQuote shows an argv element so the list reads like a command line
// and control characters cannot reach the terminal.
func ShellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("-_./:=@%+,", r)))
	}) < 0 {
		return s
	}
	if strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return strconv.Quote(s)
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
