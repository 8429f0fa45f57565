package stage

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// ReadImageFile reads rel (e.g. "etc/passwd") inside the image tree at
// imageDir, at most max bytes.
//
// Every component of rel resolves inside the image (RESOLVE_IN_ROOT), so the
// absolute symlinks of Docker-exported trees point into the tree, not at the
// host. imageDir itself is opened with RESOLVE_NO_SYMLINKS.
//
// The file is first opened O_PATH and checked to be regular, and only then
// reopened for reading through its fd: opening a FIFO would block and opening
// a device node runs driver code, both on content of an untrusted image.
//
// Errors wrap ErrTooLarge, ErrNotRegular, ErrSymlink (imageDir), ErrInvalidName,
// or the errno (fs.ErrNotExist matches a missing file).
func ReadImageFile(imageDir, rel string, max int64) ([]byte, error) {
	b, err := readImageFile(imageDir, rel, max)
	if err != nil {
		return nil, fmt.Errorf("stage: read image file %s in %s: %w", rel, imageDir, err)
	}
	return b, nil
}

func readImageFile(imageDir, rel string, max int64) ([]byte, error) {
	if err := validRoot(imageDir); err != nil {
		return nil, err
	}
	if rel == "" || filepath.IsAbs(rel) || strings.ContainsRune(rel, 0) {
		return nil, fmt.Errorf("%w: %q is not a relative path", ErrInvalidName, rel)
	}
	if max < 0 {
		return nil, fmt.Errorf("negative size cap %d", max)
	}
	rootfd, err := openat2(unix.AT_FDCWD, imageDir, unix.O_PATH|unix.O_DIRECTORY, noLinks)
	if err != nil {
		return nil, err
	}
	defer unix.Close(rootfd)
	pfd, err := openat2(rootfd, rel, unix.O_PATH, unix.RESOLVE_IN_ROOT|unix.RESOLVE_NO_MAGICLINKS)
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
