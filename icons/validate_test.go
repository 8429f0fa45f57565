package icons

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"strings"
	"testing"
)

func makePNG(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.NRGBA{uint8(x), uint8(y), 0x80, 0xff})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// pngWithHeader is a PNG signature plus an IHDR chunk (valid CRC) claiming
// w x h, followed by the rest of a real tiny PNG's chunks.
func pngWithHeader(t testing.TB, w, h uint32) []byte {
	t.Helper()
	real := makePNG(t, 1, 1)
	// signature (8) + IHDR length (4) + type (4) + data (13) + crc (4)
	out := append([]byte(nil), real[:33]...)
	binary.BigEndian.PutUint32(out[16:], w)
	binary.BigEndian.PutUint32(out[20:], h)
	binary.BigEndian.PutUint32(out[29:], crc32.ChecksumIEEE(out[12:29]))
	return append(out, real[33:]...)
}

const goodSVGNS = `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="16" height="16" viewBox="0 0 16 16">
  <defs><linearGradient id="g"><stop offset="0" stop-color="#fff"/></linearGradient></defs>
  <!-- a comment -->
  <rect width="16" height="16" fill="url(#g)" style="stroke: url( '#g' )"/>
  <use xlink:href="#g"/>
  <image href="data:image/png;base64,AAAA" width="1" height="1"/>
</svg>
`

const goodSVGNoNS = `<svg width="16" height="16"><circle cx="8" cy="8" r="4"/></svg>`

const goodXPM = `/* XPM */
static char * tiny_xpm[] = {
/* columns rows colors chars-per-pixel */
"3 2 2 1 ",
"  c None",
". c #FF0000",
" . ",
"..."};
`

func TestValidate(t *testing.T) {
	billion := `<?xml version="1.0"?>
<!DOCTYPE svg [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<svg xmlns="http://www.w3.org/2000/svg"><text>&lol3;</text></svg>`
	small := makePNG(t, 16, 16)
	huge := `<svg xmlns="http://www.w3.org/2000/svg">` + strings.Repeat(`<g/>`, MaxSVGBytes/4) + `</svg>`
	xpmJunk := strings.Replace(goodXPM, `"..."`, "\"\x00\x89\xff\"", 1)

	tests := []struct {
		name    string
		data    []byte
		ext     string
		wantDir string // "" means refused
	}{
		{"png good", small, "png", "16x16"},
		{"png 1x1", makePNG(t, 1, 1), "png", "1x1"},
		{"png 1024x1", makePNG(t, 1024, 1), "png", "1024x1"},
		{"png truncated", small[:len(small)/2], "png", ""},
		{"png header only", small[:33], "png", ""},
		{"png claims 5000x5000", pngWithHeader(t, 5000, 5000), "png", ""},
		{"png claims 1025x1", pngWithHeader(t, 1025, 1), "png", ""},
		{"png claims 0x0", pngWithHeader(t, 0, 0), "png", ""},
		{"png header lies about size", pngWithHeader(t, 64, 64), "png", ""},
		{"png text file", []byte("hello, I am not a PNG\n"), "png", ""},
		{"png empty", nil, "png", ""},
		{"png over 1 MiB", append(append([]byte(nil), small...), make([]byte, MaxPNGBytes)...), "png", ""},
		{"png data as svg", small, "svg", ""},

		{"svg good with namespace", []byte(goodSVGNS), "svg", "scalable"},
		{"svg good without namespace", []byte(goodSVGNoNS), "svg", "scalable"},
		{"svg billion laughs", []byte(billion), "svg", ""},
		{"svg doctype only", []byte(`<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd"><svg/>`), "svg", ""},
		{"svg script", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`), "svg", ""},
		{"svg SCRIPT uppercase", []byte(`<svg><SCRIPT>x</SCRIPT></svg>`), "svg", ""},
		{"svg script in CDATA", []byte(`<svg><text><![CDATA[<script>]]></text></svg>`), "svg", ""},
		{"svg onload", []byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`), "svg", ""},
		{"svg ONCLICK on child", []byte(`<svg><rect ONCLICK="x"/></svg>`), "svg", ""},
		{"svg xlink file", []byte(`<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"><image xlink:href="file:///etc/shadow"/></svg>`), "svg", ""},
		{"svg href http", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><image href="http://x"/></svg>`), "svg", ""},
		{"svg href abs path", []byte(`<svg><image href="/etc/shadow"/></svg>`), "svg", ""},
		{"svg href relative", []byte(`<svg><image href="other.png"/></svg>`), "svg", ""},
		{"svg href javascript", []byte(`<svg><a href="javascript:alert(1)"><rect/></a></svg>`), "svg", ""},
		{"svg href nested svg data", []byte(`<svg><image href="data:image/svg+xml;base64,PHN2Zy8+"/></svg>`), "svg", ""},
		{"svg css url http", []byte(`<svg><rect style="fill:url(http://x/a.svg#g)"/></svg>`), "svg", ""},
		{"svg css import", []byte(`<svg><style>@import "http://x/a.css";</style></svg>`), "svg", ""},
		{"svg style url file", []byte(`<svg><style>rect { fill: url("file:///etc/shadow") }</style></svg>`), "svg", ""},
		{"svg animate href", []byte(`<svg><a><set attributeName="href" to="javascript:alert(1)"/></a></svg>`), "svg", ""},
		{"svg foreignObject", []byte(`<svg><foreignObject><div xmlns="http://www.w3.org/1999/xhtml">x</div></foreignObject></svg>`), "svg", ""},
		{"svg stylesheet PI", []byte(`<?xml-stylesheet href="http://x/a.css"?><svg/>`), "svg", ""},
		{"svg wrong root", []byte(`<html xmlns="http://www.w3.org/1999/xhtml"/>`), "svg", ""},
		{"svg root wrong namespace", []byte(`<svg xmlns="http://example.com/ns"/>`), "svg", ""},
		{"svg two roots", []byte(`<svg/><svg/>`), "svg", ""},
		{"svg unclosed", []byte(`<svg><g></svg>`), "svg", ""},
		{"svg truncated", []byte(`<svg><g>`), "svg", ""},
		{"svg undefined entity", []byte(`<svg><text>&foo;</text></svg>`), "svg", ""},
		{"svg latin1 encoding", []byte(`<?xml version="1.0" encoding="ISO-8859-1"?><svg/>`), "svg", ""},
		{"svg not utf8", []byte("<svg><text>\xff\xfe</text></svg>"), "svg", ""},
		{"svg huge", []byte(huge), "svg", ""},
		{"svg empty", nil, "svg", ""},

		{"xpm good", []byte(goodXPM), "xpm", "3x2"},
		{"xpm good leading whitespace", []byte("\n  " + goodXPM), "xpm", "3x2"},
		{"xpm binary junk", []byte(xpmJunk), "xpm", ""},
		{"xpm no header", []byte(strings.Replace(goodXPM, "/* XPM */", "", 1)), "xpm", ""},
		{"xpm row too short", []byte(strings.Replace(goodXPM, `"..."`, `".."`, 1)), "xpm", ""},
		{"xpm missing rows", []byte(strings.Replace(goodXPM, `"3 2 2 1 "`, `"3 9 2 1 "`, 1)), "xpm", ""},
		{"xpm 5000 wide", []byte(strings.Replace(goodXPM, `"3 2 2 1 "`, `"5000 2 2 1 "`, 1)), "xpm", ""},
		{"xpm bad values", []byte(strings.Replace(goodXPM, `"3 2 2 1 "`, `"three 2 2 1"`, 1)), "xpm", ""},
		{"xpm unterminated comment", []byte("/* XPM */\n/* "), "xpm", ""},
		{"xpm huge", []byte(goodXPM + strings.Repeat(" ", MaxXPMBytes)), "xpm", ""},

		{"wrong ext", small, "jpg", ""},
		{"wrong ext with dot", small, ".png", ""},
		{"wrong ext upper", small, "PNG", ""},
		{"xpm as png", []byte(goodXPM), "png", ""},
		{"svg as xpm", []byte(goodSVGNoNS), "xpm", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, err := Validate(tc.data, tc.ext)
			if tc.wantDir == "" {
				if err == nil {
					t.Fatalf("accepted (size dir %q), want refusal", dir)
				}
				if !errors.Is(err, ErrInvalidIcon) {
					t.Fatalf("error %v does not wrap ErrInvalidIcon", err)
				}
				if dir != "" {
					t.Fatalf("refused but size dir %q", dir)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if dir != tc.wantDir {
				t.Fatalf("size dir %q, want %q", dir, tc.wantDir)
			}
		})
	}
}

// The project's own icon must pass the checks applied to images' icons.
func TestValidateOwnIcon(t *testing.T) {
	if dir, err := Validate(SVG, FormatSVG); err != nil || dir != ScalableDir {
		t.Fatalf("Validate(own SVG) = %q, %v", dir, err)
	}
}

func FuzzValidateSVG(f *testing.F) {
	f.Add([]byte(goodSVGNS))
	f.Add([]byte(goodSVGNoNS))
	f.Add([]byte(`<svg><script>x</script></svg>`))
	f.Add([]byte(`<!DOCTYPE svg [<!ENTITY a "b">]><svg>&a;</svg>`))
	f.Add([]byte(`<svg><text><![CDATA[x]]></text></svg>`))
	f.Add(SVG)
	f.Fuzz(func(t *testing.T, data []byte) {
		dir, err := Validate(data, FormatSVG)
		if err != nil {
			return
		}
		if dir != ScalableDir {
			t.Fatalf("size dir %q", dir)
		}
		l := bytes.ToLower(data)
		for _, bad := range []string{"<script", "<!entity", "<!doctype"} {
			if bytes.Contains(l, []byte(bad)) {
				t.Fatalf("accepted SVG containing %q: %q", bad, data)
			}
		}
	})
}

func FuzzValidatePNG(f *testing.F) {
	f.Add(makePNG(f, 2, 3))
	f.Add(makePNG(f, 16, 16))
	f.Add(pngWithHeader(f, 5000, 5000))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir, err := Validate(data, FormatPNG)
		if err != nil {
			return
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("accepted undecodable PNG: %v", err)
		}
		if cfg.Width < 1 || cfg.Width > MaxDimension || cfg.Height < 1 || cfg.Height > MaxDimension {
			t.Fatalf("accepted %dx%d", cfg.Width, cfg.Height)
		}
		if want := sizeDirOf(cfg.Width, cfg.Height); dir != want {
			t.Fatalf("size dir %q, want %q", dir, want)
		}
	})
}

func FuzzValidateXPM(f *testing.F) {
	f.Add([]byte(goodXPM))
	f.Add([]byte("/* XPM */\n\"1 1 1 1\",\"a c #000\",\"a\""))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir, err := Validate(data, FormatXPM)
		if err != nil {
			return
		}
		if !strings.Contains(dir, "x") {
			t.Fatalf("size dir %q", dir)
		}
		for _, c := range data {
			if c >= 0x80 || c == 0 {
				t.Fatalf("accepted non-ASCII XPM %q", data)
			}
		}
	})
}
