package launcher

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestSessionFromEnv(t *testing.T) {
	dir := t.TempDir()
	mine := bytes.Repeat([]byte{1}, 16)
	other := bytes.Repeat([]byte{2}, 16)
	screen1 := bytes.Repeat([]byte{3}, 16)
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Another host's entry first: this host's must still win.
	xauth := write("xauth", append(append(entry(XauthFamilyLocal, "elsewhere", "0", XauthCookieName, other),
		entry(XauthFamilyLocal, "laptop", "0", XauthCookieName, mine)...),
		entry(XauthFamilyLocal, "laptop", "1", XauthCookieName, screen1)...))
	home := filepath.Join(dir, "home")
	if err := os.Mkdir(home, 0o755); err != nil {
		t.Fatal(err)
	}
	write("home/.Xauthority", entry(XauthFamilyWild, "", "0", XauthCookieName, mine))
	truncated := write("truncated", entry(XauthFamilyLocal, "laptop", "0", XauthCookieName, mine)[:10])

	tests := []struct {
		name string
		env  map[string]string
		want Session
		err  string
	}{
		{name: "nothing", env: nil, want: Session{}},
		{name: "display with this host's cookie", env: map[string]string{"DISPLAY": ":0", "XAUTHORITY": xauth},
			want: Session{Display: ":0", XCookie: mine}},
		{name: "unix: prefix", env: map[string]string{"DISPLAY": "unix:1", "XAUTHORITY": xauth},
			want: Session{Display: ":1", XCookie: screen1}},
		// The cookie belongs to the display, not to the screen.
		{name: "screen", env: map[string]string{"DISPLAY": ":1.0", "XAUTHORITY": xauth},
			want: Session{Display: ":1.0", XCookie: screen1}},
		{name: "cookie from HOME without XAUTHORITY", env: map[string]string{"DISPLAY": ":0", "HOME": home},
			want: Session{Display: ":0", XCookie: mine}},
		{name: "no cookie for the display", env: map[string]string{"DISPLAY": ":7", "XAUTHORITY": xauth},
			want: Session{Display: ":7"}},
		{name: "no Xauthority file", env: map[string]string{"DISPLAY": ":0", "XAUTHORITY": filepath.Join(dir, "missing")},
			want: Session{Display: ":0"}},
		{name: "neither XAUTHORITY nor HOME", env: map[string]string{"DISPLAY": ":0"}, want: Session{Display: ":0"}},
		{name: "remote display", env: map[string]string{"DISPLAY": "server:0"}, err: "DISPLAY=server:0 is not a local display"},
		{name: "ssh forwarding", env: map[string]string{"DISPLAY": "localhost:10.0"}, err: "remote X is not supported"},
		{name: "truncated Xauthority", env: map[string]string{"DISPLAY": ":0", "XAUTHORITY": truncated}, err: truncated + ": xauthority: truncated entry"},
		{name: "unreadable Xauthority", env: map[string]string{"DISPLAY": ":0", "XAUTHORITY": dir}, err: "is a directory"},
		{name: "wayland", env: map[string]string{"WAYLAND_DISPLAY": "wayland-0"}, want: Session{WaylandDisplay: "wayland-0"}},
		{name: "wayland absolute in the runtime dir", env: map[string]string{"WAYLAND_DISPLAY": "/run/user/1000/wayland-1", "XDG_RUNTIME_DIR": "/run/user/1000/"},
			want: Session{WaylandDisplay: "wayland-1"}},
		// The daemon only looks in the runtime dir: a socket elsewhere is
		// not offered rather than offered under a wrong name.
		{name: "wayland absolute elsewhere", env: map[string]string{"WAYLAND_DISPLAY": "/tmp/wayland-1", "XDG_RUNTIME_DIR": "/run/user/1000"},
			want: Session{}},
		{name: "wayland absolute without a runtime dir", env: map[string]string{"WAYLAND_DISPLAY": "/wayland-1"}, want: Session{}},
		{name: "wayland name of another form", env: map[string]string{"WAYLAND_DISPLAY": "../wayland-0"}, want: Session{}},
		{name: "X and wayland", env: map[string]string{"DISPLAY": ":0", "XAUTHORITY": xauth, "WAYLAND_DISPLAY": "wayland-0"},
			want: Session{Display: ":0", XCookie: mine, WaylandDisplay: "wayland-0"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SessionFromEnv(func(k string) string { return tc.env[k] }, "laptop")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("SessionFromEnv = %+v, %v; want an error containing %q", got, err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("SessionFromEnv = %+v, %v; want %+v", got, err, tc.want)
			}
			// What SessionFromEnv gathers, the daemon accepts.
			if err := got.Validate(); err != nil {
				t.Errorf("the session does not validate: %v", err)
			}
		})
	}
}
