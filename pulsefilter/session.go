package pulsefilter

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// Mode is what a client may do besides talking to its own streams.
type Mode int

const (
	// Playback allows playing sound and the queries that needs.
	Playback Mode = iota
	// Full adds recording from sources that are not monitors.
	Full
)

func (m Mode) String() string {
	if m == Full {
		return "full"
	}
	return "playback"
}

// ParseMode parses "playback" or "full".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "playback":
		return Playback, nil
	case "full":
		return Full, nil
	}
	return 0, fmt.Errorf("unknown mode %q (want playback or full)", s)
}

// access says when a command reaches the server.
type access uint8

const (
	denied access = iota
	allowed
	ownSinkInput    // only on a sink input this connection created
	ownSourceOutput // only on a source output this connection created
)

// playbackAccess lists the commands of Playback. Everything that reaches
// other clients' streams, devices, modules, defaults, the sample cache,
// extensions or shared memory is missing, so it is refused.
var playbackAccess = map[uint32]access{
	cmdSetClientName:                allowed,
	cmdUpdateClientProplist:         allowed,
	cmdCreatePlaybackStream:         allowed,
	cmdDeletePlaybackStream:         allowed,
	cmdDrainPlaybackStream:          allowed,
	cmdGetPlaybackLatency:           allowed,
	cmdCorkPlaybackStream:           allowed,
	cmdFlushPlaybackStream:          allowed,
	cmdTriggerPlaybackStream:        allowed,
	cmdSetPlaybackStreamName:        allowed,
	cmdPrebufPlaybackStream:         allowed,
	cmdSetPlaybackStreamBufferAttr:  allowed,
	cmdUpdatePlaybackStreamRate:     allowed,
	cmdUpdatePlaybackStreamProplist: allowed,
	cmdRemovePlaybackStreamProplist: allowed,
	cmdLookupSink:                   allowed,
	cmdLookupSource:                 allowed,
	cmdStat:                         allowed,
	cmdGetServerInfo:                allowed,
	cmdGetSinkInfo:                  allowed,
	cmdGetSinkInfoList:              allowed,
	cmdGetSourceInfo:                allowed,
	cmdGetSourceInfoList:            allowed,
	cmdSubscribe:                    allowed,
	cmdSetSinkInputVolume:           ownSinkInput,
	cmdSetSinkInputMute:             ownSinkInput,
	cmdGetSinkInputInfo:             ownSinkInput,
}

// recordAccess is what Full adds.
var recordAccess = map[uint32]access{
	cmdCreateRecordStream:         allowed,
	cmdDeleteRecordStream:         allowed,
	cmdSetRecordStreamName:        allowed,
	cmdGetRecordLatency:           allowed,
	cmdCorkRecordStream:           allowed,
	cmdFlushRecordStream:          allowed,
	cmdSetRecordStreamBufferAttr:  allowed,
	cmdUpdateRecordStreamRate:     allowed,
	cmdUpdateRecordStreamProplist: allowed,
	cmdRemoveRecordStreamProplist: allowed,
	cmdSetSourceOutputVolume:      ownSourceOutput,
	cmdSetSourceOutputMute:        ownSourceOutput,
	cmdGetSourceOutputInfo:        ownSourceOutput,
}

func (m Mode) access(command uint32) access {
	if a, ok := playbackAccess[command]; ok {
		return a
	}
	if m == Full {
		return recordAccess[command]
	}
	return denied
}

// maxPending bounds the requests a client may have at the server at once,
// and with them the filter's memory for it. libpulse has a handful.
const maxPending = 1 << 14

// session is the filter's view of one client connection. Its methods are
// called by the two goroutines that copy the connection's two directions.
type session struct {
	mode Mode
	warn func(error)

	mu      sync.Mutex
	authed  bool
	version uint32 // the client's protocol version, as the server reads its packets with
	// pending maps the tag of each request sent upstream to its command,
	// so replies reach only requests and the filter learns from some.
	pending map[uint32]uint32
	// sinkInputs and sourceOutputs map the channel of each stream this
	// connection created to the server's index of it. Playback and record
	// channels are numbered apart, so they need a map each.
	sinkInputs    map[uint32]uint32
	sourceOutputs map[uint32]uint32
	// blocked are record channels being deleted by the filter, internal
	// the tags of its DELETE_RECORD_STREAMs, with their channels.
	blocked      map[uint32]bool
	internal     map[uint32]uint32
	nextInternal uint32
	warned       map[uint32]bool
}

func newSession(mode Mode, warn func(error)) *session {
	return &session{
		mode:          mode,
		warn:          warn,
		pending:       map[uint32]uint32{},
		sinkInputs:    map[uint32]uint32{},
		sourceOutputs: map[uint32]uint32{},
		blocked:       map[uint32]bool{},
		internal:      map[uint32]uint32{},
		nextInternal:  noTag - 1,
		warned:        map[uint32]bool{},
	}
}

// verdict is what becomes of a control packet from the client.
type verdict struct {
	// forward, if not nil, goes upstream; otherwise the client gets
	// ERROR(tag, PA_ERR_ACCESS).
	forward []byte
	// auth: send forward with the filter's credentials.
	auth bool
	tag  uint32
}

// fromClient decides on one control packet from the client. An error
// means the client broke the protocol: close it.
func (s *session) fromClient(b []byte) (verdict, error) {
	p, err := parsePacket(b)
	if err != nil {
		return verdict{}, fmt.Errorf("malformed control packet: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.command == cmdError || p.command == cmdReply {
		// The filter relays no request from the server that a client
		// could answer, so a reply is never expected.
		return s.refuse(p, "a reply from a client"), nil
	}
	if s.inUse(p.tag) {
		// A second request with the tag of a pending one would make the
		// filter take the one's reply for the other's.
		return verdict{}, fmt.Errorf("%s reuses the tag %d of a pending request", commandName(p.command), p.tag)
	}
	if len(s.pending) >= maxPending {
		return verdict{}, fmt.Errorf("more than %d requests pending", maxPending)
	}
	if p.command == cmdAuth {
		return s.auth(p)
	}
	if !s.authed {
		return s.refuse(p, "before AUTH"), nil
	}
	switch s.mode.access(p.command) {
	case denied:
		return s.refuse(p, "not allowed"), nil
	case ownSinkInput:
		if !owns(s.sinkInputs, p.args) {
			return s.refuse(p, "not on a sink input of this client"), nil
		}
	case ownSourceOutput:
		if !owns(s.sourceOutputs, p.args) {
			return s.refuse(p, "not on a source output of this client"), nil
		}
	}
	switch p.command {
	case cmdCreateRecordStream:
		if err := checkRecord(p.args, s.version); err != nil {
			return s.refuse(p, err.Error()), nil
		}
	case cmdDeletePlaybackStream:
		// Forget the stream now: if its index went to another client's
		// stream later, this client must not reach that one.
		forget(s.sinkInputs, p.args)
	case cmdDeleteRecordStream:
		forget(s.sourceOutputs, p.args)
	}
	if cleanValues(p.args) {
		b = p.encode()
	}
	s.pending[p.tag] = p.command
	return verdict{forward: b, tag: p.tag}, nil
}

// auth passes the one AUTH a client sends with the shared memory flags
// cleared: the server then keeps all audio on the socket, as frames the
// filter sees, with no shm, memfd or srbchannel beside it.
func (s *session) auth(p packet) (verdict, error) {
	if s.authed {
		// Each AUTH sets the version the server parses the client's
		// packets with; one is all libpulse sends.
		return s.refuse(p, "a second AUTH"), nil
	}
	if len(p.args) != 2 || p.args[0].tag != tagU32 || p.args[1].tag != tagArbitrary {
		return verdict{}, errors.New("malformed AUTH")
	}
	v := p.args[0].u32
	// Only flags the filter clears may be set, so the server sees the
	// version the filter parses with (it masks the word only from 13 on).
	if v&^(versionMask|flagShm|flagMemfd) != 0 || v&versionMask < minVersion {
		return verdict{}, fmt.Errorf("AUTH with version word %#x", v)
	}
	s.authed = true
	s.version = v & versionMask
	p.args[0].u32 = v &^ (flagShm | flagMemfd)
	s.pending[p.tag] = p.command
	return verdict{forward: p.encode(), auth: true, tag: p.tag}, nil
}

func (s *session) refuse(p packet, why string) verdict {
	// Once per command: a client polling for what it may not have would
	// fill the log.
	s.warnOnce(p.command, fmt.Errorf("refused %s: %s", commandName(p.command), why))
	return verdict{tag: p.tag}
}

func (s *session) warnOnce(command uint32, err error) {
	if s.warn == nil || s.warned[command] {
		return
	}
	s.warned[command] = true
	s.warn(err)
}

// owns reports whether a command's first argument, the index of a sink
// input or source output, is one of streams'.
func owns(streams map[uint32]uint32, args []value) bool {
	if len(args) == 0 || args[0].tag != tagU32 {
		return false
	}
	for _, idx := range streams {
		if idx == args[0].u32 {
			return true
		}
	}
	return false
}

// forget drops the stream whose channel is the first of args.
func forget(streams map[uint32]uint32, args []value) {
	if len(args) > 0 && args[0].tag == tagU32 {
		delete(streams, args[0].u32)
	}
}

// checkRecord refuses a CREATE_RECORD_STREAM that asks to record what
// other clients play. The arguments are read at the positions
// command_create_record_stream (protocol-native.c) and pipewire-pulse's
// do_create_record_stream read them: one value per getter, so the
// positions agree with theirs. What the server then picked (the default
// source may be a monitor) is checked in its reply, see recordReply.
func checkRecord(args []value, version uint32) error {
	// Older clients send no direct_on_input, and get no source name in
	// the reply; PulseAudio 0.9.11 speaks 13.
	if version < 13 {
		return errors.New("recording needs protocol version 13")
	}
	// sample spec, channel map, index, name, maxlength, corked, fragsize,
	// 7 flags, peak_detect, adjust_latency, proplist, direct_on_input.
	if len(args) < 18 || args[0].tag != tagSampleSpec || args[1].tag != tagChannelMap ||
		args[2].tag != tagU32 || (args[3].tag != tagString && args[3].tag != tagStringNull) ||
		args[16].tag != tagProplist || args[17].tag != tagU32 {
		return errors.New("a record stream the filter cannot read")
	}
	// Refused rather than looked up: the filter cannot tell a monitor by
	// its index without asking the server.
	if args[2].u32 != invalidIndex {
		return errors.New("recording from a source given by index")
	}
	if args[3].tag == tagString && !recordableSource(args[3].str) {
		return fmt.Errorf("recording from %q", args[3].str)
	}
	// direct_on_input records one sink input alone.
	if args[17].u32 != invalidIndex {
		return errors.New("recording a sink input (direct_on_input)")
	}
	return nil
}

// recordableSource reports whether a source named name is safe to record:
// not a monitor of a sink, that is, of what other clients play.
func recordableSource(name string) bool {
	if name == "@DEFAULT_SOURCE@" {
		return true
	}
	// "@DEFAULT_MONITOR@" is the default sink's monitor (namereg.c, and
	// pipewire-pulse's find_device). A name that starts with a digit, a
	// sign or a space is read as an index by both servers (pa_atou,
	// atoi), and an index may be a monitor's.
	if name == "" || !isLetter(name[0]) {
		return false
	}
	return !strings.HasSuffix(strings.ToLower(name), ".monitor")
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// serverVerdict is what becomes of a control packet from the server: what
// the client gets, if anything, and a request of the filter's own to send
// upstream.
type serverVerdict struct {
	toClient, toServer []byte
}

// fromServer decides on one control packet from the server. An error
// means the server's packet cannot be read.
func (s *session) fromServer(b []byte) (serverVerdict, error) {
	cmd, rest, err := parseValue(b)
	if err != nil || cmd.tag != tagU32 {
		return serverVerdict{}, errors.New("server packet without a command")
	}
	tag, rest, err := parseValue(rest)
	if err != nil || tag.tag != tagU32 {
		return serverVerdict{}, errors.New("server packet without a tag")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case cmd.u32 == cmdReply || cmd.u32 == cmdError:
		if ch, ok := s.internal[tag.u32]; ok {
			// The filter's own DELETE_RECORD_STREAM is done: no more of
			// that stream's data will come, and the channel may be
			// given to a new stream.
			delete(s.internal, tag.u32)
			delete(s.blocked, ch)
			return serverVerdict{}, nil
		}
		req, ok := s.pending[tag.u32]
		if !ok {
			s.warnf("dropped a server %s for tag %d, which the client has not asked", commandName(cmd.u32), tag.u32)
			return serverVerdict{}, nil
		}
		delete(s.pending, tag.u32)
		if cmd.u32 == cmdReply {
			return s.reply(req, tag.u32, b, rest), nil
		}
		return serverVerdict{toClient: b}, nil
	case tag.u32 == noTag:
		return s.event(cmd.u32, b, rest), nil
	}
	// A request from the server expecting the client's reply: only
	// ENABLE_SRBCHANNEL is one, and the filter turned shared memory off.
	s.warnf("dropped a server %s with tag %d", commandName(cmd.u32), tag.u32)
	return serverVerdict{}, nil
}

// reply learns from the server's reply to request, and clears the shm
// flags of an AUTH reply. args is the reply's tail after command and tag.
func (s *session) reply(request, tag uint32, b, args []byte) serverVerdict {
	vs := leadingValues(args, 8)
	if len(vs) == 0 || vs[0].tag != tagU32 {
		if request == cmdCreateRecordStream {
			return s.killRecord(vs, tag, "a record stream reply the filter cannot read")
		}
		return serverVerdict{toClient: b}
	}
	switch request {
	case cmdAuth:
		if v := vs[0].u32; v&(flagShm|flagMemfd) != 0 {
			out := append([]byte(nil), b...)
			i := len(b) - len(args) + 1 // after the 'L'
			binary.BigEndian.PutUint32(out[i:], v&^(flagShm|flagMemfd))
			return serverVerdict{toClient: out}
		}
	case cmdCreatePlaybackStream:
		// The reply starts 'L' channel, 'L' sink input index.
		if len(vs) > 1 && vs[1].tag == tagU32 && vs[1].u32 != invalidIndex {
			s.sinkInputs[vs[0].u32] = vs[1].u32
		}
	case cmdCreateRecordStream:
		// 'L' channel, 'L' source output index, 'L' maxlength, 'L'
		// fragsize, 'a', 'm', 'L' source index, 't' source name: the
		// source the server picked, which for the default source may be
		// a monitor (PulseAudio falls back to one when there is no other
		// source).
		if len(vs) < 8 || vs[1].tag != tagU32 || !vs[7].isString() {
			return s.killRecord(vs, tag, "a record stream reply the filter cannot read")
		}
		if !recordedSource(vs[7]) {
			return s.killRecord(vs, tag, fmt.Sprintf("the server gave a record stream the source %q", vs[7].str))
		}
		if vs[1].u32 != invalidIndex {
			s.sourceOutputs[vs[0].u32] = vs[1].u32
		}
	}
	return serverVerdict{toClient: b}
}

// killRecord answers a CREATE_RECORD_STREAM the server granted with ERROR
// instead, and deletes the stream.
func (s *session) killRecord(vs []value, tag uint32, why string) serverVerdict {
	s.warnf("refused %s: %s", commandName(cmdCreateRecordStream), why)
	out := serverVerdict{toClient: errorPacket(tag)}
	if len(vs) > 0 && vs[0].tag == tagU32 {
		out.toServer = s.deleteRecord(vs[0].u32)
	}
	return out
}

// deleteRecord returns the filter's own DELETE_RECORD_STREAM of channel,
// whose data is dropped until the server answered it.
func (s *session) deleteRecord(channel uint32) []byte {
	delete(s.sourceOutputs, channel)
	s.blocked[channel] = true
	// The filter's tags count down from the top, where libpulse's, which
	// count up from 0, never get to; a client that uses one is closed.
	tag := s.nextInternal
	for s.inUse(tag) {
		tag--
	}
	s.nextInternal = tag - 1
	s.internal[tag] = channel
	return packet{command: cmdDeleteRecordStream, tag: tag, args: []value{u32Value(channel)}}.encode()
}

func (s *session) inUse(tag uint32) bool {
	_, pending := s.pending[tag]
	_, internal := s.internal[tag]
	return pending || internal || tag == noTag
}

// event passes an event on, forgetting streams the server killed and
// deleting a record stream it moved to a monitor.
func (s *session) event(command uint32, b, args []byte) serverVerdict {
	vs := leadingValues(args, 3)
	if len(vs) == 0 || vs[0].tag != tagU32 {
		return serverVerdict{toClient: b}
	}
	ch := vs[0].u32
	switch command {
	case cmdPlaybackStreamKilled:
		delete(s.sinkInputs, ch)
	case cmdRecordStreamKilled:
		delete(s.sourceOutputs, ch)
	case cmdRecordStreamMoved:
		// 'L' channel, 'L' source index, 't' source name: a stream
		// follows the default source, or the user moves it.
		if len(vs) < 3 || !vs[2].isString() || !recordedSource(vs[2]) {
			s.warnf("deleted a record stream the server moved to a source that may be a monitor")
			return serverVerdict{
				toClient: packet{command: cmdRecordStreamKilled, tag: noTag, args: []value{u32Value(ch)}}.encode(),
				toServer: s.deleteRecord(ch),
			}
		}
	}
	return serverVerdict{toClient: b}
}

// dropData reports whether audio from the server on channel is dropped:
// it is a record stream the filter is deleting.
func (s *session) dropData(channel uint32) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.blocked[channel]
}

// recordedSource reports whether the source a server names in a reply or
// event may be recorded. pipewire-pulse names none (NULL) while a stream
// is not linked yet; its monitors are never a default source.
func recordedSource(v value) bool {
	return v.tag == tagStringNull || !strings.HasSuffix(strings.ToLower(v.str), ".monitor")
}

func (v value) isString() bool { return v.tag == tagString || v.tag == tagStringNull }

// leadingValues parses up to n values from the start of b, leniently: a
// server's packet may go on with what the filter need not understand.
func leadingValues(b []byte, n int) []value {
	var vs []value
	for len(vs) < n && len(b) > 0 {
		v, rest, err := parseValue(b)
		if err != nil {
			break
		}
		vs = append(vs, v)
		b = rest
	}
	return vs
}

func (s *session) warnf(format string, args ...any) {
	if s.warn != nil {
		s.warn(fmt.Errorf(format, args...))
	}
}
