//go:build e2e

// Hardening: any local user (mallory, not in the group, and alice, in it)
// attacks the installed daemon over the bus, and images and definitions try
// to reach further than they should. Each test checks the outcome: the
// daemon is alive with the same PID, its descriptors are back to where they
// were, nothing was written outside a staging dir, limits hold.
package e2e

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"strconv"
	"strings"
	"testing"
	"time"
)

// daemonState is the running daemon's PID and open descriptors.
func daemonState(t *testing.T) (pid string, fds int) {
	t.Helper()
	pid = strings.TrimSpace(mustRun(t, "root", "systemctl", "show", "-P", "MainPID", "nspawn-tray-daemon.service"))
	if pid == "" || pid == "0" {
		t.Fatal("the daemon is not running")
	}
	n := strings.TrimSpace(mustRun(t, "root", "sh", "-c", "ls /proc/"+pid+"/fd | wc -l"))
	fds, err := strconv.Atoi(n)
	if err != nil {
		t.Fatal(err)
	}
	return pid, fds
}

// wakeDaemon makes sure the daemon runs (bus activation) and returns its
// state.
func wakeDaemon(t *testing.T) (string, int) {
	t.Helper()
	mustRun(t, "alice", "nspawn-tray", "ps")
	return daemonState(t)
}

// hostileCalls is a shell script that sends the daemon rounds of calls
// whose bodies carry descriptors in every shape godbus decodes (the
// descriptor is a directory of the caller's: a daemon that closed the
// wrong number could be steered to write into it), to known and unknown
// methods and with wrong signatures. Errors are expected and ignored.
const hostileCalls = `
rounds=$1 dir=$2 app=$3
exec 3<"$dir"
call() { busctl call --system io.github.nspawn_tray.Launcher1 /io/github/nspawn_tray/Launcher1 "$@" >/dev/null 2>&1; }
I=io.github.nspawn_tray.Launcher1
daemon=$(busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus GetNameOwner s $I | cut -d'"' -f2)
big=$(seq 1 4000 | tr '\n' ' ')
deep="v v v v v v v v v v v v v v v v v v v v v v v v v v v v v v s deep"
# Once: deep nesting, a big array, unicast signals (to the daemon alone).
call $I Launch 'sa{sv}' "$app" 1 x $deep
call $I Launch 'sa{sv}' "$app" 1 args as 4000 $big
dbus-send --system --type=signal --dest="$daemon" /org/freedesktop/machine1 org.freedesktop.machine1.Manager.MachineNew string:x objpath:/x 2>/dev/null
dbus-send --system --type=signal --dest="$daemon" /x io.github.nspawn_tray.Launcher1.Launch string:x 2>/dev/null
i=0
while [ $i -lt $rounds ]; do
	call $I Launch 'sa{sv}' "$app" 1 stdout h 3
	call $I Launch 'sa{sv}' "$app" 2 wait b true stdout h 3
	call $I Launch 'sa{sv}' "$app" 1 stdout ah 2 3 3
	call $I Launch 'sa{sv}' "$app" 1 x 'a{sh}' 1 k 3
	call $I Launch 'sa{sv}' "$app" 1 stdout '(hh)' 3 3
	call $I Launch 'sa{sv}' "$app" 1 x v ah 1 3
	call $I List h 3
	call $I Stop sh x 3
	call $I Metadata ah 1 3
	call $I NoSuchMethod h 3
	call org.example.Nothing Launch h 3
	i=$((i+1))
done
echo done
`

// 1000 hostile calls per user leave the daemon running (same PID) with
// the descriptors it had, and nothing written into the directory whose
// descriptor they carried.
func TestHardeningDescriptorsInEveryShape(t *testing.T) {
	pid, before := wakeDaemon(t)
	for _, user := range []string{"mallory", "alice"} {
		t.Run(user, func(t *testing.T) {
			dir := "/tmp/e2e-fds-" + user
			atkMustSh(t, user, `rm -rf "$1" && mkdir "$1"`, dir)
			t.Cleanup(func() { atkSh(t, "root", `rm -rf "$1"`, dir) })
			// alice may launch: she names an app that is not there, so
			// nothing runs and holds her descriptors.
			if out := atkMustSh(t, user, hostileCalls, "91", dir, "nosuchapp"); !strings.Contains(out, "done") {
				t.Fatalf("the attack script did not finish: %q", out)
			}
			if left := strings.TrimSpace(atkMustSh(t, "root", `ls -A "$1"`, dir)); left != "" {
				t.Errorf("the daemon wrote into the caller's directory: %s", left)
			}
		})
	}
	eventually(t, 10*time.Second, func() string {
		now, fds := daemonState(t)
		if now != pid {
			return fmt.Sprintf("the daemon's PID changed from %s to %s: it died", pid, now)
		}
		if fds != before {
			return fmt.Sprintf("the daemon has %d descriptors open, %d before the attack", fds, before)
		}
		return ""
	})
	// And it still works.
	if out := launch(t, "alice", "probe"); !strings.HasPrefix(out, "probe-") {
		t.Errorf("a launch after the attack: %q", out)
	}
}

// An app on the user's X server can read and type into every other window:
// apps says which ones are.
func TestHardeningAppsMarksHostX11(t *testing.T) {
	// ghost's image is missing: apps lists the rest and says so (exit 1).
	r := inHost(t, "alice", "", "nspawn-tray", "apps")
	if want := "nspawn-tray: image \"nosuchimage\" of app \"ghost\" is missing: no directory /var/lib/machines/nosuchimage and no raw image /var/lib/machines/nosuchimage.raw\n"; r.code != 1 || r.stderr != want {
		t.Errorf("apps: exit %d, stderr %q; want 1 and %q", r.code, r.stderr, want)
	}
	out := r.stdout
	xeyes, sleeper := "", ""
	for _, line := range strings.Split(out, "\n") {
		switch f := strings.Fields(line); {
		case len(f) > 0 && f[0] == "xeyes":
			xeyes = line
		case len(f) > 0 && f[0] == "sleeper":
			sleeper = line
		}
	}
	if !strings.Contains(xeyes, " host* ") || !strings.Contains(sleeper, " none ") ||
		!strings.Contains(out, "* shares your X server: it can read your other windows and type into them") {
		t.Errorf("apps does not mark the apps on the host's X server:\n%s", out)
	}
}

// Anyone may send a signal on the system bus, to everyone or to the
// daemon alone: forged JobRemoved and PropertiesChanged for the jobs and
// units of alice's launches must not fail them or end them early.
func TestHardeningForgedSignals(t *testing.T) {
	wakeDaemon(t)
	owner := strings.Fields(mustRun(t, "root", "busctl", "--system", "call", "org.freedesktop.DBus", "/org/freedesktop/DBus",
		"org.freedesktop.DBus", "GetNameOwner", "s", "io.github.nspawn_tray.Launcher1"))
	if len(owner) != 2 {
		t.Fatalf("owner of the launcher: %q", owner)
	}
	unique := strings.Trim(owner[1], `"`)
	// Job ids are sequential: a job root starts now tells where they are.
	job := strings.Fields(mustRun(t, "root", "busctl", "--system", "call", "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
		"org.freedesktop.systemd1.Manager", "StartUnit", "ss", "dbus.service", "replace"))
	base, err := strconv.Atoi(strings.TrimPrefix(strings.Trim(job[len(job)-1], `"`), "/org/freedesktop/systemd1/job/"))
	if err != nil {
		t.Fatalf("job path %q: %v", job, err)
	}
	// mallory floods forged job ends ("failed") for the next job ids,
	// broadcast and to the daemon alone, while alice launches.
	flood := `
base=$2
end=$(( $(date +%s) + 6 ))
while [ $(date +%s) -lt $end ]; do
	j=$((base + 1))
	while [ $j -le $((base + 200)) ]; do
		dbus-send --system --type=signal /org/freedesktop/systemd1 org.freedesktop.systemd1.Manager.JobRemoved uint32:$j objpath:/org/freedesktop/systemd1/job/$j string:x.service string:failed 2>/dev/null
		dbus-send --system --type=signal --dest="$1" /org/freedesktop/systemd1 org.freedesktop.systemd1.Manager.JobRemoved uint32:$j objpath:/org/freedesktop/systemd1/job/$j string:x.service string:failed 2>/dev/null
		j=$((j + 1))
	done
done
echo flooded`
	done := make(chan result, 1)
	go func() { done <- atkSh(t, "mallory", flood, unique, strconv.Itoa(base)) }()
	time.Sleep(300 * time.Millisecond)
	for i := 0; i < 8; i++ {
		r := inHost(t, "alice", "", "nspawn-tray", "launch", "--wait", "shell", "--", "exit 7")
		if r.code != 7 {
			t.Errorf("launch %d during the flood: exit %d, want the app's 7\n%s", i, r.code, r.stderr)
		}
	}
	if r := <-done; !strings.Contains(r.stdout, "flooded") {
		t.Errorf("the flood did not run: %+v", r)
	}
}

// hugePNG is a valid 1024x1024 16-bit RGBA PNG of a few KB that decodes to
// 8 MB: what a hostile image puts in its icons.
func hugePNG(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA64(image.Rect(0, 0, 1024, 1024))
	for y := 0; y < 1024; y += 64 {
		img.Set(y, y, color.RGBA64{0xffff, 0, 0, 0xffff})
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Metadata needs no authorization. 200 calls at once from mallory, over
// apps whose image holds icons that decode to 8 MB each, keep the daemon
// under a stated memory ceiling, and alice's launches keep working.
func TestHardeningMetadataFlood(t *testing.T) {
	const image = "/var/lib/machines/e2eicons"
	t.Cleanup(func() { atkSh(t, "root", `rm -rf "$1"`, image) })
	atkMustSh(t, "root", `test ! -e "$1" && cp -a /var/lib/machines/probe "$1" &&
		mkdir -p "$1/usr/share/applications" "$1/usr/share/pixmaps" &&
		printf '[Desktop Entry]\nType=Application\nName=Icons\nExec=/usr/bin/probe\nIcon=big\n' > "$1/usr/share/applications/e2eicons.desktop" &&
		for s in 16 22 24 32 48 64 128 256 512; do mkdir -p "$1/usr/share/icons/hicolor/${s}x${s}/apps"; done`, image)
	png := string(hugePNG(t))
	for _, dst := range []string{"usr/share/icons/hicolor/48x48/apps/big.png", "usr/share/icons/hicolor/512x512/apps/big.png", "usr/share/pixmaps/big.png"} {
		if r := inHost(t, "root", png, "sh", "-c", `cat > "$1"`, "sh", image+"/"+dst); r.code != 0 {
			t.Fatal(r.stderr)
		}
	}
	for i := 0; i < 6; i++ {
		atkInstallApp(t, fmt.Sprintf("e2eicons%d", i), "name = \"Icons\"\nimage = \"e2eicons\"\nexec = [\"/usr/bin/probe\"]\n", "root", "0644")
	}
	pid, _ := wakeDaemon(t)
	flood := `
for i in $(seq 0 199); do
	busctl call --system io.github.nspawn_tray.Launcher1 /io/github/nspawn_tray/Launcher1 io.github.nspawn_tray.Launcher1 Metadata s "e2eicons$((i % 6))" >/dev/null 2>&1 &
done
wait
echo done`
	done := make(chan result, 1)
	go func() { done <- atkSh(t, "mallory", flood) }()
	if out := launch(t, "alice", "probe"); !strings.HasPrefix(out, "probe-") {
		t.Errorf("a launch during the flood: %q", out)
	}
	if r := <-done; !strings.Contains(r.stdout, "done") {
		t.Fatalf("the flood did not run: %+v", r)
	}
	now, _ := daemonState(t)
	if now != pid {
		t.Fatalf("the daemon restarted during the flood (%s, then %s)", pid, now)
	}
	hwm := mustRun(t, "root", "sh", "-c", "grep VmHWM /proc/"+pid+"/status")
	kb, _ := strconv.Atoi(strings.Fields(hwm)[1])
	t.Logf("daemon peak RSS after 200 parallel Metadata calls: %d KiB", kb)
	const ceiling = 128 << 10 // KiB; see the README's security model
	if kb > ceiling {
		t.Errorf("the daemon's peak RSS is %d KiB, over the %d KiB ceiling", kb, ceiling)
	}
	// The icons made it (the calls were answered, not refused).
	if r := inHost(t, "alice", "", "busctl", "call", "--system", "io.github.nspawn_tray.Launcher1", "/io/github/nspawn_tray/Launcher1",
		"io.github.nspawn_tray.Launcher1", "Metadata", "s", "e2eicons0"); r.code != 0 || !strings.Contains(r.stdout, `"e2eicons"`) {
		t.Errorf("Metadata of e2eicons0: %+v", r)
	}
}

// The daemon's settings cap a user's instances, and what a user may write
// in an instance sits on a size-limited tmpfs.
func TestHardeningPerUserLimits(t *testing.T) {
	t.Cleanup(func() {
		atkSh(t, "root", `rm -f /etc/nspawn-tray/daemon.toml`)
		inHost(t, "alice", "", "nspawn-tray", "stop", "--app", "sleeper")
	})
	atkMustSh(t, "root", `test ! -e /etc/nspawn-tray/daemon.toml && printf 'max_instances_per_user = 2\nscratch_size = "4M"\ntasks_max = 300\n' > /etc/nspawn-tray/daemon.toml`)
	first := launch(t, "alice", "sleeper")
	launch(t, "alice", "sleeper")
	r := inHost(t, "alice", "", "nspawn-tray", "launch", "sleeper")
	if r.code != 1 || !strings.Contains(r.stderr, "you have 2 instances running") || !strings.Contains(r.stderr, "max_instances_per_user") {
		t.Errorf("a third instance: exit %d, %q", r.code, r.stderr)
	}
	// mallory's count is her own (she may not launch at all, but not for
	// this reason).
	if r := inHost(t, "mallory", "", "nspawn-tray", "launch", "sleeper"); strings.Contains(r.stderr, "instances running") {
		t.Errorf("mallory hit alice's limit: %q", r.stderr)
	}
	// From the host, alice's writes into her instance's runtime dir stop
	// at scratch_size.
	rt := "/run/nspawn-tray/instances/" + strings.TrimSpace(first) + "/scratch/runtime"
	w := inHost(t, "alice", "", "dd", "if=/dev/zero", "of="+rt+"/fill", "bs=1M", "count=16")
	if w.code == 0 || !strings.Contains(w.stderr, "No space left") {
		t.Errorf("filling the runtime dir: exit %d, %s", w.code, w.stderr)
	}
	props := mustRun(t, "root", "systemctl", "show", "-p", "TasksMax", "-p", "MemoryMax", "nspawn-tray-"+strings.TrimSpace(first)+".service")
	if !strings.Contains(props, "TasksMax=300\n") || strings.Contains(props, "MemoryMax=infinity") {
		t.Errorf("unit limits:\n%s", props)
	}
}

// An image's desktop file must not take over a host app's entry.
func TestHardeningEntriesNeverShadowTheHost(t *testing.T) {
	const image = "/var/lib/machines/e2efox"
	t.Cleanup(func() {
		atkSh(t, "root", `rm -rf "$1" /usr/share/applications/e2efox.desktop`, image)
		inHost(t, "alice", "", "nspawn-tray", "sync")
	})
	atkMustSh(t, "root", `test ! -e "$1" && cp -a /var/lib/machines/probe "$1" && mkdir -p "$1/usr/share/applications" &&
		printf '[Desktop Entry]\nType=Application\nName=Not Firefox\nExec=/usr/bin/probe\n' > "$1/usr/share/applications/e2efox.desktop" &&
		printf '[Desktop Entry]\nType=Application\nName=Host app\nExec=/bin/true\n' > /usr/share/applications/e2efox.desktop`, image)
	atkInstallApp(t, "e2efox", "name = \"Fox\"\nimage = \"e2efox\"\nexec = [\"/usr/bin/probe\"]\n", "root", "0644")
	mustRun(t, "alice", "nspawn-tray", "sync")
	apps := "/home/alice/.local/share/applications/"
	if r := inHost(t, "alice", "", "test", "-e", apps+"e2efox.desktop"); r.code == 0 {
		t.Error("the image's entry took the host app's name")
	}
	entry := mustRun(t, "alice", "cat", apps+"nspawn-tray-e2efox.desktop")
	if !strings.Contains(entry, "\nStartupWMClass=e2efox\n") || !strings.Contains(entry, "\nName=Fox\n") {
		t.Errorf("the renamed entry:\n%s", entry)
	}
}

// The session bus: only the listed service's interfaces, no names that run
// host code, and no bus the app could reach around the filter.
func TestHardeningSessionBus(t *testing.T) {
	// Another interface of the connection that owns Notifications.
	r := inHost(t, "alice", "", "nspawn-tray", "launch", "--wait", "dbus-send", "--",
		"--dest=org.freedesktop.Notifications", "/org/freedesktop/Notifications", "org.freedesktop.DBus.Introspectable.Introspect")
	if r.code == 0 {
		t.Errorf("Introspect on the Notifications owner went through the filter:\n%s", r.stdout)
	}
	r = inHost(t, "alice", "", "nspawn-tray", "launch", "--wait", "dbus-send", "--",
		"--dest=org.freedesktop.Notifications", "/", "org.freedesktop.Notifications.GetServerInformation")
	if r.code == 0 {
		t.Errorf("a call at another object path went through the filter:\n%s", r.stdout)
	}
	// A definition asking for GNOME Shell is invalid, and says why.
	atkInstallApp(t, "e2eshell", "name = \"S\"\nimage = \"xapps\"\nexec = [\"/bin/true\"]\nx11 = \"none\"\ndbus = [\"org.gnome.Shell\"]\n", "root", "0644")
	r = inHost(t, "alice", "", "nspawn-tray", "launch", "e2eshell")
	if r.code != 1 || !strings.Contains(r.stderr, `"org.gnome.Shell": refused, GNOME Shell evaluates JavaScript`) {
		t.Errorf("launch of an app listing org.gnome.Shell: exit %d, %q", r.code, r.stderr)
	}
	// A session bus on an abstract socket is reachable from the host's
	// network without the proxy: refused, with what to do.
	r = inHost(t, "alice", "", "env", "DBUS_SESSION_BUS_ADDRESS=unix:abstract=/tmp/dbus-e2e", "nspawn-tray", "launch", "--wait", "dbus-send", "--",
		"--dest=org.freedesktop.Notifications", "/org/freedesktop/Notifications", "org.freedesktop.Notifications.GetServerInformation")
	if r.code != 1 || !strings.Contains(r.stderr, "without the filter") || !strings.Contains(r.stderr, `network = "none"`) {
		t.Errorf("an abstract session bus: exit %d, %q", r.code, r.stderr)
	}
}
