package tray

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/nspawn-tray/nspawn-tray/menusync"
)

// testPNG is a size×size PNG of one colour.
func testPNG(t testing.TB, size int, c color.RGBA) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// installIcon puts an icon of app below dataHome as sync does: the file,
// and its line in sync's manifest.
func installIcon(t testing.TB, dataHome, app, sizeDir, ext string, data []byte) {
	t.Helper()
	rel := filepath.Join("hicolor", sizeDir, "apps", menusync.IconName(app)+"."+ext)
	path := filepath.Join(dataHome, "icons", rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	manifest := filepath.Join(dataHome, "nspawn-tray", "icons.list")
	if err := os.MkdirAll(filepath.Dir(manifest), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(manifest, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sum := sha256.Sum256(data)
	if _, err := f.WriteString(hex.EncodeToString(sum[:]) + " " + rel + "\n"); err != nil {
		t.Fatal(err)
	}
}

func TestMenuIconPicksThePNGClosestAboveTheMenuSize(t *testing.T) {
	red := color.RGBA{255, 0, 0, 255}
	for _, tc := range []struct {
		name  string
		icons map[string]string // size dir → ext
		want  string            // size dir of the one sent, "" for none
	}{
		{"none", nil, ""},
		{"an SVG only", map[string]string{"scalable": "svg"}, ""},
		{"an XPM only", map[string]string{"32x32": "xpm"}, ""},
		{"one PNG, larger", map[string]string{"48x48": "png"}, "48x48"},
		{"the menu's size", map[string]string{"16x16": "png", "48x48": "png", "scalable": "svg"}, "16x16"},
		{"the smallest above", map[string]string{"22x22": "png", "48x48": "png", "256x256": "png"}, "22x22"},
		{"the largest below", map[string]string{"8x8": "png", "12x12": "png"}, "12x12"},
		{"above beats below", map[string]string{"12x12": "png", "64x64": "png"}, "64x64"},
		{"not square", map[string]string{"16x24": "png"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			want := []byte(nil)
			for dir, ext := range tc.icons {
				data := []byte("<svg/>")
				if ext == "png" {
					data = append(testPNG(t, 4, red), []byte(dir)...) // each file its own bytes
				}
				installIcon(t, home, "app", dir, ext, data)
				if dir == tc.want {
					want = data
				}
			}
			// Another app's icons are not this one's.
			installIcon(t, home, "other", "16x16", "png", testPNG(t, 16, red))
			if got := menuIcon(home, "app"); !bytes.Equal(got, want) {
				t.Errorf("menuIcon sent %d bytes, want the %q one (%d bytes)", len(got), tc.want, len(want))
			}
		})
	}
}

func TestMenuIconRefusesWhatIsNoSmallPNG(t *testing.T) {
	home := t.TempDir()
	installIcon(t, home, "fake", "16x16", "png", []byte("GIF89a not a png"))
	installIcon(t, home, "huge", "16x16", "png", append(testPNG(t, 16, color.RGBA{A: 255}), make([]byte, maxMenuIcon)...))
	installIcon(t, home, "gone", "16x16", "png", testPNG(t, 16, color.RGBA{A: 255}))
	if err := os.Remove(filepath.Join(home, "icons/hicolor/16x16/apps/nspawn-tray.gone.png")); err != nil {
		t.Fatal(err)
	}
	for _, app := range []string{"fake", "huge", "gone", "never-synced"} {
		if got := menuIcon(home, app); got != nil {
			t.Errorf("%s: menuIcon sent %d bytes, want none", app, len(got))
		}
	}
}

// An app's entry shows its icon once sync has installed one: the tray
// reads the icons again after each sync.
func TestAppEntriesShowTheirIconsAfterASync(t *testing.T) {
	e := newEnv(t, without{})
	e.opts.DataHome = filepath.Join(e.tmp, "data")
	icon := testPNG(t, 16, color.RGBA{0xd9, 0x46, 0xef, 255})
	e.opts.Sync = func(context.Context) (string, error) {
		installIcon(t, e.opts.DataHome, "xeyes", "16x16", "png", icon)
		return "1 app, 1 icon written", nil
	}
	e.writeApp(t, "plain", "name = \"Plain\"\nimage = \"probe\"\nexec = [\"/bin/true\"]\n")
	e.start(t)
	eventually(t, func() string {
		if x := e.ui.mustEntry(t, "launch:xeyes"); !bytes.Equal(x.item.Icon, icon) {
			return "XEyes's entry does not show the icon sync installed"
		}
		return ""
	})
	if p := e.ui.mustEntry(t, "launch:plain"); p.item.Icon != nil {
		t.Errorf("Plain, which has no icon, shows %d bytes of one", len(p.item.Icon))
	}
}
