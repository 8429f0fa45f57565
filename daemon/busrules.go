package daemon

import (
	"strings"
)

// busRule is one interface (with xdg-dbus-proxy's ".*" suffix where it is
// a prefix) at one object path (with "/*" for a subtree) that a service's
// callers need.
type busRule struct{ iface, path string }

// busServices are the services apps commonly use, by the name a definition
// lists, with what their clients call and the signals they receive. A
// name grants exactly that, never every interface of the connection that
// owns the name: on GNOME and KDE org.freedesktop.Notifications is owned by
// the shell itself, whose own interfaces run code.
var busServices = map[string]struct{ call, broadcast []busRule }{
	"org.freedesktop.Notifications": {
		call:      []busRule{{"org.freedesktop.Notifications.*", "/org/freedesktop/Notifications"}},
		broadcast: []busRule{{"org.freedesktop.Notifications.*", "/org/freedesktop/Notifications"}},
	},
	"org.freedesktop.ScreenSaver": {
		call: []busRule{{"org.freedesktop.ScreenSaver.*", "/org/freedesktop/ScreenSaver"}, {"org.freedesktop.ScreenSaver.*", "/ScreenSaver"}},
	},
	// The portals that ask nothing of the host but what they are for: the
	// desktop's settings (theme, colour scheme), opening a link or file in
	// the user's default app (the portal asks), inhibiting the screen saver,
	// network and proxy state.
	"org.freedesktop.portal.Desktop": {
		call: []busRule{
			{"org.freedesktop.portal.Settings.*", "/org/freedesktop/portal/desktop"},
			{"org.freedesktop.portal.OpenURI.*", "/org/freedesktop/portal/desktop"},
			{"org.freedesktop.portal.Inhibit.*", "/org/freedesktop/portal/desktop"},
			{"org.freedesktop.portal.NetworkMonitor.*", "/org/freedesktop/portal/desktop"},
			{"org.freedesktop.portal.ProxyResolver.*", "/org/freedesktop/portal/desktop"},
			{"org.freedesktop.DBus.Properties.Get", "/org/freedesktop/portal/desktop"},
			{"org.freedesktop.portal.Request.Close", "/org/freedesktop/portal/desktop/request/*"},
		},
		broadcast: []busRule{
			{"org.freedesktop.portal.Settings.SettingChanged", "/org/freedesktop/portal/desktop"},
			{"org.freedesktop.portal.NetworkMonitor.changed", "/org/freedesktop/portal/desktop"},
			{"org.freedesktop.portal.Request.Response", "/org/freedesktop/portal/desktop/request/*"},
		},
	},
	"org.mpris.MediaPlayer2.*": {
		call: []busRule{{"org.mpris.MediaPlayer2.*", "/org/mpris/MediaPlayer2"},
			{"org.freedesktop.DBus.Properties.*", "/org/mpris/MediaPlayer2"}},
		broadcast: []busRule{{"org.freedesktop.DBus.Properties.PropertiesChanged", "/org/mpris/MediaPlayer2"},
			{"org.mpris.MediaPlayer2.*", "/org/mpris/MediaPlayer2"}},
	},
	"org.kde.StatusNotifierWatcher": {
		call: []busRule{{"org.kde.StatusNotifierWatcher.*", "/StatusNotifierWatcher"},
			{"org.freedesktop.DBus.Properties.*", "/StatusNotifierWatcher"}},
		broadcast: []busRule{{"org.kde.StatusNotifierWatcher.*", "/StatusNotifierWatcher"}},
	},
}

// proxyArgs are xdg-dbus-proxy's filter options for the names a
// definition lists (config.ValidDBusName). A known service gets its rules;
// another name the interfaces named like it (com.example.App.*) at any
// path, with Properties and Introspectable. Never --talk, which would open
// every interface of the owning connection.
func proxyArgs(names []string) []string {
	args := []string{"--filter"}
	for _, name := range names {
		args = append(args, "--see="+name)
		svc, known := busServices[name]
		if !known {
			base := strings.TrimSuffix(name, ".*")
			svc.call = []busRule{{base + ".*", "/*"}, {"org.freedesktop.DBus.Properties.*", "/*"},
				{"org.freedesktop.DBus.Introspectable.Introspect", "/*"}}
			svc.broadcast = []busRule{{base + ".*", "/*"}, {"org.freedesktop.DBus.Properties.PropertiesChanged", "/*"}}
		}
		for _, r := range svc.call {
			args = append(args, "--call="+name+"="+r.iface+"@"+r.path)
		}
		for _, r := range svc.broadcast {
			args = append(args, "--broadcast="+name+"="+r.iface+"@"+r.path)
		}
	}
	return args
}

// ownArgs let the app own names (config.App.OwnedNames): single-instance
// apps take their name, and without it quit thinking another instance
// runs; owning a name also lets the app's second process talk to the first.
func ownArgs(names []string) []string {
	var args []string
	for _, n := range names {
		args = append(args, "--own="+n)
	}
	return args
}

// busBypassable reports whether a session bus at address (the caller's
// DBUS_SESSION_BUS_ADDRESS; "" means the usual /run/user/UID/bus) can be
// reached without the proxy from a container that shares the host's
// network: an abstract socket is per network namespace, not per file
// system, and TCP is TCP.
func busBypassable(address string) bool {
	for _, entry := range strings.Split(address, ";") {
		transport, params, _ := strings.Cut(entry, ":")
		switch transport {
		case "":
			continue
		case "unix":
			for _, kv := range strings.Split(params, ",") {
				// tmpdir= makes an abstract socket on Linux.
				if strings.HasPrefix(kv, "abstract=") || strings.HasPrefix(kv, "tmpdir=") {
					return true
				}
			}
		default: // tcp, nonce-tcp, and whatever comes next
			return true
		}
	}
	return false
}
