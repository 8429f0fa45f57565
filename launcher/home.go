package launcher

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// appHome makes (or reuses) the persistent home of app for uid:
// homesDir/UID/APP, owned by the user with mode 0700. homesDir and homesDir/UID
// are root-owned and not writable by the user, so the user can never rename
// the home or swap it for a symlink; each step is opened with O_NOFOLLOW.
func appHome(homesDir string, uid, gid uint32, app string) (string, error) {
	if err := os.MkdirAll(homesDir, 0o755); err != nil {
		return "", fmt.Errorf("home: create %s: %w", homesDir, err)
	}
	dir, err := unix.Open(homesDir, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Errorf("home: open %s: %w", homesDir, err)
	}
	defer unix.Close(dir)
	if err := checkRootDir(dir, homesDir); err != nil {
		return "", err
	}
	uidDir, err := mkdirOpen(dir, strconv.FormatUint(uint64(uid), 10), 0o755, 0, 0)
	if err != nil {
		return "", fmt.Errorf("home: %s/%d: %w", homesDir, uid, err)
	}
	defer unix.Close(uidDir)
	if err := checkRootDir(uidDir, filepath.Join(homesDir, strconv.FormatUint(uint64(uid), 10))); err != nil {
		return "", err
	}
	appDir, err := mkdirOpen(uidDir, app, 0o700, uid, gid)
	if err != nil {
		return "", fmt.Errorf("home: %s/%d/%s: %w", homesDir, uid, app, err)
	}
	defer unix.Close(appDir)
	var st unix.Stat_t
	if err := unix.Fstat(appDir, &st); err != nil {
		return "", fmt.Errorf("home: stat %s: %w", app, err)
	}
	if st.Uid != uid {
		return "", fmt.Errorf("home: %s/%d/%s is owned by uid %d, not %d", homesDir, uid, app, st.Uid, uid)
	}
	return filepath.Join(homesDir, strconv.FormatUint(uint64(uid), 10), app), nil
}

// mkdirOpen creates name in dir if missing (then chowns it) and opens it
// without following a symlink.
func mkdirOpen(dir int, name string, mode uint32, uid, gid uint32) (int, error) {
	created := true
	if err := unix.Mkdirat(dir, name, mode); errors.Is(err, unix.EEXIST) {
		created = false
	} else if err != nil {
		return -1, err
	}
	fd, err := unix.Openat(dir, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if created {
		if err := unix.Fchown(fd, int(uid), int(gid)); err != nil {
			unix.Close(fd)
			return -1, err
		}
		if err := unix.Fchmod(fd, mode); err != nil {
			unix.Close(fd)
			return -1, err
		}
	}
	return fd, nil
}

func checkRootDir(fd int, path string) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("home: stat %s: %w", path, err)
	}
	if st.Uid != 0 || st.Mode&0o022 != 0 {
		return fmt.Errorf("home: %s must be root-owned and not group/world-writable", path)
	}
	return nil
}
