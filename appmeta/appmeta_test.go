package appmeta

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/nspawn-tray/nspawn-tray/desktopfiles"

	"github.com/nspawn-tray/nspawn-tray/icons"
)

const hostSecret = "HOSTSECRET"

// tree writes files (path -> content) below root, creating directories.
func tree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for rel, content := range files {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func pngOf(t *testing.T, w, h int, noise bool) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewSource(int64(w*h + 1)))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.NRGBA{uint8(x), uint8(y), 0x40, 0xff}
			if noise {
				c = color.NRGBA{uint8(r.Intn(256)), uint8(r.Intn(256)), uint8(r.Intn(256)), uint8(r.Intn(256))}
			}
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.NoCompression}
	if err := enc.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

const tinySVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16"><rect width="16" height="16"/></svg>`

func desktop(name, exec, icon string, extra ...string) string {
	s := "[Desktop Entry]\nType=Application\nName=" + name + "\nExec=" + exec + "\n"
	if icon != "" {
		s += "Icon=" + icon + "\n"
	}
	for _, e := range extra {
		s += e + "\n"
	}
	return s
}

// strs collects every string and byte slice reachable from v.
func strs(v reflect.Value, out *[][]byte) {
	switch v.Kind() {
	case reflect.String:
		*out = append(*out, []byte(v.String()))
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			*out = append(*out, v.Bytes())
			return
		}
		for i := 0; i < v.Len(); i++ {
			strs(v.Index(i), out)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			strs(v.Field(i), out)
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			strs(k, out)
			strs(v.MapIndex(k), out)
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			strs(v.Elem(), out)
		}
	}
}

// assertClean fails if any string or byte in md (or err) contains one of bad.
func assertClean(t *testing.T, md Metadata, err error, bad ...string) {
	t.Helper()
	var all [][]byte
	strs(reflect.ValueOf(md), &all)
	if err != nil {
		all = append(all, []byte(err.Error()))
	}
	for _, b := range all {
		for _, s := range bad {
			if bytes.Contains(b, []byte(s)) {
				t.Fatalf("returned data contains %q: %q", s, b)
			}
		}
	}
}

// extract runs Extract with a deadline, so that a blocking open (FIFO)
// fails the test instead of hanging it.
func extract(t *testing.T, imageDir, argv0 string, opts Options) (Metadata, error) {
	t.Helper()
	type res struct {
		md  Metadata
		err error
	}
	ch := make(chan res, 1)
	go func() {
		md, err := Extract(imageDir, argv0, opts)
		ch <- res{md, err}
	}()
	select {
	case r := <-ch:
		return r.md, r.err
	case <-time.After(20 * time.Second):
		t.Fatal("Extract blocked")
		return Metadata{}, nil
	}
}

// hostile builds base/outside (host content with the secret, shaped to be
// accepted if it were ever read) and base/image, whose links and names all
// aim at it. It returns the image dir and the outside dir.
func hostile(t *testing.T) (string, string) {
	t.Helper()
	base := t.TempDir()
	outside := filepath.Join(base, "outside")
	image := filepath.Join(base, "image")
	secretSVG := `<svg xmlns="http://www.w3.org/2000/svg"><title>` + hostSecret + `</title></svg>`
	tree(t, outside, map[string]string{
		"secret":                 desktop(hostSecret, "/usr/bin/app", "app", "Comment="+hostSecret),
		"secret.desktop":         desktop(hostSecret, "/usr/bin/app", "app"),
		"evil.svg":               secretSVG,
		"evil.png":               hostSecret,
		"shadow.svg":             secretSVG,
		"apps/app.svg":           secretSVG,
		"apps/app.png":           hostSecret,
		"applications/x.desktop": desktop(hostSecret, "/usr/bin/app", "app"),
	})
	if err := os.MkdirAll(image, 0o755); err != nil {
		t.Fatal(err)
	}
	apps := filepath.Join(image, applicationsDir)
	// Absolute link, and a relative one with more ".." than the image is deep.
	symlink(t, filepath.Join(outside, "secret"), filepath.Join(apps, "evil.desktop"))
	symlink(t, strings.Repeat("../", 20)+strings.TrimPrefix(filepath.Join(outside, "secret"), "/"),
		filepath.Join(apps, "evil2.desktop"))
	symlink(t, "/etc/shadow", filepath.Join(apps, "shadow.desktop"))
	// An icon dir and an icon file that are links to the host.
	symlink(t, filepath.Join(outside, "apps"), filepath.Join(image, hicolorDir, "scalable/apps"))
	symlink(t, filepath.Join(outside, "evil.png"), filepath.Join(image, hicolorDir, "16x16/apps/app.png"))
	symlink(t, filepath.Join(outside, "evil.svg"), filepath.Join(image, pixmapsDir, "app.svg"))
	// A FIFO desktop file, sorted first: opening it for reading would block.
	if err := unix.Mkfifo(filepath.Join(apps, "000-fifo.desktop"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(image, pixmapsDir, "app.xpm"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A 50 MB sparse icon.
	big := filepath.Join(image, hicolorDir, "48x48/apps/app.png")
	if err := os.MkdirAll(filepath.Dir(big), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(50 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return image, outside
}

// The host paths of the links exist nowhere inside the image, so nothing
// must be found; in particular no host content is returned.
func TestExtractHostileLinks(t *testing.T) {
	image, outside := hostile(t)
	md, err := extract(t, image, "/usr/bin/app", Options{})
	if err != nil {
		t.Fatalf("Extract: %v", err)
	}
	assertClean(t, md, err, hostSecret)
	if md.DesktopID != "" {
		t.Fatalf("found desktop file %q through a host link: %+v", md.DesktopID, md)
	}
	for _, name := range []string{"evil.desktop", "evil2.desktop", "shadow.desktop", "000-fifo.desktop"} {
		md, err := extract(t, image, "/usr/bin/app", Options{DesktopFile: name})
		if err == nil {
			t.Fatalf("%s: no error, got %+v", name, md)
		}
		assertClean(t, md, err, hostSecret)
	}
	// The outside files really were there to be stolen.
	if b, err := os.ReadFile(filepath.Join(outside, "secret")); err != nil || !bytes.Contains(b, []byte(hostSecret)) {
		t.Fatalf("test setup: %v", err)
	}
}

// A legitimate desktop file in the hostile image: its icons are all links
// out, a FIFO or 50 MB, so none may be returned.
func TestExtractHostileIcons(t *testing.T) {
	image, _ := hostile(t)
	tree(t, image, map[string]string{
		applicationsDir + "/good.desktop": desktop("Good", "/usr/bin/app", "app"),
	})
	md, err := extract(t, image, "/usr/bin/app", Options{})
	if err != nil {
		t.Fatalf("Extract: %v", err)
	}
	assertClean(t, md, err, hostSecret)
	if md.DesktopID != "good" {
		t.Fatalf("DesktopID %q, want good", md.DesktopID)
	}
	if len(md.Icons) != 0 {
		t.Fatalf("icons returned from links/FIFO/huge files: %+v", md.Icons)
	}
	// Same with a real icon present too: only it is returned.
	tree(t, image, map[string]string{pixmapsDir + "/app.png": string(pngOf(t, 32, 32, false))})
	md, err = extract(t, image, "/usr/bin/app", Options{})
	if err != nil {
		t.Fatalf("Extract: %v", err)
	}
	assertClean(t, md, err, hostSecret)
	if len(md.Icons) != 1 || md.Icons[0].SizeDir != "32x32" || md.Icons[0].Ext != icons.FormatPNG || md.Icons[0].Name != "app" {
		t.Fatalf("icons %+v, want the one pixmaps 32x32 PNG", md.Icons)
	}
}

// Icon= with a path (traversal or absolute) never reads outside the image,
// and only a plain name survives into Entry.Icon.
func TestExtractIconTraversal(t *testing.T) {
	for _, icon := range []string{
		"../../../../outside/evil",
		"../../../../../../../../etc/shadow",
		"../../../../outside/shadow",
		"/etc/shadow",
		"..",
		".hidden",
	} {
		t.Run(icon, func(t *testing.T) {
			image, outside := hostile(t)
			// Also where a relative walk from pixmaps would land if ".."
			// were honoured beyond the image root.
			_ = outside
			tree(t, image, map[string]string{
				applicationsDir + "/t.desktop": desktop("T", "/usr/bin/t", icon),
			})
			md, err := extract(t, image, "/usr/bin/t", Options{})
			if err != nil {
				t.Fatalf("Extract: %v", err)
			}
			assertClean(t, md, err, hostSecret)
			if md.DesktopID != "t" {
				t.Fatalf("DesktopID %q", md.DesktopID)
			}
			if strings.ContainsAny(md.Entry.Icon, "/") || md.Entry.Icon == ".." || md.Entry.Icon == "." {
				t.Fatalf("Entry.Icon %q is a path", md.Entry.Icon)
			}
			for _, ic := range md.Icons {
				if !validIconName(ic.Name) {
					t.Fatalf("icon name %q", ic.Name)
				}
			}
		})
	}
}

func TestExtractNonUTF8AndExecInjection(t *testing.T) {
	image := t.TempDir()
	tree(t, image, map[string]string{
		applicationsDir + "/bad.desktop": "[Desktop Entry]\nType=Application\nName=Bad\xff\xfe\xc0name\nName[de]=\xffDE\nComment=ok \x1b[31m\nGenericName=\xed\xa0\x80\nExec=/usr/bin/bad --x=\";rm -rf / INJECTED\" %f $(INJECTED)\nTryExec=INJECTED\nIcon=bad\n",
		pixmapsDir + "/bad.svg":          tinySVG,
	})
	md, err := extract(t, image, "/usr/bin/bad", Options{})
	if err != nil {
		t.Fatalf("Extract: %v", err)
	}
	assertClean(t, md, err, "INJECTED", "rm -rf", "\x1b")
	var all [][]byte
	strs(reflect.ValueOf(md.Entry), &all)
	for _, b := range all {
		if !utf8.Valid(b) {
			t.Fatalf("Entry contains invalid UTF-8 %q", b)
		}
	}
	if md.DesktopID != "bad" || len(md.Icons) != 1 {
		t.Fatalf("DesktopID %q Name %q icons %d, want bad with 1 icon", md.DesktopID, md.Entry.Name, len(md.Icons))
	}
	// The same file named explicitly: either an error or a clean entry.
	md, err = extract(t, image, "/nothing", Options{DesktopFile: "bad.desktop"})
	assertClean(t, md, err, "INJECTED", "rm -rf", "\x1b")
}

func TestExtractExecMatching(t *testing.T) {
	image := t.TempDir()
	tree(t, image, map[string]string{
		applicationsDir + "/a-other.desktop":   desktop("Other", "/usr/bin/other %U", "other"),
		applicationsDir + "/b-hidden.desktop":  desktop("Hidden", "/usr/bin/app", "app", "NoDisplay=true"),
		applicationsDir + "/b-hidden2.desktop": desktop("Hidden2", "/usr/bin/app", "app", "Hidden=true"),
		applicationsDir + "/c-app.desktop":     desktop("App", "/usr/bin/app --flag %F", "app"),
		applicationsDir + "/d-app.desktop":     desktop("App too late", "/usr/bin/app", "app"),
		applicationsDir + "/not-desktop.txt":   desktop("Txt", "/usr/bin/app", "app"),
		applicationsDir + "/.e-dot.desktop":    desktop("Dot", "/usr/bin/app", "app"),
	})
	md, err := extract(t, image, "/usr/bin/app", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if md.DesktopID != "c-app" || md.Entry.Name != "App" {
		t.Fatalf("chose %q (%q), want c-app", md.DesktopID, md.Entry.Name)
	}
	md, err = extract(t, image, "/usr/bin/other", Options{})
	if err != nil || md.DesktopID != "a-other" {
		t.Fatalf("other: %q, %v", md.DesktopID, err)
	}
	// No match: not an error, empty metadata.
	md, err = extract(t, image, "/usr/bin/nothing", Options{})
	if err != nil || md.DesktopID != "" || !reflect.DeepEqual(md.Entry, Metadata{}.Entry) || md.Icons != nil {
		t.Fatalf("no match: %+v, %v", md, err)
	}
	// Explicit desktop file wins even though its Exec differs, and even
	// if NoDisplay.
	md, err = extract(t, image, "/usr/bin/app", Options{DesktopFile: "a-other.desktop"})
	if err != nil || md.DesktopID != "a-other" || md.Entry.Name != "Other" {
		t.Fatalf("explicit: %+v, %v", md, err)
	}
	md, err = extract(t, image, "/usr/bin/app", Options{DesktopFile: "b-hidden.desktop"})
	if err != nil || md.DesktopID != "b-hidden" {
		t.Fatalf("explicit NoDisplay: %+v, %v", md, err)
	}
	// Explicit but missing: error.
	if _, err := extract(t, image, "/usr/bin/app", Options{DesktopFile: "missing.desktop"}); err == nil {
		t.Fatal("missing named desktop file: no error")
	}
	// Invalid ids are refused before any read.
	for _, id := range []string{"../x.desktop", "a/b.desktop", "/etc/x.desktop", ".desktop", ".x.desktop",
		"x.desktop/", "x", "x.desktop\x00", "x.desktop\n", strings.Repeat("a", 129) + ".desktop", "-x.desktop", "x y.desktop"} {
		_, err := extract(t, image, "/usr/bin/app", Options{DesktopFile: id})
		if !errors.Is(err, desktopfiles.ErrInvalidFileID) {
			t.Errorf("DesktopFile %q: err %v, want desktopfiles.ErrInvalidFileID", id, err)
		}
	}
}

func TestExtractNoApplicationsDir(t *testing.T) {
	image := t.TempDir()
	md, err := extract(t, image, "/usr/bin/app", Options{})
	if err != nil || !reflect.DeepEqual(md, Metadata{Sources: []string{applicationsDir}}) {
		t.Fatalf("empty image: %+v, %v", md, err)
	}
	// applications is a file, or a link loop: still just nothing found.
	tree(t, image, map[string]string{"usr/share/applications": "x"})
	if md, err := extract(t, image, "/usr/bin/app", Options{}); err != nil || md.DesktopID != "" {
		t.Fatalf("applications is a file: %+v, %v", md, err)
	}
	image2 := t.TempDir()
	symlink(t, "/usr/share/applications", filepath.Join(image2, applicationsDir))
	if md, err := extract(t, image2, "/usr/bin/app", Options{}); err != nil || md.DesktopID != "" {
		t.Fatalf("applications link loop: %+v, %v", md, err)
	}
	// A bad image dir is an error.
	for _, dir := range []string{"relative", filepath.Join(image, "missing"), image + "/../x"} {
		if _, err := extract(t, dir, "/usr/bin/app", Options{}); err == nil {
			t.Errorf("image dir %q: no error", dir)
		}
	}
	// imageDir itself a symlink: refused.
	link := filepath.Join(t.TempDir(), "link")
	symlink(t, image, link)
	if _, err := extract(t, link, "/usr/bin/app", Options{}); err == nil {
		t.Error("symlinked image dir: no error")
	}
}

func TestExtractIconSelection(t *testing.T) {
	image := t.TempDir()
	files := map[string]string{
		applicationsDir + "/app.desktop":         desktop("App", "/usr/bin/app", "app"),
		hicolorDir + "/16x16/apps/app.png":       string(pngOf(t, 16, 16, false)),
		hicolorDir + "/48x48/apps/app.png":       string(pngOf(t, 32, 32, false)), // lies: installed as 32x32
		hicolorDir + "/32x32/apps/app.png":       string(pngOf(t, 32, 32, false)),
		hicolorDir + "/64x64/apps/app.png":       "not a png",
		hicolorDir + "/128x128/apps/app.png":     string(pngOf(t, 2000, 1, false)),
		hicolorDir + "/scalable/apps/app.svg":    tinySVG,
		hicolorDir + "/scalable/apps/other.svg":  tinySVG,
		pixmapsDir + "/app.svg":                  tinySVG, // duplicate of scalable
		pixmapsDir + "/app.png":                  string(pngOf(t, 20, 20, false)),
		pixmapsDir + "/app.xpm":                  "/* XPM */\nstatic char *x[] = {\n\"2 1 1 1\",\n\"a c #000000\",\n\"aa\"};\n",
		hicolorDir + "/256x256/apps/app.svg":     tinySVG, // wrong format for the dir: not looked at
		hicolorDir + "/scalable/apps/app.svgz":   "x",
		hicolorDir + "/512x512/apps/app.png.png": "x",
	}
	tree(t, image, files)
	md, err := extract(t, image, "/usr/bin/app", Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ic := range md.Icons {
		got = append(got, ic.SizeDir+"."+ic.Ext)
		if ic.Name != "app" {
			t.Errorf("icon name %q", ic.Name)
		}
		if _, err := icons.Validate(ic.Data, ic.Ext); err != nil {
			t.Errorf("returned icon %s.%s invalid: %v", ic.SizeDir, ic.Ext, err)
		}
	}
	want := []string{"16x16.png", "32x32.png", "scalable.svg", "20x20.png", "2x1.xpm"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("icons %v, want %v", got, want)
	}
}

func TestExtractIconCaps(t *testing.T) {
	image := t.TempDir()
	files := map[string]string{applicationsDir + "/app.desktop": desktop("App", "/usr/bin/app", "app")}
	var sizes []int
	for i, dir := range hicolorSizes {
		n := 460 + 5*i // distinct sizes, each an uncompressed ~0.9 MB PNG
		sizes = append(sizes, n)
		files[hicolorDir+"/"+dir+"/apps/app.png"] = string(pngOf(t, n, n, true))
	}
	tree(t, image, files)
	md, err := extract(t, image, "/usr/bin/app", Options{})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, ic := range md.Icons {
		if len(ic.Data) > MaxIconFileBytes {
			t.Errorf("icon of %d bytes", len(ic.Data))
		}
		total += len(ic.Data)
	}
	if total > MaxIconBytesTotal || len(md.Icons) > MaxIcons {
		t.Fatalf("%d icons, %d bytes", len(md.Icons), total)
	}
	if len(md.Icons) < 3 || len(md.Icons) >= len(sizes) {
		t.Fatalf("%d icons (%d bytes): cap not exercised", len(md.Icons), total)
	}
	t.Logf("%d icons, %d bytes", len(md.Icons), total)
}

// Debian's xterm package: debian-xterm.desktop (Exec=xterm, Icon=mini.xterm)
// next to debian-uxterm.desktop, with the icon as hicolor SVG and an XPM in
// pixmaps under another name.
func TestExtractDebianXterm(t *testing.T) {
	image := t.TempDir()
	xtermDesktop := `[Desktop Entry]
Name=XTerm
GenericName=Terminal
Comment=standard terminal emulator for the X window system
Exec=xterm
Terminal=false
Type=Application
Encoding=UTF-8
Icon=mini.xterm
Categories=System;TerminalEmulator;
Keywords=shell;prompt;command;commandline;cmd;
X-Desktop-File-Install-Version=0.26
`
	uxtermDesktop := strings.NewReplacer("Name=XTerm", "Name=UXTerm", "Exec=xterm", "Exec=uxterm",
		"Comment=standard", "Comment=xterm wrapper for Unicode").Replace(xtermDesktop)
	tree(t, image, map[string]string{
		applicationsDir + "/debian-xterm.desktop":              xtermDesktop,
		applicationsDir + "/debian-uxterm.desktop":             uxtermDesktop,
		"usr/share/pixmaps/mini.xterm_48x48.xpm":               "/* XPM */\nstatic char *m[] = {\n\"1 1 1 1\",\n\". c #000000\",\n\".\"};\n",
		"usr/share/icons/hicolor/scalable/apps/mini.xterm.svg": tinySVG,
		"usr/bin/xterm": "#!/bin/false\n",
	})
	md, err := extract(t, image, "/usr/bin/xterm", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if md.DesktopID != "debian-xterm" || md.Entry.Name != "XTerm" || md.Entry.Icon != "mini.xterm" {
		t.Fatalf("got %q %+v", md.DesktopID, md.Entry)
	}
	var found bool
	for _, ic := range md.Icons {
		if ic.Name == "mini.xterm" && ic.SizeDir == "scalable" && ic.Ext == icons.FormatSVG && string(ic.Data) == tinySVG {
			found = true
		}
	}
	if !found {
		t.Fatalf("no scalable SVG icon in %+v", md.Icons)
	}
	md, err = extract(t, image, "/usr/bin/uxterm", Options{})
	if err != nil || md.DesktopID != "debian-uxterm" {
		t.Fatalf("uxterm: %q, %v", md.DesktopID, err)
	}
}

// Sources name every file the result came from, present or not, so that a
// cache can tell when it is stale (Stamp).
func TestExtractSourcesAndStamp(t *testing.T) {
	image := t.TempDir()
	tree(t, image, map[string]string{
		"usr/share/applications/a.desktop": "[Desktop Entry]\nType=Application\nName=A\nExec=/usr/bin/other\n",
		"usr/share/applications/b.desktop": "[Desktop Entry]\nType=Application\nName=B\nExec=/usr/bin/app\nIcon=b\n",
	})
	md, err := extract(t, image, "/usr/bin/app", Options{})
	if err != nil || md.DesktopID != "b" {
		t.Fatalf("extract: %+v, %v", md, err)
	}
	for _, want := range []string{applicationsDir, applicationsDir + "/a.desktop", applicationsDir + "/b.desktop",
		hicolorDir + "/48x48/apps/b.png", pixmapsDir + "/b.xpm"} {
		if !slices.Contains(md.Sources, want) {
			t.Errorf("Sources lacks %s: %v", want, md.Sources)
		}
	}
	stamp := Stamp(image, md.Sources)
	if Stamp(image, md.Sources) != stamp {
		t.Fatal("Stamp differs with nothing changed")
	}
	changes := []func(){
		// An icon that was missing appears.
		func() { tree(t, image, map[string]string{pixmapsDir + "/b.xpm": "/* XPM */"}) },
		// A desktop file that did not match is rewritten in place.
		func() {
			os.WriteFile(filepath.Join(image, applicationsDir, "a.desktop"), []byte("[Desktop Entry]\nType=Application\nName=A\nExec=/usr/bin/app\n\n"), 0o644)
		},
		// The chosen one is replaced by a new file (dpkg's rename).
		func() {
			p := filepath.Join(image, applicationsDir, "b.desktop")
			os.WriteFile(p+".new", []byte("[Desktop Entry]\nType=Application\nName=B2\nExec=/usr/bin/app\n"), 0o644)
			os.Rename(p+".new", p)
		},
	}
	for i, change := range changes {
		change()
		next := Stamp(image, md.Sources)
		if next == stamp {
			t.Errorf("change %d: Stamp unchanged", i)
		}
		stamp = next
	}
}

// validIconName accepts what the counted pattern it stands for accepts.
func TestValidIconNameIsTheCountedPattern(t *testing.T) {
	counted := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$`)
	for _, s := range []string{"", "a", "firefox-esr", "org.gnome.Calculator", "a+b", "-a", ".a", "a/b", "a b", "é",
		strings.Repeat("a", 128), strings.Repeat("a", 129), "a\n"} {
		if got, want := validIconName(s), counted.MatchString(s); got != want {
			t.Errorf("validIconName(%q) = %v, the pattern says %v", s, got, want)
		}
	}
}
