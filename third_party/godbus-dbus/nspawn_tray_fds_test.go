package dbus

import (
	"bytes"
	"net"
	"os"
	"syscall"
	"testing"
)

// The nspawn-tray fork's fixes: no body shape that carries descriptors
// panics the reader, and every descriptor that arrives is either in the
// returned body or closed.

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func pair(t *testing.T) (send *net.UnixConn, recv *unixTransport) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) *net.UnixConn {
		f := os.NewFile(uintptr(fd), "socketpair")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		return c.(*net.UnixConn)
	}
	s, r := conn(fds[0]), conn(fds[1])
	t.Cleanup(func() { s.Close(); r.Close() })
	return s, newUnixTransportFromConn(r).(*unixTransport)
}

// sendRaw sends a method call with body, passing the body's descriptors and
// extra ones the body does not reference.
func sendRaw(t *testing.T, w *net.UnixConn, body []any, extra ...int) {
	t.Helper()
	msg := &Message{Type: TypeMethodCall, Headers: map[HeaderField]Variant{
		FieldPath:      MakeVariant(ObjectPath("/x")),
		FieldMember:    MakeVariant("M"),
		FieldSignature: MakeVariant(SignatureOf(body...)),
	}, Body: body}
	msg.serial = 1
	n, err := msg.CountFds()
	if err != nil {
		t.Fatal(err)
	}
	msg.Headers[FieldUnixFDs] = MakeVariant(uint32(n + len(extra)))
	var buf bytes.Buffer
	fds, err := msg.EncodeToWithFDs(&buf, nativeEndian)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.WriteMsgUnix(buf.Bytes(), syscall.UnixRights(append(fds, extra...)...), nil); err != nil {
		t.Fatal(err)
	}
}

func devNull(t *testing.T) int {
	t.Helper()
	fd, err := syscall.Open("/dev/null", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	return fd
}

func TestForkDescriptorBodiesDoNotPanicAndDoNotLeak(t *testing.T) {
	w, tr := pair(t)
	for _, tc := range []struct {
		name string
		body func(fd UnixFD) []any
		refs int // distinct descriptors the body references
	}{
		{"h", func(fd UnixFD) []any { return []any{fd} }, 1},
		{"ah", func(fd UnixFD) []any { return []any{[]UnixFD{fd}} }, 1},
		{"ah twice the same", func(fd UnixFD) []any { return []any{[]UnixFD{fd, fd}} }, 2},
		{"a{sh}", func(fd UnixFD) []any { return []any{map[string]UnixFD{"a": fd}} }, 1},
		{"a{hs}", func(fd UnixFD) []any { return []any{map[UnixFD]string{fd: "a"}} }, 1},
		{"(hh)", func(fd UnixFD) []any { return []any{struct{ A, B UnixFD }{fd, fd}} }, 2},
		{"v holding ah", func(fd UnixFD) []any { return []any{MakeVariant([]UnixFD{fd})} }, 1},
		{"aah", func(fd UnixFD) []any { return []any{[][]UnixFD{{fd}}} }, 1},
		{"a{sv} holding h", func(fd UnixFD) []any { return []any{map[string]Variant{"x": MakeVariant(fd)}} }, 1},
		{"s, no reference", func(UnixFD) []any { return []any{"no fd here"} }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := openFDs(t)
			fd := devNull(t)
			extra := devNull(t)
			sendRaw(t, w, tc.body(UnixFD(fd)), extra)
			syscall.Close(fd)
			syscall.Close(extra)
			msg, err := tr.ReadMessage()
			if err != nil {
				t.Fatalf("ReadMessage: %v", err)
			}
			got := referencedFDs(msg.Body)
			if len(got) != tc.refs {
				t.Errorf("body references %d descriptors, want %d: %#v", len(got), tc.refs, msg.Body)
			}
			for fd := range got {
				var st syscall.Stat_t
				if err := syscall.Fstat(fd, &st); err != nil {
					t.Errorf("descriptor %d in the body is not open: %v", fd, err)
				}
			}
			if n := openFDs(t); n != base+len(got) {
				t.Errorf("%d descriptors open, want %d (the unreferenced one must be closed)", n, base+len(got))
			}
			closeFDs(mapKeys(got), nil)
			if n := openFDs(t); n != base {
				t.Errorf("%d descriptors open after closing the body's, want %d", n, base)
			}
		})
	}
}

func TestForkInvalidIndexIsRefusedAndClosed(t *testing.T) {
	w, tr := pair(t)
	base := openFDs(t)
	fd := devNull(t)
	// An index past the one descriptor sent, inside an array.
	sendRaw(t, w, []any{[]UnixFDIndex{5}}, fd)
	syscall.Close(fd)
	if _, err := tr.ReadMessage(); err == nil {
		t.Fatal("a body naming descriptor index 5 of 1 was accepted")
	} else if _, ok := err.(InvalidMessageError); !ok {
		t.Fatalf("error %T %v, want an InvalidMessageError (the connection must survive it)", err, err)
	}
	if n := openFDs(t); n != base {
		t.Errorf("%d descriptors open after the refused message, want %d", n, base)
	}
}

func mapKeys(m map[int]bool) []int {
	var out []int
	for k := range m {
		out = append(out, k)
	}
	return out
}
