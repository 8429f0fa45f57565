package machinename

import (
	"errors"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"spotify", true},
		{"Debian_12.x-y", true},
		{"a", true},
		{strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), false},
		{"", false},
		{".hidden", false},
		{"-flag", false},
		{"a..b", false},
		{"trailing.", false},
		{"..", false},
		{"a/b", false},
		{"a b", false},
		{"a\x00b", false},
		{"ümlaut", false},
		{"a:b", false},
	} {
		err := Check(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("Check(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("Check(%q) = %v, not ErrInvalid", tc.name, err)
		}
	}
}

func TestCheckInstance(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"xterm-0123abcd", true},
		{"a-00000000", true},
		{"my-app-2-ffffffff", true},
		{strings.Repeat("a", 40) + "-01234567", true},
		{strings.Repeat("a", 41) + "-01234567", false},
		{"-01234567", false},
		{"--01234567", false},
		{"xterm-0123ABCD", false},
		{"xterm-0123abc", false},
		{"xterm_0123abcd", false},
		{"Xterm-0123abcd", false},
		{"xterm-0123abcd0", false},
		{"x.y-0123abcd", false},
		{"../x-01234567", false},
		{"x-00000000/..", false},
		{"-x-00000000", false},
		{"xeyes", false},
		{"", false},
	} {
		err := CheckInstance(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("CheckInstance(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestNewInstance(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		n, err := NewInstance("xterm")
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckInstance(n); err != nil || !strings.HasPrefix(n, "xterm-") || Check(n) != nil {
			t.Fatalf("NewInstance: %q (%v)", n, err)
		}
		seen[n] = true
	}
	if len(seen) < 99 {
		t.Errorf("only %d distinct names in 100", len(seen))
	}
	for _, bad := range []string{"", "-x", "X", "a/b", strings.Repeat("a", 41)} {
		if _, err := NewInstance(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("NewInstance(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

// An instance name is always a machine name and a single path component.
func FuzzCheckInstance(f *testing.F) {
	for _, s := range []string{"xterm-0123abcd", "a-00000000", "../x-01234567", "-01234567"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if CheckInstance(s) != nil {
			return
		}
		if err := Check(s); err != nil {
			t.Fatalf("instance %q is not a machine name: %v", s, err)
		}
		if strings.ContainsAny(s, "/\x00. :\\") || strings.HasPrefix(s, "-") || len(s) > MaxLen {
			t.Fatalf("instance %q is not a plain component", s)
		}
	})
}

func FuzzCheck(f *testing.F) {
	for _, s := range []string{"spotify", "a..b", ".x", "a/b", "x."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if Check(s) != nil {
			return
		}
		if s == "." || s == ".." || strings.ContainsAny(s, "/\x00") || len(s) > MaxLen {
			t.Fatalf("Check accepted %q", s)
		}
	})
}
