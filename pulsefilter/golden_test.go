package pulsefilter

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestGolden replays sessions of PulseAudio's own tools (pactl info,
// pacat, parec) as captured between them and a real server: PulseAudio
// 16.1 and pipewire-pulse 0.3.65 of Debian 12, and pipewire-pulse 1.4.2 of
// Debian 13 (pipewire-1.4-*, recorded in the Debian 13 test host with
// testdata/capture, parec from a module-null-sink
// media.class=Audio/Source/Virtual), the clients with enable-shm = no as
// in an app's container. testdata/*.frames hold each frame read, in order,
// after a byte for its direction, C or S (AUTH's cookie and the machine id
// zeroed). Every packet passes, as it was but for AUTH's memfd flag and the
// dropped properties.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.frames")
	if err != nil || len(files) == 0 {
		t.Fatalf("no sessions: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			s := newSession(Full, func(err error) { t.Errorf("warning: %v", err) })
			requests := 0
			for len(b) > 0 {
				dir := b[0]
				h, err := readHeader(bytes.NewReader(b[1:]))
				if err != nil || len(b) < 1+headerSize+int(h.length) {
					t.Fatalf("truncated at % x", b)
				}
				payload := b[1+headerSize : 1+headerSize+h.length]
				b = b[1+headerSize+h.length:]
				if err := h.check(); err != nil {
					t.Fatalf("%c: %v", dir, err)
				}
				switch {
				case h.channel != controlChannel:
					if dir == 'S' && s.dropData(h.channel) {
						t.Errorf("record data on channel %d dropped", h.channel)
					}
				case dir == 'C':
					requests++
					golden(t, s, payload)
				default:
					out, err := s.fromServer(payload)
					if err != nil || !bytes.Equal(out.toClient, payload) || out.toServer != nil {
						t.Errorf("server packet % x: got %+v, %v", payload, out, err)
					}
				}
			}
			if requests < 2 || len(s.pending) != 0 {
				t.Errorf("%d requests, %d unanswered", requests, len(s.pending))
			}
		})
	}
}

// goldenPackets are the control packets of the captured sessions that
// went in direction dir, C or S.
func goldenPackets(t testing.TB, dir byte) [][]byte {
	files, err := filepath.Glob("testdata/*.frames")
	if err != nil {
		t.Fatal(err)
	}
	var ps [][]byte
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for len(b) > 1+headerSize {
			h, _ := readHeader(bytes.NewReader(b[1:]))
			end := min(1+headerSize+int(h.length), len(b))
			if b[0] == dir && h.channel == controlChannel {
				ps = append(ps, b[1+headerSize:end])
			}
			b = b[end:]
		}
	}
	return ps
}

// golden checks what the filter makes of a client's control packet.
func golden(t *testing.T, s *session, payload []byte) {
	t.Helper()
	in, err := parsePacket(payload)
	if err != nil {
		t.Fatalf("% x: %v", payload, err)
	}
	v, err := s.fromClient(payload)
	if err != nil || v.forward == nil {
		t.Fatalf("%s refused: %v", commandName(in.command), err)
	}
	if in.command == cmdAuth {
		in.args[0].u32 &^= flagMemfd // libpulse offers memfd even with shm off
	}
	var dropped []string
	for i := range in.args {
		var kept []prop
		for _, p := range in.args[i].props {
			if keepKey(p.key) {
				kept = append(kept, p)
			} else {
				dropped = append(dropped, p.key)
			}
		}
		in.args[i].props = kept
	}
	if want := in.encode(); !bytes.Equal(v.forward, want) {
		t.Errorf("%s forwarded as % x, want % x", commandName(in.command), v.forward, want)
	}
	if in.command == cmdSetClientName {
		want := []string{"application.process.id", "application.process.user", "application.process.host",
			"application.process.binary", "application.process.machine_id"}
		if slices.Sort(dropped); !slices.Equal(dropped, slices.Sorted(slices.Values(want))) {
			t.Errorf("SET_CLIENT_NAME dropped %q", dropped)
		}
	} else if len(dropped) > 0 {
		t.Errorf("%s dropped %q", commandName(in.command), dropped)
	}
}
