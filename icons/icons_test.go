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
