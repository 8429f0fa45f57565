package daemon

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/internal/bustest"
	"github.com/nspawn-tray/nspawn-tray/launcher"
)

const crashChild = "NSPAWN_TRAY_DAEMON_TEST_CHILD"

// Any user can send the daemon any body: a message it cannot take must be
// refused, and the daemon must go on answering. Each case runs in a child
// process, since what it probes may take the whole process down.
//
// godbus v5.2.4 panics (outside its recover) decoding an array or a dict
// of descriptors ("ah", "a{sh}") that came with the message: its decoder
// makes a []UnixFDIndex and appends a UnixFD. The panic is in the
// connection's reader goroutine, so one Launch call from any user killed
// the root daemon, with the --wait launches and the half-done launches of
// everyone else (their undo never runs). The daemon cannot catch it; the
// patched godbus in third_party/godbus-dbus fixes it.
func TestDaemonSurvivesDescriptorContainers(t *testing.T) {
	cases := map[string]func(fd dbus.UnixFD) map[string]dbus.Variant{
		"array": func(fd dbus.UnixFD) map[string]dbus.Variant {
			return map[string]dbus.Variant{"wait": dbus.MakeVariant(true), "stdout": dbus.MakeVariant([]dbus.UnixFD{fd})}
		},
		"dict": func(fd dbus.UnixFD) map[string]dbus.Variant {
			return map[string]dbus.Variant{"x": dbus.MakeVariant(map[string]dbus.UnixFD{"stdout": fd})}
		},
	}
	if name := os.Getenv(crashChild); name != "" {
		e := newEnv(t)
		_, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		err = launcher.MapError(e.raw(bustest.Alice, "Launch", "plain", cases[name](dbus.UnixFD(w.Fd()))).Err)
		if !errors.Is(err, launcher.ErrInvalidArgs) {
			t.Errorf("launch: %v, want InvalidArguments", err)
		}
		if _, err := e.client(bustest.Alice).List(context.Background()); err != nil {
			t.Errorf("the daemon does not answer any more: %v", err)
		}
		return
	}
	needRoot(t)
	for name := range cases {
		t.Run(name, func(t *testing.T) {
			// The child's temp dirs land here; they must be reachable by
			// the users ConnAs connects as.
			tmp := t.TempDir()
			for _, d := range []string{tmp, filepath.Dir(tmp)} {
				if err := os.Chmod(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestDaemonSurvivesDescriptorContainers$", "-test.count=1")
			cmd.Env = append(os.Environ(), crashChild+"="+name, "TMPDIR="+tmp)
			// Its own process group, so that what it started (its
			// dbus-daemon) goes with it even when it dies without cleaning up.
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			out, err := cmd.CombinedOutput()
			if cmd.Process != nil {
				syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			}
			if err != nil {
				lines := strings.Split(string(out), "\n")
				t.Errorf("the daemon did not survive a Launch with descriptors in an %s: %v\n%s", name, err,
					strings.Join(lines[:min(len(lines), 12)], "\n"))
			}
		})
	}
}
