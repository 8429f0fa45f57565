package desktopfiles

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func fullEntry() Entry {
	return Entry{
		Name:           "Firefox (Work)",
		NameLoc:        map[string]string{"de": "Firefox (Arbeit)", "pt_BR": "Firefox (Trabalho)", "sr@latin": "Firefox (Posao)", "ja": "Firefox（仕事）", "fr_CA.UTF-8": "Firefox (Travail)"},
		GenericName:    "Web Browser",
		GenericNameLoc: map[string]string{"de": "Webbrowser", "fr": "Navigateur Web"},
		Comment:        "Browse the World Wide Web; 100% sandboxed",
		CommentLoc:     map[string]string{"de": "Im Internet surfen", "es": "Navegar por la web"},
		Icon:           "firefox",
		Categories:     []string{"Network", "WebBrowser", "X-Work"},
		Keywords:       []string{"internet", "www", "a;b", `back\slash`},
		MimeType:       []string{"text/html", "application/xhtml+xml", "x-scheme-handler/http", "x-scheme-handler/https"},
		StartupWMClass: "firefox-esr",
	}
}

var goldens = []struct {
	file string
	o    Ours
}{
	{"full.desktop", Ours{AppID: testAppID, Entry: fullEntry(), Launcher: testLauncher, HomeDir: "/home/alice/.local/share/nspawn-tray/homes/firefox-work"}},
	{"minimal.desktop", Ours{AppID: "xterm", Entry: Entry{Name: "XTerm"}, Launcher: testLauncher}},
	{"noname.desktop", Ours{AppID: "tool", Launcher: testLauncher}},
	// Every quoting rule at once: a launcher path with a space, a home
	// with quotes, $, `, %, a backslash and a leading space.
	{"quoting.desktop", Ours{AppID: "gimp", Entry: Entry{Name: " GIMP \\ 2.10 ", Icon: "/usr/share/pixmaps/gimp.png", Categories: []string{"Graphics", "2DGraphics", "RasterGraphics"}},
		Launcher: "/opt/nspawn tray/bin/nspawn-tray", HomeDir: "/home/bob/it's \"$HOME\" `100%` \\ dir"}},
}

func TestRenderGolden(t *testing.T) {
	for _, g := range goldens {
		t.Run(g.file, func(t *testing.T) {
			got := Render(g.o)
			p := filepath.Join("testdata", g.file)
			if *update {
				if err := os.WriteFile(p, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(p)
			if err != nil {
				t.Fatalf("%v (run go test -update to create)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Render differs from %s (go test -update rewrites it)\n--- got:\n%s\n--- want:\n%s", p, got, want)
			}
			if again := Render(g.o); !bytes.Equal(got, again) {
				t.Error("Render is not deterministic")
			}
		})
	}
}

// TestGoldenValid runs desktop-file-validate on every golden file: not a
// single error, warning or hint.
func TestGoldenValid(t *testing.T) {
	files, err := filepath.Glob("testdata/*.desktop")
	if err != nil || len(files) < len(goldens) {
		t.Fatalf("golden files: %v %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			validate(t, data, false)
		})
	}
}

func TestRenderShape(t *testing.T) {
	out := string(Render(goldens[0].o))
	for _, want := range []string{
		"\nExec=/usr/bin/nspawn-tray launch firefox-work\n",
		"\nTryExec=/usr/bin/nspawn-tray\n",
		"\nX-NspawnTray-App=firefox-work\n",
		"\nActions=stop;open-home;\n",
		"\n[Desktop Action stop]\nName=Stop all instances\nExec=/usr/bin/nspawn-tray stop --app firefox-work\n",
		"\n[Desktop Action open-home]\nName=Open home folder\nExec=xdg-open /home/alice/.local/share/nspawn-tray/homes/firefox-work\n",
		"\nCategories=Network;WebBrowser;X-Work;\n",
		"\nKeywords=internet;www;a\\;b;back\\\\slash;\n",
		"\nName[de]=Firefox (Arbeit)\nName[fr_CA.UTF-8]=Firefox (Travail)\nName[ja]=",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "%U") || strings.Contains(out, "%u") || strings.Contains(out, "%f") {
		t.Error("field code in output")
	}
	min := string(Render(goldens[1].o))
	if strings.Contains(min, "open-home") || !strings.Contains(min, "\nActions=stop;\n") {
		t.Errorf("open-home action without HomeDir:\n%s", min)
	}
	// The Exec lines of the quoting case, parsed back, are the arguments.
	p, err := Parse(Render(goldens[3].o))
	if err != nil {
		t.Fatal(err)
	}
	if args := SplitExec(p.Exec); !reflect.DeepEqual(args, []string{"/opt/nspawn tray/bin/nspawn-tray", "launch", "gimp"}) {
		t.Errorf("Exec args = %q", args)
	}
}

func TestExecLineRoundTrip(t *testing.T) {
	for _, args := range [][]string{
		{"/usr/bin/nspawn-tray", "launch", "a"},
		{"/opt/a b/x", "it's", `"q"`, "$HOME", "`id`", `back\slash`, "100%", "%f", "", "a;b", "~", "#", "*?<>|&()"},
	} {
		line := execLine(args...)
		// Through the value escaping and back, as a reader sees it.
		got := SplitExec(unescape([]byte(escape(line, false))))
		if !reflect.DeepEqual(got, args) {
			t.Errorf("execLine(%q) = %q, splits back to %q", args, line, got)
		}
	}
}

// TestRoundTrip: Parse(Render(o)) gives back o.Entry for sanitized entries.
func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		e    Entry
	}{
		{"full", fullEntry()},
		{"name only", Entry{Name: "X"}},
		{"escapes", Entry{Name: `a\b \s \n \\ ; = [x] # not a comment`, Comment: `trailing backslash\`, Keywords: []string{`\;`, ";", `\`, "a b"}}},
		{"percent", Entry{Name: "%f %u %k %%", Comment: "100%"}},
		{"unicode", Entry{Name: "Ünïcödé 🦊", NameLoc: map[string]string{"ar": "فايرفوكس", "he": "פיירפוקס", "zh_TW": "火狐"}, GenericName: "זה", Keywords: []string{"ñ", "日本"}}},
		{"audio", Entry{Name: "Player", Categories: []string{"AudioVideo", "Audio", "Player"}, MimeType: []string{"audio/mpeg", "message/rfc822"}}},
		{"wmclass", Entry{Name: "W", StartupWMClass: "Some Class.Name_1"}},
		{"max", Entry{Name: strings.Repeat("n", maxName), Comment: strings.Repeat("é", maxComment/2), Keywords: []string{strings.Repeat("k", maxListItem)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if s := Sanitize(tc.e); !reflect.DeepEqual(s, tc.e) {
				t.Fatalf("table entry not sanitized:\n got %#v\nwant %#v", s, tc.e)
			}
			out := Render(Ours{AppID: "app", Entry: tc.e, Launcher: testLauncher, HomeDir: "/h"})
			p, err := Parse(out)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(p.Entry, tc.e) {
				t.Errorf("round trip:\n got %#v\nwant %#v\nfile:\n%s", p.Entry, tc.e, out)
			}
			if p.Type != "Application" || p.Exec != "/usr/bin/nspawn-tray launch app" || p.TryExec != testLauncher {
				t.Errorf("parsed back %q %q %q", p.Type, p.Exec, p.TryExec)
			}
			checkOurs(t, out, "app")
			validate(t, out, true)
		})
	}
}

func TestParseOwner(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"[Desktop Entry]\nX-NspawnTray-App=a\n", "a"},
		{"# c\n\n[Desktop Entry]\nName=x\nX-NspawnTray-App = b\n", "b"},
		{"[Desktop Entry]\nName=x\n", ""},
		{"[Desktop Entry]\nX-NspawnTray-App[de]=a\n", ""},
		{"[Other]\nX-NspawnTray-App=a\n[Desktop Entry]\nX-NspawnTray-App=a\n", ""},
		{"[Desktop Entry]\nName=x\n[Desktop Action a]\nX-NspawnTray-App=a\n", ""},
		{"X-NspawnTray-App=a\n", ""},
		{"[Desktop Entry]\nX-NspawnTray-App=\xff\n", ""},
		{"", ""},
	} {
		if got := ParseOwner([]byte(tc.in)); got != tc.want {
			t.Errorf("ParseOwner(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
