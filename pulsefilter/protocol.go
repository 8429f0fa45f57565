package pulsefilter

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Frames (pulsecore/pstream.c): a descriptor of five big-endian u32, then
// LENGTH bytes.
const (
	headerSize     = 20
	controlChannel = 0xFFFFFFFF // CHANNEL of a control packet
	maxFrame       = 16 << 20   // FRAME_SIZE_MAX_ALLOW
	// seekMask is the only part of FLAGS an audio frame may use when
	// shared memory is off: its seek mode, at most PA_SEEK_RELATIVE_END.
	// Everything above it is SHM and memfd (SHMDATA 0x80000000,
	// SHMRELEASE 0x40000000, SHMREVOKE 0xC0000000, MEMFD_BLOCK
	// 0x20000000, SHMWRITABLE 0x00800000) or undefined.
	seekMask        = 0xFF
	seekRelativeEnd = 3
)

// AUTH's version word: the protocol version in the low 16 bits, the
// client's (or server's) shared memory support in the top two.
const (
	versionMask  = 0x0000FFFF
	flagShm      = 0x80000000
	flagMemfd    = 0x40000000
	minVersion   = 8 // the oldest both servers accept
	noTag        = 0xFFFFFFFF
	invalidIndex = 0xFFFFFFFF // PA_INVALID_INDEX
	errAccess    = 1          // PA_ERR_ACCESS
)

type header struct {
	length, channel, offsetHi, offsetLo, flags uint32
}

func readHeader(r io.Reader) (header, error) {
	var b [headerSize]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return header{}, err
	}
	u := func(i int) uint32 { return binary.BigEndian.Uint32(b[4*i:]) }
	return header{u(0), u(1), u(2), u(3), u(4)}, nil
}

func (h header) bytes() []byte {
	b := make([]byte, 0, headerSize)
	for _, u := range [...]uint32{h.length, h.channel, h.offsetHi, h.offsetLo, h.flags} {
		b = binary.BigEndian.AppendUint32(b, u)
	}
	return b
}

// check refuses what a server with shared memory off refuses too, and any
// frame too large to buffer.
func (h header) check() error {
	switch {
	case h.length == 0 || h.length > maxFrame:
		return fmt.Errorf("frame of %d bytes", h.length)
	case h.channel == controlChannel && h.flags != 0:
		return fmt.Errorf("control packet with flags %#x", h.flags)
	case h.flags&^seekMask != 0:
		return fmt.Errorf("audio frame with flags %#x (shared memory is off)", h.flags)
	case h.flags&seekMask > seekRelativeEnd:
		return fmt.Errorf("audio frame with seek mode %d", h.flags&seekMask)
	}
	return nil
}

// controlFrame is a control packet's frame: header and payload.
func controlFrame(payload []byte) []byte {
	h := header{length: uint32(len(payload)), channel: controlChannel}
	return append(h.bytes(), payload...)
}

func errorPacket(tag uint32) []byte {
	return packet{command: cmdError, tag: tag, args: []value{u32Value(errAccess)}}.encode()
}

// Command numbers (pulsecore/native-common.h; pipewire-pulse's commands.h
// has the same), those the filter handles by name.
const (
	cmdError                        = 0
	cmdReply                        = 2
	cmdCreatePlaybackStream         = 3
	cmdDeletePlaybackStream         = 4
	cmdCreateRecordStream           = 5
	cmdDeleteRecordStream           = 6
	cmdAuth                         = 8
	cmdSetClientName                = 9
	cmdLookupSink                   = 10
	cmdLookupSource                 = 11
	cmdDrainPlaybackStream          = 12
	cmdStat                         = 13
	cmdGetPlaybackLatency           = 14
	cmdGetServerInfo                = 20
	cmdGetSinkInfo                  = 21
	cmdGetSinkInfoList              = 22
	cmdGetSourceInfo                = 23
	cmdGetSourceInfoList            = 24
	cmdGetSinkInputInfo             = 29
	cmdGetSourceOutputInfo          = 31
	cmdSubscribe                    = 35
	cmdSetSinkInputVolume           = 37
	cmdCorkPlaybackStream           = 41
	cmdFlushPlaybackStream          = 42
	cmdTriggerPlaybackStream        = 43
	cmdSetPlaybackStreamName        = 46
	cmdSetRecordStreamName          = 47
	cmdGetRecordLatency             = 57
	cmdCorkRecordStream             = 58
	cmdFlushRecordStream            = 59
	cmdPrebufPlaybackStream         = 60
	cmdPlaybackStreamKilled         = 64
	cmdRecordStreamKilled           = 65
	cmdRecordStreamMoved            = 79
	cmdSetSinkInputMute             = 69
	cmdSetPlaybackStreamBufferAttr  = 72
	cmdSetRecordStreamBufferAttr    = 73
	cmdUpdatePlaybackStreamRate     = 74
	cmdUpdateRecordStreamRate       = 75
	cmdUpdateRecordStreamProplist   = 80
	cmdUpdatePlaybackStreamProplist = 81
	cmdUpdateClientProplist         = 82
	cmdRemoveRecordStreamProplist   = 83
	cmdRemovePlaybackStreamProplist = 84
	cmdSetSourceOutputVolume        = 98
	cmdSetSourceOutputMute          = 99
)

// commandNames name the commands in warnings.
var commandNames = [...]string{
	"ERROR", "TIMEOUT", "REPLY", "CREATE_PLAYBACK_STREAM", "DELETE_PLAYBACK_STREAM",
	"CREATE_RECORD_STREAM", "DELETE_RECORD_STREAM", "EXIT", "AUTH", "SET_CLIENT_NAME",
	"LOOKUP_SINK", "LOOKUP_SOURCE", "DRAIN_PLAYBACK_STREAM", "STAT", "GET_PLAYBACK_LATENCY",
	"CREATE_UPLOAD_STREAM", "DELETE_UPLOAD_STREAM", "FINISH_UPLOAD_STREAM", "PLAY_SAMPLE", "REMOVE_SAMPLE",
	"GET_SERVER_INFO", "GET_SINK_INFO", "GET_SINK_INFO_LIST", "GET_SOURCE_INFO", "GET_SOURCE_INFO_LIST",
	"GET_MODULE_INFO", "GET_MODULE_INFO_LIST", "GET_CLIENT_INFO", "GET_CLIENT_INFO_LIST", "GET_SINK_INPUT_INFO",
	"GET_SINK_INPUT_INFO_LIST", "GET_SOURCE_OUTPUT_INFO", "GET_SOURCE_OUTPUT_INFO_LIST", "GET_SAMPLE_INFO", "GET_SAMPLE_INFO_LIST",
	"SUBSCRIBE", "SET_SINK_VOLUME", "SET_SINK_INPUT_VOLUME", "SET_SOURCE_VOLUME", "SET_SINK_MUTE",
	"SET_SOURCE_MUTE", "CORK_PLAYBACK_STREAM", "FLUSH_PLAYBACK_STREAM", "TRIGGER_PLAYBACK_STREAM", "SET_DEFAULT_SINK",
	"SET_DEFAULT_SOURCE", "SET_PLAYBACK_STREAM_NAME", "SET_RECORD_STREAM_NAME", "KILL_CLIENT", "KILL_SINK_INPUT",
	"KILL_SOURCE_OUTPUT", "LOAD_MODULE", "UNLOAD_MODULE", "ADD_AUTOLOAD", "REMOVE_AUTOLOAD",
	"GET_AUTOLOAD_INFO", "GET_AUTOLOAD_INFO_LIST", "GET_RECORD_LATENCY", "CORK_RECORD_STREAM", "FLUSH_RECORD_STREAM",
	"PREBUF_PLAYBACK_STREAM", "REQUEST", "OVERFLOW", "UNDERFLOW", "PLAYBACK_STREAM_KILLED",
	"RECORD_STREAM_KILLED", "SUBSCRIBE_EVENT", "MOVE_SINK_INPUT", "MOVE_SOURCE_OUTPUT", "SET_SINK_INPUT_MUTE",
	"SUSPEND_SINK", "SUSPEND_SOURCE", "SET_PLAYBACK_STREAM_BUFFER_ATTR", "SET_RECORD_STREAM_BUFFER_ATTR", "UPDATE_PLAYBACK_STREAM_SAMPLE_RATE",
	"UPDATE_RECORD_STREAM_SAMPLE_RATE", "PLAYBACK_STREAM_SUSPENDED", "RECORD_STREAM_SUSPENDED", "PLAYBACK_STREAM_MOVED", "RECORD_STREAM_MOVED",
	"UPDATE_RECORD_STREAM_PROPLIST", "UPDATE_PLAYBACK_STREAM_PROPLIST", "UPDATE_CLIENT_PROPLIST", "REMOVE_RECORD_STREAM_PROPLIST", "REMOVE_PLAYBACK_STREAM_PROPLIST",
	"REMOVE_CLIENT_PROPLIST", "STARTED", "EXTENSION", "GET_CARD_INFO", "GET_CARD_INFO_LIST",
	"SET_CARD_PROFILE", "CLIENT_EVENT", "PLAYBACK_STREAM_EVENT", "RECORD_STREAM_EVENT", "PLAYBACK_BUFFER_ATTR_CHANGED",
	"RECORD_BUFFER_ATTR_CHANGED", "SET_SINK_PORT", "SET_SOURCE_PORT", "SET_SOURCE_OUTPUT_VOLUME", "SET_SOURCE_OUTPUT_MUTE",
	"SET_PORT_LATENCY_OFFSET", "ENABLE_SRBCHANNEL", "DISABLE_SRBCHANNEL", "REGISTER_MEMFD_SHMID", "SEND_OBJECT_MESSAGE",
}

func commandName(c uint32) string {
	if c < uint32(len(commandNames)) {
		return fmt.Sprintf("%s (%d)", commandNames[c], c)
	}
	return fmt.Sprintf("command %d", c)
}
