package cli

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/nspawn-tray/nspawn-tray/paths"
)

// manFlags: "nspawn-tray man" prints nspawn-tray(1) in roff. Its commands,
// synopses and options come from the table --help prints, so the two
// cannot drift apart; the prose no table holds (exit status, environment,
// files) is here. The build installs its output (make install, the
// packages), and a golden copy in testdata shows each change in review.
func manFlags(fs *flag.FlagSet) Run {
	date := fs.String("date", "", "the page's `DATE`, YYYY-MM-DD (default: that of $SOURCE_DATE_EPOCH, else today)")
	return func(e *Env, args []string) error {
		if err := NoArgs(args); err != nil {
			return err
		}
		d, err := manDate(*date, os.Getenv("SOURCE_DATE_EPOCH"), time.Now())
		if err != nil {
			return UsageError(err.Error())
		}
		_, err = io.WriteString(e.Stdout, e.p.manPage(d))
		return err
	}
}

// manDate is the date the page shows: given, else SOURCE_DATE_EPOCH's (a
// reproducible build's), else now's.
func manDate(given, epoch string, now time.Time) (string, error) {
	switch {
	case given != "":
		if _, err := time.Parse(time.DateOnly, given); err != nil {
			return "", fmt.Errorf("--date %q: want YYYY-MM-DD", given)
		}
		return given, nil
	case epoch != "":
		s, err := strconv.ParseInt(epoch, 10, 64)
		if err != nil {
			return "", fmt.Errorf("SOURCE_DATE_EPOCH=%q: want seconds since the epoch", epoch)
		}
		return time.Unix(s, 0).UTC().Format(time.DateOnly), nil
	}
	return now.UTC().Format(time.DateOnly), nil
}

// manPage is nspawn-tray(1) of p, dated date.
func (p Program) manPage(date string) string {
	return renderMan(p.commands(), p.Version, date)
}

// renderMan is nspawn-tray(1) with the commands cmds, in the order --help
// lists them.
func renderMan(cmds []Command, version, date string) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	if version == "" {
		version = "dev"
	}
	w(".\\\" Made by \"nspawn-tray man\" from the command table that --help prints: edit that, not this.\n")
	w(".TH NSPAWN\\-TRAY 1 %s %s \"User Commands\"\n", roffQuote(date), roffQuote(progName+" "+version))
	// Left-aligned and unhyphenated: option names and paths stay whole.
	w(".ad l\n.nh\n")
	w(".SH NAME\n%s \\- run desktop apps that live in systemd\\-nspawn containers\n", roff(progName))
	w(".SH SYNOPSIS\n\\fB%s\\fR [\\fIOPTIONS\\fR] [\\fICOMMAND\\fR [\\fIARGS\\fR]]\n", roff(progName))
	w(".SH DESCRIPTION\n")
	for _, para := range manDescription {
		w("%s\n.PP\n", roff(para))
	}
	w("With no \\fICOMMAND\\fR, %s runs \\fBtray\\fR: what its desktop entry and its autostart entry do.\n", roff(progName))

	w(".SH OPTIONS\nThese come before the command.\n")
	gfs, _ := globalFlags()
	manFlagList(&b, gfs)

	var listed, hidden []Command
	for _, c := range cmds {
		if c.Hidden {
			hidden = append(hidden, c)
		} else {
			listed = append(listed, c)
		}
	}
	w(".SH COMMANDS\nEach command has \\fB\\-\\-help\\fR, and \\fB%s help\\fR \\fICOMMAND\\fR says the same.\n", roff(progName))
	for _, c := range listed {
		manCommand(&b, c)
	}
	w(".SH \"INTERNAL COMMANDS\"\nsystemd, systemd\\-nspawn, the build and the shells' completion scripts run these; people do not.\n")
	for _, c := range hidden {
		manCommand(&b, c)
	}

	w(".SH \"EXIT STATUS\"\n")
	w(".TP\n.B %d\nSuccess.\n", exitOK)
	w(".TP\n.B %d\n%s\n", exitFail, roff("The command failed. Standard error says why, one line per problem, each starting with \"nspawn-tray:\". apps also exits 1 when a definition is invalid or its image is missing, after listing the valid ones."))
	w(".TP\n.B %d\n%s\n", exitUsage, roff("The command line is wrong: an unknown command or option, a missing or unexpected argument. The one line on standard error names it and the --help to read."))
	w(".PP\n%s\n", roff("launch --wait exits with the app's own status, and with 128+N when signal N ended the app (130 after Ctrl-C). exec-as exits 127 when the app's program cannot be run."))

	w(".SH ENVIRONMENT\n")
	for _, v := range manEnvironment {
		w(".TP\n.B %s\n%s\n", roff(v[0]), roff(v[1]))
	}
	w(".SH FILES\n")
	for _, f := range manFiles {
		w(".TP\n.I %s\n%s\n", roff(f[0]), roff(f[1]))
	}
	w(".SH \"SEE ALSO\"\n")
	w(".BR nspawn\\-tray.apps.d (5),\n.BR systemd\\-nspawn (1),\n.BR machinectl (1),\n.BR polkit (8),\n.BR pkttyagent (1)\n")
	return b.String()
}

// manCommand is one command's entry: its synopsis, what it does, its
// options, then its subcommands' entries.
func manCommand(b *strings.Builder, c Command) {
	manCommandAs(b, c.Name, c)
	for _, s := range c.Sub {
		manCommandAs(b, c.Name+" "+s.Name, s)
	}
}

func manCommandAs(b *strings.Builder, name string, c Command) {
	if len(c.Sub) > 0 {
		fmt.Fprintf(b, ".TP\n\\fB%s\\fR \\fICOMMAND\\fR\n%s.\n", roff(name), roff(c.Summary))
		return
	}
	fs := newFlagSet(progName + " " + name)
	c.Flags(fs)
	synopsis := "\\fB" + roff(name) + "\\fR"
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		synopsis += " [\\fIOPTIONS\\fR]"
	}
	if c.Args != "" {
		synopsis += " " + placeholders(c.Args)
	}
	fmt.Fprintf(b, ".TP\n%s\n%s.\n", synopsis, roff(c.Summary))
	if hasFlags {
		b.WriteString(".RS\n")
		manFlagList(b, fs)
		b.WriteString(".RE\n")
	}
}

// manFlagList lists the options as flagHelps has them (as --help shows
// them), but --help, which every command has.
func manFlagList(b *strings.Builder, fs *flag.FlagSet) {
	for _, f := range flagHelps(fs) {
		if f.names == "-h, --help" {
			continue
		}
		tag := "\\fB" + roff(f.names) + "\\fR"
		if f.arg != "" {
			tag += " \\fI" + roff(f.arg) + "\\fR"
		}
		fmt.Fprintf(b, ".TP\n%s\n%s\n", tag, roff(f.usage))
	}
}

// placeholderRE matches the placeholders of a synopsis: APP, DESKTOP-FILE,
// ARGS.
var placeholderRE = regexp.MustCompile(`\b[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*\b`)

// placeholders is a synopsis with its placeholders in italics.
func placeholders(s string) string {
	var b strings.Builder
	last := 0
	for _, m := range placeholderRE.FindAllStringIndex(s, -1) {
		b.WriteString(roffEscape(s[last:m[0]]))
		b.WriteString("\\fI" + roffEscape(s[m[0]:m[1]]) + "\\fR")
		last = m[1]
	}
	b.WriteString(roffEscape(s[last:]))
	return lineStart(b.String())
}

// roff escapes text that may start a roff line (see roffEscape).
func roff(s string) string { return lineStart(roffEscape(s)) }

// roffEscape escapes text for roff: backslashes, and every hyphen as a
// minus sign, so that options and names copied from the page work.
func roffEscape(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	return strings.ReplaceAll(s, "-", `\-`)
}

// lineStart keeps a line from starting with a control character.
func lineStart(s string) string {
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		return `\&` + s
	}
	return s
}

// roffQuote is s as one quoted macro argument.
func roffQuote(s string) string {
	return `"` + strings.ReplaceAll(roff(s), `"`, `\(dq`) + `"`
}

var manDescription = []string{
	"nspawn-tray runs apps that live in systemd-nspawn containers (images under " + paths.Machines + ") like native desktop apps: " +
		"a tray applet lists them and the running machines, each app gets a desktop entry with its own name and icon, " +
		"and a launcher authorized by polkit starts an app in its container with the user's X11 display, sound and session bus, as the user's own UID.",
	"The commands users type run as the user and reach the root side through one D-Bus service, io.github.nspawn_tray.Launcher1 " +
		"(nspawn-tray daemon, started by D-Bus activation). Members of the group nspawn-tray may launch apps, and stop their own, " +
		"without a password; everyone else needs an administrator's, which polkit asks for through the desktop's authentication agent " +
		"(or pkttyagent on a terminal).",
	"The apps are defined by the administrator, one file per app: see nspawn-tray.apps.d(5).",
}

var manEnvironment = [][2]string{
	{"NSPAWN_TRAY_LOG", "The log level, as --log-level takes it; the option wins."},
	{"DISPLAY, XAUTHORITY", "The X display launch gives an app with x11 = \"host\", and the cookie it is tried with, as the user, before the app starts."},
	{"WAYLAND_DISPLAY", "The Wayland socket an app gets too, when the session has one."},
	{"DBUS_SESSION_BUS_ADDRESS", "The session bus an app reaches through xdg-dbus-proxy, for the names its definition lists."},
	{"XDG_DATA_HOME, XDG_CONFIG_HOME", "Where sync writes the desktop entries and icons, and autostart the login entries."},
}

var manFiles = [][2]string{
	{paths.AppsDir + "/", "The app definitions, one ID.toml per app, root-owned: see nspawn-tray.apps.d(5)."},
	{paths.Settings, "The daemon's limits on every instance (optional): see nspawn-tray.apps.d(5)."},
	{paths.Homes + "/UID/APP/", "The apps' persistent homes, owned by their users."},
	{filepath.Dir(paths.Instances) + "/", "The running instances' staging directories, and how the ended ones ended, for an hour."},
	{"$XDG_DATA_HOME/applications/", "The desktop entries sync writes, one per app, marked X-NspawnTray-App."},
	{"$XDG_DATA_HOME/icons/hicolor/SIZE/apps/nspawn-tray.APP.*", "The apps' icons sync takes out of their images."},
	{"$XDG_CONFIG_HOME/autostart/nspawn-tray*.desktop", "The tray's and the apps' login entries (autostart)."},
}
