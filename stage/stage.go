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
	"strings"

	"github.com/nspawn-tray/nspawn-tray/machinename"
	"github.com/nspawn-tray/nspawn-tray/openat2"
)

// Sentinel errors; callers act on these with errors.Is.
var (
	// ErrNotSocket means the opened object is not a unix socket.
	ErrNotSocket = errors.New("not a socket")
	// ErrWrongOwner means the object is not owned by an allowed UID.
	ErrWrongOwner = errors.New("wrong owner")
	// ErrUnsafe means an existing directory could be changed by someone
	// other than root (wrong owner or group/world-writable).
	ErrUnsafe = errors.New("not root-owned or writable by others")
	// ErrInvalidName means an instance, entry or user name fails validation.
	ErrInvalidName = errors.New("invalid name")
)

// validMachine accepts only names of nspawn-tray instances
// (machinename.CheckInstance): they become directory names here.
func validMachine(machine string) error {
	if err := machinename.CheckInstance(machine); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidName, err)
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

// validRoot accepts only absolute, clean paths (openat2.CheckRoot).
func validRoot(p string) error {
	if err := openat2.CheckRoot(p); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidName, err)
	}
	return nil
}
