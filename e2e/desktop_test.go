//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"
)

const (
	appsDir  = "/home/alice/.local/share/applications"
	iconsDir = "/home/alice/.local/share/icons/hicolor"
)

func syncAsAlice(t *testing.T) string {
	t.Helper()
	return mustRun(t, "alice", "nspawn-tray", "sync")
}

// field returns the value of key in the main group of a desktop file.
func field(entry, key string) string {
	for _, line := range strings.Split(entry, "\n") {
		if strings.HasPrefix(line, "[") && line != "[Desktop Entry]" {
			break
		}
		if v, ok := strings.CutPrefix(line, key+"="); ok {
			return v
		}
	}
	return ""
}

func TestSyncWritesEntriesWithTheAppsOwnNameAndIcon(t *testing.T) {
	syncAsAlice(t)
	entry := mustRun(t, "alice", "cat", appsDir+"/debian-xterm.desktop")
	for key, want := range map[string]string{
		// One name everywhere (menu, tray, ps): the definition's, not the
		// image's "XTerm".
		"Name": "Terminal (container)", "Icon": "nspawn-tray.xterm", "Exec": "/usr/bin/nspawn-tray launch xterm",
		"X-NspawnTray-App": "xterm", "Type": "Application",
	} {
		if got := field(entry, key); got != want {
			t.Errorf("debian-xterm.desktop %s=%q, want %q\n%s", key, got, want, entry)
		}
	}
	if !strings.Contains(entry, "[Desktop Action stop]") || !strings.Contains(entry, "Exec=/usr/bin/nspawn-tray stop --app xterm") {
		t.Errorf("no stop action:\n%s", entry)
	}
	// The icon came out of the image (mode 0700, root only) through the daemon.
	icon := mustRun(t, "alice", "sh", "-c", "head -c 200 "+iconsDir+"/scalable/apps/nspawn-tray.xterm.svg")
	if !strings.Contains(icon, "<svg") && !strings.Contains(icon, "<?xml") {
		t.Errorf("icon is not the image's SVG: %q", icon)
	}
	// An app whose image has no desktop file gets one from its definition.
	if got := field(mustRun(t, "alice", "cat", appsDir+"/xeyes.desktop"), "Name"); got != "XEyes" {
		t.Errorf("xeyes.desktop Name=%q", got)
	}
	// Every entry is valid.
	if r := inHost(t, "alice", "", "sh", "-c", "desktop-file-validate "+appsDir+"/*.desktop"); r.code != 0 || strings.Contains(r.stdout, "error") {
		t.Errorf("desktop-file-validate: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Unchanged: nothing written the second time.
	if out := syncAsAlice(t); !strings.Contains(out, ": 0 entries written, 0 removed; 0 icons written, 0 removed") {
		t.Errorf("second sync: %q", out)
	}
}

func TestEntryLaunchesThroughTheLauncher(t *testing.T) {
	syncAsAlice(t)
	// gtk-launch spawns the entry's Exec and returns: run it where its child
	// outlives it, as in a session.
	mustRun(t, "alice", "systemd-run", "--user", "--quiet", "--collect", "-p", "KillMode=process",
		"-E", "DISPLAY=:0", "gtk-launch", "xeyes")
	var machine string
	eventually(t, 10*time.Second, func() string {
		for _, e := range ps(t, "alice") {
			if e.App == "xeyes" {
				machine = e.Machine
				return ""
			}
		}
		return "no xeyes instance after gtk-launch"
	})
	t.Cleanup(func() { inHost(t, "root", "", "machinectl", "terminate", machine) })
	eventually(t, 10*time.Second, func() string {
		if strings.Count(mustRun(t, "alice", "xwininfo", "-root", "-children"), `("xeyes" "XEyes")`) == 0 {
			return "no xeyes window"
		}
		return ""
	})
	// The entry's stop action stops it.
	mustRun(t, "alice", "nspawn-tray", "stop", "--app", "xeyes")
	waitGone(t, machine)
}

func TestAutostartEntryRunsAtLogin(t *testing.T) {
	// Only the app's entry in the autostart dir: not a tray left by make demo.
	mustRun(t, "alice", "nspawn-tray", "autostart", "disable")
	mustRun(t, "alice", "nspawn-tray", "autostart", "enable", "sleeper")
	t.Cleanup(func() { inHost(t, "alice", "", "nspawn-tray", "autostart", "disable", "sleeper") })
	entry := mustRun(t, "alice", "cat", "/home/alice/.config/autostart/nspawn-tray-sleeper.desktop")
	if field(entry, "Exec") != "/usr/bin/nspawn-tray launch sleeper" {
		t.Fatalf("autostart entry:\n%s", entry)
	}
	// dex is the XDG autostart runner a login session uses. Run it as a
	// session would: in alice's user manager, where its children outlive it
	// (testhost/run's unit would kill them when dex returns).
	mustRun(t, "alice", "systemd-run", "--user", "--quiet", "--collect", "-p", "KillMode=process",
		"dex", "-a", "-s", "/home/alice/.config/autostart")
	var machine string
	eventually(t, 10*time.Second, func() string {
		for _, e := range ps(t, "alice") {
			if e.App == "sleeper" {
				machine = e.Machine
				return ""
			}
		}
		return "dex -a started no sleeper"
	})
	mustRun(t, "alice", "nspawn-tray", "stop", machine)
	waitGone(t, machine)
	mustRun(t, "alice", "nspawn-tray", "autostart", "disable", "sleeper")
	if inHost(t, "alice", "", "test", "-e", "/home/alice/.config/autostart/nspawn-tray-sleeper.desktop").code == 0 {
		t.Error("autostart disable left the entry")
	}
}

func TestSyncRemovesStaleAndNeverTouchesForeignFiles(t *testing.T) {
	// A file of the user's with a name sync wants: left alone.
	foreign := appsDir + "/status.desktop"
	mustRun(t, "alice", "sh", "-c", "mkdir -p "+appsDir+" && printf '[Desktop Entry]\\nType=Application\\nName=Mine\\nExec=true\\n' > "+foreign)
	t.Cleanup(func() { inHost(t, "alice", "", "rm", "-f", foreign) })
	r := inHost(t, "alice", "", "nspawn-tray", "sync")
	if r.code != 0 || !strings.Contains(r.stderr, "left status.desktop alone") {
		t.Errorf("sync with a foreign file: exit %d stderr %q", r.code, r.stderr)
	}
	if got := field(mustRun(t, "alice", "cat", foreign), "Name"); got != "Mine" {
		t.Errorf("foreign entry changed: Name=%q", got)
	}

	// Removing a definition removes its entry and icons on the next sync.
	mustRun(t, "root", "mv", "/etc/nspawn-tray/apps.d/xterm.toml", "/root/xterm.toml.away")
	t.Cleanup(func() { inHost(t, "root", "", "mv", "/root/xterm.toml.away", "/etc/nspawn-tray/apps.d/xterm.toml") })
	syncAsAlice(t)
	for _, gone := range []string{appsDir + "/debian-xterm.desktop", iconsDir + "/scalable/apps/nspawn-tray.xterm.svg"} {
		if inHost(t, "alice", "", "test", "-e", gone).code == 0 {
			t.Errorf("%s is still there after its app was removed", gone)
		}
	}
}
