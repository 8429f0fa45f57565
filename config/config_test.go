package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const good = `name = "Spotify"
image = "spotify"
exec = ["/usr/bin/spotify", "--no-zygote"]
`

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoad(t *testing.T) {
	p := write(t, t.TempDir(), "spotify.toml", good)
	app, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	want := App{ID: "spotify", Name: "Spotify", Image: "spotify", Exec: []string{"/usr/bin/spotify", "--no-zygote"}, File: p}
	if app.ID != want.ID || app.Name != want.Name || app.Image != want.Image || app.File != want.File || !slices.Equal(app.Exec, want.Exec) {
		t.Errorf("Load = %+v, want %+v", app, want)
	}
	if err := app.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		desc    string
		file    string
		content string
		want    []string // each must appear, prefixed by the file path
	}{
		{"unknown key", "foo.toml", "name = \"x\"\nexec = [\"x\"]\nimgae = \"x\"\n",
			[]string{`:3: unknown key "imgae"`}},
		{"unknown table", "foo.toml", good + "\n[extra]\na = 1\n",
			[]string{`:5: unknown key "extra"`}},
		{"unknown dotted key", "foo.toml", good + "x . \"y\" = 1\n",
			[]string{`:4: unknown key "x"`}},
		{"unknown key after multi-line values", "foo.toml",
			"name = \"x\"\nimage = \"x\"\nexec = [\n  \"a\", # ]\n  \"b\",\n]\nd = \"\"\"\nx = 1\n\"\"\"\nlate = 1\n",
			[]string{`:7: unknown key "d"`, `:10: unknown key "late"`}},
		{"quoted key", "foo.toml", good + "\"ima ge\" = 1\n",
			[]string{`:4: unknown key "ima ge"`}},
		{"syntax error", "foo.toml", "name = \"x\"\nimage = \"x\nexec = []\n",
			[]string{`foo.toml:2: `}},
		{"duplicate key", "foo.toml", good + "name = \"y\"\n",
			[]string{`foo.toml:4: `}},
		{"exec as string", "foo.toml", "name = \"x\"\nimage = \"x\"\nexec = \"/bin/sh -c x\"\n",
			[]string{`:3: key "exec" must be an array of strings, not a string`}},
		{"exec with integer", "foo.toml", "name = \"x\"\nimage = \"x\"\n\nexec = [\"a\", 1]\n",
			[]string{`:4: key "exec" must be an array of strings, not an array containing an integer`}},
		{"name as table", "foo.toml", "image = \"x\"\nexec = [\"x\"]\n[name]\n",
			[]string{`:3: key "name" must be a string, not a table`}},
		{"missing keys", "foo.toml", "name = \"x\"\n",
			[]string{`foo.toml: missing required key "image"`, `foo.toml: missing required key "exec"`}},
		{"invalid image", "foo.toml", "name = \"x\"\n\nimage = \"../etc\"\nexec = [\"x\"]\n",
			[]string{`:3: invalid image name "../etc"`}},
		{"invalid name", "foo.toml", "name = \"a\\nb\"\nimage = \"x\"\nexec = [\"x\"]\n",
			[]string{`:1: invalid name "a\nb"`}},
		{"empty exec", "foo.toml", "name = \"x\"\nimage = \"x\"\nexec = []\n",
			[]string{`:3: invalid exec: empty`}},
		{"bad file name", "Foo.toml", good,
			[]string{`Foo.toml: file name: invalid app id "Foo"`}},
		{"several at once", "foo.toml", "nmae = 1\nimage = 2\nexec = [\"x\"]\n",
			[]string{`:1: unknown key "nmae"`, `:2: key "image" must be a string, not an integer`}},

		// New optional keys: wrong types, at their lines.
		{"audio not a mode", "foo.toml", good + "\naudio = \"yes\"\n",
			[]string{`foo.toml:5: invalid value "yes" for audio: must be one of "playback", "full", "none"`}},
		{"audio as integer", "foo.toml", good + "\naudio = 1\n",
			[]string{`foo.toml:5: key "audio" must be`}},
		{"home as integer", "foo.toml", good + "home = 1\n",
			[]string{`foo.toml:4: key "home" must be a boolean, not an integer`}},
		{"x11 as boolean", "foo.toml", good + "x11 = false\n",
			[]string{`foo.toml:4: key "x11" must be a string, not a boolean`}},
		{"network as array", "foo.toml", good + "network = [\"host\"]\n",
			[]string{`foo.toml:4: key "network" must be a string, not an array`}},
		{"dbus as string", "foo.toml", good + "dbus = \"org.a.b\"\n",
			[]string{`foo.toml:4: key "dbus" must be an array of strings, not a string`}},
		{"dbus with integer", "foo.toml", good + "dbus = [\n  \"org.a.b\",\n  1,\n]\n",
			[]string{`foo.toml:4: key "dbus" must be an array of strings, not an array containing an integer`}},
		{"env as string", "foo.toml", good + "env = \"A=B\"\n",
			[]string{`foo.toml:4: key "env" must be a table of strings, not a string`}},
		{"env as array", "foo.toml", good + "env = [\"A=B\"]\n",
			[]string{`foo.toml:4: key "env" must be a table of strings, not an array`}},
		{"env as array of tables", "foo.toml", good + "[[env]]\nA = \"B\"\n",
			[]string{`foo.toml:4: key "env" must be a table of strings, not an array of tables`}},
		{"env values of wrong types", "foo.toml", good + "[env]\nA = \"ok\"\nB = 1\nC = true\n[env.D]\nE = \"x\"\n",
			[]string{`foo.toml:6: key "env.B" must be a string, not an integer`,
				`foo.toml:7: key "env.C" must be a string, not a boolean`,
				`foo.toml:8: key "env.D" must be a string, not a table`}},
		{"env inline value of wrong type", "foo.toml", good + "env = {A = [\"x\"]}\n",
			[]string{`foo.toml:4: key "env.A" must be a string, not an array`}},
		// New optional keys: invalid values, at their lines.
		{"x11 Nested", "foo.toml", good + "x11 = \"Nested\"\n",
			[]string{`foo.toml:4: invalid value "Nested" for x11: must be one of "host", "nested", "none"`}},
		{"x11 HOST", "foo.toml", good + "x11 = \"HOST\"\n",
			[]string{`foo.toml:4: invalid value "HOST" for x11: must be one of "host", "nested", "none"`}},
		// A nested display with the host's network is refused at the
		// network key, whichever key comes first.
		{"x11 nested with the host's network", "foo.toml", good + "x11 = \"nested\"\nnetwork = \"host\"\n",
			[]string{`foo.toml:5: conflicting keys: network = "host" with x11 = "nested"`}},
		{"host network before x11 nested", "foo.toml", good + "network = \"host\"\n\nx11 = \"nested\"\n",
			[]string{`foo.toml:4: conflicting keys: network = "host" with x11 = "nested"`}},
		{"network bridge", "foo.toml", good + "\nnetwork = \"bridge\"\n",
			[]string{`foo.toml:5: invalid value "bridge" for network: must be one of "host", "none"`}},
		{"dbus systemd1", "foo.toml", good + "dbus = [\"org.freedesktop.systemd1\"]\n",
			[]string{`foo.toml:4: invalid D-Bus name "org.freedesktop.systemd1": refused, systemd --user can start processes outside the container`}},
		{"dbus duplicate", "foo.toml", good + "dbus = [\"org.a.b\", \"org.a.b\"]\n",
			[]string{`foo.toml:4: invalid D-Bus name "org.a.b": listed twice`}},
		{"env refused, each at its line", "foo.toml", good + "[env]\nOK = \"1\"\nLD_PRELOAD = \"/x.so\"\n\"A=B\" = \"x\"\nDISPLAY = \":1\"\n",
			[]string{`foo.toml:7: invalid env "A=B": name may only contain`,
				`foo.toml:8: invalid env "DISPLAY": refused, the launcher sets it`,
				`foo.toml:6: invalid env "LD_PRELOAD": refused, LD_* variables`}},
		{"env empty name", "foo.toml", good + "env.\"\" = \"x\"\n",
			[]string{`foo.toml:4: invalid env: empty variable name`}},
		{"env NUL value", "foo.toml", good + "\n[env]\nA = \"a\\u0000b\"\n",
			[]string{`foo.toml:6: invalid env "A": value contains a NUL byte`}},
		{"new keys are still checked for unknown sub-keys", "foo.toml", good + "x11.y = \"z\"\n",
			[]string{`foo.toml:4: key "x11" must be a string, not a table`}},
		{"unknown key next to new ones", "foo.toml", good + "audio = true\nvideo = true\n",
			[]string{`foo.toml:5: unknown key "video"`}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			p := write(t, t.TempDir(), tc.file, tc.content)
			_, err := Load(p)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) {
				t.Errorf("got %d errors, want %d:\n%v", len(lines), len(tc.want), err)
			}
			for _, w := range tc.want {
				found := false
				for _, l := range lines {
					if strings.HasPrefix(l, filepath.Dir(p)+"/") && strings.Contains(l, w) {
						found = true
					}
				}
				if !found {
					t.Errorf("no error containing %q in:\n%v", w, err)
				}
			}
			var fe *FileError
			if !errors.As(err, &fe) || fe.File != p {
				t.Errorf("error %v is not a *FileError for %s", err, p)
			}
		})
	}
}

func TestLoadDir(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "b.toml", good)
	write(t, dir, "a.toml", good)
	write(t, dir, "bad.toml", "name = 1\n")
	write(t, dir, "c.toml.bak", "garbage")
	write(t, dir, "README", "garbage")
	write(t, dir, ".#a.toml", "garbage")
	if err := os.Mkdir(filepath.Join(dir, "d.toml"), 0o755); err != nil {
		t.Fatal(err)
	}

	apps, err := LoadDir(dir, Options{})
	var ids []string
	for _, a := range apps {
		ids = append(ids, a.ID)
	}
	if !slices.Equal(ids, []string{"a", "b"}) {
		t.Errorf("ids = %v, want [a b]", ids)
	}
	msg := err.Error()
	for _, w := range []string{
		filepath.Join(dir, "bad.toml") + `:1: key "name" must be a string`,
		filepath.Join(dir, "d.toml") + `: not a regular file`,
	} {
		if !strings.Contains(msg, w) {
			t.Errorf("error lacks %q:\n%s", w, msg)
		}
	}
	if strings.Contains(msg, "c.toml.bak") || strings.Contains(msg, "README") || strings.Contains(msg, ".#a.toml") {
		t.Errorf("non-.toml files were read:\n%s", msg)
	}
}

func TestLoadDirMissing(t *testing.T) {
	for _, opts := range []Options{{}, {RequireRootOwned: true}} {
		apps, err := LoadDir(filepath.Join(t.TempDir(), "nope"), opts)
		if len(apps) != 0 || err != nil {
			t.Errorf("LoadDir(missing, %+v) = %v, %v; want none, nil", opts, apps, err)
		}
	}
}

func TestRequireRootOwned(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create root- and other-owned files")
	}
	strict := Options{RequireRootOwned: true}

	// newDir returns a root-owned 0755 directory holding one good file.
	newDir := func(t *testing.T) (string, string) {
		dir := filepath.Join(t.TempDir(), "apps.d")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir, write(t, dir, "ok.toml", good)
	}

	t.Run("accepts root-owned", func(t *testing.T) {
		dir, _ := newDir(t)
		apps, err := LoadDir(dir, strict)
		if err != nil || len(apps) != 1 {
			t.Fatalf("LoadDir = %v, %v", apps, err)
		}
	})

	// A test's Owner replaces root, it does not add to it.
	t.Run("Owner stands in for root", func(t *testing.T) {
		dir, file := newDir(t)
		asUser := Options{RequireRootOwned: true, Owner: 65534}
		if _, err := LoadDir(dir, asUser); err == nil || !strings.Contains(err.Error(), "owned by uid 0, must be owned by uid 65534") {
			t.Errorf("root's files with Owner 65534: %v", err)
		}
		must(t, os.Chown(dir, 65534, 0))
		must(t, os.Chown(file, 65534, 0))
		if apps, err := LoadDir(dir, asUser); err != nil || len(apps) != 1 {
			t.Errorf("LoadDir = %v, %v", apps, err)
		}
	})

	for _, tc := range []struct {
		desc  string
		setup func(t *testing.T, dir, file string) string // returns the path to be named
		want  string
	}{
		{"file owned by nobody", func(t *testing.T, dir, file string) string {
			must(t, os.Chown(file, 65534, 0))
			return file
		}, "owned by uid 65534"},
		{"group-writable file", func(t *testing.T, dir, file string) string {
			must(t, os.Chmod(file, 0o664))
			return file
		}, "group- or world-writable"},
		{"world-writable file", func(t *testing.T, dir, file string) string {
			must(t, os.Chmod(file, 0o666))
			return file
		}, "group- or world-writable"},
		{"symlinked file", func(t *testing.T, dir, file string) string {
			target := write(t, t.TempDir(), "target.toml", good)
			link := filepath.Join(dir, "link.toml")
			must(t, os.Symlink(target, link))
			return link
		}, "symlink"},
		{"fifo", func(t *testing.T, dir, file string) string {
			p := filepath.Join(dir, "fifo.toml")
			must(t, mkfifo(p))
			return p
		}, "not a regular file"},
		{"dir owned by nobody", func(t *testing.T, dir, file string) string {
			must(t, os.Chown(dir, 65534, 65534))
			return dir
		}, "owned by uid 65534"},
		{"world-writable dir", func(t *testing.T, dir, file string) string {
			must(t, os.Chmod(dir, 0o777))
			return dir
		}, "group- or world-writable"},
		{"symlinked dir", func(t *testing.T, dir, file string) string {
			link := filepath.Join(t.TempDir(), "link.d")
			must(t, os.Symlink(dir, link))
			return link
		}, "is a symlink, refused"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			dir, file := newDir(t)
			named := tc.setup(t, dir, file)
			loadDir := dir
			if strings.HasSuffix(named, "link.d") {
				loadDir = named
			}
			apps, err := LoadDir(loadDir, strict)
			if err == nil || !strings.Contains(err.Error(), named+": ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("LoadDir error = %v; want one naming %s with %q", err, named, tc.want)
			}
			for _, a := range apps {
				if a.File == named {
					t.Errorf("refused file was loaded: %+v", a)
				}
			}
			// The user side does not care who owns what.
			if _, err := LoadDir(loadDir, Options{}); err != nil && !strings.Contains(tc.desc, "fifo") {
				t.Errorf("lenient LoadDir: %v", err)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestKeyLines(t *testing.T) {
	src := `# comment = 1
a = 1
"b.c" = 'x' # d = 2
e.f . g = """
h = 3
"""
i = [
  1, # ] j = 4
  [2, {k = 5}],
]
[t]
l = '''
'''
[[arr]]
m = "\"n = 1"
[ "q r" . s ]
u = {v = 1}
`
	kl := scanKeyLines(src)
	for key, want := range map[string]int{
		"a": 2, `"b.c"`: 3, "e": 4, "e.f": 4, "e.f.g": 4, "i": 7,
		"t": 11, "t.l": 12, "arr": 14, "arr.m": 15,
		`"q r"`: 16, `"q r".s`: 16, `"q r".s.u`: 17,
	} {
		if got := kl[key]; got != want {
			t.Errorf("line of %s = %d, want %d", key, got, want)
		}
	}
	for _, bogus := range []string{"d", "h", "j", "k", "n", "comment"} {
		if l, ok := kl[bogus]; ok {
			t.Errorf("%s recorded at line %d, but it is not a key", bogus, l)
		}
	}
}

// One message per file, however many problems it has; the directory's own
// problem stays apart.
func TestInvalidApps(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "ok.toml", good)
	write(t, dir, "two.toml", "name = \"\"\nimage = \"\"\nexec = [\"/x\"]\n")
	write(t, dir, "one.toml", "name = 1\n")
	_, err := LoadDir(dir, Options{})
	apps, other := InvalidApps(err)
	if other != nil || len(apps) != 2 || apps[0].ID != "one" || apps[1].ID != "two" {
		t.Fatalf("InvalidApps = %+v, %v", apps, other)
	}
	if !strings.HasPrefix(apps[1].Message, `app "two" has an invalid definition: `) || strings.Count(apps[1].Message, "two.toml") != 2 {
		t.Errorf("message %q, want both problems of two.toml in one", apps[1].Message)
	}
	_, other = InvalidApps(errors.Join(&FileError{File: dir, Err: errors.New("is a symlink, refused")}))
	if other == nil {
		t.Error("the directory's problem was taken for a definition's")
	}
}
