// Package machinename holds the one rule for machine names: what systemd
// accepts as a machine (and image) name, and the narrower form of the
// names nspawn-tray gives its own instances. Names reach paths, unit names
// and nspawn arguments, so every side checks them with these functions.
package machinename

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid is wrapped by every error of Check and CheckInstance.
var ErrInvalid = errors.New("invalid machine name")

// MaxLen is systemd's limit (HOST_NAME_MAX).
const MaxLen = 64

// Check reports whether name is a machine name systemd accepts: 1 to 64 of
// A-Z a-z 0-9 . _ -, not starting with '.' or '-', and, since systemd
// treats machine names as host names, no empty label ("..", a trailing
// '.'). Such a name is also a single path component.
func Check(name string) error {
	if p := Problem(name); p != "" {
		return fmt.Errorf("%w %q: %s", ErrInvalid, name, p)
	}
	return nil
}

// Problem is what is wrong with name as a machine name, in a few words, or
// "" when it is valid (see Check).
func Problem(name string) string {
	switch {
	case name == "":
		return "empty"
	case len(name) > MaxLen:
		return fmt.Sprintf("longer than %d characters", MaxLen)
	case name[0] == '.' || name[0] == '-':
		return "must not start with '.' or '-'"
	case strings.HasSuffix(name, ".") || strings.Contains(name, ".."):
		return "must not end with '.' or contain \"..\""
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return "only letters, digits, '.', '_' and '-' are allowed"
		}
	}
	return ""
}

// suffixLen is "-" and 8 hex digits.
const suffixLen = 9

// MaxAppIDLen is the longest app id an instance name can carry.
const MaxAppIDLen = 40

// CheckInstance reports whether name has the form of an nspawn-tray
// instance: an app id (lower-case letters, digits and '-', not starting
// with '-', at most 40), a '-' and 8 lower-case hex digits. It is the name
// of the machine, of its staging dir and part of its unit names.
func CheckInstance(name string) error {
	if len(name) <= suffixLen || len(name) > MaxAppIDLen+suffixLen {
		return fmt.Errorf("%w: not an nspawn-tray instance (APP-XXXXXXXX)", ErrInvalid)
	}
	app, hexPart := name[:len(name)-suffixLen], name[len(name)-suffixLen+1:]
	if name[len(name)-suffixLen] != '-' || !isAppID(app) || !isLowerHex(hexPart) {
		return fmt.Errorf("%w: not an nspawn-tray instance (APP-XXXXXXXX)", ErrInvalid)
	}
	return nil
}

// NewInstance returns a fresh instance name for app, which must be a valid
// app id.
func NewInstance(app string) (string, error) {
	if !isAppID(app) {
		return "", fmt.Errorf("%w: app id %q", ErrInvalid, app)
	}
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return app + "-" + hex.EncodeToString(b[:]), nil
}

func isAppID(s string) bool {
	if s == "" || len(s) > MaxAppIDLen || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
