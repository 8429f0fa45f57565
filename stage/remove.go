package stage

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/nspawn-tray/nspawn-tray/mountinfo"
	"github.com/nspawn-tray/nspawn-tray/openat2"
)

// Remove unmounts every mount at or below root/machine and removes the tree.
// A missing directory is not an error.
//
// Unmounting goes by fd (each mount point opened without following symlinks,
// then umount of its /proc/self/fd link), because the user may write in
// directories made by Mkdir and could otherwise steer a path-based umount
// elsewhere. The removal never crosses into a mount (RESOLVE_NO_XDEV): if
// anything is still mounted, Remove fails rather than delete the contents of
// what is mounted there, such as a user's directory.
func Remove(root, machine string) error {
	if err := remove(root, machine); err != nil {
		return fmt.Errorf("stage: remove %s/%s: %w", root, machine, err)
	}
	return nil
}

func remove(root, machine string) error {
	if err := validMachine(machine); err != nil {
		return err
	}
	if err := validRoot(root); err != nil {
		return err
	}
	rootfd, err := openat2.Open(unix.AT_FDCWD, root, unix.O_RDONLY|unix.O_DIRECTORY, openat2.NoLinks)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	defer unix.Close(rootfd)
	prefix := strings.TrimSuffix(root, "/") + "/" + machine
	if err := unmountBelow(rootfd, root, prefix); err != nil {
		return err
	}
	if err := removeAt(rootfd, machine); err != nil && !errors.Is(err, unix.ENOENT) {
		return err
	}
	return nil
}

// unmountBelow unmounts deepest first, in rounds, since one path may carry
// stacked mounts and each umount only removes the top one.
func unmountBelow(rootfd int, root, prefix string) error {
	for range 32 {
		mps, err := mountsBelow(prefix)
		if err != nil {
			return err
		}
		if len(mps) == 0 {
			return nil
		}
		slices.SortFunc(mps, func(a, b string) int {
			return cmp.Or(-cmp.Compare(strings.Count(a, "/"), strings.Count(b, "/")), strings.Compare(a, b))
		})
		for _, mp := range mps {
			rel := strings.TrimPrefix(mp[len(root):], "/")
			if err := unmountAt(rootfd, rel); err != nil {
				return fmt.Errorf("unmount %s: %w", mp, err)
			}
		}
	}
	return errors.New("mounts remain after repeated unmounting")
}

func unmountAt(rootfd int, rel string) error {
	// RESOLVE_BENEATH without NO_XDEV: reaching a deeper mount means
	// crossing the shallower ones.
	fd, err := openat2.Open(rootfd, rel, unix.O_PATH, openat2.NoLinks|unix.RESOLVE_BENEATH)
	if errors.Is(err, unix.ENOENT) {
		return nil // a lazily detached parent took it along
	}
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	err = unix.Unmount(fmt.Sprintf("/proc/self/fd/%d", fd), unix.MNT_DETACH)
	if err == unix.EINVAL {
		return nil // no longer a mount point: detached with its parent
	}
	return err
}

// mountsBelow lists mount points equal to prefix or under it, one entry
// per stacked mount.
func mountsBelow(prefix string) ([]string, error) {
	return mountinfo.Below("/proc/self/mountinfo", prefix)
}

// removeAt removes name below dirfd recursively, by fd, never following
// symlinks and never entering another mount.
func removeAt(dirfd int, name string) error {
	err := unix.Unlinkat(dirfd, name, 0)
	if err == nil {
		return nil
	}
	if err != unix.EISDIR && err != unix.EPERM {
		return fmt.Errorf("unlink %s: %w", name, err)
	}
	fd, err := openat2.Open(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY, openat2.StrictChild)
	if err != nil {
		return fmt.Errorf("open %s: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	// Read all names before unlinking any: unlinking while reading in
	// batches can make some filesystems skip entries.
	names, err := f.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("read dir %s: %w", name, err)
	}
	for _, n := range names {
		if err := removeAt(fd, n); err != nil {
			return err
		}
	}
	if err := unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR); err != nil {
		return fmt.Errorf("rmdir %s: %w", name, err)
	}
	return nil
}
