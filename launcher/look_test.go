package launcher

import (
	"strings"
	"testing"

	"github.com/godbus/dbus/v5"
)

// The look is the one session field that becomes environment in the app as
// it is: only its names, only values of their closed forms, and never a
// path (a theme dir, a font dir) the root side would then bind or an app
// would load code from.
func TestParseSessionLook(t *testing.T) {
	for _, tc := range []struct {
		look map[string]string
		err  string // "" when valid
	}{
		{map[string]string{"GTK_THEME": "Adwaita:dark", "XCURSOR_THEME": "DMZ-White", "XCURSOR_SIZE": "24"}, ""},
		{map[string]string{"QT_QPA_PLATFORMTHEME": "gtk3", "QT_STYLE_OVERRIDE": "Fusion", "QT_SCALE_FACTOR": "1.5", "GDK_SCALE": "2"}, ""},
		{map[string]string{"GTK_THEME": "Arc Dark"}, ""},
		{map[string]string{"GTK_THEME": "/home/mallory/.themes/evil"}, "not a valid value"},
		{map[string]string{"GTK_THEME": "../../../etc"}, "not a valid value"},
		{map[string]string{"GTK_THEME": ""}, "not a valid value"},
		{map[string]string{"GTK_THEME": "a\nLD_PRELOAD=/x.so"}, "not a valid value"},
		{map[string]string{"XCURSOR_SIZE": "0"}, "not a valid value"},
		{map[string]string{"XCURSOR_SIZE": "24px"}, "not a valid value"},
		{map[string]string{"XCURSOR_SIZE": "99999"}, "not a valid value"},
		{map[string]string{"XCURSOR_THEME": strings.Repeat("a", 65)}, "not a valid value"},
		{map[string]string{"QT_QPA_PLATFORMTHEME": "../../tmp/plugin"}, "not a valid value"},
		{map[string]string{"QT_PLUGIN_PATH": "/tmp"}, "not a theme setting"},
		{map[string]string{"XCURSOR_PATH": "/home/mallory"}, "not a theme setting"},
		{map[string]string{"GTK_PATH": "/tmp"}, "not a theme setting"},
		{map[string]string{"LD_PRELOAD": "/tmp/x.so"}, "not a theme setting"},
		{map[string]string{"FONTCONFIG_FILE": "/tmp/fonts.conf"}, "not a theme setting"},
	} {
		_, err := ParseSession(map[string]dbus.Variant{keyLook: dbus.MakeVariant(tc.look)})
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%q: %v, want %q", tc.look, err, tc.err)
		}
	}
	// Another type is refused, not converted.
	if _, err := ParseSession(map[string]dbus.Variant{keyLook: dbus.MakeVariant([]string{"GTK_THEME=x"})}); err == nil {
		t.Error("look as an array of strings was taken")
	}
}

// The client sends what the daemon takes, and leaves out what it would
// refuse instead of failing the launch.
func TestSessionFromEnvLook(t *testing.T) {
	env := map[string]string{"GTK_THEME": "Adwaita:dark", "XCURSOR_SIZE": "big", "QT_PLUGIN_PATH": "/tmp", "XCURSOR_THEME": "Adwaita"}
	s, err := SessionFromEnv(func(k string) string { return env[k] }, "host")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Look) != 2 || s.Look["GTK_THEME"] != "Adwaita:dark" || s.Look["XCURSOR_THEME"] != "Adwaita" {
		t.Errorf("look %q", s.Look)
	}
	back, err := ParseSession(s.Dict())
	if err != nil || back.Look["GTK_THEME"] != "Adwaita:dark" {
		t.Errorf("round trip: %q, %v", back.Look, err)
	}
}
