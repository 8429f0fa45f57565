package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"

	"github.com/nspawn-tray/nspawn-tray/atomicfile"
	"github.com/nspawn-tray/nspawn-tray/launcher"
	"github.com/nspawn-tray/nspawn-tray/machinename"
	"github.com/nspawn-tray/nspawn-tray/stage"
	"github.com/nspawn-tray/nspawn-tray/systemd"
)

// How long, and how many, exit records are kept: long enough for a client
// to come back after a daemon restart, few enough that a user launching in
// a loop cannot fill /run.
const (
	exitKeep    = time.Hour
	maxExitRecs = 1024
	// keptFor says exitKeep in messages.
	keptFor = "an hour"
)

// exitRecord is how an instance ended. The instance unit's ExecStopPost
// (Cleanup) writes it to Paths.Exits/MACHINE.json, so that Wait can answer
// after the unit was collected, and after the daemon itself restarted.
type exitRecord struct {
	launcher.Instance
	// Status is as a shell gives it: the exit status, 128+N for signal N;
	// -1 when systemd did not say.
	Status int32         `json:"status"`
	Ended  launcher.Time `json:"ended"`
}

// Ended is how the instance unit's main process ended, as systemd tells
// ExecStopPost in $EXIT_CODE and $EXIT_STATUS.
type Ended struct{ Code, Status string }

// EndedFromEnv reads Ended from ExecStopPost's environment.
func EndedFromEnv(getenv func(string) string) Ended {
	return Ended{Code: getenv("EXIT_CODE"), Status: getenv("EXIT_STATUS")}
}

// shellStatus is e as a shell's $?: the status, or 128+N for signal N
// (systemd names it: "TERM"); -1 when unknown.
func (e Ended) shellStatus() int32 {
	switch e.Code {
	case "exited":
		if n, err := strconv.ParseUint(e.Status, 10, 8); err == nil {
			return int32(n)
		}
	case "killed", "dumped":
		if sig := unix.SignalNum("SIG" + e.Status); sig != 0 {
			return 128 + int32(sig)
		}
		if n, err := strconv.ParseUint(e.Status, 10, 7); err == nil {
			return 128 + int32(n)
		}
	}
	return -1
}

// Cleanup removes what a launch staged for machine: the session bus proxy,
// the PulseAudio filter, the nested X server, and the staging dir with its
// mounts, and records how the instance ended for Wait. It runs as the instance unit's
// ExecStopPost, as root, however the unit ended.
func Cleanup(ctx context.Context, conn *dbus.Conn, p Paths, machine string, ended Ended) error {
	if err := machinename.CheckInstance(machine); err != nil {
		return fmt.Errorf("cleanup: %w", err)
	}
	units := systemd.New(conn)
	for _, unit := range []string{proxyUnitName(machine), pulseUnitName(machine), xnestedUnitName(machine)} {
		if err := units.StopUnit(ctx, unit); err != nil && !errors.Is(err, systemd.ErrNoSuchUnit) {
			return err
		}
	}
	// The record first: a Wait that sees the staging dir gone looks here.
	var recErr error
	if rec, err := readRecord(p.Stage, machine); err == nil {
		recErr = writeExit(p.Exits, exitRecord{Instance: rec, Status: ended.shellStatus(), Ended: launcher.Now()})
	}
	return errors.Join(recErr, stage.Remove(p.Stage, machine))
}

// writeExit writes rec atomically and drops the records past their time.
func writeExit(dir string, rec exitRecord) error {
	if err := makeExitsDir(dir); err != nil {
		return fmt.Errorf("exit record: %w", err)
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, rec.Machine+".json"), data, atomicfile.Options{Mode: 0o600}); err != nil {
		return fmt.Errorf("exit record of %s: %w", rec.Machine, err)
	}
	pruneExits(dir, time.Now())
	return nil
}

// pruneExits removes the records older than exitKeep, and the oldest past
// maxExitRecs.
func pruneExits(dir string, now time.Time) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	type rec struct {
		name string
		mod  time.Time
	}
	var keep []rec
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if now.Sub(fi.ModTime()) > exitKeep {
			os.Remove(filepath.Join(dir, e.Name()))
			continue
		}
		keep = append(keep, rec{e.Name(), fi.ModTime()})
	}
	if len(keep) <= maxExitRecs {
		return
	}
	slices.SortFunc(keep, func(a, b rec) int { return a.mod.Compare(b.mod) })
	for _, r := range keep[:len(keep)-maxExitRecs] {
		os.Remove(filepath.Join(dir, r.name))
	}
}

// makeExitsDir makes dir root's alone, and its missing parents 0755: users
// pass through /run/nspawn-tray to what is bound for them in the staging
// dirs (MkdirAll would make it 0700, and every X11 launch then fails).
func makeExitsDir(dir string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}

// readExit reads machine's exit record.
func (s *Service) readExit(machine string) (exitRecord, error) {
	var rec exitRecord
	data, err := os.ReadFile(filepath.Join(s.paths.Exits, machine+".json"))
	if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(data, &rec); err != nil {
		return rec, err
	}
	if rec.Machine != machine {
		return rec, fmt.Errorf("exit record of %s names %s", machine, rec.Machine)
	}
	return rec, nil
}

// exitWatch tells waiters that the exit records changed: one inotify
// instance for the whole daemon, however many calls wait (inotify
// instances are counted per user, and the daemon's user is root's).
type exitWatch struct {
	f  *os.File
	mu sync.Mutex
	ch chan struct{} // closed and replaced on every change
}

func newExitWatch(dir string) (*exitWatch, error) {
	if err := makeExitsDir(dir); err != nil {
		return nil, fmt.Errorf("exit records: %w", err)
	}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("exit records: inotify: %w", err)
	}
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_MOVED_TO|unix.IN_CLOSE_WRITE|unix.IN_DELETE_SELF); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("exit records: watch %s: %w", dir, err)
	}
	w := &exitWatch{f: os.NewFile(uintptr(fd), "inotify"), ch: make(chan struct{})}
	go w.run()
	return w, nil
}

func (w *exitWatch) run() {
	buf := make([]byte, 4096)
	for {
		// The events' content does not matter: waiters re-read what they
		// wait for.
		if _, err := w.f.Read(buf); err != nil && !errors.Is(err, unix.EINTR) {
			w.changed()
			return
		}
		w.changed()
	}
}

func (w *exitWatch) changed() {
	w.mu.Lock()
	close(w.ch)
	w.ch = make(chan struct{})
	w.mu.Unlock()
}

// next is closed at the next change.
func (w *exitWatch) next() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ch
}

func (w *exitWatch) Close() error { return w.f.Close() }

// waitPoll is how often a waiter checks that its instance still runs: a
// unit that ended without its ExecStopPost (the system going down, a
// SIGKILLed cleanup) writes no record.
const waitPoll = 5 * time.Second

// wait returns the exit status of machine once it has ended, to its owner
// (or root). The answer comes from the exit record, so it survives the
// unit's collection and the daemon's restart.
func (s *Service) wait(ctx context.Context, msg dbus.Message, machine string) (int32, error) {
	_, uid, err := s.caller(ctx, msg)
	if err != nil {
		return -1, err
	}
	if machinename.CheckInstance(machine) != nil {
		return -1, fail(launcher.ErrNameNoSuchInstance, "no nspawn-tray instance %q", truncate(machine))
	}
	release, err := s.waiters.take(uid)
	if err != nil {
		return -1, err
	}
	defer release()
	notYours := func(owner uint32) error {
		if owner == uid || uid == 0 {
			return nil
		}
		return fail(launcher.ErrNameAccessDenied, "instance %q is not yours", machine)
	}
	// The app's end is known when the unit's main process (nspawn) has
	// exited: answer then, not once its ExecStopPost (cleanup-instance, a
	// process of its own) has written the exit record, which the answer
	// would otherwise wait for. The record still answers every other case
	// (a Wait after the unit is gone, or after this daemon restarted).
	var unit string
	var unitChanged <-chan struct{}
	if rec, err := s.readRecord(machine); err == nil {
		if err := notYours(rec.UID); err != nil {
			return -1, err
		}
		unit = rec.Unit
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		if ch, err := s.units.WatchUnitWhile(wctx, unit); err == nil {
			unitChanged = ch
		}
	}
	gone := 0
	askUnit := unit != "" // at first, and when its properties changed
	for {
		changed := s.exits.next()
		if askUnit {
			askUnit = false
			if status, ok := s.mainExit(ctx, unit); ok {
				return status, nil
			}
		}
		if rec, err := s.readExit(machine); err == nil {
			if err := notYours(rec.UID); err != nil {
				return -1, err
			}
			return rec.Status, nil
		}
		rec, err := s.readRecord(machine)
		if errors.Is(err, fs.ErrNotExist) {
			// Cleanup writes the exit record before it removes the
			// staging dir: look once more before calling it unknown.
			if gone++; gone > 1 {
				return -1, fail(launcher.ErrNameNoSuchInstance, "no nspawn-tray instance %q (how an instance ended is kept for %s)", machine, keptFor)
			}
			continue
		}
		if err != nil {
			return -1, fail(launcher.ErrNameNoSuchInstance, "no nspawn-tray instance %q", machine)
		}
		if err := notYours(rec.UID); err != nil {
			return -1, err
		}
		select {
		case <-changed:
		case _, ok := <-unitChanged:
			askUnit = ok
			if !ok {
				unitChanged = nil // the connection went: the record answers
			}
		case <-time.After(waitPoll):
			if time.Since(rec.Since.Time()) > time.Minute && !s.units.Loaded(ctx, rec.Unit) {
				if _, err := s.readExit(machine); err == nil {
					continue
				}
				return -1, fail(launcher.ErrNameFailed, "instance %q ended, and how is not known (journalctl -u %s)", machine, rec.Unit)
			}
		case <-ctx.Done():
			return -1, ctx.Err()
		}
	}
}

// mainExit is the status of unit's main process as a shell gives it, once
// it has ended; false while it runs, or when that is not known (no unit,
// or systemd did not answer: the exit record answers then).
func (s *Service) mainExit(ctx context.Context, unit string) (int32, bool) {
	if unit == "" {
		return 0, false
	}
	code, status, err := s.units.MainExit(ctx, unit)
	if err != nil || code == 0 {
		return 0, false
	}
	e := Ended{Code: map[int32]string{1: "exited", 2: "killed", 3: "dumped"}[code], Status: strconv.Itoa(int(status))}
	st := e.shellStatus()
	return st, st >= 0
}

// waiters bounds the Wait calls each user has open: each holds a goroutine
// for as long as the instance runs.
type waiters struct {
	mu  sync.Mutex
	n   map[uint32]int
	max int
}

func (w *waiters) take(uid uint32) (func(), error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.n[uid] >= w.max {
		return nil, fail(launcher.ErrNameLimitReached, "you have %d calls waiting for instances, the most allowed", w.n[uid])
	}
	w.n[uid]++
	return func() {
		w.mu.Lock()
		w.n[uid]--
		w.mu.Unlock()
	}, nil
}
