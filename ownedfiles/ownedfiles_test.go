package ownedfiles

import (
	"github.com/nspawn-tray/nspawn-tray/desktopfiles"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"syscall"
	"testing"
	"time"
)

func rendered(id, name string) []byte {
	return desktopfiles.Render(desktopfiles.Ours{AppID: id, Entry: desktopfiles.Entry{Name: name}, Launcher: "/usr/bin/nspawn-tray", HomeDir: "/home/u/" + id})
}

// entries is the strategy of desktop entries, as menusync uses it.
var entries = OwnerKey(".desktop", func(b []byte) bool { return desktopfiles.ParseOwner(b) != "" })

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type stamp struct {
	mtime time.Time
	ino   uint64
}

// stamps ages every file in dir to a fixed time and returns it with the
// inode, so a later write (or replacement) shows.
func stamps(t *testing.T, dir string) map[string]stamp {
	t.Helper()
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]stamp{}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if e.Type()&os.ModeSymlink == 0 {
			if err := os.Chtimes(p, old, old); err != nil {
				t.Fatal(err)
			}
		}
		st, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = stamp{st.ModTime(), st.Sys().(*syscall.Stat_t).Ino}
	}
	return m
}

func TestReconcile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "applications") // created by Reconcile
	want := map[string][]byte{
		"nspawn-tray-a.desktop": rendered("a", "A"),
		"nspawn-tray-b.desktop": rendered("b", "B"),
		"nspawn-tray-c.desktop": rendered("c", "C"),
	}

	// First run writes everything.
	res, err := Reconcile(dir, entries, want)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.Written, []string{"nspawn-tray-a.desktop", "nspawn-tray-b.desktop", "nspawn-tray-c.desktop"}) || res.Removed != nil || res.Skipped != nil {
		t.Fatalf("first run: %+v", res)
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o755 {
		t.Fatalf("dir: %v %v", st.Mode(), err)
	}
	for name, data := range want {
		p := filepath.Join(dir, name)
		if readFile(t, p) != string(data) {
			t.Errorf("%s content differs", name)
		}
		if st, _ := os.Stat(p); st.Mode().Perm() != 0o644 {
			t.Errorf("%s mode %v", name, st.Mode())
		}
	}

	// Second run: nothing to do, nothing touched.
	before := stamps(t, dir)
	res, err = Reconcile(dir, entries, want)
	if err != nil || res.Changed() || res.Skipped != nil {
		t.Fatalf("second run: %+v %v", res, err)
	}
	if after := stamps(t, dir); !reflect.DeepEqual(after, before) {
		t.Errorf("second run touched files:\n%v\n%v", before, after)
	}

	// One changed content: only that file is rewritten.
	want["nspawn-tray-b.desktop"] = rendered("b", "B2")
	res, err = Reconcile(dir, entries, want)
	if err != nil || !reflect.DeepEqual(res.Written, []string{"nspawn-tray-b.desktop"}) || res.Removed != nil {
		t.Fatalf("changed run: %+v %v", res, err)
	}
	after := stamps(t, dir)
	for _, n := range []string{"nspawn-tray-a.desktop", "nspawn-tray-c.desktop"} {
		if after[n] != before[n] {
			t.Errorf("%s touched", n)
		}
	}
	if readFile(t, filepath.Join(dir, "nspawn-tray-b.desktop")) != string(want["nspawn-tray-b.desktop"]) {
		t.Error("b not rewritten")
	}

	// A stale owned file goes; a stale owned file with another suffix and
	// leftover temp-like names stay.
	delete(want, "nspawn-tray-c.desktop")
	other := filepath.Join(dir, "nspawn-tray-c.desktop.bak")
	if err := os.WriteFile(other, rendered("c", "C"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err = Reconcile(dir, entries, want)
	if err != nil || !reflect.DeepEqual(res.Removed, []string{"nspawn-tray-c.desktop"}) || res.Written != nil {
		t.Fatalf("stale run: %+v %v", res, err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "nspawn-tray-c.desktop")); !os.IsNotExist(err) {
		t.Errorf("stale file still there: %v", err)
	}
	if readFile(t, other) != string(rendered("c", "C")) {
		t.Error("file with another suffix touched")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 3 {
		t.Errorf("dir holds %d entries, want 3 (no temp files left)", len(ents))
	}
}

func TestReconcileForeign(t *testing.T) {
	dir := t.TempDir()
	foreign := map[string]string{
		"user.desktop":     "[Desktop Entry]\nType=Application\nName=Mine\nExec=mine\n", // wanted name, no key
		"other.desktop":    "[Desktop Entry]\nName=Other\nExec=other\n",                 // not wanted, no key
		"action.desktop":   "[Desktop Entry]\nName=x\n[Desktop Action a]\n" + desktopfiles.OwnerKey + "=a\n",
		"notfirst.desktop": "[X]\n" + desktopfiles.OwnerKey + "=a\n[Desktop Entry]\n" + desktopfiles.OwnerKey + "=a\n",
	}
	for n, c := range foreign {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A symlink with a wanted name, to an owned file outside dir; and a
	// stale-looking symlink to an owned file.
	target := filepath.Join(t.TempDir(), "target.desktop")
	targetData := rendered("t", "T")
	if err := os.WriteFile(target, targetData, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"link.desktop", "stale-link.desktop"} {
		if err := os.Symlink(target, filepath.Join(dir, n)); err != nil {
			t.Fatal(err)
		}
	}
	// A directory and a big owned file with wanted names.
	if err := os.Mkdir(filepath.Join(dir, "dir.desktop"), 0o755); err != nil {
		t.Fatal(err)
	}
	big := append(rendered("big", "Big"), make([]byte, maxSize)...)
	if err := os.WriteFile(filepath.Join(dir, "big.desktop"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	before := stamps(t, dir)
	targetBefore := stamps(t, filepath.Dir(target))

	want := map[string][]byte{
		"user.desktop": rendered("user", "User"),
		"link.desktop": rendered("link", "Link"),
		"dir.desktop":  rendered("dir", "Dir"),
		"big.desktop":  rendered("big", "Big"),
		"new.desktop":  rendered("new", "New"),
	}
	res, err := Reconcile(dir, entries, want)
	if err != nil {
		t.Fatal(err)
	}
	wantRes := Result{
		Written: []string{"new.desktop"},
		Skipped: []string{"big.desktop", "dir.desktop", "link.desktop", "user.desktop"},
	}
	if !reflect.DeepEqual(res, wantRes) {
		t.Errorf("Reconcile = %+v, want %+v", res, wantRes)
	}
	after := stamps(t, dir)
	for n, st := range before {
		if after[n] != st {
			t.Errorf("%s touched", n)
		}
	}
	for n, c := range foreign {
		if readFile(t, filepath.Join(dir, n)) != c {
			t.Errorf("%s changed", n)
		}
	}
	if readFile(t, target) != string(targetData) || !reflect.DeepEqual(stamps(t, filepath.Dir(target)), targetBefore) {
		t.Error("symlink target touched")
	}
	for _, n := range []string{"link.desktop", "stale-link.desktop"} {
		if st, err := os.Lstat(filepath.Join(dir, n)); err != nil || st.Mode()&os.ModeSymlink == 0 {
			t.Errorf("%s replaced: %v", n, err)
		}
	}
}

func TestReconcileBadNames(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"../x.desktop", "a/b.desktop", ".hidden.desktop", ".desktop", "x.txt", "a\x00.desktop", ""} {
		if _, err := Reconcile(dir, entries, map[string][]byte{n: []byte("x")}); err == nil {
			t.Errorf("name %q accepted", n)
		}
	}
	if _, err := Reconcile(dir, OwnerKey("", nil), map[string][]byte{"x": nil}); err == nil {
		t.Error("empty suffix accepted")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("bad call wrote %d files", len(ents))
	}
}

func TestReconcileManifest(t *testing.T) {
	base := filepath.Join(t.TempDir(), "icons")
	manifest := filepath.Join(t.TempDir(), "icons.list")
	a, b := "hicolor/48x48/apps/nspawn-tray.a.png", "hicolor/scalable/apps/nspawn-tray.b.svg"
	want := map[string][]byte{a: []byte("A1"), b: []byte("B1")}

	w, err := Reconcile(base, Manifest(manifest), want)
	if err != nil || !slices.Equal(w.Written, []string{a, b}) {
		t.Fatalf("first: %+v, %v", w, err)
	}
	if w, err = Reconcile(base, Manifest(manifest), want); err != nil || w.Changed() {
		t.Fatalf("unchanged: %+v, %v", w, err)
	}
	// A changed icon is rewritten; a file that is not ours is left alone.
	foreign := "hicolor/48x48/apps/firefox.png"
	if err := os.WriteFile(filepath.Join(base, foreign), []byte("user's"), 0o644); err != nil {
		t.Fatal(err)
	}
	want[a] = []byte("A2")
	want[foreign] = []byte("ours")
	w, err = Reconcile(base, Manifest(manifest), want)
	if err != nil || !slices.Equal(w.Written, []string{a}) || !slices.Equal(w.Skipped, []string{foreign}) {
		t.Fatalf("update: %+v, %v", w, err)
	}
	if got, _ := os.ReadFile(filepath.Join(base, foreign)); string(got) != "user's" {
		t.Errorf("foreign icon overwritten: %q", got)
	}
	// Stale: b goes away; the foreign file stays even when no longer wanted.
	delete(want, b)
	delete(want, foreign)
	w, err = Reconcile(base, Manifest(manifest), want)
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
	if w, err = Reconcile(base, Manifest(manifest), map[string][]byte{}); err != nil || len(w.Removed) != 0 {
		t.Fatalf("edited: %+v, %v", w, err)
	}
	// A symlink at a wanted path is neither followed nor replaced.
	target := filepath.Join(t.TempDir(), "target")
	os.WriteFile(target, []byte("t"), 0o644)
	link := "hicolor/16x16/apps/nspawn-tray.c.png"
	os.MkdirAll(filepath.Join(base, "hicolor/16x16/apps"), 0o755)
	os.Symlink(target, filepath.Join(base, link))
	if w, err = Reconcile(base, Manifest(manifest), map[string][]byte{link: []byte("C")}); err != nil || !slices.Equal(w.Skipped, []string{link}) {
		t.Fatalf("symlink: %+v, %v", w, err)
	}
	if got, _ := os.ReadFile(target); string(got) != "t" {
		t.Errorf("symlink target written: %q", got)
	}
	if _, err := Reconcile(base, Manifest(manifest), map[string][]byte{"../../etc/x": nil}); err == nil {
		t.Error("unsafe path accepted")
	}
}
