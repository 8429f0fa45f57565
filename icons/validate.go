package icons

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"image/png"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Formats of a validated icon: the file extension, without the dot, that
// Validate accepts. (Named Format* because SVG is already the embedded
// application icon.)
const (
	FormatPNG = "png"
	FormatSVG = "svg"
	FormatXPM = "xpm"
)

// Caps on icons taken from untrusted images.
const (
	MaxPNGBytes = 1 << 20
	MaxSVGBytes = 512 << 10
	MaxXPMBytes = 256 << 10
	// MaxDimension bounds the width and height of PNG and XPM icons.
	MaxDimension = 1024
	// ScalableDir is the hicolor size directory of SVG icons.
	ScalableDir = "scalable"
)

// ErrInvalidIcon is wrapped by every error of Validate.
var ErrInvalidIcon = errors.New("invalid icon")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidIcon, fmt.Sprintf(format, args...))
}

// Validate checks that data really is an icon of the format ext claims
// ("png", "svg" or "xpm", see the Format* constants) and within the caps, and
// returns the hicolor size directory for it: "WxH" from the image header for
// PNG and XPM, "scalable" for SVG.
//
// PNG: at most MaxPNGBytes, header and the whole image decode, width and
// height 1..MaxDimension.
//
// SVG: at most MaxSVGBytes, UTF-8, well-formed XML (strict decoder, no DTD or
// entity declarations, no processing instructions but the XML declaration),
// one root element <svg> in the SVG namespace or none, no <script> or
// <foreignObject> elements, no on* event-handler attributes, href/xlink:href
// only "#fragment" or a data:image/ URL (not image/svg+xml), CSS url() only
// to the same, no @import, and no animation of href or on* attributes.
//
// XPM: at most MaxXPMBytes, printable ASCII text starting with "/* XPM */",
// with a values line "W H ncolors cpp" (W and H 1..MaxDimension) followed by
// ncolors color strings and H pixel rows of W*cpp characters.
func Validate(data []byte, ext string) (sizeDir string, err error) {
	switch ext {
	case FormatPNG:
		return validatePNG(data)
	case FormatSVG:
		return validateSVG(data)
	case FormatXPM:
		return validateXPM(data)
	}
	return "", invalid("unsupported format %q", ext)
}

func sizeDirOf(w, h int) string {
	return strconv.Itoa(w) + "x" + strconv.Itoa(h)
}

func validatePNG(data []byte) (string, error) {
	if len(data) > MaxPNGBytes {
		return "", invalid("png: %d bytes, cap %d", len(data), MaxPNGBytes)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return "", invalid("png: %v", err)
	}
	if cfg.Width < 1 || cfg.Width > MaxDimension || cfg.Height < 1 || cfg.Height > MaxDimension {
		return "", invalid("png: size %dx%d out of range 1..%d", cfg.Width, cfg.Height, MaxDimension)
	}
	// The header alone says nothing about the rest; with the dimensions
	// bounded, a full decode is cheap and refuses truncated or corrupt data.
	if _, err := png.Decode(bytes.NewReader(data)); err != nil {
		return "", invalid("png: %v", err)
	}
	return sizeDirOf(cfg.Width, cfg.Height), nil
}

const (
	svgNS   = "http://www.w3.org/2000/svg"
	xmlNS   = "http://www.w3.org/XML/1998/namespace"
	xmlnsNS = "xmlns"
)

func validateSVG(data []byte) (string, error) {
	if len(data) > MaxSVGBytes {
		return "", invalid("svg: %d bytes, cap %d", len(data), MaxSVGBytes)
	}
	if !utf8.Valid(data) || bytes.IndexByte(data, 0) >= 0 {
		return "", invalid("svg: not UTF-8 text")
	}
	// Belt and braces on top of the token checks below: these never belong
	// in an icon, wherever they appear (comments and CDATA included).
	lower := bytes.ToLower(data)
	for _, bad := range []string{"<!doctype", "<!entity", "<script", "<!element", "<!attlist"} {
		if bytes.Contains(lower, []byte(bad)) {
			return "", invalid("svg: contains %q", bad)
		}
	}
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	dec.Entity = nil // only the five predefined entities
	// CharsetReader stays nil: an encoding other than UTF-8 is refused.
	depth := 0
	seenRoot := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", invalid("svg: %v", err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			return "", invalid("svg: <!%.20s...> declaration", string(t))
		case xml.ProcInst:
			if t.Target != "xml" || seenRoot {
				return "", invalid("svg: processing instruction <?%s", t.Target)
			}
		case xml.StartElement:
			if depth == 0 {
				if seenRoot {
					return "", invalid("svg: more than one root element")
				}
				seenRoot = true
				if t.Name.Local != "svg" || (t.Name.Space != "" && t.Name.Space != svgNS) {
					return "", invalid("svg: root element is {%s}%s, want svg", t.Name.Space, t.Name.Local)
				}
			}
			if err := checkSVGElement(t); err != nil {
				return "", err
			}
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 0 {
				if len(bytes.TrimSpace(t)) != 0 {
					return "", invalid("svg: text outside the root element")
				}
				continue
			}
			if err := checkCSS(string(t)); err != nil {
				return "", err
			}
		case xml.Comment:
			// Harmless; the byte scan above already refused the dangerous
			// markup a comment could smuggle.
		}
	}
	if !seenRoot || depth != 0 {
		return "", invalid("svg: no complete root element")
	}
	return ScalableDir, nil
}

func checkSVGElement(se xml.StartElement) error {
	switch strings.ToLower(se.Name.Local) {
	case "script", "foreignobject", "iframe", "embed", "object":
		return invalid("svg: <%s> element", se.Name.Local)
	}
	for _, a := range se.Attr {
		local := strings.ToLower(a.Name.Local)
		if a.Name.Space == xmlnsNS || (a.Name.Space == "" && local == "xmlns") {
			continue // namespace declaration: a name, not a reference
		}
		if strings.HasPrefix(local, "on") {
			return invalid("svg: event handler attribute %s", a.Name.Local)
		}
		switch local {
		case "href", "src":
			if !safeRef(a.Value) {
				return invalid("svg: external reference %s=%.64q", a.Name.Local, a.Value)
			}
		case "attributename":
			v := strings.ToLower(strings.TrimSpace(a.Value))
			if v == "href" || strings.HasSuffix(v, ":href") || strings.HasPrefix(v, "on") {
				return invalid("svg: animation of %s", a.Value)
			}
		case "base":
			if a.Name.Space == xmlNS || a.Name.Space == "xml" {
				return invalid("svg: xml:base")
			}
		}
		if err := checkCSS(a.Value); err != nil {
			return err
		}
	}
	return nil
}

// safeRef accepts a same-document fragment or an inline raster image.
func safeRef(v string) bool {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "#") {
		return true
	}
	l := strings.ToLower(v)
	// No nested SVG: it would escape these checks base64-encoded.
	return strings.HasPrefix(l, "data:image/") && !strings.HasPrefix(l, "data:image/svg")
}

// checkCSS refuses @import and url() references other than safeRef ones, in
// style sheets, style attributes and presentation attributes (fill="url(#g)").
func checkCSS(s string) error {
	l := strings.ToLower(s)
	if strings.Contains(l, "@import") {
		return invalid("svg: CSS @import")
	}
	for {
		i := strings.Index(l, "url(")
		if i < 0 {
			return nil
		}
		rest := strings.TrimLeft(l[i+4:], " \t\r\n\f'\"")
		if !safeRef(rest) {
			return invalid("svg: external url(%.32s", rest)
		}
		l = l[i+4:]
	}
}

const xpmMagic = "/* XPM */"

func validateXPM(data []byte) (string, error) {
	if len(data) > MaxXPMBytes {
		return "", invalid("xpm: %d bytes, cap %d", len(data), MaxXPMBytes)
	}
	for _, c := range data {
		if (c < 0x20 || c > 0x7e) && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v' {
			return "", invalid("xpm: byte %#x is not ASCII text", c)
		}
	}
	text := strings.TrimLeft(string(data), " \t\r\n\f\v")
	if !strings.HasPrefix(text, xpmMagic) {
		return "", invalid("xpm: no %q header", xpmMagic)
	}
	strs, err := xpmStrings(text[len(xpmMagic):])
	if err != nil {
		return "", err
	}
	if len(strs) == 0 {
		return "", invalid("xpm: no values line")
	}
	f := strings.Fields(strs[0])
	if len(f) < 4 {
		return "", invalid("xpm: values line %.40q", strs[0])
	}
	var v [4]int
	for i := range v {
		n, err := strconv.Atoi(f[i])
		if err != nil {
			return "", invalid("xpm: values line %.40q", strs[0])
		}
		v[i] = n
	}
	w, h, ncolors, cpp := v[0], v[1], v[2], v[3]
	if w < 1 || w > MaxDimension || h < 1 || h > MaxDimension {
		return "", invalid("xpm: size %dx%d out of range 1..%d", w, h, MaxDimension)
	}
	if cpp < 1 || cpp > 8 || ncolors < 1 || ncolors > MaxXPMBytes {
		return "", invalid("xpm: %d colors of %d chars per pixel", ncolors, cpp)
	}
	if len(strs) < 1+ncolors+h {
		return "", invalid("xpm: %d strings, want %d", len(strs), 1+ncolors+h)
	}
	for i := 1; i <= ncolors; i++ {
		if len(strs[i]) < cpp {
			return "", invalid("xpm: color line %d too short", i)
		}
	}
	for _, row := range strs[1+ncolors : 1+ncolors+h] {
		if len(row) != w*cpp {
			return "", invalid("xpm: pixel row of %d chars, want %d", len(row), w*cpp)
		}
	}
	return sizeDirOf(w, h), nil
}

// xpmStrings returns the C string literals of an XPM body, skipping
// comments. Escapes count as the one character they stand for.
func xpmStrings(s string) ([]string, error) {
	var out []string
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "/*"):
			j := strings.Index(s[i+2:], "*/")
			if j < 0 {
				return nil, invalid("xpm: unterminated comment")
			}
			i += 2 + j + 2
		case s[i] == '"':
			var b strings.Builder
			i++
			for {
				if i >= len(s) || s[i] == '\n' {
					return nil, invalid("xpm: unterminated string")
				}
				c := s[i]
				if c == '"' {
					i++
					break
				}
				if c == '\\' {
					if i+1 >= len(s) {
						return nil, invalid("xpm: unterminated string")
					}
					i++
					c = s[i]
				}
				b.WriteByte(c)
				i++
			}
			out = append(out, b.String())
		default:
			i++
		}
	}
	return out, nil
}
