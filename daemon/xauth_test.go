package daemon

import (
	"bytes"
	"testing"

	"github.com/nspawn-tray/nspawn-tray/launcher"
)

func TestWildCookieFileRoundTrip(t *testing.T) {
	cookie := bytes.Repeat([]byte{0xab}, 16)
	got, err := launcher.FindCookie(wildCookieFile("3", cookie), "3", "container-host")
	if err != nil || !bytes.Equal(got, cookie) {
		t.Errorf("round trip = %x, %v", got, err)
	}
}
