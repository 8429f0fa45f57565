package launcher

import (
	"bytes"
	"testing"

	"github.com/godbus/dbus/v5"
)

// MetadataBatch's reply is read by hand: every shape that is not
// a(ssa{sv}a(sssay)ss) is an error, never a panic or a half-read answer.
func TestMetadataReplies(t *testing.T) {
	icon := []any{"x", "48x48", "png", []byte{1, 2}}
	good := []any{"app", "org.example.App", map[string]dbus.Variant{"Name": dbus.MakeVariant("App")}, [][]any{icon}, "", ""}
	got, err := metadataReplies([]any{[][]any{good}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].App != "app" || got[0].DesktopID != "org.example.App" || len(got[0].Icons) != 1 ||
		!bytes.Equal(got[0].Icons[0].Data, []byte{1, 2}) || EntryFromDict(got[0].Entry).Name != "App" {
		t.Errorf("got %+v", got)
	}
	with := func(i int, v any) []any {
		f := append([]any{}, good...)
		f[i] = v
		return f
	}
	for name, body := range map[string][]any{
		"no value":          {},
		"two values":        {[][]any{good}, "x"},
		"not an array":      {"x"},
		"short struct":      {[][]any{good[:5]}},
		"app not a string":  {[][]any{with(0, uint32(1))}},
		"entry not a dict":  {[][]any{with(2, "x")}},
		"icons not structs": {[][]any{with(3, []string{"x"})}},
		"short icon":        {[][]any{with(3, [][]any{icon[:3]})}},
		"icon data string":  {[][]any{with(3, [][]any{{"x", "48x48", "png", "data"}})}},
		"error not string":  {[][]any{with(4, 5)}},
	} {
		if r, err := metadataReplies(body); err == nil {
			t.Errorf("%s: read as %+v", name, r)
		}
	}
}

// An icon without bytes is "the one you have": the client accepts it only
// for an icon it listed as known, else that app's answer is an error.
func TestSameAsKnown(t *testing.T) {
	known := []KnownIcon{{App: "a", SizeDir: "48x48", Ext: "png", SHA256: make([]byte, 32)}}
	icons := []Icon{{SizeDir: "48x48", Ext: "png", Data: []byte{}}, {SizeDir: "64x64", Ext: "png", Data: []byte{1}}}
	if err := sameAsKnown(icons, known); err != nil || icons[0].Data != nil || icons[1].Data == nil {
		t.Errorf("known: %v, %+v", err, icons)
	}
	for name, icons := range map[string][]Icon{
		"other size": {{SizeDir: "64x64", Ext: "png", Data: []byte{}}},
		"other type": {{SizeDir: "48x48", Ext: "svg"}},
	} {
		if err := sameAsKnown(icons, known); err == nil {
			t.Errorf("%s: accepted an icon without bytes that was not known", name)
		}
	}
	if err := sameAsKnown([]Icon{{SizeDir: "48x48", Ext: "png"}}, nil); err == nil {
		t.Error("accepted an icon without bytes when nothing was known")
	}
}
