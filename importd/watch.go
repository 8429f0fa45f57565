package importd

import (
	"context"
	"fmt"
	"sync"

	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/nameowner"
)

// EventKind says what an Event is.
type EventKind int

const (
	// TransferNew: importd started a transfer (anyone's).
	TransferNew EventKind = iota + 1
	// TransferRemoved: a transfer ended; Result says how.
	TransferRemoved
	// LogMessage: a line a transfer logged (why it failed, mostly).
	LogMessage
	// ServiceGone: importd exited; transfers under way went with it.
	ServiceGone
)

// Event is one of importd's signals.
type Event struct {
	Kind EventKind
	ID   uint32 // TransferNew, TransferRemoved
	Path dbus.ObjectPath
	// Result is "done", "failed" or "canceled" (TransferRemoved).
	Result string
	// Priority (syslog's) and Message of a LogMessage.
	Priority uint32
	Message  string
}

// Watcher follows importd's signals: TransferNew and TransferRemoved of
// the Manager, each Transfer's LogMessage, and importd going away. Only
// signals importd sent count: on the system bus anyone may send a
// TransferRemoved. It queues events without bound, in the order importd
// sent them, so a caller may start a transfer and only then look for its
// events.
type Watcher struct {
	conn  *dbus.Conn
	sigs  chan *dbus.Signal
	owner *nameowner.Owner
	mu    sync.Mutex
	queue []Event
	wake  chan struct{}
	done  chan struct{}
	once  sync.Once
}

// Watch starts following importd on the Manager's connection. It takes
// over the connection's signals: give the Manager a connection of its
// own. Call it before starting a transfer, so none of its signals is
// missed; Close it when done.
func (m *Manager) Watch(ctx context.Context) (*Watcher, error) {
	w := &Watcher{conn: m.conn, sigs: make(chan *dbus.Signal, 64), owner: nameowner.New(busName),
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	m.conn.Signal(w.sigs)
	if err := w.owner.Follow(ctx, m.conn); err != nil {
		m.conn.RemoveSignal(w.sigs)
		return nil, fmt.Errorf("importd: follow transfers: %w", err)
	}
	for _, match := range [][]dbus.MatchOption{
		{dbus.WithMatchInterface(managerIf), dbus.WithMatchMember("TransferNew"), dbus.WithMatchObjectPath(objPath)},
		{dbus.WithMatchInterface(managerIf), dbus.WithMatchMember("TransferRemoved"), dbus.WithMatchObjectPath(objPath)},
		{dbus.WithMatchInterface(transferIf), dbus.WithMatchMember("LogMessage")},
	} {
		if err := m.conn.AddMatchSignalContext(ctx, append(match, dbus.WithMatchSender(busName))...); err != nil {
			m.conn.RemoveSignal(w.sigs)
			return nil, fmt.Errorf("importd: follow transfers: %w", err)
		}
	}
	go w.run()
	return w, nil
}

// run moves signals into the queue at once: godbus delivers out of order
// to a channel that is full.
func (w *Watcher) run() {
	for {
		select {
		case s, ok := <-w.sigs:
			if !ok {
				return
			}
			if ev, ok := w.event(s); ok {
				w.mu.Lock()
				w.queue = append(w.queue, ev)
				w.mu.Unlock()
				select {
				case w.wake <- struct{}{}:
				default:
				}
			}
		case <-w.done:
			return
		}
	}
}

func (w *Watcher) event(s *dbus.Signal) (Event, bool) {
	if w.owner.Update(s) {
		var name, old, next string
		if dbus.Store(s.Body, &name, &old, &next) == nil && old != "" && next == "" {
			return Event{Kind: ServiceGone}, true
		}
		return Event{}, false
	}
	if !w.owner.Is(s.Sender) {
		return Event{}, false
	}
	var ev Event
	switch s.Name {
	case managerIf + ".TransferNew":
		if s.Path != objPath || dbus.Store(s.Body, &ev.ID, &ev.Path) != nil {
			return Event{}, false
		}
		ev.Kind = TransferNew
	case managerIf + ".TransferRemoved":
		if s.Path != objPath || dbus.Store(s.Body, &ev.ID, &ev.Path, &ev.Result) != nil {
			return Event{}, false
		}
		ev.Kind = TransferRemoved
	case transferIf + ".LogMessage":
		if dbus.Store(s.Body, &ev.Priority, &ev.Message) != nil {
			return Event{}, false
		}
		ev.Kind, ev.Path = LogMessage, s.Path
	default:
		return Event{}, false
	}
	return ev, true
}

// Next returns the next event, waiting for one.
func (w *Watcher) Next(ctx context.Context) (Event, error) {
	for {
		w.mu.Lock()
		if len(w.queue) > 0 {
			ev := w.queue[0]
			w.queue = w.queue[1:]
			w.mu.Unlock()
			return ev, nil
		}
		w.mu.Unlock()
		select {
		case <-w.wake:
		case <-w.done:
			return Event{}, fmt.Errorf("importd: watcher closed")
		case <-ctx.Done():
			return Event{}, ctx.Err()
		}
	}
}

// Wait returns the result of t once importd removed it ("done", "failed"
// or "canceled"), handing each line t logged meanwhile to logf (which may
// be nil). It consumes the events before, of other transfers too.
func (w *Watcher) Wait(ctx context.Context, t Transfer, logf func(priority uint32, line string)) (string, error) {
	for {
		ev, err := w.Next(ctx)
		if err != nil {
			return "", err
		}
		switch {
		case ev.Kind == ServiceGone:
			return "", fmt.Errorf("importd: transfer %d: %w", t.ID, ErrGone)
		case ev.Kind == LogMessage && ev.Path == t.Path && logf != nil:
			logf(ev.Priority, ev.Message)
		case ev.Kind == TransferRemoved && ev.ID == t.ID && ev.Path == t.Path:
			return ev.Result, nil
		}
	}
}

// Close stops following importd.
func (w *Watcher) Close() {
	w.once.Do(func() {
		w.conn.RemoveSignal(w.sigs)
		close(w.done)
	})
}
