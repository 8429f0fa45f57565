// Package rootcmd holds the privileged commands of the one nspawn-tray
// binary: the daemon (run by D-Bus activation), exec-as (the last step
// inside a container, run by nspawn) and cleanup-instance (run by an
// instance's unit). main adds them to the command line; nothing on the
// user side imports this package.
package rootcmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/appexec"
	"github.com/nspawn-tray/nspawn-tray/cli"
	"github.com/nspawn-tray/nspawn-tray/daemon"
	"github.com/nspawn-tray/nspawn-tray/launcher"
)

// Commands are the privileged commands, in the order help lists them.
func Commands() []cli.Command {
	return []cli.Command{
		appCommand(),
		{Name: "daemon", Summary: "Run the privileged launcher service (started by D-Bus)", Flags: daemonFlags},
		{Name: "exec-as", Summary: "Become the user and run the app (inside the container)", Args: "--uid N --gid N --home DIR [--status SOCKET] -- ARGV...", Flags: execAsFlags, Hidden: true, RawArgs: true},
		{Name: "cleanup-instance", Summary: "Remove what a launch staged (run by the instance's unit)", Args: "MACHINE", Flags: cleanupFlags, Hidden: true},
	}
}

// geteuid is os.Geteuid; tests replace it to see the daemon refuse a
// non-root user without dropping the test's own privileges.
var geteuid = os.Geteuid

func daemonFlags(fs *flag.FlagSet) cli.Run {
	idle := fs.Duration("idle-timeout", 30*time.Second, "exit after `DURATION` without calls (it is started again on demand)")
	return func(e *cli.Env, args []string) error {
		if err := cli.NoArgs(args); err != nil {
			return err
		}
		if geteuid() != 0 {
			return errors.New("the daemon runs as root (it is started by D-Bus activation)")
		}
		self, err := os.Executable()
		if err != nil {
			return err
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		svc, err := daemon.New(ctx, dbus.ConnectSystemBus, daemon.DefaultPaths(self))
		if err != nil {
			return err
		}
		defer svc.Close()
		if slog.Default().Enabled(ctx, slog.LevelDebug) {
			svc.Steps = logSteps
		}
		err = svc.Export()
		if err != nil {
			return err
		}
		slog.Info("daemon ready", "name", launcher.BusName, "idle-timeout", *idle)
		err = svc.Serve(ctx, *idle)
		switch {
		case errors.Is(err, daemon.ErrIdle):
			slog.Info("daemon stopping", "reason", "idle")
			return nil
		case err != nil:
			return err
		}
		slog.Info("daemon stopping", "reason", "signal")
		return nil
	}
}

func execAsFlags(fs *flag.FlagSet) cli.Run {
	return func(e *cli.Env, args []string) error {
		spec, err := appexec.Parse(args)
		if err != nil {
			return cli.UsageError(err.Error())
		}
		var status *net.UnixConn
		if spec.Status != "" {
			if status, err = appexec.Report(spec.Status); err != nil {
				fmt.Fprintf(e.Stderr, "nspawn-tray: %v\n", err)
				return cli.ExitStatus(127)
			}
		}
		// nspawn's readiness socket is for nspawn's payload protocol, not
		// for the app: it could otherwise talk to nspawn.
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "NOTIFY_SOCKET=") {
				spec.Env = append(spec.Env, kv)
			}
		}
		err = appexec.Exec(spec)
		// Exec returns only when the app could not be started: the shell's
		// status for "command not found or not executable".
		msg := strings.ReplaceAll(err.Error(), "\n", `\n`)
		// The daemon tells the caller; a second copy on the app's stderr
		// (the caller's terminal with launch --wait) would say it twice.
		if status != nil {
			status.Write([]byte(msg))
			status.Close()
		} else {
			fmt.Fprintf(e.Stderr, "nspawn-tray: %s\n", msg)
		}
		return cli.ExitStatus(127)
	}
}

func cleanupFlags(fs *flag.FlagSet) cli.Run {
	return func(e *cli.Env, args []string) error {
		if len(args) != 1 {
			return cli.UsageError("want exactly one MACHINE")
		}
		conn, err := dbus.ConnectSystemBus()
		if err != nil {
			return fmt.Errorf("connect to the system bus: %w", err)
		}
		defer conn.Close()
		self, err := os.Executable()
		if err != nil {
			return err
		}
		return daemon.Cleanup(context.Background(), conn, daemon.DefaultPaths(self), args[0], daemon.EndedFromEnv(os.Getenv))
	}
}

// logSteps logs how long each step of a launch took, in milliseconds
// (NSPAWN_TRAY_LOG=debug in the daemon's environment; bench/launch-steps.sh).
func logSteps(app string, steps []daemon.Step) {
	attrs := []any{"app", app}
	var total time.Duration
	for _, st := range steps {
		attrs = append(attrs, st.Name, float64(st.Took.Microseconds())/1000)
		if !strings.Contains(st.Name, ".") { // "session.x11" is part of "session"
			total += st.Took
		}
	}
	slog.Debug("launch steps", append(attrs, "total", float64(total.Microseconds())/1000)...)
}
