package mountinfo

import (
	"slices"
	"strings"
	"testing"
)

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		`/a/b`:            "/a/b",
		`/a\040b`:         "/a b",
		`/a\011\012\134b`: "/a\t\n\\b",
		`/a\04`:           `/a\04`,
		`/a\xyz`:          `/a\xyz`,
		`\`:               `\`,
	} {
		if got := Unescape(in); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}

// The mount point is the fifth field, escaped; a sibling that shares the
// prefix ("/run/x-other" for "/run/x") is not below it.
func TestParse(t *testing.T) {
	data := []byte(`22 1 0:21 / / rw - ext4 /dev/vda rw
30 22 0:25 / /run/x rw - tmpfs tmpfs rw
31 30 0:26 / /run/x/a\040b rw - tmpfs tmpfs rw
32 30 0:27 / /run/x/a\040b rw - tmpfs tmpfs rw
33 22 0:28 / /run/x-other rw - tmpfs tmpfs rw
short line
`)
	got, err := Parse(data, "/run/x")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/run/x", "/run/x/a b", "/run/x/a b"}; !slices.Equal(got, want) {
		t.Errorf("Parse = %q, want %q", got, want)
	}
	if got, _ := Parse(data, "/nowhere"); len(got) != 0 {
		t.Errorf("Parse of an unmounted dir = %q", got)
	}
}

func TestBelowReadsTheKernels(t *testing.T) {
	got, err := Below("/proc/self/mountinfo", "/proc")
	if err != nil || !slices.Contains(got, "/proc") {
		t.Errorf("Below(/proc) = %q, %v; want /proc among them", got, err)
	}
	if _, err := Below("/nonexistent/mountinfo", "/"); err == nil {
		t.Error("a missing file read as empty")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("31 30 0:26 / /run/x/a\\040b rw - tmpfs tmpfs rw\n"), "/run/x")
	f.Fuzz(func(t *testing.T, data []byte, dir string) {
		got, _ := Parse(data, dir)
		for _, p := range got {
			if p != dir && !strings.HasPrefix(p, dir+"/") {
				t.Fatalf("%q is not at or below %q", p, dir)
			}
		}
	})
}
