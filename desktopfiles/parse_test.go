package desktopfiles

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

const firefoxDesktop = `# A typical file
[Desktop Entry]
Version=1.0
Name=Firefox ESR
Name[de]=Firefox ESR (de)
Name[pt_BR] = Firefox ESR (br)
Name[sr@latin]=Firefox\sESR
GenericName=Web Browser
GenericName[fr]=Navigateur Web
Comment=Browse the World Wide Web
Comment[de]=Im Internet surfen
Keywords=Internet;WWW;Browser;Web;Explorer;a\;b;
Keywords[de]=Netz;
Exec=/usr/lib/firefox-esr/firefox-esr %u
TryExec=firefox-esr
Icon=firefox-esr
Icon[de]=other
Terminal=false
Type=Application
MimeType=text/html;text/xml;application/xhtml+xml;x-scheme-handler/http;
StartupNotify=true
StartupWMClass=Firefox-esr
Categories=Network;WebBrowser;
NoDisplay=false
Name=Duplicate ignored
Actions=new-window;

[Desktop Action new-window]
Name=New Window
Exec=/usr/lib/firefox-esr/firefox-esr --new-window %u

[Desktop Entry]
Name=second group ignored
`

func TestParse(t *testing.T) {
	p, err := Parse([]byte(firefoxDesktop))
	if err != nil {
		t.Fatal(err)
	}
	want := Parsed{
		Entry: Entry{
			Name:           "Firefox ESR",
			NameLoc:        map[string]string{"de": "Firefox ESR (de)", "pt_BR": "Firefox ESR (br)", "sr@latin": "Firefox ESR"},
			GenericName:    "Web Browser",
			GenericNameLoc: map[string]string{"fr": "Navigateur Web"},
			Comment:        "Browse the World Wide Web",
			CommentLoc:     map[string]string{"de": "Im Internet surfen"},
			Icon:           "firefox-esr",
			Categories:     []string{"Network", "WebBrowser"},
			Keywords:       []string{"Internet", "WWW", "Browser", "Web", "Explorer", "a;b"},
			MimeType:       []string{"text/html", "text/xml", "application/xhtml+xml", "x-scheme-handler/http"},
			StartupWMClass: "Firefox-esr",
		},
		Exec:    "/usr/lib/firefox-esr/firefox-esr %u",
		TryExec: "firefox-esr",
		Type:    "Application",
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("Parse:\n got %#v\nwant %#v", p, want)
	}
}

func TestParseDetails(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     Parsed
		err      error
	}{
		{"crlf and blanks", "\r\n  [Desktop Entry]  \r\n  Name = a b \r\nHidden=true\r\nNoDisplay=true\r\n",
			Parsed{Entry: Entry{Name: "a b "}, Hidden: true, NoDisplay: true}, nil},
		{"escapes", `[Desktop Entry]` + "\n" + `Name=\s\n\t\r\\\q\;\`, Parsed{Entry: Entry{Name: " \n\t\r\\\\q\\;\\"}}, nil},
		{"list escapes", "[Desktop Entry]\nKeywords=a\\;b;;\\s;c\\\\;d", Parsed{Entry: Entry{Keywords: []string{"a;b", " ", "c\\", "d"}}}, nil},
		{"non-utf8 key skipped", "[Desktop Entry]\nName=ok\nComment=\xff\xfe\nComment[de]=gut\nIcon=i\n",
			Parsed{Entry: Entry{Name: "ok", CommentLoc: map[string]string{"de": "gut"}, Icon: "i"}}, nil},
		{"bad lines skipped", "[Desktop Entry]\njunk\n=x\nNa me=x\nName[]=x\nName[a[b]]=x\nName=ok\n[broken\nIcon=i\n",
			Parsed{Entry: Entry{Name: "ok", Icon: "i"}}, nil},
		{"keys before group ignored", "Name=no\n[Desktop Entry]\nName=yes\n", Parsed{Entry: Entry{Name: "yes"}}, nil},
		{"other group first", "[X]\nName=no\n[Desktop Entry]\nName=yes\n", Parsed{Entry: Entry{Name: "yes"}}, nil},
		{"no group", "Name=x\n", Parsed{}, ErrNoEntry},
		{"empty", "", Parsed{}, ErrNoEntry},
		{"too large", "[Desktop Entry]\n" + strings.Repeat("#", MaxParseSize), Parsed{}, ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse([]byte(tc.in))
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if !reflect.DeepEqual(p, tc.want) {
				t.Errorf("\n got %#v\nwant %#v", p, tc.want)
			}
		})
	}
}

func TestSanitize(t *testing.T) {
	long := strings.Repeat("é", 200) // 400 bytes
	in := Entry{
		Name:           " \tFoo\x00\x1b[31m\nBar\u202e\ufeff \xff",
		NameLoc:        map[string]string{"de": "Foo de", "EN": "bad", "de_DE.UTF-8@euro": "ok", "../x": "bad", "x": "bad", "fr": "  ", "verylonglocale_XX": "bad"},
		GenericName:    long,
		Comment:        "foo\nbar",
		CommentLoc:     nil,
		Icon:           "/usr/share/pixmaps/foo.png",
		Categories:     []string{"Network", "Evil;X=1", "Screensaver", "Network", "Audio", "X-", "X-Mine", "Application", "Foo", ""},
		Keywords:       []string{" a ", "a", "", "b\x00c", strings.Repeat("k", 100)},
		MimeType:       []string{"text/html", "TEXT/html", "garbage", "foo/bar", "message/partial", "message/rfc822", "x-scheme-handler/https", "image/png;x", "example/x"},
		StartupWMClass: "Fire fox\x00é\t",
	}
	got := Sanitize(in)
	want := Entry{
		Name:           "Foo[31m Bar",
		NameLoc:        map[string]string{"de": "Foo de", "de_DE.UTF-8@euro": "ok"},
		GenericName:    strings.Repeat("é", 64),
		Comment:        "foo bar",
		Icon:           "foo",
		Categories:     []string{"Network", "AudioVideo", "Audio", "X-Mine"},
		Keywords:       []string{"a", "bc", strings.Repeat("k", 64)},
		MimeType:       []string{"text/html", "message/rfc822", "x-scheme-handler/https"},
		StartupWMClass: "Fire fox",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Sanitize:\n got %#v\nwant %#v", got, want)
	}
	if again := Sanitize(got); !reflect.DeepEqual(again, got) {
		t.Errorf("not idempotent: %#v", again)
	}
	// Comment equal to Name goes, with its translations; so do
	// translations of an empty GenericName.
	got = Sanitize(Entry{Name: "Foo", Comment: "foo", CommentLoc: map[string]string{"de": "x"}, GenericNameLoc: map[string]string{"de": "y"}})
	if got.Comment != "" || got.CommentLoc != nil || got.GenericNameLoc != nil {
		t.Errorf("got %#v", got)
	}
	// At most 64 locales, the first ones in sorted order.
	loc := map[string]string{}
	for i := range 200 {
		loc[fmt.Sprintf("%c%c", 'a'+i/26, 'a'+i%26)] = "x"
	}
	got = Sanitize(Entry{Name: "n", NameLoc: loc})
	if len(got.NameLoc) != maxLocales || got.NameLoc["aa"] == "" || got.NameLoc["cl"] == "" || got.NameLoc["cm"] != "" {
		t.Errorf("locales kept: %d", len(got.NameLoc))
	}
	// List caps.
	var many []string
	for i := range 100 {
		many = append(many, fmt.Sprintf("X-C%d", i))
	}
	if got := Sanitize(Entry{Categories: many, Keywords: many}); len(got.Categories) != maxCategories || len(got.Keywords) != maxKeywords {
		t.Errorf("caps: %d %d", len(got.Categories), len(got.Keywords))
	}
}

func TestSanitizeIcon(t *testing.T) {
	for in, want := range map[string]string{
		"firefox":                         "firefox",
		"org.gnome.Foo":                   "org.gnome.Foo",
		"foo.png":                         "foo",
		"foo.SVG":                         "foo",
		"foo.png.svg":                     "foo",
		"/usr/share/pixmaps/foo.png":      "foo",
		"/usr/share/icons/org.x.Foo.svgz": "org.x.Foo",
		"/etc/shadow":                     "shadow",
		"/usr/share/pixmaps/.hidden.png":  "",
		"/usr/share/pixmaps/":             "",
		"/":                               "",
		"../../../../etc/shadow":          "",
		"icons/foo":                       "",
		"a..b":                            "",
		"..":                              "",
		"$(id)":                           "",
		"`id`":                            "",
		"foo bar":                         "",
		"-foo":                            "",
		"":                                "",
		"f\x00oo":                         "foo",
		"ﬁrefox":                          "",
		strings.Repeat("a", 128):          strings.Repeat("a", 128),
		strings.Repeat("a", 129):          "",
	} {
		if got := Sanitize(Entry{Icon: in}).Icon; got != want {
			t.Errorf("icon %q -> %q, want %q", in, got, want)
		}
	}
}

func TestOverride(t *testing.T) {
	img := Entry{
		Name: "Firefox ESR", NameLoc: map[string]string{"de": "Firefox ESR"},
		Comment: "Browse", CommentLoc: map[string]string{"de": "Surfen"},
		Icon: "firefox-esr", Categories: []string{"Network"},
	}
	got := Override(img, Entry{Name: "Work Browser", Icon: "work", Keywords: []string{"k"}})
	want := Entry{
		Name:    "Work Browser", // the image's translations of "Firefox ESR" go
		Comment: "Browse", CommentLoc: map[string]string{"de": "Surfen"},
		Icon: "work", Categories: []string{"Network"}, Keywords: []string{"k"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Override:\n got %#v\nwant %#v", got, want)
	}
	got = Override(img, Entry{NameLoc: map[string]string{"fr": "F"}, StartupWMClass: "w", MimeType: []string{"a/b"}})
	if got.Name != "Firefox ESR" || !reflect.DeepEqual(got.NameLoc, map[string]string{"fr": "F"}) || got.StartupWMClass != "w" || len(got.MimeType) != 1 {
		t.Errorf("Override: %#v", got)
	}
	if got := Override(img, Entry{}); !reflect.DeepEqual(got, img) {
		t.Errorf("empty override changed the entry: %#v", got)
	}
}

func TestMatchesExec(t *testing.T) {
	for _, tc := range []struct {
		exec, argv0 string
		want        bool
	}{
		{"firefox %u", "/usr/bin/firefox", true},
		{"/usr/bin/firefox %u", "/usr/bin/firefox", true},
		{"/usr/lib/firefox/firefox %u", "firefox", true},
		{"/usr/lib/firefox/firefox", "/usr/bin/firefox", true}, // same base name
		{"firefox-esr %u", "firefox", false},
		{"%u firefox", "firefox", true},
		{`"/opt/My App/run" --x`, "/opt/My App/run", true},
		{`"/opt/My App/run"`, "run", true},
		{`"/opt/a\"b" x`, `/opt/a"b`, true},
		{"env FOO=1 BAR=2 gimp %U", "gimp", true},
		{"env -u X -i A=b /usr/bin/gimp", "/usr/bin/gimp", true},
		{"/usr/bin/env LANG=C gimp", "gimp", true},
		{"env", "env", false},
		{"env A=1", "A=1", false},
		{"sh -c \"rm -rf ~\"", "rm", false},
		{"sh -c \"gimp\"", "gimp", false},
		{"", "gimp", false},
		{"gimp", "", false},
		{`""`, ".", false},
		{"/", "/", true}, // identical strings
		{"/usr/bin/", "/opt/bin/", false},
		{"100%%", "100%", true},
	} {
		if got := MatchesExec(Parsed{Exec: tc.exec}, tc.argv0); got != tc.want {
			t.Errorf("MatchesExec(%q, %q) = %v, want %v", tc.exec, tc.argv0, got, tc.want)
		}
	}
}
