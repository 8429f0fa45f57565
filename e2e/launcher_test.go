//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"image"
	"regexp"
	"strings"
	"testing"
	"time"
)

// launch runs `nspawn-tray launch APP` as user and returns the machine name.
func launch(t *testing.T, user, app string, args ...string) string {
	t.Helper()
	argv := []string{"nspawn-tray", "launch", app}
	if len(args) > 0 {
		argv = append(append(argv, "--"), args...)
	}
	machine := strings.TrimSpace(mustRun(t, user, argv...))
	if !regexp.MustCompile(`^` + app + `-[0-9a-f]{8}$`).MatchString(machine) {
		t.Fatalf("launch %s printed %q, want a machine name", app, machine)
	}
	t.Cleanup(func() { inHost(t, "root", "", "machinectl", "terminate", machine) })
	return machine
}

func machineListed(t *testing.T, machine string) bool {
	t.Helper()
	return strings.Contains(mustRun(t, "root", "machinectl", "list", "--no-legend"), machine+" ")
}

func waitGone(t *testing.T, machine string) {
	t.Helper()
	eventually(t, 10*time.Second, func() string {
		if machineListed(t, machine) {
			return machine + " is still in machinectl list"
		}
		if inHost(t, "root", "", "test", "-e", "/run/nspawn-tray/instances/"+machine).code == 0 {
			return "the staging dir of " + machine + " is still there"
		}
		return ""
	})
}

type psEntry struct {
	Machine string    `json:"machine"`
	App     string    `json:"app"`
	UID     uint32    `json:"uid"`
	Since   time.Time `json:"since"`
}

func ps(t *testing.T, user string) []psEntry {
	t.Helper()
	var out []psEntry
	if err := json.Unmarshal([]byte(mustRun(t, user, "nspawn-tray", "ps", "--json")), &out); err != nil {
		t.Fatalf("ps --json: %v", err)
	}
	return out
}

func TestAliceLaunchesProbeAsHerself(t *testing.T) {
	r := inHost(t, "alice", "", "nspawn-tray", "launch", "--wait", "probe")
	if r.code != 0 {
		t.Fatalf("launch --wait probe: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	out := r.stdout
	for _, want := range []string{
		"uid=1000(alice) gid=1000(alice)\n", "Groups:\t \n",
		"CapInh:\t0000000000000000\n", "CapPrm:\t0000000000000000\n", "CapEff:\t0000000000000000\n",
		"CapAmb:\t0000000000000000\n", "NoNewPrivs:\t1\n",
		"== uid_map\n         0          0      65536\n",
		"HOME=/home/alice\n", "DISPLAY=:0\n", "XAUTHORITY=/run/nspawn-tray/xauthority\n",
		// The audio filter's socket, in the instance's runtime dir: never
		// the sound server's own.
		"PULSE_SERVER=unix:/run/user/1000/pulse/native\n",
		"DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("probe output lacks %q", want)
		}
	}
	// Only the expected mounts: nothing of the host's session but the
	// staged sockets and files, and never a whole session directory
	// (host_look's fonts are the host's system dirs, read-only, at
	// /run/host, and a fontconfig file of the staging dir).
	mounts := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 5 && regexp.MustCompile(`^\d+$`).MatchString(f[0]) {
			mounts[f[4]] = true
		}
	}
	for _, want := range []string{"/", "/tmp/.X11-unix/X0", "/run/nspawn-tray/xauthority",
		"/run/nspawn-tray/exec", "/etc/passwd", "/etc/group", "/home/alice", "/run/user/1000"} {
		if !mounts[want] {
			t.Errorf("no mount at %s", want)
		}
	}
	for _, unwanted := range []string{"/run/nspawn-tray/pulse/native", "/run/user/1000/pulse/native"} {
		if mounts[unwanted] {
			t.Errorf("the sound server's socket is bound at %s", unwanted)
		}
	}
	allowed := regexp.MustCompile(`^(/|/tmp|/tmp/\.X11-unix/X0|/run|/run/nspawn-tray/.*|/run/user/1000|/home|/home/alice|/etc/(passwd|group|resolv\.conf|hostname|hosts|localtime|machine-id)|/etc/fonts/conf\.d/99-nspawn-tray-host-fonts\.conf|/proc(/.*)?|/sys(/.*)?|/dev(/.*)?|/run/host(/.*)?|/run/systemd(/.*)?|/usr/share/zoneinfo.*)$`)
	for m := range mounts {
		if !allowed.MatchString(m) {
			t.Errorf("unexpected mount at %s", m)
		}
	}
}

func TestWaitPassesOutputAndStatus(t *testing.T) {
	r := inHost(t, "alice", "", "nspawn-tray", "launch", "--wait", "status", "--", "42", "two words")
	if r.code != 42 {
		t.Errorf("exit %d, want 42 (stderr %q)", r.code, r.stderr)
	}
	if r.stdout != "to-stdout\nargs=42 two words\n" || !strings.Contains(r.stderr, "to-stderr") {
		t.Errorf("stdout %q stderr %q", r.stdout, r.stderr)
	}
	if r := inHost(t, "alice", "", "nspawn-tray", "launch", "--wait", "status"); r.code != 0 {
		t.Errorf("exit %d, want 0", r.code)
	}
}

// Wait answers from the instance unit's end (its main process, before the
// ExecStopPost), following the unit with a match rule for the call's time:
// many waits leave the daemon with the match rules it had, and a Wait
// after the cleanup answers from the record.
func TestWaitsLeaveNoMatchRules(t *testing.T) {
	script := `set -e
name=$(busctl call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus GetNameOwner s io.github.nspawn_tray.Launcher1 | cut -d'"' -f2)
rules() { busctl call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus.Debug.Stats GetConnectionStats s "$name" | grep -o '"MatchRules" u [0-9]*' | cut -d' ' -f3; }
before=$(rules)
for i in $(seq 20); do
	runuser -u alice -- nspawn-tray launch --wait status -- 3 >/dev/null 2>&1 || [ $? = 3 ]
done
sleep 0.5
now=$(busctl call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus GetNameOwner s io.github.nspawn_tray.Launcher1 | cut -d'"' -f2)
echo "$name $now $before $(rules)"
`
	// The daemon must be up (and stay: each launch is a call) for its
	// connection's numbers.
	mustRun(t, "alice", "nspawn-tray", "launch", "--wait", "status")
	out := strings.Fields(mustRun(t, "root", "sh", "-c", script))
	if len(out) != 4 {
		t.Fatalf("script said %q", out)
	}
	if out[0] != out[1] {
		t.Skipf("the daemon restarted during the loop (%s, then %s)", out[0], out[1])
	}
	if out[2] != out[3] {
		t.Errorf("the daemon's match rules went from %s to %s over 20 waited launches", out[2], out[3])
	}
}

func TestLaunchListStop(t *testing.T) {
	machine := launch(t, "alice", "sleeper")
	if !machineListed(t, machine) {
		t.Fatalf("%s not in machinectl list right after launch returned", machine)
	}
	var found *psEntry
	for _, e := range ps(t, "mallory") {
		if e.Machine == machine {
			found = &e
		}
	}
	if found == nil || found.App != "sleeper" || found.UID != 1000 || time.Since(found.Since) > time.Minute {
		t.Fatalf("ps lacks %s as sleeper of uid 1000: %+v", machine, found)
	}
	if table := mustRun(t, "alice", "nspawn-tray", "ps"); !strings.Contains(table, machine) || !strings.HasPrefix(table, "MACHINE") {
		t.Errorf("ps table:\n%s", table)
	}

	// mallory may not stop alice's app.
	r := inHost(t, "mallory", "", "nspawn-tray", "stop", machine)
	if r.code != 1 || r.stderr != "nspawn-tray: "+machine+" is another user's instance: only an administrator may stop it\n" {
		t.Errorf("mallory stop: exit %d, stderr %q; want a refusal", r.code, r.stderr)
	}
	// Nor through machined directly, nor systemd.
	r = inHost(t, "alice", "", "busctl", "call", "org.freedesktop.machine1", "/org/freedesktop/machine1",
		"org.freedesktop.machine1.Manager", "TerminateMachine", "s", machine)
	if r.code == 0 {
		t.Errorf("alice terminated %s through machined directly", machine)
	}
	if !machineListed(t, machine) {
		t.Fatalf("%s is gone after refused stops", machine)
	}
	mustRun(t, "alice", "nspawn-tray", "stop", machine)
	waitGone(t, machine)
}

func TestMalloryIsRefused(t *testing.T) {
	before := mustRun(t, "root", "machinectl", "list", "--no-legend")
	r := inHost(t, "mallory", "", "nspawn-tray", "launch", "sleeper")
	if r.code != 1 {
		t.Fatalf("mallory launch: exit %d, want 1", r.code)
	}
	want := "nspawn-tray: not authorized to launch sleeper: ask an administrator to add you to the nspawn-tray group (usermod -aG nspawn-tray mallory), then log in again\n"
	if r.stderr != want {
		t.Errorf("stderr %q\nwant   %q", r.stderr, want)
	}
	if after := mustRun(t, "root", "machinectl", "list", "--no-legend"); after != before {
		t.Errorf("machines changed after a refused launch:\n%s", after)
	}
}

func TestClearErrors(t *testing.T) {
	tests := []struct {
		user string
		argv []string
		want string
		code int
	}{
		{"alice", []string{"nspawn-tray", "launch", "nosuchapp"}, "nspawn-tray: unknown app \"nosuchapp\" (see 'nspawn-tray apps')\n", 1},
		{"alice", []string{"nspawn-tray", "launch", "../../etc/passwd"}, "nspawn-tray: unknown app \"../../etc/passwd\" (see 'nspawn-tray apps')\n", 1},
		{"alice", []string{"nspawn-tray", "stop", "nosuch-12345678"}, "nspawn-tray: no nspawn-tray instance \"nosuch-12345678\"\n", 1},
		{"alice", []string{"env", "-u", "DISPLAY", "nspawn-tray", "launch", "xeyes"}, "nspawn-tray: app \"xeyes\" needs a display, and the session has none (DISPLAY is not set)\n", 1},
		{"alice", []string{"env", "DISPLAY=otherhost:0", "nspawn-tray", "launch", "xeyes"}, "nspawn-tray: DISPLAY=otherhost:0 is not a local display (:N); remote X is not supported\n", 1},
		{"alice", []string{"nspawn-tray", "launch"}, "nspawn-tray launch: missing APP (see 'nspawn-tray launch --help')\n", 2},
	}
	for _, tc := range tests {
		r := inHost(t, tc.user, "", tc.argv...)
		if r.code != tc.code || r.stderr != tc.want {
			t.Errorf("%v: exit %d stderr %q\nwant exit %d stderr %q", tc.argv, r.code, r.stderr, tc.code, tc.want)
		}
	}
}

func TestXClientDrawsOnAlicesDisplay(t *testing.T) {
	machine := launch(t, "alice", "xeyes", "-geometry", "200x200+900+500")
	eventually(t, 10*time.Second, func() string {
		if out := mustRun(t, "alice", "xwininfo", "-root", "-children"); !strings.Contains(out, `("xeyes" "XEyes")  200x200+900+500`) {
			return "no 200x200+900+500 xeyes window on :0:\n" + out
		}
		return ""
	})
	// And it drew: the eyes are white on the black root window.
	eventually(t, 5*time.Second, func() string {
		img := screenshot(t)
		if n := distinctColors(img, image.Rect(900, 500, 1100, 700)); n < 2 {
			return fmt.Sprintf("the xeyes window area has %d colours: nothing drawn", n)
		}
		return ""
	})
	// The client runs as alice: the X server sees her UID on the socket.
	if uid := strings.TrimSpace(mustRun(t, "root", "ps", "-o", "uid=", "-C", "xeyes")); !strings.Contains(uid, "1000") {
		t.Errorf("xeyes runs as uid %q, want 1000", uid)
	}
	mustRun(t, "alice", "nspawn-tray", "stop", machine)
	waitGone(t, machine)
}

func TestPulseAudioReachesAlicesServer(t *testing.T) {
	r := inHost(t, "alice", "", "nspawn-tray", "launch", "--wait", "pactl")
	if r.code != 0 || !strings.Contains(r.stdout, "Default Sink: testhost_null") || !strings.Contains(r.stdout, "User Name: alice") {
		t.Errorf("pactl info from inside: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

func TestSessionBusOnlyThroughTheProxy(t *testing.T) {
	ok := inHost(t, "alice", "", "nspawn-tray", "launch", "--wait", "dbus-send", "--",
		"--dest=org.freedesktop.Notifications", "/org/freedesktop/Notifications", "org.freedesktop.Notifications.GetServerInformation")
	if ok.code != 0 || !strings.Contains(ok.stdout, "method return") {
		t.Errorf("Notifications through the proxy: exit %d\n%s\n%s", ok.code, ok.stdout, ok.stderr)
	}
	bad := inHost(t, "alice", "", "nspawn-tray", "launch", "--wait", "dbus-send", "--",
		"--dest=org.freedesktop.systemd1", "/org/freedesktop/systemd1", "org.freedesktop.DBus.Peer.Ping")
	if bad.code == 0 {
		t.Errorf("systemd --user was reachable from inside:\n%s", bad.stdout)
	}
	// The user's own session bus does reach it: the refusal is the proxy's.
	mustRun(t, "alice", "dbus-send", "--session", "--print-reply", "--dest=org.freedesktop.systemd1", "/org/freedesktop/systemd1", "org.freedesktop.DBus.Peer.Ping")
}

// The bus policy lets callers reach only the launcher's own interface (and
// introspection and ping) on its name.
func TestBusPolicyAllowsOnlyTheLaunchersMethods(t *testing.T) {
	dest := []string{"busctl", "call", "io.github.nspawn_tray.Launcher1", "/io/github/nspawn_tray/Launcher1"}
	if r := inHost(t, "mallory", "", append(dest, "org.freedesktop.DBus.Peer", "Ping")...); r.code != 0 {
		t.Errorf("Ping refused: %s", r.stderr)
	}
	r := inHost(t, "mallory", "", append(dest, "org.freedesktop.DBus.Properties", "GetAll", "s", "io.github.nspawn_tray.Launcher1")...)
	if r.code == 0 || !strings.Contains(r.stderr, "Access denied") {
		t.Errorf("Properties.GetAll: exit %d, stderr %q; want the bus to deny it", r.code, r.stderr)
	}
}

// The daemon is started by D-Bus on demand and exits after 30 s without
// calls; the next call starts it again.
func TestDaemonExitsWhenIdle(t *testing.T) {
	mustRun(t, "alice", "nspawn-tray", "ps")
	if state := strings.TrimSpace(inHost(t, "root", "", "systemctl", "is-active", "nspawn-tray-daemon.service").stdout); state != "active" {
		t.Fatalf("daemon %s right after a call, want active", state)
	}
	eventually(t, 45*time.Second, func() string {
		if state := strings.TrimSpace(inHost(t, "root", "", "systemctl", "is-active", "nspawn-tray-daemon.service").stdout); state != "inactive" {
			return "daemon is " + state + ", want inactive after 30 s idle"
		}
		return ""
	})
	result := mustRun(t, "root", "systemctl", "show", "-P", "Result", "nspawn-tray-daemon.service")
	if strings.TrimSpace(result) != "success" {
		t.Errorf("the idle exit was not clean: Result=%s", result)
	}
	mustRun(t, "alice", "nspawn-tray", "ps")
}
