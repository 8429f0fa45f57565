package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestValidID(t *testing.T) {
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{"spotify", true},
		{"a", true},
		{"0", true},
		{"google-chrome", true},
		{"a-", true},
		{strings.Repeat("a", 40), true},
		{strings.Repeat("a", 41), false},
		{"", false},
		{"-a", false},
		{"Spotify", false},
		{"a_b", false},
		{"a.b", false},
		{".", false},
		{"..", false},
		{"../x", false},
		{"a/b", false},
		{"a;b", false},
		{"$(x)", false},
		{"--bind=/", false},
		{"a\x00", false},
		{"a b", false},
		{"\xff", false},
		{"é", false},
	} {
		err := ValidID(tc.id)
		if (err == nil) != tc.ok {
			t.Errorf("ValidID(%q) = %v, want ok=%v", tc.id, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidID) {
			t.Errorf("ValidID(%q) = %v, not ErrInvalidID", tc.id, err)
		}
	}
}

func TestValidImage(t *testing.T) {
	for _, tc := range []struct {
		image string
		ok    bool
	}{
		{"spotify", true},
		{"Debian_12.5-x", true},
		{"a.b.c", true},
		{"a..b", false}, // systemd machine names are host names: no empty labels
		{"a.", false},
		{strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), false},
		{"", false},
		{".", false},
		{"..", false},
		{".hidden", false},
		{"-a", false},
		{"--bind=/", false},
		{"../etc", false},
		{"a/b", false},
		{"/", false},
		{"a;b", false},
		{"$(x)", false},
		{"a b", false},
		{"a\x00b", false},
		{"a\n", false},
		{"\xff", false},
		{"ä", false},
	} {
		err := ValidImage(tc.image)
		if (err == nil) != tc.ok {
			t.Errorf("ValidImage(%q) = %v, want ok=%v", tc.image, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidImage) {
			t.Errorf("ValidImage(%q) = %v, not ErrInvalidImage", tc.image, err)
		}
	}
}

func TestValidName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"Spotify", true},
		{"Google Chrome (stable)", true},
		{"$(x); rm -rf / ../", true}, // only ever displayed
		{"Größe 日本", true},
		{strings.Repeat("a", 128), true},
		{strings.Repeat("a", 129), false},
		{strings.Repeat("é", 65), false}, // 130 bytes
		{"", false},
		// Blank in a menu: the first version took these.
		{" ", false},
		{"   ", false},
		{"\u00a0\u3000", false}, // no-break and ideographic space
		{" Spotify ", true},
		{"a\nExec=evil", false},
		{"a\tb", false},
		{"a\x00", false},
		{"a\x7f", false},
		{"a\u0085", false}, // C1 control (NEL)
		{"\xff\xfe", false},
	} {
		err := ValidName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("ValidName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidName(%q) = %v, not ErrInvalidName", tc.name, err)
		}
	}
}

func TestValidExec(t *testing.T) {
	many := make([]string, 257)
	for i := range many {
		many[i] = "x"
	}
	for _, tc := range []struct {
		desc string
		argv []string
		ok   bool
	}{
		{"bare command", []string{"spotify"}, true},
		{"absolute", []string{"/usr/bin/spotify", "--uri", "x"}, true},
		{"shell metacharacters are just bytes in argv", []string{"echo", "$(x)", ";", "`id`", "--bind=/"}, true},
		{"empty later arg", []string{"echo", ""}, true},
		{"256 args", many[:256], true},
		{"max-length arg", []string{"echo", strings.Repeat("a", 4096)}, true},
		{"nil", nil, false},
		{"empty", []string{}, false},
		{"empty program", []string{""}, false},
		{"relative path", []string{"./run"}, false},
		{"parent path", []string{"../bin/sh"}, false},
		{"relative with dir", []string{"bin/sh"}, false},
		{"257 args", many, false},
		{"overlong arg", []string{"echo", strings.Repeat("a", 4097)}, false},
		{"NUL in program", []string{"/bin/sh\x00x"}, false},
		{"NUL in arg", []string{"echo", "a\x00b"}, false},
		{"non-UTF-8 arg", []string{"echo", "\xff"}, false},
		{"non-UTF-8 program", []string{"\xc3"}, false},
	} {
		err := ValidExec(tc.argv)
		if (err == nil) != tc.ok {
			t.Errorf("%s: ValidExec(%q) = %v, want ok=%v", tc.desc, tc.argv, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidExec) {
			t.Errorf("%s: ValidExec = %v, not ErrInvalidExec", tc.desc, err)
		}
	}
}

// Messages end up on one terminal line, so untrusted input must be quoted
// and truncated in them.
func TestErrorMessagesAreOneShortLine(t *testing.T) {
	long := strings.Repeat("\n", 5000)
	for _, err := range []error{
		ValidID(long), ValidImage(long), ValidName(long), ValidName("a\nb"),
		ValidExec([]string{long}), ValidExec([]string{"x", "a\x00\n"}),
		ValidDBusName(long), ValidDBusName("org." + long), ValidDBusName("a.b\n.c"),
		ValidEnv(long, "x"), ValidEnv("A\nB", "x"), ValidEnv("V", long+"\x00"),
		validEnum("x11", long, X11Host, X11None),
	} {
		if err == nil {
			t.Fatal("unexpectedly valid")
		}
		if msg := err.Error(); strings.ContainsAny(msg, "\n\x00") || len(msg) > 200 {
			t.Errorf("message not one short line: %q", msg)
		}
	}
}

func TestValidOwnName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"org.featherpad.FeatherPad", true},
		{"org.gnome.Calculator", true},
		{"org.mpris.MediaPlayer2.spotify", true},
		{"org.kde.kate.*", true},
		{"com.spotify.Client", true},
		// Standing in for the desktop's services.
		{"org.freedesktop.Notifications", false},
		{"org.freedesktop.portal.Desktop", false},
		{"org.freedesktop.*", false},
		{"org.gtk.Settings", false},
		{"org.a11y.Bus", false},
		{"org.kde.StatusNotifierWatcher", false},
		{"org.kde.KGlobalAccel", false},
		{"org.gnome.SettingsDaemon.Power", false},
		// Every player's name, or a refused talk name.
		{"org.mpris.MediaPlayer2.*", false},
		{"org.mpris.MediaPlayer2", false},
		{"org.gnome.Shell", false},
		{"org.freedesktop.systemd1", false},
		{":1.5", false},
		{"org", false},
	} {
		err := ValidOwnName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("ValidOwnName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidDBusName) {
			t.Errorf("ValidOwnName(%q) = %v, not ErrInvalidDBusName", tc.name, err)
		}
	}
}

func TestOwnedNames(t *testing.T) {
	for _, tc := range []struct {
		app  App
		want []string
	}{
		{App{ID: "calc", Desktop: Desktop{File: "org.gnome.Calculator.desktop"}}, []string{"org.gnome.Calculator"}},
		{App{ID: "xterm", Desktop: Desktop{File: "debian-xterm.desktop"}}, nil},
		// A hostile image's desktop file id never makes a desktop service.
		{App{ID: "evil", Desktop: Desktop{File: "org.freedesktop.Notifications.desktop"}}, nil},
		{App{ID: "spotify", MPRIS: true, Own: []string{"com.spotify.Client", "org.mpris.MediaPlayer2.spotify"}},
			[]string{"org.mpris.MediaPlayer2.spotify", "com.spotify.Client"}},
	} {
		if got := tc.app.OwnedNames(); !slices.Equal(got, tc.want) {
			t.Errorf("%s: OwnedNames = %q, want %q", tc.app.ID, got, tc.want)
		}
	}
}
