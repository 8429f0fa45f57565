// Package atomicfile writes files so that a reader sees the old content or
// the new, never half of it: a temporary file next to the target, written,
// fsynced and renamed over it. It is the one atomic write of nspawn-tray,
// for the user's desktop entries and icons as for root's staging files.
package atomicfile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// TempPrefix starts the names of temporary files. They start with '.', so no
// file a desktop reads, and no name a caller may write, collides with them.
const TempPrefix = ".nspawn-tray-"

// Options shape one write.
type Options struct {
	// Mode of the file (permission bits only); 0 means 0644.
	Mode os.FileMode
	// NoReplace claims a new name: if it exists by the time of the rename,
	// nothing is written and the error matches fs.ErrExist. It uses
	// RENAME_NOREPLACE (a hard link where the file system lacks it).
	NoReplace bool
	// SyncDir fsyncs the directory after the rename, making the rename
	// durable. A caller writing many files in one directory leaves it off
	// and calls SyncDir once.
	SyncDir bool
}

// Write puts data at path; see WriteAt.
func Write(path string, data []byte, opts Options) error {
	dir, name := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, &fs.PathError{Op: "open", Path: dir, Err: err})
	}
	defer unix.Close(fd)
	if err := WriteAt(fd, name, data, opts); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// WriteAt puts data at name in the directory dirfd (opened O_RDONLY or
// O_PATH|O_DIRECTORY). name must be a single path component not starting
// with '.'. The temporary file is created with O_EXCL|O_NOFOLLOW, so
// nothing anyone planted in the directory is written through; on any error
// it is removed and the target is unchanged.
func WriteAt(dirfd int, name string, data []byte, opts Options) error {
	if name == "" || name[0] == '.' || strings.ContainsAny(name, "/\x00") || len(name) > 255 {
		return fmt.Errorf("invalid file name %q: want one path component not starting with '.'", name)
	}
	mode := opts.Mode.Perm()
	if opts.Mode == 0 {
		mode = 0o644
	}
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return err
	}
	tmp := TempPrefix + hex.EncodeToString(rnd[:]) + ".tmp"
	fd, err := unix.Openat(dirfd, tmp, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("create temporary file: %w", err)
	}
	f := os.NewFile(uintptr(fd), tmp)
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = rename(dirfd, tmp, name, opts.NoReplace)
	}
	if err != nil {
		unix.Unlinkat(dirfd, tmp, 0)
		return err
	}
	if opts.SyncDir {
		return syncFD(dirfd)
	}
	return nil
}

func rename(dirfd int, tmp, name string, noReplace bool) error {
	if !noReplace {
		if err := unix.Renameat(dirfd, tmp, dirfd, name); err != nil {
			return fmt.Errorf("rename: %w", err)
		}
		return nil
	}
	err := unix.Renameat2(dirfd, tmp, dirfd, name, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		// The file system cannot rename without replacing: a hard link
		// also fails when the name exists.
		if err = unix.Linkat(dirfd, tmp, dirfd, name, 0); err == nil {
			unix.Unlinkat(dirfd, tmp, 0)
		}
	}
	if errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("%s: %w", name, fs.ErrExist)
	}
	if err != nil {
		return fmt.Errorf("rename: %w", err)
	}
	return nil
}

// SyncDir fsyncs the directory dir, so the renames in it are durable.
func SyncDir(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer unix.Close(fd)
	if err := syncFD(fd); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

func syncFD(fd int) error {
	// tmpfs and some others answer EINVAL: nothing to make durable there.
	if err := unix.Fsync(fd); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("fsync directory: %w", err)
	}
	return nil
}
