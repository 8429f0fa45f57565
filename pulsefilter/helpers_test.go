package pulsefilter

import "encoding/binary"

// Builders of tagstruct values and packets as libpulse sends them.

func vL(u uint32) value    { return u32Value(u) }
func vS(s string) value    { return value{tag: tagString, str: s} }
func vB(b bool) value      { return map[bool]value{true: {tag: tagTrue}, false: {tag: tagFalse}}[b] }
func vU8(u uint8) value    { return value{tag: tagU8, u32: uint32(u)} }
func vX(b []byte) value    { return value{tag: tagArbitrary, raw: b} }
func vUsec(u uint64) value { return value{tag: tagUsec, raw: binary.BigEndian.AppendUint64(nil, u)} }

var vNull = value{tag: tagStringNull}

// vSpec is s16le stereo at 44100 Hz.
func vSpec() value { return value{tag: tagSampleSpec, raw: []byte{3, 2, 0, 0, 0xAC, 0x44}} }

func vMap() value { return value{tag: tagChannelMap, raw: []byte{2, 1, 2}} }

func vVol() value {
	return value{tag: tagCVolume, raw: []byte{2, 0, 1, 0, 0, 0, 1, 0, 0}}
}

// vProps is a property list of key, value pairs.
func vProps(kv ...string) value {
	v := value{tag: tagProplist}
	for i := 0; i+1 < len(kv); i += 2 {
		v.props = append(v.props, prop{key: kv[i], value: append([]byte(kv[i+1]), 0)})
	}
	return v
}

func vFormat(kv ...string) value {
	v := vProps(kv...)
	v.tag = tagFormatInfo
	v.u32 = 1 // PA_ENCODING_PCM
	return v
}

func pkt(cmd, tag uint32, args ...value) []byte {
	return packet{command: cmd, tag: tag, args: args}.encode()
}

// authArgs are AUTH's: version 35 with shm and memfd, and a cookie.
func authArgs() []value {
	return []value{vL(35 | flagShm | flagMemfd), vX(make([]byte, 256))}
}

// playbackArgs are CREATE_PLAYBACK_STREAM's at protocol version 35
// (command_create_playback_stream's order).
func playbackArgs(props value, formats ...value) []value {
	a := []value{vSpec(), vMap(), vL(invalidIndex), vNull, vL(invalidIndex), vB(false),
		vL(invalidIndex), vL(invalidIndex), vL(invalidIndex), vL(invalidIndex), vVol()}
	for range 7 { // no_remap .. variable_rate
		a = append(a, vB(false))
	}
	a = append(a, vB(false), vB(true), props) // muted, adjust_latency
	a = append(a, vB(false), vB(false))       // volume_set, early_requests
	a = append(a, vB(false), vB(false), vB(false), vB(false), vB(false))
	a = append(a, vU8(uint8(len(formats))))
	return append(a, formats...)
}

// recordArgs are CREATE_RECORD_STREAM's at protocol version 35
// (command_create_record_stream's order).
func recordArgs(index uint32, source value, direct uint32, props value) []value {
	a := []value{vSpec(), vMap(), vL(index), source, vL(invalidIndex), vB(false), vL(invalidIndex)}
	for range 7 {
		a = append(a, vB(false))
	}
	a = append(a, vB(false), vB(true), props, vL(direct)) // peak_detect, adjust_latency
	a = append(a, vB(false), vB(false), vB(false))        // early_requests, dont_inhibit, fail_on_suspend
	a = append(a, vU8(0), vVol(), vB(false), vB(false), vB(false), vB(false), vB(false))
	return a
}

// recordReply is the server's reply to CREATE_RECORD_STREAM at version 35,
// naming the source it picked.
func recordReply(tag, channel, index uint32, source value) []byte {
	return pkt(cmdReply, tag, vL(channel), vL(index), vL(1<<22), vL(4096), vSpec(), vMap(), vL(1), source,
		vB(false), vUsec(0), vFormat())
}
