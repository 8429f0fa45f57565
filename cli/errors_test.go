package cli

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/launcher"
)

// serviceError is what the launcher client makes of a D-Bus error reply.
func serviceError(name, msg string) error {
	return launcher.MapError(dbus.Error{Name: name, Body: []any{msg}})
}

func TestReport(t *testing.T) {
	t.Setenv("USER", "alice")
	denied := serviceError(launcher.ErrNameAccessDenied, "Rejected send message")
	for _, tc := range []struct {
		name   string
		cmd    string
		err    error
		code   int
		stderr string
	}{
		{"success is silent", "", nil, 0, ""},
		{"usage error names the program's help", "", UsageError("bad"), 2,
			"nspawn-tray: bad (see 'nspawn-tray --help')\n"},
		{"usage error names the command's help", "stop", UsageError("bad"), 2,
			"nspawn-tray stop: bad (see 'nspawn-tray stop --help')\n"},
		{"usage error stays on one line", "stop", UsageError("bad\r\nthing"), 2,
			"nspawn-tray stop: bad\\r\\nthing (see 'nspawn-tray stop --help')\n"},
		{"exit status passes through silently", "launch", ExitStatus(3), 3, ""},
		{"wrapped exit status too", "launch", fmt.Errorf("x: %w", ExitStatus(42)), 42, ""},
		{"plain error", "ps", errors.New("boom"), 1, "nspawn-tray: boom\n"},
		{"newlines escaped", "ps", errors.New("one\ntwo"), 1, "nspawn-tray: one\\ntwo\n"},
		{"joined errors one line each", "apps", errors.Join(errors.New("one"), errors.New("two\nlines"), errors.Join(errors.New("three"))), 1,
			"nspawn-tray: one\nnspawn-tray: two\\nlines\nnspawn-tray: three\n"},
		{"not authorized names the action and the user", "launch", failed("launch spotify", denied), 1,
			"nspawn-tray: not authorized to launch spotify: ask an administrator to add you to the nspawn-tray group (usermod -aG nspawn-tray alice), then log in again\n"},
		{"interactive authorization refused is not authorized too", "stop",
			failed("stop spotify-0a1b2c3d", serviceError(launcher.ErrNameInteractive, "Interactive authentication required.")), 1,
			"nspawn-tray: not authorized to stop spotify-0a1b2c3d: ask an administrator to add you to the nspawn-tray group (usermod -aG nspawn-tray alice), then log in again\n"},
		// Without the action the friendly message could not say what was
		// refused; the service's own words are shown.
		{"not authorized without an action", "", denied, 1, "nspawn-tray: Rejected send message\n"},
		{"unknown app points at apps", "launch", failed("launch nope", serviceError(launcher.ErrNameUnknownApp, `unknown app "nope"`)), 1,
			"nspawn-tray: unknown app \"nope\" (see 'nspawn-tray apps')\n"},
		{"no daemon says it is not installed", "ps", failed("list instances", serviceError(launcher.ErrNameServiceUnknown, "The name is not activatable")), 1,
			"nspawn-tray: the nspawn-tray daemon is not installed (no io.github.nspawn_tray.Launcher1 on the system bus)\n"},
		{"friendly messages inside joined errors", "", errors.Join(errors.New("first"), serviceError(launcher.ErrNameServiceUnknown, "x")), 1,
			"nspawn-tray: first\nnspawn-tray: the nspawn-tray daemon is not installed (no io.github.nspawn_tray.Launcher1 on the system bus)\n"},
		{"other service errors as they are", "stop", failed("stop x", serviceError(launcher.ErrNameNoSuchInstance, `no nspawn-tray instance "x"`)), 1,
			"nspawn-tray: no nspawn-tray instance \"x\"\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			e := &Env{Stdout: &stdout, Stderr: &stderr, cmd: tc.cmd}
			if code := e.report(tc.err); code != tc.code || stderr.String() != tc.stderr || stdout.Len() != 0 {
				t.Errorf("code %d, stdout %q, stderr %q; want %d, nothing, %q", code, stdout.String(), stderr.String(), tc.code, tc.stderr)
			}
		})
	}
}

// The not-authorized hint must name someone even when USER is unset.
func TestReportNotAuthorizedWithoutUSER(t *testing.T) {
	t.Setenv("USER", "")
	var stderr bytes.Buffer
	e := &Env{Stdout: &bytes.Buffer{}, Stderr: &stderr}
	e.report(failed("launch spotify", serviceError(launcher.ErrNameAccessDenied, "no")))
	want := "nspawn-tray: not authorized to launch spotify: ask an administrator to add you to the nspawn-tray group (usermod -aG nspawn-tray USER), then log in again\n"
	if stderr.String() != want {
		t.Errorf("stderr %q, want %q", stderr.String(), want)
	}
}

func TestFailedKeepsNil(t *testing.T) {
	if err := failed("launch x", nil); err != nil {
		t.Errorf("failed(nil) = %v", err)
	}
	inner := errors.New("inner")
	err := failed("launch x", inner)
	if !errors.Is(err, inner) || err.Error() != "inner" {
		t.Errorf("failed hides its error: %v", err)
	}
	if got := ExitStatus(5).Error(); got != "exit status 5" {
		t.Errorf("ExitStatus(5).Error() = %q", got)
	}
	if got := UsageError("u").Error(); got != "u" {
		t.Errorf("UsageError.Error() = %q", got)
	}
}
