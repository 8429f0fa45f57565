package openat2

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// image builds base/image with etc/real, and base/etc/hostname and
// base/etc/real outside the image holding host-only content.
func image(t *testing.T) (base, img string) {
	t.Helper()
	base = t.TempDir()
	img = filepath.Join(base, "image")
	for _, d := range []string{"image/etc", "image/usr/lib", "etc"} {
		if err := os.MkdirAll(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		"image/etc/real":           "image content\n",
		"image/usr/lib/os-release": "ID=image\n",
		"etc/hostname":             "HOST SECRET\n",
		"etc/real":                 "HOST SECRET\n",
	}
	for p, c := range files {
		if err := os.WriteFile(filepath.Join(base, p), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return base, img
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func TestReadFileInRoot(t *testing.T) {
	base, img := image(t)
	symlink(t, "/etc/real", filepath.Join(img, "etc/passwd"))
	symlink(t, "../usr/lib/os-release", filepath.Join(img, "etc/os-release"))
	symlink(t, "/usr/lib", filepath.Join(img, "lib"))
	// Relative to the image these stay inside; relative to the host they
	// would reach base/etc/hostname (via enough ".."), or /etc/hostname.
	up := strings.Repeat("../", strings.Count(img, "/")+2)
	symlink(t, "/../../../../etc/hostname", filepath.Join(img, "etc/hostlink"))
	symlink(t, "/../../../../etc/real", filepath.Join(img, "etc/reallink"))
	symlink(t, up+strings.TrimPrefix(base, "/")+"/etc/hostname", filepath.Join(img, "etc/escape"))
	symlink(t, "/../etc/real", filepath.Join(img, "etc/dotdot"))

	for _, c := range []struct{ rel, want string }{
		{"etc/real", "image content\n"},
		{"etc/passwd", "image content\n"},
		{"etc/os-release", "ID=image\n"},
		{"lib/os-release", "ID=image\n"},
		{"etc/dotdot", "image content\n"},
		{"etc/reallink", "image content\n"},
		{"../etc/real", "image content\n"},
		{"../../../etc/passwd", "image content\n"},
	} {
		got, err := ReadFileInRoot(img, c.rel, 1024)
		if err != nil || string(got) != c.want {
			t.Errorf("%s: got %q, %v; want %q", c.rel, got, err, c.want)
		}
	}
	// The links do reach the host when followed naively.
	if b, _ := os.ReadFile(filepath.Join(img, "etc/escape")); !bytes.Contains(b, []byte("HOST")) {
		t.Fatalf("test setup: etc/escape does not reach the host file: %q", b)
	}
	// Never host content: the image file or ENOENT.
	for _, rel := range []string{"etc/hostlink", "etc/escape"} {
		got, err := ReadFileInRoot(img, rel, 1024)
		if bytes.Contains(got, []byte("HOST")) {
			t.Fatalf("%s: read host content %q", rel, got)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: got %q, %v; want ENOENT", rel, got, err)
		}
	}
	if _, err := ReadFileInRoot(img, "etc/missing", 1024); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
}

func TestReadFileInRootRefuses(t *testing.T) {
	base, img := image(t)
	if err := unix.Mkfifo(filepath.Join(img, "etc/fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	symlink(t, "/etc/fifo", filepath.Join(img, "etc/fifolink"))
	symlink(t, img, filepath.Join(base, "imglink"))
	big := bytes.Repeat([]byte("x"), 4097)
	os.WriteFile(filepath.Join(img, "etc/big"), big, 0o644)
	os.WriteFile(filepath.Join(img, "etc/exact"), big[:4096], 0o644)

	for _, c := range []struct {
		desc, dir, rel string
		want           error
	}{
		{"fifo (must not block)", img, "etc/fifo", ErrNotRegular},
		{"symlink to fifo", img, "etc/fifolink", ErrNotRegular},
		{"directory", img, "etc", ErrNotRegular},
		{"oversize", img, "etc/big", ErrTooLarge},
		{"image dir is a symlink", filepath.Join(base, "imglink"), "etc/real", ErrSymlink},
		{"image dir relative", "image", "etc/real", ErrRoot},
		{"absolute rel", img, "/etc/real", ErrInvalidPath},
		{"empty rel", img, "", ErrInvalidPath},
		{"magic link", img, "../../../proc/self/root/etc/hostname", fs.ErrNotExist},
	} {
		got, err := ReadFileInRoot(c.dir, c.rel, 4096)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %q, %v; want %v", c.desc, got, err, c.want)
		}
	}
	if got, err := ReadFileInRoot(img, "etc/exact", 4096); err != nil || len(got) != 4096 {
		t.Errorf("file of exactly max bytes: %d, %v", len(got), err)
	}
}

func TestReadFileInRootMagicLinkInImage(t *testing.T) {
	_, img := image(t)
	symlink(t, "/proc/self/root/etc/hostname", filepath.Join(img, "etc/magic"))
	// Resolved in the image there is no /proc, so ENOENT; mount proc there
	// and RESOLVE_NO_MAGICLINKS must refuse the jump instead.
	if _, err := ReadFileInRoot(img, "etc/magic", 1024); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("no proc: %v", err)
	}
	if os.Geteuid() != 0 {
		return
	}
	proc := filepath.Join(img, "proc")
	os.Mkdir(proc, 0o555)
	if err := unix.Mount("proc", proc, "proc", 0, ""); err != nil {
		t.Skipf("mount proc: %v", err)
	}
	defer unix.Unmount(proc, unix.MNT_DETACH)
	got, err := ReadFileInRoot(img, "etc/magic", 1024)
	if !errors.Is(err, ErrSymlink) {
		t.Errorf("magic link with proc mounted: got %q, %v; want ErrSymlink (ELOOP)", got, err)
	}
}

const maxEntries = 4096

func TestReadDirInRootCap(t *testing.T) {
	image := t.TempDir()
	dir := filepath.Join(image, "d")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < maxEntries+50; i++ {
		f, err := os.Create(filepath.Join(dir, strings.Repeat("f", 1+i%3)+string(rune('a'+i%26))+"-"+strconv.Itoa(i)))
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	names, err := ReadDirInRoot(image, "d", maxEntries)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != maxEntries {
		t.Fatalf("%d names, want cap %d", len(names), maxEntries)
	}
	// A FIFO or a file is not listed (and does not block).
	if err := unix.Mkfifo(filepath.Join(image, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadDirInRoot(image, "fifo", maxEntries); err == nil {
		t.Fatal("listed a FIFO")
	}
	// Absolute links resolve inside the image.
	symlink(t, "/d", filepath.Join(image, "abs"))
	if names, err := ReadDirInRoot(image, "abs", maxEntries); err != nil || len(names) != maxEntries {
		t.Fatalf("abs link: %d, %v", len(names), err)
	}
	symlink(t, "/", filepath.Join(image, "root"))
	if names, err := ReadDirInRoot(image, "root/abs/../../../../d", maxEntries); err != nil || len(names) != maxEntries {
		t.Fatalf("dotdot: %d, %v", len(names), err)
	}
}

// StatsInRoot stats each path inside the image, as StatInRoot does one:
// links resolve inside it, so a host file is never what is stat'ed, and
// each path has its own error; a root that is a symlink fails them all.
func TestStatsInRoot(t *testing.T) {
	base, img := image(t)
	symlink(t, "/etc/real", filepath.Join(img, "etc/passwd"))
	symlink(t, "/../../etc/hostname", filepath.Join(img, "etc/hostlink"))
	var inImage, onHost unix.Stat_t
	if err := unix.Stat(filepath.Join(img, "etc/real"), &inImage); err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat(filepath.Join(base, "etc/real"), &onHost); err != nil {
		t.Fatal(err)
	}
	rels := []string{"etc/real", "etc/passwd", "etc/hostlink", "/etc/real", "", "etc/missing"}
	sts, errs := StatsInRoot(img, rels)
	for i, rel := range rels[:2] {
		if errs[i] != nil || sts[i].Ino != inImage.Ino || sts[i].Ino == onHost.Ino {
			t.Errorf("%s: ino %d, %v; want the image's etc/real (%d)", rel, sts[i].Ino, errs[i], inImage.Ino)
		}
	}
	if !errors.Is(errs[2], fs.ErrNotExist) {
		t.Errorf("etc/hostlink: %v, want not found inside the image", errs[2])
	}
	for i := 3; i < 5; i++ {
		if !errors.Is(errs[i], ErrInvalidPath) {
			t.Errorf("%q: %v, want ErrInvalidPath", rels[i], errs[i])
		}
	}
	if !errors.Is(errs[5], fs.ErrNotExist) {
		t.Errorf("etc/missing: %v", errs[5])
	}
	if st, err := StatInRoot(img, "etc/passwd"); err != nil || st.Ino != inImage.Ino {
		t.Errorf("StatInRoot: %d, %v", st.Ino, err)
	}

	link := filepath.Join(base, "link")
	symlink(t, img, link)
	_, errs = StatsInRoot(link, []string{"etc/real", "etc/passwd"})
	for i, err := range errs {
		if !errors.Is(err, ErrRoot) {
			t.Errorf("through a symlinked root, %d: %v, want ErrRoot", i, err)
		}
	}
}
