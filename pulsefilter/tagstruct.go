package pulsefilter

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// Type bytes of the tagstruct encoding (pulsecore/tagstruct.h). Every value
// starts with one, so a tagstruct parses without knowing its command: the
// filter sees exactly the values the server's typed getters will read.
const (
	tagString     = 't' // bytes up to a NUL
	tagStringNull = 'N' // a NULL string; also ends a property list
	tagU32        = 'L'
	tagU8         = 'B'
	tagU64        = 'R'
	tagS64        = 'r'
	tagSampleSpec = 'a' // format u8, channels u8, rate u32
	tagArbitrary  = 'x' // u32 length, then the bytes
	tagTrue       = '1'
	tagFalse      = '0'
	tagTimeval    = 'T' // two u32
	tagUsec       = 'U' // u64
	tagChannelMap = 'm' // u8 count, then count u8
	tagCVolume    = 'v' // u8 count, then count u32
	tagProplist   = 'P' // ('t' key, 'L' length, 'x' value)*, then 'N'
	tagVolume     = 'V' // u32
	tagFormatInfo = 'f' // 'B' encoding, then 'P' proplist
)

const (
	// channelsMax is PA_CHANNELS_MAX: longer channel maps and volumes do
	// not parse in PulseAudio either.
	channelsMax = 32
	// propValueMax is PulseAudio's MAX_TAG_SIZE, the longest property
	// value pa_tagstruct_get_proplist accepts.
	propValueMax = 64 * 1024
	// maxValues bounds the values and properties of one tagstruct: a
	// value takes 72 bytes here for its one byte in the packet, so 16 MiB
	// of 'N' would take over a GiB. The most a command has is some 300
	// values, a stream with 255 format infos.
	maxValues = 4096
)

var errTruncated = errors.New("truncated value")

// value is one tagstruct value. Which fields are set depends on tag; the
// fixed-size types the filter never looks into keep their bytes in raw.
type value struct {
	tag   byte
	u32   uint32 // 'L', 'V', 'B'; the encoding of 'f'
	str   string // 't'
	raw   []byte // 'x'; the body of 'R', 'r', 'U', 'T', 'a', 'm', 'v'
	props []prop // 'P', 'f'
}

// prop is one property of a property list.
type prop struct {
	key   string
	value []byte
}

func u32Value(u uint32) value { return value{tag: tagU32, u32: u} }

// parseValues parses a whole tagstruct. It is strict: anything
// PulseAudio's parser would refuse is an error, so every valid input has
// exactly one parse and appendValues gives back the same bytes.
func parseValues(b []byte) ([]value, error) {
	var vs []value
	n := 0 // values and properties
	for len(b) > 0 {
		v, rest, err := parseValueMax(b, maxValues-n-1)
		if err != nil {
			return nil, fmt.Errorf("value %d: %w", len(vs), err)
		}
		vs = append(vs, v)
		b = rest
		if n += 1 + len(v.props); n >= maxValues && len(b) > 0 {
			return nil, fmt.Errorf("more than %d values", maxValues)
		}
	}
	return vs, nil
}

func parseValue(b []byte) (value, []byte, error) {
	return parseValueMax(b, maxValues)
}

// parseValueMax parses one value, a property list of at most maxProps.
func parseValueMax(b []byte, maxProps int) (value, []byte, error) {
	if len(b) == 0 {
		return value{}, nil, errTruncated
	}
	v := value{tag: b[0]}
	b = b[1:]
	var err error
	switch v.tag {
	case tagStringNull, tagTrue, tagFalse:
	case tagString:
		i := bytes.IndexByte(b, 0)
		if i < 0 {
			return v, nil, errors.New("string without its NUL")
		}
		v.str, b = string(b[:i]), b[i+1:]
	case tagU32, tagVolume:
		v.u32, b, err = getU32(b)
	case tagU8:
		if len(b) < 1 {
			return v, nil, errTruncated
		}
		v.u32, b = uint32(b[0]), b[1:]
	case tagU64, tagS64, tagUsec, tagTimeval:
		v.raw, b, err = getBytes(b, 8)
	case tagSampleSpec:
		v.raw, b, err = getBytes(b, 6)
	case tagArbitrary:
		var n uint32
		if n, b, err = getU32(b); err == nil {
			v.raw, b, err = getBytes(b, uint64(n))
		}
	case tagChannelMap, tagCVolume:
		if len(b) < 1 {
			return v, nil, errTruncated
		}
		n := uint64(b[0])
		if n > channelsMax {
			return v, nil, fmt.Errorf("%d channels", n)
		}
		if v.tag == tagCVolume {
			n *= 4
		}
		v.raw, b, err = getBytes(b, 1+n)
	case tagProplist:
		v.props, b, err = parseProps(b, maxProps)
	case tagFormatInfo:
		if len(b) < 2 || b[0] != tagU8 {
			return v, nil, errors.New("format info without its encoding")
		}
		v.u32 = uint32(b[1])
		if len(b) < 3 || b[2] != tagProplist {
			return v, nil, errors.New("format info without its property list")
		}
		v.props, b, err = parseProps(b[3:], maxProps)
	default:
		return v, nil, fmt.Errorf("unknown type %q", v.tag)
	}
	if err != nil {
		return v, nil, fmt.Errorf("%q: %w", v.tag, err)
	}
	return v, b, nil
}

// parseProps parses the body of a property list, after its 'P'.
func parseProps(b []byte, max int) ([]prop, []byte, error) {
	var ps []prop
	for {
		k, rest, err := parseValue(b)
		if err != nil {
			return nil, nil, err
		}
		b = rest
		if k.tag == tagStringNull {
			return ps, b, nil
		}
		if k.tag != tagString || !validKey(k.str) {
			return nil, nil, fmt.Errorf("invalid property key %q", k.str)
		}
		n, rest, err := parseValue(b)
		if err != nil || n.tag != tagU32 || n.u32 > propValueMax {
			return nil, nil, fmt.Errorf("property %q: bad length", k.str)
		}
		d, rest, err := parseValue(rest)
		if err != nil || d.tag != tagArbitrary || uint32(len(d.raw)) != n.u32 {
			return nil, nil, fmt.Errorf("property %q: bad value", k.str)
		}
		b = rest
		if len(ps) == max {
			return nil, nil, fmt.Errorf("more than %d properties", max)
		}
		ps = append(ps, prop{key: k.str, value: d.raw})
	}
}

// validKey is pa_proplist_key_valid: not empty, ASCII.
func validKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] >= 0x80 {
			return false
		}
	}
	return true
}

func getU32(b []byte) (uint32, []byte, error) {
	if len(b) < 4 {
		return 0, nil, errTruncated
	}
	return binary.BigEndian.Uint32(b), b[4:], nil
}

func getBytes(b []byte, n uint64) ([]byte, []byte, error) {
	if uint64(len(b)) < n {
		return nil, nil, errTruncated
	}
	return b[:n:n], b[n:], nil
}

// appendValues encodes vs after dst.
func appendValues(dst []byte, vs []value) []byte {
	for _, v := range vs {
		dst = appendValue(dst, v)
	}
	return dst
}

func appendValue(dst []byte, v value) []byte {
	dst = append(dst, v.tag)
	switch v.tag {
	case tagString:
		dst = append(append(dst, v.str...), 0)
	case tagU32, tagVolume:
		dst = binary.BigEndian.AppendUint32(dst, v.u32)
	case tagU8:
		dst = append(dst, byte(v.u32))
	case tagArbitrary:
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(v.raw)))
		dst = append(dst, v.raw...)
	case tagProplist:
		dst = appendProps(dst, v.props)
	case tagFormatInfo:
		dst = append(dst, tagU8, byte(v.u32), tagProplist)
		dst = appendProps(dst, v.props)
	default:
		dst = append(dst, v.raw...)
	}
	return dst
}

// appendProps encodes a property list's body, after its 'P', as
// pa_tagstruct_put_proplist does.
func appendProps(dst []byte, ps []prop) []byte {
	for _, p := range ps {
		dst = appendValue(dst, value{tag: tagString, str: p.key})
		dst = appendValue(dst, u32Value(uint32(len(p.value))))
		dst = appendValue(dst, value{tag: tagArbitrary, raw: p.value})
	}
	return append(dst, tagStringNull)
}

// packet is a control packet: a tagstruct of 'L' command, 'L' tag, then
// the command's arguments.
type packet struct {
	command, tag uint32
	args         []value
}

func parsePacket(b []byte) (packet, error) {
	vs, err := parseValues(b)
	if err != nil {
		return packet{}, err
	}
	if len(vs) < 2 || vs[0].tag != tagU32 || vs[1].tag != tagU32 {
		return packet{}, errors.New("no command and tag")
	}
	return packet{command: vs[0].u32, tag: vs[1].u32, args: vs[2:]}, nil
}

func (p packet) encode() []byte {
	b := appendValue(nil, u32Value(p.command))
	b = appendValue(b, u32Value(p.tag))
	return appendValues(b, p.args)
}
