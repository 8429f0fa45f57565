package icons

import (
	"bytes"
	"flag"
	"image"
	"image/color"
	"image/png"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "write the tray icons' PNG files from their drawing")

// The embedded tray icons are their drawing (trayPNG), byte for byte.
func TestTrayIconsAreTheirDrawing(t *testing.T) {
	for file, fill := range map[string]color.RGBA{
		"tray-idle.png":    {0x6b, 0x72, 0x80, 0xff},
		"tray-running.png": {0x16, 0xa3, 0x4a, 0xff},
	} {
		want := trayPNG(t, fill)
		if *update {
			if err := os.WriteFile(file, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is not its drawing (go test ./icons -update)", file)
		}
	}
	if !bytes.Equal(TrayIdle(), mustRead(t, "tray-idle.png")) || !bytes.Equal(TrayRunning(), mustRead(t, "tray-running.png")) {
		t.Error("the embedded icons are not the files")
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// trayPNG draws the tray icon: a box filled with fill, outlined, with a lid.
func trayPNG(t *testing.T, fill color.RGBA) []byte {
	const n = 32
	img := image.NewRGBA(image.Rect(0, 0, n, n))
	edge := color.RGBA{0x1f, 0x29, 0x37, 0xff}
	for y := 4; y < 28; y++ {
		for x := 3; x < 29; x++ {
			c := fill
			if x < 5 || x > 26 || y < 6 || y > 25 || y == 12 {
				c = edge // outline and the lid line
			}
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
