//go:build e2e

// Images: nspawn-tray image import, pull, list and remove against the
// test host's real systemd-importd and machined (systemd 252, Debian 12),
// its polkit and the daemon: from a tarball in the layout `docker export`
// writes to an entry of `machinectl list-images`, and back.
//
// What importd 252 itself does, seen here:
//   - it reads gzip, xz and bzip2 but not zstd ("tar: Archive is
//     compressed. Use --zstd option"); nspawn-tray decompresses zstd
//     with the zstd tool when there is one (the test host has none);
//   - a failed or canceled transfer removes its temporary tree
//     (/var/lib/machines/.#tar…) itself, when it gets to: SIGTERM, which
//     the first three CancelTransfer calls send, lets it; only the fourth
//     one's SIGKILL leaves .#tar… and .#settings… behind;
//   - systemd-pull 252 spins at full CPU, ignoring SIGTERM, on a .tar.gz
//     with bytes after the gzip stream; nspawn-tray's repeated cancel
//     reaches SIGKILL then;
//   - a successful pull keeps a hidden, immutable copy of the download,
//     /var/lib/machines/.tar-URL, for the next pull of the URL
//     (machinectl clean, or machinectl remove NAME, removes it);
//   - it drops systemd-pull's progress notifications ("Got invalid
//     percent value, ignoring."): the Transfer's Progress stays unknown,
//     and the percentage comes from its log lines ("Got 17% of URL").
package e2e

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	// imgDir holds the tarballs and the web servers' files in the host.
	imgDir = "/tmp/e2e-images"
	// imgPrefix starts every image these tests make.
	imgPrefix = "e2e-img-"
)

// imgSetup makes imgDir in the host with the probe image as tarballs in
// the layout docker export writes (the root's entries, no "./", numeric
// owners): probe.tar and probe.tar.gz. Everything the tests make is
// removed in cleanup: the dir, images named imgPrefix*, and hidden
// importd leftovers of URLs on loopback.
func imgSetup(t *testing.T) {
	t.Helper()
	t.Cleanup(func() {
		atkSh(t, "root", `
for u in $(systemctl list-units --plain --no-legend 'e2e-img-*' | cut -d' ' -f1); do systemctl stop "$u"; done
machinectl list-images --all --no-legend | cut -d' ' -f1 | while read -r n; do
	case $n in
	"$1"*|.tar-http:\\x2f\\x2f127\\x2e0\\x2e0\\x2e1:*) machinectl remove "$n" ;;
	esac
done
rm -rf "$2"`, imgPrefix, imgDir)
	})
	atkMustSh(t, "root", `set -e
rm -rf "$1"; mkdir -p "$1"
cd /var/lib/machines/probe
tar --numeric-owner -cf "$1/probe.tar" $(ls -A)
gzip -k "$1/probe.tar"`, imgDir)
}

// imgEntries lists /var/lib/machines, hidden entries included.
func imgEntries(t *testing.T) []string {
	t.Helper()
	return strings.Fields(mustRun(t, "root", "ls", "-A", "/var/lib/machines"))
}

// imgNothingLeft fails unless /var/lib/machines has nothing that was not
// there before: no image, no temporary .#tar… of importd. (Another test
// importing at the same time would show up too: the host is shared.)
func imgNothingLeft(t *testing.T, before []string, what string) {
	t.Helper()
	var added []string
	for _, e := range imgEntries(t) {
		if !slices.Contains(before, e) {
			added = append(added, e)
		}
	}
	if len(added) > 0 {
		t.Errorf("%s left %q in /var/lib/machines", what, added)
	}
	for _, line := range strings.Split(mustRun(t, "root", "machinectl", "list-images", "--all", "--no-legend"), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] != ".host" && !slices.Contains(before, f[0]) && !slices.Contains(before, f[0]+".raw") {
			t.Errorf("%s left image %q in machinectl list-images", what, f[0])
		}
	}
	if out := mustRun(t, "root", "busctl", "call", "org.freedesktop.import1", "/org/freedesktop/import1",
		"org.freedesktop.import1.Manager", "ListTransfers"); strings.Contains(out, imgPrefix) {
		t.Errorf("%s left a transfer: %s", what, out)
	}
}

// imgListed reports whether machinectl list-images shows name, and its
// type.
func imgListed(t *testing.T, name string) (string, bool) {
	t.Helper()
	for _, line := range strings.Split(mustRun(t, "root", "machinectl", "list-images", "--no-legend"), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == name {
			return f[1], true
		}
	}
	return "", false
}

// imgRemove removes image name in cleanup, whatever the test did.
func imgRemove(t *testing.T, name string) {
	t.Cleanup(func() { inHost(t, "root", "", "machinectl", "remove", name) })
}

// progressLine is what nspawn-tray writes per tenth where its output is
// not a terminal, and at the end.
var (
	progressTenth = regexp.MustCompile(`^(\S+): (\d+)% \(\S+ \S+ of \S+ \S+, \S+ \S+\)$`)
	progressDone  = regexp.MustCompile(`^(\S+): done, \S+ \S+ in \d+:\d\d \(\S+ \S+\)$`)
)

// checkProgress checks stderr is the progress of name: lines of rising
// tenths, then the done line, and nothing else. It returns the tenths'
// lines.
func checkProgress(t *testing.T, name, stderr string) []string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	last := lines[len(lines)-1]
	if m := progressDone.FindStringSubmatch(last); m == nil || m[1] != name {
		t.Errorf("progress ends with %q, want %q's done line", last, name)
	}
	prev := 0
	for _, l := range lines[:len(lines)-1] {
		m := progressTenth.FindStringSubmatch(l)
		if m == nil || m[1] != name {
			t.Errorf("progress line %q is not one of %q's tenths", l, name)
			continue
		}
		pct, _ := strconv.Atoi(m[2])
		if pct/10 <= prev/10 || pct >= 100 {
			t.Errorf("progress %q after %d%%: want a new tenth below 100%%", l, prev)
		}
		prev = pct
	}
	return lines[:len(lines)-1]
}

// The seed's workflow, from its start: a rootfs tarball as docker export
// writes it, imported by root, is an image machinectl and nspawn-tray
// list, with the tarball's files.
func TestImageImportDockerExportTarball(t *testing.T) {
	imgSetup(t)
	// Make the tarball big enough (48 MiB that do not compress) for the
	// progress to show tenths, not only its end.
	atkMustSh(t, "root", `set -e
cd "$1" && mkdir tree && cp -a /var/lib/machines/probe/. tree/
head -c 48M /dev/urandom > tree/var/tmp/filler
cd tree && tar --numeric-owner -cf - $(ls -A) | gzip -1 > ../big.tar.gz`, imgDir)

	t.Run("gz file, progress lines", func(t *testing.T) {
		name := imgPrefix + "gz"
		imgRemove(t, name)
		r := inHost(t, "root", "", "nspawn-tray", "image", "import", imgDir+"/big.tar.gz", name)
		if r.code != 0 || r.stdout != "" {
			t.Fatalf("import: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
		tenths := checkProgress(t, name, r.stderr)
		t.Logf("progress (%d tenths seen):\n%s", len(tenths), r.stderr)
		if typ, ok := imgListed(t, name); !ok || typ != "directory" {
			t.Errorf("machinectl list-images: %q listed %v as %q", name, ok, typ)
		}
		// The tree is the tarball's: the probe image and the filler.
		atkMustSh(t, "root", `set -e
cd /var/lib/machines
cmp probe/usr/bin/probe "$1/usr/bin/probe"
cmp "$2/tree/var/tmp/filler" "$1/var/tmp/filler"
test "$(cd probe && find . | sort)" = "$(cd "$1" && find . ! -path ./var/tmp/filler | sort)"
test "$(stat -c %a "$1/tmp")" = 1777`, name, imgDir)
		for _, user := range []string{"root", "alice"} {
			out := mustRun(t, user, "nspawn-tray", "image", "list")
			if !regexp.MustCompile(`(?m)^` + name + `\s+directory\s+`).MatchString(out) {
				t.Errorf("nspawn-tray image list as %s does not show %s:\n%s", user, name, out)
			}
		}
		// The definitions' images are shown with their apps.
		if out := mustRun(t, "alice", "nspawn-tray", "image", "list"); !regexp.MustCompile(`(?m)^probe\s.*\sprobe,`).MatchString(out) {
			t.Errorf("image list does not name probe's apps:\n%s", out)
		}
	})

	t.Run("plain tar on stdin", func(t *testing.T) {
		name := imgPrefix + "stdin"
		imgRemove(t, name)
		r := atkSh(t, "root", `nspawn-tray image import - "$1" < "$2/probe.tar"`, name, imgDir)
		if r.code != 0 || r.stdout != "" {
			t.Fatalf("import -: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
		checkProgress(t, name, r.stderr)
		atkMustSh(t, "root", `cmp /var/lib/machines/probe/usr/bin/probe "/var/lib/machines/$1/usr/bin/probe"`, name)
	})

	t.Run("quiet", func(t *testing.T) {
		name := imgPrefix + "quiet"
		imgRemove(t, name)
		if r := inHost(t, "root", "", "nspawn-tray", "image", "import", "--quiet", imgDir+"/probe.tar.gz", name); r.code != 0 || r.stdout != "" || r.stderr != "" {
			t.Errorf("import --quiet: exit %d, stdout %q, stderr %q; want 0 and nothing", r.code, r.stdout, r.stderr)
		}
	})

	t.Run("zst", func(t *testing.T) {
		zstd, err := exec.LookPath("zstd")
		if err != nil {
			t.Skip("no zstd here to make the tarball")
		}
		tarball := inHost(t, "root", "", "cat", imgDir+"/probe.tar").stdout
		cmd := exec.Command(zstd, "-q", "-c")
		cmd.Stdin = strings.NewReader(tarball)
		zst, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		name := imgPrefix + "zst"
		imgRemove(t, name)
		before := imgEntries(t)
		r := inHost(t, "root", string(zst), "nspawn-tray", "image", "import", "--quiet", "-", name)
		if inHost(t, "root", "", "sh", "-c", "command -v zstd").code == 0 {
			if r.code != 0 {
				t.Fatalf("import of a zst tarball with zstd in the host: exit %d, %s", r.code, r.stderr)
			}
			return
		}
		// Debian 12's test host has no zstd, and importd 252 cannot read
		// it: a clear error, and nothing left.
		t.Logf("no zstd in the test host: %s", strings.TrimSpace(r.stderr))
		if r.code != 1 || !atkOneLine(r.stderr) || !strings.Contains(r.stderr, "Use --zstd option") ||
			!strings.Contains(r.stderr, "install zstd, and nspawn-tray decompresses it itself") {
			t.Errorf("import of a zst tarball without zstd: exit %d, stderr %q; want 1 and one line saying what helps", r.code, r.stderr)
		}
		imgNothingLeft(t, before, "a failed zst import")
	})

	t.Run("raw disk image", func(t *testing.T) {
		if inHost(t, "root", "", "sh", "-c", "command -v mkfs.ext4").code != 0 {
			t.Skip("no mkfs.ext4 in the test host")
		}
		atkMustSh(t, "root", `set -e; truncate -s 8M "$1/disk.img"; mkfs.ext4 -q -d /var/lib/machines/probe "$1/disk.img"`, imgDir)
		name := imgPrefix + "raw"
		imgRemove(t, name)
		// A file system image without a partition table: found by its
		// superblock, not by its name.
		r := inHost(t, "root", "", "nspawn-tray", "image", "import", imgDir+"/disk.img", name)
		if r.code != 0 {
			t.Fatalf("import of a raw image: exit %d, %s", r.code, r.stderr)
		}
		checkProgress(t, name, r.stderr)
		if typ, ok := imgListed(t, name); !ok || typ != "raw" {
			t.Errorf("machinectl list-images: %q listed %v as %q, want raw", name, ok, typ)
		}
		if out := mustRun(t, "root", "nspawn-tray", "image", "list"); !regexp.MustCompile(`(?m)^` + name + `\s+raw\s+[0-9.]+ [KM]iB\s`).MatchString(out) {
			t.Errorf("image list does not show %s as a raw image with its size:\n%s", name, out)
		}
	})

	t.Run("existing name", func(t *testing.T) {
		r := inHost(t, "root", "", "nspawn-tray", "image", "import", imgDir+"/probe.tar.gz", "probe")
		if r.code != 1 || !atkOneLine(r.stderr) || !strings.Contains(r.stderr, `image "probe" exists already`) {
			t.Errorf("import over probe: exit %d, stderr %q", r.code, r.stderr)
		}
	})
}

// alice is in the nspawn-tray group, not an administrator: the host's
// polkit rules (50-default.rules: administrators are group sudo) leave
// importd's and machined's image actions at auth_admin, and without an
// agent to ask for a password, polkit refuses.
func TestImageAliceIsRefused(t *testing.T) {
	imgSetup(t)
	kept := imgPrefix + "kept"
	imgRemove(t, kept)
	mustRun(t, "root", "nspawn-tray", "image", "import", "--quiet", imgDir+"/probe.tar.gz", kept)
	before := imgEntries(t)
	since := time.Now().UTC().Format("2006-01-02 15:04:05")
	for _, tc := range []struct {
		argv []string
		want string
	}{
		{[]string{"import", imgDir + "/probe.tar.gz", imgPrefix + "alice"}, "not authorized to import images: polkit allows org.freedesktop.import1.import to administrators only"},
		{[]string{"pull", "--verify=no", "http://127.0.0.1:9/x.tar", imgPrefix + "alice"}, "not authorized to pull images: polkit allows org.freedesktop.import1.pull to administrators only"},
		{[]string{"remove", kept}, "not authorized to remove images: polkit allows org.freedesktop.machine1.manage-images to administrators only"},
	} {
		r := inHost(t, "alice", "", append([]string{"nspawn-tray", "image"}, tc.argv...)...)
		if r.code != 1 || !atkOneLine(r.stderr) || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("alice: image %q: exit %d, stderr %q; want 1 and one line with %q", tc.argv, r.code, r.stderr, tc.want)
		}
	}
	imgNothingLeft(t, before, "alice's refused calls")
	if _, ok := imgListed(t, kept); !ok {
		t.Errorf("alice's refused remove removed %s", kept)
	}
	// The refusals are polkit's, for alice, on importd's and machined's
	// own actions.
	log := mustRun(t, "root", "journalctl", "-u", "polkit", "--since", since, "--no-pager", "-o", "cat")
	for _, action := range []string{"org.freedesktop.import1.import", "org.freedesktop.import1.pull", "org.freedesktop.machine1.manage-images"} {
		if !strings.Contains(log, "testhost-decision action="+action+" user=alice") {
			t.Errorf("polkit was not asked %s for alice:\n%s", action, log)
		}
	}
}

// imgServe serves dir on 127.0.0.1:port from a unit of its own (a
// background process of testhost/run would end with it); slow makes it
// send 16 KiB every 100 ms.
func imgServe(t *testing.T, dir string, port int, slow bool) {
	t.Helper()
	unit := fmt.Sprintf("e2e-img-http-%d", port)
	argv := []string{"systemd-run", "--unit=" + unit, "--collect", "-p", "WorkingDirectory=" + dir, "python3"}
	if slow {
		atkMustSh(t, "root", `cat > "$1/slowhttp.py" <<'EOF'
import http.server, sys, time
class H(http.server.SimpleHTTPRequestHandler):
    def copyfile(self, src, dst):
        while True:
            b = src.read(16384)
            if not b:
                break
            dst.write(b)
            dst.flush()
            time.sleep(0.1)
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF`, imgDir)
		argv = append(argv, imgDir+"/slowhttp.py", strconv.Itoa(port))
	} else {
		argv = append(argv, "-m", "http.server", "--bind", "127.0.0.1", strconv.Itoa(port))
	}
	mustRun(t, "root", argv...)
	t.Cleanup(func() { inHost(t, "root", "", "systemctl", "stop", unit) })
	eventually(t, 10*time.Second, func() string {
		if inHost(t, "root", "", "python3", "-c", fmt.Sprintf("import socket; socket.create_connection(('127.0.0.1', %d), 1)", port)).code != 0 {
			return "the web server on port " + strconv.Itoa(port) + " does not answer"
		}
		return ""
	})
}

// A pull from a web server in the test host, checked against SHA256SUMS:
// the file listed passes; one replaced after SHA256SUMS was made is
// refused with a clear error, and nothing is left.
func TestImagePullChecksum(t *testing.T) {
	imgSetup(t)
	const port = 18731
	srv := imgDir + "/srv"
	atkMustSh(t, "root", `set -e
mkdir "$1"; cp "$2/probe.tar.gz" "$1/"
# tampered.tar.gz: a valid tarball, but not the one SHA256SUMS lists.
mkdir "$2/t"; cp -a /var/lib/machines/probe/. "$2/t/"; echo changed > "$2/t/etc/motd"
(cd "$2/t" && tar --numeric-owner -cf - $(ls -A)) | gzip > "$1/tampered.tar.gz"
cd "$1"; sum=$(sha256sum probe.tar.gz | cut -d' ' -f1)
printf '%s  probe.tar.gz\n%s  tampered.tar.gz\n' "$sum" "$sum" > SHA256SUMS`, srv, imgDir)
	imgServe(t, srv, port, false)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)

	t.Run("good", func(t *testing.T) {
		name := imgPrefix + "pulled"
		imgRemove(t, name)
		r := inHost(t, "root", "", "nspawn-tray", "image", "pull", "--verify=checksum", url+"probe.tar.gz", name)
		if r.code != 0 || r.stdout != "" || !regexp.MustCompile(`^`+name+`: done in \d+:\d\d\n$`).MatchString(withoutProgress(r.stderr, name)) {
			t.Fatalf("pull: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
		if _, ok := imgListed(t, name); !ok {
			t.Errorf("machinectl list-images does not show %s", name)
		}
		atkMustSh(t, "root", `cmp /var/lib/machines/probe/usr/bin/probe "/var/lib/machines/$1/usr/bin/probe"`, name)
	})

	for _, tc := range []struct {
		desc, file, verify, want string
	}{
		{"tampered", "tampered.tar.gz", "checksum", "DOWNLOAD INVALID: Checksum of tampered.tar.gz file did not check out, file has been tampered with."},
		// The default: signed SHA256SUMS, which this server has not.
		{"unsigned", "probe.tar.gz", "", "Failed to retrieve signature file, cannot verify."},
		{"missing", "nope.tar.gz", "no", "failed with code 404"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			before := imgEntries(t)
			argv := []string{"nspawn-tray", "image", "pull", url + tc.file, imgPrefix + tc.desc}
			if tc.verify != "" {
				argv = slices.Insert(argv, 3, "--verify="+tc.verify)
			}
			r := inHost(t, "root", "", argv...)
			t.Logf("%s: %s", tc.desc, strings.TrimSpace(r.stderr))
			if r.code != 1 || !atkOneLine(withoutProgress(r.stderr, imgPrefix+tc.desc)) || !strings.Contains(r.stderr, `pull of "`+imgPrefix+tc.desc+`" failed: `) || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("pull of %s: exit %d, stderr %q; want 1 and one line with %q", tc.file, r.code, r.stderr, tc.want)
			}
			imgNothingLeft(t, before, "a refused pull")
		})
	}
}

// Ctrl-C in the middle of a pull from a slow server cancels the transfer:
// no image, no temporary tree.
func TestImagePullCancel(t *testing.T) {
	imgSetup(t)
	const port = 18732
	srv := imgDir + "/slow"
	// 2 MiB that do not compress: 13 s at 160 KiB/s.
	atkMustSh(t, "root", `set -e; mkdir "$1"; cd "$2"; mkdir t; cp -a /var/lib/machines/probe/. t/; head -c 2M /dev/urandom > t/var/tmp/filler
(cd t && tar --numeric-owner -cf - $(ls -A)) | gzip -1 > "$1/big.tar.gz"`, srv, imgDir)
	imgServe(t, srv, port, true)
	before := imgEntries(t)
	name := imgPrefix + "canceled"
	r := atkSh(t, "root", `
nspawn-tray image pull --verify=no "$1" "$2" 2>"$3/pull.err" &
pid=$!
# Until the download is under way: importd's temporary tree is there.
for i in $(seq 100); do ls -A /var/lib/machines | grep -q '^\.#tar' && break; sleep 0.1; done
sleep 1
echo "during: $(ls -A /var/lib/machines | tr '\n' ' ')"
kill -INT $pid
wait $pid
echo "exit: $?"
cat "$3/pull.err"`, fmt.Sprintf("http://127.0.0.1:%d/big.tar.gz", port), name, imgDir)
	t.Logf("%s", r.stdout)
	if !strings.Contains(r.stdout, ".#tar") {
		t.Errorf("the pull was not under way when canceled:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, "exit: 130\n") || !strings.HasSuffix(r.stdout, "nspawn-tray image pull: canceled: image \""+name+"\" was not created\n") {
		t.Errorf("Ctrl-C: want exit 130 and one line saying so:\n%s", r.stdout)
	}
	imgNothingLeft(t, before, "a canceled pull")
}

// Ctrl-C while a stream is imported from standard input cancels it too;
// the stream's end never reaches importd, so no cut tarball becomes an
// image.
func TestImageImportCancel(t *testing.T) {
	imgSetup(t)
	before := imgEntries(t)
	name := imgPrefix + "import-canceled"
	r := atkSh(t, "root", `
mkfifo "$2/feed"
(cat "$2/probe.tar"; exec sleep 30) > "$2/feed" &
feeder=$!
nspawn-tray image import - "$1" < "$2/feed" 2>"$2/import.err" &
pid=$!
for i in $(seq 100); do busctl call org.freedesktop.import1 /org/freedesktop/import1 org.freedesktop.import1.Manager ListTransfers | grep -q "$1" && break; sleep 0.1; done
sleep 0.5
kill -INT $pid
wait $pid
echo "exit: $?"
kill $feeder
cat "$2/import.err"`, name, imgDir)
	t.Logf("%s", r.stdout)
	if !strings.Contains(r.stdout, "exit: 130\n") || !strings.HasSuffix(r.stdout, "canceled: image \""+name+"\" was not created\n") {
		t.Errorf("Ctrl-C: want exit 130 and one line saying so:\n%s\n%s", r.stdout, r.stderr)
	}
	imgNothingLeft(t, before, "a canceled import")
}

// hostileTar is a tarball with a small root (etc/os-release) and then
// the members add writes.
func hostileTar(t *testing.T, add func(tw *tar.Writer)) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []*tar.Header{
		{Name: "etc/", Mode: 0o755, Typeflag: tar.TypeDir, Format: tar.FormatGNU},
		{Name: "usr/", Mode: 0o755, Typeflag: tar.TypeDir, Format: tar.FormatGNU},
		{Name: "usr/bin/", Mode: 0o755, Typeflag: tar.TypeDir, Format: tar.FormatGNU},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
	}
	add(tw)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func hostileFile(t *testing.T, tw *tar.Writer, h *tar.Header, body string) {
	t.Helper()
	if h.Typeflag == tar.TypeReg {
		h.Size = int64(len(body))
	}
	if h.Format == 0 {
		h.Format = tar.FormatGNU
	}
	if h.Mode == 0 {
		h.Mode = 0o644
	}
	if err := tw.WriteHeader(h); err != nil {
		t.Fatal(err)
	}
	if body != "" {
		tw.Write([]byte(body))
	}
}

// tarNum12 is a 12-byte tar number: octal, or GNU's base-256 when too
// big for it.
func tarNum12(v int64) []byte {
	if v < 1<<33 {
		return []byte(fmt.Sprintf("%011o\x00", v))
	}
	b := make([]byte, 12)
	b[0] = 0x80
	for i := 11; i > 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
	return b
}

// sparseMember is an old-GNU sparse member (typeflag 'S', which Go's
// archive/tar does not write): a file of size bytes whose only data is n
// bytes of 'S' at its end.
func sparseMember(name string, size, n int64) []byte {
	h := make([]byte, 512)
	copy(h[0:], name)
	copy(h[100:], "0000644\x00")
	copy(h[108:], "0000000\x00")
	copy(h[116:], "0000000\x00")
	copy(h[124:], tarNum12(n))
	copy(h[136:], tarNum12(0))
	h[156] = 'S'
	copy(h[257:], "ustar  \x00")
	copy(h[386:], tarNum12(size-n))
	copy(h[398:], tarNum12(n))
	copy(h[483:], tarNum12(size))
	copy(h[148:], "        ")
	var sum int64
	for _, c := range h {
		sum += int64(c)
	}
	copy(h[148:], fmt.Sprintf("%06o\x00 ", sum))
	return append(h, bytes.Repeat([]byte("S"), int(n))...)
}

// Hostile tarballs, as a downloaded "docker export" could be: whatever
// importd does with each, nothing outside the image is written, and a
// failed import leaves nothing. nspawn-tray adds nothing of its own to
// the tar handling (it hands importd the bytes): importd runs GNU tar
// (--numeric-owner -p --xattrs) as root in a tree of its own, and GNU
// tar's defaults are what protects the host. Observed with importd 252:
//
//   - absolute symlink, then a file written through it: GNU tar makes
//     a symlink whose target is absolute (or has "..") a placeholder
//     file until the end, so "escape/pwned" is "Not a directory": the
//     import fails and the target directory stays empty;
//   - an absolute symlink alone (etc/shadow-link -> /etc/shadow) is kept
//     as it is: it points into the container when the container runs;
//   - a file entry over that symlink: its data goes nowhere outside (the
//     host's /etc/shadow is unchanged) and the image keeps the symlink,
//     which GNU tar makes at the end over the file;
//   - a hard link to /etc/shadow is taken as etc/shadow in the image
//     ("Removing leading `/' from hard link targets"); with none there,
//     the import fails;
//   - "../" members and absolute names: GNU tar drops the leading "/"
//     and refuses members with ".." ("Member name contains '..'"): the
//     import fails, nothing is written outside;
//   - device nodes (c 1:1 = /dev/mem, b 8:0, a fifo), mode 0666: kept
//     as they are in the image. /var/lib/machines is 0700, so no user
//     of the host reaches them; in a container, nspawn's device policy
//     (and its own /dev) is what stands between an app and them;
//   - setuid root, setgid, setuid to uid 1000, a file capability
//     (security.capability = cap_net_raw+ep) and a 0777 directory: all
//     kept, owners and bits as in the tarball. nspawn-tray's apps run
//     with no_new_privs (exec-as), which setuid bits and file
//     capabilities cannot pass;
//   - a member claiming 1 TiB with 4 KiB of data: "Unexpected EOF in
//     archive", the import fails, nothing is left;
//   - a sparse member of 1 TiB: a sparse file of 1 TiB that takes a few
//     KiB on disk.
func TestImageHostileTarballs(t *testing.T) {
	imgSetup(t)
	atkMustSh(t, "root", `mkdir -p /tmp/e2e-hostile-target`)
	t.Cleanup(func() { atkSh(t, "root", `rm -rf /tmp/e2e-hostile-target /tmp/e2e-hostile-*`) })
	const guard = `sha256sum /etc/shadow /etc/passwd /etc/hostname; ls -A /tmp | grep e2e-hostile; ls -A /tmp/e2e-hostile-target; ls -A / | tr '\n' ' '`
	sensitive := mustRun(t, "root", "sh", "-c", guard)

	for _, tc := range []struct {
		name string
		tar  []byte
		ok   bool   // whether importd 252 imports it
		want string // in its error, or a check of the image when ok
	}{
		{"abs-symlink-through", hostileTar(t, func(tw *tar.Writer) {
			hostileFile(t, tw, &tar.Header{Name: "escape", Linkname: "/tmp/e2e-hostile-target", Typeflag: tar.TypeSymlink}, "")
			hostileFile(t, tw, &tar.Header{Name: "escape/pwned", Typeflag: tar.TypeReg}, "through an absolute symlink\n")
		}), false, "Not a directory"},
		{"abs-symlink", hostileTar(t, func(tw *tar.Writer) {
			hostileFile(t, tw, &tar.Header{Name: "etc/shadow-link", Linkname: "/etc/shadow", Typeflag: tar.TypeSymlink}, "")
		}), true, `test "$(readlink etc/shadow-link)" = /etc/shadow`},
		{"over-symlink", hostileTar(t, func(tw *tar.Writer) {
			hostileFile(t, tw, &tar.Header{Name: "etc/shadow-link", Linkname: "/etc/shadow", Typeflag: tar.TypeSymlink}, "")
			hostileFile(t, tw, &tar.Header{Name: "etc/shadow-link", Typeflag: tar.TypeReg}, "written over the link\n")
		}), true, `test "$(readlink etc/shadow-link)" = /etc/shadow`},
		{"hardlink-outside", hostileTar(t, func(tw *tar.Writer) {
			hostileFile(t, tw, &tar.Header{Name: "hard-shadow", Linkname: "/etc/shadow", Typeflag: tar.TypeLink}, "")
		}), false, "Cannot hard link"},
		{"dotdot", hostileTar(t, func(tw *tar.Writer) {
			hostileFile(t, tw, &tar.Header{Name: "../../../../../tmp/e2e-hostile-dotdot", Typeflag: tar.TypeReg}, "dotdot\n")
			hostileFile(t, tw, &tar.Header{Name: "usr/../../../../tmp/e2e-hostile-dotdot2", Typeflag: tar.TypeReg}, "dotdot\n")
			hostileFile(t, tw, &tar.Header{Name: "/tmp/e2e-hostile-abs", Typeflag: tar.TypeReg}, "absolute\n")
		}), false, "Member name contains '..'"},
		{"relative-symlink-up", hostileTar(t, func(tw *tar.Writer) {
			hostileFile(t, tw, &tar.Header{Name: "up", Linkname: "../../../../tmp", Typeflag: tar.TypeSymlink}, "")
			hostileFile(t, tw, &tar.Header{Name: "up/e2e-hostile-up", Typeflag: tar.TypeReg}, "up\n")
		}), false, "Not a directory"},
		{"devices", hostileTar(t, func(tw *tar.Writer) {
			hostileFile(t, tw, &tar.Header{Name: "dev/", Mode: 0o755, Typeflag: tar.TypeDir}, "")
			hostileFile(t, tw, &tar.Header{Name: "dev/evil-mem", Mode: 0o666, Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 1}, "")
			hostileFile(t, tw, &tar.Header{Name: "usr/evil-disk", Mode: 0o666, Typeflag: tar.TypeBlock, Devmajor: 8, Devminor: 0}, "")
			hostileFile(t, tw, &tar.Header{Name: "usr/evil-fifo", Mode: 0o666, Typeflag: tar.TypeFifo}, "")
		}), true, `test -c dev/evil-mem && test -b usr/evil-disk && test -p usr/evil-fifo && test "$(stat -c %a dev/evil-mem)" = 666`},
		{"setuid", hostileTar(t, func(tw *tar.Writer) {
			hostileFile(t, tw, &tar.Header{Name: "usr/bin/suid-root", Mode: 0o4755, Typeflag: tar.TypeReg}, "#!/bin/sh\nid\n")
			hostileFile(t, tw, &tar.Header{Name: "usr/bin/sgid", Mode: 0o2755, Typeflag: tar.TypeReg}, "#!/bin/sh\nid\n")
			hostileFile(t, tw, &tar.Header{Name: "usr/bin/suid-alice", Mode: 0o4755, Uid: 1000, Gid: 1000, Typeflag: tar.TypeReg}, "#!/bin/sh\nid\n")
			hostileFile(t, tw, &tar.Header{Name: "usr/bin/caps", Mode: 0o755, Typeflag: tar.TypeReg, Format: tar.FormatPAX,
				PAXRecords: map[string]string{"SCHILY.xattr.security.capability": "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"}}, "#!/bin/sh\n")
			hostileFile(t, tw, &tar.Header{Name: "open/", Mode: 0o777, Typeflag: tar.TypeDir}, "")
		}), true, `test "$(stat -c '%a %u:%g' usr/bin/suid-root usr/bin/sgid usr/bin/suid-alice open | tr '\n' ' ')" = "4755 0:0 2755 0:0 4755 1000:1000 777 0:0 "`},
		{"truncated-claim", func() []byte {
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			tw.WriteHeader(&tar.Header{Name: "etc/", Mode: 0o755, Typeflag: tar.TypeDir, Format: tar.FormatGNU})
			tw.WriteHeader(&tar.Header{Name: "huge", Mode: 0o644, Typeflag: tar.TypeReg, Size: 1 << 40, Format: tar.FormatGNU})
			tw.Write(make([]byte, 4096))
			tw.Flush()
			return buf.Bytes()
		}(), false, "Unexpected EOF in archive"},
		{"sparse-1TiB", func() []byte {
			root := hostileTar(t, func(*tar.Writer) {})
			root = root[:len(root)-1024] // no end-of-archive blocks yet
			return append(append(root, sparseMember("huge-sparse", 1<<40, 512)...), make([]byte, 1024)...)
		}(), true, `test "$(stat -c %s huge-sparse)" = 1099511627776 && test "$(du -k huge-sparse | cut -f1)" -lt 1024`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := imgPrefix + "hostile-" + tc.name
			imgRemove(t, name)
			before := imgEntries(t)
			r := inHost(t, "root", string(tc.tar), "nspawn-tray", "image", "import", "--quiet", "-", name)
			t.Logf("exit %d %s", r.code, strings.TrimSpace(r.stderr))
			if got := mustRun(t, "root", "sh", "-c", guard); got != sensitive {
				t.Errorf("the host changed:\nbefore:\n%s\nafter:\n%s", sensitive, got)
			}
			switch {
			case tc.ok && r.code != 0:
				t.Errorf("import failed (importd 252 imported it): %s", r.stderr)
			case tc.ok:
				if c := atkSh(t, "root", `cd "/var/lib/machines/$1" && `+tc.want, name); c.code != 0 {
					t.Errorf("the image is not as importd 252 made it (%s): %s", tc.want, c.stderr)
				}
			default:
				if r.code != 1 || !atkOneLine(r.stderr) || !strings.Contains(r.stderr, `import of "`+name+`" failed: `) || !strings.Contains(r.stderr, tc.want) {
					t.Errorf("exit %d, stderr %q; want 1 and one line with %q", r.code, r.stderr, tc.want)
				}
				imgNothingLeft(t, before, "a failed import")
			}
		})
	}
}

// image remove refuses while an instance of an app on the image runs,
// saying which; once it stopped, the image goes (machinectl no longer
// lists it), and the apps on it are named.
func TestImageRemoveRefusedWhileInUse(t *testing.T) {
	imgSetup(t)
	name := imgPrefix + "inuse"
	app := "e2e-img-sleeper"
	imgRemove(t, name)
	mustRun(t, "root", "nspawn-tray", "image", "import", "--quiet", imgDir+"/probe.tar", name)
	atkInstallApp(t, app, "name = \"Image sleeper\"\nimage = \""+name+"\"\nexec = [\"/bin/sleep\", \"600\"]\nx11 = \"none\"\naudio = false\ndbus = []\n", "root:root", "0644")

	machine := launch(t, "alice", app)
	r := inHost(t, "root", "", "nspawn-tray", "image", "remove", name)
	want := fmt.Sprintf("nspawn-tray: image %q is in use by %s (%s): stop it first\n", name, machine, app)
	if r.code != 1 || r.stderr != want {
		t.Errorf("remove while %s runs: exit %d, stderr %q; want 1 and %q", machine, r.code, r.stderr, want)
	}
	if _, ok := imgListed(t, name); !ok {
		t.Fatalf("the refused remove removed %s", name)
	}
	mustRun(t, "alice", "nspawn-tray", "stop", machine)
	waitGone(t, machine)
	r = inHost(t, "root", "", "nspawn-tray", "image", "remove", name)
	if r.code != 0 || r.stdout != "Removed image \""+name+"\".\n" || !strings.Contains(r.stderr, app+" cannot launch until image \""+name+"\" is back") {
		t.Errorf("remove once stopped: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if _, ok := imgListed(t, name); ok {
		t.Errorf("machinectl list-images still shows %s", name)
	}
	if inHost(t, "root", "", "test", "-e", "/var/lib/machines/"+name).code == 0 {
		t.Errorf("/var/lib/machines/%s is still there", name)
	}
}

// The seed's workflow end to end, as a new user follows it: a Docker
// export of an image with an app in it, imported by root with the offer
// of its apps, one added, in alice's menu after a sync, launched by alice;
// machinectl lists the image and the machine. The time from the import's
// start to the launch having returned is logged (-v), as the figure
// docs/benchmarks.md keeps (never asserted).
func TestImageSeedWorkflowFromDockerExportToLaunch(t *testing.T) {
	imgSetup(t)
	name := imgPrefix + "seed"
	imgRemove(t, name)
	// xapps as `docker export` writes it: the root's entries, no "./".
	atkMustSh(t, "root", `set -e
cd /var/lib/machines/xapps && tar --numeric-owner -cf - $(ls -A) | gzip -1 > "$1/xapps-export.tar.gz"`, imgDir)
	const app = "debian-uxterm"
	def := "/etc/nspawn-tray/apps.d/" + app + ".toml"
	t.Cleanup(func() {
		inHost(t, "alice", "", "nspawn-tray", "stop", "--app", app)
		inHost(t, "root", "", "rm", "-f", def)
		inHost(t, "alice", "", "nspawn-tray", "sync")
	})
	inHost(t, "root", "", "rm", "-f", def) // xapps' own may be there from another test

	t0 := time.Now()
	r := inHost(t, "root", "", "nspawn-tray", "image", "import", "--add-apps", imgDir+"/xapps-export.tar.gz", name)
	imported := time.Since(t0)
	if r.code != 0 {
		t.Fatalf("import --add-apps: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "nspawn-tray app add "+name+" debian-uxterm.desktop") {
		t.Fatalf("import --add-apps does not offer UXTerm:\n%s", r.stdout)
	}
	if typ, ok := imgListed(t, name); !ok || typ != "directory" {
		t.Errorf("machinectl list-images: %s listed %v as %q", name, ok, typ)
	}
	if out := mustRun(t, "root", "nspawn-tray", "app", "add", name, "debian-uxterm.desktop"); !strings.HasPrefix(out, "Added "+app+" (UXTerm): "+def) {
		t.Fatalf("app add: %q", out)
	}
	mustRun(t, "alice", "nspawn-tray", "sync")
	entry := mustRun(t, "alice", "cat", "/home/alice/.local/share/applications/"+app+".desktop")
	if field(entry, "Exec") != "/usr/bin/nspawn-tray launch "+app {
		t.Errorf("alice's entry:\n%s", entry)
	}
	m := launch(t, "alice", app)
	total := time.Since(t0)
	if !machineListed(t, m) {
		t.Errorf("%s is not in machinectl list", m)
	}
	if got := mustRun(t, "root", "machinectl", "show", m, "-p", "RootDirectory", "--value"); strings.TrimSpace(got) != "/var/lib/machines/"+name {
		t.Errorf("%s runs on %q, want the imported image", m, got)
	}
	t.Logf("import of a %s docker export: %v; from the import's start to alice's launch returned: %v",
		strings.Fields(mustRun(t, "root", "du", "-h", imgDir+"/xapps-export.tar.gz"))[0], imported.Round(time.Millisecond), total.Round(time.Millisecond))
	mustRun(t, "alice", "nspawn-tray", "stop", m)
}

// withoutProgress drops the progress lines ("NAME: 15%") of a transfer
// of NAME from stderr: a pull that fails part way may have shown some
// before its error (importd 257 reports progress from the start, which
// 252 does not).
func withoutProgress(stderr, name string) string {
	progress := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `: [0-9]+%\n`)
	return progress.ReplaceAllString(stderr, "")
}
