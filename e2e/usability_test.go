//go:build e2e

package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// What users hit with the first release (issue 16): each test here failed
// against it.

// probeApp is a definition on the probe image without session resources.
func probeApp(name string, exec ...string) string {
	q := make([]string, len(exec))
	for i, e := range exec {
		q[i] = strconv.Quote(e)
	}
	return fmt.Sprintf("name = %q\nimage = \"probe\"\nexec = [%s]\nx11 = \"none\"\naudio = false\ndbus = []\n", name, strings.Join(q, ", "))
}

// Every argument and every exec element reaches the app byte for byte:
// systemd expands $VAR and ${VAR} in ExecStart, and the first version gave
// the app "$", "a$b", "/home/alice", nothing (the argument vanished) and
// "xy" for these.
func TestArgumentsReachTheAppByteForByte(t *testing.T) {
	args := []string{"$$", "a$$b", "${HOME}", "$HOME", "x${container}y", "$(id)", "`id`", "%h", "%%", `\`, `' "`, ";", "* ?", "$", ""}
	var want strings.Builder
	for _, a := range args {
		want.WriteString("[" + a + "]\n")
	}
	r := atkRun(t, "alice", append([]string{"nspawn-tray", "launch", "--wait", "shell", "--", `printf '[%s]\n' "$@"`, "sh"}, args...)...)
	if r.code != 0 || r.stdout != want.String() {
		t.Errorf("launch args: exit %d, stderr %q, app got:\n%s\nwant:\n%s", r.code, r.stderr, r.stdout, want.String())
	}

	// The same in a definition's exec, which the first version rewrote too.
	atkInstallApp(t, "e2edollar", probeApp("Dollars", append([]string{"/bin/sh", "-c", `printf '[%s]\n' "$0" "$@"`}, args...)...), "root", "0644")
	r = atkRun(t, "alice", "nspawn-tray", "launch", "--wait", "e2edollar")
	if r.code != 0 || r.stdout != want.String() {
		t.Errorf("exec in a definition: exit %d, stderr %q, app got:\n%s\nwant:\n%s", r.code, r.stderr, r.stdout, want.String())
	}
}

// A launch that cannot start fails, with the reason on one line, and
// leaves nothing behind; the first version printed a machine name and
// exited 0, and the reason was only in the system journal.
func TestLaunchThatCannotStartFails(t *testing.T) {
	for _, tc := range []struct {
		id   string
		exec []string
		want string
	}{
		{"e2enofile", []string{"/usr/bin/doesnotexist"}, `nspawn-tray: app "e2enofile": cannot run /usr/bin/doesnotexist: no such file or directory` + "\n"},
		{"e2enopath", []string{"doesnotexist"}, `nspawn-tray: app "e2enopath": cannot run doesnotexist: executable not found in PATH (PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)` + "\n"},
		{"e2eshellstr", []string{"/bin/echo hello"}, `nspawn-tray: app "e2eshellstr": cannot run /bin/echo hello: no such file or directory (exec is an argv list, not a shell string: ["/bin/echo", "hello"])` + "\n"},
		{"e2enotexec", []string{"/etc/passwd"}, `nspawn-tray: app "e2enotexec": cannot run /etc/passwd: permission denied` + "\n"},
	} {
		atkInstallApp(t, tc.id, probeApp("Cannot start", tc.exec...), "root", "0644")
		for _, wait := range []bool{false, true} {
			argv := []string{"nspawn-tray", "launch", tc.id}
			if wait {
				argv = []string{"nspawn-tray", "launch", "--wait", tc.id}
			}
			before := atkState(t)
			r := atkRun(t, "alice", argv...)
			if r.code != 1 || r.stdout != "" || r.stderr != tc.want {
				t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 1 and %q", argv, r.code, r.stdout, r.stderr, tc.want)
			}
			eventually(t, 10*time.Second, func() string {
				for k := range atkState(t) {
					if !before[k] && strings.HasPrefix(k, tc.id+"-") {
						return "left behind: " + k
					}
				}
				return ""
			})
		}
	}
}

// A display the X server will not let the user use is the launch's error,
// with the server's reason: the first version started the app, which died
// with "cannot open display", and reported success.
func TestLaunchWithARefusedDisplayFails(t *testing.T) {
	before := atkState(t)
	r := atkRun(t, "alice", "env", "XAUTHORITY=/nonexistent", "nspawn-tray", "launch", "xeyes")
	want := regexp.MustCompile(`^nspawn-tray: X11 display :0: refused the connection: .+ \(your XAUTHORITY has no cookie for it\)\n$`)
	if r.code != 1 || r.stdout != "" || !want.MatchString(r.stderr) {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and %s", r.code, r.stdout, r.stderr, want)
	}
	atkNothingNew(t, before, "a refused display", "xeyes")
}

// launch --wait keeps waiting across a daemon restart (a package upgrade)
// and exits with the app's status; the first version died with "Message
// recipient disconnected from message bus without replying".
func TestWaitSurvivesADaemonRestart(t *testing.T) {
	done := make(chan result, 1)
	go func() {
		done <- inHost(t, "alice", "", "nspawn-tray", "launch", "--wait", "shell", "--", "sleep 4; echo done; exit 7")
	}()
	eventually(t, 20*time.Second, func() string {
		for _, p := range ps(t, "alice") {
			if p.App == "shell" {
				return ""
			}
		}
		return "the shell instance does not run"
	})
	mustRun(t, "root", "systemctl", "restart", "nspawn-tray-daemon.service")
	select {
	case r := <-done:
		if r.code != 7 || r.stdout != "done\n" || r.stderr != "" {
			t.Errorf("exit %d, stdout %q, stderr %q; want 7, \"done\" and nothing", r.code, r.stdout, r.stderr)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("launch --wait did not return")
	}
}

// Ctrl-C on launch --wait stops the app, like a foreground program.
func TestCtrlCStopsAWaitedApp(t *testing.T) {
	const script = `import json, signal, subprocess, sys, time
p = subprocess.Popen(["nspawn-tray", "launch", "--wait", "sleeper"], stderr=subprocess.PIPE, text=True)
def mine():
    out = subprocess.run(["nspawn-tray", "ps", "--json"], capture_output=True, text=True).stdout
    return [i["machine"] for i in json.loads(out) if i["app"] == "sleeper" and i["uid"] == 1000]
deadline = time.time() + 20
while not mine() and time.time() < deadline:
    time.sleep(0.1)
m = mine()
p.send_signal(signal.SIGINT)
err = p.communicate(timeout=30)[1]
print(p.returncode, m, file=sys.stderr)
print("status", p.returncode)
print(err, end="")
deadline = time.time() + 20
while mine() and time.time() < deadline:
    time.sleep(0.1)
print("left:", mine())
`
	r := atkRun(t, "alice", "python3", "-c", script)
	// 130 like a shell's interrupted job; nspawn says how the container
	// ended, on the same terminal.
	want := regexp.MustCompile(`^status 130\nnspawn-tray launch: stopping (sleeper-[0-9a-f]{8})\n(Container sleeper-[0-9a-f]{8} terminated by signal KILL\.\n)?left: \[\]\n$`)
	if r.code != 0 || !want.MatchString(r.stdout) {
		t.Errorf("exit %d, output %q (%s); want %s", r.code, r.stdout, r.stderr, want)
	}
}

// The app's output is the user's to read: logs shows it, for a machine or
// the latest instance of an app, and follows a running one until it ends.
func TestLogsShowTheAppsOutput(t *testing.T) {
	marker := fmt.Sprintf("e2e-marker-%d", rand.Uint32())
	m := strings.TrimSpace(mustRun(t, "alice", "nspawn-tray", "launch", "status", "--", marker))
	waitGone(t, m)
	for _, target := range []string{m, "status"} {
		r := inHost(t, "alice", "", "nspawn-tray", "logs", target)
		if r.code != 0 || !strings.Contains(r.stdout, "args="+marker) || !strings.Contains(r.stdout, "to-stderr") {
			t.Errorf("logs %s: exit %d, stderr %q, stdout:\n%s\nwant the app's output", target, r.code, r.stderr, r.stdout)
		}
	}
	r := inHost(t, "mallory", "", "nspawn-tray", "logs", m)
	if want := "nspawn-tray: " + m + " is another user's instance: only an administrator may read its log\n"; r.code != 1 || r.stdout != "" || r.stderr != want {
		t.Errorf("mallory: exit %d, stdout %q, stderr %q; want %q", r.code, r.stdout, r.stderr, want)
	}

	// -f follows a running instance, live, and ends with it.
	f := launch(t, "alice", "shell", "echo first-"+marker+"; sleep 3; echo second-"+marker+"; exec sleep 600")
	t.Cleanup(func() { inHost(t, "alice", "", "rm", "-f", "/home/alice/e2e-follow.log") })
	done := make(chan result, 1)
	go func() {
		done <- inHost(t, "alice", "", "sh", "-c", `nspawn-tray logs -f "$1" > ~/e2e-follow.log; echo "exit $?"`, "sh", f)
	}()
	eventually(t, 20*time.Second, func() string {
		if !strings.Contains(inHost(t, "alice", "", "cat", "/home/alice/e2e-follow.log").stdout, "second-"+marker) {
			return "the second line has not come through logs -f"
		}
		return ""
	})
	mustRun(t, "alice", "nspawn-tray", "stop", f)
	select {
	case r := <-done:
		if r.stdout != "exit 0\n" {
			t.Errorf("logs -f: %q, stderr %q", r.stdout, r.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("logs -f did not end with the instance")
	}
}

// One validation: what launch refuses, apps and sync refuse too, with the
// same words. The first version listed these as valid and wrote their
// menu entries.
func TestInvalidDefinitionsAreInvalidEverywhere(t *testing.T) {
	def := probeApp("Loose", "/bin/true")
	for _, tc := range []struct {
		id, owner, mode, problem string
	}{
		{"e2eloose", "root", "0666", "mode 0666 is group- or world-writable"},
		{"e2eusers", "alice", "0644", "owned by uid 1000, must be owned by root"},
	} {
		path := atkInstallApp(t, tc.id, def, tc.owner, tc.mode)
		line := fmt.Sprintf("app %q has an invalid definition: %s: %s", tc.id, path, tc.problem)
		r := inHost(t, "alice", "", "nspawn-tray", "apps")
		if r.code != 1 || !strings.Contains(r.stderr, "nspawn-tray: "+line+"\n") || strings.Contains(r.stdout, tc.id) {
			t.Errorf("apps: exit %d, stderr %q, stdout:\n%s\nwant %q and the app not listed", r.code, r.stderr, r.stdout, line)
		}
		r = inHost(t, "alice", "", "nspawn-tray", "launch", tc.id)
		if r.code != 1 || !strings.HasPrefix(r.stderr, "nspawn-tray: "+line) {
			t.Errorf("launch: exit %d, stderr %q; want %q", r.code, r.stderr, line)
		}
		r = inHost(t, "alice", "", "nspawn-tray", "sync")
		if !strings.Contains(r.stderr, line) {
			t.Errorf("sync: stderr %q; want %q", r.stderr, line)
		}
		if out := mustRun(t, "alice", "sh", "-c", `grep -l "X-NspawnTray-App=`+tc.id+`$" ~/.local/share/applications/*.desktop || true`); out != "" {
			t.Errorf("sync wrote an entry for %s: %s", tc.id, out)
		}
	}
}

func TestBlankNameIsAnError(t *testing.T) {
	path := atkInstallApp(t, "e2eblank", strings.Replace(probeApp("x", "/bin/true"), `name = "x"`, `name = "   "`, 1), "root", "0644")
	r := inHost(t, "alice", "", "nspawn-tray", "apps")
	want := `nspawn-tray: app "e2eblank" has an invalid definition: ` + path + `:1: invalid name "   ": only white space` + "\n"
	if r.code != 1 || !strings.Contains(r.stderr, want) {
		t.Errorf("apps: exit %d, stderr %q; want %q", r.code, r.stderr, want)
	}
}

// The command line says what a user needs to know.
func TestCommandLineHelpsTheUser(t *testing.T) {
	for _, tc := range []struct {
		user   string
		script string
		code   int
		want   string // a regexp for stdout+stderr
	}{
		{"alice", "nspawn-tray stop sleeper", 2, `^nspawn-tray stop: "sleeper" is an app, not an instance: 'nspawn-tray stop --app sleeper' stops yours \(see 'nspawn-tray stop --help'\)\n$`},
		{"alice", "nspawn-tray stop --app sleeper", 0, `^nspawn-tray stop: none of your instances is of "sleeper": nothing to stop\n$`},
		{"alice", "nspawn-tray launch sleepr", 1, `^nspawn-tray: unknown app "sleepr" \(did you mean "sleeper"\?\)\n$`},
		{"alice", `echo typed-in | nspawn-tray launch --wait shell -- 'read x; echo "got $x"'`, 0, `^got typed-in\n$`},
		{"alice", "nspawn-tray ps | head -1", 0, `^MACHINE +APP +NAME +UID +SINCE +UNIT\n$`},
		{"alice", "nspawn-tray logs --help", 0, `-f, --follow`},
	} {
		r := atkSh(t, tc.user, tc.script+" 2>&1")
		if r.code != tc.code || !regexp.MustCompile(tc.want).MatchString(r.stdout) {
			t.Errorf("%s: %q: exit %d, output %q; want %d and %s", tc.user, tc.script, r.code, r.stdout, tc.code, tc.want)
		}
	}

	// Mallory is told it takes an administrator, not to join the group.
	m := launch(t, "alice", "sleeper")
	r := inHost(t, "mallory", "", "nspawn-tray", "stop", m)
	if want := "nspawn-tray: " + m + " is another user's instance: only an administrator may stop it\n"; r.code != 1 || r.stderr != want {
		t.Errorf("mallory stops alice's: exit %d, stderr %q; want %q", r.code, r.stderr, want)
	}
	// ps shows the unit the README tells people to give journalctl -u.
	if out := mustRun(t, "alice", "nspawn-tray", "ps"); !strings.Contains(out, "nspawn-tray-"+m+".service") {
		t.Errorf("ps does not show the unit of %s:\n%s", m, out)
	}
}

// A second definition on the same image's desktop file does not take over
// the first one's entry; the two are told apart by name. The first version
// moved xterm to nspawn-tray-xterm.desktop and gave debian-xterm.desktop to
// the new app, both named "XTerm".
func TestNewDefinitionKeepsOthersEntries(t *testing.T) {
	const apps = "/home/alice/.local/share/applications/"
	mustRun(t, "alice", "nspawn-tray", "sync")
	before := mustRun(t, "alice", "cat", apps+"debian-xterm.desktop")
	t.Cleanup(func() { inHost(t, "alice", "", "nspawn-tray", "sync") })
	atkInstallApp(t, "xterm-offline", "name = \"Terminal (container)\"\nimage = \"xapps\"\nexec = [\"/usr/bin/xterm\"]\nnetwork = \"none\"\n", "root", "0644")
	out := mustRun(t, "alice", "nspawn-tray", "sync")
	if after := mustRun(t, "alice", "cat", apps+"debian-xterm.desktop"); after != before {
		t.Errorf("xterm's entry changed:\n%s\nwas:\n%s", after, before)
	}
	entry := mustRun(t, "alice", "cat", apps+"nspawn-tray-xterm-offline.desktop")
	if field(entry, "Name") != "Terminal (container) (xterm-offline)" || field(entry, "X-NspawnTray-App") != "xterm-offline" {
		t.Errorf("the new app's entry:\n%s", entry)
	}
	if !strings.Contains(out, "1 entry written") {
		t.Errorf("sync said %q, want \"1 entry written\"", out)
	}
}

// One app, one machine per user: a second launch starts the program in the
// running machine (single-instance apps get their "new window" request
// there), the hostname is the app's, not the random machine name, so a
// profile locked by hostname opens again after an unclean exit; and
// --new-instance still makes a machine of its own. The first version
// started a machine per launch: Chromium was locked out of its profile
// ("in use by another Chromium process on another computer") after one
// unclean exit.
func TestSecondLaunchJoinsTheFirstMachine(t *testing.T) {
	atkInstallApp(t, "e2ejoin", probeApp("Join", "/bin/sh", "-c"), "root", "0644")
	home := "/var/lib/nspawn-tray/homes/1000/e2ejoin"
	first := launch(t, "alice", "e2ejoin", `echo "first $(hostname)" > ~/first; exec sleep 600`)
	second := launch(t, "alice", "e2ejoin", `echo "second $(hostname) $(cat /proc/1/comm)" > ~/second; ps > ~/ps`)
	if second != first {
		t.Fatalf("second launch made %s beside %s", second, first)
	}
	eventually(t, 10*time.Second, func() string {
		if got := inHost(t, "root", "", "cat", home+"/second").stdout; got != "second e2ejoin (sd-stubinit)\n" {
			return "second launch wrote " + strconv.Quote(got)
		}
		return ""
	})
	if got := mustRun(t, "root", "cat", home+"/first"); got != "first e2ejoin\n" {
		t.Errorf("the first launch's hostname: %q", got)
	}
	if ps := mustRun(t, "root", "cat", home+"/ps"); !strings.Contains(ps, "sleep 600") {
		t.Errorf("the second program did not run beside the first:\n%s", ps)
	}
	n := 0
	for _, p := range ps(t, "alice") {
		if p.App == "e2ejoin" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d e2ejoin instances, want 1", n)
	}
	// Killed uncleanly, then launched again: a fresh machine, same hostname.
	mustRun(t, "root", "machinectl", "kill", "--signal=KILL", first)
	waitGone(t, first)
	third := launch(t, "alice", "e2ejoin", `echo "third $(hostname)" > ~/third`)
	if third == first {
		t.Errorf("joined a machine that is gone")
	}
	eventually(t, 10*time.Second, func() string {
		if got := inHost(t, "root", "", "cat", home+"/third").stdout; got != "third e2ejoin\n" {
			return "third launch wrote " + strconv.Quote(got)
		}
		return ""
	})
	// --new-instance: a machine of its own beside the running one.
	running := launch(t, "alice", "e2ejoin", "exec sleep 600")
	r := inHost(t, "alice", "", "nspawn-tray", "launch", "--new-instance", "e2ejoin", "--", "exec sleep 600")
	if m := strings.TrimSpace(r.stdout); r.code != 0 || m == running || m == "" {
		t.Errorf("--new-instance: exit %d, %q", r.code, r.stdout)
	} else {
		t.Cleanup(func() { inHost(t, "root", "", "machinectl", "terminate", m) })
	}
}

// An app may own the names that are its own (a definition's own list, its
// reverse-DNS desktop file id, its MPRIS name), and no other: a
// single-instance app that cannot own its name quits, taking that for
// "another instance runs" (FeatherPad did, behind the first version's
// filter).
func TestAppOwnsItsOwnBusNames(t *testing.T) {
	def := `name = "Owner"
image = "xapps"
exec = ["dbus-send", "--session", "--print-reply", "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus.RequestName"]
x11 = "none"
audio = false
mpris = true
own = ["org.example.E2EOwner"]
`
	atkInstallApp(t, "e2eowner", def, "root", "0644")
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"org.example.E2EOwner", true},
		{"org.mpris.MediaPlayer2.e2eowner", true},
		{"org.example.NotMine", false},
		{"org.mpris.MediaPlayer2.firefox", false},
		{"org.freedesktop.Notifications", false},
	} {
		r := atkRun(t, "alice", "nspawn-tray", "launch", "--wait", "e2eowner", "--", "string:"+tc.name, "uint32:4")
		owned := r.code == 0 && strings.Contains(r.stdout, "uint32 1")
		if owned != tc.ok {
			t.Errorf("RequestName %s: exit %d, stdout %q, stderr %q; want owned=%v", tc.name, r.code, r.stdout, r.stderr, tc.ok)
		}
	}
}

// share = ["downloads"]: a file the app saves in ~/Downloads is in the
// user's Downloads on the host; nothing else of her home is visible.
func TestShareGivesTheAppTheUsersDownloads(t *testing.T) {
	mustRun(t, "alice", "mkdir", "-p", "/home/alice/Downloads")
	t.Cleanup(func() { inHost(t, "alice", "", "rm", "-f", "/home/alice/Downloads/from-the-app") })
	def := strings.Replace(probeApp("Saver", "/bin/sh", "-c"), "dbus = []", "dbus = []\nshare = [\"downloads\"]", 1)
	atkInstallApp(t, "e2eshare", def, "root", "0644")
	r := atkRun(t, "alice", "nspawn-tray", "launch", "--wait", "e2eshare", "--",
		`echo saved > ~/Downloads/from-the-app && ls -A ~ && test ! -e ~/.Xauthority && test ! -e ~/.bashrc`)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if got := mustRun(t, "alice", "cat", "/home/alice/Downloads/from-the-app"); got != "saved\n" {
		t.Errorf("the host's Downloads holds %q", got)
	}
	if owner := mustRun(t, "root", "stat", "-c", "%U", "/home/alice/Downloads/from-the-app"); owner != "alice\n" {
		t.Errorf("the file is %s's", owner)
	}
}

// Links leave the container for the host's browser: xdg-open in an app
// that may use the portal is nspawn-tray's, and hands http(s) and mailto
// links to the desktop's portal (here a stand-in that records them); a
// file: link, a path in the container, is refused.
func TestXDGOpenReachesTheHostsPortal(t *testing.T) {
	startFakePortal(t)
	def := strings.Replace(probeApp("Linker", "/bin/sh", "-c"), "dbus = []", `dbus = ["org.freedesktop.portal.Desktop"]`, 1)
	atkInstallApp(t, "e2elinks", def, "root", "0644")
	r := atkRun(t, "alice", "nspawn-tray", "launch", "--wait", "e2elinks", "--",
		`command -v xdg-open && xdg-open 'https://example.org/e2e?a=$HOME' && ! xdg-open file:///etc/passwd 2>/dev/null && ! xdg-open 'javascript:x' 2>/dev/null`)
	if r.code != 0 || r.stdout != "/usr/local/bin/xdg-open\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	eventually(t, 5*time.Second, func() string {
		if got := inHost(t, "alice", "", "cat", "/home/alice/portal.log").stdout; got != "https://example.org/e2e?a=$HOME\n" {
			return "the portal got " + strconv.Quote(got)
		}
		return ""
	})
}

// startFakePortal runs the stand-in for the desktop's portal on alice's
// bus (e2e/fakeportal) until the test ends; it writes each URI it is asked
// to open to the file whose path it returns.
func startFakePortal(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(hostRoot(t, nil), "usr/local/bin/e2e-fake-portal")
	build := exec.Command("go", "build", "-tags", "e2e", "-o", bin, "./fakeportal")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the fake portal: %v\n%s", err, out)
	}
	const log = "/home/alice/portal.log"
	t.Cleanup(func() {
		inHost(t, "alice", "", "systemctl", "--user", "stop", "e2e-fake-portal")
		inHost(t, "root", "", "rm", "-f", "/usr/local/bin/e2e-fake-portal", log)
	})
	mustRun(t, "alice", "systemd-run", "--user", "--quiet", "--unit=e2e-fake-portal", "/usr/local/bin/e2e-fake-portal", log)
	eventually(t, 10*time.Second, func() string {
		if inHost(t, "alice", "", "busctl", "--user", "status", "org.freedesktop.portal.Desktop").code != 0 {
			return "the fake portal is not on alice's bus"
		}
		return ""
	})
	return log
}
