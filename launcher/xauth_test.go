package launcher

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func entry(family uint16, addr, num, name string, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, family)
	for _, f := range [][]byte{[]byte(addr), []byte(num), []byte(name), data} {
		binary.Write(&b, binary.BigEndian, uint16(len(f)))
		b.Write(f)
	}
	return b.Bytes()
}

func TestFindCookie(t *testing.T) {
	mine := bytes.Repeat([]byte{1}, 16)
	other := bytes.Repeat([]byte{2}, 16)
	file := append(entry(xauthFamilyLocal, "elsewhere", "0", xauthCookieName, other),
		entry(xauthFamilyLocal, "laptop", "1", xauthCookieName, other)...)
	file = append(file, entry(xauthFamilyLocal, "laptop", "0", "XDM-AUTHORIZATION-1", other)...)
	file = append(file, entry(xauthFamilyLocal, "laptop", "0", xauthCookieName, mine)...)
	got, err := FindCookie(file, "0", "laptop")
	if err != nil || !bytes.Equal(got, mine) {
		t.Errorf("FindCookie = %x, %v; want this host's cookie for :0", got, err)
	}
	if _, err := FindCookie(file, "7", "laptop"); err != ErrNoCookie {
		t.Errorf("display 7: %v, want ErrNoCookie", err)
	}
	if _, err := FindCookie(file[:len(file)-3], "0", "laptop"); err == nil {
		t.Error("truncated file: no error")
	}
}

func TestWildCookieFileRoundTrip(t *testing.T) {
	cookie := bytes.Repeat([]byte{0xab}, 16)
	got, err := FindCookie(WildCookieFile("3", cookie), "3", "container-host")
	if err != nil || !bytes.Equal(got, cookie) {
		t.Errorf("round trip = %x, %v", got, err)
	}
}

func FuzzFindCookie(f *testing.F) {
	f.Add(WildCookieFile("0", make([]byte, 16)), "0")
	f.Add([]byte{0xff, 0xff, 0, 5}, "0")
	f.Fuzz(func(t *testing.T, data []byte, num string) {
		c, err := FindCookie(data, num, "host")
		if err == nil && len(c) != cookieLength {
			t.Errorf("cookie of %d bytes", len(c))
		}
	})
}
