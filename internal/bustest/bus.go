// Package bustest runs a private dbus-daemon for a test, connects to it as
// any user, and exports fakes of the system services nspawn-tray talks to
// (polkit, machined, systemd, the desktop's notifications, the launcher
// daemon), so the real bus code of nspawn-tray can be tested below the
// booted test host. Test-only.
package bustest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"
)

// Bus is a private dbus-daemon, stopped when its test ends.
type Bus struct {
	// Addr is the bus address, unix:path=....
	Addr string
	dir  string
}

// config lets every user connect, own any name and call anything: the
// code under test, not the bus policy, is what these tests look at.
const config = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>custom</type>
  <listen>unix:path=%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
  </policy>
  <limit name="reply_timeout">30000</limit>
</busconfig>
`

// New starts a dbus-daemon; the test is skipped when dbus-daemon is not
// installed. Its socket is in a directory every user can reach, so that
// ConnAs works.
func New(t testing.TB) *Bus {
	t.Helper()
	daemon, err := exec.LookPath("dbus-daemon")
	if err != nil {
		t.Skip("dbus-daemon is not installed (apt-get install dbus-daemon)")
	}
	dir, err := os.MkdirTemp("", "bustest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "bus.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, config, filepath.Join(dir, "bus")), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(daemon, "--nofork", "--nopidfile", "--print-address=1", "--config-file="+conf)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	// Its complaints (it cannot raise its fd limit in a sandbox) are noise
	// unless the test failed.
	var stderr strings.Builder
	cmd.Stderr = &syncWriter{w: &stderr}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("dbus-daemon said:\n%s", stderr.String())
		}
	})
	addr := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		addr <- strings.TrimSpace(line)
	}()
	select {
	case a := <-addr:
		if a == "" {
			t.Fatal("dbus-daemon printed no address")
		}
		return &Bus{Addr: a, dir: dir}
	case <-time.After(10 * time.Second):
		t.Fatal("dbus-daemon did not start within 10s")
	}
	return nil
}

// Conn is a new private, ready connection to the bus, closed when the test
// ends.
func (b *Bus) Conn(t testing.TB) *dbus.Conn {
	t.Helper()
	c, err := dbus.Connect(b.Addr)
	if err != nil {
		t.Fatalf("connect to the test bus: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Two unprivileged users for ConnAs that exist on every Debian system
// (base-passwd): dbus-daemon drops connections of a uid it cannot resolve.
const (
	Alice   uint32 = 65534 // nobody (group nogroup, 65534)
	Mallory uint32 = 1     // daemon (group daemon, 1)
)

// ConnAs is Conn with the credentials of uid and gid: the bus (and so
// GetConnectionCredentials and everyone asking it) sees that user. It needs
// root and skips the test otherwise.
//
// The connection is made from an OS thread of its own whose credentials are
// changed with raw set*id calls, which act on that thread alone (Go's
// syscall.Setuid would change every thread). The thread is never unlocked,
// so it ends with its goroutine and no other goroutine ever runs with those
// credentials. uid must exist in the host's user database (see Alice).
func (b *Bus) ConnAs(t testing.TB, uid, gid uint32) *dbus.Conn {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("connecting as another user needs root")
	}
	type result struct {
		c   *dbus.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		if err := setThreadCreds(uid, gid); err != nil {
			ch <- result{err: err}
			return
		}
		c, err := dbus.Connect(b.Addr)
		ch <- result{c, err}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatalf("connect to the test bus as %d:%d: %v", uid, gid, r.err)
	}
	t.Cleanup(func() { r.c.Close() })
	return r.c
}

func setThreadCreds(uid, gid uint32) error {
	if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, 0, 0, 0); e != 0 {
		return fmt.Errorf("setgroups: %w", e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(gid), uintptr(gid), uintptr(gid)); e != 0 {
		return fmt.Errorf("setresgid: %w", e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(uid), uintptr(uid), uintptr(uid)); e != 0 {
		return fmt.Errorf("setresuid: %w", e)
	}
	return nil
}

// AsSystemBus makes the bus the process's system bus for the test
// (DBUS_SYSTEM_BUS_ADDRESS), for code that connects by itself.
func (b *Bus) AsSystemBus(t testing.TB) { t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", b.Addr) }

// AsSessionBus makes the bus the process's session bus for the test.
func (b *Bus) AsSessionBus(t testing.TB) { t.Setenv("DBUS_SESSION_BUS_ADDRESS", b.Addr) }

// Put each fake on a connection of its own: godbus's Export is not safe
// against concurrent Exports on one connection, and the machined and
// systemd fakes export objects as machines and units come and go.

// own exports nothing; it only takes name on conn, failing the test if the
// name is taken.
func own(t testing.TB, conn *dbus.Conn, name string) {
	t.Helper()
	reply, err := conn.RequestName(name, dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("own %s: reply %v, %v", name, reply, err)
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// recorder keeps what a fake was asked, for assertions.
type recorder[T any] struct {
	mu    sync.Mutex
	calls []T
}

func (r *recorder[T]) add(c T) {
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
}

func (r *recorder[T]) all() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]T(nil), r.calls...)
}

// Escape is the object path label of s, as systemd and machined escape
// unit and machine names (bus_label_escape): every byte but [A-Za-z0-9]
// becomes _XX.
func Escape(s string) string {
	if s == "" {
		return "_"
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' && i > 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "_%02x", c)
		}
	}
	return b.String()
}
