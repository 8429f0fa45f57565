package desktopfiles

import (
	"os"
	"path/filepath"
	"reflect"
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
