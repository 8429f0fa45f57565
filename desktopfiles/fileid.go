package desktopfiles

import (
	"errors"
	"fmt"
	"regexp"
)

// ErrInvalidFileID means a name is not a plain desktop file id.
var ErrInvalidFileID = errors.New("invalid desktop file id")

// fileIDRE is `^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\.desktop$` with the count
// checked apart (maxFileID): a counted repetition compiles to that many
// copies, which cost every start of the binary (the tray's among them) 1 ms.
var fileIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*\.desktop$`)

const maxFileID = 1 + 127 + len(".desktop")

// ValidFileID reports whether id is a plain desktop file id such as
// "debian-xterm.desktop": 1 to 128 of A-Z a-z 0-9 . _ -, not starting with
// '.', '_' or '-', then ".desktop". It is one file name, never a path.
func ValidFileID(id string) error {
	if len(id) > maxFileID || !fileIDRE.MatchString(id) {
		return fmt.Errorf("%w: %q", ErrInvalidFileID, id)
	}
	return nil
}
