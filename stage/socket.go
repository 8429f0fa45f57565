package stage

import (
	"fmt"
	"os"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/nspawn-tray/nspawn-tray/openat2"
)

// OpenSocket opens dir/name as O_PATH without following any symlink in dir
// or name, checks with fstat that it is a socket owned by one of allowedUIDs,
// and returns it. No allowed UID means nothing is allowed.
//
// dir is resolved with RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS but without
// RESOLVE_NO_XDEV: /run/user/UID is itself a tmpfs mount, so any absolute path
// to it crosses mounts and NO_XDEV would refuse every real session. name is
// resolved relative to the dir fd with RESOLVE_BENEATH|RESOLVE_NO_XDEV as
// well, so the socket is on the same mount as its directory.
//
// The owner check is what keeps a user from presenting someone else's socket
// (through a hard link in a directory they own): a link keeps the inode's owner.
//
// Errors wrap ErrSymlink, ErrNotSocket, ErrWrongOwner, ErrInvalidName, or the
// errno (fs.ErrNotExist matches a missing dir or socket).
func OpenSocket(dir, name string, allowedUIDs ...uint32) (*os.File, error) {
	f, err := openSocket(dir, name, allowedUIDs)
	if err != nil {
		return nil, fmt.Errorf("stage: open socket %s/%s: %w", dir, name, err)
	}
	return f, nil
}

func openSocket(dir, name string, allowed []uint32) (*os.File, error) {
	if err := validRoot(dir); err != nil {
		return nil, err
	}
	if err := validComponent(name); err != nil {
		return nil, err
	}
	dfd, err := openat2.Open(unix.AT_FDCWD, dir, unix.O_PATH|unix.O_DIRECTORY, openat2.NoLinks)
	if err != nil {
		return nil, err
	}
	defer unix.Close(dfd)
	// No O_NOFOLLOW: a symlink as the last component must fail with ELOOP
	// (ErrSymlink), not be opened as the link itself.
	fd, err := openat2.Open(dfd, name, unix.O_PATH, openat2.StrictChild)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("fstat: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		unix.Close(fd)
		return nil, fmt.Errorf("%w: mode %#o", ErrNotSocket, st.Mode)
	}
	if !slices.Contains(allowed, st.Uid) {
		unix.Close(fd)
		return nil, fmt.Errorf("%w: owned by uid %d", ErrWrongOwner, st.Uid)
	}
	return os.NewFile(uintptr(fd), dir+"/"+name), nil
}
