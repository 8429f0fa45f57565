package icons

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestReconcile(t *testing.T) {
	base := filepath.Join(t.TempDir(), "icons")
	manifest := filepath.Join(t.TempDir(), "icons.list")
	a, b := "hicolor/48x48/apps/nspawn-tray.a.png", "hicolor/scalable/apps/nspawn-tray.b.svg"
	want := map[string][]byte{a: []byte("A1"), b: []byte("B1")}

	w, err := Reconcile(base, manifest, want)
	if err != nil || !slices.Equal(w.Written, []string{a, b}) {
		t.Fatalf("first: %+v, %v", w, err)
	}
	if w, err = Reconcile(base, manifest, want); err != nil || w.Changed() {
		t.Fatalf("unchanged: %+v, %v", w, err)
	}
	// A changed icon is rewritten; a file that is not ours is left alone.
	foreign := "hicolor/48x48/apps/firefox.png"
	if err := os.WriteFile(filepath.Join(base, foreign), []byte("user's"), 0o644); err != nil {
		t.Fatal(err)
	}
	want[a] = []byte("A2")
	want[foreign] = []byte("ours")
	w, err = Reconcile(base, manifest, want)
	if err != nil || !slices.Equal(w.Written, []string{a}) || !slices.Equal(w.Skipped, []string{foreign}) {
		t.Fatalf("update: %+v, %v", w, err)
	}
	if got, _ := os.ReadFile(filepath.Join(base, foreign)); string(got) != "user's" {
		t.Errorf("foreign icon overwritten: %q", got)
	}
	// Stale: b goes away; the foreign file stays even when no longer wanted.
	delete(want, b)
	delete(want, foreign)
	w, err = Reconcile(base, manifest, want)
	if err != nil || !slices.Equal(w.Removed, []string{b}) {
		t.Fatalf("stale: %+v, %v", w, err)
	}
	if _, err := os.Stat(filepath.Join(base, foreign)); err != nil {
		t.Errorf("foreign icon removed: %v", err)
	}
	// An owned file the user replaced is not removed.
	if err := os.WriteFile(filepath.Join(base, a), []byte("edited"), 0o644); err != nil {
		t.Fatal(err)
	}
	if w, err = Reconcile(base, manifest, map[string][]byte{}); err != nil || len(w.Removed) != 0 {
		t.Fatalf("edited: %+v, %v", w, err)
	}
	// A symlink at a wanted path is neither followed nor replaced.
	target := filepath.Join(t.TempDir(), "target")
	os.WriteFile(target, []byte("t"), 0o644)
	link := "hicolor/16x16/apps/nspawn-tray.c.png"
	os.MkdirAll(filepath.Join(base, "hicolor/16x16/apps"), 0o755)
	os.Symlink(target, filepath.Join(base, link))
	if w, err = Reconcile(base, manifest, map[string][]byte{link: []byte("C")}); err != nil || !slices.Equal(w.Skipped, []string{link}) {
		t.Fatalf("symlink: %+v, %v", w, err)
	}
	if got, _ := os.ReadFile(target); string(got) != "t" {
		t.Errorf("symlink target written: %q", got)
	}
	if _, err := Reconcile(base, manifest, map[string][]byte{"../../etc/x": nil}); err == nil {
		t.Error("unsafe path accepted")
	}
}
