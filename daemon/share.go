package daemon

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/nspawn-tray/nspawn-tray/config"
	"github.com/nspawn-tray/nspawn-tray/launcher"
	"github.com/nspawn-tray/nspawn-tray/openat2"
)

// below is how a user's home is walked: no symlinks, no "..", and never
// into another mount (a FUSE mount there could hang the daemon's lookup,
// and a bind could lead anywhere).
const below = openat2.NoLinks | unix.RESOLVE_BENEATH | unix.RESOLVE_NO_XDEV

// passwdHome is the user's home on the host, from the passwd database.
func passwdHome(uid uint32) (string, error) {
	u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10))
	if err != nil {
		return "", err
	}
	if !filepath.IsAbs(u.HomeDir) || filepath.Clean(u.HomeDir) != u.HomeDir {
		return "", fmt.Errorf("home %q is not an absolute clean path", u.HomeDir)
	}
	return u.HomeDir, nil
}

// bindShared binds the user's XDG user directories the app shares
// (config.App.Share) read-write at the same place in the app's home. Each
// is found as the user's own user-dirs.dirs says, opened by fd below the
// home without following a link or leaving its mount, and must be the
// user's; a missing one is skipped, anything else refused with the reason.
func bindShared(_ context.Context, l *launch) error {
	if len(l.app.Share) == 0 {
		return nil
	}
	u := l.user
	homePath, err := l.s.homeOf(u.UID)
	if err != nil {
		return fail(launcher.ErrNameSessionResource, "share: where is the home of uid %d: %v", u.UID, err)
	}
	// The path comes from the passwd database (the administrator's); only
	// what is below it is the user's.
	home, err := unix.Open(homePath, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fail(launcher.ErrNameSessionResource, "share: your home %s: %v", homePath, err)
	}
	defer unix.Close(home)
	if err := ownedBy(home, u.UID); err != nil {
		return fail(launcher.ErrNameSessionResource, "share: your home %s: %v", homePath, err)
	}
	dirs := userDirs(home)
	for _, name := range l.app.Share {
		d := config.ShareDirs[name]
		rel, ok := dirs[d.Var]
		if !ok {
			rel = d.Default
		}
		fd, err := openat2.Open(home, rel, unix.O_PATH|unix.O_DIRECTORY, below)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err == nil {
			err = ownedBy(fd, u.UID)
		}
		if err != nil {
			if fd >= 0 {
				unix.Close(fd)
			}
			return fail(launcher.ErrNameSessionResource, "share %s: %s: %v", name, filepath.Join(homePath, rel), err)
		}
		f := os.NewFile(uintptr(fd), filepath.Join(homePath, rel))
		path, err := l.dir.BindFD(f, "share-"+name)
		f.Close()
		if err != nil {
			return fail(launcher.ErrNameSessionResource, "share %s: %v", name, err)
		}
		dst := l.spec.Home + "/" + rel
		if err := l.mountPoint(rel); err != nil {
			return fail(launcher.ErrNameSessionResource, "share %s: %v", name, err)
		}
		l.spec.Binds = append(l.spec.Binds, bind{Src: path, Dst: dst, RW: true})
	}
	return nil
}

func ownedBy(fd int, uid uint32) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Uid != uid {
		return fmt.Errorf("owned by uid %d, not yours", st.Uid)
	}
	return nil
}

// userDirs reads the user's ~/.config/user-dirs.dirs (xdg-user-dirs):
// VAR="$HOME/rel" lines, by variable, with rel a plain relative path. A
// line of any other form, and the file when it is not a small regular
// file, are ignored: the defaults apply.
func userDirs(home int) map[string]string {
	out := map[string]string{}
	fd, err := openat2.Open(home, ".config/user-dirs.dirs", unix.O_RDONLY|unix.O_NONBLOCK, below)
	if err != nil {
		return out
	}
	f := os.NewFile(uintptr(fd), "user-dirs.dirs")
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return out
	}
	data, err := io.ReadAll(io.LimitReader(f, 16<<10))
	if err != nil {
		return out
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		rel, ok := strings.CutPrefix(strings.Trim(v, `"`), "$HOME/")
		if !ok || !strings.HasPrefix(v, `"`) || !strings.HasSuffix(v, `"`) {
			continue
		}
		if rel == "" || filepath.Clean(rel) != rel || filepath.IsAbs(rel) || strings.HasPrefix(rel, "..") ||
			strings.ContainsAny(rel, "\\$`\x00") || len(strings.Split(rel, "/")) > 4 {
			continue
		}
		out[k] = rel
	}
	return out
}

// mountPoint makes rel (and its parents) in the app's home source as the
// user's directories, so nspawn finds the mount point instead of creating
// a root-owned one in the user's files.
func (l *launch) mountPoint(rel string) error {
	var src string
	for _, b := range l.spec.Binds {
		if b.Dst == l.spec.Home {
			src = b.Src
		}
	}
	if src == "" {
		return fmt.Errorf("no home to mount it in")
	}
	fd, err := unix.Open(src, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	for _, c := range strings.Split(rel, "/") {
		if err := unix.Mkdirat(fd, c, 0o700); err == nil {
			nfd, err := openat2.Open(fd, c, unix.O_RDONLY|unix.O_DIRECTORY, below)
			unix.Close(fd)
			if err != nil {
				return err
			}
			if err := unix.Fchown(nfd, int(l.user.UID), int(l.user.GID)); err != nil {
				unix.Close(nfd)
				return err
			}
			fd = nfd
			continue
		} else if err != unix.EEXIST {
			unix.Close(fd)
			return err
		}
		nfd, err := openat2.Open(fd, c, unix.O_PATH|unix.O_DIRECTORY, below)
		unix.Close(fd)
		if err != nil {
			return err
		}
		fd = nfd
	}
	return unix.Close(fd)
}
