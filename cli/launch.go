package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/config"
	"github.com/nspawn-tray/nspawn-tray/launcher"
	"github.com/nspawn-tray/nspawn-tray/machinename"
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
	wait := fs.Bool("wait", false, "run in the foreground in a machine of its own: the app gets this terminal's input and output, Ctrl-C stops it, and the exit status is the app's")
	newInstance := fs.Bool("new-instance", false, "start a machine of its own even when the app runs already (by default a second launch starts the program in the running machine)")
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
		session.NewInstance = *newInstance
		if *wait {
			out, okOut := e.Stdout.(*os.File)
			errf, okErr := e.Stderr.(*os.File)
			if !okOut || !okErr {
				return fmt.Errorf("--wait needs real standard output and error")
			}
			i, o, r := dbus.UnixFD(os.Stdin.Fd()), dbus.UnixFD(out.Fd()), dbus.UnixFD(errf.Fd())
			session.Wait, session.Stdin, session.Stdout, session.Stderr = true, &i, &o, &r
		}
		var sigs chan os.Signal
		if *wait {
			// From before the launch: a Ctrl-C while the daemon starts
			// the app must stop it, not kill this process and leave the
			// app running (holding this terminal, whose descriptors it got).
			sigs = make(chan os.Signal, 2)
			signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
			defer signal.Stop(sigs)
		}
		return failed("launch "+app, withClient(func(c *launcher.Client) error {
			machine, _, err := c.Launch(context.Background(), app, session)
			switch {
			case err != nil:
				return didYouMean(err, app)
			case *wait:
				return foreground(e, c, machine, sigs)
			}
			fmt.Fprintln(e.Stdout, machine)
			return nil
		}))
	}
}

// foreground waits for machine like a shell waits for a foreground job:
// Ctrl-C (or the terminal going away, or SIGTERM) stops the app, and the
// status is the app's. A second Ctrl-C stops waiting and says so. sigs
// gets those signals (signal.Notify), since before the launch.
func foreground(e *Env, c *launcher.Client, machine string, sigs <-chan os.Signal) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		status int32
		err    error
	}
	done := make(chan result, 1)
	go func() {
		status, err := c.Wait(ctx, machine)
		done <- result{status, err}
	}()
	var stopping os.Signal
	for {
		select {
		case r := <-done:
			if r.err != nil {
				return r.err
			}
			// Stopped for a signal: the status a shell gives a job the
			// signal ended, whatever nspawn made of the stop.
			if sig, ok := stopping.(syscall.Signal); ok {
				return ExitStatus(128 + int(sig))
			}
			return ExitStatus(r.status)
		case sig := <-sigs:
			if stopping != nil {
				e.Warn(fmt.Sprintf("%s is still stopping; 'nspawn-tray stop %s' if it does not", machine, machine))
				return ExitStatus(130)
			}
			stopping = sig
			e.Warn("stopping " + machine)
			go func() {
				if err := c.Stop(ctx, machine); err != nil && ctx.Err() == nil {
					e.Warn(fmt.Sprintf("could not stop %s: %v", machine, message(err)))
				}
			}()
		}
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
		// The app's name as the menu and the tray show it; the unit is what
		// journalctl -u and systemctl status take.
		names := map[string]string{}
		apps, _ := config.LoadDir(appsDir, config.Options{RequireRootOwned: true, Owner: appsOwner})
		for _, a := range apps {
			names[a.ID] = a.Name
		}
		tw := tabwriter.NewWriter(e.Stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "MACHINE\tAPP\tNAME\tUID\tSINCE\tUNIT")
		for _, i := range list {
			name := names[i.App]
			if name == "" {
				name = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", i.Machine, i.App, name, i.UID, i.Since.Time().Local().Format(time.DateTime), i.Unit)
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
		// "stop spotify" means the app's instances: a machine name always
		// has the -XXXXXXXX suffix.
		if len(args) == 1 && machinename.CheckInstance(args[0]) != nil && config.ValidID(args[0]) == nil {
			return UsageError(fmt.Sprintf("%q is an app, not an instance: 'nspawn-tray stop --app %s' stops yours", args[0], args[0]))
		}
		return withClient(func(c *launcher.Client) error {
			machines := args
			if *app != "" {
				list, err := c.List(context.Background())
				if err != nil {
					return failed("stop "+*app, err)
				}
				for _, i := range list {
					if i.App == *app && i.UID == uint32(os.Getuid()) {
						machines = append(machines, i.Machine)
					}
				}
				if len(machines) == 0 {
					if best := closestApp(*app); best != "" && best != *app {
						e.Warn(fmt.Sprintf("none of your instances is of %q (did you mean %q?)", *app, best))
					} else {
						e.Warn(fmt.Sprintf("none of your instances is of %q: nothing to stop", *app))
					}
					return nil
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
