//go:build e2e

package e2e

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// shell runs script in app (shell or shell-bare) as alice and returns its output.
func shell(t *testing.T, app, script string, extraEnv ...string) string {
	t.Helper()
	argv := append([]string{"env"}, extraEnv...)
	argv = append(argv, "nspawn-tray", "launch", "--wait", app, "--", script)
	r := inHost(t, "alice", "", argv...)
	if r.code != 0 {
		t.Fatalf("%s %q: exit %d\n%s\n%s", app, script, r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

func TestDefaultsBindTheSession(t *testing.T) {
	out := shell(t, "shell", "env; cat /proc/self/mountinfo; cat /proc/net/dev; echo machine-id=$(cat /etc/machine-id); (touch /etc/machine-id && echo machine-id-writable) 2>/dev/null; true")
	for _, want := range []string{"DISPLAY=:0", "PULSE_SERVER=", "DBUS_SESSION_BUS_ADDRESS=", " /tmp/.X11-unix/X0 ", " /home/alice "} {
		if !strings.Contains(out, want) {
			t.Errorf("defaults: output lacks %q", want)
		}
	}
	// A machine-id of the app's own: stable across launches, a v4 UUID,
	// never the host's (systemd treats it as confidential).
	hostID := strings.TrimSpace(mustRun(t, "root", "cat", "/etc/machine-id"))
	idRe := regexp.MustCompile(`machine-id=([0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15})\n`)
	m := idRe.FindStringSubmatch(out)
	if m == nil || m[1] == hostID {
		t.Errorf("the app's machine-id is not an app-specific one (host %s):\n%s", hostID, out)
	} else if again := shell(t, "shell", "cat /etc/machine-id"); strings.TrimSpace(again) != m[1] {
		t.Errorf("the app's machine-id changed between launches: %s, then %s", m[1], again)
	}
	if strings.Contains(out, "NOTIFY_SOCKET=") {
		t.Errorf("the app sees nspawn's NOTIFY_SOCKET")
	}
	if strings.Contains(out, "machine-id-writable") {
		t.Errorf("the app could write /etc/machine-id")
	}
}

func TestKeysTurnResourcesOff(t *testing.T) {
	out := shell(t, "shell-bare", "env; echo ==; cat /proc/self/mountinfo; echo ==; cat /proc/net/dev")
	parts := strings.Split(out, "==\n")
	if len(parts) != 3 {
		t.Fatalf("unexpected output:\n%s", out)
	}
	env, mounts, netdev := parts[0], parts[1], parts[2]
	for _, absent := range []string{"DISPLAY=", "XAUTHORITY=", "PULSE_SERVER=", "DBUS_SESSION_BUS_ADDRESS="} {
		if strings.Contains(env, absent) {
			t.Errorf("x11/audio/dbus off, but env has %s", absent)
		}
	}
	for _, want := range []string{"GREETING=hello world\n", "EDITOR=vi\n", "HOME=/home/alice\n"} {
		if !strings.Contains(env, want) {
			t.Errorf("env lacks %q", want)
		}
	}
	for _, absent := range []string{"/tmp/.X11-unix", "/run/nspawn-tray/pulse", "/var/lib/nspawn-tray/homes"} {
		if strings.Contains(mounts, absent) {
			t.Errorf("mount %s present though its resource is off", absent)
		}
	}
	// network = "none": only loopback.
	for _, line := range strings.Split(netdev, "\n")[2:] {
		if f := strings.Fields(line); len(f) > 0 && f[0] != "lo:" {
			t.Errorf("network none, but interface %s exists", f[0])
		}
	}
}

func TestPersistentHomeIsTheUsers(t *testing.T) {
	stamp := time.Now().Format(time.RFC3339Nano)
	shell(t, "shell", "echo '"+stamp+"' > $HOME/stamp")
	if got := shell(t, "shell", "cat $HOME/stamp"); strings.TrimSpace(got) != stamp {
		t.Errorf("second launch reads %q from the home, want %q", got, stamp)
	}
	// On the host, it is alice's file in a directory only she can enter,
	// under root-owned parents she cannot rename.
	stat := mustRun(t, "root", "stat", "-c", "%U %a %n", "/var/lib/nspawn-tray/homes", "/var/lib/nspawn-tray/homes/1000",
		"/var/lib/nspawn-tray/homes/1000/shell", "/var/lib/nspawn-tray/homes/1000/shell/stamp")
	want := "root 755 /var/lib/nspawn-tray/homes\nroot 755 /var/lib/nspawn-tray/homes/1000\nalice 700 /var/lib/nspawn-tray/homes/1000/shell\nalice 644 /var/lib/nspawn-tray/homes/1000/shell/stamp\n"
	if stat != want {
		t.Errorf("homes on the host:\n%s\nwant:\n%s", stat, want)
	}
	// home = false: an empty home each time.
	shell(t, "shell-bare", "echo x > $HOME/stamp")
	if got := shell(t, "shell-bare", "ls -A $HOME"); strings.TrimSpace(got) != "" {
		t.Errorf("home = false kept %q", got)
	}
}

func TestSeveralInstancesOfOneApp(t *testing.T) {
	a := launch(t, "alice", "sleeper")
	b := launch(t, "alice", "sleeper")
	if a == b || !machineListed(t, a) || !machineListed(t, b) {
		t.Fatalf("two instances %s and %s are not both running", a, b)
	}
	mustRun(t, "alice", "nspawn-tray", "stop", a)
	mustRun(t, "alice", "nspawn-tray", "stop", b)
	waitGone(t, a)
	waitGone(t, b)
}

func TestImageMissingIsOneLine(t *testing.T) {
	r := inHost(t, "alice", "", "nspawn-tray", "launch", "ghost")
	want := "nspawn-tray: image \"nosuchimage\" of app \"ghost\" is missing: no directory /var/lib/machines/nosuchimage and no raw image /var/lib/machines/nosuchimage.raw\n"
	if r.code != 1 || r.stderr != want {
		t.Errorf("exit %d stderr %q\nwant exit 1 stderr %q", r.code, r.stderr, want)
	}
}

// Wayland: a session with a wayland socket gets it bound (by fd, like the
// others). The test host has no compositor; xdg-dbus-proxy provides a real
// listening socket at the name.
func TestWaylandSocketIsBound(t *testing.T) {
	mustRun(t, "alice", "systemd-run", "--user", "--quiet", "--collect", "--unit=fake-wayland",
		"xdg-dbus-proxy", "unix:path=/run/user/1000/bus", "/run/user/1000/wayland-7")
	t.Cleanup(func() {
		inHost(t, "alice", "", "systemctl", "--user", "stop", "fake-wayland")
		inHost(t, "alice", "", "rm", "-f", "/run/user/1000/wayland-7")
	})
	eventually(t, 5*time.Second, func() string {
		if inHost(t, "alice", "", "test", "-S", "/run/user/1000/wayland-7").code != 0 {
			return "no socket /run/user/1000/wayland-7"
		}
		return ""
	})
	out := shell(t, "shell", "env; cat /proc/self/mountinfo", "WAYLAND_DISPLAY=wayland-7")
	if !strings.Contains(out, "WAYLAND_DISPLAY=/run/nspawn-tray/wayland/wayland-7\n") || !strings.Contains(out, " /run/nspawn-tray/wayland/wayland-7 ") {
		t.Errorf("wayland socket not bound:\n%s", out)
	}
	if r := inHost(t, "alice", "", "env", "WAYLAND_DISPLAY=wayland-8", "nspawn-tray", "launch", "--wait", "shell", "--", "true"); r.code != 1 || !strings.Contains(r.stderr, "Wayland display wayland-8") {
		t.Errorf("missing wayland socket: exit %d, stderr %q", r.code, r.stderr)
	}
}

// The daemon asks polkit for interaction only when the call allowed it.
func TestInteractiveAuthorizationOnlyWhenAllowed(t *testing.T) {
	call := func(allow string) result {
		return inHost(t, "mallory", "", "busctl", "--allow-interactive-authorization="+allow, "call",
			"io.github.nspawn_tray.Launcher1", "/io/github/nspawn_tray/Launcher1", "io.github.nspawn_tray.Launcher1",
			"Launch", "sa{sv}", "sleeper", "0")
	}
	if r := call("no"); r.code == 0 || !strings.Contains(r.stderr, "needs authentication, and the call did not allow it") {
		t.Errorf("without the flag: exit %d, stderr %q; want interactive-authorization-required", r.code, r.stderr)
	}
	if r := call("yes"); r.code == 0 || !strings.Contains(r.stderr, "Access denied") {
		t.Errorf("with the flag and no agent: exit %d, stderr %q; want access denied", r.code, r.stderr)
	}
}
