package daemon

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// xProbeTimeout bounds the whole X connection setup; a local server
// answers at once.
const xProbeTimeout = 3 * time.Second

// probeX11 does what the app does first with its display: connect to the X
// server's socket as the user, with the cookie the session sent, and
// complete the connection setup. A server that refuses (no cookie, a wrong
// one, an xhost list without the user) is the launch's error with the
// server's own reason, instead of an app that dies right after it started
// with "cannot open display".
//
// The connection carries the user's credentials (SO_PEERCRED, which the
// server's SI:localuser check reads), not root's: it is made on a thread of
// its own whose effective IDs are the user's. The runtime makes no new
// thread from a locked one (its new Ms come from the template thread), and
// the thread is never given back to it: it ends with the goroutine, after
// its IDs are root's again. (The main thread cannot end; the runtime
// parks it instead, so it must not keep the user's IDs either.)
func probeX11(sock string, uid, gid uint32, cookie []byte) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// Group first: once the uid is the user's, the gid cannot change.
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, ^uintptr(0), uintptr(gid), ^uintptr(0)); e != 0 {
			done <- fmt.Errorf("setresgid %d: %w", gid, e)
			return
		}
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, ^uintptr(0), uintptr(uid), ^uintptr(0)); e != 0 {
			done <- fmt.Errorf("setresuid %d: %w", uid, e)
			return
		}
		err := xSetup(sock, cookie)
		// The saved IDs are root's, so this cannot fail; if it did, the
		// thread still ends (or stays parked) with the goroutine.
		unix.RawSyscall(unix.SYS_SETRESUID, ^uintptr(0), 0, ^uintptr(0))
		unix.RawSyscall(unix.SYS_SETRESGID, ^uintptr(0), 0, ^uintptr(0))
		done <- err
	}()
	return <-done
}

// errXRefused is a server's refusal; its message is the server's reason.
var errXRefused = errors.New("refused the connection")

// xSetup connects to sock and sends the X11 connection setup request
// (byte order 'l', protocol 11.0, MIT-MAGIC-COOKIE-1 when there is a
// cookie), then reads the server's first answer.
func xSetup(sock string, cookie []byte) error {
	c, err := net.DialTimeout("unix", sock, xProbeTimeout)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(xProbeTimeout))
	name := ""
	if cookie != nil {
		name = "MIT-MAGIC-COOKIE-1"
	}
	req := make([]byte, 12, 12+pad4(len(name))+pad4(len(cookie)))
	req[0] = 'l'
	binary.LittleEndian.PutUint16(req[2:], 11)
	binary.LittleEndian.PutUint16(req[6:], uint16(len(name)))
	binary.LittleEndian.PutUint16(req[8:], uint16(len(cookie)))
	req = append(req, name...)
	req = append(req, make([]byte, pad4(len(name))-len(name))...)
	req = append(req, cookie...)
	req = append(req, make([]byte, pad4(len(cookie))-len(cookie))...)
	if _, err := c.Write(req); err != nil {
		return fmt.Errorf("send the connection setup: %w", err)
	}
	var head [8]byte
	if _, err := io.ReadFull(c, head[:]); err != nil {
		return fmt.Errorf("read the server's answer: %w", err)
	}
	switch head[0] {
	case 1: // Success
		return nil
	case 0: // Failed: reason length, then 16-bit protocol version and length
		reason := make([]byte, head[1])
		if _, err := io.ReadFull(c, reason); err != nil {
			return fmt.Errorf("%w (and its reason could not be read: %v)", errXRefused, err)
		}
		return fmt.Errorf("%w: %s", errXRefused, strings.TrimSpace(strings.ToValidUTF8(printable(string(reason)), "?")))
	case 2: // Authenticate: a further authentication protocol we do not do
		return fmt.Errorf("%w: it asks for an authentication nspawn-tray does not support", errXRefused)
	}
	return fmt.Errorf("%w: not an X server's answer (%#x)", errXRefused, head[0])
}

func pad4(n int) int { return (n + 3) &^ 3 }

// printable drops control characters from a server's reason.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}
