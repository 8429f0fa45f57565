package appexec

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Per-thread versions of the steps of drop. Go's own set*id calls change
// every thread of the process; these change only the calling one.
func setgroups(groups ...uint32) error {
	var p *uint32
	if len(groups) > 0 {
		p = &groups[0]
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(groups)), uintptr(unsafe.Pointer(p)), 0); e != 0 {
		return fmt.Errorf("setgroups: %w", e)
	}
	return nil
}

func setresgid(r, e, s uint32) error {
	if _, _, err := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(r), uintptr(e), uintptr(s)); err != 0 {
		return fmt.Errorf("setresgid: %w", err)
	}
	return nil
}

func setresuid(r, e, s uint32) error {
	if _, _, err := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(r), uintptr(e), uintptr(s)); err != 0 {
		return fmt.Errorf("setresuid: %w", err)
	}
	return nil
}

func clearCaps() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var none [2]unix.CapUserData
	return unix.Capset(&hdr, &none[0])
}

func noNewPrivs() error { return unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) }

// onThread runs steps, then verify(uid, gid), on an OS thread of its own
// that is never unlocked: it ends with its goroutine, and no other
// goroutine ever runs with what the steps changed.
func onThread(t *testing.T, uid, gid uint32, steps ...func() error) error {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		for _, step := range steps {
			if err := step(); err != nil {
				done <- fmt.Errorf("setup: %w", err)
				return
			}
		}
		done <- verify(uid, gid, nil)
	}()
	err := <-done
	if err != nil && strings.HasPrefix(err.Error(), "setup: ") {
		t.Fatal(err)
	}
	// The rest of the process kept its credentials (whichever thread
	// this goroutine runs on now).
	if r, e, s := unix.Getresuid(); r != 0 || e != 0 || s != 0 {
		t.Fatalf("the test process changed uids: %d/%d/%d", r, e, s)
	}
	return err
}

const nobody = 65534

// verify accepts a thread on which every step of drop took effect.
func TestVerifyAcceptsDropped(t *testing.T) {
	err := onThread(t, nobody, nobody,
		func() error { return setgroups() },
		func() error { return setresgid(nobody, nobody, nobody) },
		func() error { return setresuid(nobody, nobody, nobody) },
		clearCaps, noNewPrivs)
	if err != nil {
		t.Errorf("verify: %v", err)
	}
}

// Each step of drop that did not take effect fails verify.
func TestVerifyRefuses(t *testing.T) {
	keepCaps := func() error { return unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0) }
	for _, tc := range []struct {
		name     string
		uid, gid uint32
		steps    []func() error
		want     string
	}{
		{"other uid", nobody + 1, nobody, []func() error{
			func() error { return setgroups() },
			func() error { return setresgid(nobody, nobody, nobody) },
			func() error { return setresuid(nobody, nobody, nobody) },
			clearCaps, noNewPrivs}, "uids 65534/65534/65534"},
		// A saved root uid would let the app become root again.
		{"saved uid still root", nobody, nobody, []func() error{
			func() error { return setgroups() },
			func() error { return setresgid(nobody, nobody, nobody) },
			func() error { return setresuid(nobody, nobody, 0) },
			clearCaps, noNewPrivs}, "uids 65534/65534/0"},
		{"saved gid still root", nobody, nobody, []func() error{
			func() error { return setgroups() },
			func() error { return setresgid(nobody, nobody, 0) },
			func() error { return setresuid(nobody, nobody, nobody) },
			clearCaps, noNewPrivs}, "gids 65534/65534/0"},
		{"supplementary groups kept", nobody, nobody, []func() error{
			func() error { return setgroups(4, 27) },
			func() error { return setresgid(nobody, nobody, nobody) },
			func() error { return setresuid(nobody, nobody, nobody) },
			clearCaps, noNewPrivs}, "supplementary groups [4 27]"},
		{"no no_new_privs", nobody, nobody, []func() error{
			func() error { return setgroups() },
			func() error { return setresgid(nobody, nobody, nobody) },
			func() error { return setresuid(nobody, nobody, nobody) },
			clearCaps}, "no_new_privs 0"},
		// With keep-caps set by whoever started us, setresuid leaves the
		// permitted set full.
		{"capabilities kept", nobody, nobody, []func() error{
			keepCaps,
			func() error { return setgroups() },
			func() error { return setresgid(nobody, nobody, nobody) },
			func() error { return setresuid(nobody, nobody, nobody) },
			noNewPrivs}, "CapPrm"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := onThread(t, tc.uid, tc.gid, tc.steps...)
			if !errors.Is(err, ErrPrivileges) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("verify: %v; want ErrPrivileges naming %q", err, tc.want)
			}
		})
	}
}
