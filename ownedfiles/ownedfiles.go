// Package ownedfiles keeps nspawn-tray's files in a user's directory in step
// with what should be there, without ever touching a file nspawn-tray did
// not write. Which files are ours is a strategy: desktop entries carry an
// owner key in their content (OwnerKey), icons cannot and are listed in a
// manifest with their checksum (Manifest). One reconciler serves both.
package ownedfiles

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/nspawn-tray/nspawn-tray/atomicfile"
)

// maxSize is the most read of a file to decide whether it is ours; a larger
// file is not ours.
const maxSize = 8 << 20

// Result says what a reconcile did. Each list is sorted and holds paths
// relative to the base directory.
type Result struct {
	Written []string // created or replaced
	Removed []string // ours, no longer wanted
	Skipped []string // wanted, but the name is taken by something not ours
	// Missing are names to keep (ReconcileKeeping) that were not there as
	// ours: the caller must give their content.
	Missing []string
}

// Changed reports whether anything was written or removed.
func (r Result) Changed() bool { return len(r.Written) > 0 || len(r.Removed) > 0 }

// Strategy decides which files below a base directory are ours.
type Strategy interface {
	// stale lists the files that may be ours, to be removed when unwanted.
	stale(base string) ([]string, error)
	// owns reports whether the file rel, holding data, is ours.
	owns(rel string, data []byte) bool
	// validName reports whether rel may be written under this strategy.
	validName(rel string) error
	// commit records, for strategies that keep a record, which of the
	// considered names are ours after a reconcile (kept: rel -> content;
	// keptSums: rel -> the digest listed, for names kept without content).
	commit(considered []string, kept map[string][]byte, keptSums map[string]string) error
	// keeps reports whether base/rel is there and ours, for a name to keep
	// as it is, and the digest it is listed with (if the strategy lists
	// digests).
	keeps(base, rel string) (sum string, ok bool, err error)
}

// OwnerKey is the strategy of files that say they are ours: a file of base
// (not below it) whose name ends in suffix and for which hasKey(content)
// holds. Names must be plain file names ending in suffix.
func OwnerKey(suffix string, hasKey func([]byte) bool) Strategy {
	return ownerKey{suffix: suffix, hasKey: hasKey}
}

type ownerKey struct {
	suffix string
	hasKey func([]byte) bool
}

func (o ownerKey) validName(rel string) error {
	if o.suffix == "" || strings.ContainsRune(o.suffix, '/') {
		return fmt.Errorf("invalid suffix %q", o.suffix)
	}
	if len(rel) <= len(o.suffix) || !strings.HasSuffix(rel, o.suffix) || strings.ContainsRune(rel, '/') {
		return fmt.Errorf("invalid file name %q: want a plain name ending in %q, not starting with '.'", rel, o.suffix)
	}
	return checkRel(rel)
}

func (o ownerKey) stale(base string) ([]string, error) {
	ents, err := os.ReadDir(base)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), o.suffix) && e.Type().IsRegular() {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

func (o ownerKey) owns(_ string, data []byte) bool { return o.hasKey(data) }
func (o ownerKey) commit([]string, map[string][]byte, map[string]string) error {
	return nil
}

// keeps reads the file: its key is in its content.
func (o ownerKey) keeps(base, rel string) (string, bool, error) {
	_, st, err := readOurs(base, rel, o)
	return "", st == ours, err
}

// Manifest is the strategy of files that cannot carry a key: path, a file
// outside base, lists each file we wrote ("sha256 rel" per line), and a
// file is ours only while it still has the content we wrote. Names may be
// relative paths below base; missing directories are created (0755).
func Manifest(path string) Strategy { return &manifest{path: path} }

type manifest struct {
	path   string
	listed map[string]string // rel -> sha256, as read
}

func (m *manifest) validName(rel string) error { return checkRel(rel) }

func (m *manifest) read() error {
	if m.listed != nil {
		return nil
	}
	m.listed = map[string]string{}
	data, err := os.ReadFile(m.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read manifest: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		sum, rel, ok := strings.Cut(sc.Text(), " ")
		if ok && len(sum) == 64 && checkRel(rel) == nil {
			m.listed[rel] = sum
		}
	}
	return nil
}

func (m *manifest) stale(string) ([]string, error) {
	if err := m.read(); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(m.listed))
	for rel := range m.listed {
		out = append(out, rel)
	}
	return out, nil
}

func (m *manifest) owns(rel string, data []byte) bool {
	return m.read() == nil && m.listed[rel] == digest(data)
}

// keeps does not read the file: the manifest lists it with the digest of
// what was written, and keeping it touches nothing. Whether it is still
// ours is checked by reading it before it is ever replaced or removed.
func (m *manifest) keeps(base, rel string) (string, bool, error) {
	if err := m.read(); err != nil {
		return "", false, err
	}
	sum, listed := m.listed[rel]
	if !listed {
		return "", false, nil
	}
	fi, err := os.Lstat(filepath.Join(base, rel))
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, unix.ENOTDIR):
		return "", false, nil
	case err != nil:
		return "", false, err
	}
	return sum, fi.Mode().IsRegular(), nil
}

func (m *manifest) commit(considered []string, kept map[string][]byte, keptSums map[string]string) error {
	if err := m.read(); err != nil {
		return err
	}
	next := map[string]string{}
	for rel, sum := range m.listed {
		if !slices.Contains(considered, rel) {
			next[rel] = sum
		}
	}
	for rel, data := range kept {
		next[rel] = digest(data)
	}
	for rel, sum := range keptSums {
		next[rel] = sum
	}
	if mapsEqual(next, m.listed) {
		return nil
	}
	names := make([]string, 0, len(next))
	for rel := range next {
		names = append(names, rel)
	}
	slices.Sort(names)
	var b bytes.Buffer
	for _, rel := range names {
		fmt.Fprintf(&b, "%s %s\n", next[rel], rel)
	}
	if err := os.MkdirAll(filepath.Dir(m.path), 0o755); err != nil {
		return err
	}
	if err := atomicfile.Write(m.path, b.Bytes(), atomicfile.Options{SyncDir: true}); err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	m.listed = next
	return nil
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// checkRel accepts clean relative paths whose components do not start with
// '.' (no "..", no hidden or temporary names).
func checkRel(rel string) error {
	if rel == "" || filepath.IsAbs(rel) || filepath.Clean(rel) != rel || strings.ContainsAny(rel, "\x00\n") {
		return fmt.Errorf("invalid file name %q: want a clean relative path", rel)
	}
	for _, c := range strings.Split(rel, "/") {
		if c == "" || c[0] == '.' || len(c) > 255 {
			return fmt.Errorf("invalid file name %q: components must not start with '.'", rel)
		}
	}
	return nil
}

// Reconcile makes base hold exactly want (relative path -> content) among
// the files that are ours under s:
//
//   - A wanted file is written only when missing or its content differs,
//     atomically (atomicfile). A new name is claimed with NoReplace, so a
//     file that appeared meanwhile is not clobbered; a file whose content
//     already equals what is wanted counts as ours.
//   - A file that is ours and not wanted is removed.
//   - A file that is not ours is never touched; if a wanted name is taken by
//     one, it is reported in Result.Skipped. Symlinks are never followed or
//     replaced: they count as not ours, like directories, other non-regular
//     files, unreadable files and files over 8 MiB.
//
// base is created (0755) if missing. Each directory that changed is synced
// once at the end. Names that s refuses make Reconcile do nothing and
// return an error; errors on single files do not stop the others and are
// joined. Concurrent reconciles of one base must be serialized by the
// caller.
func Reconcile(base string, s Strategy, want map[string][]byte) (Result, error) {
	return ReconcileKeeping(base, s, want, nil)
}

// ReconcileKeeping is Reconcile where the names in keep are wanted as they
// are, without the caller holding their content (menusync: icons the
// daemon said are unchanged). Such a file is left untouched if it is there
// and ours (under a manifest: listed and still a regular file, not read);
// otherwise it is reported in Result.Missing, nothing is written for it,
// and it is not removed. A name both in want and in keep is written from
// want.
func ReconcileKeeping(base string, s Strategy, want map[string][]byte, keep map[string]bool) (Result, error) {
	stale, err := s.stale(base)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Result{}, err
	}
	return reconcile(base, s, want, keep, stale)
}

// Set reconciles the one name rel: with data it is written (unless the name
// is taken by a file not ours), with nil data it is removed if ours. Other
// files are left as they are.
func Set(base string, s Strategy, rel string, data []byte) (Result, error) {
	if err := s.validName(rel); err != nil {
		return Result{}, err
	}
	want := map[string][]byte{}
	if data != nil {
		want[rel] = data
	}
	return reconcile(base, s, want, nil, []string{rel})
}

func reconcile(base string, s Strategy, want map[string][]byte, keep map[string]bool, stale []string) (Result, error) {
	var res Result
	names := make([]string, 0, len(want))
	for rel := range want {
		if err := s.validName(rel); err != nil {
			return res, err
		}
		names = append(names, rel)
	}
	keepNames := make([]string, 0, len(keep))
	for rel, k := range keep {
		if _, ok := want[rel]; !k || ok {
			continue
		}
		if err := s.validName(rel); err != nil {
			return res, err
		}
		keepNames = append(keepNames, rel)
	}
	slices.Sort(names)
	slices.Sort(keepNames)
	if err := os.MkdirAll(base, 0o755); err != nil {
		return res, err
	}
	var errs []error
	changedDirs := map[string]bool{}
	kept := map[string][]byte{}
	for _, rel := range names {
		cur, st, err := readOurs(base, rel, s)
		data := want[rel]
		switch {
		case err != nil:
			errs = append(errs, err)
			continue
		case cur != nil && bytes.Equal(cur, data):
			kept[rel] = data // up to date
			continue
		case st == foreign:
			res.Skipped = append(res.Skipped, rel)
			continue
		}
		dir := filepath.Join(base, filepath.Dir(rel))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			errs = append(errs, err)
			continue
		}
		err = atomicfile.Write(filepath.Join(base, rel), data, atomicfile.Options{NoReplace: st == missing})
		switch {
		case errors.Is(err, fs.ErrExist):
			res.Skipped = append(res.Skipped, rel)
		case err != nil:
			errs = append(errs, err)
		default:
			res.Written = append(res.Written, rel)
			kept[rel] = data
			changedDirs[dir] = true
		}
	}
	keptSums := map[string]string{}
	for _, rel := range keepNames {
		sum, ok, err := s.keeps(base, rel)
		switch {
		case err != nil:
			errs = append(errs, err)
		case ok:
			keptSums[rel] = sum
		default:
			res.Missing = append(res.Missing, rel)
		}
	}
	slices.Sort(stale)
	for _, rel := range slices.Compact(stale) {
		if _, ok := want[rel]; ok || keep[rel] || s.validName(rel) != nil {
			continue
		}
		_, st, err := readOurs(base, rel, s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if st != ours {
			continue
		}
		p := filepath.Join(base, rel)
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		res.Removed = append(res.Removed, rel)
		changedDirs[filepath.Dir(p)] = true
	}
	for dir := range changedDirs {
		if err := atomicfile.SyncDir(dir); err != nil {
			errs = append(errs, err)
		}
	}
	considered := append(append(names, keepNames...), stale...)
	if err := s.commit(considered, kept, keptSums); err != nil {
		errs = append(errs, err)
	}
	return res, errors.Join(errs...)
}

type state int

const (
	missing state = iota
	ours
	foreign
)

// readOurs reads base/rel without following a symlink (in rel's last
// component) and says whether it is ours. Anything that is not a regular
// file, is larger than maxSize or is not owned under s is foreign. The
// content is returned for every regular file read, ours or not.
func readOurs(base, rel string, s Strategy) ([]byte, state, error) {
	p := filepath.Join(base, rel)
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, unix.ENOTDIR):
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
	if !st.Mode().IsRegular() || st.Size() > maxSize {
		return nil, foreign, nil
	}
	data, err := io.ReadAll(io.LimitReader(f, maxSize+1))
	if err != nil {
		return nil, missing, fmt.Errorf("read %s: %w", p, err)
	}
	if len(data) > maxSize || !s.owns(rel, data) {
		return data, foreign, nil
	}
	return data, ours, nil
}
