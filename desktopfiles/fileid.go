package desktopfiles

import (
	"errors"
	"fmt"
	"regexp"
)

// ErrInvalidFileID means a name is not a plain desktop file id.
var ErrInvalidFileID = errors.New("invalid desktop file id")

var fileIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\.desktop$`)

// ValidFileID reports whether id is a plain desktop file id such as
// "debian-xterm.desktop": 1 to 128 of A-Z a-z 0-9 . _ -, not starting with
// '.', '_' or '-', then ".desktop". It is one file name, never a path.
func ValidFileID(id string) error {
	if !fileIDRE.MatchString(id) {
		return fmt.Errorf("%w: %q", ErrInvalidFileID, id)
	}
	return nil
}
