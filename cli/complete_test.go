package cli

import (
	"flag"
	"slices"
	"strings"
	"testing"

	"github.com/nspawn-tray/nspawn-tray/launcher"
)

// completing is a program like main's: the user commands, and extra ones
// with subcommands and hidden ones, as rootcmd adds them.
var completing = Program{Extra: []Command{
	{Name: "app", Summary: "Apps of an image", Sub: []Command{
		{Name: "add", Summary: "Add", Args: "IMAGE [DESKTOP-FILE...]", Flags: func(fs *flag.FlagSet) Run {
			fs.Bool("force", false, "replace")
			fs.String("id", "", "the app `ID`")
			return nil
		}},
		{Name: "remove", Summary: "Remove", Args: "ID", Flags: func(*flag.FlagSet) Run { return nil }},
	}},
	{Name: "internal", Summary: "An internal step", Args: "APP", Hidden: true, RawArgs: true, Flags: func(*flag.FlagSet) Run { return nil }},
	{Name: "fetch", Summary: "Fetch", Args: "FILE|- NAME | --from docker|podman IMAGE NAME", Flags: func(fs *flag.FlagSet) Run {
		fs.String("from", "", "a `TOOL`'s image")
		return nil
	}},
	{Name: "boot", Summary: "Boot machine NAME", Args: "NAME", Flags: func(*flag.FlagSet) Run { return nil }},
}}

var fakeSources = completionSources{
	apps:     func() []candidate { return []candidate{{"sleeper", "Sleeper"}, {"spotify", "Spotify"}} },
	machines: func() []candidate { return []candidate{{"spotify-3fa2b1c0", "spotify"}} },
	images:   func() []candidate { return []candidate{{"debian", "directory image"}, {"xapps", "directory image"}} },
}

func TestComplete(t *testing.T) {
	// Every command help lists, whatever the table holds today.
	var listed []string
	for _, c := range completing.commands() {
		if !c.Hidden {
			listed = append(listed, c.Name)
		}
	}
	if !slices.Contains(listed, "fetch") || slices.Contains(listed, "internal") {
		t.Fatalf("the commands listed are %q", listed)
	}
	for _, tc := range []struct {
		line string // the words, the last one after the last space
		want string // the values, space-separated, or a directive
	}{
		{"", strings.Join(listed, " ")},
		{"l", "launch logs"},
		{"--", "--log-level --help"},
		{"--log-level ", "debug info warn error"},
		{"--log-level=w", "--log-level=warn"},
		{"--log-level debug la", "launch"},
		{"launch s", "sleeper spotify"},
		{"launch --w", "--wait"},
		{"launch --wait sp", "spotify"},
		{"launch spotify ", ""},
		{"launch spotify -- ", completeFiles},
		{"launch spotify -- --wait ", completeFiles},
		{"stop ", "spotify-3fa2b1c0"},
		{"stop --app ", "sleeper spotify"},
		{"stop --app=sl", "--app=sleeper"},
		{"logs ", "spotify-3fa2b1c0 sleeper spotify"},
		{"logs -n 20 sp", "spotify-3fa2b1c0 spotify"},
		{"logs -", "--follow --lines --help"},
		{"autostart ", "enable disable list"},
		{"autostart e", "enable"},
		{"autostart enable ", "sleeper spotify"},
		{"autostart list ", ""},
		{"autostart frob ", ""},
		{"apps --dir ", completeDirs},
		{"apps --dir=/e", completeDirs},
		{"apps --json ", ""},
		{"help s", "stop sync"},
		{"app ", "add remove"},
		{"app add ", "debian xapps"},
		{"app add --id x ", "debian xapps"},
		{"app add --force x", "xapps"},
		{"app add debian ", ""},
		{"app remove ", "sleeper spotify"},
		{"app nosuch ", ""},
		// A file, or with --from an image.
		{"fetch ", completeFiles},
		{"fetch --from docker ", "debian xapps"},
		{"internal ", ""},
		// NAME alone is an image (a machine); after other words, a new name.
		{"boot ", "debian xapps"},
		{"boot x", "xapps"},
		{"fetch f.tar ", ""},
		{"nosuch ", ""},
		{"version -", "--help"},
	} {
		words := strings.Split(tc.line, " ")
		cands, directive := completing.complete(words, fakeSources)
		var got []string
		for _, c := range cands {
			got = append(got, c.value)
		}
		gotS := strings.Join(got, " ")
		if directive != "" {
			gotS = directive
		}
		if gotS != tc.want {
			t.Errorf("%q: got %q, want %q", tc.line, gotS, tc.want)
		}
	}
}

// The command prints one candidate a line with its description after a
// tab, or the directive alone; without "--" it is a usage error.
func TestCompleteCommand(t *testing.T) {
	old := sources
	sources = fakeSources
	t.Cleanup(func() { sources = old })
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"complete", "--", "launch", "s"}, 0, "sleeper\tSleeper\nspotify\tSpotify\n"},
		{[]string{"complete", "--", "apps", "--dir", ""}, 0, ":dirs\n"},
		{[]string{"complete", "--"}, 0, "tray\tShow the tray applet (the default command)\n"},
		{[]string{"complete", "--", "autostart", "l"}, 0, "list\n"},
		{[]string{"complete", "launch"}, 2, ""},
	} {
		code, stdout, _ := run(t, completing, tc.args...)
		if code != tc.code || !strings.HasPrefix(stdout, tc.out) {
			t.Errorf("%q: code %d, stdout %q; want %d and %q", tc.args, code, stdout, tc.code, tc.out)
		}
	}
	// Hidden commands are never offered.
	_, stdout, _ := run(t, completing, "complete", "--", "")
	for _, hidden := range []string{"internal", "pulse-filter", "man", "complete"} {
		if slices.Contains(strings.Split(stdout, "\n"), hidden) || strings.Contains(stdout, "\n"+hidden+"\t") {
			t.Errorf("hidden command %s offered:\n%s", hidden, stdout)
		}
	}
}

// A description or value with a newline or tab cannot break the line
// format the scripts read.
func TestCompleteKeepsOneCandidateALine(t *testing.T) {
	old := sources
	sources = completionSources{apps: func() []candidate { return []candidate{{"evil", "Two\nlines\tand a tab"}} }}
	t.Cleanup(func() { sources = old })
	_, stdout, _ := run(t, completing, "complete", "--", "launch", "")
	if stdout != "evil\tTwo\\nlines and a tab\n" {
		t.Errorf("stdout %q", stdout)
	}
}

// The values come from where the commands read them: the definitions as
// apps reads them, the instances from the daemon as ps lists them.
func TestCompleteSources(t *testing.T) {
	dir := writeApps(t, map[string]string{"spotify.toml": spotify, "broken.toml": "name = 1\n"})
	old := appsDir
	appsDir = dir
	t.Cleanup(func() { appsDir = old })
	if got := completeApps(); len(got) != 1 || got[0] != (candidate{"spotify", "Spotify"}) {
		t.Errorf("apps: %v, want the valid definition only", got)
	}

	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path="+t.TempDir()+"/no-bus")
	if got := completeMachines(); len(got) != 0 {
		t.Errorf("machines without a system bus: %v", got)
	}
	d := fakeDaemon(t)
	d.SetInstances([]launcher.Instance{{Machine: "spotify-3fa2b1c0", App: "spotify", UID: 1000}})
	if got := completeMachines(); len(got) != 1 || got[0] != (candidate{"spotify-3fa2b1c0", "spotify"}) {
		t.Errorf("machines: %v", got)
	}
	// No machined on this bus: no images, and no wait.
	if got := completeImages(); len(got) != 0 {
		t.Errorf("images without machined: %v", got)
	}
}
