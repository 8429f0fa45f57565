// Package rawimagetest builds raw disk images for tests: a GPT image with
// one root partition (ext4) holding a directory tree, the way an
// administrator makes one with systemd-repart, and finds the loop devices
// that still back one.
package rawimagetest

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Need skips t unless raw images can be built and mounted here: root,
// loop devices, systemd-dissect, systemd-repart and mkfs.ext4.
func Need(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: raw images are mounted")
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		t.Skip("needs loop devices (/dev/loop-control) to mount raw images")
	}
	for _, tool := range []string{"systemd-dissect", "systemd-repart", "mkfs.ext4"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s to build and mount raw images", tool)
		}
	}
}

// Build writes out, a GPT disk image with a root partition whose ext4
// file system holds the tree at dir (owners and modes kept), root-owned
// with mode 0644. It needs no loop device: mkfs.ext4 -d fills the file
// system in a file, and systemd-repart copies it into the partition.
func Build(t testing.TB, dir, out string) {
	t.Helper()
	var size int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if info, err := d.Info(); err == nil {
			size += info.Size() + 4096
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	rootfs := filepath.Join(work, "root.ext4")
	mib := (size*5/4)>>20 + 16
	run(t, "mkfs.ext4", "-q", "-L", "root", "-d", dir, rootfs, fmt.Sprintf("%dM", mib))
	defs := filepath.Join(work, "repart.d")
	if err := os.Mkdir(defs, 0o755); err != nil {
		t.Fatal(err)
	}
	def := "[Partition]\nType=root\nCopyBlocks=" + rootfs + "\n"
	if err := os.WriteFile(filepath.Join(defs, "10-root.conf"), []byte(def), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, "systemd-repart", "--empty=create", "--size=auto", "--dry-run=no", "--no-pager", "--definitions="+defs, out)
	if err := os.Chmod(out, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(out, 0, 0); err != nil {
		t.Fatal(err)
	}
}

func run(t testing.TB, argv ...string) {
	t.Helper()
	if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
}

// Loops are the loop devices backed by the file at path.
func Loops(t testing.TB, path string) []string {
	t.Helper()
	files, err := filepath.Glob("/sys/block/loop*/loop/backing_file")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // detached meanwhile
		}
		if strings.TrimSpace(string(b)) == path {
			out = append(out, filepath.Base(filepath.Dir(filepath.Dir(f))))
		}
	}
	return out
}
