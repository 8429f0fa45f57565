package daemon

import (
	"slices"
	"strings"
	"testing"

	"github.com/nspawn-tray/nspawn-tray/config"
)

// A listed name grants its service's interfaces at its paths, never a
// --talk that opens every interface of the connection owning the name
// (GNOME Shell owns org.freedesktop.Notifications).
func TestProxyArgsAreScoped(t *testing.T) {
	args := proxyArgs([]string{"org.freedesktop.Notifications", "org.freedesktop.portal.Desktop", "com.example.App", "org.example.*"})
	if args[0] != "--filter" {
		t.Fatalf("args %q do not start with --filter", args)
	}
	for _, a := range args {
		if strings.HasPrefix(a, "--talk") || strings.HasPrefix(a, "--own") {
			t.Errorf("%q grants more than calls", a)
		}
		if rule, ok := strings.CutPrefix(a, "--call="); ok {
			name, r, _ := strings.Cut(rule, "=")
			iface, path, found := strings.Cut(r, "@")
			if !found || iface == "*" || iface == "" || path == "" {
				t.Errorf("%q: call rule of %s not scoped to an interface and a path", a, name)
			}
		}
	}
	for _, want := range []string{
		"--see=org.freedesktop.Notifications",
		"--call=org.freedesktop.Notifications=org.freedesktop.Notifications.*@/org/freedesktop/Notifications",
		"--call=org.freedesktop.portal.Desktop=org.freedesktop.portal.OpenURI.*@/org/freedesktop/portal/desktop",
		"--broadcast=org.freedesktop.portal.Desktop=org.freedesktop.portal.Request.Response@/org/freedesktop/portal/desktop/request/*",
		"--call=com.example.App=com.example.App.*@/*",
		"--call=org.example.*=org.example.*@/*",
	} {
		if !slices.Contains(args, want) {
			t.Errorf("args lack %q:\n%q", want, args)
		}
	}
	for _, a := range args {
		if strings.Contains(a, "FileChooser") || strings.Contains(a, "Screenshot") || strings.Contains(a, "ScreenCast") {
			t.Errorf("a portal outside the safe list: %q", a)
		}
	}
}

func TestBusBypassable(t *testing.T) {
	for addr, want := range map[string]bool{
		"":                                              false,
		"unix:path=/run/user/1000/bus":                  false,
		"unix:path=/run/user/1000/bus,guid=abc":         false,
		"unix:dir=/tmp":                                 false,
		"unix:abstract=/tmp/dbus-XyZ,guid=abc":          true,
		"unix:tmpdir=/tmp":                              true,
		"tcp:host=localhost,port=1234":                  true,
		"nonce-tcp:host=localhost,port=1,noncefile=/x":  true,
		"unix:path=/run/user/1000/bus;unix:abstract=/x": true,
		"autolaunch:":                                   true,
	} {
		if got := busBypassable(addr); got != want {
			t.Errorf("busBypassable(%q) = %v, want %v", addr, got, want)
		}
	}
}

func TestOwnArgs(t *testing.T) {
	app := config.App{ID: "calc", MPRIS: true, Own: []string{"org.example.Calc.*"}, Desktop: config.Desktop{File: "org.gnome.Calculator.desktop"}}
	want := []string{"--own=org.gnome.Calculator", "--own=org.mpris.MediaPlayer2.calc", "--own=org.example.Calc.*"}
	if got := ownArgs(app.OwnedNames()); !slices.Equal(got, want) {
		t.Errorf("ownArgs = %q, want %q", got, want)
	}
	if got := ownArgs(nil); len(got) != 0 {
		t.Errorf("no names: %q", got)
	}
}
