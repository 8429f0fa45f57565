package stage

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nspawn-tray/nspawn-tray/openat2"
)

func TestOpenSocket(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	want := listen(t, dir, "sock", 1000)
	f, err := OpenSocket(dir, "sock", 1000)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := fstat(t, f); !sameFile(got, want) {
		t.Fatalf("opened %d/%d, want %d/%d", got.Dev, got.Ino, want.Dev, want.Ino)
	}
	// Any one of several allowed owners is enough.
	g, err := OpenSocket(dir, "sock", 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	g.Close()
}

func TestOpenSocketRefuses(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	listen(t, dir, "sock", 1000)
	os.Symlink(filepath.Join(dir, "sock"), filepath.Join(dir, "link-sock"))
	os.Symlink("/etc/passwd", filepath.Join(dir, "link-passwd"))
	os.Symlink("sock", filepath.Join(dir, "link-rel"))
	os.WriteFile(filepath.Join(dir, "file"), nil, 0o644)
	os.Chown(filepath.Join(dir, "file"), 1000, 1000)
	dirlink := filepath.Join(t.TempDir(), "dirlink")
	if err := os.Symlink(dir, dirlink); err != nil {
		t.Fatal(err)
	}
	// A symlink as a middle component of dir, not only the last.
	parentLink := filepath.Join(t.TempDir(), "p")
	if err := os.Symlink(filepath.Dir(dir), parentLink); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		desc, dir, name string
		uids            []uint32
		want            error
	}{
		{"symlink to socket", dir, "link-sock", []uint32{1000}, openat2.ErrSymlink},
		{"relative symlink to socket", dir, "link-rel", []uint32{1000}, openat2.ErrSymlink},
		{"symlink to /etc/passwd", dir, "link-passwd", []uint32{0, 1000}, openat2.ErrSymlink},
		{"dir is a symlink", dirlink, "sock", []uint32{1000}, openat2.ErrSymlink},
		{"dir has a symlinked parent", filepath.Join(parentLink, filepath.Base(dir)), "sock", []uint32{1000}, openat2.ErrSymlink},
		{"regular file", dir, "file", []uint32{1000}, ErrNotSocket},
		{"other owner", dir, "sock", []uint32{1001}, ErrWrongOwner},
		{"no allowed owner", dir, "sock", nil, ErrWrongOwner},
		{"slash in name", filepath.Dir(dir), filepath.Base(dir) + "/sock", []uint32{1000}, ErrInvalidName},
		{"dotdot", dir, "..", []uint32{0}, ErrInvalidName},
		{"dot", dir, ".", []uint32{0}, ErrInvalidName},
		{"empty name", dir, "", []uint32{0}, ErrInvalidName},
		{"relative dir", "tmp", "sock", []uint32{1000}, ErrInvalidName},
		{"unclean dir", dir + "/../" + filepath.Base(dir), "sock", []uint32{1000}, ErrInvalidName},
		{"missing", dir, "nope", []uint32{1000}, fs.ErrNotExist},
	} {
		f, err := OpenSocket(c.dir, c.name, c.uids...)
		if err == nil {
			f.Close()
			t.Errorf("%s: no error", c.desc)
			continue
		}
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.desc, err, c.want)
		}
	}
}

// TestOpenSocketOtherMount covers the /run/user/UID case: the directory is
// its own mount, which RESOLVE_NO_XDEV on the whole path would refuse.
func TestOpenSocketOtherMount(t *testing.T) {
	needRoot(t)
	mnt := t.TempDir()
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "mode=0700"); err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })
	want := listen(t, mnt, "sock", 1000)
	f, err := OpenSocket(mnt, "sock", 1000)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !sameFile(fstat(t, f), want) {
		t.Fatal("wrong file")
	}

	// But the socket itself must not be a mount point on top of the dir.
	if err := os.WriteFile(filepath.Join(mnt, "target"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(filepath.Join(mnt, "sock"), filepath.Join(mnt, "target"), "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(filepath.Join(mnt, "target"), unix.MNT_DETACH)
	if f, err := OpenSocket(mnt, "target", 1000); !errors.Is(err, openat2.ErrSymlink) {
		if f != nil {
			f.Close()
		}
		t.Fatalf("bind-mounted socket: got %v, want openat2.ErrSymlink (EXDEV)", err)
	}
}

// TestOpenSocketRace swaps dir/name between the real socket and a symlink to
// /etc/shadow while OpenSocket runs: every success must be the socket.
func TestOpenSocketRace(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	want := listen(t, dir, "real", 1000)
	name := filepath.Join(dir, "sock")
	if err := os.Link(filepath.Join(dir, "real"), name); err != nil {
		t.Fatal(err)
	}

	const swaps = 2000
	var done atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer done.Store(true)
		for range swaps {
			must(t, os.Symlink("/etc/shadow", filepath.Join(dir, "l.tmp")))
			must(t, os.Rename(filepath.Join(dir, "l.tmp"), name))
			must(t, os.Link(filepath.Join(dir, "real"), filepath.Join(dir, "s.tmp")))
			must(t, os.Rename(filepath.Join(dir, "s.tmp"), name))
		}
	}()
	var ok, refused int
	for !done.Load() {
		f, err := OpenSocket(dir, "sock", 0, 1000)
		if err != nil {
			if !errors.Is(err, openat2.ErrSymlink) {
				t.Errorf("unexpected error: %v", err)
			}
			refused++
			continue
		}
		if got := fstat(t, f); !sameFile(got, want) || got.Mode&unix.S_IFMT != unix.S_IFSOCK {
			t.Errorf("got dev/ino %d/%d mode %#o, want the socket %d/%d", got.Dev, got.Ino, got.Mode, want.Dev, want.Ino)
		}
		f.Close()
		ok++
	}
	wg.Wait()
	t.Logf("%d swaps: %d opened the socket, %d refused", swaps, ok, refused)
	if ok == 0 || refused == 0 {
		t.Logf("the race did not exercise both outcomes")
	}
}

func must(t *testing.T, err error) {
	if err != nil {
		t.Error(err)
	}
}
