// Package rawimage reads from raw disk images: NAME.raw files in
// /var/lib/machines holding a GPT partition table with a root partition,
// the images systemd-nspawn --image and machinectl know.
//
// Reading one means mounting it, which only the daemon (root) does, for
// the time of one read and never where anyone else could see or keep it.
// Reader.Read mounts the image's file systems read-only with
// systemd-dissect (which finds the partitions the way nspawn does, and
// gives the loop device up with the last mount) on a directory of its
// own below a root-only directory, calls the read function with that
// directory, and unmounts before it returns, whatever happened. The mount
// lives in a mount namespace of its own, unshared by the OS thread that
// runs the read: no other process, not even another goroutine of the
// daemon, sees it, and if the daemon dies mid-read the kernel drops the
// namespace and the mount with it. Nothing a caller controls reaches the
// systemd-dissect command line: only the image path and the mount point,
// both made by the daemon.
//
// What the image holds is as untrusted as a directory image's tree: the
// read function reads below the mount point with openat2 RESOLVE_IN_ROOT
// (package openat2), so the image's symlinks resolve inside it.
package rawimage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nspawn-tray/nspawn-tray/mountinfo"
	"github.com/nspawn-tray/nspawn-tray/openat2"
)

// Dissect is systemd-dissect on an installed system.
const Dissect = "/usr/bin/systemd-dissect"

// Timeout bounds each run of systemd-dissect (mount or unmount): an
// image that asks for a passphrase, say, fails instead of waiting.
const Timeout = 30 * time.Second

// Errors that say why a file is not used as a raw image.
var (
	ErrNotRegular = errors.New("not a regular file")
	ErrUnsafe     = errors.New("not safe to mount")
)

// Stat checks that path is a raw image the daemon may mount and run: a
// regular file (a symlink is not followed) owned by root and writable by
// nobody else, since the kernel parses its file systems. It returns the
// file's stat; a missing file matches fs.ErrNotExist.
func Stat(path string) (unix.Stat_t, error) {
	var st unix.Stat_t
	if err := openat2.CheckRoot(path); err != nil {
		return st, err
	}
	fd, err := unix.Open(path, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return st, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	if err := unix.Fstat(fd, &st); err != nil {
		return st, &fs.PathError{Op: "fstat", Path: path, Err: err}
	}
	switch {
	case st.Mode&unix.S_IFMT == unix.S_IFLNK:
		return st, fmt.Errorf("%w: %s is a symlink", ErrNotRegular, path)
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return st, fmt.Errorf("%w: %s has mode %#o", ErrNotRegular, path, st.Mode)
	case st.Uid != 0:
		return st, fmt.Errorf("%w: %s is owned by uid %d, not root", ErrUnsafe, path, st.Uid)
	case st.Mode&0o022 != 0:
		return st, fmt.Errorf("%w: %s is writable by others than root (mode %#o)", ErrUnsafe, path, st.Mode&0o7777)
	}
	return st, nil
}

// Reader mounts raw images for reading.
type Reader struct {
	// Dissect is systemd-dissect.
	Dissect string
	// Dir holds the mount points, one per read. Read creates it (0700)
	// and refuses it unless it is root's and nobody else's; its parent
	// must be root's.
	Dir string
}

// Read mounts the raw image at path (checked with Stat) read-only on a
// fresh directory below r.Dir, calls read with that directory, and
// unmounts. The mount is in a mount namespace of the thread that calls
// read: read must do its work itself (a goroutine it started would run
// on another thread, which does not see the mount), and close what it
// opened below the directory before it returns. ctx bounds the mount,
// not read; the unmount runs whatever ctx says.
//
// Read returns read's error, or why the image could not be mounted, or
// why it could not be unmounted (then the mount is still detached and
// goes with the namespace, when Read returns).
func (r Reader) Read(ctx context.Context, path string, read func(root string) error) error {
	if _, err := Stat(path); err != nil {
		return fmt.Errorf("rawimage: %w", err)
	}
	if err := r.prepareDir(); err != nil {
		return fmt.Errorf("rawimage: %w", err)
	}
	return onOwnThread(func() error { return r.readPrivate(ctx, path, read) })
}

// onOwnThread runs f in a goroutine locked to an OS thread that is not
// the main thread, and ends that thread after f: f may change the
// thread's namespaces. A goroutine that exits locked to its thread ends
// the thread (and a mount namespace only it used goes with it, with
// anything still mounted there); threads the runtime starts meanwhile
// come from its template thread, in the host's namespace. The main
// thread cannot be ended (Go would park it forever, in f's namespace,
// where /proc/self/mountinfo and the like would then look): if the
// goroutine lands there, it holds it, so that a second one cannot, and
// lets that one run f.
func onOwnThread(f func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			err := onOwnThread(f)
			runtime.UnlockOSThread()
			done <- err
			return
		}
		done <- f()
	}()
	return <-done
}

func (r Reader) readPrivate(ctx context.Context, path string, read func(root string) error) (err error) {
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("rawimage: unshare the mount namespace: %w", err)
	}
	// Mounts made here must not propagate back to the host's namespace.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, ""); err != nil {
		return fmt.Errorf("rawimage: make / a slave mount: %w", err)
	}
	point, err := r.mountPoint()
	if err != nil {
		return fmt.Errorf("rawimage: %w", err)
	}
	defer func() {
		if uerr := r.unmount(point); uerr != nil && err == nil {
			err = fmt.Errorf("rawimage: unmount %s: %w", path, uerr)
		}
	}()
	// --read-only: the loop device and every file system are read-only
	// (ext4 without journal recovery); no fsck and no growfs either,
	// which --read-only already implies on 252, said explicitly.
	if err := r.run(ctx, "--read-only", "--fsck=no", "--growfs=no", "--mount", "--", path, point); err != nil {
		return fmt.Errorf("rawimage: mount %s: %w", path, err)
	}
	return read(point)
}

// prepareDir makes r.Dir if needed and checks it is root's alone, and
// removes the mount points of processes that are gone.
func (r Reader) prepareDir() error {
	if err := openat2.CheckRoot(r.Dir); err != nil || r.Dir == "/" {
		return fmt.Errorf("mount dir %q is not an absolute clean path", r.Dir)
	}
	if err := os.MkdirAll(filepath.Dir(r.Dir), 0o755); err != nil {
		return err
	}
	if err := unix.Mkdir(r.Dir, 0o700); err != nil && err != unix.EEXIST {
		return fmt.Errorf("mkdir %s: %w", r.Dir, err)
	}
	fd, err := openat2.Open(unix.AT_FDCWD, r.Dir, unix.O_PATH|unix.O_DIRECTORY, openat2.NoLinks)
	if err != nil {
		return fmt.Errorf("open %s: %w", r.Dir, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("fstat %s: %w", r.Dir, err)
	}
	if st.Uid != 0 || st.Mode&0o077 != 0 {
		return fmt.Errorf("%w: %s must be root's with mode 0700 (uid %d, mode %#o)", ErrUnsafe, r.Dir, st.Uid, st.Mode&0o7777)
	}
	// A daemon that died mid-read left its (empty: the mount went with
	// its namespace) mount point behind.
	entries, _ := os.ReadDir(r.Dir)
	for _, e := range entries {
		pid, _, ok := strings.Cut(e.Name(), "-")
		if n, err := strconv.Atoi(pid); ok && err == nil && n > 0 && !alive(n) {
			_ = unix.Rmdir(filepath.Join(r.Dir, e.Name()))
		}
	}
	return nil
}

func alive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || err == unix.EPERM
}

// mountPoint makes a fresh, empty directory below r.Dir, named after
// this process so that a later one can tell it is stale.
func (r Reader) mountPoint() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	p := filepath.Join(r.Dir, strconv.Itoa(os.Getpid())+"-"+hex.EncodeToString(b))
	if err := unix.Mkdir(p, 0o700); err != nil {
		return "", fmt.Errorf("mkdir %s: %w", p, err)
	}
	return p, nil
}

// unmount undoes whatever systemd-dissect mounted on point (a killed
// run may have mounted part of it) and removes point. systemd-dissect
// --umount unmounts and gives up the loop device; whatever it left is
// detached here.
func (r Reader) unmount(point string) error {
	var runErr error
	if mounted(point) {
		ctx, cancel := context.WithTimeout(context.Background(), Timeout)
		runErr = r.run(ctx, "--umount", "--", point)
		cancel()
	}
	left, err := mountsBelow(point)
	if err != nil {
		return err
	}
	// Deepest first.
	slices.SortFunc(left, func(a, b string) int { return len(b) - len(a) })
	for _, m := range left {
		if err := unix.Unmount(m, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW); err != nil && err != unix.EINVAL && err != unix.ENOENT {
			return errors.Join(runErr, fmt.Errorf("umount %s: %w", m, err))
		}
	}
	if left, err := mountsBelow(point); err != nil || len(left) > 0 {
		return errors.Join(runErr, err, fmt.Errorf("still mounted: %s", strings.Join(left, " ")))
	}
	if err := unix.Rmdir(point); err != nil {
		return fmt.Errorf("rmdir %s: %w", point, err)
	}
	return nil
}

func mounted(point string) bool {
	m, err := mountsBelow(point)
	return err == nil && len(m) > 0
}

// mountsBelow lists the mount points at or below dir in this thread's
// mount namespace (thread-self: /proc/self is the main thread's, which
// is the host's).
func mountsBelow(dir string) ([]string, error) {
	return mountinfo.Below("/proc/thread-self/mountinfo", dir)
}

// run runs systemd-dissect with args and a fixed environment, and turns
// a failure into its last lines of output.
func (r Reader) run(ctx context.Context, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.Dissect, args...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "SYSTEMD_LOG_COLOR=0", "SYSTEMD_PAGER=cat"}
	var out limitedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (%w)", err, ctx.Err())
	}
	if msg := strings.TrimSpace(out.String()); msg != "" {
		return fmt.Errorf("systemd-dissect: %s (%w)", lastLines(msg, 3), err)
	}
	return fmt.Errorf("systemd-dissect: %w", err)
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "; ")
}

// limitedBuffer keeps the last 4 KiB written to it.
type limitedBuffer struct{ b []byte }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	l.b = append(l.b, p...)
	if len(l.b) > 4096 {
		l.b = l.b[len(l.b)-4096:]
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string { return strings.ToValidUTF8(string(l.b), "?") }
