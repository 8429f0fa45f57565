//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestHostBootsWithSystemdAsPID1(t *testing.T) {
	if got := strings.TrimSpace(mustRun(t, "root", "cat", "/proc/1/comm")); got != "systemd" {
		t.Fatalf("PID 1 is %q, want systemd", got)
	}
	r := inHost(t, "root", "", "systemctl", "is-system-running")
	if state := strings.TrimSpace(r.stdout); state != "running" {
		failed := inHost(t, "root", "", "systemctl", "--failed", "--no-legend", "--plain")
		t.Fatalf("system state %q, want running; failed units:\n%s", state, failed.stdout)
	}
	// polkitd and machined are bus-activated: asking them anything starts them.
	backend := mustRun(t, "root", "busctl", "get-property", "org.freedesktop.PolicyKit1", "/org/freedesktop/PolicyKit1/Authority",
		"org.freedesktop.PolicyKit1.Authority", "BackendName")
	if !strings.Contains(backend, "js") {
		t.Errorf("polkit backend %q, want the JavaScript rules engine", strings.TrimSpace(backend))
	}
	mustRun(t, "root", "machinectl", "list")
	for _, unit := range []string{"dbus.service", "polkit.service", "systemd-machined.service"} {
		if r := inHost(t, "root", "", "systemctl", "is-active", unit); strings.TrimSpace(r.stdout) != "active" {
			t.Errorf("%s is %q, want active", unit, strings.TrimSpace(r.stdout))
		}
	}
	// Decision logging is on: polkitd runs without --no-debug.
	cmdline := mustRun(t, "root", "sh", "-c", "tr '\\0' ' ' </proc/$(systemctl show -P MainPID polkit.service)/cmdline")
	if !strings.Contains(cmdline, "polkitd") || strings.Contains(cmdline, "--no-debug") {
		t.Errorf("polkitd command line %q, want polkitd without --no-debug", cmdline)
	}
}

func TestRunPassesStdioAndExitCode(t *testing.T) {
	r := inHost(t, "alice", "hello from stdin\n", "sh", "-c", "cat; echo to-stderr >&2; exit 7")
	if r.code != 7 || r.stdout != "hello from stdin\n" || !strings.Contains(r.stderr, "to-stderr") {
		t.Fatalf("got exit %d stdout %q stderr %q; want 7, the stdin echoed, to-stderr", r.code, r.stdout, r.stderr)
	}
}

func TestUsersHaveTheirIdentityAndSession(t *testing.T) {
	tests := []struct {
		user, uid  string
		inGroup    bool
		hasDisplay bool
	}{
		{"root", "0", false, false},
		{"alice", "1000", true, true},
		{"mallory", "1001", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.user, func(t *testing.T) {
			if got := strings.TrimSpace(mustRun(t, tc.user, "id", "-u")); got != tc.uid {
				t.Fatalf("uid %s, want %s", got, tc.uid)
			}
			groups := strings.Fields(mustRun(t, tc.user, "id", "-nG"))
			if got := contains(groups, "nspawn-tray"); got != tc.inGroup {
				t.Errorf("member of nspawn-tray: %v, want %v (groups %v)", got, tc.inGroup, groups)
			}
			env := mustRun(t, tc.user, "env")
			if got := strings.Contains(env, "\nDISPLAY=:0\n"); got != tc.hasDisplay {
				t.Errorf("DISPLAY=:0 in env: %v, want %v", got, tc.hasDisplay)
			}
			if tc.user == "root" {
				return
			}
			for _, want := range []string{
				"XDG_RUNTIME_DIR=/run/user/" + tc.uid,
				"DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/" + tc.uid + "/bus",
				"HOME=/home/" + tc.user,
			} {
				if !strings.Contains(env, want+"\n") {
					t.Errorf("env lacks %s:\n%s", want, env)
				}
			}
			// The session bus answers, and it is this user's own.
			owner := mustRun(t, tc.user, "busctl", "--user", "call", "org.freedesktop.DBus", "/org/freedesktop/DBus",
				"org.freedesktop.DBus", "GetConnectionUnixUser", "s", "org.freedesktop.DBus")
			if strings.TrimSpace(owner) != "u "+tc.uid {
				t.Errorf("session bus daemon runs as %q, want u %s", strings.TrimSpace(owner), tc.uid)
			}
			// PulseAudio runs for each user, with the null sink as default.
			info := mustRun(t, tc.user, "pactl", "info")
			if !strings.Contains(info, "Default Sink: testhost_null") {
				t.Errorf("pactl info: no null default sink:\n%s", info)
			}
		})
	}
}

func TestAliceOwnsTheDisplayAndThePanel(t *testing.T) {
	// Xvfb requires the cookie: alice has it, mallory does not.
	if out := mustRun(t, "alice", "xdpyinfo"); !strings.Contains(out, "dimensions:    1280x800") {
		t.Errorf("xdpyinfo as alice: unexpected output:\n%s", out)
	}
	r := inHost(t, "mallory", "", "env", "DISPLAY=:0", "xdpyinfo")
	if r.code == 0 {
		t.Errorf("mallory reached alice's display without her cookie")
	}
	// The panel's systray is the StatusNotifierWatcher on alice's bus.
	owner := mustRun(t, "alice", "busctl", "--user", "--json=short", "call", "org.freedesktop.DBus", "/org/freedesktop/DBus",
		"org.freedesktop.DBus", "GetConnectionUnixProcessID", "s", "org.kde.StatusNotifierWatcher")
	var reply struct{ Data []int }
	if err := json.Unmarshal([]byte(owner), &reply); err != nil || len(reply.Data) != 1 {
		t.Fatalf("GetConnectionUnixProcessID reply %q: %v", owner, err)
	}
	comm := strings.TrimSpace(mustRun(t, "alice", "cat", fmt.Sprintf("/proc/%d/comm", reply.Data[0])))
	if !strings.HasPrefix(comm, "xfce4-panel") && !strings.HasPrefix(comm, "panel-") && !strings.Contains(comm, "wrapper") {
		t.Errorf("org.kde.StatusNotifierWatcher is owned by %q, want the xfce4-panel systray", comm)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
