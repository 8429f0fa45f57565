package desktopfiles

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const (
	testLauncher = "/usr/bin/nspawn-tray"
	testAppID    = "firefox-work"
)

// validate runs desktop-file-validate on data. Errors and warnings always
// fail the test; hints too unless allowHints. Skipped (with a log line) when
// the tool is missing.
func validate(t testing.TB, data []byte, allowHints bool) {
	t.Helper()
	bin, err := exec.LookPath("desktop-file-validate")
	if err != nil {
		t.Log("desktop-file-validate not installed; not validating")
		return
	}
	p := filepath.Join(t.TempDir(), "nspawn-tray-app.desktop")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, p).CombinedOutput()
	var bad []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l == "" || allowHints && strings.Contains(l, ": hint: ") {
			continue
		}
		bad = append(bad, l)
	}
	if err != nil || len(bad) > 0 {
		t.Errorf("desktop-file-validate: %v\n%s\n--- file:\n%s", err, strings.Join(bad, "\n"), data)
	}
}

// mainLines returns the raw key=value lines of the [Desktop Entry] group,
// as "Key", "locale", "whole line".
type rawLine struct{ key, locale, line string }

func mainLines(data []byte) []rawLine {
	var out []rawLine
	in := false
	for _, l := range strings.Split(string(data), "\n") {
		t := strings.TrimLeft(l, " \t")
		if t == "" || t[0] == '#' {
			continue
		}
		if t[0] == '[' {
			if in {
				break
			}
			in = strings.TrimRight(t, " \t") == "[Desktop Entry]"
			continue
		}
		if !in {
			continue
		}
		k, loc, _, ok := splitKey([]byte(t))
		if !ok {
			k = "?"
		}
		out = append(out, rawLine{k, loc, l})
	}
	return out
}

// checkOurs checks the invariants every rendered file must hold, whatever
// the input: one Exec line, ours; the owner key; no control characters; a
// safe icon.
func checkOurs(t testing.TB, out []byte, appID string) {
	t.Helper()
	if got := ParseOwner(out); got != appID {
		t.Errorf("ParseOwner = %q, want %q", got, appID)
	}
	var execs []string
	for _, l := range mainLines(out) {
		switch {
		case l.key == "Exec":
			execs = append(execs, l.line)
		case l.key == "Icon":
			if ic := strings.TrimPrefix(l.line, "Icon="); !iconRE.MatchString(ic) || strings.Contains(ic, "..") {
				t.Errorf("unsafe icon line %q", l.line)
			}
		case l.key == "?":
			t.Errorf("malformed line %q", l.line)
		}
	}
	want := "Exec=" + execLine(testLauncher, "launch", appID)
	if len(execs) != 1 || execs[0] != want {
		t.Errorf("Exec lines in main group = %q, want exactly [%q]", execs, want)
	}
	for i, c := range out {
		if c < 0x20 && c != '\n' || c == 0x7f {
			t.Errorf("control character %#x at offset %d", c, i)
			break
		}
	}
	if bytes.Count(out, []byte("\n[Desktop Entry]")) != 1 {
		t.Errorf("want exactly one [Desktop Entry] group:\n%s", out)
	}
}
