// Package appexec is the last step inside the container: become the user,
// then exec the app. It runs as container root (nspawn --private-users=
// identity, so without host capabilities) from the host's static binary,
// instead of nspawn --user, which would run the image's getent as root.
package appexec

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Spec says whom to become and what to run.
type Spec struct {
	UID, GID uint32
	Home     string
	Argv     []string
	Env      []string
	// Status, if set, is the daemon's socket for the exec's outcome (see
	// Report).
	Status string
	// Await are sockets that helpers outside create (the session bus
	// proxy, the sound filter): the app runs once they are all there.
	Await []string
	// Groups are supplementary groups the app keeps: the groups of the
	// device nodes a gpu app gets that the user is a member of on the
	// host. Never 0; at most maxGroups.
	Groups []uint32
}

// maxAwait bounds Spec.Await: the daemon has two helpers.
const maxAwait = 8

// AwaitTimeout is how long Exec waits for the sockets of Spec.Await.
const AwaitTimeout = 5 * time.Second

// maxGroups caps --groups: a handful of device groups, not a user's list.
const maxGroups = 8

// Sentinel errors; callers act on these with errors.Is.
var (
	// ErrRoot means the spec asks to run the app as UID or GID 0.
	ErrRoot = errors.New("refusing to run as root")
	// ErrInvalid means the spec or the command line is malformed.
	ErrInvalid = errors.New("invalid exec spec")
	// ErrPrivileges means dropping privileges did not take full effect.
	ErrPrivileges = errors.New("privileges not dropped")
	// ErrNotFound means Argv[0] was not found in PATH.
	ErrNotFound = errors.New("executable not found in PATH")
)

// noID is (uid_t)-1, which set*id calls read as "leave unchanged".
const noID = ^uint32(0)

// Exec drops to s.UID/s.GID with no supplementary groups, sets
// no_new_privs, verifies the result, changes to s.Home (or "/"), and replaces
// the process with s.Argv. It returns only on error, and fails closed: any
// doubt about the dropped privileges is an error, not a warning.
func Exec(s Spec) error {
	if err := validate(s); err != nil {
		return err
	}
	// no_new_privs and the verification read per-thread state, and execve
	// keeps only the calling thread's: all of it must be this one thread.
	// Not unlocked on error, so a half-changed thread dies with the goroutine.
	runtime.LockOSThread()
	if err := drop(s.UID, s.GID, s.Groups); err != nil {
		return fmt.Errorf("drop to %d:%d: %w", s.UID, s.GID, err)
	}
	if err := verify(s.UID, s.GID, s.Groups); err != nil {
		return fmt.Errorf("verify %d:%d: %w", s.UID, s.GID, err)
	}
	// After the drop, so the user's own permissions decide.
	if err := unix.Chdir(s.Home); err != nil {
		if err := unix.Chdir("/"); err != nil {
			return fmt.Errorf("chdir /: %w", err)
		}
	}
	// As the user: the sockets are in the user's runtime dir.
	if err := AwaitSockets(s.Await, AwaitTimeout); err != nil {
		return err
	}
	path, err := lookPath(s.Argv[0], s.Env)
	if err != nil {
		return fmt.Errorf("cannot run %s: %w%s", s.Argv[0], err, argvHint(s.Argv[0]))
	}
	err = unix.Exec(path, s.Argv, s.Env)
	return fmt.Errorf("cannot run %s: %w%s", path, err, argvHint(s.Argv[0]))
}

// ErrAwait means a socket of Spec.Await did not come; the daemon tells its
// helper's failure from the app's by it.
var ErrAwait = errors.New("helper socket missing")

// AwaitSockets waits until each path is a socket, polling every
// millisecond (the helpers start within tens of them), for at most
// timeout in all.
func AwaitSockets(paths []string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, p := range paths {
		for {
			var st unix.Stat_t
			err := unix.Lstat(p, &st)
			if err == nil && st.Mode&unix.S_IFMT == unix.S_IFSOCK {
				break
			}
			if err == nil && st.Mode&unix.S_IFMT != unix.S_IFSOCK {
				return fmt.Errorf("%w: %s is not a socket", ErrAwait, p)
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%w: %s did not appear within %v", ErrAwait, p, timeout)
			}
			time.Sleep(time.Millisecond)
		}
	}
	return nil
}

// argvHint explains the usual cause of "/bin/echo hello" not being found.
func argvHint(argv0 string) string {
	if strings.ContainsAny(argv0, " \t") {
		return " (exec is an argv list, not a shell string: [\"/bin/echo\", \"hello\"])"
	}
	return ""
}

// Report connects to the daemon's status socket at path, before the drop
// (the socket is container root's), and returns the connection. Nothing is
// written on success: the connection is close-on-exec, so the daemon reads
// end-of-file the moment the app's exec has succeeded; on failure the
// caller writes the reason and exits. So a launch returns only once the
// app runs, and says why when it could not.
func Report(path string) (*net.UnixConn, error) {
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("status socket: %w", err)
	}
	return c, nil
}

func validate(s Spec) error {
	if s.UID == 0 || s.GID == 0 {
		return fmt.Errorf("%w: uid %d gid %d", ErrRoot, s.UID, s.GID)
	}
	if s.UID == noID || s.GID == noID {
		return fmt.Errorf("%w: uid/gid -1", ErrInvalid)
	}
	if !cleanAbs(s.Home) {
		return fmt.Errorf("%w: home %q is not an absolute clean path", ErrInvalid, s.Home)
	}
	if len(s.Argv) == 0 || s.Argv[0] == "" {
		return fmt.Errorf("%w: empty argv", ErrInvalid)
	}
	if len(s.Groups) > maxGroups {
		return fmt.Errorf("%w: %d groups, at most %d", ErrInvalid, len(s.Groups), maxGroups)
	}
	for _, g := range s.Groups {
		if g == 0 {
			return fmt.Errorf("%w: supplementary group 0", ErrRoot)
		}
		if g == noID {
			return fmt.Errorf("%w: group -1", ErrInvalid)
		}
	}
	return nil
}

func cleanAbs(p string) bool {
	return filepath.IsAbs(p) && filepath.Clean(p) == p && !strings.ContainsRune(p, 0)
}

// drop uses the syscall package on purpose: its set*id and setgroups apply
// to every thread of the process (x/sys/unix.Setgroups only to the caller's).
func drop(uid, gid uint32, groups []uint32) error {
	keep := make([]int, len(groups))
	for i, g := range groups {
		keep[i] = int(g)
	}
	if err := syscall.Setgroups(keep); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := syscall.Setresgid(int(gid), int(gid), int(gid)); err != nil {
		return fmt.Errorf("setresgid: %w", err)
	}
	if err := syscall.Setresuid(int(uid), int(uid), int(uid)); err != nil {
		return fmt.Errorf("setresuid: %w", err)
	}
	// Clear the inheritable set too (nspawn leaves it full): with it, a
	// binary carrying inheritable file capabilities would regain them.
	// capset is per thread; Exec runs on a locked thread and execs from it.
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var none [2]unix.CapUserData
	if err := unix.Capset(&hdr, &none[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	return nil
}
