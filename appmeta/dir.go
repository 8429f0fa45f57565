package appmeta

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// errImageRoot marks a failure to open the image directory itself, as
// opposed to a path inside it.
var errImageRoot = errors.New("cannot open image directory")

// MaxDirEntries caps how many entries listImageDir reads from one directory.
const MaxDirEntries = 4096

// openat2 retries EAGAIN and EINTR, which the RESOLVE_* scoped lookups return
// when a concurrent rename might have let ".." escape.
func openat2(dirfd int, path string, flags, resolve uint64) (int, error) {
	how := unix.OpenHow{Flags: flags | unix.O_CLOEXEC, Resolve: resolve}
	for i := 0; ; i++ {
		fd, err := unix.Openat2(dirfd, path, &how)
		if (err == unix.EAGAIN || err == unix.EINTR) && i < 64 {
			continue
		}
		if err != nil {
			return -1, err
		}
		return fd, nil
	}
}

// listImageDir returns the names in the directory rel inside the image tree
// at imageDir, in directory order, reading at most MaxDirEntries entries
// (the rest are ignored).
//
// Like stage.ReadImageFile, imageDir itself is opened without following any
// symlink, and every component of rel resolves inside the image
// (RESOLVE_IN_ROOT), so absolute symlinks in the image point into it, never
// at the host. O_DIRECTORY makes the open fail on anything but a directory
// (no FIFO is ever opened for reading). A missing directory matches
// fs.ErrNotExist; failing to open imageDir itself wraps errImageRoot.
func listImageDir(imageDir, rel string) ([]string, error) {
	names, err := listDir(imageDir, rel)
	if err != nil {
		return nil, fmt.Errorf("appmeta: list %s in %s: %w", rel, imageDir, err)
	}
	return names, nil
}

func listDir(imageDir, rel string) ([]string, error) {
	if !filepath.IsAbs(imageDir) || filepath.Clean(imageDir) != imageDir || strings.ContainsRune(imageDir, 0) {
		return nil, fmt.Errorf("%w: %q is not an absolute clean path", errImageRoot, imageDir)
	}
	if rel == "" || filepath.IsAbs(rel) || strings.ContainsRune(rel, 0) {
		return nil, fmt.Errorf("%q is not a relative path", rel)
	}
	rootfd, err := openat2(unix.AT_FDCWD, imageDir, unix.O_PATH|unix.O_DIRECTORY,
		unix.RESOLVE_NO_SYMLINKS|unix.RESOLVE_NO_MAGICLINKS)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errImageRoot, err)
	}
	defer unix.Close(rootfd)
	fd, err := openat2(rootfd, rel, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOCTTY,
		unix.RESOLVE_IN_ROOT|unix.RESOLVE_NO_MAGICLINKS)
	if err != nil {
		return nil, err
	}
	d := os.NewFile(uintptr(fd), rel)
	defer d.Close()
	var names []string
	for len(names) < MaxDirEntries {
		n := min(256, MaxDirEntries-len(names))
		ents, err := d.ReadDir(n)
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
