package daemon

import (
	"reflect"
	"sync"

	"github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"
)

// fdTable owns the descriptors that arrive on the daemon's connection, so
// that each is closed exactly once whatever the message: a method call's
// until its reply goes out (the handler runs before and may use them;
// systemd dups what it keeps), those of any other message at once. A call
// that reaches no handler (an unknown method, a wrong signature) gets a
// reply all the same, so its descriptors go too. Handlers never close a
// descriptor themselves: a number closed twice may by then be another
// file of the daemon's (a staging dir) that a caller could steer writes to.
//
// The patched godbus (third_party/godbus-dbus) closes what a body does not
// reference; this table handles what it does.
type fdTable struct {
	mu    sync.Mutex
	calls map[callKey][]int
}

type callKey struct {
	sender string
	serial uint32
}

func newFDTable() *fdTable { return &fdTable{calls: map[callKey][]int{}} }

// connOptions make a connection's descriptors the table's.
func (t *fdTable) connOptions() []dbus.ConnOption {
	return []dbus.ConnOption{dbus.WithIncomingInterceptor(t.incoming), dbus.WithOutgoingInterceptor(t.outgoing)}
}

func (t *fdTable) incoming(msg *dbus.Message) {
	fds := bodyFDs(msg.Body)
	if msg.Type != dbus.TypeMethodCall {
		closeOnce(fds)
		return
	}
	// Its reply is when the descriptors go: a call that asked for none gets
	// one anyway (the bus drops it).
	msg.Flags &^= dbus.FlagNoReplyExpected
	if len(fds) == 0 {
		return
	}
	sender, _ := msg.Headers[dbus.FieldSender].Value().(string)
	key := callKey{sender, msg.Serial()}
	t.mu.Lock()
	old := t.calls[key]
	t.calls[key] = fds
	t.mu.Unlock()
	// The bus never repeats a sender's serial; if it did, the earlier
	// call's descriptors would otherwise never be closed.
	closeOnce(old)
}

func (t *fdTable) outgoing(msg *dbus.Message) {
	if msg.Type != dbus.TypeMethodReply && msg.Type != dbus.TypeError {
		return
	}
	dest, _ := msg.Headers[dbus.FieldDestination].Value().(string)
	serial, _ := msg.Headers[dbus.FieldReplySerial].Value().(uint32)
	key := callKey{dest, serial}
	t.mu.Lock()
	fds := t.calls[key]
	delete(t.calls, key)
	t.mu.Unlock()
	closeOnce(fds)
}

// held is how many calls hold descriptors now.
func (t *fdTable) held() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.calls)
}

// bodyFDs are the distinct descriptors anywhere in body: in arrays, maps,
// structs (decoded as []any) and variants.
func bodyFDs(body []any) []int {
	seen := map[int]bool{}
	var out []int
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Interface, reflect.Pointer:
			if !v.IsNil() {
				walk(v.Elem())
			}
		case reflect.Slice, reflect.Array:
			if v.Type().Elem().Kind() == reflect.Uint8 {
				return
			}
			for i := 0; i < v.Len(); i++ {
				walk(v.Index(i))
			}
		case reflect.Map:
			it := v.MapRange()
			for it.Next() {
				walk(it.Key())
				walk(it.Value())
			}
		case reflect.Struct:
			if vv, ok := v.Interface().(dbus.Variant); ok {
				walk(reflect.ValueOf(vv.Value()))
			}
		case reflect.Int32:
			if fd, ok := v.Interface().(dbus.UnixFD); ok && !seen[int(fd)] {
				seen[int(fd)] = true
				out = append(out, int(fd))
			}
		}
	}
	for _, v := range body {
		walk(reflect.ValueOf(v))
	}
	return out
}

// closeOnce closes fds, which are distinct.
func closeOnce(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}
