package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/nspawn-tray/nspawn-tray/pulsefilter"
)

// pulseFilterContext ends when the filter is to stop; tests replace it.
var pulseFilterContext = func() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
}

// pulseFilterFlags: the filter between an app's container and the user's
// sound server (package pulsefilter). systemd runs it as the user, in a
// unit of its own for each app instance.
func pulseFilterFlags(fs *flag.FlagSet) Run {
	upstream := fs.String("upstream", "", "connect to the sound server's native socket at `PATH`")
	listen := fs.String("listen", "", "listen for the app on a new socket at `PATH`")
	mode := fs.String("mode", "playback", "what the app may do, `MODE`: playback, or full for recording too")
	return func(e *Env, args []string) error {
		if err := NoArgs(args); err != nil {
			return err
		}
		if *upstream == "" || *listen == "" {
			return UsageError("--upstream and --listen are required")
		}
		m, err := pulsefilter.ParseMode(*mode)
		if err != nil {
			return UsageError(err.Error())
		}
		ctx, stop := pulseFilterContext()
		defer stop()
		l, err := listenPrivate(*listen)
		if err != nil {
			return fmt.Errorf("pulse-filter: %w", err)
		}
		defer l.Close()
		var warnMu sync.Mutex // clients' goroutines warn at once
		f := &pulsefilter.Filter{
			Mode: m,
			DialUpstream: func() (*net.UnixConn, error) {
				return net.DialUnix("unix", nil, &net.UnixAddr{Name: *upstream, Net: "unix"})
			},
			Warn: func(err error) {
				warnMu.Lock()
				defer warnMu.Unlock()
				e.Warn(err.Error())
			},
		}
		if err := f.Serve(ctx, l); err != nil {
			return fmt.Errorf("pulse-filter: %w", err)
		}
		return nil
	}
}

// listenPrivate listens on a socket at path that only its owner may use,
// replacing a socket left there by an earlier run, and nothing else. Its
// directory is made (0700) if missing: the daemon hands over the instance's
// runtime dir, the user's, and leaves its layout to the user's programs.
func listenPrivate(path string) (*net.UnixListener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	fi, err := os.Lstat(path)
	switch {
	case err == nil && fi.Mode().Type() != os.ModeSocket:
		return nil, fmt.Errorf("%s exists and is not a socket", path)
	case err == nil:
		if err := os.Remove(path); err != nil {
			return nil, err
		}
	case !errors.Is(err, os.ErrNotExist):
		return nil, err
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	// The directory is the user's, so nobody else reaches the socket in
	// the moment before this; a umask would be the whole process's.
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}
