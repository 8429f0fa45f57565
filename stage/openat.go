package stage

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// openat2 retries EAGAIN and EINTR: the kernel returns EAGAIN from the
// RESOLVE_* scoped lookups when a concurrent rename or mount might have let
// ".." escape, and a retry is the documented answer.
func openat2(dirfd int, path string, flags uint64, resolve uint64) (int, error) {
	how := unix.OpenHow{Flags: flags | unix.O_CLOEXEC, Resolve: resolve}
	for i := 0; ; i++ {
		fd, err := unix.Openat2(dirfd, path, &how)
		if (err == unix.EAGAIN || err == unix.EINTR) && i < 64 {
			continue
		}
		if err != nil {
			return -1, classify(err)
		}
		return fd, nil
	}
}

// classify maps the errnos RESOLVE_* uses for "path is not what it claims"
// to ErrSymlink, keeping the errno in the chain for diagnostics.
func classify(err error) error {
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EXDEV) {
		return fmt.Errorf("%w (%w)", ErrSymlink, err)
	}
	return err
}

const (
	// noLinks refuses every symlink, and magic links such as
	// /proc/PID/root that would otherwise jump anywhere.
	noLinks = unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS
	// strictChild is for one name below a directory fd we already trust:
	// no links, no "..", and the result on the same mount as the directory.
	strictChild = noLinks | unix.RESOLVE_BENEATH | unix.RESOLVE_NO_XDEV
)
