package launcher

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Xauthority entry families and the one cookie kind nspawn-tray passes on.
const (
	XauthFamilyLocal = 256
	XauthFamilyWild  = 65535
	XauthCookieName  = "MIT-MAGIC-COOKIE-1"
	maxXauthority    = 1 << 20
)

// ErrNoCookie means the Xauthority file holds no cookie for the display.
var ErrNoCookie = errors.New("no MIT-MAGIC-COOKIE-1 for the display")

type xauthEntry struct {
	family          uint16
	address, number string
	name            string
	data            []byte
}

// FindCookie returns the MIT-MAGIC-COOKIE-1 for display number num in an
// Xauthority file: an entry for this host (or FamilyWild) wins.
func FindCookie(xauthority []byte, num, hostname string) ([]byte, error) {
	if len(xauthority) > maxXauthority {
		return nil, fmt.Errorf("xauthority: larger than %d bytes", maxXauthority)
	}
	r := bytes.NewReader(xauthority)
	var fallback []byte
	for r.Len() > 0 {
		e, err := readXauthEntry(r)
		if err != nil {
			return nil, fmt.Errorf("xauthority: %w", err)
		}
		if e.number != num || e.name != XauthCookieName || len(e.data) != cookieLength {
			continue
		}
		if e.family == XauthFamilyWild || (e.family == XauthFamilyLocal && e.address == hostname) {
			return e.data, nil
		}
		if fallback == nil {
			fallback = e.data
		}
	}
	if fallback != nil {
		return fallback, nil
	}
	return nil, ErrNoCookie
}

func readXauthEntry(r io.Reader) (xauthEntry, error) {
	var e xauthEntry
	if err := binary.Read(r, binary.BigEndian, &e.family); err != nil {
		return e, err
	}
	fields := make([][]byte, 4)
	for i := range fields {
		var n uint16
		if err := binary.Read(r, binary.BigEndian, &n); err != nil {
			return e, fmt.Errorf("truncated entry: %w", err)
		}
		fields[i] = make([]byte, n)
		if _, err := io.ReadFull(r, fields[i]); err != nil {
			return e, fmt.Errorf("truncated entry: %w", err)
		}
	}
	e.address, e.number, e.name, e.data = string(fields[0]), string(fields[1]), string(fields[2]), fields[3]
	return e, nil
}
