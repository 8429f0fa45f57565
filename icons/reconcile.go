package icons

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Written is what Reconcile did.
type Written struct{ Written, Removed, Skipped []string }

// Changed reports whether any file was written or removed.
func (w Written) Changed() bool { return len(w.Written)+len(w.Removed) > 0 }

// Reconcile makes base (an icon theme dir such as ~/.local/share/icons)
// hold want (path relative to base -> content). Image files carry no
// ownership key, so a manifest (one "sha256 path" line per file) records
// what we wrote: a file is removed only when the manifest lists it and it
// still has the content we wrote, and a file we did not write is never
// replaced. Unchanged files are not written again.
func Reconcile(base, manifest string, want map[string][]byte) (Written, error) {
	var w Written
	owned, err := readManifest(manifest)
	if err != nil {
		return w, err
	}
	next := map[string]string{}
	names := make([]string, 0, len(want))
	for rel := range want {
		names = append(names, rel)
	}
	sort.Strings(names)
	for _, rel := range names {
		if !safeRel(rel) {
			return w, fmt.Errorf("icons: reconcile: unsafe path %q", rel)
		}
		sum := digest(want[rel])
		path := filepath.Join(base, rel)
		cur, err := readNoFollow(path)
		switch {
		case err == nil && digest(cur) == sum:
			next[rel] = sum // already right
			continue
		case err == nil && owned[rel] != digest(cur):
			w.Skipped = append(w.Skipped, rel) // someone else's file
			continue
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			w.Skipped = append(w.Skipped, rel)
			continue
		}
		if err := writeAtomic(path, want[rel]); err != nil {
			return w, err
		}
		next[rel] = sum
		w.Written = append(w.Written, rel)
	}
	stale := make([]string, 0)
	for rel, sum := range owned {
		if _, ok := want[rel]; ok || !safeRel(rel) {
			continue
		}
		path := filepath.Join(base, rel)
		cur, err := readNoFollow(path)
		if err == nil && digest(cur) == sum {
			if err := os.Remove(path); err != nil {
				return w, fmt.Errorf("icons: remove %s: %w", path, err)
			}
			w.Removed = append(w.Removed, rel)
		}
		stale = append(stale, rel)
	}
	sort.Strings(w.Removed)
	if w.Changed() || len(stale) > 0 || len(next) != len(owned) {
		if err := writeManifest(manifest, next); err != nil {
			return w, err
		}
	}
	return w, nil
}

func safeRel(rel string) bool {
	return rel != "" && !filepath.IsAbs(rel) && filepath.Clean(rel) == rel && !strings.HasPrefix(rel, "..") &&
		!strings.ContainsAny(rel, "\n\x00")
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// readNoFollow reads path unless it is a symlink or not a regular file.
func readNoFollow(path string) ([]byte, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() || fi.Size() > 8<<20 {
		return nil, fmt.Errorf("icons: %s is not a regular file we could have written", path)
	}
	return os.ReadFile(path)
}

func readManifest(path string) (map[string]string, error) {
	owned := map[string]string{}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return owned, nil
	}
	if err != nil {
		return nil, fmt.Errorf("icons: read manifest: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		sum, rel, ok := strings.Cut(sc.Text(), " ")
		if ok && len(sum) == 64 {
			owned[rel] = sum
		}
	}
	return owned, nil
}

func writeManifest(path string, owned map[string]string) error {
	names := make([]string, 0, len(owned))
	for rel := range owned {
		names = append(names, rel)
	}
	sort.Strings(names)
	var b bytes.Buffer
	for _, rel := range names {
		fmt.Fprintf(&b, "%s %s\n", owned[rel], rel)
	}
	return writeAtomic(path, b.Bytes())
}

// writeAtomic writes through a temp file in the same dir and a rename, so a
// reader never sees half a file.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("icons: create %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".nspawn-tray-*")
	if err != nil {
		return fmt.Errorf("icons: write %s: %w", path, err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("icons: write %s: %w", path, err)
	}
	return nil
}
