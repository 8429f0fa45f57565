//go:build e2e

package e2e

import (
	"bytes"
	"encoding/base64"
	"image"
	"image/png"
	"strings"
	"testing"
	"time"
)

// Raw images: /var/lib/machines/NAME.raw, a GPT disk image with a root
// partition, run with nspawn --image and read by the daemon (passwd and
// group at launch, the desktop entry and icons for Metadata) through a
// read-only mount that lives only for the read.

// rawHostCan skips t unless the test host can do what raw images need:
// loop devices for systemd-dissect and nspawn, and, to launch, a udev
// control socket (systemd-nspawn 252 refuses --image without one).
func rawHostCan(t *testing.T, launch bool) {
	t.Helper()
	r := atkSh(t, "root", `
test -c /dev/loop-control || echo "no /dev/loop-control (the host's /dev has no loop devices)"
command -v mkfs.ext4 >/dev/null || echo "no mkfs.ext4 (package e2fsprogs)"
command -v systemd-repart >/dev/null || echo "no systemd-repart (package systemd; its own package systemd-repart from Debian 13 on)"
command -v systemd-dissect >/dev/null || echo "no systemd-dissect (package systemd)"
if [ "$1" = launch ]; then test -S /run/udev/control || echo "no /run/udev/control (systemd-nspawn 252 --image needs udev's control socket)"; fi
`, map[bool]string{true: "launch", false: "read"}[launch])
	if missing := strings.TrimSpace(r.stdout + r.stderr); missing != "" {
		t.Skip("the test host cannot use raw images: " + strings.ReplaceAll(missing, "\n", "; "))
	}
}

// rawBuild makes /var/lib/machines/NAME.raw from a copy of the probe
// image, after running setup (a shell script, with the copy as its
// working directory and data in $DATA), and removes it in cleanup. It
// builds the way an administrator could without loop devices: the tree
// into an ext4 file system with mkfs.ext4 -d, that into a GPT root
// partition with systemd-repart.
func rawBuild(t *testing.T, name, setup, data string) string {
	t.Helper()
	path := "/var/lib/machines/" + name + ".raw"
	t.Cleanup(func() { inHost(t, "root", "", "rm", "-f", path) })
	script := `set -e
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cp -a /var/lib/machines/probe "$work/tree"
(cd "$work/tree" && DATA=$3 sh -ec "$2")
size=$(( $(du -sm "$work/tree" | cut -f1) * 2 + 16 ))
mkfs.ext4 -q -L root -d "$work/tree" "$work/root.ext4" "${size}M"
mkdir "$work/repart.d"
printf '[Partition]\nType=root\nCopyBlocks=%s\n' "$work/root.ext4" > "$work/repart.d/10-root.conf"
test ! -e "$1"
systemd-repart --empty=create --size=auto --dry-run=no --no-pager --definitions="$work/repart.d" "$1" >/dev/null
chmod 0644 "$1"`
	if r := atkSh(t, "root", script, path, setup, data); r.code != 0 {
		t.Fatalf("building %s: exit %d\n%s%s", path, r.code, r.stdout, r.stderr)
	}
	return path
}

// rawNothingLeft fails t if anything of a read of the raw image at path
// outlived it: a mount (in the host, or in any thread of the daemon), a
// mount point in the dissect dir, a loop device backed by the image.
func rawNothingLeft(t *testing.T, path string) {
	t.Helper()
	script := `img=$1
for f in /proc/self/mountinfo /proc/[0-9]*/task/[0-9]*/mountinfo; do
	grep -F -e /run/nspawn-tray/dissect -e "$img" "$f" 2>/dev/null | sed "s|^|$f: |"
done
for f in /sys/block/loop*/loop/backing_file; do
	test -e "$f" && grep -Fx "$img" "$f" >/dev/null && echo "loop device ${f#/sys/block/} backs $img"
done
ls -A /run/nspawn-tray/dissect 2>/dev/null | sed 's|^|mount point left: |'
true`
	eventually(t, rawSettle, func() string { return strings.TrimSpace(atkMustSh(t, "root", script, path)) })
}

// A loop device is cleared just after its last close, and the tray may
// be syncing (and so reading the images) when a test installs an app.
const rawSettle = 10 * time.Second

// Launched from a raw image (with --wait), the app runs from it: its
// files, its os-release, as alice, on the read-only image with the
// volatile overlay; and with a directory of the same name, the directory
// wins, as with machinectl.
func TestRawImageRuns(t *testing.T) {
	rawHostCan(t, true)
	img := rawBuild(t, "e2eraw", `echo 'ID=e2eraw' > etc/os-release; echo 'only in e2eraw.raw' > etc/e2e-marker`, "")
	atkInstallApp(t, "e2eraw", strings.Replace(probeApp("Raw", "/bin/sh", "-c",
		`cat /etc/e2e-marker /etc/os-release; id; grep " / " /proc/self/mountinfo`), `"probe"`, `"e2eraw"`, 1), "root", "0644")
	sum := mustRun(t, "root", "sha256sum", img)
	r := inHost(t, "alice", "", "nspawn-tray", "launch", "--wait", "e2eraw")
	if r.code != 0 {
		t.Fatalf("launch --wait e2eraw: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"only in e2eraw.raw\n", "ID=e2eraw\n", "uid=1000(alice) gid=1000(alice)", " / / rw", " - overlay overlay "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the app's output lacks %q:\n%s", want, r.stdout)
		}
	}
	rawNothingLeft(t, img)
	if after := mustRun(t, "root", "sha256sum", img); after != sum {
		t.Errorf("the image changed: %s, was %s", after, sum)
	}

	// A directory e2eraw appears: it wins over e2eraw.raw.
	t.Cleanup(func() { inHost(t, "root", "", "rm", "-rf", "/var/lib/machines/e2eraw") })
	atkMustSh(t, "root", `cp -a /var/lib/machines/probe /var/lib/machines/e2eraw && echo 'the directory' > /var/lib/machines/e2eraw/etc/e2e-marker`)
	r = inHost(t, "alice", "", "nspawn-tray", "launch", "--wait", "e2eraw")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "the directory\n") {
		t.Errorf("with both a directory and a raw image: exit %d, output:\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// The daemon gets a raw image's desktop entry and icon out of it for
// Metadata, and sync installs them for alice.
func TestRawImageMetadataAndSync(t *testing.T) {
	rawHostCan(t, false)
	var icon bytes.Buffer
	if err := png.Encode(&icon, image.NewNRGBA(image.Rect(0, 0, 48, 48))); err != nil {
		t.Fatal(err)
	}
	img := rawBuild(t, "e2erawmeta", `mkdir -p usr/share/applications usr/share/icons/hicolor/48x48/apps
printf '[Desktop Entry]\nType=Application\nName=Raw Meta\nComment=From a raw image\nExec=/usr/bin/probe\nIcon=e2e-rawmeta\n' > usr/share/applications/e2e-rawmeta.desktop
printf %s "$DATA" | base64 -d > usr/share/icons/hicolor/48x48/apps/e2e-rawmeta.png`, base64.StdEncoding.EncodeToString(icon.Bytes()))
	atkInstallApp(t, "e2erawmeta", `name = "Raw Meta"
image = "e2erawmeta"
exec = ["/usr/bin/probe"]
x11 = "none"
`, "root", "0644")
	t.Cleanup(func() { inHost(t, "alice", "", "nspawn-tray", "sync") })

	r := inHost(t, "alice", "", "busctl", "--json=short", "call", atkBusName, atkPath, atkBusName, "Metadata", "s", "e2erawmeta")
	if r.code != 0 {
		t.Fatalf("Metadata(e2erawmeta): %s", r.stderr)
	}
	if !strings.Contains(r.stdout, `"e2e-rawmeta"`) || !strings.Contains(r.stdout, `"From a raw image"`) || !strings.Contains(r.stdout, `"48x48"`) {
		t.Errorf("Metadata(e2erawmeta) lacks the image's entry or icon:\n%s", r.stdout)
	}
	rawNothingLeft(t, img)

	syncAsAlice(t)
	entry := mustRun(t, "alice", "cat", appsDir+"/e2e-rawmeta.desktop")
	if field(entry, "Comment") != "From a raw image" || field(entry, "Icon") != "nspawn-tray.e2erawmeta" {
		t.Errorf("e2e-rawmeta.desktop:\n%s", entry)
	}
	got := mustRun(t, "alice", "base64", "-w0", iconsDir+"/48x48/apps/nspawn-tray.e2erawmeta.png")
	if got != base64.StdEncoding.EncodeToString(icon.Bytes()) {
		t.Errorf("the installed icon is not the image's")
	}
	rawNothingLeft(t, img)
}

// A raw image whose desktop file and icons are symlinks to host files
// gets nothing of the host: the mount is read with RESOLVE_IN_ROOT, so
// every link resolves inside the image.
func TestAttackRawImageMetadataCannotReadHostFiles(t *testing.T) {
	rawHostCan(t, false)
	img := rawBuild(t, "e2erawevil", `mkdir -p usr/share/applications usr/share/icons/hicolor/scalable/apps usr/share/pixmaps
rm -f etc/shadow
ln -s /etc/shadow usr/share/applications/evil.desktop
printf '[Desktop Entry]\nType=Application\nName=Leaky\nExec=/usr/bin/probe\nIcon=leak\n' > usr/share/applications/leaky.desktop
ln -s /etc/shadow usr/share/icons/hicolor/scalable/apps/leak.svg
ln -s /../../../../etc/e2e-raw-secret.svg usr/share/pixmaps/leak.svg
ln -s /proc/1/root/etc/e2e-raw-secret.svg usr/share/pixmaps/leak.png`, "")
	t.Cleanup(func() { inHost(t, "root", "", "rm", "-f", "/etc/e2e-raw-secret.svg") })
	// A host file that would pass as an icon, were it ever read.
	atkMustSh(t, "root", `printf '<svg xmlns="http://www.w3.org/2000/svg"><title>HOSTSECRET</title></svg>\n' > /etc/e2e-raw-secret.svg`)
	atkInstallApp(t, "e2erawevil", "name = \"Evil\"\nimage = \"e2erawevil\"\nexec = [\"/usr/bin/probe\"]\n[desktop]\nfile = \"evil.desktop\"\n", "root", "0644")
	atkInstallApp(t, "e2erawleaky", "name = \"Leaky\"\nimage = \"e2erawevil\"\nexec = [\"/usr/bin/probe\"]\n", "root", "0644")
	t.Cleanup(func() { inHost(t, "alice", "", "nspawn-tray", "sync") })

	shadowRoot := strings.SplitN(mustRun(t, "root", "head", "-n", "1", "/etc/shadow"), ":", 3)
	leaked := func(what, s string) {
		t.Helper()
		if strings.Contains(s, "HOSTSECRET") || strings.Contains(s, shadowRoot[0]+":"+shadowRoot[1]) {
			t.Errorf("%s leaks host content:\n%s", what, s)
		}
	}
	call := func(app string) result {
		return inHost(t, "alice", "", "busctl", "--json=short", "call", atkBusName, atkPath, atkBusName, "Metadata", "s", app)
	}
	evil := call("e2erawevil")
	if evil.code == 0 {
		t.Errorf("Metadata of a desktop file that is a symlink to /etc/shadow succeeded:\n%s", evil.stdout)
	}
	leaked("Metadata(e2erawevil)", evil.stdout+evil.stderr)
	leaky := call("e2erawleaky")
	if leaky.code != 0 {
		t.Fatalf("Metadata(e2erawleaky): %s", leaky.stderr)
	}
	leaked("Metadata(e2erawleaky)", leaky.stdout)
	if !strings.Contains(leaky.stdout, `"Leaky"`) || !strings.HasSuffix(strings.TrimSpace(leaky.stdout), `[]]}`) {
		t.Errorf("Metadata(e2erawleaky) = %s, want the name and no icons", leaky.stdout)
	}
	mustRun(t, "alice", "nspawn-tray", "sync")
	leaked("alice's entries and icons", mustRun(t, "alice", "sh", "-c", "cat ~/.local/share/applications/*.desktop; find ~/.local/share/icons -type f -exec cat {} +"))
	rawNothingLeft(t, img)
}

// A missing image is reported with both places looked at, the same by
// apps and launch; a raw image that is not root's alone is refused.
func TestRawImageMissingOrUnsafe(t *testing.T) {
	atkInstallApp(t, "e2enoraw", strings.Replace(probeApp("No raw", "/usr/bin/probe"), `"probe"`, `"e2enoraw"`, 1), "root", "0644")
	want := `image "e2enoraw" of app "e2enoraw" is missing: no directory /var/lib/machines/e2enoraw and no raw image /var/lib/machines/e2enoraw.raw`
	r := inHost(t, "alice", "", "nspawn-tray", "launch", "e2enoraw")
	if r.code != 1 || r.stderr != "nspawn-tray: "+want+"\n" {
		t.Errorf("launch: exit %d, stderr %q; want 1 and %q", r.code, r.stderr, want)
	}
	if r := inHost(t, "alice", "", "nspawn-tray", "apps"); !strings.Contains(r.stderr, want) {
		t.Errorf("apps does not say %q:\n%s", want, r.stderr)
	}

	// Owned by alice: the kernel would parse a file system she wrote.
	t.Cleanup(func() { inHost(t, "root", "", "rm", "-f", "/var/lib/machines/e2enoraw.raw") })
	atkMustSh(t, "root", `truncate -s 1M /var/lib/machines/e2enoraw.raw && chown alice /var/lib/machines/e2enoraw.raw`)
	r = inHost(t, "alice", "", "nspawn-tray", "launch", "e2enoraw")
	if want := "/var/lib/machines/e2enoraw.raw is owned by uid 1000, not root"; r.code != 1 || !strings.Contains(r.stderr, want) {
		t.Errorf("launch of alice's raw image: exit %d, stderr %q; want refused with %q", r.code, r.stderr, want)
	}
}
