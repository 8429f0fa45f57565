// Package stage builds the root-owned staging directory of one app instance:
// the only place whose paths the daemon hands to systemd-nspawn --bind.
//
// nspawn follows symlinks in --bind sources, and everything under
// /run/user/UID is user-controlled, so user resources are opened here by file
// descriptor without following symlinks, checked, and bind-mounted by fd onto
// entries of a directory only root can change.
package stage

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

// Root is where instance staging dirs live on the host.
const Root = "/run/nspawn-tray/instances"

// Sentinel errors; callers act on these with errors.Is.
var (
	// ErrSymlink means a symlink (or a mount crossing) was met where none
	// is allowed: the path is not what it claims to be.
	ErrSymlink = errors.New("symlink or mount crossing in path")
	// ErrNotSocket means the opened object is not a unix socket.
	ErrNotSocket = errors.New("not a socket")
	// ErrWrongOwner means the object is not owned by an allowed UID.
	ErrWrongOwner = errors.New("wrong owner")
	// ErrTooLarge means an image file exceeds the caller's size cap.
	ErrTooLarge = errors.New("file too large")
	// ErrNotRegular means an image file is not a regular file.
	ErrNotRegular = errors.New("not a regular file")
	// ErrUnsafe means an existing directory could be changed by someone
	// other than root (wrong owner or group/world-writable).
	ErrUnsafe = errors.New("not root-owned or writable by others")
	// ErrInvalidName means an instance, entry or user name fails validation.
	ErrInvalidName = errors.New("invalid name")
)

var instanceRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)

// ValidInstance reports whether instance is an acceptable instance name
// (it doubles as a machined machine name, hence the strict alphabet).
func ValidInstance(instance string) error {
	if !instanceRE.MatchString(instance) {
		return fmt.Errorf("%w: instance %q", ErrInvalidName, instance)
	}
	return nil
}

// validComponent accepts exactly one path component, so that *at calls on a
// directory fd can never reach outside that directory by name.
func validComponent(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("%w: %q is not a single path component", ErrInvalidName, name)
	}
	return nil
}

// validRoot accepts only absolute, clean paths: relative paths would depend
// on the daemon's working directory, and unclean ones hide "..".
func validRoot(p string) error {
	if !filepath.IsAbs(p) || filepath.Clean(p) != p || strings.ContainsRune(p, 0) {
		return fmt.Errorf("%w: %q is not an absolute clean path", ErrInvalidName, p)
	}
	return nil
}
