package cli

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/adrg/xdg"

	"github.com/nspawn-tray/nspawn-tray/menusync"
	"github.com/nspawn-tray/nspawn-tray/tray"
)

func trayFlags(fs *flag.FlagSet) Run {
	return func(e *Env, args []string) error {
		if err := NoArgs(args); err != nil {
			return err
		}
		self, err := os.Executable()
		if err != nil {
			return err
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		return tray.Run(ctx, tray.Options{
			AppsDir:      appsDir,
			AppsOwner:    appsOwner,
			AutostartDir: filepath.Join(xdg.ConfigHome, "autostart"),
			Self:         self,
			Log:          slog.Default(),
			DataHome:     xdg.DataHome,
			Sync: func(ctx context.Context) (string, error) {
				res, err := syncMenu(ctx, appsDir)
				for _, w := range res.Warnings {
					slog.Warn("sync: " + w)
				}
				if err != nil {
					return "", err
				}
				return syncSummary(res), nil
			},
		})
	}
}

// syncSummary is what a sync did in a few words, for the tray's
// notification: "3 apps, 1 entry written, 2 icons removed".
func syncSummary(res menusync.Result) string {
	parts := []string{plural(res.Apps, "app", "apps")}
	for _, c := range []struct {
		n         int
		one, many string
	}{
		{len(res.Entries.Written), "entry written", "entries written"},
		{len(res.Entries.Removed), "entry removed", "entries removed"},
		{len(res.Icons.Written), "icon written", "icons written"},
		{len(res.Icons.Removed), "icon removed", "icons removed"},
	} {
		if c.n > 0 {
			parts = append(parts, plural(c.n, c.one, c.many))
		}
	}
	if len(parts) == 1 {
		parts = append(parts, "all up to date")
	}
	if n := len(res.Entries.Skipped) + len(res.Icons.Skipped); n > 0 {
		parts = append(parts, plural(n, "file", "files")+" left alone (not nspawn-tray's)")
	}
	if n := len(res.Warnings); n > 0 {
		parts = append(parts, plural(n, "warning", "warnings")+" in the log")
	}
	return strings.Join(parts, ", ")
}

// plural is "1 app", "2 apps".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
