package config

import (
	"strings"
	"testing"
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
