package pulsefilter

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRealPulseAudio runs PulseAudio's own tools through the filter to a
// real PulseAudio, when one is installed (Debian: pulseaudio and
// pulseaudio-utils). The server runs as the test's user, so it authorizes
// the filter by its credentials; the clients' HOME has another cookie.
func TestRealPulseAudio(t *testing.T) {
	for _, tool := range []string{"pulseaudio", "pactl", "pacat", "parec"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s: %v", tool, err)
		}
	}
	if testing.Short() {
		t.Skip("starts a sound server")
	}
	dir, err := os.MkdirTemp("", "pa") // short: socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	serverHome, clientHome := filepath.Join(dir, "server"), filepath.Join(dir, "client")
	native, filterPath := filepath.Join(dir, "native"), filepath.Join(dir, "filter")
	for _, d := range []string{serverHome, clientHome} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join(dir, "pa.conf")
	if err := os.WriteFile(conf, []byte("load-module module-native-protocol-unix socket="+native+"\n"+
		"load-module module-null-sink sink_name=nulls\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var serverLog bytes.Buffer
	pa := exec.CommandContext(ctx, "pulseaudio", "-n", "-F", conf, "--daemonize=no", "--exit-idle-time=-1",
		"--use-pid-file=no", "--log-target=stderr")
	pa.Env = append(os.Environ(), "HOME="+serverHome, "XDG_RUNTIME_DIR="+serverHome)
	pa.Stderr = &serverLog
	if err := pa.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		pa.Wait()
		if t.Failed() {
			t.Logf("pulseaudio's log:\n%s", serverLog.String())
		}
	})
	for deadline := time.Now().Add(guard); ; time.Sleep(20 * time.Millisecond) {
		c, err := net.Dial("unix", native)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pulseaudio does not listen: %v", err)
		}
	}

	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: filterPath, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	f := &Filter{Mode: Full, Warn: func(err error) { t.Logf("filter: %v", err) },
		DialUpstream: func() (*net.UnixConn, error) {
			return net.DialUnix("unix", nil, &net.UnixAddr{Name: native, Net: "unix"})
		}}
	served := make(chan error, 1)
	go func() { served <- f.Serve(ctx, l) }()
	t.Cleanup(func() { cancel(); <-served })

	tool := func(server string, args ...string) *exec.Cmd {
		ctx, cancel := context.WithTimeout(ctx, guard)
		t.Cleanup(cancel)
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		home := clientHome
		if server == native {
			home = serverHome // with the server's cookie
		}
		cmd.Env = append(os.Environ(), "HOME="+home, "XDG_RUNTIME_DIR="+home, "PULSE_SERVER=unix:"+server)
		return cmd
	}
	through := func(args ...string) (string, error) {
		out, err := tool(filterPath, args...).CombinedOutput()
		return string(out), err
	}
	direct := func(args ...string) string {
		out, err := tool(native, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%q directly: %v\n%s", args, err, out)
		}
		return string(out)
	}

	if out, err := through("pactl", "info"); err != nil || !strings.Contains(out, "Server Name: pulseaudio") {
		t.Fatalf("pactl info: %v\n%s", err, out)
	}
	if out, err := through("pactl", "list", "short", "sinks"); err != nil || !strings.Contains(out, "nulls") {
		t.Errorf("pactl list short sinks: %v\n%s", err, out)
	}
	for _, args := range [][]string{
		{"pactl", "load-module", "module-null-sink", "sink_name=evil"},
		{"pactl", "unload-module", "0"},
		{"pactl", "set-default-sink", "nulls"},
		{"pactl", "suspend-sink", "nulls", "1"},
		{"pactl", "list", "short", "modules"},
		{"pactl", "send-message", "/core", "list-handlers"},
		{"parec", "--raw", "-d", "nulls.monitor"},
	} {
		if out, err := through(args...); err == nil || !strings.Contains(out, "denied") {
			t.Errorf("%q through the filter: %v\n%s", args, err, out)
		}
	}
	if out := direct("pactl", "list", "short", "modules"); strings.Contains(out, "evil") {
		t.Errorf("a module was loaded through the filter:\n%s", out)
	}

	// Play: the samples reach the null sink unchanged.
	audio := filepath.Join(dir, "audio.raw")
	samples := make([]byte, 88200) // 0.5 s
	rand.NewChaCha8([32]byte{1}).Read(samples)
	if err := os.WriteFile(audio, samples, 0o600); err != nil {
		t.Fatal(err)
	}
	monitor := tool(native, "parec", "--raw", "--latency-msec=20", "-d", "nulls.monitor")
	monitored := &lockedWriter{}
	monitor.Stdout = monitored
	if err := monitor.Start(); err != nil {
		t.Fatal(err)
	}
	defer monitor.Process.Kill()
	waitFor(t, "data from the sink's monitor", func() bool { return len(monitored.bytes()) > 0 })
	if out, err := through("pacat", "--raw", "--rate=44100", "--channels=2", "--format=s16le",
		"--property=filter.want=echo-cancel", audio); err != nil {
		t.Errorf("pacat through the filter: %v\n%s", err, out)
	}
	waitFor(t, "the played samples on the sink's monitor", func() bool {
		return bytes.Contains(monitored.bytes(), samples[44100:44100+4096])
	})

	// The default source is the sink's monitor while there is no other:
	// the stream is refused after the server picked it.
	if out, err := through("parec", "--raw"); err == nil || !strings.Contains(out, "denied") {
		t.Errorf("parec of the default source, a monitor: %v\n%s", err, out)
	}
	direct("pactl", "load-module", "module-null-source", "source_name=mic")
	direct("pactl", "set-default-source", "mic")
	rec := tool(filterPath, "parec", "--raw", "--latency-msec=20")
	recorded := &lockedWriter{}
	rec.Stdout = recorded
	if err := rec.Start(); err != nil {
		t.Fatal(err)
	}
	defer rec.Process.Kill()
	waitFor(t, "recorded data from the microphone", func() bool { return len(recorded.bytes()) > 0 })
}

// waitFor waits until ok, failing the test after guard.
func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(guard); !ok(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s", what)
		}
	}
}

type lockedWriter struct {
	mu sync.Mutex
	b  []byte
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b = append(w.b, p...)
	return len(p), nil
}

func (w *lockedWriter) bytes() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]byte(nil), w.b...)
}
