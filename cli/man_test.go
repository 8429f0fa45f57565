package cli

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// manCommands is a command table with each kind of entry the page has:
// options with and without arguments, a short alias, a default, a
// synopsis with placeholders, subcommands, a hidden command.
var manCommands = []Command{
	{Name: "launch", Summary: "Start an app in its container", Args: "APP [-- ARGS...]", Flags: func(fs *flag.FlagSet) Run {
		fs.Bool("wait", false, "run in the foreground")
		return nil
	}},
	{Name: "logs", Summary: "Show what an instance printed", Args: "MACHINE | APP", Flags: func(fs *flag.FlagSet) Run {
		n := fs.Int("lines", 200, "show the last `N` lines")
		fs.IntVar(n, "n", 200, aliasOf+"lines")
		return nil
	}},
	{Name: "app", Summary: "Apps of an image", Sub: []Command{
		{Name: "add", Summary: "Write definitions", Args: "IMAGE [DESKTOP-FILE...]", Flags: func(fs *flag.FlagSet) Run {
			fs.String("id", "", "the app `ID`")
			return nil
		}},
	}},
	{Name: "exec-as", Summary: "Become the user (inside the container)", Args: "--uid N -- ARGV...", Hidden: true, RawArgs: true,
		Flags: func(*flag.FlagSet) Run { return nil }},
}

func TestManGolden(t *testing.T) {
	got := renderMan(manCommands, "1.2.3", "2026-01-02")
	golden := filepath.Join("testdata", "nspawn-tray.1")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("the page differs from %s (go test ./cli -run TestManGolden -update rewrites it):\n%s", golden, got)
	}
}

// The page of the real table has every command and every option that
// --help shows, and the exit statuses report uses.
func TestManHasEveryCommandAndOption(t *testing.T) {
	page := withExtra.manPage("2026-01-02")
	for _, c := range withExtra.commands() {
		cmds := []Command{c}
		if len(c.Sub) > 0 {
			cmds = nil
			for _, s := range c.Sub {
				s.Name = c.Name + " " + s.Name
				cmds = append(cmds, s)
			}
		}
		for _, c := range cmds {
			if !strings.Contains(page, "\n\\fB"+roff(c.Name)+"\\fR") {
				t.Errorf("the page lacks the command %q", c.Name)
			}
			fs := newFlagSet(c.Name)
			c.Flags(fs)
			for _, f := range flagHelps(fs) {
				if f.names != "-h, --help" && !strings.Contains(page, "\\fB"+roff(f.names)+"\\fR") {
					t.Errorf("the page lacks %s's option %s", c.Name, f.names)
				}
			}
		}
	}
	for _, status := range []string{".B 0\n", ".B 1\n", ".B 2\n", "128+N"} {
		if !strings.Contains(page, status) {
			t.Errorf("the page's EXIT STATUS lacks %q", status)
		}
	}
}

// man renders the page without a warning, at the width of a terminal.
func TestManRendersWithoutWarnings(t *testing.T) {
	if _, err := exec.LookPath("man"); err != nil {
		t.Skip("man not installed")
	}
	file := filepath.Join(t.TempDir(), "nspawn-tray.1")
	if err := os.WriteFile(file, []byte(withExtra.manPage("2026-01-02")), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("man", "--warnings", "-l", file)
	cmd.Env = append(os.Environ(), "MANWIDTH=80", "MANPAGER=cat", "PAGER=cat")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("man: %v\n%s", err, stderr.String())
	}
	for _, want := range []string{"NSPAWN-TRAY(1)", "launch [OPTIONS] APP [-- ARGS...]", "EXIT STATUS"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the rendered page lacks %q:\n%s", want, out)
		}
	}
}

func TestManDate(t *testing.T) {
	now := time.Date(2026, 3, 4, 23, 59, 0, 0, time.UTC)
	for _, tc := range []struct {
		given, epoch, want string
		bad                bool
	}{
		{"", "", "2026-03-04", false},
		{"2025-12-31", "1700000000", "2025-12-31", false},
		{"", "1700000000", "2023-11-14", false},
		{"31.12.2025", "", "", true},
		{"", "yesterday", "", true},
	} {
		got, err := manDate(tc.given, tc.epoch, now)
		if got != tc.want || (err != nil) != tc.bad {
			t.Errorf("manDate(%q, %q) = %q, %v; want %q (error: %v)", tc.given, tc.epoch, got, err, tc.want, tc.bad)
		}
	}
}

func TestManCommand(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	code, stdout, stderr := run(t, Program{Version: "9.9"}, "man")
	if code != 0 || stderr != "" || !strings.Contains(stdout, `.TH NSPAWN\-TRAY 1 "2023\-11\-14" "nspawn\-tray 9.9"`) {
		t.Errorf("man: code %d, stderr %q, stdout starts %.200q", code, stderr, stdout)
	}
	if code, _, stderr := run(t, Program{}, "man", "--date", "soon"); code != 2 || !strings.Contains(stderr, "want YYYY-MM-DD") {
		t.Errorf("man --date soon: code %d, stderr %q", code, stderr)
	}
}

func TestRoff(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain text", "plain text"},
		{"--app APP", `\-\-app APP`},
		{`a\b`, `a\eb`},
		{".hidden", `\&.hidden`},
		{"'quoted", `\&'quoted`},
	} {
		if got := roff(tc.in); got != tc.want {
			t.Errorf("roff(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := placeholders("APP [-- ARGS...] | --app APP"); got != `\fIAPP\fR [\-\- \fIARGS\fR...] | \-\-app \fIAPP\fR` {
		t.Errorf("placeholders: %q", got)
	}
}
