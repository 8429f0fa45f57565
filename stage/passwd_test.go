package stage

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

var alice = User{Name: "alice", UID: 1000, GID: 1000, Home: "/home/alice", Shell: "/bin/sh"}

const aliceLine = "alice:x:1000:1000::/home/alice:/bin/sh\n"

func TestMergePasswd(t *testing.T) {
	for _, c := range []struct{ desc, in, want string }{
		{"empty", "", aliceLine},
		{"append", "root:x:0:0:root:/root:/bin/bash\n", "root:x:0:0:root:/root:/bin/bash\n" + aliceLine},
		{"no final newline", "root:x:0:0::/root:/bin/sh", "root:x:0:0::/root:/bin/sh\n" + aliceLine},
		{"same name replaced", "alice:x:5:5::/x:/bin/false\nbob:x:1:1::/:/bin/sh\n", "bob:x:1:1::/:/bin/sh\n" + aliceLine},
		{"same uid replaced", "ubuntu:x:1000:1000::/home/ubuntu:/bin/bash\n", aliceLine},
		{"uid with leading zero", "evil:x:01000:0::/:/bin/sh\n", aliceLine},
		{"uid with blank and sign", "evil:x: +1000:0::/:/bin/sh\n", aliceLine},
		{"gid alone kept", "g:x:7:1000::/:/bin/sh\n", "g:x:7:1000::/:/bin/sh\n" + aliceLine},
		{"prefix name kept", "alice2:x:1001:1001::/:/bin/sh\nalic:x:1002:1::/:/\n", "alice2:x:1001:1001::/:/bin/sh\nalic:x:1002:1::/:/\n" + aliceLine},
		{"malformed kept", "garbage\n\n+::::::\n#comment\n", "garbage\n\n+::::::\n#comment\n" + aliceLine},
		{"NUL line dropped", "a:x:1:1::/:/\nb\x00:x:2:2::/:/\n", "a:x:1:1::/:/\n" + aliceLine},
		{"malformed alice lines dropped", "alice\nalice:\n", aliceLine},
		{"CRLF kept", "a:x:1:1::/:/\r\n", "a:x:1:1::/:/\r\n" + aliceLine},
	} {
		if got := string(MergePasswd([]byte(c.in), alice)); got != c.want {
			t.Errorf("%s:\ngot  %q\nwant %q", c.desc, got, c.want)
		}
	}
}

func TestMergeGroup(t *testing.T) {
	for _, c := range []struct{ desc, in, name, want string }{
		{"empty", "", "alice", "alice:x:1000:\n"},
		{"append", "root:x:0:\nusers:x:100:alice\n", "alice", "root:x:0:\nusers:x:100:alice\nalice:x:1000:\n"},
		{"same name", "alice:x:7:\n", "alice", "alice:x:1000:\n"},
		{"same gid", "ubuntu:x:1000:ubuntu\n", "staff", "staff:x:1000:\n"},
		{"NUL dropped", "x\x00\n", "alice", "alice:x:1000:\n"},
	} {
		if got := string(MergeGroup([]byte(c.in), c.name, 1000)); got != c.want {
			t.Errorf("%s:\ngot  %q\nwant %q", c.desc, got, c.want)
		}
	}
}

func TestMergePanicsOnInvalid(t *testing.T) {
	for _, u := range []User{
		{Name: "Alice", UID: 1, GID: 1, Home: "/", Shell: "/bin/sh"},
		{Name: "a", UID: 1, GID: 1, Home: "/a:b", Shell: "/bin/sh"},
		{Name: "a", UID: 1, GID: 1, Home: "/", Shell: "/bin/sh\nroot::0:0::/:/bin/sh"},
		{Name: "a", UID: 1, GID: 1, Home: "relative", Shell: "/bin/sh"},
		{Name: "a", UID: ^uint32(0), GID: 1, Home: "/", Shell: "/bin/sh"},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%+v: no panic", u)
				}
			}()
			MergePasswd(nil, u)
		}()
	}
}

func TestValidUserName(t *testing.T) {
	for _, ok := range []string{"a", "_a", "alice", "a-b_c9", "machine$", strings.Repeat("a", 32), "a" + strings.Repeat("b", 31) + "$"} {
		if err := ValidUserName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-a", "9a", "Alice", "a.b", "a b", "a:b", "a$b", "$", "a\n", strings.Repeat("a", 33), "é"} {
		if err := ValidUserName(bad); !errors.Is(err, ErrInvalidName) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func FuzzMergePasswd(f *testing.F) {
	f.Add([]byte("root:x:0:0:root:/root:/bin/bash\nalice:x:1:1::/:/bin/sh\n"), "alice", uint32(1000))
	f.Add([]byte("a\x00b\n\n::::\nalice"), "alice", uint32(0))
	f.Add([]byte("x:x:0100:1::/:/\r\n"), "u$", uint32(100))
	f.Fuzz(func(t *testing.T, in []byte, name string, uid uint32) {
		u := User{Name: name, UID: uid, GID: uid, Home: "/home/" + name, Shell: "/bin/sh"}
		if u.Validate() != nil {
			return
		}
		out := MergePasswd(in, u)
		if bytes.IndexByte(out, 0) >= 0 {
			t.Fatalf("NUL in output %q", out)
		}
		if len(out) == 0 || out[len(out)-1] != '\n' {
			t.Fatalf("no final newline: %q", out)
		}
		n := 0
		for l := range strings.Lines(string(out)) {
			if strings.HasPrefix(l, name+":") {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d lines for %q in %q", n, name, out)
		}
		if !bytes.HasSuffix(out, MergePasswd(nil, u)) {
			t.Fatalf("user line not last: %q", out)
		}
	})
}

func FuzzValidUserName(f *testing.F) {
	for _, s := range []string{"alice", "a$", "A", "-x", "a\n", strings.Repeat("z", 33)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if ValidUserName(name) != nil {
			return
		}
		// Whatever passes must be safe in passwd, paths and argv.
		if len(name) == 0 || len(name) > 33 || strings.ContainsAny(name, ":/\n\x00 ,.") ||
			name[0] == '-' || (name[0] >= '0' && name[0] <= '9') {
			t.Fatalf("accepted %q", name)
		}
		if i := strings.IndexByte(name, '$'); i >= 0 && i != len(name)-1 {
			t.Fatalf("accepted %q with $ inside", name)
		}
	})
}
