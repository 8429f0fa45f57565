package tray

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nspawn-tray/nspawn-tray/autostart"
)

// event is one inotify event as read(2) gives it: the name NUL-padded.
func event(wd int32, mask uint32, name string) []byte {
	n := 0
	if name != "" {
		n = (len(name) + 1 + 15) / 16 * 16
	}
	b := make([]byte, unix.SizeofInotifyEvent+n)
	binary.NativeEndian.PutUint32(b[0:], uint32(wd))
	binary.NativeEndian.PutUint32(b[4:], mask)
	binary.NativeEndian.PutUint32(b[12:], uint32(n))
	copy(b[unix.SizeofInotifyEvent:], name)
	return b
}

func TestWatchTellsWhatChanged(t *testing.T) {
	const dir = "/home/u/.config/autostart"
	for _, tc := range []struct {
		name       string
		at         string // what the autostart watch is on
		autoWD     int32
		events     [][]byte
		apps, auto bool
	}{
		{name: "apps.d", at: dir, autoWD: 2, events: [][]byte{event(1, unix.IN_CLOSE_WRITE, "x.toml")}, apps: true},
		{name: "the entry", at: dir, autoWD: 2, events: [][]byte{event(2, unix.IN_MOVED_TO, autostart.TrayFile)}, auto: true},
		{name: "another entry", at: dir, autoWD: 2, events: [][]byte{event(2, unix.IN_CLOSE_WRITE, "other.desktop")}},
		{name: "the dir goes", at: dir, autoWD: 2, events: [][]byte{event(2, unix.IN_DELETE_SELF, "")}, auto: true},
		{name: "the watch ends", at: dir, autoWD: 2, events: [][]byte{event(2, unix.IN_IGNORED, "")}, auto: true},
		{name: "an old watch", at: dir, autoWD: 2, events: [][]byte{event(3, unix.IN_CREATE, autostart.TrayFile)}},
		{name: "events lost", at: dir, autoWD: 2, events: [][]byte{event(-1, unix.IN_Q_OVERFLOW, "")}, apps: true, auto: true},
		{name: "both in one read", at: dir, autoWD: 2, events: [][]byte{
			event(2, unix.IN_CLOSE_WRITE, "other.desktop"), event(1, unix.IN_DELETE, "x.toml"), event(2, unix.IN_CREATE, autostart.TrayFile),
		}, apps: true, auto: true},
		{name: "the way to the dir", at: "/home/u", autoWD: 2, events: [][]byte{event(2, unix.IN_CREATE, ".config")}, auto: true},
		{name: "beside the way", at: "/home/u", autoWD: 2, events: [][]byte{event(2, unix.IN_CREATE, ".cache")}},
		{name: "the way from the root", at: "/", autoWD: 2, events: [][]byte{event(2, unix.IN_CREATE, "home")}, auto: true},
		{name: "the last step", at: "/home/u/.config", autoWD: 2, events: [][]byte{event(2, unix.IN_MOVED_TO, "autostart")}, auto: true},
		// apps.d and the autostart dir, one dir: one watch.
		{name: "one dir", at: dir, autoWD: 1, events: [][]byte{event(1, unix.IN_CREATE, autostart.TrayFile)}, apps: true, auto: true},
		{name: "cut short", at: dir, autoWD: 2, events: [][]byte{event(2, unix.IN_CREATE, autostart.TrayFile)[:unix.SizeofInotifyEvent+4]}, auto: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &fileWatch{appsWD: 1, autoWD: tc.autoWD, autoDir: dir, autoAt: tc.at}
			var buf []byte
			for _, e := range tc.events {
				buf = append(buf, e...)
			}
			if apps, auto := w.events(buf); apps != tc.apps || auto != tc.auto {
				t.Errorf("apps %v, autostart %v; want %v, %v", apps, auto, tc.apps, tc.auto)
			}
		})
	}
}

// A dir that cannot be watched (here: a symlink loop on the way) is
// logged; the menu works without the watch.
func TestUnwatchableAutostartDirIsLogged(t *testing.T) {
	e := newEnv(t, without{})
	loop := filepath.Join(e.tmp, "loop")
	if err := os.Symlink(loop, loop); err != nil {
		t.Fatal(err)
	}
	e.opts.AutostartDir = filepath.Join(loop, "autostart")
	e.start(t)
	e.waitLog(t, "WARN cannot watch "+e.opts.AutostartDir+"; Start on login shows the entry's state as of when the menu was opened")
	e.waitMenu(t, has("  [ ] autostart Start on login"))
}
