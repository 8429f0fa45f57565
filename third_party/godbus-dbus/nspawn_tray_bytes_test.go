package dbus

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"testing"
)

// Byte arrays take the patch's one-write, one-read path: the wire format
// is the spec's (a uint32 length, aligned, then the bytes, unpadded), and
// every shape round-trips, whatever comes before it.
func TestForkByteArrays(t *testing.T) {
	var buf bytes.Buffer
	enc := newEncoder(&buf, binary.LittleEndian, nil)
	if err := enc.Encode(byte(7), []byte("abc"), byte(9)); err != nil {
		t.Fatal(err)
	}
	want := []byte{7, 0, 0, 0, 3, 0, 0, 0, 'a', 'b', 'c', 9}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("wire % x, want % x", buf.Bytes(), want)
	}

	type named uint8
	big := bytes.Repeat([]byte{0xa5, 0x00, 0xff}, 100_000) // past readChunk
	for _, vs := range [][]any{
		{[]byte{}},
		{byte(1), []byte{1, 2, 3}},
		{"x", []byte("hello"), uint64(3)},
		{big},
		{[][]byte{{1}, {}, {2, 3}}},
		{[]named{1, 2}},
		{MakeVariant([]byte{4, 5})},
		{struct {
			A byte
			B []byte
		}{1, []byte{2}}},
	} {
		var b bytes.Buffer
		enc := newEncoder(&b, binary.LittleEndian, nil)
		if err := enc.Encode(vs...); err != nil {
			t.Fatalf("%#v: encode: %v", vs, err)
		}
		sig := SignatureOf(vs...)
		dec := newDecoder(bytes.NewReader(b.Bytes()), binary.LittleEndian, nil)
		got, err := dec.Decode(sig)
		if err != nil {
			t.Fatalf("%#v: decode: %v", vs, err)
		}
		var want []any
		for _, v := range vs {
			want = append(want, plain(v))
		}
		if !reflect.DeepEqual(plainAll(got), want) {
			t.Errorf("%s: round trip gave %#v, want %#v", sig, got, want)
		}
	}

	// A length past the input is an error, not a huge allocation.
	dec := newDecoder(bytes.NewReader([]byte{0xff, 0xff, 0xff, 0x03, 1, 2}), binary.LittleEndian, nil)
	if _, err := dec.Decode(Signature{"ay"}); err == nil {
		t.Error("a truncated byte array decoded")
	}
}

// plain is v as the decoder gives it back: named byte slices as []byte,
// structs as []any.
func plain(v any) any {
	rv := reflect.ValueOf(v)
	switch {
	case rv.Kind() == reflect.Slice && rv.Type().Elem().Kind() == reflect.Uint8:
		out := make([]byte, rv.Len())
		for i := range out {
			out[i] = byte(rv.Index(i).Uint())
		}
		return out
	case rv.Kind() == reflect.Struct && rv.Type() != reflect.TypeOf(Variant{}):
		var out []any
		for i := 0; i < rv.NumField(); i++ {
			out = append(out, plain(rv.Field(i).Interface()))
		}
		return out
	}
	return v
}

func plainAll(vs []any) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = plain(v)
	}
	return out
}

// go test -run '^$' -bench ForkByteArray: a 64 KiB icon encoded and
// decoded (docs/benchmarks.md has the figures before and after the patch).
func BenchmarkForkByteArray(b *testing.B) {
	icon := bytes.Repeat([]byte{1, 2, 3, 4}, 16<<10)
	b.SetBytes(int64(len(icon)))
	for b.Loop() {
		var buf bytes.Buffer
		if err := newEncoder(&buf, binary.LittleEndian, nil).Encode(icon); err != nil {
			b.Fatal(err)
		}
		if _, err := newDecoder(bytes.NewReader(buf.Bytes()), binary.LittleEndian, nil).Decode(Signature{"ay"}); err != nil {
			b.Fatal(err)
		}
	}
}
