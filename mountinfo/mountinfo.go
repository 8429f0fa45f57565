// Package mountinfo reads the kernel's mountinfo (proc_pid_mountinfo(5)):
// which mount points are at or below a directory. The staging dirs'
// removal and the raw images' read mounts both need it.
package mountinfo

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
)

// Below lists the mount points equal to dir or under it in the mountinfo
// file at path (/proc/self/mountinfo, or /proc/thread-self/mountinfo for
// a thread's own mount namespace), one entry per stacked mount.
func Below(path, dir string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data, dir)
}

// Parse is Below of mountinfo's content.
func Parse(data []byte, dir string) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 {
			continue
		}
		mp := Unescape(f[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	return out, sc.Err()
}

// Unescape undoes the kernel's \ooo escaping of space, tab, newline and
// backslash in mountinfo paths.
func Unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
