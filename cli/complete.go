package cli

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/config"
	"github.com/nspawn-tray/nspawn-tray/launcher"
)

// The shells' completion scripts (packaging/completions) are a few lines
// each: they hand the command line to "nspawn-tray complete -- WORD..."
// and show what it prints. What to complete is decided here, from the
// table --help prints, so a new command or option completes without
// touching three scripts in three shell languages.
//
// The output is one candidate a line, "VALUE\tDESCRIPTION" (the
// description may be missing), or one directive line instead: ":dirs"
// (complete directory names) or ":files" (file names). Values never start
// with ':'.

// candidate is one completion.
type candidate struct {
	value, desc string
}

// completionSources are where the values come from: the places the
// commands themselves read. Tests replace them.
type completionSources struct {
	// apps are the valid definitions, as apps --json lists them.
	apps func() []candidate
	// machines are the running instances, as ps --json lists them.
	machines func() []candidate
	// images are the images machined knows, as machinectl list-images
	// lists them.
	images func() []candidate
}

var sources = completionSources{apps: completeApps, machines: completeMachines, images: completeImages}

// Directives.
const (
	completeDirs  = ":dirs"
	completeFiles = ":files"
)

func completeFlags(fs *flag.FlagSet) Run {
	return func(e *Env, args []string) error {
		if len(args) == 0 || args[0] != "--" {
			return UsageError("want -- and the words of the command line after nspawn-tray, the last one the word to complete")
		}
		words := args[1:]
		if len(words) == 0 {
			words = []string{""}
		}
		cands, directive := e.p.complete(words, sources)
		if directive != "" {
			fmt.Fprintln(e.Stdout, directive)
			return nil
		}
		for _, c := range cands {
			if c.desc == "" {
				fmt.Fprintln(e.Stdout, oneLine(c.value))
			} else {
				fmt.Fprintf(e.Stdout, "%s\t%s\n", oneLine(c.value), oneLine(strings.ReplaceAll(c.desc, "\t", " ")))
			}
		}
		return nil
	}
}

// complete is what the last of words (the command line after the program
// name) may become: candidates starting with it, or a directive.
func (p Program) complete(words []string, src completionSources) ([]candidate, string) {
	cur, done := words[len(words)-1], words[:len(words)-1]
	gfs, _ := globalFlags()
	// The options before the command.
	i := 0
	for i < len(done) && strings.HasPrefix(done[i], "-") && done[i] != "--" {
		if takesValue(gfs, done[i]) {
			i++
		}
		i++
	}
	if i > len(done) {
		// The word is the value of the last global option.
		return valuesOf(gfs, done[len(done)-1], cur, src)
	}
	if i == len(done) {
		if strings.HasPrefix(cur, "-") {
			return flagsOf(gfs, cur, src)
		}
		var out []candidate
		for _, c := range p.commands() {
			if !c.Hidden {
				out = append(out, candidate{c.Name, c.Summary})
			}
		}
		return matching(out, cur), ""
	}
	cmd := p.lookup(done[i])
	if cmd == nil || cmd.Hidden {
		return nil, ""
	}
	args := done[i+1:]
	if len(cmd.Sub) > 0 {
		if len(args) == 0 {
			var out []candidate
			for _, s := range cmd.Sub {
				out = append(out, candidate{s.Name, s.Summary})
			}
			return matching(out, cur), ""
		}
		j := slices.IndexFunc(cmd.Sub, func(c Command) bool { return c.Name == args[0] })
		if j < 0 {
			return nil, ""
		}
		cmd, args = &cmd.Sub[j], args[1:]
	}
	fs := newFlagSet(progName + " " + cmd.Name)
	cmd.Flags(fs)
	var typed []string // the positional arguments before cur
	given := map[string]bool{}
	dashdash := false
	for j := 0; j < len(args); j++ {
		switch a := args[j]; {
		case dashdash:
			typed = append(typed, a)
		case a == "--":
			dashdash = true
		case strings.HasPrefix(a, "-") && a != "-":
			name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
			given[name] = true
			if takesValue(fs, a) {
				if j == len(args)-1 {
					return valuesOf(fs, a, cur, src)
				}
				j++
			}
		default:
			typed = append(typed, a)
		}
	}
	switch {
	case dashdash:
		// The app's own arguments.
		return nil, completeFiles
	case strings.HasPrefix(cur, "-"):
		return flagsOf(fs, cur, src)
	}
	return positional(cmd.Args, fs, given, typed, cur, p, src)
}

// takesValue reports whether word is an option of fs that takes its value
// from the next word ("--app", not "--app=x", not "--json").
func takesValue(fs *flag.FlagSet, word string) bool {
	name := strings.TrimLeft(word, "-")
	if strings.Contains(name, "=") {
		return false
	}
	f := fs.Lookup(name)
	if f == nil {
		return false
	}
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return !ok || !b.IsBoolFlag()
}

// flagsOf completes cur, which starts with "-", as an option of fs: its
// name, or after "--name=" its value.
func flagsOf(fs *flag.FlagSet, cur string, src completionSources) ([]candidate, string) {
	if name, val, ok := strings.Cut(cur, "="); ok {
		cands, directive := valuesOf(fs, name, val, src)
		for i := range cands {
			cands[i].value = name + "=" + cands[i].value
		}
		return cands, directive
	}
	var out []candidate
	for _, f := range flagHelps(fs) {
		// "-f, --follow": the long name only.
		names := strings.Split(f.names, ", ")
		out = append(out, candidate{names[len(names)-1], f.usage})
	}
	return matching(out, cur), ""
}

// valuesOf completes cur as the value of option word, by the name of its
// argument in its usage (`APP`, `DIR`, `LEVEL`).
func valuesOf(fs *flag.FlagSet, word, cur string, src completionSources) ([]candidate, string) {
	f := fs.Lookup(strings.TrimLeft(word, "-"))
	if f == nil {
		return nil, ""
	}
	arg, _ := flag.UnquoteUsage(f)
	return valuesOfKind(arg, cur, Program{}, src)
}

// logLevels are the levels --log-level takes (slog's).
var logLevels = []candidate{{"debug", ""}, {"info", ""}, {"warn", ""}, {"error", ""}}

// valuesOfKind completes cur as a placeholder of a synopsis or an option
// names it.
func valuesOfKind(kind, cur string, p Program, src completionSources) ([]candidate, string) {
	switch kind {
	case "APP", "ID":
		return matching(src.apps(), cur), ""
	case "MACHINE":
		return matching(src.machines(), cur), ""
	case "IMAGE":
		return matching(src.images(), cur), ""
	case "COMMAND":
		var out []candidate
		for _, c := range p.commands() {
			if !c.Hidden {
				out = append(out, candidate{c.Name, c.Summary})
			}
		}
		return matching(out, cur), ""
	case "LEVEL":
		return matching(logLevels, cur), ""
	case "DIR":
		return nil, completeDirs
	case "FILE":
		return nil, completeFiles
	}
	return nil, ""
}

// positional completes cur as the positional argument after typed of a
// command whose synopsis is args, e.g. "MACHINE | APP" or
// "enable|disable [APP] | list": each alternative (split at " | ") is a
// list of words, whose placeholders say what to complete and whose
// lower-case words are literal choices; a placeholder ending in "..."
// repeats. An alternative counts when the words typed match its literal
// ones and the options it names were given. An option of fs that takes a
// value takes the next word with it ("--app APP", "--from docker|podman").
func positional(args string, fs *flag.FlagSet, given map[string]bool, typed []string, cur string, p Program, src completionSources) ([]candidate, string) {
	pos := len(typed)
	var out []candidate
	directive := ""
	seen := map[string]bool{}
	for _, alt := range strings.Split(args, " | ") {
		var words []string
		missing := false
		fields := strings.Fields(alt)
		for k := 0; k < len(fields); k++ {
			w := strings.Trim(fields[k], "[]")
			switch {
			case w == "--" || w == "":
			case strings.HasPrefix(w, "-"):
				// An option, and its value: not positional.
				if !given[strings.TrimLeft(w, "-")] {
					missing = true
				}
				if takesValue(fs, w) {
					k++
				}
			default:
				words = append(words, w)
			}
		}
		if missing || !literalsMatch(words, typed) {
			continue
		}
		var w string
		switch {
		case pos < len(words):
			w = words[pos]
		case len(words) > 0 && strings.HasSuffix(words[len(words)-1], "..."):
			w = words[len(words)-1]
		default:
			continue
		}
		w = strings.TrimSuffix(w, "...")
		if w == "NAME" && len(words) == 1 {
			// The one thing a command acts on by name (machine start
			// NAME, image remove NAME) is an image; a NAME after other
			// words is a new one (image pull URL NAME).
			w = "IMAGE"
		}
		for _, choice := range strings.Split(w, "|") {
			if choice != strings.ToLower(choice) {
				cands, d := valuesOfKind(choice, cur, p, src)
				if d != "" {
					directive = d
				}
				for _, c := range cands {
					if !seen[c.value] {
						seen[c.value] = true
						out = append(out, c)
					}
				}
			} else if choice != "-" && strings.HasPrefix(choice, cur) && !seen[choice] {
				seen[choice] = true
				out = append(out, candidate{choice, ""})
			}
		}
	}
	if len(out) == 0 && directive != "" {
		return nil, directive
	}
	return out, ""
}

// literalsMatch reports whether the words typed fit the synopsis words:
// where a synopsis word is literal ("enable|disable"), the word typed is
// one of its choices.
func literalsMatch(words, typed []string) bool {
	for i, t := range typed {
		if i >= len(words) {
			return len(words) > 0 && strings.HasSuffix(words[len(words)-1], "...")
		}
		if w := words[i]; w == strings.ToLower(w) && !slices.Contains(strings.Split(w, "|"), t) {
			return false
		}
	}
	return true
}

// matching are the candidates that start with prefix.
func matching(cands []candidate, prefix string) []candidate {
	var out []candidate
	for _, c := range cands {
		if strings.HasPrefix(c.value, prefix) {
			out = append(out, c)
		}
	}
	return out
}

// completeTimeout bounds each question to the system bus: a Tab that
// waits longer has lost its user.
const completeTimeout = 2 * time.Second

// completeApps are the ids and names of the definitions that apps lists
// (and launch would take), read the same way.
func completeApps() []candidate {
	apps, _ := config.LoadDir(appsDir, config.Options{RequireRootOwned: true, Owner: appsOwner})
	out := make([]candidate, 0, len(apps))
	for _, a := range apps {
		out = append(out, candidate{a.ID, a.Name})
	}
	return out
}

// completeMachines are the running instances ps lists, from the daemon.
func completeMachines() []candidate {
	var out []candidate
	ctx, cancel := context.WithTimeout(context.Background(), completeTimeout)
	defer cancel()
	_ = withClient(func(c *launcher.Client) error {
		list, err := c.List(ctx)
		for _, i := range list {
			out = append(out, candidate{i.Machine, i.App})
		}
		return err
	})
	return out
}

// completeImages are the images machined lists (no authorization needed):
// what machinectl list-images shows.
func completeImages() []candidate {
	conn, err := systemBus()
	if err != nil {
		return nil
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), completeTimeout)
	defer cancel()
	var images []struct {
		Name, Type       string
		ReadOnly         bool
		Created, Changed uint64
		Usage            uint64
		Path             dbus.ObjectPath
	}
	err = conn.Object("org.freedesktop.machine1", "/org/freedesktop/machine1").
		CallWithContext(ctx, "org.freedesktop.machine1.Manager.ListImages", 0).Store(&images)
	if err != nil {
		return nil
	}
	var out []candidate
	for _, im := range images {
		// ".host" is the host's own file system, not an image apps run in.
		if !strings.HasPrefix(im.Name, ".") {
			out = append(out, candidate{im.Name, im.Type + " image"})
		}
	}
	return out
}
