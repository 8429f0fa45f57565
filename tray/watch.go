package tray

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/nspawn-tray/nspawn-tray/autostart"
)

// Changes in apps.d: new, changed, removed definitions.
const appsMask = unix.IN_CREATE | unix.IN_DELETE | unix.IN_CLOSE_WRITE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO | unix.IN_ATTRIB

// Changes of the autostart entry in its dir, and of the dir itself.
const autostartMask = appsMask | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF

// Changes on the way to a missing autostart dir: a dir appears (mkdir -p
// makes them one by one), or the one watched goes.
const ancestorMask = unix.IN_CREATE | unix.IN_MOVED_TO | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF

// fileWatch follows apps.d and the tray's autostart entry with one inotify
// instance (a user has few: fs.inotify.max_user_instances).
type fileWatch struct {
	fd int

	mu sync.Mutex
	// appsWD is apps.d's watch, -1 for none.
	appsWD int32
	// autoDir is the autostart dir. autoWD watches it, or while it does
	// not exist its nearest existing ancestor, autoAt; -1 for no watch.
	autoDir string
	autoAt  string
	autoWD  int32
}

// watch starts following apps.d and the autostart entry until ctx ends.
// apps and auto tell of changes to either; a watch that cannot be set up
// is logged, and its channel stays silent.
func (t *Tray) watch(ctx context.Context) (apps, auto <-chan struct{}) {
	appsCh, autoCh := make(chan struct{}, 1), make(chan struct{}, 1)
	w := &fileWatch{appsWD: -1, autoWD: -1, autoDir: filepath.Clean(t.opts.AutostartDir)}
	// Non-blocking, so the file goes through the poller and Close ends a
	// pending Read; a blocking read(2) would hold the descriptor (and a
	// thread) until the next change.
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	w.fd = fd // -1 on error: the watches fail with EBADF
	wd, werr := unix.InotifyAddWatch(fd, t.opts.AppsDir, appsMask)
	if werr != nil {
		t.log.Warn("cannot watch "+t.opts.AppsDir+"; use Refresh after changing app definitions", "err", errors.Join(err, werr))
	} else {
		w.appsWD = int32(wd)
	}
	if werr := w.arm(); werr != nil {
		t.log.Warn("cannot watch "+t.opts.AutostartDir+"; Start on login shows the entry's state as of when the menu was opened", "err", errors.Join(err, werr))
	}
	f := os.NewFile(uintptr(fd), "inotify")
	if f == nil {
		return appsCh, autoCh
	}
	go func() {
		<-ctx.Done()
		f.Close()
	}()
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := f.Read(buf)
			if err != nil {
				return
			}
			a, s := w.events(buf[:n])
			if a {
				wake(appsCh)
			}
			if s {
				// The dir may have come or gone: follow it. An entry
				// written before the watch was set is read all the same.
				w.arm()
				wake(autoCh)
			}
		}
	}()
	return appsCh, autoCh
}

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// events reads a batch of inotify events and tells whether apps.d changed
// and whether the autostart entry may have.
func (w *fileWatch) events(buf []byte) (apps, auto bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(buf) >= unix.SizeofInotifyEvent {
		wd := int32(binary.NativeEndian.Uint32(buf[0:]))
		mask := binary.NativeEndian.Uint32(buf[4:])
		n := int(binary.NativeEndian.Uint32(buf[12:]))
		buf = buf[unix.SizeofInotifyEvent:]
		name := string(bytes.TrimRight(buf[:min(n, len(buf))], "\x00"))
		buf = buf[min(n, len(buf)):]
		if mask&unix.IN_Q_OVERFLOW != 0 {
			apps, auto = true, true
		}
		if wd == w.appsWD {
			apps = true
		}
		if wd == w.autoWD && w.concerns(name, mask) {
			auto = true
		}
	}
	return apps, auto
}

// concerns reports whether an event on the autostart watch, about name in
// the dir watched, is one the entry or the way to its dir may have changed
// by.
func (w *fileWatch) concerns(name string, mask uint32) bool {
	if mask&(unix.IN_DELETE_SELF|unix.IN_MOVE_SELF|unix.IN_IGNORED) != 0 {
		return true
	}
	if w.autoAt == w.autoDir {
		return name == autostart.TrayFile
	}
	return name == w.next()
}

// next is the name in autoAt on the way to autoDir.
func (w *fileWatch) next() string {
	next, _, _ := strings.Cut(strings.TrimPrefix(w.autoDir, strings.TrimSuffix(w.autoAt, "/")+"/"), "/")
	return next
}

// arm watches the autostart dir or, while it does not exist, its nearest
// existing ancestor: the dir is not made just to be watched.
func (w *fileWatch) arm() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	// A dir made between a failed watch on it and the watch on its parent
	// shows in no event: look again after watching a parent.
	for i := 0; ; i++ {
		if err := w.armOnce(); err != nil || w.autoAt == w.autoDir || i == 16 {
			return err
		}
		if _, err := os.Stat(filepath.Join(w.autoAt, w.next())); err != nil {
			return nil
		}
	}
}

func (w *fileWatch) armOnce() error {
	for p := w.autoDir; ; p = filepath.Dir(p) {
		mask := uint32(ancestorMask)
		if p == w.autoDir {
			mask = autostartMask
		}
		// IN_MASK_ADD: should the dir be apps.d's too, its watch stays.
		wd, err := unix.InotifyAddWatch(w.fd, p, mask|unix.IN_ONLYDIR|unix.IN_MASK_ADD)
		if err == nil {
			if w.autoWD >= 0 && int32(wd) != w.autoWD && w.autoWD != w.appsWD {
				unix.InotifyRmWatch(w.fd, uint32(w.autoWD))
			}
			w.autoWD, w.autoAt = int32(wd), p
			return nil
		}
		if !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENOTDIR) || p == filepath.Dir(p) {
			return err
		}
	}
}
