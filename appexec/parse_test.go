package appexec

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	s, err := Parse([]string{"--uid", "1000", "--gid", "100", "--home", "/home/alice", "--", "/usr/bin/app", "--flag", "--"})
	if err != nil {
		t.Fatal(err)
	}
	if s.UID != 1000 || s.GID != 100 || s.Home != "/home/alice" || !slices.Equal(s.Argv, []string{"/usr/bin/app", "--flag", "--"}) || s.Env != nil {
		t.Fatalf("got %+v", s)
	}
	// --await may be given more than once.
	s, err = Parse([]string{"--uid", "1", "--gid", "1", "--home", "/", "--await", "/run/user/1/bus", "--await", "/run/user/1/pulse/native", "--", "a"})
	if err != nil || !slices.Equal(s.Await, []string{"/run/user/1/bus", "/run/user/1/pulse/native"}) {
		t.Fatalf("got %+v, %v", s, err)
	}
	// A gpu app keeps the groups of its device nodes.
	if s, err := Parse([]string{"--uid", "1000", "--gid", "1000", "--groups", "44,105", "--home", "/h", "--", "a"}); err != nil || !slices.Equal(s.Groups, []uint32{44, 105}) {
		t.Fatalf("--groups: %+v, %v", s, err)
	}
	// Order of the flags does not matter.
	if _, err := Parse([]string{"--home", "/", "--gid", "4294967294", "--uid", "1", "--", "app"}); err != nil {
		t.Fatal(err)
	}
}

func TestParseRefuses(t *testing.T) {
	ok := []string{"--uid", "1000", "--gid", "1000", "--home", "/home/a"}
	with := func(extra ...string) []string { return append(slices.Clone(ok), extra...) }
	for _, c := range []struct {
		desc string
		args []string
		want error
	}{
		{"missing --", with("app"), ErrInvalid},
		{"nothing", nil, ErrInvalid},
		{"empty argv", with("--"), ErrInvalid},
		{"empty argv[0]", with("--", ""), ErrInvalid},
		{"hex uid", []string{"--uid", "0x10", "--gid", "1", "--home", "/", "--", "a"}, ErrInvalid},
		{"negative uid", []string{"--uid", "-1", "--gid", "1", "--home", "/", "--", "a"}, ErrInvalid},
		{"plus uid", []string{"--uid", "+5", "--gid", "1", "--home", "/", "--", "a"}, ErrInvalid},
		{"leading zero", []string{"--uid", "010", "--gid", "1", "--home", "/", "--", "a"}, ErrInvalid},
		{"uid -1 as 4294967295", []string{"--uid", "4294967295", "--gid", "1", "--home", "/", "--", "a"}, ErrInvalid},
		{"uid overflow", []string{"--uid", "4294967296", "--gid", "1", "--home", "/", "--", "a"}, ErrInvalid},
		{"uid with space", []string{"--uid", " 5", "--gid", "1", "--home", "/", "--", "a"}, ErrInvalid},
		{"empty uid", []string{"--uid", "", "--gid", "1", "--home", "/", "--", "a"}, ErrInvalid},
		{"uid 0", []string{"--uid", "0", "--gid", "1", "--home", "/", "--", "a"}, ErrRoot},
		{"gid 0", []string{"--uid", "1", "--gid", "0", "--home", "/", "--", "a"}, ErrRoot},
		{"home relative", []string{"--uid", "1", "--gid", "1", "--home", "home/a", "--", "a"}, ErrInvalid},
		{"home unclean", []string{"--uid", "1", "--gid", "1", "--home", "/home/../etc", "--", "a"}, ErrInvalid},
		{"home trailing slash", []string{"--uid", "1", "--gid", "1", "--home", "/home/a/", "--", "a"}, ErrInvalid},
		{"home empty", []string{"--uid", "1", "--gid", "1", "--home", "", "--", "a"}, ErrInvalid},
		{"missing home", []string{"--uid", "1", "--gid", "1", "--", "a"}, ErrInvalid},
		{"missing uid", []string{"--gid", "1", "--home", "/", "--", "a"}, ErrInvalid},
		{"flag without value", []string{"--uid", "1", "--gid", "1", "--home", "--", "a"}, ErrInvalid},
		{"flag at end", []string{"--uid"}, ErrInvalid},
		{"duplicate flag", []string{"--uid", "1", "--uid", "2", "--gid", "1", "--home", "/", "--", "a"}, ErrInvalid},
		{"group 0", with("--groups", "44,0", "--", "a"), ErrRoot},
		{"group -1", with("--groups", "4294967295", "--", "a"), ErrInvalid},
		{"group hex", with("--groups", "0x2c", "--", "a"), ErrInvalid},
		{"group empty", with("--groups", "", "--", "a"), ErrInvalid},
		{"group trailing comma", with("--groups", "44,", "--", "a"), ErrInvalid},
		{"group twice", with("--groups", "44,44", "--", "a"), ErrInvalid},
		{"groups flag twice", with("--groups", "44", "--groups", "105", "--", "a"), ErrInvalid},
		{"too many groups", with("--groups", "1,2,3,4,5,6,7,8,9", "--", "a"), ErrInvalid},
		{"group name", with("--groups", "video", "--", "a"), ErrInvalid},
		{"extra flag", with("--env", "X=1", "--", "a"), ErrInvalid},
		{"equals form", []string{"--uid=1", "--gid", "1", "--home", "/", "--", "a"}, ErrInvalid},
		{"single dash", []string{"-uid", "1", "--gid", "1", "--home", "/", "--", "a"}, ErrInvalid},
		{"await relative", with("--await", "run/bus", "--", "a"), ErrInvalid},
		{"await unclean", with("--await", "/run/user/1/../../etc/x", "--", "a"), ErrInvalid},
		{"await without value", with("--await", "--", "a"), ErrInvalid},
		{"too many awaits", with(slices.Repeat([]string{"--await", "/run/s"}, maxAwait+1)...), ErrInvalid},
	} {
		if s, err := Parse(c.args); !errors.Is(err, c.want) {
			t.Errorf("%s: got %+v, %v; want %v", c.desc, s, err, c.want)
		}
	}
}

// Whatever the command line, an accepted Spec never names root, has a clean
// absolute home and at least one argv element.
func FuzzParse(f *testing.F) {
	f.Add("--uid", "1000", "--gid", "1000", "--home", "/home/a", "/bin/true")
	f.Add("--uid", "0", "--gid", "0", "--home", "../x", "-x")
	f.Fuzz(func(t *testing.T, a, b, c, d, e, g, h string) {
		s, err := Parse([]string{a, b, c, d, e, g, "--", h})
		if err != nil {
			return
		}
		if s.UID == 0 || s.GID == 0 || !filepath.IsAbs(s.Home) || filepath.Clean(s.Home) != s.Home || len(s.Argv) == 0 {
			t.Errorf("accepted %+v", s)
		}
	})
}

// The app runs only once the helpers' sockets are there: AwaitSockets
// returns when a socket appears late, and fails, naming the path, for one
// that never comes or is no socket.
func TestAwaitSockets(t *testing.T) {
	dir := t.TempDir()
	late := filepath.Join(dir, "late")
	go func() {
		time.Sleep(30 * time.Millisecond)
		if l, err := net.Listen("unix", late); err == nil {
			t.Cleanup(func() { l.Close() })
		}
	}()
	if err := AwaitSockets([]string{late}, 5*time.Second); err != nil {
		t.Fatalf("late socket: %v", err)
	}
	never := filepath.Join(dir, "never")
	if err := AwaitSockets([]string{late, never}, 50*time.Millisecond); !errors.Is(err, ErrAwait) || !strings.Contains(err.Error(), never) {
		t.Errorf("missing socket: %v, want ErrAwait naming %s", err, never)
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := AwaitSockets([]string{file}, time.Second); !errors.Is(err, ErrAwait) || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("a file: %v, want ErrAwait, not a socket", err)
	}
	// A symlink to a socket is not one: Lstat.
	link := filepath.Join(dir, "link")
	if err := os.Symlink(late, link); err != nil {
		t.Fatal(err)
	}
	if err := AwaitSockets([]string{link}, time.Second); !errors.Is(err, ErrAwait) {
		t.Errorf("a symlink to a socket: %v, want ErrAwait", err)
	}
}
