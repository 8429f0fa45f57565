package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/adrg/xdg"

	"github.com/nspawn-tray/nspawn-tray/config"
	"github.com/nspawn-tray/nspawn-tray/tray"
)

func trayFlags(fs *flag.FlagSet) func(*env, []string) int {
	return func(e *env, args []string) int {
		if !e.noArgs("tray", args) {
			return exitUsage
		}
		self, err := os.Executable()
		if err != nil {
			fmt.Fprintf(e.stderr, "%s: %v\n", progName, err)
			return exitFail
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		err = tray.Run(ctx, tray.Options{
			AppsDir:      config.DefaultDir,
			AutostartDir: filepath.Join(xdg.ConfigHome, "autostart"),
			Self:         self,
			Log:          slog.Default(),
			Sync: func(ctx context.Context) error {
				quiet := &env{p: e.p, stdout: io.Discard, stderr: e.stderr}
				_, err := syncEntries(ctx, config.DefaultDir, xdg.DataHome, quiet)
				return err
			},
		})
		if err != nil {
			fmt.Fprintf(e.stderr, "%s: %s\n", progName, oneLine(err.Error()))
			return exitFail
		}
		return exitOK
	}
}
