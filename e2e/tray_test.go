//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"image"
	"strconv"
	"strings"
	"testing"
	"time"
)

const trayUnit = "nspawn-tray-e2e.service"

// menuNode is one com.canonical.dbusmenu layout node.
type menuNode struct {
	ID       int
	Label    string
	Enabled  bool
	Children []menuNode
}

func (n menuNode) find(label string) (menuNode, bool) {
	if strings.HasPrefix(n.Label, label) {
		return n, true
	}
	for _, c := range n.Children {
		if f, ok := c.find(label); ok {
			return f, true
		}
	}
	return menuNode{}, false
}

func (n menuNode) labels() []string {
	out := []string{n.Label}
	for _, c := range n.Children {
		out = append(out, c.labels()...)
	}
	return out
}

// startTray runs the tray as alice's user service, as her session would,
// and returns its bus name once it has registered with the panel.
func startTray(t testing.TB) string {
	t.Helper()
	stopTray(t)
	mustRun(t, "alice", "systemd-run", "--user", "--quiet", "--unit="+trayUnit, "-p", "KillMode=mixed",
		"-E", "DISPLAY=:0", "-E", "XAUTHORITY=/home/alice/.Xauthority", "nspawn-tray", "tray")
	t.Cleanup(func() { stopTray(t) })
	return trayName(t)
}

func stopTray(t testing.TB) {
	inHost(t, "alice", "", "systemctl", "--user", "stop", trayUnit)
	inHost(t, "alice", "", "systemctl", "--user", "reset-failed", trayUnit)
}

// trayName is the bus name of the tray's item registered with the watcher.
func trayName(t testing.TB) string {
	t.Helper()
	var name string
	eventually(t, 10*time.Second, func() string {
		pid := strings.TrimSpace(inHost(t, "alice", "", "systemctl", "--user", "show", "-P", "MainPID", trayUnit).stdout)
		out := inHost(t, "alice", "", "busctl", "--user", "--json=short", "get-property", "org.kde.StatusNotifierWatcher",
			"/StatusNotifierWatcher", "org.kde.StatusNotifierWatcher", "RegisteredStatusNotifierItems").stdout
		var reply struct{ Data []string }
		_ = json.Unmarshal([]byte(out), &reply)
		for _, item := range reply.Data {
			bus, _, _ := strings.Cut(item, "/")
			owner := inHost(t, "alice", "", "busctl", "--user", "call", "org.freedesktop.DBus", "/org/freedesktop/DBus",
				"org.freedesktop.DBus", "GetConnectionUnixProcessID", "s", bus).stdout
			if pid != "" && pid != "0" && strings.TrimSpace(owner) == "u "+pid {
				name = bus
				return ""
			}
		}
		return fmt.Sprintf("the tray (pid %s) is not among the watcher's items %v", pid, reply.Data)
	})
	return name
}

// layout asks the tray for its whole menu over com.canonical.dbusmenu.
func layout(t testing.TB, name string) menuNode {
	t.Helper()
	out := mustRun(t, "alice", "busctl", "--user", "--json=short", "call", "--", name, "/StatusNotifierItem/menu",
		"com.canonical.dbusmenu", "GetLayout", "iias", "0", "-1", "0")
	var reply struct{ Data []json.RawMessage }
	if err := json.Unmarshal([]byte(out), &reply); err != nil || len(reply.Data) != 2 {
		t.Fatalf("GetLayout reply %q: %v", out, err)
	}
	var root []json.RawMessage
	if err := json.Unmarshal(reply.Data[1], &root); err != nil {
		t.Fatalf("layout: %v", err)
	}
	return parseNode(t, root)
}

func parseNode(t testing.TB, raw []json.RawMessage) menuNode {
	var n menuNode
	var props map[string]struct{ Data any }
	var kids []struct{ Data []json.RawMessage }
	if len(raw) != 3 || json.Unmarshal(raw[0], &n.ID) != nil || json.Unmarshal(raw[1], &props) != nil || json.Unmarshal(raw[2], &kids) != nil {
		t.Fatalf("unexpected layout node %s", raw)
	}
	n.Label, _ = props["label"].Data.(string)
	n.Enabled = true
	if e, ok := props["enabled"].Data.(bool); ok {
		n.Enabled = e
	}
	for _, k := range kids {
		n.Children = append(n.Children, parseNode(t, k.Data))
	}
	return n
}

// waitMenu waits until the menu satisfies check (the tray rebuilds it on
// machined's signals) and returns it.
func waitMenu(t testing.TB, name string, within time.Duration, check func(menuNode) string) menuNode {
	t.Helper()
	var m menuNode
	eventually(t, within, func() string {
		m = layout(t, name)
		return check(m)
	})
	return m
}

func hasLabel(label string) func(menuNode) string {
	return func(m menuNode) string {
		if _, ok := m.find(label); ok {
			return ""
		}
		return fmt.Sprintf("no %q in the menu %q", label, m.labels())
	}
}

func lacksLabel(label string) func(menuNode) string {
	return func(m menuNode) string {
		if _, ok := m.find(label); ok {
			return fmt.Sprintf("%q still in the menu", label)
		}
		return ""
	}
}

func click(t testing.TB, name string, id int) {
	t.Helper()
	mustRun(t, "alice", "busctl", "--user", "call", "--", name, "/StatusNotifierItem/menu", "com.canonical.dbusmenu",
		"Event", "isvu", strconv.Itoa(id), "clicked", "i", "0", "0")
}

func TestTrayListsAppsAndDrivesThem(t *testing.T) {
	for _, app := range []string{"sleeper"} {
		inHost(t, "alice", "", "nspawn-tray", "stop", "--app", app)
	}
	name := startTray(t)
	m := waitMenu(t, name, 5*time.Second, hasLabel("XEyes"))
	for _, want := range []string{"Apps", "Sleeper", "Terminal (container)", "Running", "Start on login", "Refresh desktop entries", "Quit"} {
		if _, ok := m.find(want); !ok {
			t.Errorf("menu lacks %q: %q", want, m.labels())
		}
	}
	// A click on an app launches it; it shows up under Running.
	sleeper, _ := m.find("Sleeper")
	start := time.Now()
	click(t, name, sleeper.ID)
	m = waitMenu(t, name, 10*time.Second, hasLabel("Sleeper — "))
	t.Logf("click to menu entry: %v", time.Since(start))
	machine := ""
	for _, e := range ps(t, "alice") {
		if e.App == "sleeper" {
			machine = e.Machine
		}
	}
	if machine == "" {
		t.Fatal("the click started no sleeper instance")
	}
	t.Cleanup(func() { inHost(t, "root", "", "machinectl", "terminate", machine) })
	// The icon turns green while something runs.
	eventually(t, 10*time.Second, func() string {
		if _, _, ok := findColorInPanel(screenshot(t), [3]uint32{0x16, 0xa3, 0x4a}); !ok {
			return "the tray icon is not green while sleeper runs"
		}
		return ""
	})
	// Its Stop entry stops it, and the menu follows.
	running, _ := m.find("Sleeper — ")
	if len(running.Children) != 2 || running.Children[0].Label != "Stop" {
		t.Fatalf("running entry %+v, want Stop and Show recent log", running)
	}
	click(t, name, running.Children[0].ID)
	waitMenu(t, name, 10*time.Second, lacksLabel("Sleeper — "))
	waitGone(t, machine)
}

func TestTrayFollowsMachinesStartedElsewhere(t *testing.T) {
	name := startTray(t)
	foreign := fmt.Sprintf("e2e-foreign-%d", time.Now().UnixNano()%1e6)
	mustRun(t, "root", "systemd-run", "--quiet", "--collect", "--unit="+foreign, "-p", "Slice=machine.slice", "-p", "KillMode=mixed",
		"--", "systemd-nspawn", "--quiet", "--read-only", "-D", "/var/lib/machines/probe", "-M", foreign, "/usr/bin/sleep", "300")
	t.Cleanup(func() { inHost(t, "root", "", "machinectl", "terminate", foreign) })
	m := waitMenu(t, name, 10*time.Second, hasLabel(foreign+" (not nspawn-tray)"))
	// alice may not stop it: machined asks polkit, which wants an
	// administrator (no agent here), and the tray reports the refusal.
	entry, _ := m.find(foreign)
	click(t, name, entry.Children[0].ID)
	eventually(t, 10*time.Second, func() string {
		log := mustRun(t, "alice", "journalctl", "--user", "-u", trayUnit, "-o", "cat", "--no-pager")
		if strings.Contains(log, "Could not stop "+foreign) {
			return ""
		}
		return "no refusal reported for " + foreign
	})
	if !machineListed(t, foreign) {
		t.Fatalf("alice stopped %s, a machine she did not start, without authentication", foreign)
	}
	mustRun(t, "root", "machinectl", "terminate", foreign)
	waitMenu(t, name, 10*time.Second, lacksLabel(foreign))
}

func TestTrayReportsFailuresAndKeepsWorking(t *testing.T) {
	name := startTray(t)
	m := waitMenu(t, name, 5*time.Second, hasLabel("Ghost"))
	ghost, _ := m.find("Ghost")
	click(t, name, ghost.ID)
	eventually(t, 10*time.Second, func() string {
		log := mustRun(t, "alice", "journalctl", "--user", "-u", trayUnit, "-o", "cat", "--no-pager")
		if strings.Contains(log, "Could not start Ghost") && strings.Contains(log, `image \"nosuchimage\" of app \"ghost\" is missing`) {
			return ""
		}
		return "no failure report in the tray's log:\n" + lastLines(log, 5)
	})
	// It sent a desktop notification: the notification daemon is running.
	if inHost(t, "alice", "", "busctl", "--user", "status", "org.freedesktop.Notifications").code != 0 {
		t.Error("no notification daemon was activated by the failure report")
	}
	if strings.Contains(mustRun(t, "alice", "journalctl", "--user", "-u", trayUnit, "-o", "cat", "--no-pager"), "cannot show a notification") {
		t.Error("the notification could not be shown")
	}
	// Still alive and answering.
	waitMenu(t, name, 5*time.Second, hasLabel("Quit"))
}

func TestTrayRecoversFromRestarts(t *testing.T) {
	name := startTray(t)
	// The panel restarts: the item registers again with the new watcher.
	mustRun(t, "alice", "systemctl", "--user", "restart", "xfce4-panel.service")
	if again := trayName(t); again != name {
		t.Errorf("after the panel restart the registered item is %s, want %s", again, name)
	}
	// machined restarts: the menu still follows machines.
	mustRun(t, "root", "systemctl", "restart", "systemd-machined.service")
	machine := launch(t, "alice", "sleeper")
	waitMenu(t, name, 10*time.Second, hasLabel("Sleeper — "))
	// The daemon restarts (it is bus-activated again): stopping from the
	// menu still works.
	mustRun(t, "root", "systemctl", "stop", "nspawn-tray-daemon.service")
	m := layout(t, name)
	running, _ := m.find("Sleeper — ")
	click(t, name, running.Children[0].ID)
	waitMenu(t, name, 10*time.Second, lacksLabel("Sleeper — "))
	waitGone(t, machine)
}

func TestTrayWithoutAHostSaysSoAndAppearsLater(t *testing.T) {
	mustRun(t, "alice", "systemctl", "--user", "stop", "xfce4-panel.service")
	t.Cleanup(func() { inHost(t, "alice", "", "systemctl", "--user", "start", "xfce4-panel.service") })
	stopTray(t)
	mustRun(t, "alice", "systemd-run", "--user", "--quiet", "--unit="+trayUnit, "-E", "DISPLAY=:0", "nspawn-tray", "tray")
	t.Cleanup(func() { stopTray(t) })
	eventually(t, 10*time.Second, func() string {
		log := mustRun(t, "alice", "journalctl", "--user", "-u", trayUnit, "-o", "cat", "--no-pager", "-n", "20")
		if strings.Contains(log, "no StatusNotifierItem host on the session bus") {
			return ""
		}
		return "no message about the missing host:\n" + log
	})
	mustRun(t, "alice", "systemctl", "--user", "start", "xfce4-panel.service")
	trayName(t)
}

func TestTrayExitsCleanlyOnSIGTERM(t *testing.T) {
	startTray(t)
	mustRun(t, "alice", "systemctl", "--user", "stop", trayUnit)
	show := mustRun(t, "alice", "systemctl", "--user", "show", "-p", "Result", "-p", "ExecMainStatus", trayUnit)
	if !strings.Contains(show, "Result=success") || !strings.Contains(show, "ExecMainStatus=0") {
		t.Errorf("after SIGTERM: %s", show)
	}
}

// The icon in the panel, and after a click on it, the menu drawn by the
// panel: checked in the screenshot's pixels.
func TestTrayScreenshotShowsIconAndMenu(t *testing.T) {
	startTray(t)
	// The systray sits at the right end of the 32 px panel.
	var iconX, iconY int
	eventually(t, 10*time.Second, func() string {
		img := screenshot(t)
		x, y, ok := findTrayIcon(img)
		if !ok {
			return "no nspawn-tray icon colours in the panel"
		}
		iconX, iconY = x, y
		return ""
	})
	before := screenshot(t)
	mustRun(t, "alice", "xdotool", "mousemove", strconv.Itoa(iconX), strconv.Itoa(iconY), "click", "1")
	t.Cleanup(func() { inHost(t, "alice", "", "xdotool", "key", "Escape") })
	eventually(t, 10*time.Second, func() string {
		after := screenshot(t)
		// The menu opens below the panel, near the icon: that area
		// changes and holds text (many colours).
		area := image.Rect(max(0, iconX-400), 33, 1280, 500)
		if changedPixels(before, after, area) < 2000 || distinctColors(after, area) < 8 {
			return "no menu drawn below the icon"
		}
		return ""
	})
}

// findTrayIcon finds the icon, grey (idle) or green (running), in the panel.
func findTrayIcon(img image.Image) (int, int, bool) {
	if x, y, ok := findColorInPanel(img, [3]uint32{0x6b, 0x72, 0x80}); ok {
		return x, y, true
	}
	return findColorInPanel(img, [3]uint32{0x16, 0xa3, 0x4a})
}

func findColorInPanel(img image.Image, want [3]uint32) (int, int, bool) {
	for y := 0; y < 32; y++ {
		for x := 900; x < 1280; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			if [3]uint32{r >> 8, g >> 8, b >> 8} == want {
				return x, y, true
			}
		}
	}
	return 0, 0, false
}

func changedPixels(a, b image.Image, r image.Rectangle) int {
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if a.At(x, y) != b.At(x, y) {
				n++
			}
		}
	}
	return n
}

// A definition added to apps.d shows up in the menu (inotify) and in the
// desktop menu (the tray syncs), and goes again when it is removed.
func TestTrayFollowsAppsDir(t *testing.T) {
	name := startTray(t)
	waitMenu(t, name, 5*time.Second, hasLabel("XEyes"))
	def := "/etc/nspawn-tray/apps.d/e2e-late.toml"
	mustRun(t, "root", "sh", "-c", `printf 'name = "Late Arrival"\nimage = "probe"\nexec = ["/bin/true"]\n' > `+def)
	t.Cleanup(func() { inHost(t, "root", "", "rm", "-f", def) })
	waitMenu(t, name, 10*time.Second, hasLabel("Late Arrival"))
	eventually(t, 10*time.Second, func() string {
		if inHost(t, "alice", "", "test", "-f", appsDir+"/e2e-late.desktop").code != 0 {
			return "the tray did not sync a desktop entry for the new app"
		}
		return ""
	})
	mustRun(t, "root", "rm", def)
	waitMenu(t, name, 10*time.Second, lacksLabel("Late Arrival"))
	eventually(t, 10*time.Second, func() string {
		if inHost(t, "alice", "", "test", "-e", appsDir+"/e2e-late.desktop").code == 0 {
			return "the entry of the removed app is still there"
		}
		return ""
	})
}

// mallory is not in group nspawn-tray: her tray says launching needs an
// administrator's password (polkit's answer is a challenge).
func TestTrayShowsAuthorizationState(t *testing.T) {
	aliceTray := startTray(t)
	unit := "nspawn-tray-e2e-mallory.service"
	mustRun(t, "mallory", "systemd-run", "--user", "--quiet", "--unit="+unit, "nspawn-tray", "tray")
	t.Cleanup(func() { inHost(t, "mallory", "", "systemctl", "--user", "stop", unit) })
	// mallory has no panel: ask her tray directly on her session bus.
	var name string
	eventually(t, 10*time.Second, func() string {
		pid := strings.TrimSpace(mustRun(t, "mallory", "systemctl", "--user", "show", "-P", "MainPID", unit))
		name = "org.kde.StatusNotifierItem-" + pid + "-1"
		if inHost(t, "mallory", "", "busctl", "--user", "status", name).code != 0 {
			return "no " + name + " on mallory's bus"
		}
		return ""
	})
	var m menuNode
	eventually(t, 10*time.Second, func() string {
		out := mustRun(t, "mallory", "busctl", "--user", "--json=short", "call", "--", name, "/StatusNotifierItem/menu",
			"com.canonical.dbusmenu", "GetLayout", "iias", "0", "-1", "0")
		var reply struct{ Data []json.RawMessage }
		var root []json.RawMessage
		if json.Unmarshal([]byte(out), &reply) != nil || len(reply.Data) != 2 || json.Unmarshal(reply.Data[1], &root) != nil {
			return "bad GetLayout reply"
		}
		m = parseNode(t, root)
		if _, ok := m.find("Launching asks for an administrator's password"); !ok {
			return fmt.Sprintf("no authorization state in %q", m.labels())
		}
		return ""
	})
	if _, ok := layout(t, aliceTray).find("Launching asks"); ok {
		t.Error("alice, in group nspawn-tray, is told launching needs a password")
	}
}
