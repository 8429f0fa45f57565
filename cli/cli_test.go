package cli

import (
	"bytes"
	"encoding/json"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func run(t *testing.T, p Program, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = p.Run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// withExtra has one extra command, as main adds the privileged ones.
var withExtra = Program{Extra: []Command{
	{Name: "internal", Summary: "An internal step", Hidden: true, RawArgs: true, Flags: func(*flag.FlagSet) Run {
		return func(e *Env, args []string) error { return ExitStatus(len(args)) }
	}},
	{Name: "listed", Summary: "A listed extra", Flags: func(*flag.FlagSet) Run {
		return func(e *Env, args []string) error { return NoArgs(args) }
	}},
}}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{
		{"--help"}, {"-h"}, {"help"},
		{"apps", "--help"}, {"apps", "-h"}, {"help", "apps"},
		{"version", "--help"}, {"help", "version"},
		{"launch", "--help"}, {"ps", "--help"}, {"stop", "--help"}, {"sync", "--help"}, {"tray", "--help"},
		{"autostart", "--help"}, {"internal", "--help"}, {"internal", "-h"}, {"help", "internal"},
		{"help", "--help"}, {"help", "help"},
	} {
		code, stdout, stderr := run(t, withExtra, args...)
		if code != 0 || !strings.HasPrefix(stdout, "Usage: nspawn-tray") || stderr != "" {
			t.Errorf("%q: code %d, stdout %q, stderr %q; want 0 and usage on stdout", args, code, stdout, stderr)
		}
	}
	_, stdout, _ := run(t, withExtra, "--help")
	for _, c := range withExtra.commands() {
		if listed := strings.Contains(stdout, "\n  "+c.Name+" "); listed == c.Hidden {
			t.Errorf("--help lists %s: %v, want %v:\n%s", c.Name, listed, !c.Hidden, stdout)
		}
		// Every command, internal ones included, has its own help.
		code, out, _ := run(t, withExtra, c.Name, "--help")
		if code != 0 || !strings.HasPrefix(out, "Usage: nspawn-tray "+c.Name) {
			t.Errorf("%s --help: code %d, stdout %q", c.Name, code, out)
		}
	}
	if strings.Index(stdout, "  internal") > strings.Index(stdout, "  version") {
		t.Errorf("extra commands are not listed before version and help:\n%s", stdout)
	}
	_, stdout, _ = run(t, Program{}, "apps", "--help")
	if !strings.Contains(stdout, "--dir DIR") || !strings.Contains(stdout, "--json") {
		t.Errorf("apps --help lacks its flags:\n%s", stdout)
	}
}

// No arguments runs the tray (what the autostart entry runs); without a
// system bus that is one clear line and exit 1.
func TestNoArgs(t *testing.T) {
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path="+t.TempDir()+"/no-bus")
	code, stdout, stderr := run(t, Program{})
	if code != 1 || stdout != "" || !strings.HasPrefix(stderr, "nspawn-tray: tray: system bus:") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("no args: code %d, stdout %q, stderr %q; want 1 and the tray's one-line error", code, stdout, stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"foo"}, `nspawn-tray: unknown command "foo" (see 'nspawn-tray --help')`},
		{[]string{"--bogus"}, `nspawn-tray: unknown flag "--bogus" (see 'nspawn-tray --help')`},
		{[]string{"-x", "apps"}, `nspawn-tray: unknown flag "--x" (see 'nspawn-tray --help')`},
		{[]string{"--log-level", "loud", "version"}, `nspawn-tray: invalid log level "loud" (see 'nspawn-tray --help')`},
		{[]string{"--log-level"}, `nspawn-tray: flag --log-level needs an argument (see 'nspawn-tray --help')`},
		{[]string{"apps", "--bogus"}, `nspawn-tray apps: unknown flag "--bogus" (see 'nspawn-tray apps --help')`},
		{[]string{"apps", "--dir"}, `nspawn-tray apps: flag --dir needs an argument (see 'nspawn-tray apps --help')`},
		{[]string{"apps", "extra"}, `nspawn-tray apps: unexpected argument "extra" (see 'nspawn-tray apps --help')`},
		{[]string{"apps", "--json=maybe"}, `nspawn-tray apps: invalid boolean value "maybe" for -json: parse error (see 'nspawn-tray apps --help')`},
		{[]string{"version", "--short"}, `nspawn-tray version: unknown flag "--short" (see 'nspawn-tray version --help')`},
		{[]string{"version", "x"}, `nspawn-tray version: unexpected argument "x" (see 'nspawn-tray version --help')`},
		{[]string{"help", "nope"}, `nspawn-tray help: unknown command "nope" (see 'nspawn-tray help --help')`},
		{[]string{"help", "apps", "ps"}, `nspawn-tray help: unexpected argument "ps" (see 'nspawn-tray help --help')`},
		{[]string{"foo\nbar"}, `nspawn-tray: unknown command "foo\nbar" (see 'nspawn-tray --help')`},
	} {
		code, stdout, stderr := run(t, Program{}, tc.args...)
		if code != 2 || stdout != "" || stderr != tc.want+"\n" {
			t.Errorf("%q: code %d, stdout %q, stderr %q; want 2, nothing, %q", tc.args, code, stdout, stderr, tc.want)
		}
	}
}

// A RawArgs command gets its arguments as they are: flags, "--" and all,
// and --help only when it is the one argument.
func TestRawArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"internal"}, 0},
		{[]string{"internal", "--uid", "1", "--", "--help"}, 4},
		{[]string{"internal", "--bogus"}, 1},
		{[]string{"internal", "--help", "x"}, 2},
	} {
		if code, stdout, stderr := run(t, withExtra, tc.args...); code != tc.code || stdout != "" || stderr != "" {
			t.Errorf("%q: code %d, stdout %q, stderr %q; want %d (its argument count) and nothing", tc.args, code, stdout, stderr, tc.code)
		}
	}
}

func TestVersion(t *testing.T) {
	code, stdout, _ := run(t, Program{Version: "1.2.3"}, "version")
	if code != 0 || stdout != "nspawn-tray 1.2.3\n" {
		t.Errorf("version: %d %q", code, stdout)
	}
}

func TestLogLevel(t *testing.T) {
	var level slog.LevelVar
	if code, _, stderr := run(t, Program{LogLevel: &level}, "--log-level", "debug", "version"); code != 0 {
		t.Fatalf("code %d: %s", code, stderr)
	}
	if level.Level() != slog.LevelDebug {
		t.Errorf("level = %v, want debug", level.Level())
	}
}

// TestMain makes the tests' own files count as root's would: the commands
// require the definitions' owner to be root's, like the daemon.
func TestMain(m *testing.M) {
	appsOwner = uint32(os.Geteuid())
	os.Exit(m.Run())
}

func writeApps(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const spotify = `name = "Spotify"
image = "spotify"
exec = ["/usr/bin/spotify", "--uri", "it's here", "a\u001bb"]
`

func TestApps(t *testing.T) {
	good := writeApps(t, map[string]string{"spotify.toml": spotify, "notes.txt": "x"})
	bad := writeApps(t, map[string]string{
		"spotify.toml": spotify,
		"broken.toml":  "name = \"x\"\nimgae = \"y\"\n",
		"Bad.toml":     spotify,
		"loose.toml":   spotify,
	})
	// What launch refuses, apps must not list as valid (the first
	// version did).
	if err := os.Chmod(filepath.Join(bad, "loose.toml"), 0o666); err != nil {
		t.Fatal(err)
	}

	t.Run("table", func(t *testing.T) {
		code, stdout, stderr := run(t, Program{}, "apps", "--dir", good)
		want := "ID       NAME     IMAGE    X11    EXEC\n" +
			`spotify  Spotify  spotify  host*  /usr/bin/spotify --uri 'it'\''s here' "a\x1bb"` + "\n" +
			"* shares your X server: it can read your other windows and type into them (x11 = \"none\" turns it off)\n"
		if code != 0 || stdout != want || stderr != "" {
			t.Errorf("code %d, stderr %q, stdout:\n%s\nwant:\n%s", code, stderr, stdout, want)
		}
	})
	t.Run("json", func(t *testing.T) {
		code, stdout, stderr := run(t, Program{}, "apps", "--dir", good, "--json")
		var got []appJSON
		if err := json.Unmarshal([]byte(stdout), &got); err != nil || code != 0 || stderr != "" {
			t.Fatalf("code %d, stderr %q, %v:\n%s", code, stderr, err, stdout)
		}
		if len(got) != 1 || got[0].ID != "spotify" || got[0].Exec[2] != "it's here" || got[0].File != filepath.Join(good, "spotify.toml") || got[0].X11 != "host" {
			t.Errorf("got %+v", got)
		}
	})
	t.Run("empty", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "none")
		if code, stdout, _ := run(t, Program{}, "apps", "--dir", missing, "--json"); code != 0 || stdout != "[]\n" {
			t.Errorf("json: code %d, %q", code, stdout)
		}
		if code, stdout, _ := run(t, Program{}, "apps", "--dir", missing); code != 0 || !strings.Contains(stdout, "No apps") {
			t.Errorf("table: code %d, %q", code, stdout)
		}
	})
	t.Run("bad", func(t *testing.T) {
		code, stdout, stderr := run(t, Program{}, "apps", "--dir", bad)
		if code != 1 {
			t.Errorf("code %d, want 1", code)
		}
		if !strings.Contains(stdout, "\nspotify ") {
			t.Errorf("good app not listed:\n%s", stdout)
		}
		lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
		want := []string{
			`nspawn-tray: app "Bad" has an invalid definition: ` + filepath.Join(bad, "Bad.toml") + `: file name: invalid app id "Bad"`,
			`nspawn-tray: app "broken" has an invalid definition: ` + filepath.Join(bad, "broken.toml") + `:2: unknown key "imgae"`,
			`nspawn-tray: app "loose" has an invalid definition: ` + filepath.Join(bad, "loose.toml") + `: mode 0666 is group- or world-writable`,
		}
		if strings.Contains(stdout, "loose") {
			t.Errorf("a definition launch refuses is listed:\n%s", stdout)
		}
		if len(lines) != len(want) {
			t.Fatalf("stderr has %d lines, want %d:\n%s", len(lines), len(want), stderr)
		}
		for i := range want {
			if !strings.HasPrefix(lines[i], want[i]) {
				t.Errorf("stderr line %d = %q, want prefix %q", i, lines[i], want[i])
			}
		}
	})
}

func TestAppsTableWithoutHostX11HasNoFootnote(t *testing.T) {
	dir := writeApps(t, map[string]string{"cli.toml": "name = \"CLI\"\nimage = \"debian\"\nexec = [\"/bin/sh\"]\nx11 = \"none\"\n"})
	code, stdout, _ := run(t, Program{}, "apps", "--dir", dir)
	want := "ID   NAME  IMAGE   X11   EXEC\ncli  CLI   debian  none  /bin/sh\n"
	if code != 0 || stdout != want {
		t.Errorf("code %d, stdout:\n%s\nwant:\n%s", code, stdout, want)
	}
}
