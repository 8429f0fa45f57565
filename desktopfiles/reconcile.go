package desktopfiles

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// maxOwnedSize is the most Reconcile reads of a file to find its owner; a
// larger file is treated as not ours.
const maxOwnedSize = 1 << 20

// tempPattern names Reconcile's temporary files. They start with '.', so no
// want name (and no file a desktop reads) can collide with them.
const tempPattern = ".nspawn-tray-*.tmp"

// Result says what Reconcile did. Each list is sorted.
type Result struct {
	Written []string // created or replaced
	Removed []string // owned files no longer wanted
	Skipped []string // wanted names taken by something not ours (a file without OwnerKey, a symlink, a directory...)
}

// Changed reports whether Reconcile wrote or removed anything.
func (r Result) Changed() bool { return len(r.Written) > 0 || len(r.Removed) > 0 }

// Reconcile makes dir hold exactly want (file name -> content) among the
// files that carry OwnerKey (per ParseOwner, reading at most 1 MiB of each).
//
//   - A wanted file is written only when missing or its content differs,
//     atomically (temporary file in dir, fsync, rename; mode 0644). A new
//     name is claimed with RENAME_NOREPLACE, so a file that appeared
//     meanwhile is not clobbered.
//   - A regular file with the suffix that carries the key and is not in
//     want is removed.
//   - A file without the key is never touched; if a wanted name is taken by
//     one, the name is reported in Result.Skipped. Symlinks are never
//     followed or replaced; they count as foreign, like directories and
//     other non-regular files, and so do files over 1 MiB.
//
// dir is created (0755) if missing, and synced when something changed.
// Names in want must be plain file names ending in suffix that do not
// start with '.'; otherwise nothing is done and an error is returned.
// Errors on single files do not stop the others; they are joined.
// Concurrent Reconciles of one dir must be serialized by the caller.
func Reconcile(dir, suffix string, want map[string][]byte) (Result, error) {
	var res Result
	if suffix == "" || strings.ContainsRune(suffix, '/') {
		return res, fmt.Errorf("invalid suffix %q", suffix)
	}
	for name := range want {
		if !validName(name, suffix) {
			return res, fmt.Errorf("invalid file name %q: want a plain name ending in %q, not starting with '.'", name, suffix)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return res, err
	}
	var errs []error
	names := make([]string, 0, len(want))
	for name := range want {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		p := filepath.Join(dir, name)
		cur, state, err := readOwned(p)
		switch {
		case err != nil:
			errs = append(errs, err)
		case state == foreign:
			res.Skipped = append(res.Skipped, name)
		case state == owned && bytes.Equal(cur, want[name]):
			// up to date
		default:
			taken, err := writeAtomic(dir, name, want[name], state == missing)
			switch {
			case err != nil:
				errs = append(errs, err)
			case taken:
				res.Skipped = append(res.Skipped, name)
			default:
				res.Written = append(res.Written, name)
			}
		}
	}
	for _, d := range ents {
		name := d.Name()
		if _, ok := want[name]; ok || !strings.HasSuffix(name, suffix) || !d.Type().IsRegular() {
			continue
		}
		p := filepath.Join(dir, name)
		_, state, err := readOwned(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if state != owned {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		res.Removed = append(res.Removed, name)
	}
	slices.Sort(res.Removed) // ReadDir sorts, but keep the promise explicit
	if res.Changed() {
		if err := syncDir(dir); err != nil {
			errs = append(errs, err)
		}
	}
	return res, errors.Join(errs...)
}

func validName(name, suffix string) bool {
	return len(name) > len(suffix) && len(name) <= 255 && strings.HasSuffix(name, suffix) &&
		name[0] != '.' && !strings.ContainsAny(name, "/\x00")
}

type fileState int

const (
	missing fileState = iota
	owned
	foreign
)

// readOwned reads the file at p without following a symlink and says
// whether it is ours. Anything that is not a regular file, is larger than
// maxOwnedSize or lacks the owner key is foreign.
func readOwned(p string) ([]byte, fileState, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, missing, nil
	case errors.Is(err, unix.ELOOP), errors.Is(err, unix.ENXIO), errors.Is(err, fs.ErrPermission):
		return nil, foreign, nil // a symlink; a socket; unreadable, so not provably ours
	case err != nil:
		return nil, missing, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, missing, err
	}
	if !st.Mode().IsRegular() || st.Size() > maxOwnedSize {
		return nil, foreign, nil
	}
	data, err := io.ReadAll(io.LimitReader(f, maxOwnedSize+1))
	if err != nil {
		return nil, missing, fmt.Errorf("read %s: %w", p, err)
	}
	if len(data) > maxOwnedSize || ParseOwner(data) == "" {
		return nil, foreign, nil
	}
	return data, owned, nil
}

// writeAtomic puts data at dir/name through a synced temporary file. When
// create is set the name must still be free: if something took it
// meanwhile, taken is true and nothing is written.
func writeAtomic(dir, name string, data []byte, create bool) (taken bool, err error) {
	f, err := os.CreateTemp(dir, tempPattern)
	if err != nil {
		return false, err
	}
	tmp := f.Name()
	defer func() {
		if err != nil || taken {
			os.Remove(tmp)
		}
	}()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, fmt.Errorf("write %s: %w", filepath.Join(dir, name), err)
	}
	dst := filepath.Join(dir, name)
	if !create {
		return false, os.Rename(tmp, dst)
	}
	err = unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, dst, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		// The file system cannot rename without replacing: a hard link
		// also fails when the name exists.
		err = os.Link(tmp, dst)
		if err == nil {
			os.Remove(tmp)
		}
	}
	if errors.Is(err, fs.ErrExist) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("rename %s: %w", dst, err)
	}
	return false, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
