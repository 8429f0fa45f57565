//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The bootable image "tiny" (testhost/bootable): Debian minbase with
// systemd, dbus and tiny.service, booted by systemd's own template.

const (
	tinyUnit  = "systemd-nspawn@tiny.service"
	tinyWants = "/etc/systemd/system/machines.target.wants/" + tinyUnit
	// rulePath is where an administrator puts the example rule.
	rulePath = "/etc/polkit-1/rules.d/60-nspawn-tray-machines.rules"
)

// tinyState is "running" once the machine's tiny.service is active, as
// its own systemd says, else what is known.
func tinyState(t *testing.T) string {
	t.Helper()
	if !machineListed(t, "tiny") {
		return "not in machinectl list"
	}
	r := inHost(t, "root", "", "systemctl", "-M", "tiny", "is-active", "tiny.service")
	if strings.TrimSpace(r.stdout) != "active" {
		return "tiny.service inside is " + strings.TrimSpace(r.stdout+r.stderr)
	}
	return "running"
}

func waitTinyRunning(t *testing.T, within time.Duration) {
	t.Helper()
	eventually(t, within, func() string {
		if s := tinyState(t); s != "running" {
			return "tiny: " + s
		}
		return ""
	})
}

func waitTinyStopped(t *testing.T) {
	t.Helper()
	eventually(t, 30*time.Second, func() string {
		if machineListed(t, "tiny") {
			return "tiny is still in machinectl list"
		}
		if s := strings.TrimSpace(inHost(t, "root", "", "systemctl", "is-active", tinyUnit).stdout); s != "inactive" {
			return tinyUnit + " is " + s
		}
		return ""
	})
}

// resetTiny leaves tiny stopped and disabled, as the test host starts.
func resetTiny(t testing.TB) {
	inHost(t, "root", "", "machinectl", "poweroff", "tiny")
	inHost(t, "root", "", "systemctl", "stop", tinyUnit)
	inHost(t, "root", "", "systemctl", "reset-failed", tinyUnit)
	inHost(t, "root", "", "machinectl", "disable", "tiny")
}

// installRule puts the example rule in place for machine tiny, with alice
// in its group, until the test ends.
func installRule(t testing.TB) {
	t.Helper()
	rule, err := os.ReadFile(filepath.Join(repoRoot(t), "packaging", "60-nspawn-tray-machines.rules.example"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(rule), `var MACHINES = ["network-manager"];`, `var MACHINES = ["tiny"];`, 1)
	if text == string(rule) {
		t.Fatal("the example rule has no MACHINES list to edit")
	}
	if r := inHost(t, "root", text, "sh", "-c", "cat > "+rulePath); r.code != 0 {
		t.Fatalf("install the rule: %s", r.stderr)
	}
	mustRun(t, "root", "usermod", "-aG", "nspawn-tray-machines", "alice")
	// A member from her next login: newer polkit (Debian 13's) reads the
	// calling process's groups, not the group database (tray/bootwire.go).
	reloginAlice(t)
	t.Cleanup(func() {
		inHost(t, "root", "", "rm", "-f", rulePath)
		inHost(t, "root", "", "gpasswd", "-d", "alice", "nspawn-tray-machines")
	})
	// polkitd reads rules.d through inotify: wait until it has.
	eventually(t, 10*time.Second, func() string {
		log := mustRun(t, "root", "journalctl", "-u", "polkit", "-o", "cat", "--no-pager", "-n", "20")
		if strings.Contains(log, "Finished loading") {
			return ""
		}
		return "polkitd did not reload its rules"
	})
}

// trayEntry is the node of the Machines entry of tiny, and its child
// labelled child.
func trayEntry(t *testing.T, m menuNode, child string) menuNode {
	t.Helper()
	entry, ok := m.find("tiny — ")
	if !ok {
		t.Fatalf("no tiny in the menu %q", m.labels())
	}
	for _, c := range entry.Children {
		if c.Label == child {
			return c
		}
	}
	t.Fatalf("tiny's entry has no %q: %+v", child, entry)
	return menuNode{}
}

func trayLog(t *testing.T) string {
	return mustRun(t, "alice", "journalctl", "--user", "-u", trayUnit, "-o", "cat", "--no-pager")
}

func waitTrayLog(t *testing.T, what string) {
	t.Helper()
	eventually(t, 20*time.Second, func() string {
		if strings.Contains(trayLog(t), what) {
			return ""
		}
		return "no " + what + " in the tray's log:\n" + lastLines(trayLog(t), 5)
	})
}

// With the example rule, alice boots tiny from the tray, sees it run with
// its numbers, stops it; Start at boot still needs an administrator, and
// with one's rights it links and unlinks the machine under machines.target.
func TestMachinesFromTheTrayWithTheExampleRule(t *testing.T) {
	resetTiny(t)
	t.Cleanup(func() { resetTiny(t) })
	installRule(t)
	name := startTray(t)
	m := waitMenu(t, name, 10*time.Second, hasLabel("tiny — stopped"))
	if _, ok := m.find("Starting and stopping needs"); ok {
		t.Errorf("alice, in group nspawn-tray-machines, is told she needs an administrator: %q", m.labels())
	}
	for _, app := range []string{"probe", "xapps"} {
		if _, ok := m.find(app + " — "); ok {
			t.Errorf("the image %s of apps is offered as a machine", app)
		}
	}

	start := time.Now()
	click(t, name, trayEntry(t, m, "Start").ID)
	waitTinyRunning(t, 60*time.Second)
	t.Logf("click to tiny.service active: %v", time.Since(start))
	if !strings.Contains(mustRun(t, "root", "machinectl", "list", "--no-legend"), "tiny ") {
		t.Error("tiny is not in machinectl list")
	}
	// Uptime, memory and CPU in its label; the menu is rebuilt when it
	// opens (the panel's "opened" event) and every minute.
	var label string
	eventually(t, 10*time.Second, func() string {
		mustRun(t, "alice", "busctl", "--user", "call", "--", name, "/StatusNotifierItem/menu", "com.canonical.dbusmenu",
			"Event", "isvu", "0", "opened", "i", "0", "0")
		n, ok := layout(t, name).find("tiny — running")
		label = n.Label
		if ok && strings.Contains(label, "CPU ") && strings.Count(label, ",") == 2 {
			return ""
		}
		return "tiny's label is " + label
	})
	t.Logf("menu: %s", label)
	st := mustRun(t, "alice", "nspawn-tray", "machine", "status", "tiny")
	for _, want := range []string{"State: running", "Leader: ", "OS: Debian GNU/Linux", "Memory: ", "CPU: ", "Tasks: ", "Settings: none"} {
		if !strings.Contains(st, want) {
			t.Errorf("machine status lacks %q:\n%s", want, st)
		}
	}

	m = layout(t, name)
	click(t, name, trayEntry(t, m, "Stop").ID)
	waitTinyStopped(t)
	waitMenu(t, name, 10*time.Second, hasLabel("tiny — stopped"))

	// Start at boot: manage-unit-files names no unit, so the example rule
	// does not grant it, and alice is told.
	click(t, name, trayEntry(t, layout(t, name), "Start at boot").ID)
	waitTrayLog(t, "Could not change Start at boot of tiny")
	if inHost(t, "root", "", "test", "-L", tinyWants).code == 0 {
		t.Fatal("alice enabled tiny without an administrator")
	}
	// With an administrator's rights (a rule standing for the password an
	// agent would ask), the same click links it, and the next unlinks it.
	admin := "polkit.addRule(function(action, subject) {\n" +
		"  if ((action.id == \"org.freedesktop.systemd1.manage-unit-files\" || action.id == \"org.freedesktop.systemd1.reload-daemon\") && subject.user == \"alice\") return polkit.Result.YES;\n});\n"
	mustRun(t, "root", "sh", "-c", "printf '%s' \"$1\" > /etc/polkit-1/rules.d/61-e2e-admin.rules", "sh", admin)
	t.Cleanup(func() { inHost(t, "root", "", "rm", "-f", "/etc/polkit-1/rules.d/61-e2e-admin.rules") })
	eventually(t, 20*time.Second, func() string {
		click(t, name, trayEntry(t, layout(t, name), "Start at boot").ID)
		if waitFor(10*time.Second, func() bool { return inHost(t, "root", "", "test", "-L", tinyWants).code == 0 }) {
			return ""
		}
		return "no " + tinyWants + " after a click on Start at boot"
	})
	waitMenu(t, name, 10*time.Second, hasLabel("tiny — stopped"))
	click(t, name, trayEntry(t, layout(t, name), "Start at boot").ID)
	eventually(t, 20*time.Second, func() string {
		if inHost(t, "root", "", "test", "-L", tinyWants).code == 0 {
			return tinyWants + " is still there"
		}
		return ""
	})
}

// waitFor polls cond until it holds or within passes.
func waitFor(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// Without the rule, alice's menu says it takes an administrator; with no
// password agent in the test host, her click comes back refused, and she
// is told why.
func TestMachinesWithoutTheRuleNeedAnAdministrator(t *testing.T) {
	resetTiny(t)
	t.Cleanup(func() { resetTiny(t) })
	name := startTray(t)
	m := waitMenu(t, name, 10*time.Second, hasLabel("Starting and stopping needs an administrator"))
	click(t, name, trayEntry(t, m, "Start").ID)
	waitTrayLog(t, "Could not start tiny")
	if !strings.Contains(trayLog(t), "not authorized: it needs an administrator's password") {
		t.Errorf("the refusal does not say why:\n%s", lastLines(trayLog(t), 5))
	}
	if machineListed(t, "tiny") {
		t.Fatal("alice booted tiny without the rule")
	}
	r := inHost(t, "alice", "", "nspawn-tray", "machine", "start", "tiny")
	if r.code != 1 || !strings.HasPrefix(r.stderr, "nspawn-tray: not authorized to start tiny: it needs an administrator's password") ||
		strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("machine start as alice: %d %q", r.code, r.stderr)
	}
	// mallory may not stop what root started, either.
	mustRun(t, "root", "nspawn-tray", "machine", "start", "tiny")
	waitTinyRunning(t, 60*time.Second)
	if r := inHost(t, "mallory", "", "nspawn-tray", "machine", "stop", "tiny"); r.code != 1 || !strings.Contains(r.stderr, "not authorized to stop tiny") {
		t.Errorf("machine stop as mallory: %d %q", r.code, r.stderr)
	}
	if tinyState(t) != "running" {
		t.Error("mallory's refused stop stopped tiny")
	}
}

// An enabled machine comes up by itself when the test host boots again.
func TestEnabledMachineStartsAtBoot(t *testing.T) {
	resetTiny(t)
	t.Cleanup(func() { resetTiny(t) })
	out := mustRun(t, "root", "nspawn-tray", "machine", "enable", "tiny")
	if !strings.Contains(out, "Created symlink "+tinyWants) || !strings.Contains(out, "tiny has no .nspawn file") {
		t.Errorf("machine enable printed:\n%s", out)
	}
	// alice cannot look into /var/lib/machines: whether tiny boots is
	// unknown to her.
	list := mustRun(t, "alice", "nspawn-tray", "machine", "list")
	found := false
	for _, line := range strings.Split(list, "\n") {
		if f := strings.Fields(line); len(f) >= 4 && f[0] == "tiny" {
			found = f[1] == "stopped" && f[2] == "unknown" && f[3] == "yes"
		}
	}
	if !found {
		t.Errorf("machine list as alice, want tiny stopped, unknown, yes:\n%s", list)
	}
	reboot := exec.Command(filepath.Join(repoRoot(t), "testhost", "reboot"))
	if out, err := reboot.CombinedOutput(); err != nil {
		t.Fatalf("testhost/reboot: %v\n%s", err, out)
	}
	waitTinyRunning(t, 60*time.Second)
	if s := strings.TrimSpace(mustRun(t, "root", "systemctl", "show", "-P", "ActiveState", tinyUnit)); s != "active" {
		t.Errorf("%s is %s after the boot", tinyUnit, s)
	}
	out = mustRun(t, "root", "nspawn-tray", "machine", "disable", "tiny")
	if !strings.Contains(out, "Removed "+tinyWants) {
		t.Errorf("machine disable printed:\n%s", out)
	}
}

// BenchmarkTinyBootTrayVsMachinectl times tiny from "start" to its
// tiny.service active, through the tray (alice's click, with the example
// rule) and with `machinectl start tiny` as root, alternating, and reports
// the medians and their ratio. Both trigger with one testhost/run and wait
// with another that polls inside the host every 10 ms:
//
//	go test -tags e2e -run '^$' -bench TinyBoot -benchtime 10x ./e2e/
func BenchmarkTinyBootTrayVsMachinectl(b *testing.B) {
	resetTiny(b)
	b.Cleanup(func() { resetTiny(b) })
	installRule(b)
	name := startTray(b)
	waitUp := func() {
		mustRun(b, "root", "sh", "-c", "until systemctl -M tiny is-active -q tiny.service 2>/dev/null; do sleep 0.01; done")
	}
	stop := func() {
		mustRun(b, "root", "sh", "-c", "machinectl poweroff tiny; while systemctl is-active -q "+tinyUnit+"; do sleep 0.01; done")
	}
	var tray, mctl []time.Duration
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		mustRun(b, "root", "machinectl", "start", "tiny")
		waitUp()
		mctl = append(mctl, time.Since(t0))
		stop()

		m := waitMenu(b, name, 10*time.Second, hasLabel("tiny — stopped"))
		entry, _ := m.find("tiny — ")
		t0 = time.Now()
		click(b, name, entry.Children[0].ID) // Start
		waitUp()
		tray = append(tray, time.Since(t0))
		stop()
	}
	med := func(ds []time.Duration) time.Duration {
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	b.ReportMetric(float64(med(tray).Milliseconds()), "tray-ms")
	b.ReportMetric(float64(med(mctl).Milliseconds()), "machinectl-ms")
	b.ReportMetric(float64(med(tray))/float64(med(mctl)), "ratio")
}
