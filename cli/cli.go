// Package cli implements the nspawn-tray command line: the command
// framework (flags, help texts, errors and exit codes) and the commands
// users run. The privileged commands come from package rootcmd through
// Program.Extra, so nothing here is root-only code.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
)

const progName = "nspawn-tray"

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1 // the command ran and something was wrong
	exitUsage = 2 // the command line was wrong
)

// Program is the command line with what main decides: the version it was
// built as, where the log level goes, and the commands it adds.
type Program struct {
	Version string
	// LogLevel, if set, receives the level from --log-level, so the
	// logger main configured follows the flag.
	LogLevel *slog.LevelVar
	// Extra commands, listed after the user commands: main adds the
	// privileged ones (package rootcmd).
	Extra []Command
}

// Command is one subcommand.
type Command struct {
	Name    string
	Summary string
	Args    string // synopsis after the flags, e.g. "APP"
	// Flags defines the command's flags on fs and returns what runs it.
	Flags func(fs *flag.FlagSet) Run
	// Hidden commands are internal steps: they have --help but are not
	// listed in the overall usage.
	Hidden bool
	// RawArgs commands parse their own arguments (exec-as: everything
	// after its own options belongs to the app).
	RawArgs bool
	// Sub are its subcommands ("app add", "app remove"): the first
	// argument picks one, which has its own Args and Flags; the command's
	// own are unused.
	Sub []Command
}

// Run runs a command with its positional arguments. Its error decides the
// exit status and what stderr says (see Env.report): a UsageError exits 2,
// an ExitStatus exits with its status, anything else is printed as
// "nspawn-tray: ..." (one line per joined error) and exits 1.
type Run func(e *Env, args []string) error

// Env is what a running command writes to.
type Env struct {
	Stdout, Stderr io.Writer
	p              Program
	cmd            string
}

// Warn prints one warning line, "nspawn-tray CMD: msg", and carries on.
func (e *Env) Warn(msg string) {
	fmt.Fprintf(e.Stderr, "%s %s: %s\n", progName, e.cmd, oneLine(msg))
}

// userCommands are the commands of this package, in the order help lists
// them; version and help come last, after Program.Extra.
func userCommands() []Command {
	return []Command{
		{Name: "tray", Summary: "Show the tray applet (the default command)", Flags: trayFlags},
		{Name: "apps", Summary: "List the app definitions", Flags: appsFlags},
		{Name: "launch", Summary: "Start an app in its container", Args: "APP [-- ARGS...]", Flags: launchFlags},
		{Name: "ps", Summary: "List the running app instances", Flags: psFlags},
		{Name: "stop", Summary: "Stop a running app instance, or all of yours of one app", Args: "MACHINE | --app APP", Flags: stopFlags},
		{Name: "logs", Summary: "Show what an app instance printed (the latest of yours, given an APP)", Args: "MACHINE | APP", Flags: logsFlags},
		{Name: "sync", Summary: "Write desktop entries and icons for the defined apps", Flags: syncFlags},
		{Name: "image", Summary: "Import, download, list and remove the images apps run in", Sub: imageCommands()},
		{Name: "machine", Summary: "Boot, stop and enable at boot the images with an init of their own; how they do", Sub: machineCommands()},
		{Name: "autostart", Summary: "Start the tray, or an app, when you log in", Args: "enable|disable [APP] | list", Flags: autostartFlags},
		{Name: "pulse-filter", Summary: "Filter an app's connection to the sound server", Hidden: true, Flags: pulseFilterFlags},
		{Name: "xdg-open", Summary: "Open a link on the host, through the desktop's portal (inside a container)", Args: "URL", Hidden: true, Flags: xdgOpenFlags},
	}
}

func (p Program) commands() []Command {
	cmds := append(userCommands(), p.Extra...)
	return append(cmds,
		Command{Name: "version", Summary: "Print the version", Flags: versionFlags},
		Command{Name: "help", Summary: "Show help for nspawn-tray or a command", Args: "[COMMAND]", Flags: helpFlags},
		// Build steps and the shells' completion scripts use these: the
		// manual page and the completions come from this same table.
		Command{Name: "man", Summary: "Print the nspawn-tray(1) manual page, in roff", Hidden: true, Flags: manFlags},
		Command{Name: "complete", Summary: "Print the completions of a command line, for the shells' completion scripts", Args: "-- WORD...", Hidden: true, RawArgs: true, Flags: completeFlags},
	)
}

func (p Program) lookup(name string) *Command {
	for _, c := range p.commands() {
		if c.Name == name {
			return &c
		}
	}
	return nil
}

// Run runs the command line args (without the program name) and returns the
// exit status: 0 on success, 1 if the command failed, 2 on a usage error.
func (p Program) Run(args []string, stdout, stderr io.Writer) int {
	e := &Env{Stdout: stdout, Stderr: stderr, p: p}
	return e.report(e.run(args))
}

func (e *Env) run(args []string) error {
	fs, logLevel := globalFlags()
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			e.usage(e.Stdout, fs)
			return nil
		}
		return UsageError(flagError(err))
	}
	if *logLevel != "" {
		var l slog.Level
		if err := l.UnmarshalText([]byte(*logLevel)); err != nil {
			return UsageError(fmt.Sprintf("invalid log level %q", *logLevel))
		}
		if e.p.LogLevel != nil {
			e.p.LogLevel.Set(l)
		}
	}
	if fs.NArg() == 0 {
		// What the autostart entry and a bare `nspawn-tray` run.
		return e.runCommand("tray", nil)
	}
	return e.runCommand(fs.Arg(0), fs.Args()[1:])
}

func (e *Env) runCommand(name string, args []string) error {
	cmd := e.p.lookup(name)
	if cmd == nil {
		return UsageError(fmt.Sprintf("unknown command %q", name))
	}
	e.cmd = cmd.Name
	if len(cmd.Sub) > 0 {
		if len(args) == 1 && (args[0] == "--help" || args[0] == "-h") {
			parentUsage(e.Stdout, cmd)
			return nil
		}
		var sub *Command
		if len(args) > 0 {
			if i := slices.IndexFunc(cmd.Sub, func(c Command) bool { return c.Name == args[0] }); i >= 0 {
				sub = &cmd.Sub[i]
			}
		}
		if sub == nil {
			names := make([]string, len(cmd.Sub))
			for i, c := range cmd.Sub {
				names[i] = c.Name
			}
			return UsageError("want " + strings.Join(names, " or "))
		}
		named := *sub
		named.Name = cmd.Name + " " + sub.Name
		cmd, args = &named, args[1:]
		e.cmd = named.Name
	}
	fs := newFlagSet(progName + " " + cmd.Name)
	run := cmd.Flags(fs)
	if cmd.RawArgs && !(len(args) == 1 && (args[0] == "--help" || args[0] == "-h")) {
		return run(e, args)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			commandUsage(e.Stdout, cmd, fs)
			return nil
		}
		return UsageError(flagError(err))
	}
	return run(e, fs.Args())
}

// globalFlags are the options given before the command.
func globalFlags() (*flag.FlagSet, *string) {
	fs := newFlagSet(progName)
	level := fs.String("log-level", "", "only log messages at `LEVEL` or above: debug, info, warn or error (default $NSPAWN_TRAY_LOG, else info)")
	return fs, level
}

// newFlagSet returns a flag set that reports errors to us instead of
// printing its own multi-line usage.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// flagError rewords the flag package's errors, which name flags with one
// dash, for a command line documented with two.
func flagError(err error) string {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		return fmt.Sprintf("unknown flag %q", "--"+strings.TrimLeft(name, "-"))
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: "); ok {
		return fmt.Sprintf("flag %s needs an argument", "--"+strings.TrimLeft(name, "-"))
	}
	return msg
}

// NoArgs is for commands without positional arguments.
func NoArgs(args []string) error {
	if len(args) > 0 {
		return UsageError(fmt.Sprintf("unexpected argument %q", args[0]))
	}
	return nil
}

func (e *Env) usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: %s [OPTIONS] COMMAND [ARGS]\n\n", progName)
	fmt.Fprintf(w, "Run apps that live in systemd-nspawn containers like native desktop apps.\n\n")
	fmt.Fprintf(w, "Commands:\n")
	for _, c := range e.p.commands() {
		if !c.Hidden {
			fmt.Fprintf(w, "  %-10s %s\n", c.Name, c.Summary)
		}
	}
	fmt.Fprintf(w, "\nOptions (before the command):\n")
	printFlags(w, fs)
	fmt.Fprintf(w, "\nRun '%s COMMAND --help' for a command's options.\n", progName)
}

// parentUsage lists the subcommands of cmd.
func parentUsage(w io.Writer, cmd *Command) {
	fmt.Fprintf(w, "Usage: %s %s COMMAND [ARGS]\n\n%s.\n\nCommands:\n", progName, cmd.Name, cmd.Summary)
	for _, c := range cmd.Sub {
		fmt.Fprintf(w, "  %-8s %s\n", c.Name, c.Summary)
	}
	fmt.Fprintf(w, "\nRun '%s %s COMMAND --help' for a command's options.\n", progName, cmd.Name)
}

func commandUsage(w io.Writer, cmd *Command, fs *flag.FlagSet) {
	synopsis := progName + " " + cmd.Name
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		synopsis += " [OPTIONS]"
	}
	if cmd.Args != "" {
		synopsis += " " + cmd.Args
	}
	fmt.Fprintf(w, "Usage: %s\n\n%s.\n", synopsis, cmd.Summary)
	if hasFlags {
		fmt.Fprintf(w, "\nOptions:\n")
		printFlags(w, fs)
	}
}

// aliasOf starts the usage of a one-letter flag that stands for a long
// one ("-f" for "--follow"): help lists it with the long one.
const aliasOf = "alias of --"

// flagHelp is one option as help and the man page show it: its names
// ("-f, --follow"), the name of its argument ("N", "" for none) and what
// it does, with its default.
type flagHelp struct {
	names, arg, usage string
}

// flagHelps lists the options of fs GNU-style, --help last; the flag
// package's own PrintDefaults uses single dashes and a layout unlike the
// rest of the help.
func flagHelps(fs *flag.FlagSet) []flagHelp {
	short := map[string]string{}
	fs.VisitAll(func(f *flag.Flag) {
		if long, ok := strings.CutPrefix(f.Usage, aliasOf); ok {
			short[long] = f.Name
		}
	})
	var out []flagHelp
	fs.VisitAll(func(f *flag.Flag) {
		if strings.HasPrefix(f.Usage, aliasOf) {
			return
		}
		arg, usage := flag.UnquoteUsage(f)
		name := "--" + f.Name
		if s, ok := short[f.Name]; ok {
			name = "-" + s + ", " + name
		}
		if f.DefValue != "" && f.DefValue != "false" {
			usage += " (default " + f.DefValue + ")"
		}
		out = append(out, flagHelp{name, arg, usage})
	})
	return append(out, flagHelp{"-h, --help", "", "show this help"})
}

func printFlags(w io.Writer, fs *flag.FlagSet) {
	for _, f := range flagHelps(fs) {
		name := f.names
		if f.arg != "" {
			name += " " + f.arg
		}
		fmt.Fprintf(w, "  %-20s %s\n", name, f.usage)
	}
}

func oneLine(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r", `\r`), "\n", `\n`)
}

func versionFlags(fs *flag.FlagSet) Run {
	return func(e *Env, args []string) error {
		if err := NoArgs(args); err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "%s %s\n", progName, e.p.Version)
		return nil
	}
}

func helpFlags(fs *flag.FlagSet) Run {
	return func(e *Env, args []string) error {
		switch len(args) {
		case 0:
			fs, _ := globalFlags()
			e.usage(e.Stdout, fs)
			return nil
		case 1:
			cmd := e.p.lookup(args[0])
			if cmd == nil {
				return UsageError(fmt.Sprintf("unknown command %q", args[0]))
			}
			if len(cmd.Sub) > 0 {
				parentUsage(e.Stdout, cmd)
				return nil
			}
			fs := newFlagSet(progName + " " + cmd.Name)
			cmd.Flags(fs)
			commandUsage(e.Stdout, cmd, fs)
			return nil
		}
		return UsageError(fmt.Sprintf("unexpected argument %q", args[1]))
	}
}
