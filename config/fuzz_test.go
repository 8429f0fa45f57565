package config

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzLoad(f *testing.F) {
	for _, seed := range []string{
		good,
		"",
		"name = 1",
		"imgae = \"x\"\n",
		"[name]\n[[exec]]\n",
		"exec = \"\"\"\nx = 1\n\"\"\"\nname = 'a'\n",
		"a.\"b\\u0041\" . c = [1, {d = 2}]\n",
		"name = \"x\"\nimage = \"../..\"\nexec = [\"--bind=/\", \"$(x)\"]\n",
		"name = \"\\u0000\"\n",
		"\xff = 1",
		"[a]\nb = '''\n'''''\nc = 1\n",
		good + "x11 = \"none\"\naudio = false\ndbus = []\nnetwork = \"none\"\nhome = false\n",
		good + "dbus = [\"org.mpris.MediaPlayer2.*\", \"org.freedesktop.systemd1\", \":1.5\"]\n",
		good + "x11 = \"nested\"\nnetwork = \"bridge\"\naudio = \"yes\"\n",
		good + "x11 = \"nested\"\n",
		good + "network = \"host\"\nx11 = \"nested\"\n",
		good + "[env]\nGTK_THEME = \"x\"\nLD_PRELOAD = \"y\"\n\"A=B\" = \"\"\n[env.D]\n",
		good + "env = {A = 1, B = \"\\u0000\"}\n",
		good + "env = \"A=B\"\n",
		good + "[[env]]\n",
		good + "dbus = [\"org.a.b.*\", \"org.c.d\"]\n[env]\nGTK_THEME = \"Adwaita:dark\"\n_ = \"\"\n",
		good + "env.\"\" = \"x\"\ndbus = [\"org.a.b\", \"org.a.b\"]\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		app, err := parse("/etc/nspawn-tray/apps.d/fuzz.toml", data)
		if err != nil {
			if msg := err.Error(); !strings.HasPrefix(msg, "/etc/nspawn-tray/apps.d/fuzz.toml") {
				t.Errorf("error does not name the file: %q", msg)
			}
			return
		}
		if err := app.Validate(); err != nil {
			t.Errorf("parse accepted an invalid app %+v: %v", app, err)
		}
		// Validate checks these too, but the launcher relies on them so
		// much that they are spelled out.
		if app.X11 != X11Host && app.X11 != X11Nested && app.X11 != X11None || app.Network != NetworkHost && app.Network != NetworkNone {
			t.Errorf("parse returned unresolved x11/network: %+v", app)
		}
		// The launcher gives a nested display no other way out.
		if app.X11 == X11Nested && app.Network != NetworkNone {
			t.Errorf("parse returned a nested display with the host's network: %+v", app)
		}
		if app.DBus != nil && len(app.DBus) == 0 || app.Env != nil && len(app.Env) == 0 {
			t.Errorf("parse returned an empty but non-nil dbus/env: %+v", app)
		}
		for _, n := range app.DBus {
			checkDBusName(t, n)
		}
		for k, v := range app.Env {
			checkEnv(t, k, v)
		}
		// The scanner must not panic on anything the parser accepts.
		scanKeyLines(string(data))
	})
}

// checkSafeName holds for anything that may become a path component or a
// command-line argument to nspawn or machinectl.
func checkSafeName(t *testing.T, s string) {
	if s == "" || strings.ContainsAny(s, "/\x00") || strings.Contains(s, "..") ||
		strings.HasPrefix(s, "-") || strings.HasPrefix(s, ".") {
		t.Errorf("accepted unsafe name %q", s)
	}
}

func FuzzValidImage(f *testing.F) {
	for _, s := range []string{"spotify", "..", ".", "-x", "a/b", "a\x00", "a..b", "Debian_12.5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidImage(s) == nil {
			checkSafeName(t, s)
		}
	})
}

func FuzzValidID(f *testing.F) {
	for _, s := range []string{"spotify", "..", ".", "-x", "a/b", "a\x00", "a-b", "A"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidID(s) == nil {
			checkSafeName(t, s)
			if strings.Contains(s, ".") {
				t.Errorf("accepted id with a dot: %q", s)
			}
		}
	})
}

// checkDBusName holds for every name the proxy may be told to allow.
func checkDBusName(t *testing.T, s string) {
	base := strings.TrimSuffix(s, ".*")
	switch {
	case s == "" || len(s) > 255 || strings.HasPrefix(s, ":") || strings.HasPrefix(s, "."):
		t.Errorf("accepted D-Bus name %q: empty, too long or starting with ':' or '.'", s)
	case strings.Contains(s, "..") || strings.HasSuffix(base, ".") || !strings.Contains(base, "."):
		t.Errorf("accepted D-Bus name %q: empty element or only one", s)
	case strings.HasPrefix(base, "org.freedesktop.systemd1") ||
		base != s && strings.HasPrefix("org.freedesktop.systemd1", base+"."): // a wildcard covering it
		t.Errorf("accepted D-Bus name %q reaching systemd1", s)
	case base == "org.freedesktop.DBus":
		t.Errorf("accepted the bus driver %q", s)
	}
	for i := 0; i < len(base); i++ {
		c := base[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			t.Errorf("accepted D-Bus name %q with character %q", s, c)
		}
	}
	for _, e := range strings.Split(base, ".") {
		if e != "" && e[0] >= '0' && e[0] <= '9' {
			t.Errorf("accepted D-Bus name %q with an element starting with a digit", s)
		}
	}
}

func FuzzValidDBusName(f *testing.F) {
	for _, s := range []string{
		"org.freedesktop.Notifications", "org.mpris.MediaPlayer2.*", ":1.5", "org", "org..x", "1org.x",
		"org.freedesktop.systemd1", "org.freedesktop.systemd1.Manager", "org.freedesktop.DBus",
		"org.x.*.y", "org.*", "org.freedesktop.*", ".*", "a.b.*.*", "a.b\x00", "org.freedesktop.DBus.*",
		"org.freedesktop", // regression: a plain name is not a wildcard, fine
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidDBusName(s) == nil {
			checkDBusName(t, s)
		}
	})
}

// checkEnv holds for every variable the launcher may be told to set.
func checkEnv(t *testing.T, name, value string) {
	upper := strings.ToUpper(name)
	if strings.HasPrefix(upper, "LD_") || strings.HasPrefix(upper, "MALLOC_") {
		t.Errorf("accepted env name %q", name)
	}
	for _, r := range []string{
		"GCONV_PATH", "GETCONF_DIR", "HOSTALIASES", "LOCALDOMAIN", "LOCPATH", "MALLOC_TRACE", "NIS_PATH",
		"NLSPATH", "RESOLV_HOST_CONF", "RES_OPTIONS", "TMPDIR", "TZDIR", "MALLOC_ARENA_MAX", "GLIBC_TUNABLES",
		"DISPLAY", "XAUTHORITY", "WAYLAND_DISPLAY", "PULSE_SERVER", "PULSE_CLIENTCONFIG", "PULSE_COOKIE",
		"DBUS_SESSION_BUS_ADDRESS", "DBUS_SYSTEM_BUS_ADDRESS", "XDG_RUNTIME_DIR", "HOME", "USER", "LOGNAME",
		"SHELL", "PATH", "NOTIFY_SOCKET", "container",
	} {
		if strings.EqualFold(name, r) {
			t.Errorf("accepted reserved env name %q", name)
		}
	}
	if name == "" || len(name) > 128 || name[0] >= '0' && name[0] <= '9' {
		t.Errorf("accepted malformed env name %q", name)
	}
	for _, c := range []byte(name) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			t.Errorf("accepted env name %q with character %q", name, c)
		}
	}
	if strings.IndexByte(value, 0) >= 0 || !utf8.ValidString(value) || len(value) > 4096 {
		t.Errorf("accepted env value %q for %q", value, name)
	}
}

func FuzzValidEnv(f *testing.F) {
	for _, s := range [][2]string{
		{"GTK_THEME", "Adwaita"}, {"LD_PRELOAD", "x"}, {"ld_preload", "x"}, {"GLIBC_TUNABLES", "x"},
		{"MALLOC_CHECK_", "3"}, {"DISPLAY", ":0"}, {"PATH", "/"}, {"A=B", ""}, {"1X", ""}, {"", ""},
		{"V", "a\x00b"}, {"V", "\xff"}, {"container", "x"}, {"Container", "x"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, name, value string) {
		if ValidEnv(name, value) == nil {
			checkEnv(t, name, value)
		}
	})
}
