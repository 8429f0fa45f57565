//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// listMachines calls machined's ListMachines over the system bus as user and
// returns the machine names.
func listMachines(t testing.TB, user string) []string {
	t.Helper()
	out := mustRun(t, user, "busctl", "--json=short", "call", "org.freedesktop.machine1", "/org/freedesktop/machine1",
		"org.freedesktop.machine1.Manager", "ListMachines")
	// a(ssso): name, class, service, object path.
	var reply struct {
		Type string
		Data [][][]any
	}
	if err := json.Unmarshal([]byte(out), &reply); err != nil {
		t.Fatalf("ListMachines reply %q: %v", out, err)
	}
	if reply.Type != "a(ssso)" || len(reply.Data) != 1 {
		t.Fatalf("ListMachines reply has type %q, want a(ssso): %s", reply.Type, out)
	}
	var names []string
	for _, m := range reply.Data[0] {
		names = append(names, m[0].(string))
	}
	return names
}

func TestMachinedAnswersListMachines(t *testing.T) {
	for _, user := range []string{"root", "alice", "mallory"} {
		// Everyone may list; the test host itself is registered as ".host".
		if names := listMachines(t, user); !contains(names, ".host") {
			t.Errorf("ListMachines as %s: %v, want .host among them", user, names)
		}
	}
}

// An unprivileged user must not be able to start an nspawn (or anything) as a
// system unit: that is why nspawn-tray has a privileged service of its own.
func TestAliceCannotStartTransientUnit(t *testing.T) {
	unit := fmt.Sprintf("e2e-evil-%d.service", time.Now().UnixNano())
	r := inHost(t, "alice", "", "busctl", "call", "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
		"org.freedesktop.systemd1.Manager", "StartTransientUnit", "ssa(sv)a(sa(sv))", unit, "fail",
		"1", "ExecStart", "a(sasb)", "1", "/usr/bin/touch", "2", "/usr/bin/touch", "/etc/e2e-evil", "false", "0")
	if r.code == 0 {
		t.Fatalf("alice started %s: %s", unit, r.stdout)
	}
	if !strings.Contains(r.stderr, "Interactive authentication required") && !strings.Contains(r.stderr, "Access denied") {
		t.Errorf("refusal is %q, want polkit's interactive-authentication-required", strings.TrimSpace(r.stderr))
	}
	if inHost(t, "root", "", "test", "-e", "/etc/e2e-evil").code == 0 {
		t.Fatalf("/etc/e2e-evil exists: the unit ran")
	}
	// polkit itself took the decision (and logged it, thanks to the test host's rules).
	eventually(t, 5*time.Second, func() string {
		log := mustRun(t, "root", "journalctl", "-u", "polkit.service", "-o", "cat", "--no-pager")
		if strings.Contains(log, "testhost-decision action=org.freedesktop.systemd1.manage-units user=alice") {
			return ""
		}
		return "polkit logged no manage-units decision for alice:\n" + lastLines(log, 10)
	})
}

func TestNestedProbeContainerShowsInMachinectl(t *testing.T) {
	name := fmt.Sprintf("e2e-probe-%d", time.Now().UnixNano()%1e6)
	mustRun(t, "root", "systemd-run", "--quiet", "--collect", "--unit="+name, "-p", "Slice=machine.slice", "-p", "Delegate=yes",
		"-p", "KillMode=mixed", "--", "systemd-nspawn", "--quiet", "--read-only", "--private-users=identity",
		"-D", "/var/lib/machines/probe", "-M", name, "/usr/bin/sleep", "120")
	t.Cleanup(func() { inHost(t, "root", "", "machinectl", "terminate", name) })

	eventually(t, 10*time.Second, func() string {
		out := mustRun(t, "root", "machinectl", "list", "--no-legend")
		if strings.Contains(out, name) {
			return ""
		}
		return "machinectl list lacks " + name + ":\n" + out
	})
	status := mustRun(t, "root", "machinectl", "show", name, "-p", "Class", "-p", "RootDirectory", "-p", "State")
	for _, want := range []string{"Class=container", "RootDirectory=/var/lib/machines/probe"} {
		if !strings.Contains(status, want) {
			t.Errorf("machinectl show %s lacks %s:\n%s", name, want, status)
		}
	}
	mustRun(t, "root", "machinectl", "terminate", name)
	eventually(t, 10*time.Second, func() string {
		if out := mustRun(t, "root", "machinectl", "list", "--no-legend"); strings.Contains(out, name) {
			return name + " still listed after terminate:\n" + out
		}
		return ""
	})
}

func TestProbeImageReportsWhatItSees(t *testing.T) {
	out := mustRun(t, "root", "systemd-nspawn", "--quiet", "--read-only", "--private-users=identity", "--register=no",
		"-D", "/var/lib/machines/probe", "--pipe", "--", "/usr/bin/probe")
	for _, section := range []string{"== id", "uid=0(root)", "== status", "CapEff:", "NoNewPrivs:", "== uid_map",
		"== mountinfo", "== env", "container=systemd-nspawn"} {
		if !strings.Contains(out, section) {
			t.Errorf("probe output lacks %q:\n%s", section, out)
		}
	}
	// identity mapping: uid 0 inside is uid 0 outside, over the first 65536.
	if !strings.Contains(out, "== uid_map\n         0          0      65536\n") {
		t.Errorf("uid_map is not the identity map:\n%s", out)
	}
}

func TestXappsImageHasItsTools(t *testing.T) {
	for _, f := range []string{"/usr/bin/xeyes", "/usr/bin/xwininfo", "/usr/bin/pactl", "/usr/bin/dbus-send", "/usr/bin/xterm"} {
		if inHost(t, "root", "", "test", "-x", "/var/lib/machines/xapps"+f).code != 0 {
			t.Errorf("xapps image lacks %s", f)
		}
	}
	// At least one application entry of its own, and the icon it names.
	desktop := mustRun(t, "root", "sh", "-c", "cat /var/lib/machines/xapps/usr/share/applications/*.desktop")
	var icon string
	for _, line := range strings.Split(desktop, "\n") {
		if v, ok := strings.CutPrefix(line, "Icon="); ok {
			icon = v
			break
		}
	}
	if icon == "" {
		t.Fatalf("no Icon= in the xapps image's desktop files:\n%s", desktop)
	}
	found := mustRun(t, "root", "find", "/var/lib/machines/xapps/usr/share/icons", "/var/lib/machines/xapps/usr/share/pixmaps",
		"-name", icon+".*")
	if strings.TrimSpace(found) == "" {
		t.Errorf("the image names Icon=%s but ships no file for it", icon)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
