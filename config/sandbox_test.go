package config

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestValidDBusName(t *testing.T) {
	long := "org." + strings.Repeat("a", 251) // 255 characters
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"org.freedesktop.Notifications", true},
		{"org.mpris.MediaPlayer2.*", true},
		{"org.mpris.MediaPlayer2.spotify", true},
		{"a.b", true},
		{"_a.b-c", true},
		{"org.a1.B_2-x", true},
		{"org.freedesktop.DBus.Foo", true},  // not the driver, just a name under it
		{"org.freedesktop.systemd", true},   // not a prefix of systemd1...
		{"org.freedesktop.portal.*", false}, // covers the Flatpak and document portals
		{"org.freedesktop.portal.Desktop", true},
		{"org.freedesktop.secrets", false}, // the user's passwords
		{"ca.desrt.dconf", false},
		{"org.gnome.Shell", false},
		{"org.gnome.Shell.Screenshot", false},
		{"org.gnome.*", false}, // covers org.gnome.Shell
		{"org.gnome.Terminal", false},
		{"org.kde.klauncher5", false},
		{"org.kde.plasmashell", false},
		{"org.kde.KWin", false},
		{"org.kde.kded6", false},
		{"org.kde.kdeconnect", true},
		{"org.gtk.vfs.Daemon", false},
		{"org.freedesktop.impl.portal.desktop.gnome", false},
		{"com.example.systemd1", true},
		{"org.freedesktop", true}, // found by fuzzing: a name, not a wildcard; reaches nothing else     // only org.freedesktop.systemd1 is special
		{long, true},
		{long + "a", false}, // 256 characters
		{strings.Repeat("a.", 128), false},
		{"", false},
		{":1.5", false},
		{":org.x", false},
		{".org.x", false},
		{"org", false},
		{"org.", false},
		{"org..x", false},
		{"org.x.", false},
		{"1org.x", false},
		{"org.1x", false},
		{"org.x.2", false},
		{"org x.y", false},
		{"org.x/y", false},
		{"org.x\x00.y", false},
		{"org.é.x", false},
		{"org.x.*.y", false},
		{"org.*", false},
		{"*", false},
		{".*", false},
		{"org.x*", false},
		{"org.x.**", false},
		{"org.x.*.*", false},
		{"org.x.%2a", false},
		{"org.freedesktop.DBus", false},
		{"org.freedesktop.DBus.*", false},
		{"org.freedesktop.*", false}, // would reach systemd1 and the driver
		{"org.freedesktop.systemd1", false},
		{"org.freedesktop.systemd1.*", false},
		{"org.freedesktop.systemd1.Manager", false},
		{"org.freedesktop.systemd1x", false},
		{"org.freedesktop.Flatpak", false},
		{"org.freedesktop.Flatpak.*", false},
	} {
		err := ValidDBusName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("ValidDBusName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidDBusName) {
			t.Errorf("ValidDBusName(%q) = %v, not ErrInvalidDBusName", tc.name, err)
		}
	}
}

func TestValidDBusNameReasons(t *testing.T) {
	for name, want := range map[string]string{
		"org.freedesktop.systemd1.Manager": "outside the container",
		"org.freedesktop.*":                "outside the container",
		"org.freedesktop.DBus":             "always reachable",
		":1.5":                             "unique connection names",
	} {
		if err := ValidDBusName(name); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidDBusName(%q) = %v, want an error saying %q", name, err, want)
		}
	}
}

func TestValidEnv(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		ok          bool
	}{
		{"GTK_THEME", "Adwaita:dark", true},
		{"_", "", true},
		{"a", "x", true},
		{"MOZ_ENABLE_WAYLAND", "1", true},
		{"QT_QPA_PLATFORM", "xcb", true},
		{"LANG", "de_DE.UTF-8", true},
		{"X1", "日本語", true},
		{"V", "line1\nline2\ttab", true}, // values are argv data, not shell
		{"V", "$(id); `id`", true},
		{"LDX", "x", true}, // not LD_
		{"OLD_PATH", "x", true},
		{"MALLOCX", "x", true},
		{strings.Repeat("A", 128), "", true},
		{"V", strings.Repeat("a", 4096), true},
		{strings.Repeat("A", 129), "", false},
		{"", "x", false},
		{"1X", "x", false},
		{"9", "x", false},
		{"A=B", "x", false},
		{"A B", "x", false},
		{"A-B", "x", false},
		{"A.B", "x", false},
		{"Ä", "x", false},
		{"A\x00", "x", false},
		{"\xff", "x", false},
		{"LD_PRELOAD", "/tmp/evil.so", false},
		{"ld_preload", "/tmp/evil.so", false},
		{"Ld_Library_Path", "/tmp", false},
		{"LD_", "x", false},
		{"LD_AUDIT", "x", false},
		{"GLIBC_TUNABLES", "x", false},
		{"glibc_tunables", "x", false},
		{"MALLOC_CHECK_", "3", false},
		{"MALLOC_ARENA_MAX", "1", false},
		{"MALLOC_TRACE", "/tmp/x", false},
		{"GCONV_PATH", "/tmp", false},
		{"GETCONF_DIR", "/tmp", false},
		{"HOSTALIASES", "/tmp", false},
		{"LOCALDOMAIN", "x", false},
		{"LOCPATH", "/tmp", false},
		{"NIS_PATH", "/tmp", false},
		{"NLSPATH", "/tmp", false},
		{"RESOLV_HOST_CONF", "/tmp", false},
		{"RES_OPTIONS", "x", false},
		{"TMPDIR", "/tmp", false},
		{"TZDIR", "/tmp", false},
		{"DISPLAY", ":1", false},
		{"XAUTHORITY", "/x", false},
		{"WAYLAND_DISPLAY", "wayland-0", false},
		{"PULSE_SERVER", "tcp:evil", false},
		{"PULSE_CLIENTCONFIG", "/x", false},
		{"PULSE_COOKIE", "/x", false},
		{"DBUS_SESSION_BUS_ADDRESS", "unix:path=/run/user/1000/bus", false},
		{"DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/x", false},
		{"XDG_RUNTIME_DIR", "/x", false},
		{"HOME", "/root", false},
		{"USER", "root", false},
		{"LOGNAME", "root", false},
		{"SHELL", "/bin/sh", false},
		{"PATH", "/tmp", false},
		{"path", "/tmp", false},
		{"NOTIFY_SOCKET", "/run/systemd/notify", false},
		{"container", "x", false},
		{"V", "a\x00b", false},
		{"V", "\xff", false},
		{"V", "\xc3", false},
		{"V", strings.Repeat("a", 4097), false},
		{"V", strings.Repeat("é", 2049), false}, // 4098 bytes
	} {
		err := ValidEnv(tc.name, tc.value)
		if (err == nil) != tc.ok {
			t.Errorf("ValidEnv(%q, %.20q) = %v, want ok=%v", tc.name, tc.value, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidEnv) {
			t.Errorf("ValidEnv(%q, %.20q) = %v, not ErrInvalidEnv", tc.name, tc.value, err)
		}
	}
}

// A refused variable's error names it and says why; no error shows the
// value, which may be a secret.
func TestValidEnvMessages(t *testing.T) {
	for _, tc := range []struct{ name, value, want string }{
		{"LD_PRELOAD", "SECRET", "dynamic linker"},
		{"GLIBC_TUNABLES", "SECRET", "glibc"},
		{"MALLOC_CHECK_", "SECRET", "glibc"},
		{"DISPLAY", "SECRET", "launcher sets it"},
		{"container", "SECRET", "launcher sets it"},
		{"V", "SECRET\x00", "NUL"},
		{"V", "SECRET\xff", "UTF-8"},
		{"V", "SECRET" + strings.Repeat("a", 4096), "longer than 4096"},
	} {
		err := ValidEnv(tc.name, tc.value)
		if err == nil {
			t.Fatalf("ValidEnv(%q) accepted", tc.name)
		}
		msg := err.Error()
		if !strings.Contains(msg, fmt.Sprintf("%q", tc.name)) || !strings.Contains(msg, tc.want) {
			t.Errorf("ValidEnv(%q) = %q, want it to name the variable and say %q", tc.name, msg, tc.want)
		}
		if strings.Contains(msg, "SECRET") {
			t.Errorf("ValidEnv(%q) = %q shows the value", tc.name, msg)
		}
	}
}

// valid is an App as code would build it, every field set.
func valid() App {
	return App{
		ID: "spotify", Name: "Spotify", Image: "spotify", Exec: []string{"spotify"},
		X11: X11Host, Audio: AudioPlayback, DBus: []string{"org.freedesktop.Notifications"},
		Network: NetworkHost, Home: true, Env: map[string]string{"GTK_THEME": "Adwaita"},
	}
}

func TestValidateNewFields(t *testing.T) {
	names := func(n int) []string {
		s := make([]string, n)
		for i := range s {
			s[i] = fmt.Sprintf("org.example.N%d", i)
		}
		return s
	}
	env := func(n int) map[string]string {
		m := map[string]string{}
		for i := range n {
			m[fmt.Sprintf("V%d", i)] = "x"
		}
		return m
	}
	for _, tc := range []struct {
		desc   string
		change func(a *App)
		want   error // nil: valid
	}{
		{"as built", func(a *App) {}, nil},
		{"all off", func(a *App) {
			a.X11, a.Audio, a.DBus, a.Network, a.Home, a.Env = X11None, AudioNone, nil, NetworkNone, false, nil
		}, nil},
		{"empty dbus", func(a *App) { a.DBus = []string{} }, nil},
		{"empty env", func(a *App) { a.Env = map[string]string{} }, nil},
		{"64 dbus names", func(a *App) { a.DBus = names(64) }, nil},
		{"64 env vars", func(a *App) { a.Env = env(64) }, nil},
		{"x11 unset", func(a *App) { a.X11 = "" }, ErrInvalidValue},
		{"x11 nested with no network", func(a *App) { a.X11, a.Network = X11Nested, NetworkNone }, nil},
		// Built in code, nothing defaults the network: the host's is
		// refused, never quietly replaced.
		{"x11 nested with the host's network", func(a *App) { a.X11 = X11Nested }, ErrConflict},
		{"x11 nested, network unset", func(a *App) { a.X11, a.Network = X11Nested, "" }, ErrInvalidValue},
		{"x11 Nested", func(a *App) { a.X11, a.Network = "Nested", NetworkNone }, ErrInvalidValue},
		{"x11 nested with space", func(a *App) { a.X11, a.Network = "nested ", NetworkNone }, ErrInvalidValue},
		{"x11 HOST", func(a *App) { a.X11 = "HOST" }, ErrInvalidValue},
		{"x11 with space", func(a *App) { a.X11 = "host " }, ErrInvalidValue},
		{"network unset", func(a *App) { a.Network = "" }, ErrInvalidValue},
		{"network bridge", func(a *App) { a.Network = "bridge" }, ErrInvalidValue},
		{"network None", func(a *App) { a.Network = "None" }, ErrInvalidValue},
		{"65 dbus names", func(a *App) { a.DBus = names(65) }, ErrInvalidDBusName},
		{"duplicate dbus name", func(a *App) { a.DBus = []string{"org.a.b", "org.c.d", "org.a.b"} }, ErrInvalidDBusName},
		{"bad dbus name", func(a *App) { a.DBus = []string{"org.a.b", "org.freedesktop.systemd1"} }, ErrInvalidDBusName},
		{"empty dbus name", func(a *App) { a.DBus = []string{""} }, ErrInvalidDBusName},
		{"65 env vars", func(a *App) { a.Env = env(65) }, ErrInvalidEnv},
		{"bad env var", func(a *App) { a.Env = map[string]string{"A": "x", "LD_PRELOAD": "x"} }, ErrInvalidEnv},
		{"bad env value", func(a *App) { a.Env = map[string]string{"A": "\x00"} }, ErrInvalidEnv},
	} {
		a := valid()
		tc.change(&a)
		err := a.Validate()
		if tc.want == nil {
			if err != nil {
				t.Errorf("%s: Validate = %v", tc.desc, err)
			}
			continue
		}
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: Validate = %v, want %v", tc.desc, err, tc.want)
		}
	}
}

func TestValidateReportsEveryBadEnvVar(t *testing.T) {
	a := valid()
	a.Env = map[string]string{"PATH": "x", "OK": "x", "LD_AUDIT": "x", "1X": "x"}
	err := a.Validate()
	if err == nil {
		t.Fatal("accepted")
	}
	lines := strings.Split(err.Error(), "\n")
	// Sorted by name, each prefixed with the key.
	want := []string{`env: invalid env "1X"`, `env: invalid env "LD_AUDIT"`, `env: invalid env "PATH"`}
	if len(lines) != len(want) {
		t.Fatalf("got %q, want %d errors", lines, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("error %d = %q, want prefix %q", i, lines[i], w)
		}
	}
}

func TestLoadDefaults(t *testing.T) {
	p := write(t, t.TempDir(), "spotify.toml", good)
	app, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if app.X11 != X11Host || app.Audio != AudioPlayback || app.Network != NetworkHost || !app.Home || app.Env != nil ||
		!slices.Equal(app.DBus, []string{"org.freedesktop.Notifications"}) || app.Instances != InstancesOne {
		t.Errorf("defaults not applied: %+v", app)
	}
	if err := app.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}

	// Each App gets its own default slice.
	app.DBus[0] = "org.example.Changed"
	again, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if again.DBus[0] != "org.freedesktop.Notifications" {
		t.Errorf("default dbus list is shared between Apps: %v", again.DBus)
	}
}

func TestLoadNewKeys(t *testing.T) {
	for _, tc := range []struct {
		desc    string
		content string
		check   func(a App) bool
	}{
		{"everything off", good + "x11 = \"none\"\naudio = false\ndbus = []\nnetwork = \"none\"\nhome = false\nenv = {}\n",
			func(a App) bool {
				return a.X11 == X11None && a.Audio == AudioNone && len(a.DBus) == 0 && a.Network == NetworkNone && !a.Home && a.Env == nil
			}},
		// x11 = "nested" makes the network private when it is not named.
		{"nested implies no network", good + "x11 = \"nested\"\n",
			func(a App) bool { return a.X11 == X11Nested && a.Network == NetworkNone }},
		{"nested with no network said", good + "network = \"none\"\nx11 = \"nested\"\n",
			func(a App) bool { return a.X11 == X11Nested && a.Network == NetworkNone }},
		{"host network without nested", good + "x11 = \"none\"\n",
			func(a App) bool { return a.X11 == X11None && a.Network == NetworkHost }},
		{"empty dbus is not the default", good + "dbus = []\n",
			func(a App) bool { return len(a.DBus) == 0 && a.X11 == X11Host && a.Audio == AudioPlayback && a.Home }},
		{"explicit values", good + "x11 = \"host\"\naudio = true\nnetwork = \"host\"\nhome = true\n" +
			"dbus = [\"org.mpris.MediaPlayer2.*\", \"org.freedesktop.Notifications\"]\n",
			func(a App) bool {
				return a.X11 == X11Host && a.Audio == AudioPlayback && a.Network == NetworkHost && a.Home &&
					slices.Equal(a.DBus, []string{"org.mpris.MediaPlayer2.*", "org.freedesktop.Notifications"})
			}},
		{"env table", good + "[env]\nGTK_THEME = \"Adwaita:dark\"\nEMPTY = ''\n",
			func(a App) bool {
				return maps.Equal(a.Env, map[string]string{"GTK_THEME": "Adwaita:dark", "EMPTY": ""})
			}},
		{"env inline and dotted", good + "env = {A = \"1\"}\n",
			func(a App) bool { return maps.Equal(a.Env, map[string]string{"A": "1"}) }},
		{"env dotted", good + "env.A = \"1\"\nenv.B = \"2\"\n",
			func(a App) bool { return maps.Equal(a.Env, map[string]string{"A": "1", "B": "2"}) }},
		{"a machine per launch", good + "instances = \"many\"\n",
			func(a App) bool { return a.Instances == InstancesMany }},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			app, err := Load(write(t, t.TempDir(), "foo.toml", tc.content))
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(app) {
				t.Errorf("got %+v", app)
			}
			if err := app.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

// The errors parse reports for the new keys wrap their sentinels.
func TestLoadNewKeySentinels(t *testing.T) {
	for _, tc := range []struct {
		content string
		want    error
	}{
		{good + "x11 = \"nested\"\nnetwork = \"host\"\n", ErrConflict},
		{good + "x11 = \"Nested\"\n", ErrInvalidValue},
		{good + "network = \"bridge\"\n", ErrInvalidValue},
		{good + "instances = \"two\"\n", ErrInvalidValue},
		{good + "dbus = [\":1.5\"]\n", ErrInvalidDBusName},
		{good + "[env]\nLD_PRELOAD = \"x\"\n", ErrInvalidEnv},
	} {
		_, err := Load(write(t, t.TempDir(), "foo.toml", tc.content))
		if !errors.Is(err, tc.want) {
			t.Errorf("Load(%q) = %v, want %v", tc.content, err, tc.want)
		}
	}
}

// audio takes its modes, and the booleans of earlier versions.
func TestAudioModes(t *testing.T) {
	for content, want := range map[string]Audio{
		"":                       AudioPlayback,
		"audio = true\n":         AudioPlayback,
		"audio = false\n":        AudioNone,
		"audio = \"playback\"\n": AudioPlayback,
		"audio = \"full\"\n":     AudioFull,
		"audio = \"none\"\n":     AudioNone,
	} {
		dir := t.TempDir()
		p := filepath.Join(dir, "a.toml")
		os.WriteFile(p, []byte("name = \"A\"\nimage = \"i\"\nexec = [\"/x\"]\n"+content), 0o644)
		app, err := Load(p)
		if err != nil || app.Audio != want {
			t.Errorf("%q: %q, %v; want %q", content, app.Audio, err, want)
		}
	}
}

// gpu and host_look are booleans with their defaults, and nothing else: a
// path, a device list or a string that looks true is refused, so a
// definition cannot name which device nodes or which host dirs get bound
// (the daemon decides that from the host alone).
func TestGPUAndHostLook(t *testing.T) {
	for _, tc := range []struct {
		content       string
		gpu, hostLook bool
		err           string // "" when valid
	}{
		{"", false, true, ""},
		{"gpu = true\n", true, true, ""},
		{"gpu = false\nhost_look = false\n", false, false, ""},
		{"host_look = true\n", false, true, ""},
		{"gpu = \"true\"\n", false, false, `key "gpu" must be a boolean, not a string`},
		{"gpu = [\"/dev/dri/card0\"]\n", false, false, `key "gpu" must be a boolean, not an array`},
		{"gpu = \"/dev/nvidia0\"\n", false, false, `key "gpu" must be a boolean, not a string`},
		{"gpu = 1\n", false, false, `key "gpu" must be a boolean, not an integer`},
		{"host_look = \"/etc/shadow\"\n", false, false, `key "host_look" must be a boolean, not a string`},
		{"host_look = {fonts = \"/root\"}\n", false, false, `key "host_look" must be a boolean, not a table`},
		{"[gpu]\ndevices = [\"/dev/sda\"]\n", false, false, `key "gpu" must be a boolean, not a table`},
		{"host-look = false\n", false, false, `unknown key "host-look"`},
	} {
		app, err := Load(write(t, t.TempDir(), "foo.toml", good+tc.content))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: %v, want an error with %q", tc.content, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.content, err)
			continue
		}
		if app.GPU != tc.gpu || app.HostLook != tc.hostLook {
			t.Errorf("%q: gpu %v host_look %v, want %v %v", tc.content, app.GPU, app.HostLook, tc.gpu, tc.hostLook)
		}
	}
}
