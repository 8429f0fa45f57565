package icons

import (
	"bytes"
	"encoding/xml"
	"io"
	"testing"
)

func TestSVGIsSVG(t *testing.T) {
	dec := xml.NewDecoder(bytes.NewReader(SVG))
	var root *xml.StartElement
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && root == nil {
			root = &se
		}
	}
	if root == nil || root.Name.Local != "svg" || root.Name.Space != "http://www.w3.org/2000/svg" {
		t.Fatalf("root element is %v, want svg in the SVG namespace", root)
	}
}

func TestTrayIcons(t *testing.T) {
	for name, data := range map[string][]byte{"idle": TrayIdle(), "running": TrayRunning()} {
		if size, err := Validate(data, FormatPNG); err != nil || size != "32x32" {
			t.Errorf("%s: %q, %v", name, size, err)
		}
	}
	if bytes.Equal(TrayIdle(), TrayRunning()) {
		t.Error("the idle and running icons are the same")
	}
}
