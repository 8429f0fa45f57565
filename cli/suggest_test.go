package cli

import "testing"

func TestClosest(t *testing.T) {
	ids := []string{"chromium", "firefox", "mpv", "spotify", "xterm", "xterm-offline"}
	for _, tc := range []struct{ typed, want string }{
		{"spotfy", "spotify"},
		{"Spotify", "spotify"},
		{"firfox", "firefox"},
		{"chromim", "chromium"},
		{"spot", "spotify"},
		{"xterm-ofline", "xterm-offline"},
		{"xtrm", "xterm"},
		{"mp", "mpv"},
		{"vlc", ""}, // 3 edits from mpv: not a typo
		{"gimp", ""},
		{"", ""},
		{"x", ""},
	} {
		if got := closest(tc.typed, ids); got != tc.want {
			t.Errorf("closest(%q) = %q, want %q", tc.typed, got, tc.want)
		}
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"a", "", 1}, {"", "abc", 3}, {"kitten", "sitting", 3}, {"spotfy", "spotify", 1}, {"abc", "abc", 0}} {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
