package cli

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/portal"
)

// xdgOpenFlags: what apps in a container run as xdg-open (the daemon binds
// this binary at /usr/local/bin/xdg-open when the app may use the portal):
// the link goes to the user's desktop through its portal, on the app's
// filtered session bus, so it opens in the host's browser or mail app.
func xdgOpenFlags(fs *flag.FlagSet) Run {
	return func(e *Env, args []string) error {
		if len(args) != 1 {
			return UsageError("want one link (http, https or mailto)")
		}
		if err := portal.CheckURI(args[0]); err != nil {
			return err
		}
		conn, err := dbus.ConnectSessionBus()
		if err != nil {
			return fmt.Errorf("connect to the session bus: %w", err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return portal.New(conn).OpenURI(ctx, args[0])
	}
}
