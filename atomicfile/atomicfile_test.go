package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// leftovers lists temporary files left in dir.
func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), TempPrefix) {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.desktop")
	if err := Write(p, []byte("one"), Options{SyncDir: true}); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil || st.Mode().Perm() != 0o644 || read(t, p) != "one" {
		t.Fatalf("first write: %v %v %q", st.Mode(), err, read(t, p))
	}
	if err := Write(p, []byte("two"), Options{Mode: 0o600}); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 || read(t, p) != "two" {
		t.Fatalf("replace: %v %q", st.Mode(), read(t, p))
	}
	if l := leftovers(t, dir); l != nil {
		t.Fatalf("temporary files left: %v", l)
	}
}

func TestNoReplace(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "theirs")
	os.WriteFile(p, []byte("theirs"), 0o644)
	err := Write(p, []byte("ours"), Options{NoReplace: true})
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("NoReplace over an existing file: %v, want fs.ErrExist", err)
	}
	if read(t, p) != "theirs" {
		t.Fatal("NoReplace replaced the file")
	}
	// A symlink counts as existing, and is not followed.
	target := filepath.Join(dir, "target")
	os.Symlink(target, filepath.Join(dir, "link"))
	if err := Write(filepath.Join(dir, "link"), []byte("x"), Options{NoReplace: true}); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("NoReplace over a dangling symlink: %v", err)
	}
	if _, err := os.Lstat(target); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("wrote through the symlink")
	}
	if err := Write(filepath.Join(dir, "new"), []byte("new"), Options{NoReplace: true}); err != nil || read(t, filepath.Join(dir, "new")) != "new" {
		t.Fatalf("NoReplace of a free name: %v", err)
	}
	if l := leftovers(t, dir); l != nil {
		t.Fatalf("temporary files left: %v", l)
	}
}

// Of many writers racing to claim one name with NoReplace, exactly one wins.
func TestNoReplaceRace(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "claimed")
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := Write(p, []byte{byte('a' + i%26)}, Options{NoReplace: true})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, fs.ErrExist):
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d writers claimed the name, want 1", wins)
	}
}

func TestReplaceDoesNotFollowSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	os.WriteFile(target, []byte("precious"), 0o644)
	link := filepath.Join(dir, "link")
	os.Symlink(target, link)
	if err := Write(link, []byte("x"), Options{}); err != nil {
		t.Fatal(err)
	}
	if read(t, target) != "precious" {
		t.Fatal("wrote through a symlink")
	}
	if fi, _ := os.Lstat(link); !fi.Mode().IsRegular() {
		t.Fatal("the link was not replaced by a file")
	}
}

func TestBadNamesAndDirs(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"", ".hidden", "a/b", "..", "nul\x00", strings.Repeat("n", 256)} {
		if err := WriteAt(-1, name, nil, Options{}); err == nil {
			t.Errorf("WriteAt(%q) = nil, want an error", name)
		}
	}
	if err := Write(filepath.Join(dir, "missing", "f"), nil, Options{}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing dir: %v", err)
	}
	if err := SyncDir(filepath.Join(dir, "missing")); err == nil {
		t.Error("SyncDir of a missing dir: nil error")
	}
	if err := SyncDir(dir); err != nil {
		t.Error(err)
	}
	// A failed write leaves no temporary file: writing into a directory
	// that is a file's name fails at rename (EISDIR).
	os.Mkdir(filepath.Join(dir, "adir"), 0o755)
	if err := Write(filepath.Join(dir, "adir"), []byte("x"), Options{}); err == nil {
		t.Error("replaced a directory")
	}
	if l := leftovers(t, dir); l != nil {
		t.Fatalf("temporary files left after a failed write: %v", l)
	}
}

func TestRelativePath(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := Write("rel", []byte("r"), Options{}); err != nil || read(t, filepath.Join(dir, "rel")) != "r" {
		t.Fatalf("relative path: %v", err)
	}
}
