package appexec

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// verify checks what the kernel now says about this thread, rather than
// trusting that the calls above did everything.
func verify(uid, gid uint32, groups []uint32) error {
	r, e, s := unix.Getresuid()
	if r != int(uid) || e != int(uid) || s != int(uid) {
		return fmt.Errorf("%w: uids %d/%d/%d", ErrPrivileges, r, e, s)
	}
	r, e, s = unix.Getresgid()
	if r != int(gid) || e != int(gid) || s != int(gid) {
		return fmt.Errorf("%w: gids %d/%d/%d", ErrPrivileges, r, e, s)
	}
	if got, err := unix.Getgroups(); err != nil || !sameGroups(got, groups) {
		return fmt.Errorf("%w: supplementary groups %v (%v), want %v", ErrPrivileges, got, err, groups)
	}
	if nnp, err := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0); err != nil || nnp != 1 {
		return fmt.Errorf("%w: no_new_privs %d (%v)", ErrPrivileges, nnp, err)
	}
	// thread-self, not self: capabilities are per thread and /proc/self
	// shows the main thread.
	status, err := os.ReadFile("/proc/thread-self/status")
	if err != nil {
		return fmt.Errorf("%w: %w", ErrPrivileges, err)
	}
	return checkCaps(status)
}

// checkCaps wants every set but the bounding one to be zero: with
// SECBIT_KEEP_CAPS set by whoever started us, permitted and ambient
// capabilities survive setresuid and ambient ones come back at execve.
func checkCaps(status []byte) error {
	want := map[string]bool{"CapInh": false, "CapEff": false, "CapPrm": false, "CapAmb": false}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if _, tracked := want[k]; !ok || !tracked {
			continue
		}
		if v = strings.TrimSpace(v); strings.Trim(v, "0") != "" || v == "" {
			return fmt.Errorf("%w: %s %s", ErrPrivileges, k, v)
		}
		want[k] = true
	}
	for k, seen := range want {
		// CapAmb is missing before Linux 4.3, where it cannot be set.
		if !seen && k != "CapAmb" {
			return fmt.Errorf("%w: no %s in status", ErrPrivileges, k)
		}
	}
	return nil
}

// sameGroups: exactly the groups asked for, as a set.
func sameGroups(got []int, want []uint32) bool {
	if len(got) != len(want) {
		return false
	}
	for _, w := range want {
		if !slices.Contains(got, int(w)) {
			return false
		}
	}
	return true
}
