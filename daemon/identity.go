package daemon

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/nspawn-tray/nspawn-tray/launcher"
	"github.com/nspawn-tray/nspawn-tray/paths"
	"github.com/nspawn-tray/nspawn-tray/stage"
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
	return paths.Home(homesDir, uid, app), nil
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

// hostUser is the caller's account on the host: its name when the host
// knows a valid one (else "uUID"), its primary group, and its home inside
// the container.
func hostUser(uid uint32) (stage.User, error) {
	u := stage.User{UID: uid, GID: uid, Name: "u" + strconv.FormatUint(uint64(uid), 10), Shell: "/bin/sh"}
	if pw, err := user.LookupId(strconv.FormatUint(uint64(uid), 10)); err == nil {
		if stage.ValidUserName(pw.Username) == nil {
			u.Name = pw.Username
		}
		if gid, err := strconv.ParseUint(pw.Gid, 10, 32); err == nil {
			u.GID = uint32(gid)
		}
	}
	if u.GID == 0 {
		return stage.User{}, fail(launcher.ErrNameInvalidArgs, "uid %d has root's group as its primary group", uid)
	}
	u.Home = "/home/" + u.Name
	if err := u.Validate(); err != nil {
		return stage.User{}, fail(launcher.ErrNameInvalidArgs, "uid %d: %v", uid, err)
	}
	return u, nil
}
