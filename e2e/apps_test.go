//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"
)

const uxtermDef = atkAppsDir + "/debian-uxterm.toml"

// removeUXTerm drops the definitions the tests below make.
func removeUXTerm(t *testing.T) {
	t.Cleanup(func() {
		inHost(t, "root", "", "rm", "-f", uxtermDef, "/etc/polkit-1/rules.d/49-e2e-manage-apps.rules")
		inHost(t, "alice", "", "nspawn-tray", "sync")
	})
}

// From an image's own desktop entry to an app in alice's menu, without
// writing a definition by hand: root's app add.
func TestAppAddMakesAnAppOfAnImagesEntry(t *testing.T) {
	removeUXTerm(t)
	// xterm's definition names no desktop file, but runs what
	// debian-xterm.desktop runs: that entry counts as defined.
	out := mustRun(t, "root", "nspawn-tray", "app", "add", "xapps")
	for _, want := range []string{"debian-uxterm  debian-uxterm  UXTerm  uxterm  -\n", "debian-xterm   debian-xterm   XTerm   xterm   as xterm\n",
		"Add with: nspawn-tray app add xapps DESKTOP-FILE...\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("app add xapps lacks %q:\n%s", want, out)
		}
	}
	// Only root on the command line.
	r := inHost(t, "alice", "", "nspawn-tray", "app", "add", "xapps", "debian-uxterm")
	if r.code != 1 || !strings.Contains(r.stderr, "run it as root") || inHost(t, "root", "", "test", "-e", uxtermDef).code == 0 {
		t.Fatalf("alice: exit %d, stderr %q; want a refusal and no file", r.code, r.stderr)
	}

	out = mustRun(t, "root", "nspawn-tray", "app", "add", "xapps", "debian-uxterm")
	if !strings.HasPrefix(out, "Added debian-uxterm (UXTerm): "+uxtermDef+"\n") {
		t.Errorf("app add: %q", out)
	}
	if st := mustRun(t, "root", "stat", "-c", "%U %a", uxtermDef); st != "root 644\n" {
		t.Errorf("the definition is %s", st)
	}
	// Valid for everyone, in alice's menu after a sync, and it launches.
	// (apps exits 1 all the same: ghost's image is missing.)
	if r := inHost(t, "alice", "", "nspawn-tray", "apps", "--json"); !strings.Contains(r.stdout, `"id": "debian-uxterm"`) || strings.Contains(r.stderr, "uxterm") {
		t.Errorf("apps lacks it:\n%s\n%s", r.stdout, r.stderr)
	}
	mustRun(t, "alice", "nspawn-tray", "sync")
	entry := mustRun(t, "alice", "cat", "/home/alice/.local/share/applications/debian-uxterm.desktop")
	if field(entry, "Name") != "UXTerm" || field(entry, "Exec") != "/usr/bin/nspawn-tray launch debian-uxterm" {
		t.Errorf("the entry:\n%s", entry)
	}
	m := launch(t, "alice", "debian-uxterm")
	if !machineListed(t, m) {
		t.Errorf("%s is not in machinectl list", m)
	}
	mustRun(t, "alice", "nspawn-tray", "stop", m)

	// Again: refused without --force, the file left as it is.
	r = inHost(t, "root", "", "nspawn-tray", "app", "add", "xapps", "debian-uxterm")
	if r.code != 1 || !strings.Contains(r.stderr, "a definition with that id exists (--force replaces it)") {
		t.Errorf("again: exit %d, stderr %q", r.code, r.stderr)
	}
	if out := mustRun(t, "root", "nspawn-tray", "app", "remove", "debian-uxterm"); out != "Removed "+uxtermDef+"\n" {
		t.Errorf("app remove: %q", out)
	}
}

// The tray's Add app: the daemon's offers, and an administrator's
// authorization (manage-apps) to add one; alice, a member of the group but
// no administrator, is refused and nothing is written.
func TestTrayAddsAnApp(t *testing.T) {
	removeUXTerm(t)
	name := startTray(t)
	// offered finds label under the Add app submenu.
	offered := func(m menuNode, label string) (menuNode, bool) {
		add, ok := m.find("Add app")
		if !ok {
			return menuNode{}, false
		}
		for _, img := range add.Children {
			for _, c := range img.Children {
				if c.Label == label {
					return c, true
				}
			}
		}
		return menuNode{}, false
	}
	var item menuNode
	waitMenu(t, name, 10*time.Second, func(m menuNode) string {
		var ok bool
		if item, ok = offered(m, "UXTerm"); !ok {
			return "no UXTerm under Add app"
		}
		// xterm's entry is defined already.
		if _, again := offered(m, "XTerm"); again {
			return "the defined XTerm is offered again"
		}
		return ""
	})
	click(t, name, item.ID)
	eventually(t, 20*time.Second, func() string {
		log := mustRun(t, "alice", "journalctl", "--user", "-u", trayUnit, "-o", "cat", "--no-pager")
		if strings.Contains(log, "Could not add UXTerm") {
			return ""
		}
		return "no refusal in the tray's log:\n" + lastLines(log, 5)
	})
	if inHost(t, "root", "", "test", "-e", uxtermDef).code == 0 {
		t.Fatal("a refused Add app wrote the definition")
	}
	r := atkRun(t, "mallory", "busctl", "call", atkBusName, atkPath, atkBusName, "AddApp", "ss", "xapps", "debian-uxterm.desktop")
	if r.code == 0 || inHost(t, "root", "", "test", "-e", uxtermDef).code == 0 {
		t.Fatalf("mallory's AddApp: exit %d, %s", r.code, r.stderr)
	}

	// An administrator (here: a rule that makes alice one for this action)
	// adds it, and the menu shows it as an app, no longer as an offer.
	atkMustSh(t, "root", `cat > /etc/polkit-1/rules.d/49-e2e-manage-apps.rules <<'EOF'
polkit.addRule(function(action, subject) {
    if (action.id == "io.github.nspawn-tray.manage-apps" && subject.user == "alice") {
        return polkit.Result.YES;
    }
});
EOF`)
	eventually(t, 15*time.Second, func() string {
		if inHost(t, "root", "", "test", "-e", uxtermDef).code == 0 {
			return ""
		}
		// polkitd reads the new rule a moment later: click again.
		if it, ok := offered(layout(t, name), "UXTerm"); ok {
			click(t, name, it.ID)
		}
		return "the definition is not written"
	})
	waitMenu(t, name, 10*time.Second, func(m menuNode) string {
		if _, still := offered(m, "UXTerm"); still {
			return "UXTerm is still offered"
		}
		// Thirteen apps now: it may be in a category's submenu.
		var app func(menuNode) bool
		app = func(n menuNode) bool {
			if n.Label == "Add app" {
				return false
			}
			if n.Label == "UXTerm" && n.Enabled {
				return true
			}
			for _, c := range n.Children {
				if app(c) {
					return true
				}
			}
			return false
		}
		if app(m) {
			return ""
		}
		return "UXTerm is not an app in the menu"
	})
}
