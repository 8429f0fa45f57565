package stage

import (
	"bytes"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// User is the passwd and group identity of the app's user inside the image.
type User struct {
	Name     string
	UID, GID uint32
	Home     string
	Shell    string
}

var userNameRE = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}\$?$`)

// ValidUserName applies the usual useradd rule. Names outside it (LDAP names
// with dots or capitals, say) are refused rather than escaped: passwd has no
// escaping.
func ValidUserName(name string) error {
	if !userNameRE.MatchString(name) {
		return fmt.Errorf("%w: user name %q", ErrInvalidName, name)
	}
	return nil
}

// Validate checks that u can be written as one passwd line.
func (u User) Validate() error {
	if err := ValidUserName(u.Name); err != nil {
		return err
	}
	// (uid_t)-1 means "no change" to set*id calls.
	if u.UID == ^uint32(0) || u.GID == ^uint32(0) {
		return fmt.Errorf("%w: uid/gid -1 for %q", ErrInvalidName, u.Name)
	}
	for _, p := range []string{u.Home, u.Shell} {
		if !filepath.IsAbs(p) || strings.ContainsAny(p, ":\n\x00") {
			return fmt.Errorf("%w: %q must be an absolute path without ':' or newlines", ErrInvalidName, p)
		}
	}
	return nil
}

// MergePasswd returns imagePasswd with every line for u.Name or u.UID removed
// and u's line ("name:x:uid:gid::home:shell") appended. Other lines are kept
// as they are, even malformed ones, except lines containing NUL. The result
// ends in "\n".
//
// u must pass Validate; MergePasswd panics otherwise, since no output would
// be correct and a caller skipping validation is a bug.
func MergePasswd(imagePasswd []byte, u User) []byte {
	if err := u.Validate(); err != nil {
		panic("stage.MergePasswd: " + err.Error())
	}
	line := fmt.Sprintf("%s:x:%d:%d::%s:%s", u.Name, u.UID, u.GID, u.Home, u.Shell)
	return merge(imagePasswd, u.Name, u.UID, line)
}

// MergeGroup is MergePasswd for the group file: it removes every line for
// groupName or gid and appends "groupName:x:gid:". groupName must pass
// ValidUserName (it panics otherwise).
func MergeGroup(imageGroup []byte, groupName string, gid uint32) []byte {
	if err := ValidUserName(groupName); err != nil {
		panic("stage.MergeGroup: " + err.Error())
	}
	if gid == ^uint32(0) {
		panic("stage.MergeGroup: gid -1")
	}
	return merge(imageGroup, groupName, gid, fmt.Sprintf("%s:x:%d:", groupName, gid))
}

// merge drops lines whose first field is name or whose third field is id,
// then appends line.
func merge(file []byte, name string, id uint32, line string) []byte {
	var out bytes.Buffer
	for l := range bytes.Lines(file) {
		l = bytes.TrimSuffix(l, []byte("\n"))
		if bytes.IndexByte(l, 0) >= 0 {
			continue
		}
		f := bytes.SplitN(l, []byte(":"), 4)
		if string(f[0]) == name || len(f) >= 3 && sameID(string(f[2]), id) {
			continue
		}
		out.Write(l)
		out.WriteByte('\n')
	}
	out.WriteString(line)
	out.WriteByte('\n')
	return out.Bytes()
}

// sameID parses the way glibc's strtoul does (leading blanks, sign, zeros),
// so "0100" in the image cannot shadow our entry for uid 100.
func sameID(field string, id uint32) bool {
	s := strings.TrimLeft(field, " \t\n\v\f\r")
	s = strings.TrimPrefix(s, "+")
	n, err := strconv.ParseUint(s, 10, 32)
	return err == nil && uint32(n) == id
}
