package cli

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/adrg/xdg"

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
			AutostartDir: filepath.Join(xdg.ConfigHome, "autostart"),
			Self:         self,
			Log:          slog.Default(),
			Sync: func(ctx context.Context) error {
				res, err := syncMenu(ctx, appsDir)
				for _, w := range res.Warnings {
					slog.Warn("sync: " + w)
				}
				return err
			},
		})
	}
}
