package daemon

import (
	"bytes"
	"encoding/binary"

	"github.com/nspawn-tray/nspawn-tray/launcher"
)

// wildCookieFile is an Xauthority file with one FamilyWild entry: the
// container's hostname differs from the host's, so a host-bound entry would
// not match there.
func wildCookieFile(num string, cookie []byte) []byte {
	var b bytes.Buffer
	put := func(s []byte) {
		_ = binary.Write(&b, binary.BigEndian, uint16(len(s)))
		b.Write(s)
	}
	_ = binary.Write(&b, binary.BigEndian, uint16(launcher.XauthFamilyWild))
	put(nil)
	put([]byte(num))
	put([]byte(launcher.XauthCookieName))
	put(cookie)
	return b.Bytes()
}
