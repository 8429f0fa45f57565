package cli

// nspawn-tray machine: images that boot an init of their own (a service
// like NetworkManager in a container), booted, stopped and enabled at boot
// through systemd's own template, systemd-nspawn@NAME.service, as machinectl
// does it. The calls are the user's own to systemd and machined, which ask
// polkit: no daemon of ours, no privilege of our own.

import (
	"context"
	"flag"
	"fmt"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/nspawn-tray/nspawn-tray/machined"
	"github.com/nspawn-tray/nspawn-tray/machines"
	"github.com/nspawn-tray/nspawn-tray/systemd"
)

// machineCommands are machine's subcommands.
func machineCommands() []Command {
	return []Command{
		{Name: "list", Summary: "List the images as machines: state, whether they boot, start at boot, since, memory and CPU", Flags: machineListFlags},
		{Name: "start", Summary: "Boot machine NAME (systemd-nspawn@NAME.service, as machinectl start)", Args: "NAME", Flags: machineStartFlags},
		{Name: "stop", Summary: "Power machine NAME off, and terminate it when it does not stop in time", Args: "NAME", Flags: machineStopFlags},
		{Name: "enable", Summary: "Start machine NAME at boot (as machinectl enable)", Args: "NAME", Flags: machineEnableFlags},
		{Name: "disable", Summary: "Start machine NAME at boot no more (as machinectl disable)", Args: "NAME", Flags: machineDisableFlags},
		{Name: "status", Summary: "Show how machine NAME is doing, with its last log lines", Args: "NAME", Flags: machineStatusFlags},
	}
}

// machineName is the one NAME of a machine subcommand.
func machineName(args []string) (string, error) {
	switch {
	case len(args) == 0:
		return "", UsageError("missing NAME (see 'nspawn-tray machine list')")
	case len(args) > 1:
		return "", UsageError(fmt.Sprintf("unexpected argument %q (want one NAME; options go before it)", args[1]))
	}
	return args[0], nil
}

// withMachines runs f with a machines.Manager on a private system bus
// connection; Ctrl-C cancels the call (and a password prompt with it).
func withMachines(f func(context.Context, *machines.Manager) error) error {
	conn, err := systemBus()
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	sd := systemd.New(conn)
	if err := sd.Subscribe(ctx); err != nil {
		return err
	}
	m := machines.New(sd, machined.New(conn))
	adjustMachines(m)
	return f(ctx, m)
}

// adjustMachines lets tests point the Manager's files elsewhere.
var adjustMachines = func(*machines.Manager) {}

func machineListFlags(fs *flag.FlagSet) Run {
	return func(e *Env, args []string) error {
		if err := NoArgs(args); err != nil {
			return err
		}
		var list []machines.Machine
		err := withMachines(func(ctx context.Context, m *machines.Manager) (err error) {
			list, err = m.List(ctx)
			return err
		})
		if err != nil {
			return failed("list machines", err)
		}
		tw := tabwriter.NewWriter(e.Stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tSTATE\tBOOTS\tAT BOOT\tSINCE\tMEMORY\tCPU")
		for _, mc := range list {
			state := mc.State
			if mc.Result != "" {
				state += " (" + mc.Result + ")"
			}
			since := "-"
			if !mc.Since.IsZero() {
				since = mc.Since.Local().Format(time.DateTime)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", mc.Name, state, mc.Boot, yesNo(mc.Enabled), since,
				machines.MemoryText(mc), machines.CPUTime(mc.CPU))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if len(list) == 0 {
			fmt.Fprintln(e.Stdout, "No images (machinectl list-images; nspawn-tray image import makes one).")
		}
		return nil
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func machineStartFlags(fs *flag.FlagSet) Run {
	return func(e *Env, args []string) error {
		name, err := machineName(args)
		if err != nil {
			return err
		}
		return failed("start "+name, withMachines(func(ctx context.Context, m *machines.Manager) error {
			return m.Start(ctx, name)
		}))
	}
}

func machineStopFlags(fs *flag.FlagSet) Run {
	timeout := fs.Duration("timeout", machines.DefaultStopTimeout, "terminate the machine when it has not powered off after `DURATION`")
	return func(e *Env, args []string) error {
		name, err := machineName(args)
		if err != nil {
			return err
		}
		if *timeout <= 0 {
			return UsageError(fmt.Sprintf("--timeout %v: want a positive duration", *timeout))
		}
		return failed("stop "+name, withMachines(func(ctx context.Context, m *machines.Manager) error {
			m.StopTimeout = *timeout
			terminated, err := m.Stop(ctx, name)
			if terminated {
				e.Warn(fmt.Sprintf("%s did not power off within %v: terminated it", name, *timeout))
			}
			return err
		}))
	}
}

func machineEnableFlags(fs *flag.FlagSet) Run {
	return machineEnabling(true)
}

func machineDisableFlags(fs *flag.FlagSet) Run {
	return machineEnabling(false)
}

// machineEnabling is enable (on) or disable.
func machineEnabling(on bool) Run {
	verb := map[bool]string{true: "enable", false: "disable"}[on]
	return func(e *Env, args []string) error {
		name, err := machineName(args)
		if err != nil {
			return err
		}
		return failed(verb+" "+name, withMachines(func(ctx context.Context, m *machines.Manager) error {
			var res machines.Enabled
			var err error
			if on {
				res, err = m.Enable(ctx, name)
			} else {
				res, err = m.Disable(ctx, name)
			}
			if err != nil {
				return err
			}
			printChanges(e, res.Changes)
			switch {
			case on:
				fmt.Fprintf(e.Stdout, "%s starts at boot (machines.target wants %s).\n", name, machines.Unit(name))
			default:
				fmt.Fprintf(e.Stdout, "%s starts at boot no more; if it runs, it goes on running ('nspawn-tray machine stop %s').\n", name, name)
			}
			if on && res.Settings == "" {
				fmt.Fprint(e.Stdout, machines.NoSettingsNote(name))
			}
			if res.ReloadErr != nil {
				e.Warn(fmt.Sprintf("systemd was not reloaded (%v): it sees the change at the next boot or 'systemctl daemon-reload'", message(res.ReloadErr)))
			}
			return nil
		}))
	}
}

// printChanges prints what systemd did to the unit files, as systemctl
// enable does.
func printChanges(e *Env, changes []systemd.UnitFileChange) {
	for _, c := range changes {
		switch c.Type {
		case "symlink":
			fmt.Fprintf(e.Stdout, "Created symlink %s → %s.\n", c.Filename, c.Destination)
		case "unlink":
			fmt.Fprintf(e.Stdout, "Removed %s.\n", c.Filename)
		}
	}
}

func machineStatusFlags(fs *flag.FlagSet) Run {
	return func(e *Env, args []string) error {
		name, err := machineName(args)
		if err != nil {
			return err
		}
		var st machines.Status
		err = withMachines(func(ctx context.Context, m *machines.Manager) (err error) {
			st, err = m.Status(ctx, name)
			return err
		})
		if err != nil {
			return failed("show "+name, err)
		}
		fmt.Fprintln(e.Stdout, name)
		for _, l := range st.Lines(time.Now()) {
			field, value, _ := strings.Cut(l, ": ")
			fmt.Fprintf(e.Stdout, "%10s: %s\n", field, value)
		}
		fmt.Fprintln(e.Stdout)
		if st.JournalErr != nil {
			fmt.Fprintf(e.Stdout, "Log: %v; as such a member: %s\n", st.JournalErr, machines.LogCommand(name))
			return nil
		}
		for _, l := range st.Journal {
			fmt.Fprintln(e.Stdout, oneLine(l))
		}
		return nil
	}
}
