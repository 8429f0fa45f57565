// Package cli implements the nspawn-tray command line: global flags,
// subcommands, their help texts and exit codes.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
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
// built as and where the log level goes.
type Program struct {
	Version string
	// LogLevel, if set, receives the level from --log-level, so the
	// logger main configured follows the flag.
	LogLevel *slog.LevelVar
}

type command struct {
	name    string
	summary string
	args    string // synopsis after the flags, e.g. "APP"
	flags   func(fs *flag.FlagSet) func(e *env, args []string) int
	// hidden commands are internal steps: they have --help but are not
	// listed in the overall usage.
	hidden bool
	// rawArgs commands parse their own arguments (exec-as: everything after
	// its own options belongs to the app).
	rawArgs bool
}

// commands is in the order help lists them.
var commands []command

func init() {
	// Assigned here because help refers back to the list.
	commands = []command{
		{name: "tray", summary: "Show the tray applet (the default command)", flags: trayFlags},
		{name: "apps", summary: "List the app definitions", flags: appsFlags},
		{name: "launch", summary: "Start an app in its container", args: "APP [-- ARGS...]", flags: launchFlags},
		{name: "ps", summary: "List the running app instances", flags: psFlags},
		{name: "stop", summary: "Stop a running app instance, or all of yours of one app", args: "MACHINE | --app APP", flags: stopFlags},
		{name: "sync", summary: "Write desktop entries and icons for the defined apps", flags: syncFlags},
		{name: "autostart", summary: "Start the tray, or an app, when you log in", args: "enable|disable [APP]", flags: autostartFlags},
		{name: "daemon", summary: "Run the privileged launcher service (started by D-Bus)", flags: daemonFlags},
		{name: "exec-as", summary: "Become the user and run the app (inside the container)", args: "--uid N --gid N --home DIR -- ARGV...", flags: execAsFlags, hidden: true, rawArgs: true},
		{name: "cleanup-instance", summary: "Remove what a launch staged (run by the instance's unit)", args: "MACHINE", flags: cleanupFlags, hidden: true},
		{name: "version", summary: "Print the version", flags: versionFlags},
		{name: "help", summary: "Show help for nspawn-tray or a command", args: "[COMMAND]", flags: helpFlags},
	}
}

func lookup(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

// env is what a running command writes to.
type env struct {
	p      Program
	stdout io.Writer
	stderr io.Writer
}

// Run runs the command line args (without the program name) and returns the
// exit status: 0 on success, 1 if the command failed, 2 on a usage error.
func (p Program) Run(args []string, stdout, stderr io.Writer) int {
	e := &env{p: p, stdout: stdout, stderr: stderr}
	fs, logLevel := globalFlags()
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			e.usage(stdout, fs)
			return exitOK
		}
		return e.usageError("", flagError(err))
	}
	if *logLevel != "" {
		var l slog.Level
		if err := l.UnmarshalText([]byte(*logLevel)); err != nil {
			return e.usageError("", fmt.Sprintf("invalid log level %q", *logLevel))
		}
		if p.LogLevel != nil {
			p.LogLevel.Set(l)
		}
	}
	if fs.NArg() == 0 {
		// What the autostart entry and a bare `nspawn-tray` run.
		return e.runCommand("tray", nil)
	}
	return e.runCommand(fs.Arg(0), fs.Args()[1:])
}

func (e *env) runCommand(name string, args []string) int {
	cmd := lookup(name)
	if cmd == nil {
		return e.usageError("", fmt.Sprintf("unknown command %q", name))
	}
	fs := newFlagSet(progName + " " + cmd.name)
	run := cmd.flags(fs)
	if cmd.rawArgs && !(len(args) == 1 && (args[0] == "--help" || args[0] == "-h")) {
		return run(e, args)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			e.commandUsage(e.stdout, cmd, fs)
			return exitOK
		}
		return e.usageError(cmd.name, flagError(err))
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

// usageError reports a bad command line in one line, as scripts and users
// both read stderr, and points at the help.
func (e *env) usageError(cmd, msg string) int {
	prefix, help := progName, progName+" --help"
	if cmd != "" {
		prefix += " " + cmd
		help = progName + " " + cmd + " --help"
	}
	fmt.Fprintf(e.stderr, "%s: %s (see '%s')\n", prefix, oneLine(msg), help)
	return exitUsage
}

// noArgs is for commands without positional arguments.
func (e *env) noArgs(cmd string, args []string) bool {
	if len(args) > 0 {
		e.usageError(cmd, fmt.Sprintf("unexpected argument %q", args[0]))
		return false
	}
	return true
}

func (e *env) usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: %s [OPTIONS] COMMAND [ARGS]\n\n", progName)
	fmt.Fprintf(w, "Run apps that live in systemd-nspawn containers like native desktop apps.\n\n")
	fmt.Fprintf(w, "Commands:\n")
	for _, c := range commands {
		if c.hidden {
			continue
		}
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nOptions (before the command):\n")
	printFlags(w, fs)
	fmt.Fprintf(w, "\nRun '%s COMMAND --help' for a command's options.\n", progName)
}

func (e *env) commandUsage(w io.Writer, cmd *command, fs *flag.FlagSet) {
	synopsis := progName + " " + cmd.name
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		synopsis += " [OPTIONS]"
	}
	if cmd.args != "" {
		synopsis += " " + cmd.args
	}
	fmt.Fprintf(w, "Usage: %s\n\n%s.\n", synopsis, cmd.summary)
	if hasFlags {
		fmt.Fprintf(w, "\nOptions:\n")
		printFlags(w, fs)
	}
}

// printFlags lists flags GNU-style; the flag package's own PrintDefaults
// uses single dashes and a layout unlike the rest of the help.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		arg, usage := flag.UnquoteUsage(f)
		name := "--" + f.Name
		if arg != "" {
			name += " " + arg
		}
		if f.DefValue != "" && f.DefValue != "false" {
			usage += " (default " + f.DefValue + ")"
		}
		fmt.Fprintf(w, "  %-20s %s\n", name, usage)
	})
	fmt.Fprintf(w, "  %-20s %s\n", "-h, --help", "show this help")
}

func oneLine(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r", `\r`), "\n", `\n`)
}

func versionFlags(fs *flag.FlagSet) func(*env, []string) int {
	return func(e *env, args []string) int {
		if !e.noArgs("version", args) {
			return exitUsage
		}
		fmt.Fprintf(e.stdout, "%s %s\n", progName, e.p.Version)
		return exitOK
	}
}

func helpFlags(fs *flag.FlagSet) func(*env, []string) int {
	return func(e *env, args []string) int {
		switch len(args) {
		case 0:
			fs, _ := globalFlags()
			e.usage(e.stdout, fs)
			return exitOK
		case 1:
			cmd := lookup(args[0])
			if cmd == nil {
				return e.usageError("help", fmt.Sprintf("unknown command %q", args[0]))
			}
			fs := newFlagSet(progName + " " + cmd.name)
			cmd.flags(fs)
			e.commandUsage(e.stdout, cmd, fs)
			return exitOK
		}
		return e.usageError("help", fmt.Sprintf("unexpected argument %q", args[1]))
	}
}
