package rawimage

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nspawn-tray/nspawn-tray/openat2"
	"github.com/nspawn-tray/nspawn-tray/rawimage/rawimagetest"
)

// rootDir is a root-owned directory for a test that is not below the
// world-writable /tmp's sticky bit in a way Reader minds, and goes away
// with the test.
func rootDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "rawimage-test-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// image builds a raw image whose tree has etc/os-release, a marker, and
// etc/passwd as an absolute symlink to the host's /etc/shadow.
func image(t *testing.T) string {
	t.Helper()
	rawimagetest.Need(t)
	base := rootDir(t)
	tree := filepath.Join(base, "tree")
	writeFile(t, filepath.Join(tree, "etc/os-release"), "ID=rawtest\n")
	writeFile(t, filepath.Join(tree, "usr/share/marker"), "only in the raw image\n")
	if err := os.Symlink("/etc/shadow", filepath.Join(tree, "etc/passwd")); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(base, "img.raw")
	rawimagetest.Build(t, tree, img)
	return img
}

func reader(t *testing.T) Reader {
	return Reader{Dissect: Dissect, Dir: filepath.Join(rootDir(t), "dissect")}
}

// mountsIn lists the mount points at or below dir in the mountinfo file.
func mountsIn(t *testing.T, mountinfo, dir string) []string {
	t.Helper()
	data, err := os.ReadFile(mountinfo)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ESRCH) {
		return nil // a thread that ended meanwhile
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			out = append(out, f[4])
		}
	}
	return out
}

// nothingLeft fails t if a mount point, a mount or a loop device of img
// outlived the read.
func nothingLeft(t *testing.T, r Reader, img string) {
	t.Helper()
	if m := mountsIn(t, "/proc/self/mountinfo", r.Dir); len(m) > 0 {
		t.Errorf("mounts left: %v", m)
	}
	// The kernel may clear an autoclear loop device just after the last
	// close.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		l := rawimagetest.Loops(t, img)
		if len(l) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("loop devices still backed by the image: %v", l)
			break
		}
	}
	entries, err := os.ReadDir(r.Dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("mount point left: %s", e.Name())
	}
}

func TestReadMountsPrivatelyAndUnmounts(t *testing.T) {
	img := image(t)
	r := reader(t)
	var seen string
	err := r.Read(context.Background(), img, func(root string) error {
		seen = root
		if !strings.HasPrefix(root, r.Dir+"/") {
			t.Errorf("mounted on %s, not below %s", root, r.Dir)
		}
		b, err := openat2.ReadFileInRoot(root, "usr/share/marker", 1<<10)
		if err != nil || string(b) != "only in the raw image\n" {
			t.Errorf("marker: %q, %v", b, err)
		}
		// The image's absolute symlink resolves inside the image, where
		// there is no /etc/shadow.
		if b, err := openat2.ReadFileInRoot(root, "etc/passwd", 1<<20); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("etc/passwd -> /etc/shadow read %d bytes, %v; want not found", len(b), err)
		}
		// Read-only, all of it.
		if err := os.WriteFile(filepath.Join(root, "etc/new"), []byte("x"), 0o644); !errors.Is(err, unix.EROFS) {
			t.Errorf("writing into the image: %v, want EROFS", err)
		}
		// Mounted for this thread only: the process's main thread, in
		// the host's namespace, does not see it.
		if m := mountsIn(t, "/proc/thread-self/mountinfo", root); len(m) == 0 {
			t.Error("the reading thread does not see the mount")
		}
		if m := mountsIn(t, "/proc/self/mountinfo", root); len(m) > 0 {
			t.Errorf("the host's namespace sees the mount: %v", m)
		}
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range tasks {
			if task.Name() == strconv.Itoa(unix.Gettid()) {
				continue
			}
			if m := mountsIn(t, "/proc/self/task/"+task.Name()+"/mountinfo", root); len(m) > 0 {
				t.Errorf("thread %s sees the mount: %v", task.Name(), m)
			}
		}
		if l := rawimagetest.Loops(t, img); len(l) != 1 {
			t.Errorf("loop devices of the image during the read: %v, want one", l)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen == "" {
		t.Fatal("read was not called")
	}
	nothingLeft(t, r, img)
	var st unix.Stat_t
	if err := unix.Stat(r.Dir, &st); err != nil || st.Mode&0o7777 != 0o700 || st.Uid != 0 {
		t.Errorf("mount dir: mode %#o uid %d, %v; want root's 0700", st.Mode&0o7777, st.Uid, err)
	}
}

func TestReadUnmountsWhateverReadReturns(t *testing.T) {
	img := image(t)
	r := reader(t)
	boom := errors.New("boom")
	// An open file below the mount point keeps it busy until read
	// returns; one left open would make the unmount fail, so Read
	// detaches then.
	var leaked *os.File
	err := r.Read(context.Background(), img, func(root string) error {
		f, err := os.Open(filepath.Join(root, "etc/os-release"))
		if err != nil {
			return err
		}
		leaked = f
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("Read = %v, want read's error", err)
	}
	leaked.Close()
	nothingLeft(t, r, img)
}

func TestReadRefusesWhatIsNoImage(t *testing.T) {
	rawimagetest.Need(t)
	base := rootDir(t)
	r := Reader{Dissect: Dissect, Dir: filepath.Join(base, "dissect")}
	zeros := filepath.Join(base, "zeros.raw")
	if err := os.WriteFile(zeros, make([]byte, 4<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	called := false
	err := r.Read(context.Background(), zeros, func(string) error { called = true; return nil })
	if err == nil || called {
		t.Fatalf("Read of zeros: %v, read called %v; want a mount error", err, called)
	}
	if !strings.Contains(err.Error(), "systemd-dissect") {
		t.Errorf("error %q does not say what systemd-dissect said", err)
	}
	nothingLeft(t, r, zeros)

	// A cancelled call does not mount.
	img := image(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Read(ctx, img, func(string) error { called = true; return nil }); err == nil || called {
		t.Errorf("cancelled Read: %v, read called %v", err, called)
	}
	nothingLeft(t, r, img)
}

func TestReadsAtOnce(t *testing.T) {
	img := image(t)
	r := reader(t)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := r.Read(context.Background(), img, func(root string) error {
				_, err := openat2.ReadFileInRoot(root, "etc/os-release", 1<<10)
				return err
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	nothingLeft(t, r, img)
}

func TestStat(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: files owned by root and by others")
	}
	base := rootDir(t)
	good := filepath.Join(base, "good.raw")
	writeFile(t, good, "x")
	if _, err := Stat(good); err != nil {
		t.Errorf("Stat(root's 0644 file) = %v", err)
	}
	link := filepath.Join(base, "link.raw")
	if err := os.Symlink(good, link); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, "dir.raw")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(base, "fifo.raw")
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(base, "users.raw")
	writeFile(t, users, "x")
	if err := os.Chown(users, 1000, 1000); err != nil {
		t.Fatal(err)
	}
	writable := filepath.Join(base, "writable.raw")
	writeFile(t, writable, "x")
	if err := os.Chmod(writable, 0o664); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]error{
		link: ErrNotRegular, dir: ErrNotRegular, fifo: ErrNotRegular, users: ErrUnsafe, writable: ErrUnsafe,
		filepath.Join(base, "missing.raw"): fs.ErrNotExist, "relative.raw": openat2.ErrInvalidPath,
	} {
		if _, err := Stat(path); !errors.Is(err, want) {
			t.Errorf("Stat(%s) = %v, want %v", filepath.Base(path), err, want)
		}
	}
}

func TestMountDirMustBeRootsAlone(t *testing.T) {
	img := image(t)
	base := rootDir(t)
	open := filepath.Join(base, "open")
	if err := os.Mkdir(open, 0o755); err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(base, "users")
	if err := os.Mkdir(users, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(users, 1000, 1000); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "link")
	if err := os.Symlink(filepath.Join(base, "elsewhere"), link); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{open, users, link, "relative", "/"} {
		r := Reader{Dissect: Dissect, Dir: dir}
		called := false
		if err := r.Read(context.Background(), img, func(string) error { called = true; return nil }); err == nil || called {
			t.Errorf("Read with mount dir %s: %v, read called %v; want refused", dir, err, called)
		}
	}
	if _, err := os.Lstat(filepath.Join(base, "elsewhere")); err == nil {
		t.Error("the mount dir's symlink was followed")
	}
}

// A daemon that died mid-read left an empty mount point (its namespace,
// and the mount, went with it): the next read removes it, and leaves
// those of live processes alone.
func TestStaleMountPointsGo(t *testing.T) {
	img := image(t)
	r := reader(t)
	if err := os.MkdirAll(r.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(r.Dir, "4194305-0123456789abcdef") // above pid_max: never alive
	live := filepath.Join(r.Dir, strconv.Itoa(os.Getpid())+"-fedcba9876543210")
	for _, d := range []string{stale, live} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Read(context.Background(), img, func(string) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale mount point kept: %v", err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("a live process's mount point removed: %v", err)
	}
}

// The namespace changes stay on threads that end with their call: never
// the main thread, whose namespace /proc/self shows, and which Go cannot
// end.
func TestOwnThreadIsNeverTheMainThread(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: unshare(CLONE_NEWNS)")
	}
	before, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := onOwnThread(func() error {
				if unix.Gettid() == unix.Getpid() {
					return errors.New("on the main thread")
				}
				return unix.Unshare(unix.CLONE_NEWNS)
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if after, _ := os.Readlink("/proc/self/ns/mnt"); after != before {
		t.Errorf("the main thread's mount namespace changed: %s, was %s", after, before)
	}
	// The threads end just after their goroutines.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var left []string
		tasks, _ := os.ReadDir("/proc/self/task")
		for _, task := range tasks {
			if ns, err := os.Readlink("/proc/self/task/" + task.Name() + "/ns/mnt"); err == nil && ns != before {
				left = append(left, task.Name()+" in "+ns)
			}
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("threads outlived their calls: %v", left)
			break
		}
	}
}
