package desktopfiles

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// FuzzParse: Parse never panics, and whatever it returns, once sanitized,
// renders into a file that is ours (owner key), runs only the launcher
// (one Exec line in the main group), holds no control characters, and
// parses back to the same entry.
func FuzzParse(f *testing.F) {
	f.Add([]byte(firefoxDesktop))
	for _, h := range hostile() {
		if len(h.data) <= MaxParseSize {
			f.Add([]byte(h.data))
		}
	}
	files, _ := filepath.Glob("testdata/*.desktop")
	for _, p := range files {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err != nil {
			return
		}
		MatchesExec(p, "/usr/bin/app")
		s := Sanitize(p.Entry)
		if again := Sanitize(s); !reflect.DeepEqual(again, s) {
			t.Fatalf("Sanitize not idempotent:\n%#v\n%#v", s, again)
		}
		out := Render(Ours{AppID: testAppID, Entry: s, Launcher: testLauncher, HomeDir: "/home/u/h"})
		checkOurs(t, out, testAppID)
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(Render): %v", err)
		}
		if !reflect.DeepEqual(back.Entry, withName(s, testAppID)) {
			t.Fatalf("round trip:\n got %#v\nwant %#v\n%s", back.Entry, s, out)
		}
	})
}

// FuzzSanitizeIcon: the icon that survives is a plain, safe icon name, and
// sanitizing it again keeps it.
func FuzzSanitizeIcon(f *testing.F) {
	for _, s := range []string{"firefox", "/usr/share/pixmaps/foo.png", "../../../../etc/shadow", "/etc/shadow", "$(id)",
		"foo.png.svg", "a..b", "/x/.y.png", "org.gnome.Foo", "f\x00oo", "\xff/x", "foo.PNG"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ic := Sanitize(Entry{Icon: s}).Icon
		if ic == "" {
			return
		}
		if !iconRE.MatchString(ic) || strings.Contains(ic, "..") || strings.ContainsAny(ic, "/\\$`") {
			t.Fatalf("unsafe icon %q from %q", ic, s)
		}
		if again := Sanitize(Entry{Icon: ic}).Icon; again != ic {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, ic, again)
		}
	})
}

// FuzzNamesMatchTheCountedPatterns: ValidFileID and the icon name check
// accept exactly what the spec-shaped patterns with counted repetitions
// accept (those are not compiled into the binary: they cost its start).
func FuzzNamesMatchTheCountedPatterns(f *testing.F) {
	fileID := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\.desktop$`)
	icon := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$`)
	for _, s := range []string{"debian-xterm.desktop", "a.desktop", ".desktop", "-a.desktop", "a/b.desktop",
		strings.Repeat("a", 128) + ".desktop", strings.Repeat("a", 129) + ".desktop", "firefox", "a+b",
		strings.Repeat("b", 128), strings.Repeat("b", 129), "é.desktop", "x\n.desktop"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := ValidFileID(s) == nil, fileID.MatchString(s); got != want {
			t.Errorf("ValidFileID(%q) ok = %v, the counted pattern says %v", s, got, want)
		}
		// sanitizeIcon also cleans text, takes a path's base name and drops
		// extensions: compare on names it leaves alone but for the pattern.
		if cleanText(s, 4096) == s && !strings.ContainsAny(s, "/.") {
			if got, want := sanitizeIcon(s) == s && s != "", icon.MatchString(s); got != want {
				t.Errorf("icon name %q kept = %v, the counted pattern says %v", s, got, want)
			}
		}
	})
}
