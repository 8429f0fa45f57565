//go:build e2e

package e2e

import (
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The screenshot must show alice's display as a person would see it: the
// panel drawn along the top, the bare root window below it.
// screenshot takes one with testhost/screenshot and decodes it.
func screenshot(t *testing.T) image.Image {
	t.Helper()
	out := filepath.Join(t.TempDir(), "shot.png")
	if b, err := exec.Command(filepath.Join(repoRoot(t), "testhost", "screenshot"), out).CombinedOutput(); err != nil {
		t.Fatalf("testhost/screenshot: %v\n%s", err, b)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	return img
}

func TestScreenshotShowsThePanel(t *testing.T) {
	img := screenshot(t)
	if b := img.Bounds(); b.Dx() != 1280 || b.Dy() != 800 {
		t.Fatalf("screenshot is %v, want 1280x800", b)
	}
	// The panel (32 px high, at the top) has text and edges: many colours.
	if n := distinctColors(img, image.Rect(0, 0, 1280, 32)); n < 4 {
		t.Errorf("panel area has %d distinct colours, want the panel drawn there", n)
	}
	// No window manager and no windows down there: the bare root window.
	if n := distinctColors(img, image.Rect(1180, 700, 1280, 800)); n != 1 {
		t.Errorf("bottom right corner has %d colours, want the bare root window", n)
	}
}

func distinctColors(img image.Image, r image.Rectangle) int {
	seen := map[[4]uint32]bool{}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			c0, c1, c2, c3 := img.At(x, y).RGBA()
			seen[[4]uint32{c0, c1, c2, c3}] = true
		}
	}
	return len(seen)
}

func TestRunRejectsBadUsage(t *testing.T) {
	run := filepath.Join(repoRoot(t), "testhost", "run")
	for _, args := range [][]string{{"--user", "eve", "--", "true"}, {"true"}, {}} {
		err := exec.Command(run, args...).Run()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 2 {
			t.Errorf("testhost/run %q: %v, want exit 2", args, err)
		}
	}
}
