package desktopfiles

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// hostile is a corpus of image desktop files written by an attacker who
// controls the container image.
func hostile() []struct{ name, data string } {
	var locales strings.Builder
	locales.WriteString("[Desktop Entry]\nType=Application\nName=many\nExec=x\n")
	for i := range 1000 {
		fmt.Fprintf(&locales, "Name[%c%c%c]=evil %d\n", 'a'+i/676%26, 'a'+i/26%26, 'a'+i%26, i)
	}
	big := "[Desktop Entry]\nName=big\nExec=x\n" + strings.Repeat("X-Pad=evil evil evil evil evil evil evil evil\n", 100<<10/46)
	return []struct{ name, data string }{
		{"shell exec", "[Desktop Entry]\nType=Application\nExec=sh -c \"rm -rf ~\"; Name=x\nName=x\nTryExec=sh -c \"rm -rf ~\"\n"},
		{"escaped newline injection", "[Desktop Entry]\nName=x\\n[Desktop Entry]\\nExec=evil\\nX-NspawnTray-App=evil\nExec=app\n"},
		{"escaped newline in comment", "[Desktop Entry]\nName=x\nComment=c\\r\\nExec=evil\\n\\n[Desktop Action stop]\\nExec=evil\nExec=app\n"},
		{"field codes in name", "[Desktop Entry]\nName=%f %u %k %% %F\nExec=app %f\n"},
		{"huge name", "[Desktop Entry]\nName=" + strings.Repeat("N", 10000) + "\nExec=app\n"},
		{"non-utf8", "[Desktop Entry]\nName=\xff\xfeevil\xc3\nComment=ok\xc0\xaf\nName[de]=gut\nExec=app\n"},
		{"icon traversal", "[Desktop Entry]\nName=x\nIcon=../../../../etc/shadow\nExec=app\n"},
		{"icon absolute", "[Desktop Entry]\nName=x\nIcon=/etc/shadow\nExec=app\n"},
		{"icon command", "[Desktop Entry]\nName=x\nIcon=$(id)\nExec=app\n"},
		{"icon newline", "[Desktop Entry]\nName=x\nIcon=foo\\nExec=evil\nExec=app\n"},
		{"categories injection", "[Desktop Entry]\nName=x\nCategories=;Evil\\nX=1;Network;Screensaver;Audio;\nExec=app\n"},
		{"many locales", locales.String()},
		{"bad locales", "[Desktop Entry]\nName=x\nName[../../evil]=evil\nName[de\\nExec=evil]=evil\nName[de]=evil\\nExec=evil\nExec=app\n"},
		{"mimetype garbage", "[Desktop Entry]\nName=x\nMimeType=evil;text/html\\nExec=evil;../x/y;a/b/c;foo/bar;image/png;x-scheme-handler/evil$(id);\nExec=app\n"},
		{"100 KB", big},
		{"owner key and actions", "[Desktop Entry]\nName=x\nX-NspawnTray-App=evil\nActions=evil;\nExec=app\n[Desktop Action evil]\nName=evil\nExec=rm -rf ~\n"},
		{"second main group", "[Desktop Entry]\nName=x\nExec=app\n[Desktop Entry]\nExec=evil\nName=evil\n"},
		{"nul and controls", "[Desktop Entry]\nName=a\x00b\x1b]0;evil\x07\nStartupWMClass=w\x00\x1b\ttab é\nKeywords=\x01;\x7f;k\\tk;\nExec=app\n"},
		{"bidi spoof", "[Desktop Entry]\nName=\u202eexe.txt\u202c\nExec=app\n"},
		{"lone group", "[Desktop Entry]"},
		{"wmclass", "[Desktop Entry]\nName=x\nStartupWMClass=" + strings.Repeat("W", 500) + "\nExec=app\n"},
	}
}

func TestHostileCorpus(t *testing.T) {
	for _, tc := range hostile() {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse([]byte(tc.data))
			if err != nil {
				t.Logf("Parse: %v (falling back to the app definition alone)", err)
				p = Parsed{}
			}
			e := Sanitize(Override(p.Entry, Entry{}))
			out := Render(Ours{AppID: testAppID, Entry: e, Launcher: testLauncher, HomeDir: "/home/u/.local/share/nspawn-tray/homes/" + testAppID})
			checkOurs(t, out, testAppID)
			for _, l := range strings.Split(string(out), "\n") {
				low := strings.ToLower(l)
				if !strings.Contains(low, "evil") && !strings.Contains(low, "rm -rf") {
					continue
				}
				k, _, _, _ := splitKey([]byte(l))
				if k != "Name" && k != "GenericName" && k != "Comment" {
					t.Errorf("hostile text outside a display string: %q", l)
				}
			}
			back, err := Parse(out)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back.Entry, withName(e, testAppID)) {
				t.Errorf("rendered entry does not parse back:\n got %#v\nwant %#v", back.Entry, e)
			}
			if len(out) > 24<<10 {
				t.Errorf("output is %d bytes", len(out))
			}
			if n := strings.Count(string(out), "\nName["); n > maxLocales {
				t.Errorf("%d Name translations", n)
			}
			validate(t, out, true)
		})
	}
}

// withName is e as Render writes it: Name falls back to the app ID.
func withName(e Entry, appID string) Entry {
	if e.Name == "" {
		e.Name = appID
	}
	return e
}
