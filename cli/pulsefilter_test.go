package cli

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestPulseFilterUsage(t *testing.T) {
	dir := t.TempDir()
	listen := filepath.Join(dir, "filter")
	for _, args := range [][]string{
		{"pulse-filter"},
		{"pulse-filter", "--upstream", "/run/user/1000/pulse/native"},
		{"pulse-filter", "--listen", listen},
		{"pulse-filter", "--upstream", "x", "--listen", listen, "--mode", "record"},
		{"pulse-filter", "--upstream", "x", "--listen", listen, "extra"},
	} {
		if code, _, stderr := run(t, Program{}, args...); code != exitUsage || !strings.Contains(stderr, "pulse-filter") {
			t.Errorf("%q: code %d, stderr %q", args, code, stderr)
		}
	}
	if _, err := os.Lstat(listen); err == nil {
		t.Error("a usage error left a socket")
	}
	if _, stdout, _ := run(t, Program{}, "--help"); strings.Contains(stdout, "pulse-filter") {
		t.Error("--help lists the hidden pulse-filter")
	}
}

func TestPulseFilterRefusesNonSocket(t *testing.T) {
	listen := filepath.Join(t.TempDir(), "filter")
	if err := os.WriteFile(listen, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := run(t, Program{}, "pulse-filter", "--upstream", "x", "--listen", listen)
	if code != exitFail || !strings.Contains(stderr, "not a socket") {
		t.Errorf("code %d, stderr %q", code, stderr)
	}
	if b, err := os.ReadFile(listen); err != nil || string(b) != "data" {
		t.Errorf("the file at --listen was touched: %q, %v", b, err)
	}
}

// frame is a control packet's frame: 'L' command, 'L' tag, then args.
func frame(command, tag uint32, args ...byte) []byte {
	payload := binary.BigEndian.AppendUint32([]byte{'L'}, command)
	payload = binary.BigEndian.AppendUint32(append(payload, 'L'), tag)
	payload = append(payload, args...)
	h := make([]byte, 20)
	binary.BigEndian.PutUint32(h, uint32(len(payload)))
	binary.BigEndian.PutUint32(h[4:], 0xFFFFFFFF)
	return append(h, payload...)
}

func readFrame(t *testing.T, r io.Reader) []byte {
	t.Helper()
	h := make([]byte, 20)
	if _, err := io.ReadFull(r, h); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, binary.BigEndian.Uint32(h))
	if _, err := io.ReadFull(r, b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPulseFilterRuns(t *testing.T) {
	dir := t.TempDir()
	upstream, listen := filepath.Join(dir, "native"), filepath.Join(dir, "filter")

	// A socket left by an earlier run.
	stale, err := net.ListenUnix("unix", &net.UnixAddr{Name: listen, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	stale.SetUnlinkOnClose(false)
	stale.Close()

	// The server answers AUTH with version 35.
	srv, err := net.ListenUnix("unix", &net.UnixAddr{Name: upstream, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	gotAuth := make(chan []byte, 1)
	go func() {
		c, err := srv.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		h := make([]byte, 20)
		io.ReadFull(c, h)
		b := make([]byte, binary.BigEndian.Uint32(h))
		io.ReadFull(c, b)
		gotAuth <- b
		c.Write(frame(2, 1, 'L', 0, 0, 0, 35))
		io.Copy(io.Discard, c)
	}()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	old := pulseFilterContext
	pulseFilterContext = func() (context.Context, context.CancelFunc) { return ctx, cancel }
	defer func() { pulseFilterContext = old }()

	var stderr lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- Program{}.Run([]string{"pulse-filter", "--upstream", upstream, "--listen", listen, "--mode", "full"}, io.Discard, &stderr)
	}()

	var c net.Conn
	for deadline := time.Now().Add(30 * time.Second); ; {
		if c, err = net.Dial("unix", listen); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the filter does not listen: %v (stderr %q)", err, stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if fi, err := os.Stat(listen); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the socket: %v, %v; want mode 0600", fi.Mode(), err)
	}
	cookie := append([]byte{'x', 0, 0, 1, 0}, make([]byte, 256)...)
	auth := frame(8, 1, append([]byte{'L', 0x80, 0, 0, 35}, cookie...)...)
	if _, err := c.Write(auth); err != nil {
		t.Fatal(err)
	}
	if want := append([]byte{'L', 0, 0, 0, 8, 'L', 0, 0, 0, 1, 'L', 0, 0, 0, 35}, cookie...); !bytes.Equal(<-gotAuth, want) {
		t.Error("AUTH did not reach the server with shm off")
	}
	if got := readFrame(t, c); !bytes.Equal(got, frame(2, 1, 'L', 0, 0, 0, 35)[20:]) {
		t.Errorf("AUTH reply % x", got)
	}
	// LOAD_MODULE is the filter's to refuse.
	c.Write(frame(51, 2, 't', 'x', 0, 't', 0))
	if got := readFrame(t, c); !bytes.Equal(got, frame(0, 2, 'L', 0, 0, 0, 1)[20:]) {
		t.Errorf("LOAD_MODULE answered % x, want ERROR(2, 1)", got)
	}

	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
	if _, err := os.Lstat(listen); err == nil {
		t.Error("the socket is left behind")
	}
	if !strings.Contains(stderr.String(), "LOAD_MODULE") {
		t.Errorf("no warning of the refusal: %q", stderr.String())
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The daemon hands over the instance's runtime dir: the filter makes its
// own directory there, private to the user.
func TestListenPrivateMakesItsDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "runtime", "pulse", "native")
	l, err := listenPrivate(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for p, want := range map[string]os.FileMode{filepath.Dir(path): os.ModeDir | 0o700, path: os.ModeSocket | 0o600} {
		if fi, err := os.Lstat(p); err != nil || fi.Mode() != want {
			t.Errorf("%s: %v, %v; want %v", p, fi.Mode(), err, want)
		}
	}
}
