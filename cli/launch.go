package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/appexec"
	"github.com/nspawn-tray/nspawn-tray/launcher"
	"github.com/nspawn-tray/nspawn-tray/stage"
)

// systemBus is a private system bus connection: a library elsewhere in the
// process may own the shared one.
func systemBus() (*dbus.Conn, error) {
	conn, err := dbus.ConnectSystemBus()
	if err != nil {
		return nil, fmt.Errorf("connect to the system bus: %w", err)
	}
	return conn, nil
}

// clientError turns a launcher error into the one line a user reads.
func (e *env) clientError(what string, err error) int {
	msg := err.Error()
	switch {
	case errors.Is(err, launcher.ErrNoDaemon):
		msg = "the nspawn-tray daemon is not installed (no " + launcher.BusName + " on the system bus)"
	case errors.Is(err, launcher.ErrNotAuthorized):
		msg = fmt.Sprintf("not authorized to %s: ask an administrator to add you to the nspawn-tray group (usermod -aG nspawn-tray %s), then log in again", what, currentUser())
	case errors.Is(err, launcher.ErrUnknownApp):
		msg += " (see 'nspawn-tray apps')"
	}
	fmt.Fprintf(e.stderr, "%s: %s\n", progName, oneLine(msg))
	return exitFail
}

func currentUser() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "USER"
}

func launchFlags(fs *flag.FlagSet) func(*env, []string) int {
	wait := fs.Bool("wait", false, "stream the app's output here and exit with its status")
	return func(e *env, args []string) int {
		if len(args) == 0 {
			return e.usageError("launch", "missing APP")
		}
		app, extra := args[0], args[1:]
		if len(extra) > 0 {
			if extra[0] != "--" {
				return e.usageError("launch", fmt.Sprintf("unexpected argument %q (arguments for the app go after --)", extra[0]))
			}
			extra = extra[1:]
		}
		host, _ := os.Hostname()
		session, err := launcher.SessionFromEnv(os.Getenv, host)
		if err != nil {
			fmt.Fprintf(e.stderr, "%s: %s\n", progName, oneLine(err.Error()))
			return exitFail
		}
		session.Args = extra
		if *wait {
			session.Wait = true
			out, okOut := e.stdout.(*os.File)
			errf, okErr := e.stderr.(*os.File)
			if !okOut || !okErr {
				fmt.Fprintf(e.stderr, "%s: --wait needs real standard output and error\n", progName)
				return exitFail
			}
			o, r := dbus.UnixFD(out.Fd()), dbus.UnixFD(errf.Fd())
			session.Stdout, session.Stderr = &o, &r
		}
		conn, err := systemBus()
		if err != nil {
			return e.clientError("launch "+app, err)
		}
		defer conn.Close()
		machine, status, err := launcher.NewClient(conn).Launch(context.Background(), app, session)
		if err != nil {
			return e.clientError("launch "+app, err)
		}
		if !*wait {
			fmt.Fprintln(e.stdout, machine)
			return exitOK
		}
		return int(status)
	}
}

type instanceJSON struct {
	Machine string    `json:"machine"`
	App     string    `json:"app"`
	UID     uint32    `json:"uid"`
	Since   time.Time `json:"since"`
	Unit    string    `json:"unit"`
}

func psFlags(fs *flag.FlagSet) func(*env, []string) int {
	asJSON := fs.Bool("json", false, "print a JSON array instead of a table")
	return func(e *env, args []string) int {
		if !e.noArgs("ps", args) {
			return exitUsage
		}
		conn, err := systemBus()
		if err != nil {
			return e.clientError("list instances", err)
		}
		defer conn.Close()
		list, err := launcher.NewClient(conn).List(context.Background())
		if err != nil {
			return e.clientError("list instances", err)
		}
		out := make([]instanceJSON, 0, len(list))
		for _, i := range list {
			out = append(out, instanceJSON{i.Machine, i.App, i.UID, time.UnixMicro(int64(i.Since)).UTC(), i.Unit})
		}
		if *asJSON {
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			_ = enc.Encode(out)
			return exitOK
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "MACHINE\tAPP\tUID\tSINCE")
		for _, i := range out {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", i.Machine, i.App, i.UID, i.Since.Local().Format(time.DateTime))
		}
		_ = tw.Flush()
		return exitOK
	}
}

func stopFlags(fs *flag.FlagSet) func(*env, []string) int {
	app := fs.String("app", "", "stop every instance of `APP` that you started")
	return func(e *env, args []string) int {
		if (*app == "") == (len(args) != 1) || len(args) > 1 {
			return e.usageError("stop", "want exactly one MACHINE (see 'nspawn-tray ps'), or --app APP")
		}
		what := "stop " + *app
		if len(args) == 1 {
			what = "stop " + args[0]
		}
		conn, err := systemBus()
		if err != nil {
			return e.clientError(what, err)
		}
		defer conn.Close()
		client := launcher.NewClient(conn)
		machines := args
		if *app != "" {
			list, err := client.List(context.Background())
			if err != nil {
				return e.clientError(what, err)
			}
			for _, i := range list {
				if i.App == *app && i.UID == uint32(os.Getuid()) {
					machines = append(machines, i.Machine)
				}
			}
		}
		for _, m := range machines {
			if err := client.Stop(context.Background(), m); err != nil {
				return e.clientError("stop "+m, err)
			}
		}
		return exitOK
	}
}

func daemonFlags(fs *flag.FlagSet) func(*env, []string) int {
	idle := fs.Duration("idle-timeout", 30*time.Second, "exit after `DURATION` without calls (it is started again on demand)")
	return func(e *env, args []string) int {
		if !e.noArgs("daemon", args) {
			return exitUsage
		}
		if os.Geteuid() != 0 {
			fmt.Fprintf(e.stderr, "%s: the daemon runs as root (it is started by D-Bus activation)\n", progName)
			return exitFail
		}
		self, err := os.Executable()
		if err != nil {
			fmt.Fprintf(e.stderr, "%s: %v\n", progName, err)
			return exitFail
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		conn, err := systemBus()
		if err != nil {
			fmt.Fprintf(e.stderr, "%s: %v\n", progName, err)
			return exitFail
		}
		defer conn.Close()
		svc, err := launcher.NewService(ctx, conn, launcher.DefaultPaths(self))
		if err == nil {
			err = svc.Export()
		}
		if err != nil {
			fmt.Fprintf(e.stderr, "%s: %v\n", progName, err)
			return exitFail
		}
		slog.Info("daemon ready", "name", launcher.BusName, "idle-timeout", *idle)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				slog.Info("daemon stopping", "reason", "signal")
				return exitOK
			case <-tick.C:
				if svc.Idle(*idle) {
					slog.Info("daemon stopping", "reason", "idle")
					// A call may have slipped in just before the name went.
					if err := svc.Release(); err != nil {
						slog.Warn("daemon stopping", "err", err)
					}
					return exitOK
				}
			}
		}
	}
}

func execAsFlags(fs *flag.FlagSet) func(*env, []string) int {
	return func(e *env, args []string) int {
		spec, err := appexec.Parse(args)
		if err != nil {
			return e.usageError("exec-as", err.Error())
		}
		// nspawn's readiness socket is for nspawn's payload protocol, not
		// for the app: it could otherwise talk to nspawn.
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "NOTIFY_SOCKET=") {
				spec.Env = append(spec.Env, kv)
			}
		}
		err = appexec.Exec(spec)
		fmt.Fprintf(e.stderr, "%s: %s\n", progName, oneLine(err.Error()))
		return 127
	}
}

func cleanupFlags(fs *flag.FlagSet) func(*env, []string) int {
	return func(e *env, args []string) int {
		if len(args) != 1 {
			return e.usageError("cleanup-instance", "want exactly one MACHINE")
		}
		conn, err := systemBus()
		if err == nil {
			defer conn.Close()
			err = launcher.Cleanup(context.Background(), conn, stage.Root, args[0])
		}
		if err != nil {
			fmt.Fprintf(e.stderr, "%s: %s\n", progName, oneLine(err.Error()))
			return exitFail
		}
		return exitOK
	}
}
