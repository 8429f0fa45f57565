package icons

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"sync"
)

// Tray icons: a container box, grey when nothing runs and green when
// something does. Drawn here because StatusNotifierItem hosts want pixels
// (IconPixmap), and the project's own icon is an SVG.
//
// Drawn on first use, not at start: encoding them allocates 1.7 MB (zlib's
// state) and took 0.5 to 3 ms of every start of the binary, which runs as
// the launch client, exec-as in each container and the cleanup of each
// instance, none of which shows an icon.
var (
	TrayIdle    = sync.OnceValue(func() []byte { return trayPNG(color.RGBA{0x6b, 0x72, 0x80, 0xff}) })
	TrayRunning = sync.OnceValue(func() []byte { return trayPNG(color.RGBA{0x16, 0xa3, 0x4a, 0xff}) })
)

func trayPNG(fill color.RGBA) []byte {
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
		panic(err) // encoding an in-memory RGBA image cannot fail
	}
	return b.Bytes()
}
