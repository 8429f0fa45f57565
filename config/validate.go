package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Sentinel errors, so callers (the privileged side in particular) can tell
// which rule a value broke with errors.Is without parsing messages.
var (
	ErrInvalidID    = errors.New("invalid app id")
	ErrInvalidImage = errors.New("invalid image name")
	ErrInvalidName  = errors.New("invalid name")
	ErrInvalidExec  = errors.New("invalid exec")
)

// Limits. The ID ends up in desktop file names and machine names (which
// systemd caps at 64 characters, and we add a suffix per instance), hence 40.
const (
	maxIDLen      = 40
	maxImageLen   = 64
	maxNameLen    = 128
	maxExecArgs   = 256
	maxExecArgLen = 4096
)

// ValidID reports whether id may name an app: ^[a-z0-9][a-z0-9-]{0,39}$.
func ValidID(id string) error {
	if id == "" {
		return fmt.Errorf("%w: empty", ErrInvalidID)
	}
	if len(id) > maxIDLen {
		return fmt.Errorf("%w %s: longer than %d characters", ErrInvalidID, quote(id), maxIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		lower := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !lower && (c != '-' || i == 0) {
			return fmt.Errorf("%w %s: must be lower-case letters, digits and '-', not starting with '-'", ErrInvalidID, quote(id))
		}
	}
	return nil
}

// ValidImage reports whether image is a directory name under
// /var/lib/machines that systemd would accept as a machine name. It is
// stricter than a file name so it can never escape that directory.
func ValidImage(image string) error {
	switch {
	case image == "":
		return fmt.Errorf("%w: empty", ErrInvalidImage)
	case len(image) > maxImageLen:
		return fmt.Errorf("%w %s: longer than %d characters", ErrInvalidImage, quote(image), maxImageLen)
	case image == "." || image == "..":
		return fmt.Errorf("%w %s: not a directory name", ErrInvalidImage, quote(image))
	case image[0] == '.' || image[0] == '-':
		return fmt.Errorf("%w %s: must not start with '.' or '-'", ErrInvalidImage, quote(image))
	case strings.HasSuffix(image, ".") || strings.Contains(image, ".."):
		// systemd treats machine names as host names: no empty labels.
		return fmt.Errorf("%w %s: must not end with '.' or contain \"..\"", ErrInvalidImage, quote(image))
	}
	for i := 0; i < len(image); i++ {
		c := image[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w %s: only letters, digits, '.', '_' and '-' are allowed", ErrInvalidImage, quote(image))
		}
	}
	return nil
}

// ValidName reports whether name can be shown as an app's display name.
// Control characters are refused because the name lands in .desktop files
// and menus, where a newline would inject keys.
func ValidName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrInvalidName)
	case len(name) > maxNameLen:
		return fmt.Errorf("%w %s: longer than %d bytes", ErrInvalidName, quote(name), maxNameLen)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w %s: not valid UTF-8", ErrInvalidName, quote(name))
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w %s: contains a control character", ErrInvalidName, quote(name))
		}
	}
	return nil
}

// ValidExec reports whether argv may be run inside a container. It is an
// argv, never a shell string, so shell metacharacters are harmless and
// allowed; what matters is that exec.Command-style APIs get well-formed
// strings and that argv[0] is not resolved relative to an unknown directory.
func ValidExec(argv []string) error {
	switch {
	case len(argv) == 0:
		return fmt.Errorf("%w: empty", ErrInvalidExec)
	case len(argv) > maxExecArgs:
		return fmt.Errorf("%w: %d arguments, at most %d allowed", ErrInvalidExec, len(argv), maxExecArgs)
	case argv[0] == "":
		return fmt.Errorf("%w: the program (first element) is empty", ErrInvalidExec)
	case !strings.HasPrefix(argv[0], "/") && strings.Contains(argv[0], "/"):
		return fmt.Errorf("%w: program %s must be an absolute path or a bare command name", ErrInvalidExec, quote(argv[0]))
	}
	for i, arg := range argv {
		switch {
		case len(arg) > maxExecArgLen:
			return fmt.Errorf("%w: argument %d is longer than %d bytes", ErrInvalidExec, i, maxExecArgLen)
		case !utf8.ValidString(arg):
			return fmt.Errorf("%w: argument %d %s is not valid UTF-8", ErrInvalidExec, i, quote(arg))
		case strings.IndexByte(arg, 0) >= 0:
			return fmt.Errorf("%w: argument %d %s contains a NUL byte", ErrInvalidExec, i, quote(arg))
		}
	}
	return nil
}

// quote makes untrusted values safe to put in a one-line error message and
// keeps overlong ones from flooding the terminal.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}
