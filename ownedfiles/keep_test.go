package ownedfiles

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Names kept without their content (menusync's unchanged icons): a file
// that is there and ours is not touched and stays listed; one that is
// gone, replaced by a symlink or never ours is reported Missing, left as it
// is, and no longer listed; kept names are never removed as stale.
func TestReconcileKeepingManifest(t *testing.T) {
	base := filepath.Join(t.TempDir(), "icons")
	list := filepath.Join(t.TempDir(), "icons.list")
	a, b, c := "hicolor/48x48/apps/nspawn-tray.a.png", "hicolor/48x48/apps/nspawn-tray.b.png", "hicolor/48x48/apps/nspawn-tray.c.png"
	if _, err := Reconcile(base, Manifest(list), map[string][]byte{a: []byte("A"), b: []byte("B"), c: []byte("C")}); err != nil {
		t.Fatal(err)
	}
	before := readFile(t, list)
	st := stamps(t, filepath.Join(base, "hicolor/48x48/apps"))

	// All kept: nothing written, removed or listed differently.
	res, err := ReconcileKeeping(base, Manifest(list), map[string][]byte{}, map[string]bool{a: true, b: true, c: true})
	if err != nil || res.Changed() || len(res.Missing) != 0 || len(res.Skipped) != 0 {
		t.Fatalf("all kept: %+v, %v", res, err)
	}
	if got := readFile(t, list); got != before {
		t.Errorf("manifest changed:\n%s\nwant\n%s", got, before)
	}
	if got := stamps(t, filepath.Join(base, "hicolor/48x48/apps")); !maps.EqualFunc(got, st, sameStamp) {
		t.Errorf("files touched: %v, were %v", got, st)
	}

	// b deleted, c replaced by a symlink: both Missing, the symlink stays.
	target := filepath.Join(t.TempDir(), "target")
	if err := os.WriteFile(target, []byte("t"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(base, b))
	os.Remove(filepath.Join(base, c))
	if err := os.Symlink(target, filepath.Join(base, c)); err != nil {
		t.Fatal(err)
	}
	res, err = ReconcileKeeping(base, Manifest(list), map[string][]byte{}, map[string]bool{a: true, b: true, c: true})
	if err != nil || res.Changed() || !slices.Equal(res.Missing, []string{b, c}) {
		t.Fatalf("b gone, c a symlink: %+v, %v", res, err)
	}
	if fi, err := os.Lstat(filepath.Join(base, c)); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("symlink at c replaced: %v, %v", fi, err)
	}
	if got := readFile(t, list); strings.Contains(got, b) || strings.Contains(got, c) || !strings.Contains(got, a) {
		t.Errorf("manifest after: %q, want only a", got)
	}

	// A file that was never ours (not listed) is Missing, not taken over.
	d := "hicolor/48x48/apps/nspawn-tray.d.png"
	if err := os.WriteFile(filepath.Join(base, d), []byte("user's"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err = ReconcileKeeping(base, Manifest(list), nil, map[string]bool{a: true, d: true})
	if err != nil || !slices.Equal(res.Missing, []string{d}) {
		t.Fatalf("foreign kept: %+v, %v", res, err)
	}
	if got := readFile(t, list); strings.Contains(got, d) {
		t.Errorf("a foreign file got listed: %q", got)
	}

	// Not kept any more: a is removed as stale; a false entry keeps nothing.
	res, err = ReconcileKeeping(base, Manifest(list), nil, map[string]bool{a: false})
	if err != nil || !slices.Equal(res.Removed, []string{a}) {
		t.Fatalf("a no longer kept: %+v, %v", res, err)
	}

	// A name both wanted and kept is written from want.
	res, err = ReconcileKeeping(base, Manifest(list), map[string][]byte{a: []byte("A2")}, map[string]bool{a: true})
	if err != nil || !slices.Equal(res.Written, []string{a}) || readFile(t, filepath.Join(base, a)) != "A2" {
		t.Fatalf("wanted and kept: %+v, %v", res, err)
	}

	// Bad names are refused before anything is done.
	if _, err := ReconcileKeeping(base, Manifest(list), nil, map[string]bool{"../x": true}); err == nil {
		t.Error("a kept ../x was accepted")
	}
}

// Under an owner key, a kept file is read: it is ours only if it says so.
func TestReconcileKeepingOwnerKey(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.desktop"), rendered("a", "A"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "user.desktop"), []byte("[Desktop Entry]\nName=Mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := ReconcileKeeping(dir, entries, nil, map[string]bool{"a.desktop": true, "user.desktop": true, "gone.desktop": true})
	if err != nil || res.Changed() || !slices.Equal(res.Missing, []string{"gone.desktop", "user.desktop"}) {
		t.Fatalf("%+v, %v", res, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "a.desktop")); err != nil {
		t.Errorf("kept entry: %v", err)
	}
}

// sameStamp: the same file (inode), unwritten (modification time).
func sameStamp(a, b stamp) bool { return a.ino == b.ino && a.mtime.Equal(b.mtime) }
