//go:build e2e

package e2e

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// The nested app: xeyes from the xapps image on a nested X server, at
// its defaults otherwise (audio, the filtered session bus).
const nestedXeyes = `name = "Nested XEyes"
image = "xapps"
exec = ["/usr/bin/xeyes", "-geometry", "200x150+20+40"]
x11 = "nested"
`

// nestedTitle is the start of the Xephyr window's title on :0.
const nestedTitle = "Nested XEyes (nested X"

// nestedLaunch installs the nested xeyes and launches it as alice; it
// returns the machine once the app's window is on the nested display.
func nestedLaunch(t *testing.T) string {
	t.Helper()
	atkInstallApp(t, "nested-xeyes", nestedXeyes, "root:root", "0644")
	machine := launch(t, "alice", "nested-xeyes")
	eventually(t, 10*time.Second, func() string {
		if r := nestedIn(t, machine, `xdotool search --class xeyes`); r.code != 0 || strings.TrimSpace(r.stdout) == "" {
			return "no xeyes window on the nested display: " + r.stdout + r.stderr
		}
		return ""
	})
	return machine
}

// nestedIn runs script in machine as the app does: in all of its
// namespaces (the mount, network, user, PID and IPC namespaces of the
// container), as alice, with the app's own DISPLAY and XAUTHORITY read
// from its environment. The app is the child of the machine's leader
// (nspawn --as-pid2).
func nestedIn(t *testing.T, machine, script string) result {
	t.Helper()
	return atkSh(t, "root", `
leader=$(machinectl show -p Leader --value "$1") || exit 90
app=$(pgrep -P "$leader" | head -n 1)
[ -n "$app" ] || { echo "no app process below $leader" >&2; exit 91; }
env=$(tr '\0' '\n' < "/proc/$app/environ" | grep -E '^(DISPLAY|XAUTHORITY|HOME|PATH)=')
exec timeout 20 nsenter -t "$app" -a -- setpriv --reuid=1000 --regid=1000 --clear-groups -- env -i $env /bin/sh -c "$2"
`, machine, script)
}

// onHost runs script as alice on her display :0.
func onHost(t *testing.T, script string) string {
	t.Helper()
	return atkMustSh(t, "root", `exec setpriv --reuid=1000 --regid=1000 --clear-groups -- env -i DISPLAY=:0 XAUTHORITY=/home/alice/.Xauthority PATH=/usr/bin:/bin /bin/sh -c "$1"`, script)
}

// The app's window is on its nested server, and that server's window is
// on the user's display.
func TestNestedAppDrawsInsideXephyr(t *testing.T) {
	machine := nestedLaunch(t)

	// On :0: one Xephyr window with the app's name, mapped.
	var id string
	eventually(t, 10*time.Second, func() string {
		ids := strings.Fields(onHost(t, `xdotool search --name '^Nested XEyes \(nested X' || true`))
		if len(ids) != 1 {
			return "Xephyr windows named after the app on :0: " + strings.Join(ids, " ")
		}
		id = ids[0]
		return ""
	})
	info := onHost(t, "xwininfo -id "+id)
	if !strings.Contains(info, "Map State: IsViewable") || !strings.Contains(info, "Width: 1024") {
		t.Errorf("the Xephyr window on :0 is not shown at the nested screen's size:\n%s", info)
	}
	if class := onHost(t, "xprop -id "+id+" WM_CLASS"); !strings.Contains(class, `"Xephyr"`) {
		t.Errorf("the window named after the app on :0 is not Xephyr's: %s", class)
	}
	// xeyes itself is no client of :0.
	if out := onHost(t, `xdotool search --class xeyes || true`); strings.TrimSpace(out) != "" {
		t.Errorf("an xeyes window is on :0 itself: %s", out)
	}

	// Inside: the nested display holds xeyes' window, at the geometry
	// asked for, on a root of the nested size.
	r := nestedIn(t, machine, `echo "DISPLAY=$DISPLAY"; xwininfo -root | grep -E 'Width|Height'; xwininfo -root -tree`)
	if r.code != 0 {
		t.Fatalf("xwininfo inside: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"DISPLAY=:1\n", "Width: 1024", "Height: 768", `("xeyes" "XEyes")  200x150+20+40`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("inside, the nested display lacks %q:\n%s", want, r.stdout)
		}
	}
}

// What the app reads and types through its display stays on the nested
// server: it finds none of the user's windows, its screenshot is of the
// nested screen, and its XTEST pointer moves, clicks and keys reach
// nothing on :0 (xev on :0's root sees none of them, and does see the
// same done on :0 itself, so the watch works).
func TestNestedInputAndReadsStayInside(t *testing.T) {
	machine := nestedLaunch(t)
	hostNames := onHost(t, `xdotool search --name . getwindowname %@ 2>/dev/null || true`)
	if !strings.Contains(hostNames, nestedTitle) {
		t.Fatalf("the Xephyr window is not among :0's windows:\n%s", hostNames)
	}

	// Reads: window names, the whole tree, a screenshot of the root.
	r := nestedIn(t, machine, `
xdotool search --name . getwindowname %@ 2>/dev/null; echo ==
xwininfo -root -tree; echo ==
xwd -root -silent > /tmp/root.xwd && head -c 100 /tmp/root.xwd | od -An -tu4 --endian=big | head -n 2`)
	if r.code != 0 {
		t.Fatalf("reads inside: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	parts := strings.Split(r.stdout, "==\n")
	if len(parts) != 3 {
		t.Fatalf("unexpected output:\n%s", r.stdout)
	}
	if !strings.Contains(parts[0], "xeyes") {
		t.Errorf("the app does not find its own window by name:\n%s", parts[0])
	}
	for _, host := range []string{"xfce4-panel", "Xephyr", nestedTitle} {
		if strings.Contains(parts[0], host) || strings.Contains(parts[1], host) {
			t.Errorf("the app sees the host's window %q:\n%s", host, r.stdout)
		}
	}
	// The xwd header (big-endian CARD32s): header size, version 7,
	// format, depth, width, height.
	if f := strings.Fields(parts[2]); len(f) < 6 || f[1] != "7" || f[4] != "1024" || f[5] != "768" {
		t.Errorf("xwd -root inside is not of the 1024x768 nested screen: %q", parts[2])
	}

	// Input: with :0's pointer over its bare root, watch :0's root for
	// keys and buttons while the app moves, clicks and types through
	// XTEST; then do the same on :0 itself.
	out := atkMustSh(t, "root", `
m=$1
asalice() { setpriv --reuid=1000 --regid=1000 --clear-groups -- env -i DISPLAY=:0 XAUTHORITY=/home/alice/.Xauthority PATH=/usr/bin:/bin "$@"; }
asalice xdotool mousemove 1200 790
log=$(mktemp)
# Not through the function: $! must be xev itself (setpriv and env exec).
setpriv --reuid=1000 --regid=1000 --clear-groups -- env -i DISPLAY=:0 XAUTHORITY=/home/alice/.Xauthority xev -root -event keyboard -event button > "$log" 2>&1 &
xev=$!
sleep 1
echo "host pointer before: $(asalice xdotool getmouselocation)"
echo "== inside"
leader=$(machinectl show -p Leader --value "$m")
app=$(pgrep -P "$leader" | head -n 1)
env=$(tr '\0' '\n' < "/proc/$app/environ" | grep -E '^(DISPLAY|XAUTHORITY|PATH)=')
timeout 20 nsenter -t "$app" -a -- setpriv --reuid=1000 --regid=1000 --clear-groups -- env -i $env /bin/sh -c \
	'xdotool mousemove 5 5 click 1 key x type hello; xdotool mousemove 1200 790 click 3 key Return; xdotool getmouselocation' 2>&1
sleep 1
echo "== host pointer after: $(asalice xdotool getmouselocation)"
echo "== host events after the app's:"
grep -cE '^(KeyPress|KeyRelease|ButtonPress|ButtonRelease) event' "$log"
asalice xdotool key y click 2
sleep 1
echo "== host events after :0's own:"
grep -cE '^(KeyPress|ButtonPress) event' "$log"
kill "$xev"; rm -f "$log"
`, machine)
	sec := strings.Split(out, "== ")
	if len(sec) != 5 {
		t.Fatalf("unexpected output:\n%s", out)
	}
	before, inside, after, appEvents, ownEvents := sec[0], sec[1], sec[2], sec[3], sec[4]
	// Inside, xdotool reports the nested pointer where it put it last
	// (clamped to the nested screen).
	if !regexp.MustCompile(`x:1023 y:767 screen:0`).MatchString(inside) {
		t.Errorf("the app's XTEST did not act on the nested server:\n%s", inside)
	}
	loc := regexp.MustCompile(`x:\d+ y:\d+`)
	if b, a := loc.FindString(before), loc.FindString(after); b != "x:1200 y:790" || a != b {
		t.Errorf(":0's pointer moved: %q, then %q", b, a)
	}
	if n := strings.TrimSpace(strings.TrimPrefix(appEvents, "host events after the app's:")); n != "0" {
		t.Errorf(":0's root saw %s key or button events from the app's XTEST", n)
	}
	if n := strings.TrimSpace(strings.TrimPrefix(ownEvents, "host events after :0's own:")); n == "0" || n == "" {
		t.Errorf("the watch on :0 saw no events of :0's own (%q): it proves nothing", n)
	}
}

// The app cannot reach the user's display at all, tried as an attacker
// would from inside: DISPLAY=:0 and its spellings (which libxcb tries as
// the abstract socket, then the path), TCP, the socket path and the
// abstract name directly, while the same tools reach the nested display
// (and, on the host, the abstract socket), so the failures are the
// isolation's.
func TestNestedCannotConnectToHostDisplay(t *testing.T) {
	machine := nestedLaunch(t)
	// On the host, as alice, the abstract socket is there: what the
	// container's own network namespace hides.
	if r := atkSh(t, "alice", `python3 -c 'import socket; socket.socket(socket.AF_UNIX).connect("\0/tmp/.X11-unix/X0")' && echo reached`); !strings.Contains(r.stdout, "reached") {
		t.Fatalf("the host's abstract X socket is not there to hide: %d %s%s", r.code, r.stdout, r.stderr)
	}
	for _, tc := range []struct{ what, script string }{
		{"DISPLAY=:0", `DISPLAY=:0 xdpyinfo`},
		{"DISPLAY=unix:0", `DISPLAY=unix:0 xdpyinfo`},
		{"DISPLAY=:0 with no cookie", `DISPLAY=:0 XAUTHORITY=/dev/null xdpyinfo`},
		{"TCP to localhost", `DISPLAY=localhost:0 xdpyinfo`},
		{"TCP to 127.0.0.1", `DISPLAY=127.0.0.1:0 xdpyinfo`},
		{"xdotool on :0", `DISPLAY=:0 xdotool getmouselocation`},
		{"the abstract name", `socat -u /dev/null ABSTRACT-CONNECT:/tmp/.X11-unix/X0`},
		{"the socket path", `socat -u /dev/null UNIX-CONNECT:/tmp/.X11-unix/X0`},
		{"the host's /tmp path through /proc/1/root", `socat -u /dev/null UNIX-CONNECT:/proc/1/root/tmp/.X11-unix/X0`},
		{"TCP port 6000", `socat -u /dev/null TCP:127.0.0.1:6000`},
	} {
		t.Run(tc.what, func(t *testing.T) {
			r := nestedIn(t, machine, tc.script)
			if r.code == 0 {
				t.Errorf("%s: the app reached :0\n%s%s", tc.script, r.stdout, r.stderr)
			}
			// Refused by the connection, not by a missing tool.
			if r.code == 126 || r.code == 127 || !regexp.MustCompile(`unable to open display|Can't open display|Connection refused|No such file|Permission denied|Network is unreachable`).MatchString(r.stderr) {
				t.Errorf("%s: exit %d for another reason than a refused connection:\n%s", tc.script, r.code, r.stderr)
			}
			t.Logf("%s: %s", tc.script, strings.TrimSpace(r.stderr))
		})
	}
	// The same tools work on the nested display, and the only X socket
	// inside is the nested one; the host's abstract name is not among the
	// container network namespace's sockets.
	r := nestedIn(t, machine, `
xdpyinfo | grep -m1 'name of display'
socat -u /dev/null UNIX-CONNECT:/tmp/.X11-unix/X1 && echo nested-path-ok
for f in /tmp/.X11-unix/*; do [ -S "$f" ] && echo "socket $f"; done
grep -c 'X11-unix' /proc/net/unix || true`)
	for _, want := range []string{"name of display:    :1\n", "nested-path-ok\n", "socket /tmp/.X11-unix/X1\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("inside, %q missing:\n%s%s", want, r.stdout, r.stderr)
		}
	}
	if strings.Count(r.stdout, "socket ") != 1 {
		t.Errorf("inside, more X sockets than the nested one:\n%s", r.stdout)
	}
	if strings.Contains(r.stdout, "@/tmp/.X11-unix/X0") {
		t.Errorf("the host's abstract X socket is in the container's network namespace:\n%s", r.stdout)
	}
}

// A definition that combines a nested display with the host's network is
// refused, by `nspawn-tray apps` and by a launch, and starts nothing.
func TestNestedRefusesHostNetwork(t *testing.T) {
	atkInstallApp(t, "nested-hostnet", nestedXeyes+"network = \"host\"\n", "root:root", "0644")
	before := atkState(t)
	r := inHost(t, "alice", "", "nspawn-tray", "launch", "nested-hostnet")
	if r.code == 0 {
		t.Fatalf("launch of a nested app with the host's network succeeded: %s", r.stdout)
	}
	if !strings.Contains(r.stderr, `network = "host" with x11 = "nested"`) {
		t.Errorf("launch's error does not say why: %s", r.stderr)
	}
	atkNothingNew(t, before, "nested with host network", "nested-hostnet")
	if r := inHost(t, "alice", "", "nspawn-tray", "apps"); r.code == 0 || !strings.Contains(r.stderr, "nested-hostnet.toml:5: conflicting keys") {
		t.Errorf("nspawn-tray apps: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
