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
	file := append(entry(XauthFamilyLocal, "elsewhere", "0", XauthCookieName, other),
		entry(XauthFamilyLocal, "laptop", "1", XauthCookieName, other)...)
	file = append(file, entry(XauthFamilyLocal, "laptop", "0", "XDM-AUTHORIZATION-1", other)...)
	file = append(file, entry(XauthFamilyLocal, "laptop", "0", XauthCookieName, mine)...)
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

func TestFindCookieWild(t *testing.T) {
	cookie := bytes.Repeat([]byte{0xab}, 16)
	got, err := FindCookie(entry(XauthFamilyWild, "", "3", XauthCookieName, cookie), "3", "container-host")
	if err != nil || !bytes.Equal(got, cookie) {
		t.Errorf("wild entry = %x, %v", got, err)
	}
}

func FuzzFindCookie(f *testing.F) {
	f.Add(entry(XauthFamilyWild, "", "0", XauthCookieName, make([]byte, 16)), "0")
	f.Add([]byte{0xff, 0xff, 0, 5}, "0")
	f.Fuzz(func(t *testing.T, data []byte, num string) {
		c, err := FindCookie(data, num, "host")
		if err == nil && len(c) != cookieLength {
			t.Errorf("cookie of %d bytes", len(c))
		}
	})
}
