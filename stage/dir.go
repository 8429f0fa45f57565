package stage

import (
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/nspawn-tray/nspawn-tray/atomicfile"
	"github.com/nspawn-tray/nspawn-tray/openat2"
)

// Dir is the staging directory of one instance, held open by fd so that every
// entry is created relative to the directory we checked, not to a path.
type Dir struct {
	path string
	fd   int // O_RDONLY|O_DIRECTORY: usable for *at calls and fsync
}

// Create makes root/machine as a root:root 0755 directory and returns it.
//
// root and its missing parents are created root-owned 0755. Every existing
// component of root must be a real directory (no symlink) owned by uid 0 and
// not group/world-writable; an intermediate component may be world-writable
// if it has the sticky bit (like /tmp), since others then cannot rename or
// remove the root-owned entry below it. Create refuses if root/machine
// exists (fs.ErrExist): a leftover is removed with Remove, never reused.
func Create(root, machine string) (*Dir, error) {
	d, err := create(root, machine)
	if err != nil {
		return nil, fmt.Errorf("stage: create %s/%s: %w", root, machine, err)
	}
	return d, nil
}

func create(root, machine string) (*Dir, error) {
	if err := validMachine(machine); err != nil {
		return nil, err
	}
	rootfd, err := ensureRoot(root)
	if err != nil {
		return nil, err
	}
	defer unix.Close(rootfd)
	// 0700 until chown and chmod are done, so nobody sees it half-made.
	if err := unix.Mkdirat(rootfd, machine, 0o700); err != nil {
		return nil, fmt.Errorf("mkdir: %w", err)
	}
	fd, err := openat2.Open(rootfd, machine, unix.O_RDONLY|unix.O_DIRECTORY, openat2.StrictChild)
	if err != nil {
		return nil, err
	}
	if err := setOwnerMode(fd, 0, 0, 0o755); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return &Dir{path: root + "/" + machine, fd: fd}, nil
}

// ensureRoot walks root from "/" by fd, creating what is missing and
// checking what exists, and returns an fd on root.
func ensureRoot(root string) (int, error) {
	if err := validRoot(root); err != nil {
		return -1, err
	}
	fd, err := openat2.Open(unix.AT_FDCWD, "/", unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return -1, err
	}
	var comps []string
	if root != "/" {
		comps = strings.Split(root[1:], "/")
	}
	if err := checkSafe(fd, "/", len(comps) == 0); err != nil {
		unix.Close(fd)
		return -1, err
	}
	for i, c := range comps {
		created := true
		if err := unix.Mkdirat(fd, c, 0o700); err == unix.EEXIST {
			created = false
		} else if err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("mkdir %s: %w", c, err)
		}
		nfd, err := openat2.Open(fd, c, unix.O_RDONLY|unix.O_DIRECTORY, openat2.NoLinks|unix.RESOLVE_BENEATH)
		unix.Close(fd)
		if err != nil {
			return -1, fmt.Errorf("open %s: %w", c, err)
		}
		fd = nfd
		if created {
			if err := setOwnerMode(fd, 0, 0, 0o755); err != nil {
				unix.Close(fd)
				return -1, err
			}
		}
		if err := checkSafe(fd, c, i == len(comps)-1); err != nil {
			unix.Close(fd)
			return -1, err
		}
	}
	return fd, nil
}

func checkSafe(fd int, name string, last bool) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("fstat %s: %w", name, err)
	}
	if st.Uid != 0 {
		return fmt.Errorf("%w: %s is owned by uid %d", ErrUnsafe, name, st.Uid)
	}
	if st.Mode&0o022 != 0 && (last || st.Mode&unix.S_ISVTX == 0) {
		return fmt.Errorf("%w: %s has mode %#o", ErrUnsafe, name, st.Mode&0o7777)
	}
	return nil
}

// setOwnerMode sets owner before mode: the umask shaped the mode at creation,
// and chown may clear set-id bits.
func setOwnerMode(fd, uid, gid int, mode uint32) error {
	if err := unix.Fchown(fd, uid, gid); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	if err := unix.Fchmod(fd, mode); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	return nil
}

// Path is the directory's path on the host.
func (d *Dir) Path() string { return d.path }

// Close releases the directory fd; the directory and its mounts stay until
// Remove.
func (d *Dir) Close() error {
	if d.fd < 0 {
		return nil
	}
	err := unix.Close(d.fd)
	d.fd = -1
	if err != nil {
		return fmt.Errorf("stage: close %s: %w", d.path, err)
	}
	return nil
}

// BindFD bind-mounts what f refers to onto a new entry d/name and returns the
// entry's full path, which is what the daemon hands to nspawn --bind.
//
// The entry is an empty file, or a directory when f is one, created with
// O_EXCL|O_NOFOLLOW (mkdirat never follows). Source and target are both given
// to mount(2) as /proc/self/fd/N magic links, so neither is looked up by a
// path anyone else could change. The bind is not recursive (no MS_REC): the
// user's submounts (FUSE, say) below a bound directory are not carried along.
func (d *Dir) BindFD(f *os.File, name string) (string, error) {
	p, err := d.bindFD(f, name)
	if err != nil {
		return "", fmt.Errorf("stage: bind %s onto %s/%s: %w", f.Name(), d.path, name, err)
	}
	return p, nil
}

func (d *Dir) bindFD(f *os.File, name string) (string, error) {
	if err := validComponent(name); err != nil {
		return "", err
	}
	sc, err := f.SyscallConn()
	if err != nil {
		return "", err
	}
	var st unix.Stat_t
	var serr error
	if err := sc.Control(func(fd uintptr) { serr = unix.Fstat(int(fd), &st) }); err != nil {
		return "", err
	}
	if serr != nil {
		return "", fmt.Errorf("fstat: %w", serr)
	}
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	unlinkFlags := 0
	if isDir {
		unlinkFlags = unix.AT_REMOVEDIR
		if err := unix.Mkdirat(d.fd, name, 0o755); err != nil {
			return "", fmt.Errorf("mkdir: %w", err)
		}
	} else {
		fd, err := unix.Openat(d.fd, name, unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
		if err != nil {
			return "", fmt.Errorf("create: %w", err)
		}
		unix.Close(fd)
	}
	tfd, err := openat2.Open(d.fd, name, unix.O_PATH, openat2.StrictChild)
	if err != nil {
		unix.Unlinkat(d.fd, name, unlinkFlags)
		return "", err
	}
	defer unix.Close(tfd)
	var merr error
	if err := sc.Control(func(fd uintptr) {
		merr = unix.Mount(fmt.Sprintf("/proc/self/fd/%d", fd), fmt.Sprintf("/proc/self/fd/%d", tfd), "", unix.MS_BIND, "")
	}); err != nil {
		merr = err
	}
	if merr != nil {
		unix.Unlinkat(d.fd, name, unlinkFlags)
		return "", fmt.Errorf("mount: %w", merr)
	}
	return d.path + "/" + name, nil
}

// WriteFile writes d/name atomically (temp file in d, fsync, rename) with
// mode, and returns its full path. The daemon runs as root, so the file is
// root's.
func (d *Dir) WriteFile(name string, data []byte, mode os.FileMode) (string, error) {
	err := validComponent(name)
	if err == nil && mode&os.ModeType != 0 {
		err = fmt.Errorf("mode %v is not a regular file mode", mode)
	}
	if err == nil {
		// On the usual tmpfs the directory sync is a no-op; elsewhere it
		// makes the rename durable.
		err = atomicfile.WriteAt(d.fd, name, data, atomicfile.Options{Mode: mode, SyncDir: true})
	}
	if err != nil {
		return "", fmt.Errorf("stage: write %s/%s: %w", d.path, name, err)
	}
	return d.path + "/" + name, nil
}

// Mkdir creates d/name owned by uid:gid with mode and returns its full path.
// It is for directories the user may write (e.g. the D-Bus proxy socket dir):
// the entry itself lives in the root-owned d, so the user can fill it but
// cannot swap it for a symlink.
func (d *Dir) Mkdir(name string, uid, gid int, mode os.FileMode) (string, error) {
	if err := d.mkdir(name, uid, gid, mode); err != nil {
		return "", fmt.Errorf("stage: mkdir %s/%s: %w", d.path, name, err)
	}
	return d.path + "/" + name, nil
}

func (d *Dir) mkdir(name string, uid, gid int, mode os.FileMode) error {
	if err := validComponent(name); err != nil {
		return err
	}
	// -1 would mean "leave unchanged" to chown, i.e. root.
	if uid < 0 || gid < 0 || uid > 0xfffffffe || gid > 0xfffffffe {
		return fmt.Errorf("invalid owner %d:%d", uid, gid)
	}
	if mode&^(os.ModePerm|os.ModeSetgid|os.ModeSticky) != 0 {
		return fmt.Errorf("mode %v not allowed for a directory", mode)
	}
	if err := unix.Mkdirat(d.fd, name, 0o700); err != nil {
		return fmt.Errorf("mkdir: %w", err)
	}
	fd, err := openat2.Open(d.fd, name, unix.O_RDONLY|unix.O_DIRECTORY, openat2.StrictChild)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	m := uint32(mode.Perm())
	if mode&os.ModeSetgid != 0 {
		m |= unix.S_ISGID
	}
	if mode&os.ModeSticky != 0 {
		m |= unix.S_ISVTX
	}
	return setOwnerMode(fd, uid, gid, m)
}

// MountTmpfs mounts a tmpfs of at most size bytes (and size/4096 inodes) on
// a new directory d/name, root-owned 0755, nosuid and nodev, and returns it
// as a Dir. What users may write in an instance (its runtime dir, a scratch
// home) goes there: they cannot fill the host's /run, and Remove takes all
// of it away with one unmount, however many files they made.
func (d *Dir) MountTmpfs(name string, size uint64) (*Dir, error) {
	sub, err := d.mountTmpfs(name, size)
	if err != nil {
		return nil, fmt.Errorf("stage: tmpfs %s/%s: %w", d.path, name, err)
	}
	return sub, nil
}

func (d *Dir) mountTmpfs(name string, size uint64) (*Dir, error) {
	if err := validComponent(name); err != nil {
		return nil, err
	}
	if size < 1<<20 {
		return nil, fmt.Errorf("size %d: at least 1 MiB", size)
	}
	if err := unix.Mkdirat(d.fd, name, 0o700); err != nil {
		return nil, fmt.Errorf("mkdir: %w", err)
	}
	tfd, err := openat2.Open(d.fd, name, unix.O_PATH|unix.O_DIRECTORY, openat2.StrictChild)
	if err != nil {
		return nil, err
	}
	opts := fmt.Sprintf("size=%d,nr_inodes=%d,mode=0755,uid=0,gid=0", size, max(size/4096, 1024))
	err = unix.Mount("tmpfs", fmt.Sprintf("/proc/self/fd/%d", tfd), "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts)
	unix.Close(tfd)
	if err != nil {
		return nil, fmt.Errorf("mount: %w", err)
	}
	// Into the new mount: RESOLVE_BENEATH without NO_XDEV.
	fd, err := openat2.Open(d.fd, name, unix.O_RDONLY|unix.O_DIRECTORY, openat2.NoLinks|unix.RESOLVE_BENEATH)
	if err != nil {
		return nil, err
	}
	var fs unix.Statfs_t
	if err := unix.Fstatfs(fd, &fs); err != nil || fs.Type != unix.TMPFS_MAGIC {
		unix.Close(fd)
		return nil, fmt.Errorf("not the tmpfs just mounted (%v)", err)
	}
	return &Dir{path: d.path + "/" + name, fd: fd}, nil
}

// Listen makes a unix stream socket d/name, root's with mode 0600, and
// returns its listener and full path. The socket is bound through the
// directory's descriptor (/proc/self/fd/N/name), so no path anyone could
// change is looked up, and sun_path stays short however deep d is.
func (d *Dir) Listen(name string) (*net.UnixListener, string, error) {
	l, err := d.listen(name)
	if err != nil {
		return nil, "", fmt.Errorf("stage: listen on %s/%s: %w", d.path, name, err)
	}
	return l, d.path + "/" + name, nil
}

func (d *Dir) listen(name string) (*net.UnixListener, error) {
	if err := validComponent(name); err != nil {
		return nil, err
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: fmt.Sprintf("/proc/self/fd/%d/%s", d.fd, name), Net: "unix"})
	if err != nil {
		return nil, err
	}
	// The directory's Remove takes the socket file with it; the listener
	// must not unlink a path that may be someone else's by then.
	l.SetUnlinkOnClose(false)
	if err := unix.Fchmodat(d.fd, name, 0o600, 0); err != nil {
		l.Close()
		unix.Unlinkat(d.fd, name, 0)
		return nil, fmt.Errorf("chmod: %w", err)
	}
	return l, nil
}

// Open opens the existing staging dir root/machine, checked like Create
// checks what it makes: a real directory (no symlink) below a safe root.
func Open(root, machine string) (*Dir, error) {
	d, err := open(root, machine)
	if err != nil {
		return nil, fmt.Errorf("stage: open %s/%s: %w", root, machine, err)
	}
	return d, nil
}

func open(root, machine string) (*Dir, error) {
	if err := validMachine(machine); err != nil {
		return nil, err
	}
	rootfd, err := ensureRoot(root)
	if err != nil {
		return nil, err
	}
	defer unix.Close(rootfd)
	fd, err := openat2.Open(rootfd, machine, unix.O_RDONLY|unix.O_DIRECTORY, openat2.StrictChild)
	if err != nil {
		return nil, err
	}
	return &Dir{path: root + "/" + machine, fd: fd}, nil
}

// Sub opens d's existing subdirectory name (no symlink) as a Dir.
func (d *Dir) Sub(name string) (*Dir, error) {
	if err := validComponent(name); err != nil {
		return nil, fmt.Errorf("stage: open %s/%s: %w", d.path, name, err)
	}
	fd, err := openat2.Open(d.fd, name, unix.O_RDONLY|unix.O_DIRECTORY, openat2.StrictChild)
	if err != nil {
		return nil, fmt.Errorf("stage: open %s/%s: %w", d.path, name, err)
	}
	return &Dir{path: d.path + "/" + name, fd: fd}, nil
}

// ReadFile reads d/name, a regular file (no symlink) of at most max bytes.
func (d *Dir) ReadFile(name string, max int64) ([]byte, error) {
	if err := validComponent(name); err != nil {
		return nil, fmt.Errorf("stage: read %s/%s: %w", d.path, name, err)
	}
	fd, err := openat2.Open(d.fd, name, unix.O_RDONLY, openat2.StrictChild)
	if err != nil {
		return nil, fmt.Errorf("stage: read %s/%s: %w", d.path, name, err)
	}
	f := os.NewFile(uintptr(fd), d.path+"/"+name)
	defer f.Close()
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("not a regular file")
	}
	var data []byte
	if err == nil {
		data, err = io.ReadAll(io.LimitReader(f, max+1))
	}
	if err == nil && int64(len(data)) > max {
		err = fmt.Errorf("larger than %d bytes", max)
	}
	if err != nil {
		return nil, fmt.Errorf("stage: read %s/%s: %w", d.path, name, err)
	}
	return data, nil
}

// Remove removes d/name, a file or socket (never a directory).
func (d *Dir) Remove(name string) error {
	if err := validComponent(name); err != nil {
		return fmt.Errorf("stage: remove %s/%s: %w", d.path, name, err)
	}
	if err := unix.Unlinkat(d.fd, name, 0); err != nil {
		return fmt.Errorf("stage: remove %s/%s: %w", d.path, name, err)
	}
	return nil
}
