// Package openat2 resolves paths the way the privileged side must: by file
// descriptor, with openat2(2)'s RESOLVE_* scoping, never following a link a
// user or an image planted. It holds the one openat2 wrapper and the reads
// confined to an image tree (RESOLVE_IN_ROOT) that the daemon and the image
// metadata reader share.
package openat2

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Sentinel errors; callers act on these with errors.Is.
var (
	// ErrSymlink means a symlink (or a mount crossing) was met where none
	// is allowed: the path is not what it claims to be.
	ErrSymlink = errors.New("symlink or mount crossing in path")
	// ErrTooLarge means a file exceeds the caller's size cap.
	ErrTooLarge = errors.New("file too large")
	// ErrNotRegular means a file is not a regular file.
	ErrNotRegular = errors.New("not a regular file")
	// ErrInvalidPath means a root is not absolute and clean, or a path
	// that must be relative is not.
	ErrInvalidPath = errors.New("invalid path")
	// ErrRoot marks a failure to open the root (image) directory itself,
	// as opposed to a path inside it.
	ErrRoot = errors.New("cannot open the root directory")
)

// Resolve presets.
const (
	// NoLinks refuses every symlink, and magic links such as
	// /proc/PID/root that would otherwise jump anywhere.
	NoLinks = unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS
	// StrictChild is for one name below a directory fd already trusted: no
	// links, no "..", and the result on the same mount as the directory.
	StrictChild = NoLinks | unix.RESOLVE_BENEATH | unix.RESOLVE_NO_XDEV
	// InRoot resolves every component inside the directory fd, as if it
	// were "/": the absolute symlinks of Docker-exported trees point into
	// the tree, never at the host.
	InRoot = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS
)

// Open is openat2(2) with O_CLOEXEC always set. It retries EAGAIN and EINTR:
// the kernel returns EAGAIN from the RESOLVE_* scoped lookups when a
// concurrent rename or mount might have let ".." escape, and a retry is the
// documented answer. ELOOP and EXDEV (a link or mount crossing the resolve
// flags refused) wrap ErrSymlink, keeping the errno in the chain.
func Open(dirfd int, path string, flags, resolve uint64) (int, error) {
	how := unix.OpenHow{Flags: flags | unix.O_CLOEXEC, Resolve: resolve}
	for i := 0; ; i++ {
		fd, err := unix.Openat2(dirfd, path, &how)
		if (err == unix.EAGAIN || err == unix.EINTR) && i < 64 {
			continue
		}
		if err != nil {
			if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EXDEV) {
				return -1, fmt.Errorf("%w (%w)", ErrSymlink, err)
			}
			return -1, err
		}
		return fd, nil
	}
}

// CheckRoot accepts only absolute, clean paths: relative paths would depend
// on the working directory, and unclean ones hide "..".
func CheckRoot(p string) error {
	if !filepath.IsAbs(p) || filepath.Clean(p) != p || strings.ContainsRune(p, 0) {
		return fmt.Errorf("%w: %q is not an absolute clean path", ErrInvalidPath, p)
	}
	return nil
}

func checkRel(rel string) error {
	if rel == "" || filepath.IsAbs(rel) || strings.ContainsRune(rel, 0) {
		return fmt.Errorf("%w: %q is not a relative path", ErrInvalidPath, rel)
	}
	return nil
}

// openRoot opens root itself without following any symlink.
func openRoot(root string) (int, error) {
	if err := CheckRoot(root); err != nil {
		return -1, fmt.Errorf("%w: %w", ErrRoot, err)
	}
	fd, err := Open(unix.AT_FDCWD, root, unix.O_PATH|unix.O_DIRECTORY, NoLinks)
	if err != nil {
		return -1, fmt.Errorf("%w: %w", ErrRoot, err)
	}
	return fd, nil
}

// ReadFileInRoot reads rel (e.g. "etc/passwd") inside the tree at root, at
// most max bytes. root itself is opened with RESOLVE_NO_SYMLINKS; every
// component of rel resolves inside it (InRoot).
//
// The file is first opened O_PATH and checked to be regular, and only then
// reopened for reading through its fd: opening a FIFO would block and
// opening a device node runs driver code, both on content of an untrusted
// image.
//
// Errors wrap ErrTooLarge, ErrNotRegular, ErrRoot, ErrInvalidPath, or the
// errno (fs.ErrNotExist matches a missing file).
func ReadFileInRoot(root, rel string, max int64) ([]byte, error) {
	b, err := readFileInRoot(root, rel, max)
	if err != nil {
		return nil, fmt.Errorf("read %s in %s: %w", rel, root, err)
	}
	return b, nil
}

func readFileInRoot(root, rel string, max int64) ([]byte, error) {
	if err := checkRel(rel); err != nil {
		return nil, err
	}
	if max < 0 {
		return nil, fmt.Errorf("negative size cap %d", max)
	}
	rootfd, err := openRoot(root)
	if err != nil {
		return nil, err
	}
	defer unix.Close(rootfd)
	pfd, err := Open(rootfd, rel, unix.O_PATH, InRoot)
	if err != nil {
		return nil, err
	}
	defer unix.Close(pfd)
	var st unix.Stat_t
	if err := unix.Fstat(pfd, &st); err != nil {
		return nil, fmt.Errorf("fstat: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("%w: mode %#o", ErrNotRegular, st.Mode)
	}
	if st.Size > max {
		return nil, fmt.Errorf("%w: %d bytes, cap %d", ErrTooLarge, st.Size, max)
	}
	// The magic link reopens exactly the inode checked above.
	f, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", pfd), os.O_RDONLY|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("reopen: %w", err)
	}
	defer f.Close()
	// The file may grow between fstat and read: cap the read as well.
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, max)
	}
	return b, nil
}

// ReadDirInRoot returns the names in the directory rel inside the tree at
// root, in directory order, reading at most max entries (the rest are
// ignored). It resolves like ReadFileInRoot; O_DIRECTORY makes the open
// fail on anything but a directory, so no FIFO is ever opened. A missing
// directory matches fs.ErrNotExist; failing to open root wraps ErrRoot.
func ReadDirInRoot(root, rel string, max int) ([]string, error) {
	names, err := readDirInRoot(root, rel, max)
	if err != nil {
		return nil, fmt.Errorf("list %s in %s: %w", rel, root, err)
	}
	return names, nil
}

func readDirInRoot(root, rel string, max int) ([]string, error) {
	if err := checkRel(rel); err != nil {
		return nil, err
	}
	rootfd, err := openRoot(root)
	if err != nil {
		return nil, err
	}
	defer unix.Close(rootfd)
	fd, err := Open(rootfd, rel, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOCTTY, InRoot)
	if err != nil {
		return nil, err
	}
	d := os.NewFile(uintptr(fd), rel)
	defer d.Close()
	var names []string
	for len(names) < max {
		ents, err := d.ReadDir(min(256, max-len(names)))
		for _, e := range ents {
			names = append(names, e.Name())
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	return names, nil
}

// StatInRoot is fstat of rel inside the tree at root, resolved like
// ReadFileInRoot (the last component's symlink followed inside the tree).
func StatInRoot(root, rel string) (unix.Stat_t, error) {
	sts, errs := StatsInRoot(root, []string{rel})
	return sts[0], errs[0]
}

// StatsInRoot is StatInRoot of each of rels, with root opened once (a
// daemon stamping hundreds of apps' image files at a sync). errs[i] is
// rel[i]'s error; when root cannot be opened, every one is that error.
func StatsInRoot(root string, rels []string) (sts []unix.Stat_t, errs []error) {
	sts, errs = make([]unix.Stat_t, len(rels)), make([]error, len(rels))
	rootfd, err := openRoot(root)
	if err != nil {
		for i := range errs {
			errs[i] = err
		}
		return sts, errs
	}
	defer unix.Close(rootfd)
	for i, rel := range rels {
		if errs[i] = checkRel(rel); errs[i] != nil {
			continue
		}
		fd, err := Open(rootfd, rel, unix.O_PATH, InRoot)
		if err != nil {
			errs[i] = err
			continue
		}
		errs[i] = unix.Fstat(fd, &sts[i])
		unix.Close(fd)
	}
	return sts, errs
}
