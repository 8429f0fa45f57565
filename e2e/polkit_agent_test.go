//go:build e2e

package e2e

import (
	"bytes"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// A real polkit prompt: pkttyagent (polkitd's text authentication agent)
// registered for a user's session asks on a terminal for an
// administrator's password when nspawn-tray or machined ask polkit with
// interaction allowed. The test host gets an administrator for it: polkit's
// administrators on Debian are the members of group sudo.

const (
	e2eAdmin      = "e2e-admin"
	adminPassword = "right-password"
	agentDir      = "/usr/local/lib/nspawn-tray-e2e"
)

// agentScript runs CMD as USER in a login session of its own, on the
// terminal it was started on (su --pty: su -c would leave the command
// without one, and pkttyagent asks on /dev/tty).
const agentScript = `#!/bin/sh
# e2e-agent USER [--process PID] -- CMD...: CMD as USER in a login session
# of its own, with pkttyagent registered as USER's authentication agent (for
# CMD, or for process PID). AGENT-READY is printed once it is registered.
user=$1
shift
# "--": what follows is the inner script's, options too (--process).
exec su -l --pty -s /bin/sh -c 'exec ` + agentDir + `/agent-inner "$@"' -- "$user" agent-inner "$@"
`

// agentInner is the user's side.
const agentInner = `#!/bin/sh
for_process=
if [ "$1" = --process ]; then
	for_process="--process $2"
	shift 2
fi
[ "$1" = -- ] && shift
fifo=$(mktemp -u /tmp/e2e-agent.XXXXXX)
mkfifo "$fifo"
# Without --process pkttyagent is the agent of its parent: this shell,
# which becomes CMD (exec) below.
pkttyagent $for_process --notify-fd 3 3>"$fifo" &
agent=$!
# pkttyagent closes the descriptor once it is registered.
cat "$fifo" >/dev/null
rm -f "$fifo"
if ! kill -0 "$agent" 2>/dev/null; then
	echo AGENT-FAILED
	exit 99
fi
echo AGENT-READY
# The agent goes with the terminal when CMD and the session end.
exec "$@"
`

// withAdmin gives the test host an administrator with a password and the
// agent scripts, until the test ends.
func withAdmin(t *testing.T) {
	t.Helper()
	setup := fmt.Sprintf(`set -e
mkdir -p %[1]s
cat > %[1]s/e2e-agent <<'EOF1'
%[2]sEOF1
cat > %[1]s/agent-inner <<'EOF2'
%[3]sEOF2
chmod 0755 %[1]s/e2e-agent %[1]s/agent-inner
id %[4]s >/dev/null 2>&1 || useradd --create-home --groups sudo --shell /bin/bash %[4]s
echo '%[4]s:%[5]s' | chpasswd
`, agentDir, agentScript, agentInner, e2eAdmin, adminPassword)
	if r := inHost(t, "root", setup, "sh", "-s"); r.code != 0 {
		t.Fatalf("setting up the administrator: %s%s", r.stdout, r.stderr)
	}
	t.Cleanup(func() {
		inHost(t, "root", "", "userdel", "--remove", e2eAdmin)
		inHost(t, "root", "", "rm", "-rf", agentDir)
	})
}

// terminal is a command running on a pseudo-terminal (script) in the test
// host, whose output the test reads and whose input it types.
type terminal struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	mu    sync.Mutex
	out   bytes.Buffer
	done  chan struct{}
	code  int
}

// onTerminal starts argv (words without quotes or "$") as root on a
// terminal of its own in the test host.
func onTerminal(t *testing.T, argv ...string) *terminal {
	t.Helper()
	line := "'" + strings.Join(argv, "' '") + "'"
	cmd := exec.Command(filepath.Join(repoRoot(t), "testhost", "run"), "--", "script", "-qfec", line, "/dev/null")
	term := &terminal{cmd: cmd, done: make(chan struct{})}
	var err error
	if term.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = term, term
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := cmd.Wait()
		term.mu.Lock()
		if ee, ok := err.(*exec.ExitError); ok {
			term.code = ee.ExitCode()
		} else if err != nil {
			term.code = -1
		}
		term.mu.Unlock()
		close(term.done)
	}()
	t.Cleanup(func() {
		term.stdin.Close()
		select {
		case <-term.done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
		}
	})
	return term
}

// Write keeps what the terminal shows, without its carriage returns.
func (term *terminal) Write(p []byte) (int, error) {
	term.mu.Lock()
	defer term.mu.Unlock()
	term.out.Write(bytes.ReplaceAll(p, []byte("\r"), nil))
	return len(p), nil
}

func (term *terminal) output() string {
	term.mu.Lock()
	defer term.mu.Unlock()
	return term.out.String()
}

// waitFor waits until the terminal has shown s; on failure it shows
// polkitd's last words too.
func (term *terminal) waitFor(t *testing.T, s string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(term.output(), s) {
		if time.Now().After(deadline) {
			log := inHost(t, "root", "", "journalctl", "-u", "polkit", "-n", "12", "-o", "cat", "--no-pager").stdout
			t.Fatalf("after %v the terminal has not shown %q:\n%s\npolkitd's log:\n%s", within, s, term.output(), log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// answer types password at pkttyagent's prompt once it shows.
func (term *terminal) answer(t *testing.T, password string) {
	t.Helper()
	term.waitFor(t, "Password:", 30*time.Second)
	// pkttyagent turns echo off after printing the prompt, flushing what
	// was typed before.
	time.Sleep(300 * time.Millisecond)
	if _, err := io.WriteString(term.stdin, password+"\n"); err != nil {
		t.Fatal(err)
	}
}

// end waits for the command to end and returns what it showed and its
// status.
func (term *terminal) end(t *testing.T, within time.Duration) (string, int) {
	t.Helper()
	select {
	case <-term.done:
	case <-time.After(within):
		t.Fatalf("the command on the terminal did not end within %v:\n%s", within, term.output())
	}
	term.mu.Lock()
	defer term.mu.Unlock()
	return term.out.String(), term.code
}

// mallory is not in group nspawn-tray: her launch asks polkit with
// interaction allowed, and her session's agent asks for an administrator's
// password. The right one starts the app; a wrong one is refused, and both
// the agent and nspawn-tray say so.
func TestPolkitAgentAsksForMallorysLaunch(t *testing.T) {
	withAdmin(t)
	for _, tc := range []struct {
		password string
		code     int
		want     []string
	}{
		{"wrong-password", 1, []string{"==== AUTHENTICATION FAILED ====",
			"nspawn-tray: not authorized to launch status: ask an administrator to add you to the nspawn-tray group (usermod -aG nspawn-tray mallory), then log in again"}},
		{adminPassword, 3, []string{"==== AUTHENTICATION COMPLETE ====", "to-stdout", "args=3"}},
	} {
		t.Run(tc.password, func(t *testing.T) {
			term := onTerminal(t, agentDir+"/e2e-agent", "mallory", "--", "nspawn-tray", "launch", "--wait", "status", "--", "3")
			term.waitFor(t, "AGENT-READY", 30*time.Second)
			term.waitFor(t, "AUTHENTICATING FOR io.github.nspawn-tray.launch", 60*time.Second)
			term.waitFor(t, "Authenticating as: "+e2eAdmin, 5*time.Second)
			term.answer(t, tc.password)
			out, code := term.end(t, 60*time.Second)
			if code != tc.code {
				t.Errorf("exit status %d, want %d:\n%s", code, tc.code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("the terminal lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// A machine nspawn-tray did not start is stopped from the tray through
// machined, which asks polkit (org.freedesktop.machine1.manage-machines:
// an administrator) with interaction allowed: the agent registered for the
// tray asks for the password. A wrong one leaves the machine running and
// the tray says it could not stop it; the right one stops it.
func TestPolkitAgentAsksForTheTraysForeignStop(t *testing.T) {
	withAdmin(t)
	name := startTray(t)
	pid := strings.TrimSpace(mustRun(t, "alice", "systemctl", "--user", "show", "-P", "MainPID", trayUnit))
	foreign := fmt.Sprintf("e2e-agent-%d", time.Now().UnixNano()%1e6)
	mustRun(t, "root", "systemd-run", "--quiet", "--collect", "--unit="+foreign, "-p", "Slice=machine.slice", "-p", "KillMode=mixed",
		"--", "systemd-nspawn", "--quiet", "--read-only", "-D", "/var/lib/machines/probe", "-M", foreign, "/usr/bin/sleep", "300")
	t.Cleanup(func() { inHost(t, "root", "", "machinectl", "terminate", foreign) })
	waitMenu(t, name, 10*time.Second, hasLabel(foreign+" (not nspawn-tray)"))
	trayLog := func() string {
		return mustRun(t, "alice", "journalctl", "--user", "-u", trayUnit, "-o", "cat", "--no-pager")
	}

	// While the machine runs, the agent waits (at most wait seconds).
	agent := func(wait string) *terminal {
		term := onTerminal(t, agentDir+"/e2e-agent", "alice", "--process", pid, "--",
			"timeout", wait, "sh", "-c", "while machinectl status "+foreign+" >/dev/null 2>&1; do sleep 0.2; done")
		term.waitFor(t, "AGENT-READY", 30*time.Second)
		return term
	}
	stop := func() {
		entry, ok := layout(t, name).find(foreign)
		if !ok || len(entry.Children) == 0 || entry.Children[0].Label != "Stop" {
			t.Fatalf("no Stop entry for %s: %+v", foreign, entry)
		}
		click(t, name, entry.Children[0].ID)
	}

	// First a wrong password: polkit would keep a right one for a while.
	term := agent("8")
	stop()
	term.waitFor(t, "AUTHENTICATING FOR org.freedesktop.machine1.manage-machines", 30*time.Second)
	term.answer(t, "wrong-password")
	term.waitFor(t, "==== AUTHENTICATION FAILED ====", 30*time.Second)
	eventually(t, 10*time.Second, func() string {
		if strings.Contains(trayLog(), "Could not stop "+foreign) {
			return ""
		}
		return "the tray did not report the refused stop"
	})
	if !machineListed(t, foreign) {
		t.Fatalf("%s stopped after a wrong password", foreign)
	}
	if out, code := term.end(t, 30*time.Second); code != 124 {
		t.Errorf("the agent's command ended %d, want 124 (timeout: the machine still ran):\n%s", code, out)
	}

	term = agent("30")
	stop()
	term.waitFor(t, "AUTHENTICATING FOR org.freedesktop.machine1.manage-machines", 30*time.Second)
	term.answer(t, adminPassword)
	out, code := term.end(t, 40*time.Second)
	if code != 0 || !strings.Contains(out, "==== AUTHENTICATION COMPLETE ====") {
		t.Errorf("exit status %d, want 0 (the machine gone):\n%s", code, out)
	}
	waitGone(t, foreign)
	waitMenu(t, name, 10*time.Second, lacksLabel(foreign))
}
