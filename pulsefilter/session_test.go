package pulsefilter

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// authed is a session past AUTH, at protocol version 35.
func authed(t *testing.T, mode Mode) *session {
	t.Helper()
	s := newSession(mode, nil)
	v, err := s.fromClient(pkt(cmdAuth, 1, authArgs()...))
	if err != nil || v.forward == nil {
		t.Fatalf("AUTH: %+v, %v", v, err)
	}
	if _, err := s.fromServer(pkt(cmdReply, 1, vL(35))); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestModeAccess(t *testing.T) {
	playback := []uint32{9, 3, 4, 12, 14, 41, 42, 43, 46, 60, 72, 74, 81, 84, 10, 11, 13, 20, 21, 22, 23, 24, 35, 82}
	record := []uint32{5, 6, 47, 57, 58, 59, 73, 75, 80, 83}
	for c := uint32(0); c <= 110; c++ {
		want := map[Mode]access{}
		switch {
		case slices.Contains(playback, c):
			want[Playback], want[Full] = allowed, allowed
		case c == 37 || c == 69 || c == 29:
			want[Playback], want[Full] = ownSinkInput, ownSinkInput
		case slices.Contains(record, c):
			want[Full] = allowed
		case c == 98 || c == 99 || c == 31:
			want[Full] = ownSourceOutput
		}
		for _, m := range []Mode{Playback, Full} {
			if got := m.access(c); got != want[m] {
				t.Errorf("%v: %s: access %d, want %d", m, commandName(c), got, want[m])
			}
		}
	}
}

func TestCommandNames(t *testing.T) {
	for c, want := range map[uint32]string{0: "ERROR", 8: "AUTH", 37: "SET_SINK_INPUT_VOLUME", 51: "LOAD_MODULE",
		67: "MOVE_SINK_INPUT", 87: "EXTENSION", 98: "SET_SOURCE_OUTPUT_VOLUME", 103: "REGISTER_MEMFD_SHMID", 104: "SEND_OBJECT_MESSAGE"} {
		if got := commandName(c); got != want+" ("+strconv.Itoa(int(c))+")" {
			t.Errorf("commandName(%d) = %q", c, got)
		}
	}
	if got := commandName(105); got != "command 105" {
		t.Errorf("commandName(105) = %q", got)
	}
}

func TestParseMode(t *testing.T) {
	for s, want := range map[string]Mode{"playback": Playback, "full": Full} {
		if m, err := ParseMode(s); err != nil || m != want || m.String() != s {
			t.Errorf("ParseMode(%q) = %v, %v", s, m, err)
		}
	}
	if _, err := ParseMode("all"); err == nil {
		t.Error("ParseMode(all) succeeded")
	}
}

// TestRefused: each is answered ERROR(tag, PA_ERR_ACCESS) and not sent on.
func TestRefused(t *testing.T) {
	for _, tt := range []struct {
		name string
		mode Mode
		pkt  []byte
	}{
		{"LOAD_MODULE", Full, pkt(51, 5, vS("module-ladspa-sink"), vS("sink_name=x plugin=/tmp/evil.so label=x"))},
		{"UNLOAD_MODULE", Full, pkt(52, 5, vL(3))},
		{"SET_DEFAULT_SINK", Full, pkt(44, 5, vS("other"))},
		{"SET_DEFAULT_SOURCE", Full, pkt(45, 5, vS("other"))},
		{"KILL_CLIENT", Full, pkt(48, 5, vL(0))},
		{"KILL_SINK_INPUT", Full, pkt(49, 5, vL(0))},
		{"MOVE_SINK_INPUT", Full, pkt(67, 5, vL(0), vL(invalidIndex), vS("other"))},
		{"SET_SINK_VOLUME", Full, pkt(36, 5, vL(0), vNull, vVol())},
		{"SET_SINK_INPUT_VOLUME, not its own", Full, pkt(37, 5, vL(100), vVol())},
		{"SET_SINK_INPUT_MUTE, not its own", Full, pkt(69, 5, vL(100), vB(true))},
		{"GET_SINK_INPUT_INFO, not its own", Full, pkt(29, 5, vL(100))},
		{"SET_SINK_INPUT_VOLUME, no index", Full, pkt(37, 5)},
		{"GET_SINK_INPUT_INFO_LIST", Full, pkt(30, 5)},
		{"GET_CLIENT_INFO_LIST", Full, pkt(28, 5)},
		{"GET_MODULE_INFO_LIST", Full, pkt(26, 5)},
		{"SUSPEND_SINK", Full, pkt(70, 5, vL(invalidIndex), vNull, vB(true))},
		{"PLAY_SAMPLE", Full, pkt(18, 5, vL(invalidIndex), vNull, vL(0x10000), vS("bell"))},
		{"CREATE_UPLOAD_STREAM", Full, pkt(15, 5, vS("x"), vSpec(), vMap(), vL(4), vProps())},
		{"EXTENSION", Full, pkt(87, 5, vL(invalidIndex), vS("module-stream-restore"), vL(0))},
		{"SET_CARD_PROFILE", Full, pkt(90, 5, vL(0), vNull, vS("off"))},
		{"SET_SINK_PORT", Full, pkt(96, 5, vL(0), vNull, vS("x"))},
		{"SEND_OBJECT_MESSAGE", Full, pkt(104, 5, vS("/core"), vS("list-handlers"), vNull)},
		{"REGISTER_MEMFD_SHMID", Full, pkt(103, 5, vL(1))},
		{"ENABLE_SRBCHANNEL", Full, pkt(101, 5)},
		{"EXIT", Full, pkt(7, 5)},
		{"REPLY", Full, pkt(cmdReply, 5)},
		{"ERROR", Full, pkt(cmdError, 5, vL(1))},
		{"REPLY with the events' tag", Full, pkt(cmdReply, noTag)},
		{"unknown", Full, pkt(200, 5)},
		{"autoload", Full, pkt(53, 5)},
		{"recording in Playback", Playback, pkt(5, 5, recordArgs(invalidIndex, vNull, invalidIndex, vProps())...)},
		{"DELETE_RECORD_STREAM in Playback", Playback, pkt(6, 5, vL(0))},
		{"SET_SOURCE_OUTPUT_VOLUME in Playback", Playback, pkt(98, 5, vL(0), vVol())},
		{"second AUTH", Full, pkt(cmdAuth, 5, authArgs()...)},
		{"record from a monitor", Full, pkt(5, 5, recordArgs(invalidIndex, vS("alsa_output.pci.analog-stereo.monitor"), invalidIndex, vProps())...)},
		{"record from a MONITOR", Full, pkt(5, 5, recordArgs(invalidIndex, vS("x.MONITOR"), invalidIndex, vProps())...)},
		{"record from the default monitor", Full, pkt(5, 5, recordArgs(invalidIndex, vS("@DEFAULT_MONITOR@"), invalidIndex, vProps())...)},
		{"record from an index", Full, pkt(5, 5, recordArgs(1, vNull, invalidIndex, vProps())...)},
		{"record from a name read as an index", Full, pkt(5, 5, recordArgs(invalidIndex, vS("1"), invalidIndex, vProps())...)},
		{"record from a name read as a hex index", Full, pkt(5, 5, recordArgs(invalidIndex, vS(" 0x1"), invalidIndex, vProps())...)},
		{"record from an empty name", Full, pkt(5, 5, recordArgs(invalidIndex, vS(""), invalidIndex, vProps())...)},
		{"record a sink input", Full, pkt(5, 5, recordArgs(invalidIndex, vNull, 7, vProps())...)},
		{"record, arguments unreadable", Full, pkt(5, 5, vSpec(), vMap(), vL(invalidIndex))},
		{"record, no direct_on_input", Full, pkt(5, 5, recordArgs(invalidIndex, vNull, invalidIndex, vProps())[:16]...)},
		{"record, direct_on_input not a number", Full, pkt(5, 5, append(recordArgs(invalidIndex, vNull, invalidIndex, vProps())[:17], vNull)...)},
	} {
		s := authed(t, tt.mode)
		before := len(s.pending)
		v, err := s.fromClient(tt.pkt)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		p, _ := parsePacket(tt.pkt)
		if v.forward != nil || v.tag != p.tag {
			t.Errorf("%s: forwarded", tt.name)
		}
		if len(s.pending) != before {
			t.Errorf("%s: a refused request is pending", tt.name)
		}
	}
}

func TestBeforeAuth(t *testing.T) {
	s := newSession(Full, nil)
	v, err := s.fromClient(pkt(cmdGetServerInfo, 1))
	if err != nil || v.forward != nil {
		t.Errorf("GET_SERVER_INFO before AUTH: %+v, %v", v, err)
	}
}

// TestAllowed: each is sent on byte for byte.
func TestAllowed(t *testing.T) {
	for _, tt := range []struct {
		name string
		mode Mode
		pkt  []byte
	}{
		{"SET_CLIENT_NAME, clean", Playback, pkt(9, 5, vProps("application.name", "paplay", "media.role", "music", "window.x11.display", ":0"))},
		{"CREATE_PLAYBACK_STREAM", Playback, pkt(3, 5, playbackArgs(vProps("media.name", "x"), vFormat("format.rate", "44100"))...)},
		{"DELETE_PLAYBACK_STREAM", Playback, pkt(4, 5, vL(0))},
		{"DRAIN", Playback, pkt(12, 5, vL(0))},
		{"STAT", Playback, pkt(13, 5)},
		{"GET_PLAYBACK_LATENCY", Playback, pkt(14, 5, vL(0), value{tag: tagTimeval, raw: make([]byte, 8)}, vUsec(0))},
		{"LOOKUP_SINK", Playback, pkt(10, 5, vS("@DEFAULT_SINK@"))},
		{"GET_SERVER_INFO", Playback, pkt(20, 5)},
		{"GET_SINK_INFO_LIST", Playback, pkt(22, 5)},
		{"GET_SOURCE_INFO", Playback, pkt(23, 5, vL(invalidIndex), vS("x"))},
		{"SUBSCRIBE", Playback, pkt(35, 5, vL(0x1FF))},
		{"CORK", Playback, pkt(41, 5, vL(0), vB(true))},
		{"SET_PLAYBACK_STREAM_NAME", Playback, pkt(46, 5, vL(0), vS("x"))},
		{"UPDATE_PLAYBACK_STREAM_PROPLIST", Playback, pkt(81, 5, vL(0), vL(1), vProps("media.title", "x"))},
		{"UPDATE_CLIENT_PROPLIST", Playback, pkt(82, 5, vL(1), vProps("application.icon_name", "x"))},
		{"REMOVE_PLAYBACK_STREAM_PROPLIST", Playback, pkt(84, 5, vL(0), vS("media.title"), vNull)},
		{"record from the default source", Full, pkt(5, 5, recordArgs(invalidIndex, vNull, invalidIndex, vProps("media.name", "rec"))...)},
		{"record from @DEFAULT_SOURCE@", Full, pkt(5, 5, recordArgs(invalidIndex, vS("@DEFAULT_SOURCE@"), invalidIndex, vProps())...)},
		{"record from a microphone", Full, pkt(5, 5, recordArgs(invalidIndex, vS("alsa_input.pci-0000_00_1f.3.analog-stereo"), invalidIndex, vProps())...)},
		{"GET_RECORD_LATENCY", Full, pkt(57, 5, vL(0), value{tag: tagTimeval, raw: make([]byte, 8)})},
		{"UPDATE_RECORD_STREAM_PROPLIST", Full, pkt(80, 5, vL(0), vL(1), vProps("media.title", "x"))},
	} {
		s := authed(t, tt.mode)
		v, err := s.fromClient(tt.pkt)
		if err != nil || !bytes.Equal(v.forward, tt.pkt) {
			t.Errorf("%s: verdict %+v, %v; want it forwarded unchanged", tt.name, v, err)
		}
		if v.auth {
			t.Errorf("%s: sent with credentials", tt.name)
		}
	}
}

func TestAuth(t *testing.T) {
	s := newSession(Playback, nil)
	v, err := s.fromClient(pkt(cmdAuth, 1, authArgs()...))
	if err != nil {
		t.Fatal(err)
	}
	want := pkt(cmdAuth, 1, vL(35), vX(make([]byte, 256)))
	if !v.auth || !bytes.Equal(v.forward, want) {
		t.Errorf("AUTH forwarded as % x (credentials %v), want % x", v.forward, v.auth, want)
	}
	out, err := s.fromServer(pkt(cmdReply, 1, vL(35|flagShm|flagMemfd), vS("more")))
	if err != nil || !bytes.Equal(out.toClient, pkt(cmdReply, 1, vL(35), vS("more"))) || out.toServer != nil {
		t.Errorf("AUTH reply passed as % x, %v", out, err)
	}
	if s.version != 35 {
		t.Errorf("version %d", s.version)
	}

	// An old client's version word passes as it is.
	s = newSession(Playback, nil)
	old := pkt(cmdAuth, 1, vL(12), vX(make([]byte, 256)))
	if v, err := s.fromClient(old); err != nil || !bytes.Equal(v.forward, old) || s.version != 12 {
		t.Errorf("AUTH 12: %+v, %v, version %d", v, err, s.version)
	}

	for _, b := range [][]byte{
		pkt(cmdAuth, 1, vL(7), vX(make([]byte, 256))),
		pkt(cmdAuth, 1, vL(35|0x10000), vX(make([]byte, 256))),
		pkt(cmdAuth, 1, vL(35)),
		pkt(cmdAuth, 1, vS("35"), vX(nil)),
	} {
		if _, err := newSession(Playback, nil).fromClient(b); err == nil {
			t.Errorf("AUTH % x accepted", b)
		}
	}
}

func TestClientProtocolErrors(t *testing.T) {
	s := authed(t, Full)
	for _, b := range [][]byte{
		{'L', 0, 0},
		pkt(cmdGetServerInfo, noTag),
		append(pkt(cmdGetServerInfo, 9), 'z'),
	} {
		if _, err := s.fromClient(b); err == nil {
			t.Errorf("% x accepted", b)
		}
	}
	if v, err := s.fromClient(pkt(cmdGetServerInfo, 9)); err != nil || v.forward == nil {
		t.Fatal(v, err)
	}
	if _, err := s.fromClient(pkt(cmdStat, 9)); err == nil {
		t.Error("a pending tag reused")
	}
}

func TestPendingLimit(t *testing.T) {
	s := authed(t, Playback)
	for tag := range uint32(maxPending) {
		if _, err := s.fromClient(pkt(cmdStat, tag+10)); err != nil {
			t.Fatalf("request %d: %v", tag, err)
		}
	}
	if _, err := s.fromClient(pkt(cmdStat, 5)); err == nil {
		t.Error("no limit")
	}
}

func TestPropsCleaned(t *testing.T) {
	dirty := vProps(
		"application.name", "game",
		"pipewire.client.access", "unrestricted",
		"pipewire.access.portal.app_id", "x",
		"application.process.id", "1",
		"remote.name", "x",
		"node.target", "alsa_output.x",
		"target.object", "42",
		"filter.want", "echo-cancel",
		"filter.apply.echo-cancel.parameters", "x",
		"module-stream-restore.id", "x",
		"media.category", "Manager",
		"media.class", "Audio/Sink",
		"audioconvert.filter-graph.0", "{}",
		"audio.adapt.converter", "x",
		"debug.wav-path", "/home/u/.bashrc",
		"stream.capture.sink", "true",
		"priority.session", "5000",
		"media.role", "game",
		"window.x11.display", ":0",
		"event.id", "bell",
	)
	clean := vProps("application.name", "game", "media.role", "game", "window.x11.display", ":0", "event.id", "bell")
	for _, tt := range []struct {
		name       string
		mode       Mode
		dirty, out []byte
	}{
		{"SET_CLIENT_NAME", Playback, pkt(9, 5, dirty), pkt(9, 5, clean)},
		{"UPDATE_CLIENT_PROPLIST", Playback, pkt(82, 5, vL(1), dirty), pkt(82, 5, vL(1), clean)},
		{"UPDATE_PLAYBACK_STREAM_PROPLIST", Playback, pkt(81, 5, vL(0), vL(1), dirty), pkt(81, 5, vL(0), vL(1), clean)},
		{"UPDATE_RECORD_STREAM_PROPLIST", Full, pkt(80, 5, vL(0), vL(1), dirty), pkt(80, 5, vL(0), vL(1), clean)},
		{"CREATE_PLAYBACK_STREAM", Playback,
			pkt(3, 5, playbackArgs(dirty, vFormat("format.rate", "48000", "node.target", "x"))...),
			pkt(3, 5, playbackArgs(clean, vFormat("format.rate", "48000"))...)},
		{"CREATE_RECORD_STREAM", Full,
			pkt(5, 5, recordArgs(invalidIndex, vNull, invalidIndex, dirty)...),
			pkt(5, 5, recordArgs(invalidIndex, vNull, invalidIndex, clean)...)},
	} {
		s := authed(t, tt.mode)
		v, err := s.fromClient(tt.dirty)
		if err != nil || !bytes.Equal(v.forward, tt.out) {
			t.Errorf("%s: forwarded %q, %v\nwant %q", tt.name, v.forward, err, tt.out)
		}
	}
}

func TestOwnStreams(t *testing.T) {
	s := authed(t, Full)
	s2 := authed(t, Full)
	mustForward := func(s *session, b []byte, want bool) {
		t.Helper()
		v, err := s.fromClient(b)
		if err != nil || (v.forward != nil) != want {
			t.Errorf("% x: forwarded %v (%v), want %v", b, v.forward != nil, err, want)
		}
	}
	reply := func(s *session, b []byte) {
		t.Helper()
		if out, err := s.fromServer(b); err != nil || !bytes.Equal(out.toClient, b) || out.toServer != nil {
			t.Fatalf("reply % x: %v", b, err)
		}
	}
	mustForward(s, pkt(3, 10, playbackArgs(vProps())...), true)
	reply(s, pkt(cmdReply, 10, vL(0), vL(100), vL(4096)))
	mustForward(s, pkt(5, 11, recordArgs(invalidIndex, vNull, invalidIndex, vProps())...), true)
	reply(s, recordReply(11, 0, 200, vS("mic")))
	mustForward(s, pkt(3, 12, playbackArgs(vProps())...), true)
	reply(s, pkt(cmdError, 12, vL(5)))
	mustForward(s, pkt(3, 13, playbackArgs(vProps())...), true)
	reply(s, pkt(cmdReply, 13, vL(1))) // no index: nothing learned

	mustForward(s, pkt(37, 20, vL(100), vVol()), true)
	mustForward(s, pkt(69, 21, vL(100), vB(true)), true)
	mustForward(s, pkt(29, 22, vL(100)), true)
	mustForward(s, pkt(98, 23, vL(200), vVol()), true)
	mustForward(s, pkt(99, 24, vL(200), vB(true)), true)
	mustForward(s, pkt(31, 25, vL(200)), true)
	mustForward(s, pkt(37, 26, vL(200), vVol()), false) // a source output's index
	mustForward(s, pkt(98, 27, vL(100), vVol()), false)
	// Another client cannot reach them.
	mustForward(s2, pkt(37, 20, vL(100), vVol()), false)
	mustForward(s2, pkt(31, 21, vL(200)), false)

	// Deleting record stream 0 leaves playback stream 0 alone.
	mustForward(s, pkt(6, 30, vL(0)), true)
	mustForward(s, pkt(98, 31, vL(200), vVol()), false)
	mustForward(s, pkt(37, 32, vL(100), vVol()), true)
	mustForward(s, pkt(4, 33, vL(0)), true)
	mustForward(s, pkt(37, 34, vL(100), vVol()), false)

	// A stream the server killed is forgotten.
	mustForward(s, pkt(3, 40, playbackArgs(vProps())...), true)
	reply(s, pkt(cmdReply, 40, vL(3), vL(101)))
	mustForward(s, pkt(5, 41, recordArgs(invalidIndex, vNull, invalidIndex, vProps())...), true)
	reply(s, recordReply(41, 3, 201, vNull))
	mustForward(s, pkt(37, 42, vL(101), vVol()), true)
	reply(s, pkt(cmdPlaybackStreamKilled, noTag, vL(3)))
	reply(s, pkt(cmdRecordStreamKilled, noTag, vL(3)))
	mustForward(s, pkt(37, 43, vL(101), vVol()), false)
	mustForward(s, pkt(98, 44, vL(201), vVol()), false)
}

func TestFromServer(t *testing.T) {
	var warnings []error
	s := newSession(Playback, func(err error) { warnings = append(warnings, err) })
	if _, err := s.fromClient(pkt(cmdAuth, 1, authArgs()...)); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		in   []byte
		pass bool
	}{
		{"reply to nothing", pkt(cmdReply, 9), false},
		{"error to nothing", pkt(cmdError, 9, vL(1)), false},
		{"AUTH reply", pkt(cmdReply, 1, vL(35)), true},
		{"AUTH reply again", pkt(cmdReply, 1, vL(35)), false},
		{"event", pkt(66, noTag, vL(0x10), vL(3)), true},
		{"REQUEST", pkt(61, noTag, vL(0), vL(4096)), true},
		{"server request", pkt(101, 77), false},
		{"unreadable event", append(pkt(64, noTag), 'z'), true},
	} {
		v, err := s.fromServer(tt.in)
		out := v.toClient
		if err != nil || (out != nil) != tt.pass || (tt.pass && !bytes.Equal(out, tt.in)) || v.toServer != nil {
			t.Errorf("%s: passed % x, %v; want passed %v", tt.name, out, err, tt.pass)
		}
	}
	if len(warnings) != 4 {
		t.Errorf("warnings %v, want one for each dropped packet", warnings)
	}
	for _, b := range [][]byte{{}, {'t', 0}, pkt(cmdReply, 1)[:5]} {
		if _, err := s.fromServer(b); err == nil {
			t.Errorf("server packet % x accepted", b)
		}
	}
}

func TestRefusalWarnedOnce(t *testing.T) {
	var warnings []error
	s := newSession(Playback, func(err error) { warnings = append(warnings, err) })
	s.fromClient(pkt(cmdAuth, 1, authArgs()...))
	for tag := range uint32(3) {
		s.fromClient(pkt(51, 10+tag, vS("module-null-sink"), vS("")))
	}
	s.fromClient(pkt(52, 20, vL(1)))
	if len(warnings) != 2 || !strings.Contains(warnings[0].Error(), "LOAD_MODULE (51)") {
		t.Errorf("warnings %v", warnings)
	}
}

// FuzzSession feeds sessions in both modes a sequence of packets from the
// client and the server, in the format of testdata/*.frames: no input
// panics them, nothing refused reaches the server, and what reaches it
// parses and has only kept properties.
func FuzzSession(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.frames")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	session := func(frames ...[]byte) []byte { return bytes.Join(frames, nil) }
	c := func(b []byte) []byte { return append([]byte{'C'}, controlFrame(b)...) }
	sv := func(b []byte) []byte { return append([]byte{'S'}, controlFrame(b)...) }
	f.Add(session(c(pkt(cmdAuth, 1, authArgs()...)), sv(pkt(cmdReply, 1, vL(35|flagShm))),
		c(pkt(3, 2, playbackArgs(vProps("media.name", "x", "pipewire.client.access", "unrestricted"))...)),
		sv(pkt(cmdReply, 2, vL(0), vL(100))), c(pkt(37, 3, vL(100), vVol())), sv(pkt(cmdPlaybackStreamKilled, noTag, vL(0))),
		c(pkt(69, 4, vL(100), vB(true)))))
	f.Add(session(c(pkt(cmdAuth, 1, authArgs()...)), c(pkt(5, 2, recordArgs(invalidIndex, vNull, invalidIndex, vProps("node.name", "x"))...)),
		sv(recordReply(2, 0, 200, vS("x.monitor"))), sv(pkt(cmdReply, noTag-1)), sv(pkt(cmdRecordStreamMoved, noTag, vL(0), vL(1), vS("a.monitor"))),
		c(pkt(51, 3, vS("module-ladspa-sink"))), c(pkt(98, 4, vL(200), vVol()))))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, mode := range []Mode{Playback, Full} {
			s := newSession(mode, func(error) {})
			for b := data; len(b) > 1+headerSize; {
				h, _ := readHeader(bytes.NewReader(b[1:]))
				end := 1 + headerSize + int(min(h.length, uint32(len(b)-1-headerSize)))
				dir, payload := b[0], b[1+headerSize:end]
				b = b[end:]
				if h.channel != controlChannel {
					continue
				}
				if dir == 'S' {
					out, err := s.fromServer(payload)
					if err == nil && out.toServer != nil {
						del, err := parsePacket(out.toServer)
						if err != nil || del.command != cmdDeleteRecordStream || s.internal[del.tag] != del.args[0].u32 {
							t.Fatalf("the filter sent % x upstream", out.toServer)
						}
					}
					continue
				}
				checkForwarded(t, s, mode, payload)
			}
		}
	})
}

// checkForwarded checks what the filter does with one client packet.
func checkForwarded(t *testing.T, s *session, mode Mode, b []byte) {
	p, perr := parsePacket(b)
	v, err := s.fromClient(b)
	if err != nil || v.forward == nil {
		return
	}
	if perr != nil {
		t.Fatalf("forwarded a packet that does not parse: %v", perr)
	}
	out, err := parsePacket(v.forward)
	if err != nil {
		t.Fatalf("forwarded % x, which does not parse: %v", v.forward, err)
	}
	if out.command != cmdAuth && mode.access(out.command) == denied {
		t.Fatalf("forwarded %s", commandName(out.command))
	}
	if out.command != p.command || out.tag != p.tag || len(out.args) != len(p.args) {
		t.Fatalf("forwarded %s tag %d for %s tag %d", commandName(out.command), out.tag, commandName(p.command), p.tag)
	}
	if out.command == cmdAuth && out.args[0].u32&(flagShm|flagMemfd) != 0 {
		t.Fatal("forwarded AUTH with shm flags")
	}
	for _, v := range out.args {
		for _, p := range v.props {
			if !keepKey(p.key) {
				t.Fatalf("forwarded the property %q", p.key)
			}
		}
	}
	if out.command == cmdCreateRecordStream && checkRecord(out.args, s.version) != nil {
		t.Fatal("forwarded a record stream checkRecord refuses")
	}
}

func TestRecordOldClient(t *testing.T) {
	s := newSession(Full, nil)
	if _, err := s.fromClient(pkt(cmdAuth, 1, vL(12), vX(make([]byte, 256)))); err != nil {
		t.Fatal(err)
	}
	v, err := s.fromClient(pkt(5, 2, vS("rec"), vSpec(), vMap(), vL(invalidIndex), vNull, vL(invalidIndex), vB(false), vL(invalidIndex)))
	if err != nil || v.forward != nil {
		t.Errorf("recording at version 12: %+v, %v", v, err)
	}
}

// TestRecordMonitorFromServer: a record stream the server gives a monitor
// (the default source may be one) is refused after all, and deleted.
func TestRecordMonitorFromServer(t *testing.T) {
	s := authed(t, Full)
	for _, tt := range []struct {
		name  string
		reply []byte
	}{
		{"monitor", recordReply(10, 4, 200, vS("alsa_output.analog-stereo.monitor"))},
		{"short reply", pkt(cmdReply, 10, vL(4), vL(200), vL(1))},
		{"source name not a string", pkt(cmdReply, 10, vL(4), vL(200), vL(1), vL(1), vSpec(), vMap(), vL(1), vL(1))},
	} {
		if v, err := s.fromClient(pkt(5, 10, recordArgs(invalidIndex, vNull, invalidIndex, vProps())...)); err != nil || v.forward == nil {
			t.Fatalf("%s: %+v, %v", tt.name, v, err)
		}
		out, err := s.fromServer(tt.reply)
		if err != nil || !bytes.Equal(out.toClient, errorPacket(10)) {
			t.Errorf("%s: the client got % x, %v; want ERROR", tt.name, out.toClient, err)
		}
		del, err := parsePacket(out.toServer)
		if err != nil || del.command != cmdDeleteRecordStream || len(del.args) != 1 || del.args[0].u32 != 4 {
			t.Fatalf("%s: the filter sent % x upstream, want DELETE_RECORD_STREAM 4", tt.name, out.toServer)
		}
		if !s.dropData(4) || s.dropData(5) {
			t.Errorf("%s: data of the stream passes", tt.name)
		}
		if v, err := s.fromClient(pkt(98, 11, vL(200), vVol())); err != nil || v.forward != nil {
			t.Errorf("%s: the client may set the deleted stream's volume", tt.name)
		}
		if _, err := s.fromClient(pkt(cmdStat, del.tag)); err == nil {
			t.Errorf("%s: the client may use the filter's tag", tt.name)
		}
		out, err = s.fromServer(pkt(cmdReply, del.tag))
		if err != nil || out.toClient != nil || out.toServer != nil {
			t.Errorf("%s: the DELETE's reply passed: %+v, %v", tt.name, out, err)
		}
		if s.dropData(4) {
			t.Errorf("%s: channel 4 stays blocked", tt.name)
		}
	}
	// An unreadable reply without even a channel: nothing to delete.
	s.fromClient(pkt(5, 12, recordArgs(invalidIndex, vNull, invalidIndex, vProps())...))
	if out, _ := s.fromServer(pkt(cmdReply, 12)); !bytes.Equal(out.toClient, errorPacket(12)) || out.toServer != nil {
		t.Errorf("empty record reply: %+v", out)
	}
}

func TestRecordMovedToMonitor(t *testing.T) {
	s := authed(t, Full)
	s.fromClient(pkt(5, 10, recordArgs(invalidIndex, vNull, invalidIndex, vProps())...))
	if out, _ := s.fromServer(recordReply(10, 2, 300, vS("mic"))); out.toServer != nil {
		t.Fatal("a record stream from a microphone deleted")
	}
	moved := pkt(cmdRecordStreamMoved, noTag, vL(2), vL(5), vS("usb-mic"), vB(false), vL(1), vL(1), vUsec(0))
	if out, _ := s.fromServer(moved); !bytes.Equal(out.toClient, moved) || out.toServer != nil {
		t.Errorf("moved to a microphone: %+v", out)
	}
	out, err := s.fromServer(pkt(cmdRecordStreamMoved, noTag, vL(2), vL(0), vS("nulls.monitor"), vB(false)))
	if err != nil || !bytes.Equal(out.toClient, pkt(cmdRecordStreamKilled, noTag, vL(2))) {
		t.Errorf("moved to a monitor: the client got % x, %v; want RECORD_STREAM_KILLED", out.toClient, err)
	}
	if del, err := parsePacket(out.toServer); err != nil || del.command != cmdDeleteRecordStream || del.args[0].u32 != 2 {
		t.Errorf("moved to a monitor: the filter sent % x upstream", out.toServer)
	}
	if !s.dropData(2) {
		t.Error("data of the moved stream passes")
	}
	if v, _ := s.fromClient(pkt(99, 11, vL(300), vB(true))); v.forward != nil {
		t.Error("the client may mute the deleted stream")
	}
}
