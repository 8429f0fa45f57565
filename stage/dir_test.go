package stage

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nspawn-tray/nspawn-tray/openat2"
)

func newDir(t *testing.T) (root string, d *Dir) {
	t.Helper()
	needRoot(t)
	root = filepath.Join(t.TempDir(), "run/nspawn-tray/instances")
	d, err := Create(root, "app-0000000a")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.Close()
		if err := Remove(root, "app-0000000a"); err != nil {
			t.Error(err)
		}
	})
	return root, d
}

func TestCreate(t *testing.T) {
	root, d := newDir(t)
	if d.Path() != root+"/app-0000000a" {
		t.Fatalf("Path() = %q", d.Path())
	}
	for _, p := range []string{root, filepath.Dir(root), d.Path()} {
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if !fi.IsDir() || fi.Mode().Perm() != 0o755 || st.Uid != 0 || st.Gid != 0 {
			t.Errorf("%s: mode %v owner %d:%d, want dir 0755 root:root", p, fi.Mode(), st.Uid, st.Gid)
		}
	}
	if _, err := Create(root, "app-0000000a"); !errors.Is(err, fs.ErrExist) {
		t.Errorf("existing instance: %v", err)
	}
	for _, bad := range []string{"", "-a", "A", "a_b", "a/b", "..", "app-1", "app-0000000A", string(make([]byte, 65))} {
		if _, err := Create(root, bad); !errors.Is(err, ErrInvalidName) {
			t.Errorf("instance %q: %v", bad, err)
		}
	}
}

func TestCreateRefusesUnsafeRoot(t *testing.T) {
	needRoot(t)
	base := t.TempDir()
	real := filepath.Join(base, "real")
	os.Mkdir(real, 0o755)
	symlink(t, real, filepath.Join(base, "link"))
	os.Mkdir(filepath.Join(base, "user"), 0o755)
	os.Chown(filepath.Join(base, "user"), 1000, 1000)
	os.Mkdir(filepath.Join(base, "gw"), 0o775)
	os.Chmod(filepath.Join(base, "gw"), 0o775)
	os.Mkdir(filepath.Join(base, "sticky"), 0o755)
	os.Chmod(filepath.Join(base, "sticky"), os.ModeSticky|0o777)

	for _, c := range []struct {
		root string
		want error
	}{
		{filepath.Join(base, "link"), openat2.ErrSymlink},
		{filepath.Join(base, "link/sub"), openat2.ErrSymlink},
		{filepath.Join(base, "user/sub"), ErrUnsafe},
		{filepath.Join(base, "gw"), ErrUnsafe},
		{filepath.Join(base, "sticky"), ErrUnsafe},
		{"relative/root", ErrInvalidName},
		{base + "/real/../real", ErrInvalidName},
	} {
		if d, err := Create(c.root, "x-0000000b"); !errors.Is(err, c.want) {
			if d != nil {
				d.Close()
			}
			t.Errorf("root %s: got %v, want %v", c.root, err, c.want)
		}
	}
	if _, err := os.Lstat(filepath.Join(real, "sub")); err == nil {
		t.Error("created a directory through the symlink")
	}
	// A sticky world-writable dir (like /tmp) is fine as a parent.
	d, err := Create(filepath.Join(base, "sticky/instances"), "x-0000000b")
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
}

func TestBindFDSocket(t *testing.T) {
	root, d := newDir(t)
	src := t.TempDir()
	want := listen(t, src, "sock", 1000)
	f, err := OpenSocket(src, "sock", 1000)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := d.BindFD(f, "pulse-native")
	if err != nil {
		t.Fatal(err)
	}
	if p != d.Path()+"/pulse-native" {
		t.Errorf("path %q", p)
	}
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	if !sameFile(st, want) || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		t.Fatalf("mount point is %d/%d mode %#o, want socket %d/%d", st.Dev, st.Ino, st.Mode, want.Dev, want.Ino)
	}
	// The bound socket is usable: connecting through it reaches the listener.
	c, err := net.Dial("unix", p)
	if err != nil {
		t.Fatalf("dial through bind: %v", err)
	}
	c.Close()
	// It stays bound to the inode when the user replaces the original.
	os.Remove(filepath.Join(src, "sock"))
	symlink(t, "/etc/shadow", filepath.Join(src, "sock"))
	if err := unix.Stat(p, &st); err != nil || !sameFile(st, want) {
		t.Fatalf("after swapping the source: %v", err)
	}
	if _, err := d.BindFD(f, "pulse-native"); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second bind on the same name: %v", err)
	}

	if err := Remove(root, "app-0000000a"); err != nil {
		t.Fatal(err)
	}
	if isMounted(t, p) {
		t.Error("still mounted after Remove")
	}
	if _, err := os.Lstat(d.Path()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("instance dir still there: %v", err)
	}
	if err := Remove(root, "app-0000000a"); err != nil {
		t.Errorf("second Remove: %v", err)
	}
}

func TestBindFDDirAndRemoveKeepsSource(t *testing.T) {
	root, d := newDir(t)
	home := t.TempDir()
	os.WriteFile(filepath.Join(home, "keep"), []byte("user data"), 0o644)
	f, err := os.OpenFile(home, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := d.BindFD(f, "home")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(p, "keep")); err != nil || string(b) != "user data" {
		t.Fatalf("through bind: %q, %v", b, err)
	}
	// Stack a second mount on the same point and one below it.
	if err := unix.Mount("tmpfs", p, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(p, "sub"), 0o755)
	if err := unix.Mount("tmpfs", filepath.Join(p, "sub"), "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	if err := Remove(root, "app-0000000a"); err != nil {
		t.Fatal(err)
	}
	if mps, _ := mountsBelow(d.Path()); len(mps) != 0 {
		t.Errorf("still mounted: %v", mps)
	}
	if b, err := os.ReadFile(filepath.Join(home, "keep")); err != nil || string(b) != "user data" {
		t.Fatalf("Remove touched the bound source: %q, %v", b, err)
	}
}

// TestRemoveNeverCrossesMounts: if an unmount did not happen, removal must
// stop at the mount instead of deleting what is mounted there.
func TestRemoveNeverCrossesMounts(t *testing.T) {
	_, d := newDir(t)
	home := t.TempDir()
	os.WriteFile(filepath.Join(home, "keep"), []byte("user data"), 0o644)
	os.Mkdir(filepath.Join(d.Path(), "home"), 0o755)
	if err := unix.Mount(home, filepath.Join(d.Path(), "home"), "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(filepath.Join(d.Path(), "home"), unix.MNT_DETACH)
	if err := removeAt(d.fd, "home"); err == nil {
		t.Error("removeAt went into a mount point")
	}
	if _, err := os.Stat(filepath.Join(home, "keep")); err != nil {
		t.Fatalf("deleted through a mount: %v", err)
	}
}

func TestRemoveThroughUserSymlinks(t *testing.T) {
	root, d := newDir(t)
	victim := t.TempDir()
	os.WriteFile(filepath.Join(victim, "keep"), nil, 0o644)
	p, err := d.Mkdir("bus", 1000, 1000, 0o700)
	if err != nil {
		t.Fatal(err)
	}
	// What a user could leave in a directory they own.
	symlink(t, victim, filepath.Join(p, "link"))
	os.MkdirAll(filepath.Join(p, "a/b/c"), 0o755)
	symlink(t, victim+"/keep", filepath.Join(p, "a/b/c/l"))
	if err := Remove(root, "app-0000000a"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(victim, "keep")); err != nil {
		t.Fatalf("followed a symlink: %v", err)
	}
}

func TestWriteFile(t *testing.T) {
	_, d := newDir(t)
	p, err := d.WriteFile("client.conf", []byte("enable-shm = no\n"), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if p != d.Path()+"/client.conf" {
		t.Errorf("path %q", p)
	}
	// Hold the old version open: a rename replaces it, an in-place write
	// would change what the reader sees.
	old, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if _, err := d.WriteFile("client.conf", []byte("v2"), 0o600); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, _ := old.Read(buf)
	if string(buf[:n]) != "enable-shm = no\n" {
		t.Errorf("old reader saw %q: not atomic", buf[:n])
	}
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode() != 0o600 || st.Uid != 0 || st.Gid != 0 {
		t.Errorf("mode %v owner %d:%d", fi.Mode(), st.Uid, st.Gid)
	}
	if b, _ := os.ReadFile(p); string(b) != "v2" {
		t.Errorf("content %q", b)
	}
	ents, _ := os.ReadDir(d.Path())
	if len(ents) != 1 {
		t.Errorf("leftover temp files: %v", ents)
	}
	// Mode is applied exactly, whatever the umask.
	old2 := unix.Umask(0o077)
	_, err = d.WriteFile("x", nil, 0o644)
	unix.Umask(old2)
	if fi, _ := os.Lstat(filepath.Join(d.Path(), "x")); err != nil || fi.Mode() != 0o644 {
		t.Errorf("under umask 077: %v, %v", fi.Mode(), err)
	}
	for _, bad := range []string{"", "a/b", "..", "."} {
		if _, err := d.WriteFile(bad, nil, 0o644); !errors.Is(err, ErrInvalidName) {
			t.Errorf("name %q: %v", bad, err)
		}
	}
	if _, err := d.WriteFile("y", nil, os.ModeSymlink|0o644); err == nil {
		t.Error("accepted a non-regular mode")
	}
}

func TestMkdir(t *testing.T) {
	_, d := newDir(t)
	p, err := d.Mkdir("bus", 1000, 1001, 0o700)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || fi.Mode().Perm() != 0o700 || st.Uid != 1000 || st.Gid != 1001 {
		t.Errorf("mode %v owner %d:%d", fi.Mode(), st.Uid, st.Gid)
	}
	if _, err := d.Mkdir("bus", 1000, 1000, 0o700); !errors.Is(err, fs.ErrExist) {
		t.Errorf("existing: %v", err)
	}
	if _, err := d.Mkdir("neg", -1, 1000, 0o700); err == nil {
		t.Error("accepted uid -1")
	}
}

// A user who may write in an instance's runtime dir must neither fill the
// host's /run nor outrun the cleanup by adding files while it deletes.
func TestMountTmpfsIsCappedAndRemovedInOneUnmount(t *testing.T) {
	root, d := newDir(t)
	scratch, err := d.MountTmpfs("scratch", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer scratch.Close()
	runtime, err := scratch.Mkdir("runtime", 1000, 1000, 0o700)
	if err != nil {
		t.Fatal(err)
	}
	if !isMounted(t, scratch.Path()) {
		t.Fatal("scratch is not a mount point")
	}
	// The cap holds: 2 MiB do not fit in 1 MiB.
	err = os.WriteFile(filepath.Join(runtime, "big"), make([]byte, 2<<20), 0o600)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("writing 2 MiB into a 1 MiB scratch: %v, want ENOSPC", err)
	}
	for _, bad := range []uint64{0, 1 << 19} {
		if _, err := d.MountTmpfs(fmt.Sprintf("small%d", bad), bad); err == nil || !strings.Contains(err.Error(), "at least 1 MiB") {
			t.Errorf("a %d-byte tmpfs: %v, want refused", bad, err)
		}
	}
	// Files keep coming while Remove runs; it still ends with nothing left.
	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				done <- n
				return
			default:
			}
			if os.WriteFile(filepath.Join(runtime, fmt.Sprintf("f%d", n)), nil, 0o600) == nil {
				n++
			}
		}
	}()
	for i := 0; i < 2000; i++ {
		os.WriteFile(filepath.Join(runtime, fmt.Sprintf("pre%d", i)), nil, 0o600)
	}
	if err := Remove(root, "app-0000000a"); err != nil {
		t.Fatalf("Remove while files are added: %v", err)
	}
	close(stop)
	t.Logf("%d files added during the removal", <-done)
	if _, err := os.Lstat(filepath.Join(root, "app-0000000a")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the staging dir is still there: %v", err)
	}
}

func TestListen(t *testing.T) {
	_, d := newDir(t)
	l, p, err := d.Listen("exec-status")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if p != d.Path()+"/exec-status" {
		t.Errorf("path %q", p)
	}
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want a socket 0600", fi.Mode())
	}
	c, err := net.Dial("unix", p)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("x"))
	c.Close()
	a, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(a)
	if string(got) != "x" {
		t.Errorf("read %q", got)
	}
	if _, _, err := d.Listen("exec-status"); !errors.Is(err, unix.EADDRINUSE) {
		t.Errorf("existing entry: %v", err)
	}
	if _, _, err := d.Listen("../x"); err == nil {
		t.Error("accepted ../x")
	}
	l.Close()
	if _, err := os.Lstat(p); err != nil {
		t.Errorf("Close removed the socket file (Remove owns it): %v", err)
	}
}

func TestOpenSubReadRemove(t *testing.T) {
	root, d := newDir(t)
	if _, err := d.Mkdir("status", 0, 0, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := d.WriteFile("env.json", []byte(`{"A":"b"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	o, err := Open(root, "app-0000000a")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if data, err := o.ReadFile("env.json", 100); err != nil || string(data) != `{"A":"b"}` {
		t.Errorf("ReadFile = %q, %v", data, err)
	}
	if _, err := o.ReadFile("env.json", 3); err == nil {
		t.Error("ReadFile over its cap succeeded")
	}
	if err := os.Symlink("/etc/shadow", filepath.Join(d.Path(), "link")); err != nil {
		t.Fatal(err)
	}
	if _, err := o.ReadFile("link", 1<<20); err == nil {
		t.Error("ReadFile followed a symlink")
	}
	if _, err := o.Sub("link"); err == nil {
		t.Error("Sub followed a symlink")
	}
	sub, err := o.Sub("status")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	l, p, err := sub.Listen("x")
	if err != nil || p != d.Path()+"/status/x" {
		t.Fatalf("Listen in Sub = %q, %v", p, err)
	}
	l.Close()
	if err := sub.Remove("x"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(p); !os.IsNotExist(err) {
		t.Errorf("after Remove: %v", err)
	}
	for _, bad := range []string{"nope-0000000b", "../x", "App-0000000a"} {
		if _, err := Open(root, bad); err == nil {
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
	if err := o.Remove("status"); err == nil {
		t.Error("Remove took a directory")
	}
}
