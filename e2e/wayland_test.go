//go:build e2e

package e2e

import (
	"bytes"
	"encoding/base64"
	"image"
	"image/png"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A Wayland client from the xapps image, given nothing but a Wayland
// socket: the launch below passes no DISPLAY.
const waylandShm = `name = "Wayland SHM"
image = "xapps"
exec = ["/usr/bin/weston-simple-shm"]
audio = false
dbus = []
`

// westonShot takes a screenshot of alice's headless Weston (its
// screenshooter, allowed by --debug) and decodes it.
func westonShot(t *testing.T) image.Image {
	t.Helper()
	out := atkMustSh(t, "alice", `
d=$(mktemp -d) && cd "$d" || exit 1
WAYLAND_DISPLAY=wayland-1 XDG_RUNTIME_DIR=/run/user/1000 weston-screenshooter >&2 || exit 1
base64 -w0 wayland-screenshot-*.png
cd / && rm -rf "$d"`)
	data, err := base64.StdEncoding.DecodeString(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	return img
}

// changed counts the pixels that differ between a and b.
func changed(a, b image.Image) int {
	n := 0
	r := a.Bounds().Intersect(b.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			ar, ag, ab, _ := a.At(x, y).RGBA()
			br, bg, bb, _ := b.At(x, y).RGBA()
			if ar != br || ag != bg || ab != bb {
				n++
			}
		}
	}
	return n
}

// A Wayland app on a real compositor: alice's session has only a Wayland
// display (a headless Weston), the app gets only its socket (bindWayland:
// opened by fd, bound at /run/nspawn-tray/wayland), and what it draws
// shows in the compositor's own screenshot.
func TestWaylandAppDrawsOnWeston(t *testing.T) {
	mustRun(t, "alice", "systemctl", "--user", "start", "weston.service")
	t.Cleanup(func() { inHost(t, "alice", "", "systemctl", "--user", "stop", "weston.service") })
	// Let the shell draw its background and panel first.
	time.Sleep(time.Second)
	before := westonShot(t)

	atkInstallApp(t, "wayland-shm", waylandShm, "root:root", "0644")
	out := strings.TrimSpace(atkMustSh(t, "alice", `exec env -u DISPLAY -u XAUTHORITY WAYLAND_DISPLAY=wayland-1 XDG_RUNTIME_DIR=/run/user/1000 nspawn-tray launch wayland-shm`))
	if !strings.HasPrefix(out, "wayland-shm-") {
		t.Fatalf("launch printed %q", out)
	}
	machine := out
	t.Cleanup(func() { inHost(t, "root", "", "machinectl", "terminate", machine) })

	// The app's environment: the Wayland socket, no X display; inside,
	// no X socket at all.
	env := atkMustSh(t, "root", `
leader=$(machinectl show -p Leader --value "$1") || exit 1
app=$(pgrep -P "$leader" | head -n 1)
tr '\0' '\n' < "/proc/$app/environ"
echo "== x11: $(ls "/proc/$app/root/tmp/.X11-unix" 2>&1)"
echo "== wayland: $(stat -c %F "/proc/$app/root/run/nspawn-tray/wayland/wayland-1")"`, machine)
	for _, want := range []string{"WAYLAND_DISPLAY=/run/nspawn-tray/wayland/wayland-1\n", "== wayland: socket"} {
		if !strings.Contains(env, want) {
			t.Errorf("the app lacks %q:\n%s", want, env)
		}
	}
	if strings.Contains(env, "DISPLAY=:") || strings.Contains(env, "XAUTHORITY=") || !strings.Contains(env, "No such file") {
		t.Errorf("the app got an X display:\n%s", env)
	}

	// weston-simple-shm's 250x250 window, in the compositor's own
	// picture of its outputs.
	eventually(t, 10*time.Second, func() string {
		n := changed(before, westonShot(t))
		if n < 250*250/2 {
			return "the compositor's screenshot barely changed after the launch: " + strconv.Itoa(n) + " pixels"
		}
		t.Logf("%d pixels of the compositor's output changed", n)
		return ""
	})
	if !machineListed(t, machine) {
		t.Error("the app's machine is gone: it did not keep drawing")
	}
}
