//go:build e2e

// Attack tests: a user in the nspawn-tray group (alice) tries to make the
// root daemon mount, read or start something it must not, by swapping her
// session's sockets for symlinks, by sending hostile names and session
// fields straight over D-Bus, and through hostile definitions and images
// (which only root can install, but the daemon must still not be fooled by
// their contents). Each test restores what it changed, even when it fails.
package e2e

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

const (
	atkBusName = "io.github.nspawn_tray.Launcher1"
	atkPath    = "/io/github/nspawn_tray/Launcher1"
	atkAppsDir = "/etc/nspawn-tray/apps.d"
)

// atkExec runs the NUL-separated argv on its stdin: testhost/run hands argv
// to systemd-run, whose ExecStart expands "$NAME" and "${NAME}" (a bare
// "$(id)" or "$1" word even vanishes), so hostile strings go on stdin.
const atkExec = `import os, sys
a = sys.stdin.buffer.read().split(bytes(1))[:-1]
os.dup2(os.open("/dev/null", os.O_RDONLY), 0)
os.execvp(a[0], a)`

// atkRun runs argv in the host as user, exactly as given.
func atkRun(t *testing.T, user string, argv ...string) result {
	t.Helper()
	var b strings.Builder
	for _, a := range argv {
		b.WriteString(a)
		b.WriteByte(0)
	}
	return inHost(t, user, b.String(), "python3", "-c", atkExec)
}

// atkState is what a launch could leave behind: registered machines and
// staging dirs.
func atkState(t *testing.T) map[string]bool {
	t.Helper()
	set := map[string]bool{}
	for _, line := range strings.Split(mustRun(t, "root", "machinectl", "list", "--no-legend"), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			set[f[0]] = true
		}
	}
	ls := inHost(t, "root", "", "ls", "-1", "/run/nspawn-tray/instances")
	for _, name := range strings.Fields(ls.stdout) {
		set[name] = true
	}
	return set
}

// atkNothingNew fails the test if a machine or staging dir of one of apps
// appeared since before, or one with a name the service would never make.
// Others are not ours: the host may be shared with other tests, and ones
// that went away (being cleaned up) are fine.
func atkNothingNew(t *testing.T, before map[string]bool, what string, apps ...string) {
	t.Helper()
	generated := regexp.MustCompile(`^([a-z0-9][a-z0-9-]*)-[0-9a-f]{8}$`)
	var added []string
	for k := range atkState(t) {
		if before[k] {
			continue
		}
		m := generated.FindStringSubmatch(k)
		if m == nil || slices.Contains(apps, m[1]) {
			added = append(added, k)
		}
	}
	if len(added) > 0 {
		sort.Strings(added)
		t.Errorf("%s: started something: %v", what, added)
	}
}

// atkOneLine reports whether s is exactly one non-empty line.
func atkOneLine(s string) bool {
	return strings.HasSuffix(s, "\n") && strings.Count(s, "\n") == 1 && len(strings.TrimSpace(s)) > 0
}

// atkSh runs a shell script in the host as user; the script's $1.. are args.
func atkSh(t *testing.T, user, script string, args ...string) result {
	t.Helper()
	return atkRun(t, user, append([]string{"/bin/sh", "-c", script, "sh"}, args...)...)
}

func atkMustSh(t *testing.T, user, script string, args ...string) string {
	t.Helper()
	r := atkSh(t, user, script, args...)
	if r.code != 0 {
		t.Fatalf("%s: %q exited %d\nstdout: %s\nstderr: %s", user, script, r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// atkInstallApp writes an app definition as root, with owner and mode, and
// removes it (and the persistent home a launch may have made) in cleanup.
func atkInstallApp(t *testing.T, id, content, owner, mode string) string {
	t.Helper()
	path := atkAppsDir + "/" + id + ".toml"
	t.Cleanup(func() {
		atkSh(t, "root", `rm -f "$1"; rm -rf "/var/lib/nspawn-tray/homes/1000/$2"`, path, id)
	})
	atkMustSh(t, "root", `test ! -e "$1" && printf '%s' "$4" > "$1" && chown "$2" "$1" && chmod "$3" "$1"`, path, owner, mode, content)
	return path
}

type atkMount struct {
	dev, root, point, fstype, source string
}

// atkMounts parses the mountinfo lines in probe output.
func atkMounts(out string) []atkMount {
	var ms []atkMount
	num := regexp.MustCompile(`^\d+$`)
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 10 || !num.MatchString(f[0]) || !num.MatchString(f[1]) {
			continue
		}
		m := atkMount{dev: f[2], root: f[3], point: f[4]}
		for i := 5; i < len(f)-2; i++ {
			if f[i] == "-" {
				m.fstype, m.source = f[i+1], f[i+2]
				break
			}
		}
		ms = append(ms, m)
	}
	return ms
}

// ---------------------------------------------------------------------------

// alice replaces her PulseAudio directory by a symlink to a root directory:
// the daemon must refuse to follow it.
func TestAttackPulseDirSymlink(t *testing.T) {
	const restore = `cd /run/user/1000 || exit 1
if [ -L pulse ]; then rm -f pulse; fi
if [ -d pulse.e2e-aside ] && [ ! -e pulse ]; then mv -T pulse.e2e-aside pulse; fi
test -S pulse/native`
	for _, target := range []string{"/etc", "/root"} {
		t.Run(strings.TrimPrefix(target, "/"), func(t *testing.T) {
			atkMustSh(t, "alice", `test -S /run/user/1000/pulse/native && test ! -L /run/user/1000/pulse && test ! -e /run/user/1000/pulse.e2e-aside`)
			t.Cleanup(func() {
				if r := atkSh(t, "alice", restore); r.code != 0 {
					t.Errorf("restoring /run/user/1000/pulse: exit %d %s", r.code, r.stderr)
				}
				if r := inHost(t, "alice", "", "pactl", "info"); r.code != 0 || !strings.Contains(r.stdout, "Default Sink: testhost_null") {
					t.Errorf("pactl info after restore: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
				}
			})
			atkMustSh(t, "alice", `cd /run/user/1000 && mv -T pulse pulse.e2e-aside && ln -s "$1" pulse`, target)
			before := atkState(t)

			r := inHost(t, "alice", "", "nspawn-tray", "launch", "--wait", "probe")
			if r.code != 1 || !atkOneLine(r.stderr) || !strings.Contains(r.stderr, "PulseAudio") || !strings.Contains(r.stderr, "symlink") {
				t.Errorf("launch with pulse -> %s: exit %d, stderr %q; want exit 1 and one line naming PulseAudio and the symlink", target, r.code, r.stderr)
			}
			// Whatever happened, nothing of target may be in the container.
			for _, m := range atkMounts(r.stdout) {
				if m.root == target || strings.HasPrefix(m.root, target+"/") || strings.HasSuffix(m.root, target) || m.point == "/run/nspawn-tray/pulse/native" {
					t.Errorf("launch with pulse -> %s mounted %+v", target, m)
				}
			}
			atkNothingNew(t, before, "launch with pulse -> "+target, "probe")
		})
	}
}

// alice replaces her X socket (hers, in the sticky /tmp/.X11-unix) by a
// symlink to a root file or directory.
func TestAttackXSocketSymlink(t *testing.T) {
	const restore = `cd /tmp/.X11-unix || exit 1
if [ -S X0.e2e-real ]; then mv -fT X0.e2e-real X0; fi
test -S X0 && test ! -L X0 && [ "$(stat -c %U X0)" = alice ]`
	for _, target := range []string{"/etc/shadow", "/root"} {
		t.Run(strings.ReplaceAll(strings.TrimPrefix(target, "/"), "/", "-"), func(t *testing.T) {
			atkMustSh(t, "alice", `test -S /tmp/.X11-unix/X0 && test ! -L /tmp/.X11-unix/X0 && test ! -e /tmp/.X11-unix/X0.e2e-real`)
			t.Cleanup(func() {
				if r := atkSh(t, "alice", restore); r.code != 0 {
					t.Errorf("restoring /tmp/.X11-unix/X0: exit %d %s", r.code, r.stderr)
				}
				if r := inHost(t, "alice", "", "xdpyinfo"); r.code != 0 || !strings.Contains(r.stdout, "name of display:    :0") {
					t.Errorf("xdpyinfo after restore: exit %d\n%s", r.code, r.stderr)
				}
				// The restored socket is the one the daemon takes again.
				r := inHost(t, "alice", "", "nspawn-tray", "launch", "--wait", "probe")
				found := false
				for _, m := range atkMounts(r.stdout) {
					found = found || m.point == "/tmp/.X11-unix/X0" && m.root == "/.X11-unix/X0"
				}
				if r.code != 0 || !found {
					t.Errorf("launch after restore: exit %d, X0 bound: %v\n%s", r.code, found, r.stderr)
				}
			})
			atkMustSh(t, "alice", `cd /tmp/.X11-unix && mv -T X0 X0.e2e-real && ln -s "$1" X0`, target)
			before := atkState(t)

			r := inHost(t, "alice", "", "nspawn-tray", "launch", "--wait", "probe")
			if r.code != 1 || !atkOneLine(r.stderr) || !strings.Contains(r.stderr, "X11") || !strings.Contains(r.stderr, "symlink") {
				t.Errorf("launch with X0 -> %s: exit %d, stderr %q; want exit 1 and one line naming X11 and the symlink", target, r.code, r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("launch with X0 -> %s ran the app:\n%s", target, r.stdout)
			}
			atkNothingNew(t, before, "launch with X0 -> "+target, "probe")
		})
	}
}

// alice swaps her PulseAudio socket and a symlink to /etc/shadow while she
// launches, in bursts as fast as she can and with random pauses between, so
// the swap lands at every step of a launch. The check and the bind are on
// one open file: every launch either binds the real socket or fails cleanly.
func TestAttackSwapLoop(t *testing.T) {
	const (
		dir      = "/run/user/1000/pulse"
		stopFile = "/run/user/1000/e2e-swap.stop"
		minRuns  = 200
		maxTime  = 50 * time.Second
	)
	// The loop ends with the real socket in place; it stops on its own
	// after 3 minutes should this process die.
	const loop = `
import os, random, sys, time
os.chdir(sys.argv[1])
stop = sys.argv[2]
n = 0
deadline = time.time() + 180
def evil():
    os.symlink('/etc/shadow', 'e2e-tmp.l')
    os.rename('e2e-tmp.l', 'native')
def real():
    os.link('native.e2e-real', 'e2e-tmp.s')
    os.rename('e2e-tmp.s', 'native')
while not os.path.exists(stop) and time.time() < deadline:
    if random.random() < 0.3:
        for _ in range(500):
            evil()
            real()
            n += 1
    evil()
    time.sleep(random.choice([0, 0.002, 0.02, 0.05]))
    real()
    n += 1
    time.sleep(random.choice([0, 0.02, 0.1, 0.2]))
print(n)
`
	const restore = `cd /run/user/1000/pulse || exit 1
if [ -S native.e2e-real ]; then
	if [ -L native ] || [ ! -S native ]; then rm -f native && ln native.e2e-real native; fi
	rm -f native.e2e-real
fi
rm -f e2e-tmp.l e2e-tmp.s "$1"
test -S native && test ! -L native`

	atkMustSh(t, "alice", `test -S /run/user/1000/pulse/native && test ! -L /run/user/1000/pulse/native && test ! -e /run/user/1000/pulse/native.e2e-real`)

	var loopOut, loopErr bytes.Buffer
	var cmd *exec.Cmd
	t.Cleanup(func() {
		if cmd != nil {
			atkSh(t, "alice", `touch "$1"`, stopFile)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("swap loop: %v\n%s", err, loopErr.String())
				}
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
				<-done
				t.Errorf("swap loop did not stop")
			}
			t.Logf("swap loop: %s swaps", strings.TrimSpace(loopOut.String()))
		}
		if r := atkSh(t, "alice", restore, stopFile); r.code != 0 {
			t.Errorf("restoring %s/native: exit %d %s", dir, r.code, r.stderr)
		}
		if r := inHost(t, "alice", "", "pactl", "info"); r.code != 0 || !strings.Contains(r.stdout, "Default Sink: testhost_null") {
			t.Errorf("pactl info after restore: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
	})
	atkMustSh(t, "alice", `rm -f "$1" && ln /run/user/1000/pulse/native /run/user/1000/pulse/native.e2e-real`, stopFile)
	cmd = exec.Command(filepath.Join(repoRoot(t), "testhost", "run"), "--user", "alice", "--", "python3", "-c", loop, dir, stopFile)
	cmd.Stdout, cmd.Stderr = &loopOut, &loopErr
	if err := cmd.Start(); err != nil {
		cmd = nil
		t.Fatalf("start swap loop: %v", err)
	}
	eventually(t, 10*time.Second, func() string {
		if atkSh(t, "alice", `test -L /run/user/1000/pulse/native || test -e /run/user/1000/pulse/e2e-tmp.l`).code != 0 {
			return "the swap loop has not started"
		}
		return ""
	})

	// How a launch may fail: the daemon's own refusal of the symlink, one
	// clean line. The daemon (root) only looks at the socket, without
	// following links; the app never gets it: the audio filter, running as
	// alice, connects to it, with alice's rights.
	symlinkErr := regexp.MustCompile(`^nspawn-tray: PulseAudio: stage: open socket /run/user/1000/pulse/native: symlink[^\n]*\n$`)

	start := time.Now()
	var ok, bySymlink int
	n := 0
	for ; n < minRuns && time.Since(start) < maxTime; n++ {
		r := inHost(t, "alice", "", "nspawn-tray", "launch", "--wait", "probe")
		if r.code != 0 {
			switch {
			case r.code != 1:
				t.Errorf("launch %d: exit %d, stderr %q; want exit 1", n, r.code, r.stderr)
			case symlinkErr.MatchString(r.stderr):
				bySymlink++
			default:
				t.Errorf("launch %d: exit %d, stderr %q; want a clean refusal", n, r.code, r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("launch %d failed but the app ran:\n%s", n, r.stdout)
			}
			continue
		}
		ok++
		if !strings.Contains(r.stdout, "uid=1000(alice)") || !strings.Contains(r.stdout, "== mountinfo\n") {
			t.Errorf("launch %d: not the probe's output:\n%s", n, r.stdout)
			continue
		}
		for _, m := range atkMounts(r.stdout) {
			if strings.Contains(m.root, "shadow") || strings.HasPrefix(m.root, "/etc") || strings.Contains(m.root, "pulse/native") {
				t.Errorf("launch %d mounted %+v", n, m)
			}
		}
		if !strings.Contains(r.stdout, "PULSE_SERVER=unix:/run/user/1000/pulse/native") {
			t.Errorf("launch %d: the app's PULSE_SERVER is not the filter's socket:\n%s", n, r.stdout)
		}
	}
	t.Logf("%d launches in %v: %d ran, %d refused the symlink", n, time.Since(start).Round(time.Millisecond), ok, bySymlink)
	// Both outcomes must have happened, or the race was not exercised.
	if bySymlink == 0 || ok == 0 {
		t.Errorf("the swaps never hit both outcomes: %d symlink refusals, %d launches", bySymlink, ok)
	}
}

// A launch with --wait whose container fails to start (here: an image
// where nspawn cannot make /run) must not leave its unit behind: each one
// would stay loaded and failed, the host "degraded", for as long as the
// daemon runs, and any group member can make as many as she likes.
func TestAttackFailedWaitLaunchesDoNotPileUp(t *testing.T) {
	const image = "/var/lib/machines/e2efail"
	var units []string
	t.Cleanup(func() {
		if len(units) > 0 {
			atkRun(t, "root", append([]string{"systemctl", "reset-failed"}, units...)...)
		}
		atkSh(t, "root", `rm -rf "$1"`, image)
	})
	atkMustSh(t, "root", `test ! -e "$1" && cp -a /var/lib/machines/probe "$1" && rm -rf "$1/run" && echo x > "$1/run"`, image)
	atkInstallApp(t, "e2efail", "name = \"Fails to start\"\nimage = \"e2efail\"\nexec = [\"/usr/bin/probe\"]\nx11 = \"none\"\naudio = false\ndbus = []\n", "root", "0644")

	lastLine := regexp.MustCompile(`(?m)^nspawn-tray: launch e2efail: app "e2efail" failed to start \(journalctl -u (nspawn-tray-e2efail-[0-9a-f]{8}\.service)\)\n\z`)
	for i := 0; i < 3; i++ {
		r := inHost(t, "alice", "", "nspawn-tray", "launch", "--wait", "e2efail")
		m := lastLine.FindStringSubmatch(r.stderr)
		if r.code != 1 || m == nil || r.stdout != "" {
			t.Fatalf("launch --wait e2efail: exit %d, stdout %q, stderr %q; want exit 1 ending in one line naming the unit", r.code, r.stdout, r.stderr)
		}
		units = append(units, m[1])
	}
	eventually(t, 5*time.Second, func() string {
		var left []string
		for _, u := range units {
			if state := strings.TrimSpace(atkRun(t, "root", "systemctl", "show", "-P", "LoadState", u).stdout); state != "not-found" {
				left = append(left, u+" ("+state+", "+strings.TrimSpace(atkRun(t, "root", "systemctl", "show", "-P", "ActiveState", u).stdout)+")")
			}
		}
		if len(left) > 0 {
			return fmt.Sprintf("units of failed --wait launches are still loaded: %v", left)
		}
		return ""
	})
}

// alice calls the daemon directly with names and session fields the client
// would never send.
func TestAttackHostileIDsAndSessionFields(t *testing.T) {
	// gdbus prints the D-Bus error name, busctl only the message: the call
	// is made with both.
	gvQuote := func(s string) string {
		return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
	}
	call := func(t *testing.T, app string, busctlDict []string, gvDict string, wantErr, wantMsg string) {
		t.Helper()
		before := atkState(t)
		argv := append([]string{"busctl", "--", "call", atkBusName, atkPath, atkBusName, "Launch", "sa{sv}", app}, busctlDict...)
		r := atkRun(t, "alice", argv...)
		if r.code == 0 || !strings.HasPrefix(r.stderr, "Call failed: ") || !atkOneLine(r.stderr) {
			t.Errorf("busctl Launch %q %v: exit %d, stdout %q, stderr %q; want a failed call", app, busctlDict, r.code, r.stdout, r.stderr)
		}
		// The daemon got the string as sent (it quotes what it refused).
		if !strings.Contains(r.stderr, wantMsg) {
			t.Errorf("busctl Launch %q %v: stderr %q lacks %q", app, busctlDict, r.stderr, wantMsg)
		}
		g := atkRun(t, "alice", "gdbus", "call", "--system", "--dest", atkBusName, "--object-path", atkPath,
			"--method", atkBusName+".Launch", gvQuote(app), gvDict)
		if g.code == 0 || !strings.Contains(g.stderr, "GDBus.Error:"+wantErr+": ") {
			t.Errorf("gdbus Launch %q %s: exit %d, stdout %q, stderr %q; want %s", app, gvDict, g.code, g.stdout, g.stderr, wantErr)
		}
		// The name a machine would get is app-xxxxxxxx, if any app: check
		// every app that exists and what app itself might be read as.
		atkNothingNew(t, before, fmt.Sprintf("Launch %q %v", app, busctlDict),
			"probe", "sleeper", "status", "xeyes", "pactl", "dbus-send", app, strings.ToLower(app), filepath.Base(app))
	}

	t.Run("ids", func(t *testing.T) {
		for _, id := range []string{"../probe", "probe;id", "$(id)", "--bind=/", strings.Repeat("a", 300), "probe/../sleeper",
			"/etc/nspawn-tray/apps.d/probe", "probe.toml", "Probe", "probe\n", ""} {
			want := fmt.Sprintf("unknown app %q", id)
			if len(id) > 64 {
				want = fmt.Sprintf("unknown app %q", id[:64]+"…")
			}
			call(t, id, []string{"1", "display", "s", ":0"}, "{'display': <':0'>}", atkBusName+".UnknownApp", want)
		}
	})

	t.Run("session", func(t *testing.T) {
		type field struct {
			busctl []string
			gv     string
			msg    string
		}
		var fields []field
		for _, d := range []string{"../../etc", ":0;id", "--bind=/", ":0 --bind=/", ":0\n", "0", ":99999", ":0.0.0", "$(id)"} {
			fields = append(fields, field{[]string{"1", "display", "s", d}, "{'display': <" + gvQuote(d) + ">}", fmt.Sprintf("display %q", d)})
		}
		for _, w := range []string{"../../../etc/shadow", "wayland-0/../../x", "/run/user/1000/wayland-0", "wayland-0\n"} {
			fields = append(fields, field{[]string{"2", "display", "s", ":0", "wayland-display", "s", w},
				"{'display': <':0'>, 'wayland-display': <" + gvQuote(w) + ">}", fmt.Sprintf("wayland display %q", w)})
		}
		fields = append(fields,
			field{[]string{"2", "display", "s", ":0", "LD_PRELOAD", "s", "/tmp/x.so"}, "{'display': <':0'>, 'LD_PRELOAD': <'/tmp/x.so'>}", `unknown session field "LD_PRELOAD"`},
			field{[]string{"1", "display", "u", "0"}, "{'display': <uint32 0>}", `session field "display": want s, got u`},
			field{[]string{"1", "wait", "s", "true"}, "{'wait': <'true'>}", `session field "wait"`},
			field{[]string{"1", "args", "s", "--bind=/"}, "{'args': <'--bind=/'>}", `session field "args"`},
			field{[]string{"2", "display", "s", ":0", "x11-cookie", "ay", "3", "1", "2", "3"}, "{'display': <':0'>, 'x11-cookie': <[byte 1, 2, 3]>}", "x11 cookie: 3 bytes"},
		)
		for _, f := range fields {
			call(t, "probe", f.busctl, f.gv, atkBusName+".InvalidArguments", f.msg)
		}
	})

	t.Run("args", func(t *testing.T) {
		// Arguments after -- are the app's argv, never nspawn options.
		r := inHost(t, "alice", "", "nspawn-tray", "launch", "--wait", "status", "--", "--bind=/:/host")
		if !strings.HasPrefix(r.stdout, "to-stdout\nargs=--bind=/:/host\n") {
			t.Errorf("status -- --bind=/:/host: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
		r = inHost(t, "alice", "", "nspawn-tray", "launch", "--wait", "status", "--", "0", "--bind=/:/host", "--", "--machine=x")
		if r.code != 0 || r.stdout != "to-stdout\nargs=0 --bind=/:/host -- --machine=x\n" {
			t.Errorf("status -- 0 --bind=/:/host -- --machine=x: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
		r = inHost(t, "alice", "", "nspawn-tray", "launch", "--wait", "probe", "--", "--bind=/:/host")
		if r.code != 0 || !strings.Contains(r.stdout, "uid=1000(alice)") {
			t.Fatalf("probe -- --bind=/:/host: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		for _, m := range atkMounts(r.stdout) {
			if m.point == "/host" || strings.HasPrefix(m.point, "/host/") {
				t.Errorf("probe -- --bind=/:/host mounted %+v", m)
			}
		}
	})
}

// Definitions are root's: the daemon refuses dangerous env and any file a
// user could have written.
func TestAttackEnvInDefinition(t *testing.T) {
	const def = "name = \"Evil\"\nimage = \"probe\"\nexec = [\"/usr/bin/probe\"]\nx11 = \"none\"\ndbus = []\n"
	tests := []struct {
		id, content, owner, mode string
		want                     []string
	}{
		{"e2eldpre", def + "env = { LD_PRELOAD = \"/tmp/x.so\" }\n", "root", "0644", []string{"LD_PRELOAD"}},
		{"e2eldlower", def + "env = { ld_library_path = \"/tmp\" }\n", "root", "0644", []string{"ld_library_path"}},
		{"e2egconv", def + "env = { GCONV_PATH = \"/tmp\" }\n", "root", "0644", []string{"GCONV_PATH"}},
		{"e2ealiceowned", def, "alice", "0644", []string{"uid 1000", "root"}},
		{"e2eworldw", def, "root", "0666", []string{"writable"}},
		{"e2egroupw", def, "root", "0664", []string{"writable"}},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			path := atkInstallApp(t, tc.id, tc.content, tc.owner, tc.mode)
			before := atkState(t)
			r := inHost(t, "alice", "", "nspawn-tray", "launch", "--wait", tc.id)
			if r.code != 1 || !atkOneLine(r.stderr) || !strings.Contains(r.stderr, path) {
				t.Errorf("launch %s: exit %d, stderr %q; want exit 1 and one line naming %s", tc.id, r.code, r.stderr, path)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("launch %s: stderr %q lacks %q", tc.id, r.stderr, w)
				}
			}
			if r.stdout != "" {
				t.Errorf("launch %s ran the app:\n%s", tc.id, r.stdout)
			}
			atkNothingNew(t, before, "launch "+tc.id, tc.id)
		})
	}
	// alice cannot put a definition there herself.
	if r := atkSh(t, "alice", `echo > /etc/nspawn-tray/apps.d/e2ealice.toml`); r.code == 0 {
		atkSh(t, "root", `rm -f /etc/nspawn-tray/apps.d/e2ealice.toml`)
		t.Errorf("alice wrote into %s", atkAppsDir)
	}
}

// An image whose /etc/passwd and /etc/group are symlinks to the host's
// shadow files: the daemon reads them inside the image, and the staged files
// land on what the links name inside the container.
func TestAttackImagePasswdSymlink(t *testing.T) {
	const image = "/var/lib/machines/e2eevilpw"
	t.Cleanup(func() { atkSh(t, "root", `rm -rf "$1"`, image) })
	atkMustSh(t, "root", `test ! -e "$1" && cp -a /var/lib/machines/probe "$1" &&
ln -sfn /etc/shadow "$1/etc/passwd" && ln -sfn /../../../etc/gshadow "$1/etc/group" && rm -f "$1/etc/shadow" "$1/etc/gshadow"`, image)
	atkInstallApp(t, "e2eevilpw", `name = "Evil passwd"
image = "e2eevilpw"
exec = ["/bin/sh", "-c", "/usr/bin/probe; for f in /etc/passwd /etc/group /etc/shadow /etc/gshadow; do echo \"== $f\"; cat $f; done"]
x11 = "none"
dbus = []
`, "root", "0644")

	secret := map[string]bool{}
	for _, f := range []string{"/etc/shadow", "/etc/gshadow"} {
		for _, line := range strings.Split(mustRun(t, "root", "cat", f), "\n") {
			if line != "" {
				secret[line] = true
			}
		}
	}
	if len(secret) == 0 {
		t.Fatal("the host's shadow files are empty")
	}

	r := inHost(t, "alice", "", "nspawn-tray", "launch", "--wait", "e2eevilpw")
	if r.code != 0 {
		// Refusing is fine, if clean.
		if r.code != 1 || !atkOneLine(r.stderr) {
			t.Errorf("launch e2eevilpw: exit %d, stderr %q; want success or one clean line", r.code, r.stderr)
		}
		t.Logf("launch e2eevilpw refused: %s", r.stderr)
	} else if !strings.Contains(r.stdout, "uid=1000(alice) gid=1000(alice)\n") {
		t.Errorf("id inside lacks uid=1000(alice):\n%s", r.stdout)
	}
	for _, line := range strings.Split(r.stdout+r.stderr, "\n") {
		if secret[line] {
			t.Errorf("a line of the host's shadow files reached the container: %q", line)
		}
	}
	shadowLine := regexp.MustCompile(`^[a-z_][a-z0-9_-]*:[^:]*:[0-9]*:[0-9]*:[0-9]*:[0-9]*:[0-9]*:[0-9]*:`)
	for _, line := range strings.Split(r.stdout, "\n") {
		if shadowLine.MatchString(line) {
			t.Errorf("a shadow-format line inside: %q", line)
		}
	}
	for _, m := range atkMounts(r.stdout) {
		if m.point == "/etc/shadow" || m.point == "/etc/gshadow" || m.point == "/etc/passwd" || m.point == "/etc/group" {
			if !strings.HasPrefix(m.root, "/nspawn-tray/instances/e2eevilpw-") {
				t.Errorf("%s is not a staged file: %+v", m.point, m)
			}
		}
	}
}

// With the product's nspawn flags but without exec-as, the payload is
// container root: it still cannot remount the binds, make devices or write
// the image.
func TestAttackContainerRootCannotEscape(t *testing.T) {
	const written = "/var/lib/machines/probe/usr/bin/probe-written"
	const stamp = "/run/e2e-container-root.stamp"
	t.Cleanup(func() { atkSh(t, "root", `rm -f "$1" "$2" /var/lib/machines/probe/tmp/sda`, written, stamp) })
	sum := func() string { return mustRun(t, "root", "sha256sum", "/usr/bin/nspawn-tray") }
	before := sum()
	atkMustSh(t, "root", `rm -f "$1" && touch "$2"`, written, stamp)

	const payload = `id
mount -o remount,rw /run/nspawn-tray/exec && echo REMOUNT-RW-OK || echo REMOUNT-RW-FAILED
mount -o remount,rw,bind /run/nspawn-tray/exec && echo REMOUNT-BIND-OK || echo REMOUNT-BIND-FAILED
echo x >> /run/nspawn-tray/exec && echo WRITE-EXEC-OK || echo WRITE-EXEC-FAILED
mknod /tmp/sda b 8 0 && echo MKNOD-BLK-OK || echo MKNOD-BLK-FAILED
mknod /tmp/mem c 1 1 && echo MKNOD-CHR-OK || echo MKNOD-CHR-FAILED
touch /usr/bin/probe-written && echo TOUCH-OK || echo TOUCH-FAILED
test -e /usr/bin/probe-written && echo TOUCH-VISIBLE
echo "EXEC-OPTS $(grep ' /run/nspawn-tray/exec ' /proc/self/mountinfo | cut -d' ' -f6)"
grep CapEff /proc/self/status`
	r := atkRun(t, "root", "systemd-nspawn", "--quiet", "--register=no", "--read-only", "--volatile=overlay",
		"--private-users=identity", "--no-new-privileges=yes", "--as-pid2",
		"--bind-ro=/usr/bin/nspawn-tray:/run/nspawn-tray/exec", "-D", "/var/lib/machines/probe", "--pipe",
		"--", "/bin/sh", "-c", payload)
	t.Logf("container root:\n%s%s", r.stdout, r.stderr)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "uid=0(root)") {
		t.Fatalf("nspawn: exit %d; want the payload to run as container root", r.code)
	}
	for _, want := range []string{"REMOUNT-RW-FAILED", "REMOUNT-BIND-FAILED", "WRITE-EXEC-FAILED", "MKNOD-BLK-FAILED", "MKNOD-CHR-FAILED"} {
		if !strings.Contains(r.stdout, want+"\n") {
			t.Errorf("payload output lacks %s", want)
		}
	}
	if !regexp.MustCompile(`\nEXEC-OPTS ro[,\n]`).MatchString(r.stdout) {
		t.Errorf("/run/nspawn-tray/exec is not mounted read-only after the attempts")
	}
	if strings.Contains(r.stdout, "CapEff:\t0000000000000000") {
		t.Errorf("container root has no capabilities at all: the test proves nothing")
	}
	if strings.Contains(r.stdout, "TOUCH-OK") && !strings.Contains(r.stdout, "TOUCH-VISIBLE") {
		t.Errorf("touch succeeded but the file is not there")
	}
	if inHost(t, "root", "", "test", "-e", written).code == 0 {
		t.Errorf("container root wrote %s into the image", written)
	}
	if changed := mustRun(t, "root", "find", "/var/lib/machines/probe", "-newer", stamp); changed != "" {
		t.Errorf("the image changed:\n%s", changed)
	}
	if after := sum(); after != before {
		t.Errorf("/usr/bin/nspawn-tray changed: %s -> %s", before, after)
	}
}
