package desktopfiles

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"syscall"
	"testing"
	"time"
)

func rendered(id, name string) []byte {
	return Render(Ours{AppID: id, Entry: Entry{Name: name}, Launcher: testLauncher, HomeDir: "/home/u/" + id})
}

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
	res, err := Reconcile(dir, ".desktop", want)
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
	res, err = Reconcile(dir, ".desktop", want)
	if err != nil || res.Changed() || res.Skipped != nil {
		t.Fatalf("second run: %+v %v", res, err)
	}
	if after := stamps(t, dir); !reflect.DeepEqual(after, before) {
		t.Errorf("second run touched files:\n%v\n%v", before, after)
	}

	// One changed content: only that file is rewritten.
	want["nspawn-tray-b.desktop"] = rendered("b", "B2")
	res, err = Reconcile(dir, ".desktop", want)
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
	res, err = Reconcile(dir, ".desktop", want)
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
		"action.desktop":   "[Desktop Entry]\nName=x\n[Desktop Action a]\n" + OwnerKey + "=a\n",
		"notfirst.desktop": "[X]\n" + OwnerKey + "=a\n[Desktop Entry]\n" + OwnerKey + "=a\n",
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
	big := append(rendered("big", "Big"), make([]byte, maxOwnedSize)...)
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
	res, err := Reconcile(dir, ".desktop", want)
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
		if _, err := Reconcile(dir, ".desktop", map[string][]byte{n: []byte("x")}); err == nil {
			t.Errorf("name %q accepted", n)
		}
	}
	if _, err := Reconcile(dir, "", nil); err == nil {
		t.Error("empty suffix accepted")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("bad call wrote %d files", len(ents))
	}
}

// realisticWant is n rendered entries with translations, like a desktop
// with many apps (about 3 KB each).
func realisticWant(n int) map[string][]byte {
	want := make(map[string][]byte, n)
	e := fullEntry()
	loc := map[string]string{}
	for _, l := range []string{"ar", "ca", "cs", "da", "de", "el", "es", "fi", "fr", "he", "hu", "it", "ja", "ko", "nl", "pl", "pt", "pt_BR", "ru", "sv", "tr", "uk", "zh_CN", "zh_TW"} {
		loc[l] = "Translated name for " + l
	}
	e.NameLoc, e.CommentLoc = loc, loc
	for i := range n {
		id := "app-" + strconv.Itoa(i)
		e.Name = fmt.Sprintf("App %d", i)
		want["nspawn-tray-"+id+".desktop"] = Render(Ours{AppID: id, Entry: e, Launcher: testLauncher, HomeDir: "/home/u/.local/share/nspawn-tray/homes/" + id})
	}
	return want
}

func BenchmarkReconcile500(b *testing.B) {
	want := realisticWant(500)
	size := 0
	for _, d := range want {
		size += len(d)
	}
	b.Run("cold", func(b *testing.B) {
		base := b.TempDir()
		b.SetBytes(int64(size))
		written := 0
		for i := 0; i < b.N; i++ {
			res, err := Reconcile(filepath.Join(base, strconv.Itoa(i)), ".desktop", want)
			if err != nil {
				b.Fatal(err)
			}
			written += len(res.Written)
		}
		b.ReportMetric(float64(written)/float64(b.N), "written/op")
	})
	b.Run("unchanged", func(b *testing.B) {
		dir := b.TempDir()
		if _, err := Reconcile(dir, ".desktop", want); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(size))
		b.ResetTimer()
		written := 0
		for i := 0; i < b.N; i++ {
			res, err := Reconcile(dir, ".desktop", want)
			if err != nil {
				b.Fatal(err)
			}
			written += len(res.Written) + len(res.Removed)
		}
		b.ReportMetric(float64(written)/float64(b.N), "written/op")
	})
}
