//go:build e2e

package e2e

// Real programs from Debian 12 packages (issue 13), in the image realapps
// (testhost/realapps/build) with the definitions nspawn-tray app add wrote
// for them (testhost/realapps/apps.d): each launched from alice's menu
// entry the way a desktop does it, checked on her X display and in her
// PulseAudio.

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var realAppsOnce struct {
	sync.Once
	err error
	out []byte
}

// needRealApps installs the image and its definitions into the test host
// (once per run; a cache hit when make e2e's testhost/up did it already),
// and stops any realapps machine of alice's left from an earlier test.
func needRealApps(t *testing.T) {
	t.Helper()
	if os.Getenv("TESTHOST_REALAPPS") == "0" {
		t.Skip("TESTHOST_REALAPPS=0: the image of real programs is left out")
	}
	realAppsOnce.Do(func() {
		realAppsOnce.out, realAppsOnce.err = exec.Command(filepath.Join(repoRoot(t), "testhost", "realapps", "install")).CombinedOutput()
	})
	if realAppsOnce.err != nil {
		t.Fatalf("testhost/realapps/install: %v\n%s", realAppsOnce.err, realAppsOnce.out)
	}
	syncAsAlice(t)
}

// stopApp stops alice's instances of app and waits until they are gone.
func stopApp(t *testing.T, app string) {
	t.Helper()
	inHost(t, "alice", "", "nspawn-tray", "stop", "--app", app)
	eventually(t, 20*time.Second, func() string {
		if m := machinesOf(t, app); len(m) > 0 {
			return app + " still runs: " + strings.Join(m, " ")
		}
		return ""
	})
}

// machinesOf is alice's running machines of app.
func machinesOf(t *testing.T, app string) []string {
	t.Helper()
	var out []string
	for _, e := range ps(t, "alice") {
		if e.App == app {
			out = append(out, e.Machine)
		}
	}
	return out
}

// launchFromMenu starts the menu entry as a desktop does: gtk-launch with
// the entry's id, in a unit of alice's that outlives gtk-launch.
func launchFromMenu(t *testing.T, entry string) {
	t.Helper()
	mustRun(t, "alice", "systemd-run", "--user", "--quiet", "--collect", "-p", "KillMode=process",
		"-E", "DISPLAY=:0", "gtk-launch", entry)
}

var wmClassRe = regexp.MustCompile(`\("([^"]*)" "([^"]*)"\)`)

// windowsOf is the mapped windows on alice's display whose WM_CLASS has
// class as its instance or class part, as xwininfo prints them.
func windowsOf(t *testing.T, class string) []string {
	t.Helper()
	var out []string
	for _, line := range strings.Split(mustRun(t, "alice", "xwininfo", "-root", "-children"), "\n") {
		m := wmClassRe.FindStringSubmatch(line)
		// A client's visible window: the 1x1 and 10x10 leaders are not.
		if m != nil && (m[1] == class || m[2] == class) && !strings.Contains(line, " 1x1+") && !strings.Contains(line, " 10x10+") {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return out
}

// waitWindows waits until class has at least n windows.
func waitWindows(t *testing.T, class string, n int, within time.Duration) []string {
	t.Helper()
	var w []string
	eventually(t, within, func() string {
		if w = windowsOf(t, class); len(w) < n {
			return "windows of " + class + ": " + strconv.Itoa(len(w)) + ", want " + strconv.Itoa(n) + "\n" + mustRun(t, "alice", "xwininfo", "-root", "-children")
		}
		return ""
	})
	return w
}

// startupWMClass is StartupWMClass of alice's menu entry.
func startupWMClass(t *testing.T, entry string) string {
	t.Helper()
	c := field(mustRun(t, "alice", "cat", appsDir+"/"+entry+".desktop"), "StartupWMClass")
	if c == "" {
		t.Fatalf("%s.desktop has no StartupWMClass", entry)
	}
	return c
}

// inMachine runs script in machine as alice with the app's environment:
// what the app itself could do there.
func inMachine(t *testing.T, machine, script string) result {
	t.Helper()
	leader := strings.TrimSpace(mustRun(t, "root", "machinectl", "show", "-p", "Leader", "--value", machine))
	// As root, from the first of the app's processes whose environment
	// still reads: Chromium writes its process title over its own.
	environ := mustRun(t, "root", "nsenter", "-t", leader, "-a", "--", "/bin/sh", "-c",
		`for p in /proc/[0-9]*; do [ "${p#/proc/}" != 1 ] && tr '\0' '\n' <$p/environ | grep -q ^HOME= && exec cat $p/environ; done`)
	argv := []string{"nsenter", "-t", leader, "-a", "-S", "1000", "-G", "1000", "--", "env", "-i"}
	for _, kv := range strings.Split(environ, "\x00") {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "HOME", "PATH", "DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR", "DISPLAY", "XAUTHORITY":
			argv = append(argv, kv)
		}
	}
	return inHost(t, "root", "", append(argv, "/bin/sh", "-c", "cd && "+script)...)
}

// Each app, launched from its menu entry, shows a window whose WM_CLASS is
// the entry's StartupWMClass, so the desktop matches it to its icon.
func TestRealAppsShowTheirWindowWithTheirWMClass(t *testing.T) {
	needRealApps(t)
	for _, tc := range []struct{ app, entry string }{
		{"chromium", "chromium"},
		{"mpv", "mpv"},
		{"featherpad", "featherpad"},
		{"calculator", "org.gnome.Calculator"},
		{"texteditor", "org.gnome.TextEditor"},
	} {
		t.Run(tc.app, func(t *testing.T) {
			class := startupWMClass(t, tc.entry)
			stopApp(t, tc.app)
			t.Cleanup(func() { stopApp(t, tc.app) })
			launchFromMenu(t, tc.entry)
			waitWindows(t, class, 1, 60*time.Second)
			if m := machinesOf(t, tc.app); len(m) != 1 {
				t.Errorf("%d machines of %s: %v", len(m), tc.app, m)
			}
		})
	}
}

// Chromium locks its profile with the hostname and its PID. A second click
// while it runs is a new window of the same process in the same machine;
// after its machine is killed (the lock left behind), the next launch opens
// the profile again instead of "profile in use by another computer".
func TestChromiumClickedAgainAndAfterAKill(t *testing.T) {
	needRealApps(t)
	stopApp(t, "chromium")
	t.Cleanup(func() { stopApp(t, "chromium") })
	class := startupWMClass(t, "chromium")
	launchFromMenu(t, "chromium")
	first := waitWindows(t, class, 1, 60*time.Second)
	machines := machinesOf(t, "chromium")
	if len(machines) != 1 {
		t.Fatalf("machines: %v", machines)
	}

	// Again while it runs: the same machine, one window more, no error.
	r := inHost(t, "alice", "", "nspawn-tray", "launch", "chromium")
	if r.code != 0 || strings.TrimSpace(r.stdout) != machines[0] {
		t.Fatalf("second launch: exit %d, stdout %q (want %s), stderr %q", r.code, r.stdout, machines[0], r.stderr)
	}
	waitWindows(t, class, len(first)+1, 30*time.Second)
	if m := machinesOf(t, "chromium"); len(m) != 1 {
		t.Errorf("machines after the second click: %v", m)
	}
	// One browser process: the second click's chromium handed its
	// request to the first through the profile's singleton socket and
	// exited (renderers and the other helpers run with --type=).
	eventually(t, 20*time.Second, func() string {
		var browsers []string
		for _, p := range strings.Split(inHost(t, "root", "", "pgrep", "-a", "-f", "^/usr/lib/chromium/chromium").stdout, "\n") {
			if p != "" && !strings.Contains(p, " --type=") {
				browsers = append(browsers, p)
			}
		}
		if len(browsers) != 1 {
			return strconv.Itoa(len(browsers)) + " chromium browser processes, want 1:\n" + strings.Join(browsers, "\n")
		}
		return ""
	})

	// Killed: nothing of it gets to clean up its profile lock.
	mustRun(t, "root", "machinectl", "kill", "--signal=KILL", machines[0])
	eventually(t, 20*time.Second, func() string {
		if len(machinesOf(t, "chromium")) > 0 || len(windowsOf(t, class)) > 0 {
			return "chromium still runs after kill -9"
		}
		return ""
	})
	// The lock is left behind, as after any crash: HOSTNAME-PID, the
	// app's id and the browser's PID in its machine.
	if lock := inHost(t, "root", "", "readlink", "/var/lib/nspawn-tray/homes/1000/chromium/.config/chromium/SingletonLock").stdout; !strings.HasPrefix(lock, "chromium-") {
		t.Errorf("no profile lock left behind (%q): the test does not test what it says", lock)
	}
	launchFromMenu(t, "chromium")
	waitWindows(t, class, 1, 60*time.Second)
	if logs := inHost(t, "alice", "", "nspawn-tray", "logs", "chromium"); strings.Contains(logs.stdout+logs.stderr, "profile appears to be in use") {
		t.Errorf("chromium found its profile locked:\n%s", logs.stdout)
	}
}

// mpv plays a generated tone: its stream is in alice's PulseAudio under its
// own name, through nspawn-tray's filter.
func TestMpvPlaysIntoAlicesPulseAudio(t *testing.T) {
	needRealApps(t)
	stopApp(t, "mpv")
	t.Cleanup(func() { stopApp(t, "mpv") })
	mustRun(t, "alice", "nspawn-tray", "launch", "mpv", "--", "av://lavfi:sine=frequency=440")
	eventually(t, 30*time.Second, func() string {
		out := mustRun(t, "alice", "pactl", "list", "sink-inputs")
		if !strings.Contains(out, `application.name = "mpv"`) || !strings.Contains(out, `media.name = "lavfi:sine=frequency=440 - mpv"`) {
			return "no mpv sink-input:\n" + out
		}
		return ""
	})
	waitWindows(t, startupWMClass(t, "mpv"), 1, 30*time.Second)
}

// A second launch of a single-instance app reaches the first process: no
// second process, no error. FeatherPad is single-instance through its bus
// name (own = ["org.featherpad.FeatherPad"]), GNOME Text Editor as a
// unique GApplication (its desktop file id, owned by default). GNOME
// Calculator is a GApplication too but NON_UNIQUE by its own choice: a
// second launch is a second process, in the same machine.
func TestSingleInstanceAppsSecondLaunch(t *testing.T) {
	needRealApps(t)
	for _, tc := range []struct {
		app, entry, process string
		processes           int // after the second launch
	}{
		{"featherpad", "featherpad", "featherpad", 1},
		{"texteditor", "org.gnome.TextEditor", "gnome-text-edit", 1},
		{"calculator", "org.gnome.Calculator", "gnome-calculato", 2},
	} {
		t.Run(tc.app, func(t *testing.T) {
			stopApp(t, tc.app)
			t.Cleanup(func() { stopApp(t, tc.app) })
			class := startupWMClass(t, tc.entry)
			launchFromMenu(t, tc.entry)
			waitWindows(t, class, 1, 60*time.Second)
			machines := machinesOf(t, tc.app)
			if len(machines) != 1 {
				t.Fatalf("machines: %v", machines)
			}
			r := inHost(t, "alice", "", "nspawn-tray", "launch", tc.app)
			if r.code != 0 || strings.TrimSpace(r.stdout) != machines[0] || r.stderr != "" {
				t.Fatalf("second launch: exit %d, stdout %q (want %s), stderr %q", r.code, r.stdout, machines[0], r.stderr)
			}
			// The second program has either handed over and exited, or
			// (NON_UNIQUE) opened its own window.
			eventually(t, 20*time.Second, func() string {
				got := strings.Count(inHost(t, "root", "", "pgrep", "-x", tc.process).stdout, "\n")
				if got != tc.processes {
					return tc.process + ": " + strconv.Itoa(got) + " processes, want " + strconv.Itoa(tc.processes)
				}
				return ""
			})
			if m := machinesOf(t, tc.app); len(m) != 1 {
				t.Errorf("machines after the second launch: %v", m)
			}
			if len(windowsOf(t, class)) == 0 {
				t.Error("no window after the second launch")
			}
			logs := inHost(t, "alice", "", "nspawn-tray", "logs", tc.app).stdout
			if strings.Contains(logs, "Deactivated successfully") {
				t.Errorf("the app's log:\n%s", logs)
			}
		})
	}
}

// In Chromium's machine (share = ["downloads"], the portal in dbus): what
// it saves in ~/Downloads is in alice's Downloads on the host, and
// xdg-open hands a link to the desktop's portal (the stand-in records it).
func TestChromiumDownloadsAndLinksReachTheHost(t *testing.T) {
	needRealApps(t)
	mustRun(t, "alice", "mkdir", "-p", "/home/alice/Downloads")
	stopApp(t, "chromium")
	t.Cleanup(func() {
		stopApp(t, "chromium")
		inHost(t, "alice", "", "rm", "-f", "/home/alice/Downloads/from-chromium.txt")
	})
	log := startFakePortal(t)
	launchFromMenu(t, "chromium")
	waitWindows(t, startupWMClass(t, "chromium"), 1, 60*time.Second)
	machine := machinesOf(t, "chromium")[0]

	r := inMachine(t, machine, `echo saved > "$HOME/Downloads/from-chromium.txt" && xdg-open https://example.org/from-chromium`)
	if r.code != 0 {
		t.Fatalf("in %s: exit %d\n%s\n%s", machine, r.code, r.stdout, r.stderr)
	}
	if got := mustRun(t, "alice", "cat", "/home/alice/Downloads/from-chromium.txt"); got != "saved\n" {
		t.Errorf("alice's Downloads holds %q", got)
	}
	eventually(t, 10*time.Second, func() string {
		if got := inHost(t, "alice", "", "cat", log).stdout; got != "https://example.org/from-chromium\n" {
			return "the portal got " + strconv.Quote(got)
		}
		return ""
	})
}

// realShell is a definition running sh -c in the image realapps, with
// extra keys.
func realShell(extra string) string {
	return "name = \"Shell\"\nimage = \"realapps\"\nexec = [\"/bin/sh\", \"-c\"]\naudio = false\ndbus = []\n" + extra
}

// gpu = true on a host without GPU nodes (this test host has no /dev/dri)
// and gpu = false alike: GL falls back to Mesa's software renderer, and
// the app runs. The hardware path is in the unit tests (TestGPUGolden,
// TestFindGPUsTakesOnlyCharacterDevices); here it runs only where the
// test host has a render node.
func TestGPUFallsBackToSoftwareRendering(t *testing.T) {
	needRealApps(t)
	hasDRI := inHost(t, "root", "", "sh", "-c", "ls /dev/dri/renderD*").code == 0
	for _, gpu := range []bool{false, true} {
		id := "e2enogpu"
		if gpu {
			id = "e2egpu"
		}
		atkInstallApp(t, id, realShell("gpu = "+strconv.FormatBool(gpu)+"\n"), "root", "0644")
		r := inHost(t, "alice", "", "nspawn-tray", "launch", "--wait", id, "--", "glxinfo -B; ls /dev/dri 2>&1; id -G")
		if r.code != 0 {
			t.Fatalf("%s: exit %d\n%s\n%s", id, r.code, r.stdout, r.stderr)
		}
		renderer := ""
		for _, line := range strings.Split(r.stdout, "\n") {
			if v, ok := strings.CutPrefix(line, "OpenGL renderer string: "); ok {
				renderer = v
			}
		}
		switch {
		case !gpu || !hasDRI:
			if !strings.HasPrefix(renderer, "llvmpipe") && !strings.HasPrefix(renderer, "softpipe") {
				t.Errorf("gpu = %v: renderer %q, want Mesa's software one\n%s", gpu, renderer, r.stdout)
			}
			if !strings.Contains(r.stdout, "No such file or directory") {
				t.Errorf("gpu = %v: /dev/dri inside:\n%s", gpu, r.stdout)
			}
		default:
			if renderer == "" || strings.HasPrefix(renderer, "llvmpipe") {
				t.Errorf("gpu = true with a render node on the host: renderer %q\n%s", renderer, r.stdout)
			}
		}
	}
	t.Run("hardware", func(t *testing.T) {
		if !hasDRI {
			t.Skip("the test host (and this machine) has no /dev/dri render node: gpu = true on real hardware is not run here")
		}
	})
}

// host_look (the default): a font only the host has is in fc-list inside,
// and the session's theme settings reach the app, while a setting that is
// a path (QT_PLUGIN_PATH) does not; host_look = false turns both off.
func TestHostLookGivesTheHostsFontsAndTheme(t *testing.T) {
	needRealApps(t)
	mustRun(t, "root", "sh", "-c", "mkdir -p /usr/local/share/fonts/e2e && cp /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf /usr/local/share/fonts/e2e/e2e-host-font.ttf")
	t.Cleanup(func() { inHost(t, "root", "", "rm", "-rf", "/usr/local/share/fonts/e2e") })
	atkInstallApp(t, "e2elook", realShell(""), "root", "0644")
	atkInstallApp(t, "e2enolook", realShell("host_look = false\n"), "root", "0644")
	script := `fc-list : file | grep -c e2e-host-font; env | grep -E '^(GTK_THEME|XCURSOR_SIZE|QT_PLUGIN_PATH)=' | sort`
	for id, want := range map[string]string{
		"e2elook":   "1\nGTK_THEME=Adwaita:dark\nXCURSOR_SIZE=32\n",
		"e2enolook": "0\n",
	} {
		r := inHost(t, "alice", "", "env", "GTK_THEME=Adwaita:dark", "XCURSOR_SIZE=32", "QT_PLUGIN_PATH=/tmp",
			"nspawn-tray", "launch", "--wait", id, "--", script)
		if r.stdout != want {
			t.Errorf("%s: exit %d, stdout %q, want %q\n%s", id, r.code, r.stdout, want, r.stderr)
		}
	}
}

// The device path of gpu = true, with a stand-in for a GPU: a render node
// made in the test host (DRM's major 226, no driver behind it, so opening
// it says ENXIO), group video, alice a member. Inside: the node at its
// path, alice keeps video, the open reaches the (absent) driver, the unit
// lists the node in its DeviceAllow; Mesa, finding no driver, renders in
// software. That the policy refuses an unlisted node is not seen here: the
// test host's systemd cannot attach device programs (a unit with
// DeviceAllow=/dev/null still opens a 226:129 node there), so the list
// itself is what this and TestGPUGolden check.
func TestGPUNodesWithTheirGroupAndDevicePolicy(t *testing.T) {
	needRealApps(t)
	if inHost(t, "root", "", "sh", "-c", "ls /dev/dri").code == 0 {
		t.Skip("the test host has a /dev/dri of its own: no stand-in node made")
	}
	mustRun(t, "root", "sh", "-c", "mkdir /dev/dri && mknod -m 0660 /dev/dri/renderD128 c 226 128 && chgrp video /dev/dri/renderD128 && gpasswd -a alice video >/dev/null")
	t.Cleanup(func() { inHost(t, "root", "", "sh", "-c", "rm -rf /dev/dri; gpasswd -d alice video >/dev/null") })
	atkInstallApp(t, "e2egpunode", realShell("gpu = true\n"), "root", "0644")
	video := strings.TrimSpace(mustRun(t, "root", "getent", "group", "video"))
	gid := strings.Split(video, ":")[2]

	machine := strings.TrimSpace(mustRun(t, "alice", "nspawn-tray", "launch", "e2egpunode", "--", "exec sleep 600"))
	t.Cleanup(func() { inHost(t, "root", "", "machinectl", "terminate", machine) })
	allow := mustRun(t, "root", "systemctl", "show", "-p", "DeviceAllow", "nspawn-tray-"+machine+".service")
	for _, want := range []string{"/dev/dri/renderD128 rw", "char-pts rw"} {
		if !strings.Contains(allow, want) {
			t.Errorf("DeviceAllow lacks %q: %s", want, allow)
		}
	}
	if strings.Contains(allow, "/dev/dri/renderD128 rwm") {
		t.Errorf("the node may be mknod'ed: %s", allow)
	}
	mustRun(t, "root", "machinectl", "terminate", machine)

	r := inHost(t, "alice", "", "nspawn-tray", "launch", "--wait", "e2egpunode", "--",
		`id -G; stat -c '%t:%T %G' /dev/dri/renderD128; head -c1 /dev/dri/renderD128; glxinfo -B | grep 'OpenGL renderer'`)
	for _, want := range []string{"1000 " + gid + "\n", "e2:80 video\n", "/dev/dri/renderD128' for reading: No such device or address", "OpenGL renderer string: llvmpipe"} {
		if !strings.Contains(r.stdout+r.stderr, want) {
			t.Errorf("inside lacks %q:\n%s\n%s", want, r.stdout, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "Operation not permitted") {
		t.Errorf("the device policy refused the node:\n%s", r.stderr)
	}
}
