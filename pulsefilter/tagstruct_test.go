package pulsefilter

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

// The tagstructs below are written out byte by byte, as
// pulsecore/tagstruct.c puts them, so the parser is checked against the
// encoding and not against its own encoder.
var validTagstructs = []struct {
	name string
	hex  string
}{
	{"u32", "4c 00000008"},
	{"string", "74 666f6f00"},
	{"empty string", "74 00"},
	{"null string", "4e"},
	{"u8", "42 07"},
	{"bools", "31 30"},
	{"u64", "52 0102030405060708"},
	{"s64", "72 ffffffffffffffff"},
	{"usec", "55 0000000000000010"},
	{"timeval", "54 00000001 00000002"},
	{"sample spec", "61 03 02 0000ac44"},
	{"arbitrary", "78 00000003 616263"},
	{"empty arbitrary", "78 00000000"},
	{"channel map", "6d 02 01 02"},
	{"empty channel map", "6d 00"},
	{"cvolume", "76 02 00010000 00010000"},
	{"volume", "56 00010000"},
	{"proplist", "50 74 612e6200 4c 00000002 78 00000002 7800 4e"},
	{"empty proplist", "50 4e"},
	{"format info", "66 42 01 50 74 666f726d61742e7261746500 4c 00000006 78 00000006 343431303000 4e"},
	{"auth", "4c 00000008 4c 00000001 4c 80000023 78 00000004 00000000"},
}

func unhex(t testing.TB, s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseValid(t *testing.T) {
	for _, tt := range validTagstructs {
		b := unhex(t, tt.hex)
		vs, err := parseValues(b)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if got := appendValues(nil, vs); !bytes.Equal(got, b) {
			t.Errorf("%s: encodes as % x, want % x", tt.name, got, b)
		}
	}
}

func TestParseValues(t *testing.T) {
	b := unhex(t, "4c 00000008 74 666f6f00 50 74 612e6200 4c 00000002 78 00000002 7800 4e 66 42 01 50 4e")
	vs, err := parseValues(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 4 || vs[0].u32 != 8 || vs[1].str != "foo" ||
		len(vs[2].props) != 1 || vs[2].props[0].key != "a.b" || string(vs[2].props[0].value) != "x\x00" ||
		vs[3].tag != tagFormatInfo || vs[3].u32 != 1 || len(vs[3].props) != 0 {
		t.Errorf("parsed %+v", vs)
	}
}

func TestParseInvalid(t *testing.T) {
	for _, tt := range []struct{ name, hex string }{
		{"unknown type", "7a"},
		{"short u32", "4c 000000"},
		{"string without NUL", "74 666f6f"},
		{"short u8", "42"},
		{"short u64", "52 01020304050607"},
		{"short sample spec", "61 03 02 0000ac"},
		{"short arbitrary", "78 00000004 616263"},
		{"arbitrary past the end", "78 ffffffff 00"},
		{"33 channels", "6d 21" + strings.Repeat("01", 33)},
		{"short channel map", "6d 02 01"},
		{"33 volumes", "76 21" + strings.Repeat("00010000", 33)},
		{"short cvolume", "76 02 00010000"},
		{"proplist without end", "50 74 612e6200 4c 00000002 78 00000002 7800"},
		{"proplist, empty key", "50 74 00 4c 00000001 78 00000001 00 4e"},
		{"proplist, key not ASCII", "50 74 c3a900 4c 00000001 78 00000001 00 4e"},
		{"proplist, lengths differ", "50 74 6100 4c 00000002 78 00000001 00 4e"},
		{"proplist, no length", "50 74 6100 78 00000001 00 4e"},
		{"proplist, key not a string", "50 4c 00000001 4e"},
		{"proplist, value over 64 KiB", "50 74 6100 4c 00010001 78 00010001 00 4e"},
		{"format info without encoding", "66 50 4e"},
		{"format info without proplist", "66 42 01 4e"},
		{"format info cut short", "66 42"},
		{"empty", ""},
		{"too many values", "4c 00000008 4c 00000001" + strings.Repeat("4e", maxValues-1)},
		{"too many properties", "4c 00000008 4c 00000001 50" + strings.Repeat("74 6100 4c 00000000 78 00000000", maxValues-1) + "4e"},
		{"too many properties together", "4c 00000008 50 74 6100 4c 00000000 78 00000000 4e 50" + strings.Repeat("74 6100 4c 00000000 78 00000000", maxValues-3) + "4e"},
	} {
		b := unhex(t, tt.hex)
		if _, err := parseValues(b); err == nil && len(b) > 0 {
			t.Errorf("%s: parsed", tt.name)
		}
		if _, err := parsePacket(b); err == nil {
			t.Errorf("%s: parsed as a packet", tt.name)
		}
	}
}

func TestParseMost(t *testing.T) {
	most := unhex(t, "4c 00000008 4c 00000001 50"+strings.Repeat("74 6100 4c 00000000 78 00000000", maxValues-3)+"4e")
	if _, err := parsePacket(most); err != nil {
		t.Errorf("%d values and properties: %v", maxValues, err)
	}
	if _, err := parsePacket(unhex(t, "4c 00000008 4c 00000001"+strings.Repeat("4e", maxValues-2))); err != nil {
		t.Errorf("%d values: %v", maxValues, err)
	}
}

func TestParsePacket(t *testing.T) {
	p, err := parsePacket(pkt(cmdSetClientName, 7, vProps("application.name", "x")))
	if err != nil || p.command != cmdSetClientName || p.tag != 7 || len(p.args) != 1 {
		t.Errorf("parsePacket = %+v, %v", p, err)
	}
	for _, b := range [][]byte{
		appendValue(nil, vL(1)),
		appendValues(nil, []value{vS("x"), vL(1)}),
		appendValues(nil, []value{vL(1), vS("x")}),
	} {
		if _, err := parsePacket(b); err == nil {
			t.Errorf("% x parsed as a packet", b)
		}
	}
}

// FuzzTagstruct: no input panics the parser, and every input it accepts
// encodes back to itself.
func FuzzTagstruct(f *testing.F) {
	for _, tt := range validTagstructs {
		f.Add(unhex(f, tt.hex))
	}
	f.Add(pkt(cmdCreatePlaybackStream, 3, playbackArgs(vProps("media.name", "x", "filter.want", "echo-cancel"), vFormat("format.rate", "44100"))...))
	f.Add(pkt(cmdCreateRecordStream, 4, recordArgs(invalidIndex, vS("mic"), invalidIndex, vProps())...))
	for _, p := range append(goldenPackets(f, 'C'), goldenPackets(f, 'S')...) {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		vs, err := parseValues(b)
		if err != nil {
			return
		}
		if got := appendValues(nil, vs); !bytes.Equal(got, b) {
			t.Fatalf("encode(parse(% x)) = % x", b, got)
		}
		cleanValues(vs)
		again, err := parseValues(appendValues(nil, vs))
		if err != nil {
			t.Fatalf("a cleaned tagstruct does not parse: %v", err)
		}
		for _, v := range again {
			for _, p := range v.props {
				if !keepKey(p.key) {
					t.Fatalf("cleaning kept %q", p.key)
				}
			}
		}
	})
}
