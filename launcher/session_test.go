package launcher

import (
	"strings"
	"testing"

	"github.com/godbus/dbus/v5"
)

func TestParseSession(t *testing.T) {
	cookie := make([]byte, 16)
	fd := dbus.UnixFD(1)
	tests := []struct {
		name string
		dict map[string]dbus.Variant
		err  string
	}{
		{"empty", map[string]dbus.Variant{}, ""},
		{"display and cookie", map[string]dbus.Variant{"display": dbus.MakeVariant(":0"), "x11-cookie": dbus.MakeVariant(cookie)}, ""},
		{"screen", map[string]dbus.Variant{"display": dbus.MakeVariant(":10.1")}, ""},
		{"wayland", map[string]dbus.Variant{"wayland-display": dbus.MakeVariant("wayland-1")}, ""},
		{"wait with fds", map[string]dbus.Variant{"wait": dbus.MakeVariant(true), "stdout": dbus.MakeVariant(fd)}, ""},
		{"unknown key", map[string]dbus.Variant{"LD_PRELOAD": dbus.MakeVariant("/tmp/x.so")}, `unknown session field "LD_PRELOAD"`},
		{"remote display", map[string]dbus.Variant{"display": dbus.MakeVariant("evil.example:0")}, "want a local display"},
		{"display injection", map[string]dbus.Variant{"display": dbus.MakeVariant(":0;reboot")}, "want a local display"},
		{"display option", map[string]dbus.Variant{"display": dbus.MakeVariant("--bind=/")}, "want a local display"},
		{"display traversal", map[string]dbus.Variant{"display": dbus.MakeVariant(":0/../../etc")}, "want a local display"},
		{"display NUL", map[string]dbus.Variant{"display": dbus.MakeVariant(":0\x00")}, "want a local display"},
		{"display overlong", map[string]dbus.Variant{"display": dbus.MakeVariant(":" + strings.Repeat("9", 5000))}, "want a local display"},
		{"display wrong type", map[string]dbus.Variant{"display": dbus.MakeVariant(uint32(0))}, `session field "display"`},
		{"short cookie", map[string]dbus.Variant{"display": dbus.MakeVariant(":0"), "x11-cookie": dbus.MakeVariant([]byte{1})}, "1 bytes, want 16"},
		{"cookie without display", map[string]dbus.Variant{"x11-cookie": dbus.MakeVariant(cookie)}, "without a display"},
		{"wayland path", map[string]dbus.Variant{"wayland-display": dbus.MakeVariant("../../etc/shadow")}, "want a socket name"},
		{"wayland absolute", map[string]dbus.Variant{"wayland-display": dbus.MakeVariant("/run/user/1000/wayland-0")}, "want a socket name"},
		{"wayland substitution", map[string]dbus.Variant{"wayland-display": dbus.MakeVariant("wayland-$(id)")}, "want a socket name"},
		{"args NUL", map[string]dbus.Variant{"args": dbus.MakeVariant([]string{"a\x00b"})}, "argument 1"},
		{"args overlong", map[string]dbus.Variant{"args": dbus.MakeVariant([]string{strings.Repeat("x", 4097)})}, "argument 1"},
		{"args too many", map[string]dbus.Variant{"args": dbus.MakeVariant(make([]string, 257))}, "257 arguments"},
		{"args not UTF-8", map[string]dbus.Variant{"args": dbus.MakeVariant([]string{"\xff"})}, "argument 1"},
		{"fd without wait", map[string]dbus.Variant{"stdout": dbus.MakeVariant(fd)}, "only taken with wait"},
		{"fd wrong type", map[string]dbus.Variant{"wait": dbus.MakeVariant(true), "stdout": dbus.MakeVariant("/dev/tty")}, "want a file descriptor"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSession(tc.dict)
			switch {
			case tc.err == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Errorf("error %v, want one containing %q", err, tc.err)
			}
		})
	}
}

func TestSessionRoundTrip(t *testing.T) {
	in := Session{Display: ":1", XCookie: make([]byte, 16), WaylandDisplay: "wayland-0", Args: []string{"a", "b c"}, NewInstance: true}
	out, err := ParseSession(in.Dict())
	if err != nil {
		t.Fatal(err)
	}
	if out.Display != in.Display || out.WaylandDisplay != in.WaylandDisplay || len(out.XCookie) != 16 || strings.Join(out.Args, "|") != "a|b c" || !out.NewInstance {
		t.Errorf("round trip: %+v", out)
	}
	if (Session{Display: ":12.3"}).DisplayNumber() != "12" {
		t.Error("DisplayNumber of :12.3")
	}
}

// Whatever the bus brings, an accepted session names only a local display
// number and a plain socket name: nothing that could become a path outside
// /tmp/.X11-unix or the runtime dir, or an option.
func FuzzParseSession(f *testing.F) {
	f.Add(":0", "wayland-0", "arg")
	f.Add("--bind=/", "../x", "\x00")
	f.Fuzz(func(t *testing.T, display, wayland, arg string) {
		s, err := ParseSession(map[string]dbus.Variant{
			"display": dbus.MakeVariant(display), "wayland-display": dbus.MakeVariant(wayland),
			"args": dbus.MakeVariant([]string{arg}),
		})
		if err != nil {
			return
		}
		for _, v := range []string{s.Display, s.WaylandDisplay} {
			if strings.ContainsAny(v, "/\x00") || strings.Contains(v, "..") || strings.HasPrefix(v, "-") {
				t.Errorf("accepted %q", v)
			}
		}
		if strings.ContainsRune(s.Args[0], 0) {
			t.Errorf("accepted an argument with NUL")
		}
	})
}

func TestSessionBusAddress(t *testing.T) {
	s, err := SessionFromEnv(func(k string) string {
		return map[string]string{"DBUS_SESSION_BUS_ADDRESS": "unix:abstract=/tmp/dbus-x,guid=1"}[k]
	}, "host")
	if err != nil || s.SessionBus != "unix:abstract=/tmp/dbus-x,guid=1" {
		t.Fatalf("SessionFromEnv: %+v, %v", s, err)
	}
	back, err := ParseSession(s.Dict())
	if err != nil || back.SessionBus != s.SessionBus {
		t.Errorf("round trip: %+v, %v", back, err)
	}
	for _, bad := range []string{"unix:path=/x\n", "unix:path=\x00", strings.Repeat("a", 4097), "ünix:path=/x"} {
		if _, err := ParseSession(map[string]dbus.Variant{"session-bus": dbus.MakeVariant(bad)}); err == nil {
			t.Errorf("session bus %q accepted", bad)
		}
		s, _ := SessionFromEnv(func(k string) string {
			if k == "DBUS_SESSION_BUS_ADDRESS" {
				return bad
			}
			return ""
		}, "host")
		if s.SessionBus != "" {
			t.Errorf("SessionFromEnv kept %q", bad)
		}
	}
}
