package pulsefilter

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// guard bounds every wait on a socket, so that a broken filter fails a
// test instead of hanging it. Nothing is asserted about time.
const guard = 30 * time.Second

// fakeServer speaks the framing as a sound server: it answers AUTH,
// SET_CLIENT_NAME and the stream creations as PulseAudio does, every other
// request with an empty REPLY (it allows everything, as PulseAudio does
// once AUTH passed), and records what reached it.
type fakeServer struct {
	t    *testing.T
	path string

	mu      sync.Mutex
	conns   []*fakeConn
	nextIdx uint32 // sink input and source output indexes, server-wide
	source  string // the source record streams get
}

type fakeConn struct {
	srv *fakeServer
	c   *net.UnixConn

	mu      sync.Mutex
	frames  []recorded
	creds   []unix.Ucred // every SCM_CREDENTIALS received
	rights  int          // descriptors received
	channel uint32
}

type recorded struct {
	h       header
	payload []byte
}

func newFakeServer(t *testing.T) *fakeServer {
	t.Helper()
	s := &fakeServer{t: t, path: filepath.Join(t.TempDir(), "native"), nextIdx: 100, source: "alsa_input.mic"}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: s.path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.AcceptUnix()
			if err != nil {
				return
			}
			fc := &fakeConn{srv: s, c: c}
			s.mu.Lock()
			s.conns = append(s.conns, fc)
			s.mu.Unlock()
			t.Cleanup(func() { c.Close() })
			go fc.serve()
		}
	}()
	return s
}

func (s *fakeServer) dial() (*net.UnixConn, error) {
	return net.DialUnix("unix", nil, &net.UnixAddr{Name: s.path, Net: "unix"})
}

func (s *fakeServer) conn(i int) *fakeConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i >= len(s.conns) {
		s.t.Fatalf("the server has %d connections, not %d", len(s.conns), i+1)
	}
	return s.conns[i]
}

// serve reads frames with recvmsg, to see credentials and descriptors.
func (fc *fakeConn) serve() {
	raw, err := fc.c.SyscallConn()
	if err != nil {
		return
	}
	// SO_PASSCRED is turned on once the first bytes wait, as it may be in
	// PulseAudio: only credentials sent explicitly with them are then
	// real ones.
	raw.Read(func(fd uintptr) bool {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if n, err := unix.Poll(fds, 0); err != nil || n == 0 {
			return false
		}
		unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1)
		return true
	})
	var stream []byte
	buf := make([]byte, 1<<16)
	oob := make([]byte, 4096)
	for {
		n, oobn, _, _, err := fc.c.ReadMsgUnix(buf, oob)
		if err != nil {
			return
		}
		fc.control(oob[:oobn])
		stream = append(stream, buf[:n]...)
		for len(stream) >= headerSize {
			h, _ := readHeader(bytes.NewReader(stream))
			if len(stream) < headerSize+int(h.length) {
				break
			}
			payload := append([]byte(nil), stream[headerSize:headerSize+int(h.length)]...)
			stream = stream[headerSize+int(h.length):]
			fc.mu.Lock()
			fc.frames = append(fc.frames, recorded{h, payload})
			fc.mu.Unlock()
			if h.channel == controlChannel {
				fc.answer(payload)
			}
		}
	}
}

func (fc *fakeConn) control(oob []byte) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	for _, m := range msgs {
		if cred, err := unix.ParseUnixCredentials(&m); err == nil {
			fc.creds = append(fc.creds, *cred)
		}
		if fds, err := unix.ParseUnixRights(&m); err == nil {
			fc.rights += len(fds)
			for _, fd := range fds {
				unix.Close(fd)
			}
		}
	}
}

func (fc *fakeConn) answer(payload []byte) {
	p, err := parsePacket(payload)
	if err != nil {
		fc.c.Close() // as a server closes a client that breaks the protocol
		return
	}
	var args []value
	switch p.command {
	case cmdAuth:
		args = []value{vL(35 | flagShm | flagMemfd)}
	case cmdSetClientName:
		args = []value{vL(7)}
	case cmdCreatePlaybackStream, cmdCreateRecordStream:
		fc.srv.mu.Lock()
		idx := fc.srv.nextIdx
		fc.srv.nextIdx++
		source := fc.srv.source
		fc.srv.mu.Unlock()
		ch := fc.channel
		fc.channel++
		if p.command == cmdCreateRecordStream {
			fc.send(recordReply(p.tag, ch, idx, vS(source)))
			return
		}
		args = []value{vL(ch), vL(idx), vL(4096)}
	case cmdDeleteRecordStream:
		// Data the stream had recorded before.
		fc.c.Write(append(header{length: 2, channel: p.args[0].u32}.bytes(), 1, 2))
	}
	fc.send(pkt(cmdReply, p.tag, args...))
}

func (fc *fakeConn) send(payload []byte) {
	fc.c.Write(controlFrame(payload))
}

// commands lists the commands of the control packets that reached it.
func (fc *fakeConn) commands() []uint32 {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	var cs []uint32
	for _, f := range fc.frames {
		if f.h.channel == controlChannel {
			p, _ := parsePacket(f.payload)
			cs = append(cs, p.command)
		}
	}
	return cs
}

// packet returns the payload of the control packet with tag.
func (fc *fakeConn) packet(t *testing.T, tag uint32) []byte {
	t.Helper()
	fc.mu.Lock()
	defer fc.mu.Unlock()
	for _, f := range fc.frames {
		if p, err := parsePacket(f.payload); err == nil && f.h.channel == controlChannel && p.tag == tag {
			return f.payload
		}
	}
	t.Fatalf("no packet with tag %d reached the server", tag)
	return nil
}

// startFilter serves a filter of srv on a new socket and returns its path.
func startFilter(t *testing.T, srv *fakeServer, mode Mode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "filter")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	f := &Filter{Mode: mode, DialUpstream: srv.dial, Warn: func(err error) { t.Logf("warning: %v", err) }}
	go func() { done <- f.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return path
}

type testClient struct {
	t   *testing.T
	c   *net.UnixConn
	tag uint32
}

func dialFilter(t *testing.T, path string) *testClient {
	t.Helper()
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(guard))
	return &testClient{t: t, c: c, tag: 1}
}

func (tc *testClient) write(b []byte) {
	tc.t.Helper()
	if _, err := tc.c.Write(b); err != nil {
		tc.t.Fatal(err)
	}
}

// send sends a request and returns its tag.
func (tc *testClient) send(cmd uint32, args ...value) uint32 {
	tc.t.Helper()
	tag := tc.tag
	tc.tag++
	tc.write(controlFrame(pkt(cmd, tag, args...)))
	return tag
}

func (tc *testClient) recv() (header, []byte) {
	tc.t.Helper()
	h, err := readHeader(tc.c)
	if err != nil {
		tc.t.Fatalf("reading from the filter: %v", err)
	}
	b := make([]byte, h.length)
	if _, err := io.ReadFull(tc.c, b); err != nil {
		tc.t.Fatal(err)
	}
	return h, b
}

func (tc *testClient) recvPacket() packet {
	tc.t.Helper()
	h, b := tc.recv()
	p, err := parsePacket(b)
	if err != nil || h.channel != controlChannel {
		tc.t.Fatalf("got % x on channel %d: %v", b, h.channel, err)
	}
	return p
}

// call sends a request and returns its answer.
func (tc *testClient) call(cmd uint32, args ...value) packet {
	tc.t.Helper()
	tag := tc.send(cmd, args...)
	p := tc.recvPacket()
	if p.tag != tag {
		tc.t.Fatalf("%s: answer for tag %d, want %d", commandName(cmd), p.tag, tag)
	}
	return p
}

// refused checks that the filter answered a request ERROR(tag, ACCESS).
func (tc *testClient) refused(cmd uint32, args ...value) {
	tc.t.Helper()
	p := tc.call(cmd, args...)
	if p.command != cmdError || len(p.args) != 1 || p.args[0].u32 != errAccess {
		tc.t.Errorf("%s: answered %s %v, want ERROR(tag, 1)", commandName(cmd), commandName(p.command), p.args)
	}
}

func (tc *testClient) ok(cmd uint32, args ...value) packet {
	tc.t.Helper()
	p := tc.call(cmd, args...)
	if p.command != cmdReply {
		tc.t.Errorf("%s: answered %s %v", commandName(cmd), commandName(p.command), p.args)
	}
	return p
}

// hello authenticates and names the client, as libpulse starts.
func (tc *testClient) hello() {
	tc.t.Helper()
	p := tc.ok(cmdAuth, authArgs()...)
	if len(p.args) != 1 || p.args[0].u32 != 35 {
		tc.t.Errorf("AUTH reply %v, want version 35 without shm flags", p.args)
	}
	tc.ok(cmdSetClientName, vProps("application.name", "test"))
}

// closed checks that the filter closed the connection.
func (tc *testClient) closed() {
	tc.t.Helper()
	for {
		var b [4096]byte
		_, err := tc.c.Read(b[:])
		if errors.Is(err, io.EOF) || errors.Is(err, unix.ECONNRESET) {
			return
		}
		if err != nil {
			tc.t.Fatalf("waiting for the filter to close: %v", err)
		}
	}
}

func TestServeAllowedPassUnchanged(t *testing.T) {
	srv := newFakeServer(t)
	tc := dialFilter(t, startFilter(t, srv, Full))
	tc.hello()
	var sent [][]byte
	requests := []struct {
		cmd  uint32
		args []value
	}{
		{cmdGetServerInfo, nil},
		{cmdGetSinkInfoList, nil},
		{cmdLookupSink, []value{vS("@DEFAULT_SINK@")}},
		{cmdSubscribe, []value{vL(0x2FF)}},
		{cmdCreatePlaybackStream, playbackArgs(vProps("media.name", "song", "media.role", "music"), vFormat("format.rate", "44100"))},
		{cmdCorkPlaybackStream, []value{vL(0), vB(true)}},
		{cmdSetSinkInputVolume, []value{vL(100), vVol()}},
		{cmdCreateRecordStream, recordArgs(invalidIndex, vNull, invalidIndex, vProps("media.name", "mic"))},
		{cmdSetSourceOutputMute, []value{vL(101), vB(true)}},
		{cmdDeletePlaybackStream, []value{vL(0)}},
	}
	for _, r := range requests {
		tag := tc.tag
		tc.ok(r.cmd, r.args...)
		sent = append(sent, pkt(r.cmd, tag, r.args...))
	}
	up := srv.conn(0)
	for _, want := range sent {
		p, _ := parsePacket(want)
		if got := up.packet(t, p.tag); !bytes.Equal(got, want) {
			t.Errorf("%s reached the server as % x, want % x", commandName(p.command), got, want)
		}
	}
}

func TestServeRefused(t *testing.T) {
	srv := newFakeServer(t)
	tc := dialFilter(t, startFilter(t, srv, Playback))
	tc.hello()
	// A stream of another client.
	other := dialFilter(t, startFilter(t, srv, Playback))
	other.hello()
	other.ok(cmdCreatePlaybackStream, playbackArgs(vProps())...) // sink input 100

	tc.refused(51, vS("module-ladspa-sink"), vS("sink_name=x master=@DEFAULT_SINK@ plugin=/tmp/evil.so label=evil"))
	tc.refused(52, vL(0))
	tc.refused(44, vS("evil"))
	tc.refused(48, vL(0))
	tc.refused(67, vL(100), vL(invalidIndex), vS("evil"))
	tc.refused(cmdSetSinkInputVolume, vL(100), vVol())
	tc.refused(87, vL(invalidIndex), vS("module-device-manager"), vL(0))
	tc.refused(103, vL(1))
	tc.refused(cmdCreateRecordStream, recordArgs(invalidIndex, vNull, invalidIndex, vProps())...)
	tc.ok(cmdStat) // every request before it reached the server, or none
	if got := srv.conn(0).commands(); !slices.Equal(got, []uint32{cmdAuth, cmdSetClientName, cmdStat}) {
		t.Errorf("reached the server: %v", got)
	}
}

func TestServePropsCleaned(t *testing.T) {
	srv := newFakeServer(t)
	tc := dialFilter(t, startFilter(t, srv, Playback))
	auth := tc.ok(cmdAuth, authArgs()...)
	if auth.args[0].u32 != 35 {
		t.Errorf("AUTH reply version %#x, want the server's shm and memfd flags cleared", auth.args[0].u32)
	}
	name := tc.tag
	// PULSE_PROP='pipewire.client.access=unrestricted'
	tc.ok(cmdSetClientName, vProps("application.name", "game", "pipewire.client.access", "unrestricted"))
	stream := tc.tag
	tc.ok(cmdCreatePlaybackStream, playbackArgs(vProps("media.name", "x", "filter.want", "echo-cancel"))...)

	up := srv.conn(0)
	if got, want := up.packet(t, 1), pkt(cmdAuth, 1, vL(35), vX(make([]byte, 256))); !bytes.Equal(got, want) {
		t.Errorf("AUTH reached the server as % x, want the shm and memfd flags cleared", got)
	}
	if got, want := up.packet(t, name), pkt(cmdSetClientName, name, vProps("application.name", "game")); !bytes.Equal(got, want) {
		t.Errorf("SET_CLIENT_NAME reached the server as %q", got)
	}
	if got, want := up.packet(t, stream), pkt(cmdCreatePlaybackStream, stream, playbackArgs(vProps("media.name", "x"))...); !bytes.Equal(got, want) {
		t.Errorf("CREATE_PLAYBACK_STREAM reached the server as %q", got)
	}
}

func TestServeCredentials(t *testing.T) {
	srv := newFakeServer(t)
	tc := dialFilter(t, startFilter(t, srv, Playback))
	tc.hello()
	up := srv.conn(0)
	up.mu.Lock()
	defer up.mu.Unlock()
	want := unix.Ucred{Pid: int32(os.Getpid()), Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid())}
	if len(up.creds) == 0 || up.creds[0] != want {
		t.Errorf("credentials with AUTH: %v, want %v", up.creds, want)
	}
}

// TestServeClosesOnlyThatClient: each of these closes the client that sent
// it, and the filter goes on serving another.
func TestServeClosesOnlyThatClient(t *testing.T) {
	for _, tt := range []struct {
		name  string
		frame []byte
	}{
		{"frame over 16 MiB", header{length: maxFrame + 1, channel: controlChannel}.bytes()},
		{"audio frame over 16 MiB", header{length: maxFrame + 1, channel: 0}.bytes()},
		{"empty frame", header{channel: controlChannel}.bytes()},
		{"malformed tagstruct", controlFrame([]byte{'L', 0, 0, 0, 3, 'L', 0, 0, 0, 9, 'z'})},
		{"control packet with flags", append(header{length: 1, channel: controlChannel, flags: 1}.bytes(), 'N')},
		{"SHMDATA", append(header{length: 16, channel: 0, flags: 0x80000000}.bytes(), make([]byte, 16)...)},
		{"SHMRELEASE", append(header{length: 1, channel: 0, flags: 0x40000000}.bytes(), 0)},
		{"SHMREVOKE", header{channel: 0, flags: 0xC0000000}.bytes()},
		{"MEMFD_BLOCK", append(header{length: 16, channel: 0, flags: 0xA0000000}.bytes(), make([]byte, 16)...)},
		{"SHMWRITABLE", append(header{length: 16, channel: 0, flags: 0x00800000}.bytes(), make([]byte, 16)...)},
		{"seek mode", append(header{length: 1, channel: 0, flags: 4}.bytes(), 0)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFakeServer(t)
			path := startFilter(t, srv, Playback)
			bad := dialFilter(t, path)
			bad.hello()
			good := dialFilter(t, path)
			good.hello()
			bad.write(tt.frame)
			bad.closed()
			good.ok(cmdGetServerInfo)
			third := dialFilter(t, path)
			third.hello()
		})
	}
}

// TestServeDropsDescriptors: a descriptor passed with a frame never
// reaches the server.
func TestServeDropsDescriptors(t *testing.T) {
	srv := newFakeServer(t)
	tc := dialFilter(t, startFilter(t, srv, Playback))
	tc.hello()
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rights := unix.UnixRights(int(f.Fd()))
	tag := tc.tag
	tc.tag++
	// REGISTER_MEMFD_SHMID carries a memfd; a GET_SERVER_INFO carries one
	// it should not.
	if _, _, err := tc.c.WriteMsgUnix(controlFrame(pkt(103, tag, vL(1))), rights, nil); err != nil {
		t.Fatal(err)
	}
	if p := tc.recvPacket(); p.command != cmdError {
		t.Errorf("REGISTER_MEMFD_SHMID answered %s", commandName(p.command))
	}
	tag = tc.tag
	tc.tag++
	if _, _, err := tc.c.WriteMsgUnix(controlFrame(pkt(cmdGetServerInfo, tag)), rights, nil); err != nil {
		t.Fatal(err)
	}
	if p := tc.recvPacket(); p.command != cmdReply {
		t.Errorf("GET_SERVER_INFO answered %s", commandName(p.command))
	}
	audio := append(header{length: 4, channel: 0}.bytes(), 1, 2, 3, 4)
	if _, _, err := tc.c.WriteMsgUnix(audio, rights, nil); err != nil {
		t.Fatal(err)
	}
	tc.ok(cmdStat)
	up := srv.conn(0)
	up.mu.Lock()
	defer up.mu.Unlock()
	if up.rights != 0 {
		t.Errorf("%d descriptors reached the server", up.rights)
	}
}

func TestServeAudioUnchanged(t *testing.T) {
	srv := newFakeServer(t)
	tc := dialFilter(t, startFilter(t, srv, Full))
	tc.hello()
	tc.ok(cmdCreatePlaybackStream, playbackArgs(vProps())...)
	data := make([]byte, 100000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	h := header{length: uint32(len(data)), channel: 0, offsetHi: 1, offsetLo: 2, flags: 1}
	tc.write(append(h.bytes(), data...))
	tc.ok(cmdStat)
	up := srv.conn(0)
	up.mu.Lock()
	var got *recorded
	for i := range up.frames {
		if up.frames[i].h.channel == 0 {
			got = &up.frames[i]
		}
	}
	up.mu.Unlock()
	if got == nil || got.h != h || !bytes.Equal(got.payload, data) {
		t.Fatalf("the audio frame did not reach the server unchanged")
	}

	// And from the server: record data, an event.
	rec := header{length: 3, channel: 5, offsetLo: 9}
	up.c.Write(append(rec.bytes(), 7, 8, 9))
	event := pkt(66, noTag, vL(0x10), vL(3))
	up.send(event)
	if h, b := tc.recv(); h != rec || !bytes.Equal(b, []byte{7, 8, 9}) {
		t.Errorf("got %+v % x, want the record frame unchanged", h, b)
	}
	if h, b := tc.recv(); h.channel != controlChannel || !bytes.Equal(b, event) {
		t.Errorf("got % x, want the event", b)
	}
}

func TestServeKilledStreamForgotten(t *testing.T) {
	srv := newFakeServer(t)
	tc := dialFilter(t, startFilter(t, srv, Playback))
	tc.hello()
	tc.ok(cmdCreatePlaybackStream, playbackArgs(vProps())...) // channel 0, sink input 100
	tc.ok(cmdSetSinkInputMute, vL(100), vB(true))
	killed := pkt(cmdPlaybackStreamKilled, noTag, vL(0))
	srv.conn(0).send(killed)
	if p := tc.recvPacket(); p.command != cmdPlaybackStreamKilled {
		t.Fatalf("got %s", commandName(p.command))
	}
	tc.refused(cmdSetSinkInputMute, vL(100), vB(true))
}

// TestServeRepliesMatched: a reply the client did not ask for is dropped.
func TestServeRepliesMatched(t *testing.T) {
	srv := newFakeServer(t)
	tc := dialFilter(t, startFilter(t, srv, Playback))
	tc.hello()
	up := srv.conn(0)
	up.send(pkt(cmdReply, 1000, vL(1)))
	up.send(pkt(cmdError, 1, vL(1))) // AUTH's tag, answered already
	up.send(pkt(101, 1001))          // ENABLE_SRBCHANNEL
	p := tc.ok(cmdStat)
	if len(p.args) != 0 {
		t.Errorf("STAT's answer is %v", p.args)
	}
}

func TestServeUpstreamDown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "filter")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var warnings []string
	f := &Filter{Mode: Playback, Warn: func(err error) {
		mu.Lock()
		warnings = append(warnings, err.Error())
		mu.Unlock()
	}, DialUpstream: func() (*net.UnixConn, error) {
		return nil, errors.New("no server")
	}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Serve(ctx, l) }()
	tc := dialFilter(t, path)
	tc.closed()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(warnings) != 1 || !strings.Contains(warnings[0], "no server") {
		t.Errorf("warnings %q", warnings)
	}
}

// TestServeStops: when ctx ends, Serve closes the listener and its clients.
func TestServeStops(t *testing.T) {
	srv := newFakeServer(t)
	path := filepath.Join(t.TempDir(), "filter")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, l, srv.dial, Playback) }()
	tc := dialFilter(t, path)
	tc.hello()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	tc.closed()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the socket is left: %v", err)
	}
}

func TestServeListenerFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "filter")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if err := Serve(context.Background(), l, nil, Playback); err == nil {
		t.Error("Serve on a closed listener succeeded")
	}
}

// TestServeRecordMonitorDeleted: a record stream that the server gave a
// monitor is refused, deleted, and its data dropped.
func TestServeRecordMonitorDeleted(t *testing.T) {
	srv := newFakeServer(t)
	srv.source = "nulls.monitor" // PulseAudio's default source when there is no other
	tc := dialFilter(t, startFilter(t, srv, Full))
	tc.hello()
	tc.refused(cmdCreateRecordStream, recordArgs(invalidIndex, vNull, invalidIndex, vProps())...)
	tc.ok(cmdStat) // not the stream's data first
	got := srv.conn(0).commands()
	if want := []uint32{cmdAuth, cmdSetClientName, cmdCreateRecordStream, cmdDeleteRecordStream, cmdStat}; !slices.Equal(got, want) {
		t.Errorf("reached the server: %v, want %v", got, want)
	}
}
