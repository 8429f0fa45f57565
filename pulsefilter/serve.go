package pulsefilter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Filter filters each client of a listener into a connection of its own to
// the sound server.
type Filter struct {
	Mode Mode
	// DialUpstream connects to the sound server, once per client.
	DialUpstream func() (*net.UnixConn, error)
	// Warn, if set, receives what the filter refused and why clients were
	// closed. It is called from several goroutines.
	Warn func(error)
}

// Serve filters the clients of l, each with a connection of its own from
// dialUpstream, until ctx ends; it then closes l and every connection and
// returns nil. It returns an error only if l fails. A client that breaks
// the protocol or the rules is closed, and the others go on.
func Serve(ctx context.Context, l *net.UnixListener, dialUpstream func() (*net.UnixConn, error), mode Mode) error {
	f := &Filter{Mode: mode, DialUpstream: dialUpstream}
	return f.Serve(ctx, l)
}

// Serve is the package's Serve with f's settings.
func (f *Filter) Serve(ctx context.Context, l *net.UnixListener) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	for n := 1; ; n++ {
		c, err := l.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ECONNABORTED) {
				// Out of descriptors for now: clients leaving give some
				// back, so wait rather than stop serving the others.
				f.warn(fmt.Errorf("accepting a client: %w", err))
				select {
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond):
				}
				continue
			}
			return fmt.Errorf("accepting clients: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f.serveClient(ctx, c); err != nil {
				f.warn(fmt.Errorf("client %d: %w", n, err))
			}
		}()
	}
}

func (f *Filter) warn(err error) {
	if f.Warn != nil {
		f.Warn(err)
	}
}

// serveClient filters one client until either side closes or ctx ends.
// Its error says why the client was closed, if it was the filter's doing.
func (f *Filter) serveClient(ctx context.Context, client *net.UnixConn) error {
	defer client.Close()
	up, err := f.DialUpstream()
	if err != nil {
		return fmt.Errorf("connecting to the sound server: %w", err)
	}
	defer up.Close()
	c := &conn{
		s:      newSession(f.Mode, f.warn),
		client: client,
		up:     up,
	}
	closeBoth := func() {
		client.Close()
		up.Close()
	}
	stop := context.AfterFunc(ctx, closeBoth)
	defer stop()

	errs := make(chan error, 2)
	go func() {
		err := c.clientToServer()
		closeBoth()
		errs <- err
	}()
	err = c.serverToClient()
	closeBoth()
	if cerr := <-errs; cerr != nil && !ended(cerr) {
		return cerr
	}
	if err != nil && !ended(err) {
		return fmt.Errorf("sound server: %w", err)
	}
	return nil
}

// ended reports whether err is a side hanging up or the filter closing it,
// rather than a fault worth a warning.
func ended(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// conn copies one client's two directions through its session.
type conn struct {
	s      *session
	client *net.UnixConn
	up     *net.UnixConn
	// clientMu and upMu keep whole frames together on a socket both
	// directions write: the filter's ERRORs go to the client, and its
	// DELETE_RECORD_STREAMs upstream.
	clientMu, upMu sync.Mutex
}

// clientToServer reads the client with plain reads, so that descriptors it
// passes are dropped by the kernel, never received, never sent on.
func (c *conn) clientToServer() error {
	for {
		h, err := readHeader(c.client)
		if err != nil {
			return err
		}
		if err := h.check(); err != nil {
			return err
		}
		if h.channel != controlChannel {
			// Audio for one of the client's streams: the server checks the
			// channel is the client's own.
			c.upMu.Lock()
			err := copyFrame(c.up, c.client, h)
			c.upMu.Unlock()
			if err != nil {
				return err
			}
			continue
		}
		payload := make([]byte, h.length)
		if _, err := io.ReadFull(c.client, payload); err != nil {
			return err
		}
		v, err := c.s.fromClient(payload)
		if err != nil {
			return err
		}
		switch {
		case v.forward == nil:
			err = c.writeClient(controlFrame(errorPacket(v.tag)))
		case v.auth:
			c.upMu.Lock()
			err = writeWithCredentials(c.up, controlFrame(v.forward))
			c.upMu.Unlock()
		default:
			err = c.writeUp(controlFrame(v.forward))
		}
		if err != nil {
			return err
		}
	}
}

func (c *conn) serverToClient() error {
	for {
		h, err := readHeader(c.up)
		if err != nil {
			return err
		}
		// The server has shared memory off, so it sends nothing else.
		if err := h.check(); err != nil {
			return err
		}
		if h.channel != controlChannel {
			if c.s.dropData(h.channel) {
				_, err = io.CopyN(io.Discard, c.up, int64(h.length))
			} else {
				c.clientMu.Lock()
				err = copyFrame(c.client, c.up, h)
				c.clientMu.Unlock()
			}
			if err != nil {
				return err
			}
			continue
		}
		payload := make([]byte, h.length)
		if _, err := io.ReadFull(c.up, payload); err != nil {
			return err
		}
		v, err := c.s.fromServer(payload)
		if err != nil {
			return err
		}
		if v.toServer != nil {
			if err := c.writeUp(controlFrame(v.toServer)); err != nil {
				return err
			}
		}
		if v.toClient != nil {
			if err := c.writeClient(controlFrame(v.toClient)); err != nil {
				return err
			}
		}
	}
}

func (c *conn) writeUp(frame []byte) error {
	c.upMu.Lock()
	defer c.upMu.Unlock()
	_, err := c.up.Write(frame)
	return err
}

func (c *conn) writeClient(frame []byte) error {
	c.clientMu.Lock()
	defer c.clientMu.Unlock()
	_, err := c.client.Write(frame)
	return err
}

// copyFrame copies an audio frame unchanged, without buffering it whole.
func copyFrame(dst io.Writer, src io.Reader, h header) error {
	if _, err := dst.Write(h.bytes()); err != nil {
		return err
	}
	_, err := io.CopyN(dst, src, int64(h.length))
	return err
}

// writeWithCredentials sends the AUTH frame with the filter's own
// SCM_CREDENTIALS. PulseAudio authorizes a client whose credentials have
// its own uid, and the app's cookie will not match; sent explicitly, they
// arrive even if the server turns SO_PASSCRED on only after this was sent
// (the kernel adds implicit ones only when it was on at sending).
func writeWithCredentials(up *net.UnixConn, frame []byte) error {
	creds := unix.UnixCredentials(&unix.Ucred{
		Pid: int32(os.Getpid()),
		Uid: uint32(os.Getuid()),
		Gid: uint32(os.Getgid()),
	})
	n, _, err := up.WriteMsgUnix(frame, creds, nil)
	if err != nil {
		return err
	}
	if n < len(frame) {
		_, err = up.Write(frame[n:])
	}
	return err
}
