package cli

import (
	"os"
	"slices"
	"testing"

	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/internal/bustest"
	"github.com/nspawn-tray/nspawn-tray/launcher"
)

func TestLogs(t *testing.T) {
	l := fakeDaemon(t)
	l.OnLogs(func(c bustest.LauncherCall, out *os.File) *dbus.Error {
		defer out.Close()
		lines, _ := c.Session["lines"].Value().(int32)
		follow, _ := c.Session["follow"].Value().(bool)
		out.WriteString("log of " + c.Arg + "\n")
		if follow {
			out.WriteString("following\n")
		}
		for range lines {
			out.WriteString("line\n")
		}
		return nil
	})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"logs", "-n", "1", "xterm-0a1b2c3d"}, "log of xterm-0a1b2c3d\nline\n"},
		{[]string{"logs", "--lines=2", "-f", "xterm"}, "log of xterm\nfollowing\nline\nline\n"},
		// Options after the target, as people type them.
		{[]string{"logs", "xterm", "-f", "-n", "0"}, "log of xterm\nfollowing\n"},
	} {
		code, stdout, stderr := run(t, Program{}, tc.args...)
		if code != 0 || stdout != tc.want || stderr != "" {
			t.Errorf("%q: code %d, stdout %q, stderr %q; want 0 and %q", tc.args, code, stdout, stderr, tc.want)
		}
	}
	if calls := l.Calls(); len(calls) != 3 || !calls[0].Interactive {
		t.Errorf("calls %+v, want 3 interactive (authorized like stop)", calls)
	}
}

func TestLogsErrors(t *testing.T) {
	t.Setenv("USER", "mallory")
	l := fakeDaemon(t)
	l.OnLogs(func(c bustest.LauncherCall, out *os.File) *dbus.Error {
		out.Close()
		return dbus.NewError(launcher.ErrNameOthersInstance, []any{c.Arg + " is another user's instance: only an administrator may read its log"})
	})
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"logs"}, 2, "nspawn-tray logs: want one MACHINE (see 'nspawn-tray ps') or APP (see 'nspawn-tray logs --help')\n"},
		{[]string{"logs", "a", "b"}, 2, "nspawn-tray logs: want one MACHINE (see 'nspawn-tray ps') or APP (see 'nspawn-tray logs --help')\n"},
		{[]string{"logs", "-n", "20000", "a"}, 2, "nspawn-tray logs: --lines 20000: want 0 to 10000 (see 'nspawn-tray logs --help')\n"},
		// Not "join the group": no group lets Mallory read Alice's log.
		{[]string{"logs", "xterm-0a1b2c3d"}, 1, "nspawn-tray: xterm-0a1b2c3d is another user's instance: only an administrator may read its log\n"},
	} {
		code, stdout, stderr := run(t, Program{}, tc.args...)
		if code != tc.code || stdout != "" || stderr != tc.want {
			t.Errorf("%q: code %d, stdout %q, stderr %q; want %d and %q", tc.args, code, stdout, stderr, tc.code, tc.want)
		}
	}
}

func TestStopTellsAppFromInstance(t *testing.T) {
	t.Setenv("USER", "mallory")
	l := fakeDaemon(t)
	want := "nspawn-tray stop: \"spotify\" is an app, not an instance: 'nspawn-tray stop --app spotify' stops yours (see 'nspawn-tray stop --help')\n"
	if code, stdout, stderr := run(t, Program{}, "stop", "spotify"); code != 2 || stdout != "" || stderr != want {
		t.Errorf("code %d, stdout %q, stderr %q; want 2 and %q", code, stdout, stderr, want)
	}
	l.OnStop(func(c bustest.LauncherCall) *dbus.Error {
		return dbus.NewError(launcher.ErrNameOthersInstance, []any{c.Arg + " is another user's instance: only an administrator may stop it"})
	})
	want = "nspawn-tray: spotify-0a1b2c3d is another user's instance: only an administrator may stop it\n"
	if code, _, stderr := run(t, Program{}, "stop", "spotify-0a1b2c3d"); code != 1 || stderr != want {
		t.Errorf("code %d, stderr %q; want 1 and %q", code, stderr, want)
	}
	if got := methods(l.Calls()); !slices.Equal(got, []string{"Stop spotify-0a1b2c3d"}) {
		t.Errorf("daemon got %q", got)
	}
}
