package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/launcher"
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

// withClient runs f with a launcher client on a private system bus
// connection.
func withClient(f func(*launcher.Client) error) error {
	conn, err := systemBus()
	if err != nil {
		return err
	}
	defer conn.Close()
	return f(launcher.NewClient(conn))
}

func launchFlags(fs *flag.FlagSet) Run {
	wait := fs.Bool("wait", false, "stream the app's output here and exit with its status")
	return func(e *Env, args []string) error {
		if len(args) == 0 {
			return UsageError("missing APP")
		}
		app, extra := args[0], args[1:]
		if len(extra) > 0 {
			if extra[0] != "--" {
				return UsageError(fmt.Sprintf("unexpected argument %q (arguments for the app go after --)", extra[0]))
			}
			extra = extra[1:]
		}
		host, _ := os.Hostname()
		session, err := launcher.SessionFromEnv(os.Getenv, host)
		if err != nil {
			return err
		}
		session.Args = extra
		if *wait {
			out, okOut := e.Stdout.(*os.File)
			errf, okErr := e.Stderr.(*os.File)
			if !okOut || !okErr {
				return fmt.Errorf("--wait needs real standard output and error")
			}
			o, r := dbus.UnixFD(out.Fd()), dbus.UnixFD(errf.Fd())
			session.Wait, session.Stdout, session.Stderr = true, &o, &r
		}
		return failed("launch "+app, withClient(func(c *launcher.Client) error {
			machine, status, err := c.Launch(context.Background(), app, session)
			switch {
			case err != nil:
				return err
			case *wait:
				return ExitStatus(status)
			}
			fmt.Fprintln(e.Stdout, machine)
			return nil
		}))
	}
}

func psFlags(fs *flag.FlagSet) Run {
	asJSON := fs.Bool("json", false, "print a JSON array instead of a table")
	return func(e *Env, args []string) error {
		if err := NoArgs(args); err != nil {
			return err
		}
		var list []launcher.Instance
		err := withClient(func(c *launcher.Client) (err error) {
			list, err = c.List(context.Background())
			return err
		})
		if err != nil {
			return failed("list instances", err)
		}
		if *asJSON {
			if list == nil {
				list = []launcher.Instance{} // [] rather than null
			}
			enc := json.NewEncoder(e.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(list)
		}
		tw := tabwriter.NewWriter(e.Stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "MACHINE\tAPP\tUID\tSINCE")
		for _, i := range list {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", i.Machine, i.App, i.UID, i.Since.Time().Local().Format(time.DateTime))
		}
		return tw.Flush()
	}
}

func stopFlags(fs *flag.FlagSet) Run {
	app := fs.String("app", "", "stop every instance of `APP` that you started")
	return func(e *Env, args []string) error {
		if (*app == "") == (len(args) != 1) || len(args) > 1 {
			return UsageError("want exactly one MACHINE (see 'nspawn-tray ps'), or --app APP")
		}
		what := "stop " + *app
		if len(args) == 1 {
			what = "stop " + args[0]
		}
		return withClient(func(c *launcher.Client) error {
			machines := args
			if *app != "" {
				list, err := c.List(context.Background())
				if err != nil {
					return failed(what, err)
				}
				for _, i := range list {
					if i.App == *app && i.UID == uint32(os.Getuid()) {
						machines = append(machines, i.Machine)
					}
				}
			}
			for _, m := range machines {
				if err := c.Stop(context.Background(), m); err != nil {
					return failed("stop "+m, err)
				}
			}
			return nil
		})
	}
}
