package cli

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/importd"
	"github.com/nspawn-tray/nspawn-tray/internal/bustest"
	"github.com/nspawn-tray/nspawn-tray/launcher"
	"github.com/nspawn-tray/nspawn-tray/machined"
)

// imageBus is a private system bus with importd, machined and the
// launcher daemon faked on it.
type imageBus struct {
	importd  *bustest.Importd
	machined *bustest.Machined
	launcher *bustest.Launcher
}

func newImageBus(t *testing.T, opts bustest.ImportdOptions) imageBus {
	t.Helper()
	b := bustest.New(t)
	b.AsSystemBus(t)
	return imageBus{
		importd:  bustest.NewImportd(t, b.Conn(t), opts),
		machined: bustest.NewMachined(t, b.Conn(t)),
		launcher: bustest.NewLauncher(t, b.Conn(t)),
	}
}

// rootfs is a small tarball in the layout docker export writes: the
// root's entries without "./", directories first.
func rootfs(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []*tar.Header{
		{Name: ".dockerenv", Mode: 0o755, Typeflag: tar.TypeReg},
		{Name: "bin", Linkname: "usr/bin", Typeflag: tar.TypeSymlink},
		{Name: "etc/", Mode: 0o755, Typeflag: tar.TypeDir},
		{Name: "etc/os-release", Mode: 0o644, Typeflag: tar.TypeReg, Size: 12},
		{Name: "usr/", Mode: 0o755, Typeflag: tar.TypeDir},
		{Name: "usr/bin/", Mode: 0o755, Typeflag: tar.TypeDir},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte("ID=testdeb\n\n"))
		}
	}
	tw.Close()
	return buf.Bytes()
}

func gz(data []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(data)
	w.Close()
	return buf.Bytes()
}

func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// mbr is the start of a disk image with a DOS partition table.
func mbr() []byte {
	d := make([]byte, 4096)
	d[510], d[511] = 0x55, 0xaa
	return d
}

// withStdin makes data the process's standard input, through a pipe.
func withStdin(t *testing.T, data []byte) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() { w.Write(data); w.Close() }()
	old := os.Stdin
	os.Stdin = r
	t.Cleanup(func() { os.Stdin = old; r.Close() })
}

// withInterrupts hands the transfers a Ctrl-C channel of the test's.
func withInterrupts(t *testing.T) chan os.Signal {
	t.Helper()
	ch := make(chan os.Signal, 2)
	old := interrupts
	interrupts = func() (<-chan os.Signal, func()) { return ch, func() {} }
	t.Cleanup(func() { interrupts = old })
	return ch
}

func withoutTool(t *testing.T, tool string) {
	t.Helper()
	old := lookPath
	lookPath = func(name string) (string, error) {
		if name == tool {
			return "", exec.ErrNotFound
		}
		return old(name)
	}
	t.Cleanup(func() { lookPath = old })
}

func oneLineErr(t *testing.T, stderr, want string) {
	t.Helper()
	if strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, want) {
		t.Errorf("stderr = %q, want one line with %q", stderr, want)
	}
}

var importdGenerations = []struct {
	name string
	opts bustest.ImportdOptions
	tar  string
}{
	{"252", bustest.ImportdOptions{}, "ImportTar"},
	{"257", bustest.ImportdOptions{Ex: true}, "ImportTarEx"},
}

func TestImageImportFile(t *testing.T) {
	for _, g := range importdGenerations {
		t.Run(g.name, func(t *testing.T) {
			bus := newImageBus(t, g.opts)
			data := gz(rootfs(t))
			file := writeTemp(t, "debian.tar.gz", data)
			code, stdout, stderr := run(t, Program{}, "image", "import", file, "debian")
			if code != 0 || stdout != "" {
				t.Fatalf("code %d, stdout %q, stderr %q", code, stdout, stderr)
			}
			// Not a terminal: no redrawn line, the end as a line.
			if !strings.HasPrefix(stderr, "debian: done, ") || strings.Contains(stderr, "\r") {
				t.Errorf("stderr = %q, want the progress lines", stderr)
			}
			calls := bus.importd.Calls()
			if len(calls) != 1 || calls[0].Method != g.tar || calls[0].Local != "debian" || !calls[0].Interactive ||
				calls[0].FDKind != "file" || calls[0].Force || calls[0].Flags != 0 || calls[0].ReadOnly {
				t.Errorf("importd got %+v, want one interactive %s of the file as debian, no force, writable", calls, g.tar)
			}
			// importd read the file itself, compressed as it is.
			if got := bus.importd.Received("debian"); !bytes.Equal(got, data) {
				t.Errorf("importd read %d bytes, want the file's %d", len(got), len(data))
			}
		})
	}
}

func TestImageImportQuiet(t *testing.T) {
	newImageBus(t, bustest.ImportdOptions{})
	file := writeTemp(t, "x.tar", rootfs(t))
	if code, stdout, stderr := run(t, Program{}, "image", "import", "--quiet", file, "x"); code != 0 || stdout != "" || stderr != "" {
		t.Errorf("--quiet: code %d, stdout %q, stderr %q; want 0 and nothing", code, stdout, stderr)
	}
}

func TestImageImportStdin(t *testing.T) {
	bus := newImageBus(t, bustest.ImportdOptions{Ex: true})
	data := rootfs(t)
	withStdin(t, data)
	code, _, stderr := run(t, Program{}, "image", "import", "-", "piped")
	if code != 0 {
		t.Fatalf("code %d, stderr %q", code, stderr)
	}
	// Read to tell the format, so pumped through a pipe of ours.
	if c := bus.importd.Calls(); len(c) != 1 || c[0].Method != "ImportTarEx" || c[0].FDKind != "fifo" {
		t.Errorf("importd got %+v, want ImportTarEx of a pipe", c)
	}
	if got := bus.importd.Received("piped"); !bytes.Equal(got, data) {
		t.Errorf("importd read %d bytes, want all %d", len(got), len(data))
	}
	if !strings.Contains(stderr, "piped: done, 4.5 KiB in ") {
		t.Errorf("stderr = %q, want the bytes pumped", stderr)
	}
}

func TestImageImportRaw(t *testing.T) {
	for _, tc := range []struct{ file, method string }{
		{"disk.img", "ImportRaw"},   // by content: a partition table
		{"debian.raw", "ImportRaw"}, // and by name
	} {
		bus := newImageBus(t, bustest.ImportdOptions{})
		if code, _, stderr := run(t, Program{}, "image", "import", "--quiet", writeTemp(t, tc.file, mbr()), "disk"); code != 0 {
			t.Fatalf("%s: code %d, stderr %q", tc.file, code, stderr)
		}
		if c := bus.importd.Calls(); len(c) != 1 || c[0].Method != tc.method {
			t.Errorf("%s: importd got %+v, want %s", tc.file, c, tc.method)
		}
	}
}

func TestImageImportZstd(t *testing.T) {
	if _, err := exec.LookPath("zstd"); err != nil {
		t.Skip("zstd is not installed")
	}
	bus := newImageBus(t, bustest.ImportdOptions{})
	data := rootfs(t)
	cmd := exec.Command("zstd", "-q", "-c")
	cmd.Stdin = bytes.NewReader(data)
	zst, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	file := writeTemp(t, "debian.tar.zst", zst)
	if code, _, stderr := run(t, Program{}, "image", "import", file, "debian"); code != 0 {
		t.Fatalf("code %d, stderr %q", code, stderr)
	}
	// Decompressed here: importd up to 257 cannot.
	if c := bus.importd.Calls(); len(c) != 1 || c[0].Method != "ImportTar" || c[0].FDKind != "fifo" {
		t.Errorf("importd got %+v, want ImportTar of a pipe", c)
	}
	if got := bus.importd.Received("debian"); !bytes.Equal(got, data) {
		t.Errorf("importd read %d bytes, want the %d decompressed", len(got), len(data))
	}
}

// Without the zstd tool, a zstd file goes to importd as it is; if importd
// cannot read it, the error says what helps.
func TestImageImportZstdWithoutTool(t *testing.T) {
	withoutTool(t, "zstd")
	bus := newImageBus(t, bustest.ImportdOptions{})
	bus.importd.Outcome("failed", "Importing '/proc/self/fd/3', saving as 'debian'.", "tar: Archive is compressed. Use --zstd option",
		"tar: Error is not recoverable: exiting now", "tar failed with exit status 2.", "Exiting.")
	file := writeTemp(t, "debian.tar.zst", []byte{0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3})
	code, stdout, stderr := run(t, Program{}, "image", "import", "--quiet", file, "debian")
	if code != 1 || stdout != "" {
		t.Fatalf("code %d, stdout %q", code, stdout)
	}
	oneLineErr(t, stderr, `nspawn-tray: import of "debian" failed: tar: Archive is compressed. Use --zstd option; tar: Error is not recoverable: exiting now; tar failed with exit status 2. (if importd cannot read zstd: install zstd`)
	if c := bus.importd.Calls(); len(c) != 1 || c[0].FDKind != "file" {
		t.Errorf("importd got %+v, want the file itself", c)
	}
}

func TestImageImportRefusals(t *testing.T) {
	for _, name := range []string{"org.freedesktop.DBus.Error.AccessDenied", "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"} {
		bus := newImageBus(t, bustest.ImportdOptions{Ex: true})
		bus.importd.Deny(dbus.NewError(name, []any{"Access denied"}))
		code, _, stderr := run(t, Program{}, "image", "import", "--quiet", writeTemp(t, "x.tar", rootfs(t)), "x")
		if code != 1 {
			t.Errorf("%s: code %d", name, code)
		}
		oneLineErr(t, stderr, "nspawn-tray: not authorized to import images: polkit allows org.freedesktop.import1.import to administrators only; run it as root (sudo nspawn-tray image import ...)")
	}
}

func TestImageImportChecksBeforeCalling(t *testing.T) {
	bus := newImageBus(t, bustest.ImportdOptions{})
	bus.machined.AddImage(bustest.Image{Name: "taken"})
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"x.tar", "a/b"}, 2, `invalid image name "a/b": only letters, digits, '.', '_' and '-' are allowed`},
		{[]string{"x.tar", strings.Repeat("n", 65)}, 2, "longer than 64 characters"},
		{[]string{"https://example.invalid/x.tar", "x"}, 2, "is a URL: 'nspawn-tray image pull URL NAME' downloads it"},
		{[]string{writeTemp(t, "x.tar", rootfs(t)), "taken"}, 1, `image "taken" exists already: remove it first (nspawn-tray image remove taken)`},
		{[]string{filepath.Join(dir, "missing.tar"), "x"}, 1, "no such file or directory"},
		{[]string{dir, "x"}, 1, "is a directory: import a tarball of it"},
		{[]string{writeTemp(t, "notes.txt", []byte("hello, world\n")), "x"}, 1, "is neither a tarball nor a disk image"},
		{[]string{writeTemp(t, "empty.tar", nil), "x"}, 1, "empty.tar is empty"},
	} {
		code, _, stderr := run(t, Program{}, append([]string{"image", "import"}, tc.args...)...)
		if code != tc.code {
			t.Errorf("%q: code %d, want %d (%q)", tc.args, code, tc.code, stderr)
		}
		oneLineErr(t, stderr, tc.want)
	}
	if c := bus.importd.Calls(); len(c) != 0 {
		t.Errorf("importd was called: %+v", c)
	}
}

func TestImageImportFailureSaysWhy(t *testing.T) {
	bus := newImageBus(t, bustest.ImportdOptions{})
	bus.importd.Outcome("failed", "Importing '/tmp/ff', saving as 'x'.", "Imported 1%.", "tar: This does not look like a tar archive",
		"tar: Exiting with failure status due to previous errors", "tar failed with exit status 2.", "Exiting.")
	code, _, stderr := run(t, Program{}, "image", "import", "--quiet", writeTemp(t, "x.tar", rootfs(t)), "x")
	if code != 1 {
		t.Errorf("code %d", code)
	}
	oneLineErr(t, stderr, `nspawn-tray: import of "x" failed: tar: This does not look like a tar archive; tar: Exiting with failure status due to previous errors; tar failed with exit status 2.`+"\n")
}

// Ctrl-C cancels the transfer and waits for importd to have removed it.
func TestImageImportCtrlC(t *testing.T) {
	for _, stdin := range []bool{false, true} {
		t.Run(map[bool]string{false: "file", true: "stdin"}[stdin], func(t *testing.T) {
			sigs := withInterrupts(t)
			bus := newImageBus(t, bustest.ImportdOptions{Ex: true})
			bus.importd.Hold()
			args := []string{"image", "import", writeTemp(t, "x.tar", rootfs(t)), "x"}
			if stdin {
				// A stream that does not end: importd is canceled while
				// it reads.
				r, w, _ := os.Pipe()
				t.Cleanup(func() { w.Close() })
				w.Write(rootfs(t))
				old := os.Stdin
				os.Stdin = r
				t.Cleanup(func() { os.Stdin = old; r.Close() })
				args[2] = "-"
			}
			go func() {
				for len(bus.importd.Running()) == 0 {
					time.Sleep(5 * time.Millisecond)
				}
				sigs <- syscall.SIGINT
			}()
			code, stdout, stderr := run(t, Program{}, args...)
			if code != 130 || stdout != "" || !strings.HasSuffix(stderr, "nspawn-tray image import: canceled: image \"x\" was not created\n") {
				t.Errorf("code %d, stdout %q, stderr %q; want 130 and a line saying so", code, stdout, stderr)
			}
			if c := bus.importd.Canceled(); len(c) != 1 {
				t.Errorf("CancelTransfer calls %v, want one", c)
			}
			if r := bus.importd.Running(); len(r) != 0 {
				t.Errorf("transfers left running: %v", r)
			}
		})
	}
}

// importd sends SIGTERM to the first three cancels, SIGKILL to the
// fourth: a transfer that ignores them is canceled again until it goes.
func TestImageCancelIsRepeated(t *testing.T) {
	sigs := withInterrupts(t)
	old := recancelEvery
	recancelEvery = 10 * time.Millisecond
	t.Cleanup(func() { recancelEvery = old })
	bus := newImageBus(t, bustest.ImportdOptions{})
	bus.importd.Hold()
	bus.importd.IgnoreCancels(3)
	go func() {
		for len(bus.importd.Running()) == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		sigs <- syscall.SIGINT
	}()
	code, _, stderr := run(t, Program{}, "image", "pull", "--quiet", "http://127.0.0.1/stuck.tar.gz", "x")
	// The Ctrl-C may come before the CLI has importd's answer (the fake
	// runs the transfer before it replies): then it says so first.
	stderr = strings.TrimPrefix(stderr, "nspawn-tray image pull: canceling once importd answers (Ctrl-C again to stop waiting)\n")
	if code != 130 || stderr != "nspawn-tray image pull: canceled: image \"x\" was not created\n" {
		t.Errorf("code %d, stderr %q", code, stderr)
	}
	if c := bus.importd.Canceled(); len(c) != 4 {
		t.Errorf("CancelTransfer called %d times, want 4 (the last one kills)", len(c))
	}
}

// fakeEngine puts a docker in PATH that runs script for each call,
// logging its arguments to the returned file.
func fakeEngine(t *testing.T, name, script string) string {
	t.Helper()
	dir := t.TempDir()
	log := filepath.Join(dir, "calls")
	body := "#!/bin/sh\necho \"$*\" >> " + log + "\n" + script
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	return log
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

func TestImageImportFromEngine(t *testing.T) {
	tarball := writeTemp(t, "export.tar", rootfs(t))
	for _, engine := range []string{"docker", "podman"} {
		t.Run(engine, func(t *testing.T) {
			bus := newImageBus(t, bustest.ImportdOptions{})
			log := fakeEngine(t, engine, `case $1 in
create) echo "Unable to find image locally" >&2; echo 0a1b2c3d4e5f ;;
export) cat `+tarball+` ;;
rm) echo 0a1b2c3d4e5f ;;
esac`)
			code, stdout, stderr := run(t, Program{}, "image", "import", "--from", engine, "debian:12", "deb")
			if code != 0 || stdout != "" {
				t.Fatalf("code %d, stdout %q, stderr %q", code, stdout, stderr)
			}
			// The engine's pull progress passes through.
			if !strings.HasPrefix(stderr, "Unable to find image locally\n") {
				t.Errorf("stderr = %q", stderr)
			}
			want, _ := os.ReadFile(tarball)
			if got := bus.importd.Received("deb"); !bytes.Equal(got, want) {
				t.Errorf("importd read %d bytes, want the export's %d", len(got), len(want))
			}
			if calls := readLines(t, log); !slices.Equal(calls, []string{"create debian:12", "export 0a1b2c3d4e5f", "rm 0a1b2c3d4e5f"}) {
				t.Errorf("%s calls %q", engine, calls)
			}
		})
	}
}

// An export that breaks off must not become an image: the transfer is
// canceled, and the container is removed all the same.
func TestImageImportFromEngineThatFails(t *testing.T) {
	tarball := writeTemp(t, "export.tar", rootfs(t))
	bus := newImageBus(t, bustest.ImportdOptions{})
	bus.importd.Hold() // importd reads on: only a cancel ends it
	log := fakeEngine(t, "docker", `case $1 in
create) echo abc123 ;;
export) head -c 1536 `+tarball+`; echo "Error response from daemon: disk full" >&2; exit 1 ;;
esac`)
	code, _, stderr := run(t, Program{}, "image", "import", "--quiet", "--from", "docker", "debian:12", "deb")
	if code != 1 {
		t.Errorf("code %d", code)
	}
	oneLineErr(t, stderr, `nspawn-tray: import of "deb" stopped, nothing was imported: reading docker image debian:12: docker export: Error response from daemon: disk full`)
	if c := bus.importd.Canceled(); len(c) != 1 {
		t.Errorf("CancelTransfer calls %v, want one", c)
	}
	if calls := readLines(t, log); !slices.Equal(calls, []string{"create debian:12", "export abc123", "rm abc123"}) {
		t.Errorf("docker calls %q", calls)
	}
}

func TestImageImportFromEngineMissing(t *testing.T) {
	withoutTool(t, "podman")
	newImageBus(t, bustest.ImportdOptions{})
	code, _, stderr := run(t, Program{}, "image", "import", "--from", "podman", "debian:12", "deb")
	if code != 1 {
		t.Errorf("code %d", code)
	}
	oneLineErr(t, stderr, "nspawn-tray: import --from podman: podman is not installed (no podman in PATH)")
	// Never an option to the engine.
	code, _, stderr = run(t, Program{}, "image", "import", "--from", "docker", "--", "--rm", "deb")
	if code != 2 || !strings.Contains(stderr, `unexpected "--rm": options go before IMAGE NAME`) {
		t.Errorf("an option for IMAGE: code %d, %q", code, stderr)
	}
}

func TestImagePull(t *testing.T) {
	for _, g := range importdGenerations {
		for _, tc := range []struct {
			url, verify, method string
		}{
			{"https://images.invalid/debian.tar.xz", "", "PullTar"},
			{"http://127.0.0.1:8000/debian.tar.gz", "checksum", "PullTar"},
			{"https://images.invalid/debian.raw.xz", "no", "PullRaw"},
			{"file:///srv/images/debian.qcow2", "checksum", "PullRaw"},
			{"https://images.invalid/export", "no", "PullTar"}, // anything else: a tarball
		} {
			bus := newImageBus(t, g.opts)
			args := []string{"image", "pull", tc.url, "debian"}
			if tc.verify != "" {
				args = []string{"image", "pull", "--verify=" + tc.verify, tc.url, "debian"}
			}
			if code, _, stderr := run(t, Program{}, args...); code != 0 || stderr != "debian: done in 0:00\n" {
				t.Errorf("%s %q: code %d, stderr %q", g.name, args, code, stderr)
			}
			want := bustest.ImportdCall{Method: tc.method, URL: tc.url, Local: "debian", Verify: tc.verify, Interactive: true}
			if want.Verify == "" {
				want.Verify = "signature" // importd's default, and ours
			}
			if g.opts.Ex {
				want.Method, want.Class = want.Method+"Ex", "machine"
			}
			if c := bus.importd.Calls(); !slices.Equal(c, []bustest.ImportdCall{want}) {
				t.Errorf("%s %q: importd got %+v, want %+v", g.name, args, c, want)
			}
		}
	}
}

func TestImagePullProgressIsImportds(t *testing.T) {
	bus := newImageBus(t, bustest.ImportdOptions{})
	bus.importd.Hold()
	old := progressEvery
	progressEvery = 5 * time.Millisecond
	t.Cleanup(func() { progressEvery = old })
	go func() {
		for len(bus.importd.Running()) == 0 {
			time.Sleep(time.Millisecond)
		}
		id := bus.importd.Running()[0]
		for _, p := range []float64{0.05, 0.32, 0.64, 0.97} {
			bus.importd.SetProgress(id, p)
			time.Sleep(50 * time.Millisecond)
		}
		bus.importd.Release("done")
	}()
	code, _, stderr := run(t, Program{}, "image", "pull", "--verify=no", "http://127.0.0.1/x.tar", "x")
	if code != 0 || !strings.HasPrefix(stderr, "x: 32%\nx: 64%\nx: 97%\nx: done in ") {
		t.Errorf("code %d, stderr %q; want a line per tenth from importd's Progress", code, stderr)
	}
}

// importd 252 drops systemd-pull's progress notifications; the
// transfer's log lines carry the percentage instead.
func TestImagePullProgressFromTheLog(t *testing.T) {
	bus := newImageBus(t, bustest.ImportdOptions{})
	bus.importd.Outcome("done", "Pulling 'http://127.0.0.1/x.tar', saving as 'x'.", "Got 17% of http://127.0.0.1/x.tar. 5s left at 166.2K/s.",
		"Got 33% of http://127.0.0.1/x.tar. 4s left at 162.6K/s.", "Got 100% of http://127.0.0.1/x.tar.")
	bus.importd.Hold()
	old := progressEvery
	progressEvery = 5 * time.Millisecond
	t.Cleanup(func() { progressEvery = old })
	go func() {
		for len(bus.importd.Running()) == 0 {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond)
		bus.importd.Release("done")
	}()
	code, _, stderr := run(t, Program{}, "image", "pull", "--verify=no", "http://127.0.0.1/x.tar", "x")
	if code != 0 || !strings.HasPrefix(stderr, "x: done in ") {
		t.Errorf("code %d, stderr %q", code, stderr)
	}
	for line, want := range map[string]float64{
		"Got 17% of http://127.0.0.1/x.tar. 5s left at 166.2K/s.": 0.17, "Got 100% of x.": 1,
		"Got 101% of x": -1, "Got -1% of x": -1, "Got 5%": -1, "Imported 5%.": -1, "Got x% of y": -1,
	} {
		f, ok := loggedFraction(line)
		if (want < 0) == ok || (ok && f != want) {
			t.Errorf("loggedFraction(%q) = %v, %v; want %v", line, f, ok, want)
		}
	}
}

func TestImagePullFailures(t *testing.T) {
	for _, tc := range []struct {
		desc  string
		url   string
		deny  string
		logs  []string
		want  string
		state string
	}{
		{desc: "checksum", url: "http://127.0.0.1/x.tar.gz", logs: []string{"Pulling 'http://127.0.0.1/x.tar.gz', saving as 'x'.",
			"Downloading 4.0K for http://127.0.0.1/x.tar.gz.", "HTTP request to http://127.0.0.1/x.nspawn failed with code 404.",
			"Settings file could not be retrieved, proceeding without.",
			"SHA256 checksum of http://127.0.0.1/x.tar.gz does not match (3b4c != 9f8e).", "Exiting."},
			want: `nspawn-tray: pull of "x" failed: SHA256 checksum of http://127.0.0.1/x.tar.gz does not match (3b4c != 9f8e).` + "\n"},
		{desc: "no signature", url: "http://127.0.0.1/x.tar.gz", logs: []string{"Signature file not found."},
			want: "Signature file not found. (--verify=checksum checks only SHA256SUMS, --verify=no nothing)"},
		{desc: "zstd", url: "http://127.0.0.1/x.tar.zst", logs: []string{"tar: Archive is compressed. Use --zstd option"},
			want: "(importd may not read zstd: download it and use 'nspawn-tray image import' with zstd installed)"},
		{desc: "refused", url: "http://127.0.0.1/x.tar", deny: "org.freedesktop.DBus.Error.AccessDenied",
			want: "not authorized to pull images: polkit allows org.freedesktop.import1.pull to administrators only"},
		{desc: "same URL", url: "http://127.0.0.1/x.tar", deny: "org.freedesktop.import1.TransferInProgress",
			want: "http://127.0.0.1/x.tar is being pulled already (machinectl list-transfers)"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			bus := newImageBus(t, bustest.ImportdOptions{})
			bus.importd.Outcome("failed", tc.logs...)
			if tc.deny != "" {
				bus.importd.Deny(dbus.NewError(tc.deny, []any{"no"}))
			}
			code, _, stderr := run(t, Program{}, "image", "pull", "--quiet", tc.url, "x")
			if code != 1 {
				t.Errorf("code %d", code)
			}
			oneLineErr(t, stderr, tc.want)
		})
	}
}

func TestImagePullUsage(t *testing.T) {
	bus := newImageBus(t, bustest.ImportdOptions{})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"http://x/y.tar"}, "want URL and NAME"},
		{[]string{"--verify=gpg", "http://x/y.tar", "y"}, `unknown verify mode "gpg" (checksum, signature or no)`},
		{[]string{"/srv/y.tar", "y"}, `"/srv/y.tar" is not an http, https or file URL`},
		{[]string{"http:///y.tar", "y"}, "is not an http, https or file URL"},
		{[]string{"http://x/y.tar", "y/z"}, `invalid image name "y/z"`},
		{[]string{"http://x/y.tar", "y", "--verify=no"}, `unexpected "--verify=no": options go before URL NAME`},
	} {
		code, _, stderr := run(t, Program{}, append([]string{"image", "pull"}, tc.args...)...)
		if code != 2 {
			t.Errorf("%q: code %d", tc.args, code)
		}
		oneLineErr(t, stderr, tc.want)
	}
	if c := bus.importd.Calls(); len(c) != 0 {
		t.Errorf("importd was called: %+v", c)
	}
}

// withApps points the definitions at a directory of these.
func withApps(t *testing.T, files map[string]string) {
	t.Helper()
	old := appsDir
	appsDir = writeApps(t, files)
	t.Cleanup(func() { appsDir = old })
}

var imageApps = map[string]string{
	"xterm.toml":  "name = \"XTerm\"\nimage = \"xapps\"\nexec = [\"/usr/bin/xterm\"]\n",
	"xeyes.toml":  "name = \"XEyes\"\nimage = \"xapps\"\nexec = [\"/usr/bin/xeyes\"]\n",
	"probe.toml":  "name = \"Probe\"\nimage = \"probe\"\nexec = [\"/usr/bin/probe\"]\n",
	"ghost.toml":  "name = \"Ghost\"\nimage = \"gone\"\nexec = [\"/bin/true\"]\n",
	"broken.toml": "name = \"Broken\"\nimgae = \"probe\"\n",
}

func TestImageList(t *testing.T) {
	withApps(t, imageApps)
	bus := newImageBus(t, bustest.ImportdOptions{})
	created := time.Date(2026, 11, 28, 20, 48, 58, 0, time.Local)
	bus.machined.AddImage(bustest.Image{Name: "xapps", Created: uint64(created.UnixMicro()), Usage: machined.UsageUnknown})
	bus.machined.AddImage(bustest.Image{Name: "debian", Type: "raw", ReadOnly: true, Created: uint64(created.UnixMicro()),
		Modified: uint64(created.Add(time.Hour).UnixMicro()), Usage: 300 << 20})
	bus.machined.AddImage(bustest.Image{Name: "probe", Usage: machined.UsageUnknown})

	code, stdout, stderr := run(t, Program{}, "image", "list")
	want := "NAME    TYPE       SIZE       CREATED              MODIFIED             RO   APPS\n" +
		"debian  raw        300.0 MiB  2026-11-28 20:48:58  2026-11-28 21:48:58  yes  -\n" +
		"probe   directory  -          -                    -                    no   probe\n" +
		"xapps   directory  -          2026-11-28 20:48:58  -                    no   xeyes,xterm\n"
	if code != 0 || stdout != want || stderr != "" {
		t.Errorf("code %d, stderr %q, stdout\n%s\nwant\n%s", code, stderr, stdout, want)
	}

	code, stdout, _ = run(t, Program{}, "image", "list", "--json")
	var got []map[string]any
	if code != 0 || json.Unmarshal([]byte(stdout), &got) != nil || len(got) != 3 {
		t.Fatalf("--json: code %d, %s", code, stdout)
	}
	if got[0]["name"] != "debian" || got[0]["size"] != float64(300<<20) || got[0]["read_only"] != true ||
		got[2]["size"] != nil || len(got[2]["apps"].([]any)) != 2 || len(got[0]["apps"].([]any)) != 0 {
		t.Errorf("--json = %s", stdout)
	}
}

func TestImageListEmpty(t *testing.T) {
	withApps(t, nil)
	newImageBus(t, bustest.ImportdOptions{})
	if code, stdout, _ := run(t, Program{}, "image", "list"); code != 0 || stdout != "No images (nspawn-tray image import or pull makes one).\n" {
		t.Errorf("code %d, stdout %q", code, stdout)
	}
	if code, stdout, _ := run(t, Program{}, "image", "list", "--json"); code != 0 || stdout != "[]\n" {
		t.Errorf("--json: code %d, stdout %q", code, stdout)
	}
}

func TestImageRemove(t *testing.T) {
	withApps(t, imageApps)
	running := []launcher.Instance{
		{Machine: "xterm-0a1b2c3d", App: "xterm", UID: 1000},
		{Machine: "sleeper-00000001", App: "sleeper", UID: 1001},
	}
	for _, tc := range []struct {
		desc      string
		name      string
		instances []launcher.Instance
		code      int
		stdout    string
		stderr    string
		removed   bool
	}{
		{desc: "in use", name: "xapps", instances: running, code: 1,
			stderr: `nspawn-tray: image "xapps" is in use by xterm-0a1b2c3d (xterm): stop it first` + "\n"},
		{desc: "in use twice", name: "xapps", instances: append(running, launcher.Instance{Machine: "xeyes-12345678", App: "xeyes"}), code: 1,
			stderr: `nspawn-tray: image "xapps" is in use by xterm-0a1b2c3d (xterm), xeyes-12345678 (xeyes): stop them first` + "\n"},
		{desc: "apps on it, none running", name: "xapps", instances: running[1:], stdout: "Removed image \"xapps\".\n", removed: true,
			stderr: `nspawn-tray image remove: xeyes, xterm cannot launch until image "xapps" is back (their definitions are in ` + appsDir + ")\n"},
		{desc: "no app on it", name: "unused", instances: running, stdout: "Removed image \"unused\".\n", removed: true},
		{desc: "unknown", name: "nope", code: 1, stderr: `nspawn-tray: no image "nope" (nspawn-tray image list shows the images)` + "\n"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			bus := newImageBus(t, bustest.ImportdOptions{})
			bus.machined.AddImage(bustest.Image{Name: "xapps"})
			bus.machined.AddImage(bustest.Image{Name: "unused"})
			bus.launcher.SetInstances(tc.instances)
			code, stdout, stderr := run(t, Program{}, "image", "remove", tc.name)
			if code != tc.code || stdout != tc.stdout || stderr != tc.stderr {
				t.Errorf("code %d, stdout %q, stderr %q; want %d, %q, %q", code, stdout, stderr, tc.code, tc.stdout, tc.stderr)
			}
			calls := bus.machined.RemovedImages()
			if tc.removed != (len(calls) == 1) || (tc.removed && (calls[0].Name != tc.name || !calls[0].Interactive)) {
				t.Errorf("RemoveImage calls %+v, removed %v", calls, tc.removed)
			}
		})
	}
}

func TestImageRemoveRefused(t *testing.T) {
	withApps(t, nil)
	bus := newImageBus(t, bustest.ImportdOptions{})
	bus.machined.AddImage(bustest.Image{Name: "x"})
	bus.machined.FailRemoveImage(dbus.NewError("org.freedesktop.DBus.Error.InteractiveAuthorizationRequired", []any{"no"}))
	code, _, stderr := run(t, Program{}, "image", "remove", "x")
	if code != 1 {
		t.Errorf("code %d", code)
	}
	oneLineErr(t, stderr, "not authorized to remove images: polkit allows org.freedesktop.machine1.manage-images to administrators only")
	bus.machined.FailRemoveImage(dbus.NewError("System.Error.EBUSY", []any{"Device or resource busy"}))
	code, _, stderr = run(t, Program{}, "image", "remove", "x")
	if code != 1 || stderr != "nspawn-tray: image \"x\" is in use by a running machine (machinectl list): stop it first\n" {
		t.Errorf("busy: code %d, stderr %q", code, stderr)
	}
	if code, _, stderr := run(t, Program{}, "image", "remove", "../x"); code != 2 || !strings.Contains(stderr, `invalid image name "../x"`) {
		t.Errorf("bad name: code %d, %q", code, stderr)
	}
}

// Without the daemon no instance of ours can run: the image goes.
func TestImageRemoveWithoutDaemon(t *testing.T) {
	withApps(t, imageApps)
	b := bustest.New(t)
	b.AsSystemBus(t)
	m := bustest.NewMachined(t, b.Conn(t))
	m.AddImage(bustest.Image{Name: "probe"})
	if code, stdout, _ := run(t, Program{}, "image", "remove", "probe"); code != 0 || stdout != "Removed image \"probe\".\n" {
		t.Errorf("code %d, stdout %q", code, stdout)
	}
}

// Each subcommand has its own help; image alone lists them.
func TestImageHelp(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"image", "--help"}, []string{"Usage: nspawn-tray image COMMAND [ARGS]", "  import ", "  pull ", "  list ", "  remove "}},
		{[]string{"help", "image"}, []string{"Usage: nspawn-tray image COMMAND [ARGS]"}},
		{[]string{"image", "import", "--help"}, []string{"Usage: nspawn-tray image import [OPTIONS] FILE|- NAME | --from docker|podman IMAGE NAME", "--quiet", "--from ENGINE"}},
		{[]string{"image", "pull", "-h"}, []string{"Usage: nspawn-tray image pull [OPTIONS] URL NAME", "--verify MODE", "(default signature)"}},
		{[]string{"image", "list", "--help"}, []string{"Usage: nspawn-tray image list [OPTIONS]", "--json"}},
		{[]string{"image", "remove", "--help"}, []string{"Usage: nspawn-tray image remove NAME"}},
	} {
		code, stdout, stderr := run(t, Program{}, tc.args...)
		if code != 0 || stderr != "" {
			t.Errorf("%q: code %d, stderr %q", tc.args, code, stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(stdout, w) {
				t.Errorf("%q: no %q in\n%s", tc.args, w, stdout)
			}
		}
	}
	if code, _, stderr := run(t, Program{}, "image", "export", "x"); code != 2 || !strings.Contains(stderr, "want import or pull or list or remove") {
		t.Errorf("image export: code %d, %q", code, stderr)
	}
}

func TestSniffImage(t *testing.T) {
	tarball := func() []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		tw.WriteHeader(&tar.Header{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755})
		tw.Close()
		return buf.Bytes()
	}()
	ext4 := make([]byte, 2048)
	ext4[1080], ext4[1081] = 0x53, 0xef
	gpt := make([]byte, 1024)
	copy(gpt[512:], "EFI PART")
	btrfs := make([]byte, 0x10048)
	copy(btrfs[0x10040:], "_BHRfS_M")
	for _, tc := range []struct {
		name string
		head []byte
		kind imageKind
		comp string
		err  string
	}{
		{"x.bin", tarball, kindTar, "", ""},
		{"x.raw", tarball, kindTar, "", ""}, // the content wins
		{"x", gz(tarball), kindTar, "gzip", ""},
		{"x", gz(mbr()), kindRaw, "gzip", ""},
		{"x", mbr(), kindRaw, "", ""},
		{"x", gpt, kindRaw, "", ""},
		{"x", ext4, kindRaw, "", ""},
		{"x", btrfs, kindRaw, "", ""},
		{"x", []byte("QFI\xfb\x00\x00\x00\x03"), kindRaw, "", ""},
		{"x", []byte("hsqs...."), kindRaw, "", ""},
		{"debian.raw.xz", []byte{0xfd, '7', 'z', 'X', 'Z', 0, 1}, kindRaw, "xz", ""},
		{"debian.tar.xz", []byte{0xfd, '7', 'z', 'X', 'Z', 0, 1}, kindTar, "xz", ""},
		{"standard input", []byte{0xfd, '7', 'z', 'X', 'Z', 0, 1}, kindTar, "xz", ""},
		{"x.img.zst", []byte{0x28, 0xb5, 0x2f, 0xfd, 0}, kindRaw, "zstd", ""},
		{"x", []byte{0x28, 0xb5, 0x2f, 0xfd, 0}, kindTar, "zstd", ""},
		{"x.TGZ", []byte("garbled"), kindTar, "", ""},
		{"x.qcow2", []byte("garbled"), kindRaw, "", ""},
		{"x", []byte{0x1f, 0x8b, 0, 0}, 0, "", "is neither a tarball nor a disk image"},
		{"x.txt", []byte("hello"), 0, "", "is neither a tarball nor a disk image"},
		{"x", nil, 0, "", "x is empty"},
	} {
		kind, comp, _, err := sniffImage(tc.name, tc.head)
		if kind != tc.kind || comp != tc.comp || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("sniffImage(%q, %.12q) = %v, %q, %v; want %v, %q, %q", tc.name, tc.head, kind, comp, err, tc.kind, tc.comp, tc.err)
		}
	}
}

// sniffImage reads untrusted bytes (any file, any stream): it must not
// panic, and must say one thing or the other.
func FuzzSniffImage(f *testing.F) {
	f.Add("x.tar", []byte("ustar"))
	f.Add("x.raw.gz", []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3})
	f.Add("x", []byte("BZh91AY&SY"))
	f.Add("x", mbr())
	f.Fuzz(func(t *testing.T, name string, head []byte) {
		kind, _, _, err := sniffImage(name, head)
		if (err == nil) != (kind == kindTar || kind == kindRaw) {
			t.Errorf("sniffImage(%q, %q) = %v, %v", name, head, kind, err)
		}
	})
}

func TestFailureReason(t *testing.T) {
	for _, tc := range []struct {
		log  []string
		want string
	}{
		{nil, ""},
		{[]string{"Importing 'x', saving as 'y'.", "Imported 10%.", "Exiting."}, ""},
		{[]string{"a", "b", "c", "d", "Exiting."}, "b; c; d"},
		{[]string{"  Image 'x' already exists.  "}, "Image 'x' already exists."},
		// systemd 257's importd says where it works first.
		{[]string{"Operating on image directory '/var/lib/machines'.", "Got 15% of http://h/x.tar.gz.",
			"DOWNLOAD INVALID: Checksum of x.tar.gz file did not check out, file has been tampered with.", "Exiting."},
			"DOWNLOAD INVALID: Checksum of x.tar.gz file did not check out, file has been tampered with."},
		// GNU tar's notes on what it sanitized are not the error.
		{[]string{"tar: Removing leading `../' from member names", "tar: ../x: Member name contains '..'", "tar: Removing leading `/' from member names",
			"tar: Exiting with failure status due to previous errors", "tar failed with exit status 2.", "Exiting."},
			"tar: ../x: Member name contains '..'; tar: Exiting with failure status due to previous errors; tar failed with exit status 2."},
	} {
		if got := failureReason(tc.log); got != tc.want {
			t.Errorf("failureReason(%q) = %q, want %q", tc.log, got, tc.want)
		}
	}
}

// importd stopped reading (its tar failed: a zst stream importd 252 cannot
// read), the write got EPIPE, and the cancel that followed ended the
// transfer before its failure did: the error is the log's reason, not a
// cancel by "someone else". (Seen in the test host's e2e run.)
func TestImportEndAfterBrokenPipe(t *testing.T) {
	var stderr bytes.Buffer
	e := &Env{Stdout: &bytes.Buffer{}, Stderr: &stderr}
	tr := transfer{verb: "import", name: "x", src: &importSource{zstdPassed: true}, meter: progressTo(e, true, "x", 0)}
	log := []string{"Importing '/proc/self/fd/3', saving as 'x'.", "tar: This does not look like a tar archive", "tar: Archive is compressed. Use --zstd option"}
	err := tr.end(e, importd.ResultCanceled, nil, false, syscall.EPIPE, log)
	if err == nil || strings.Contains(err.Error(), "someone else") || !strings.Contains(err.Error(), "Use --zstd option") ||
		!strings.Contains(err.Error(), "install zstd") {
		t.Errorf("end = %v; want the log's reason and the zstd hint", err)
	}
	// Canceled with nothing broken: that was someone else.
	if err := tr.end(e, importd.ResultCanceled, nil, false, nil, log); err == nil || !strings.Contains(err.Error(), "someone else") {
		t.Errorf("a cancel from elsewhere: %v", err)
	}
}

// --add-apps: after the import, the apps the new image offers (the
// daemon's Offers), each with the command that adds it; others' offers
// are not listed.
func TestImageImportAddApps(t *testing.T) {
	bus := newImageBus(t, bustest.ImportdOptions{})
	bus.launcher.SetOffers([]launcher.Offer{
		{Image: "debian", DesktopFile: "org.gnome.Calculator.desktop", ID: "org.gnome.calculator", Name: "Calculator"},
		{Image: "other", DesktopFile: "x.desktop", ID: "x", Name: "X"},
		{Image: "debian", DesktopFile: "it's.desktop", ID: "its", Name: "Quoted"},
	})
	file := writeTemp(t, "debian.tar.gz", gz(rootfs(t)))
	code, stdout, stderr := run(t, Program{}, "image", "import", "--quiet", "--add-apps", file, "debian")
	if code != 0 || stderr != "" {
		t.Fatalf("code %d, stderr %q", code, stderr)
	}
	sudo := "sudo "
	if os.Geteuid() == 0 {
		sudo = ""
	}
	for _, want := range []string{
		`Image "debian" offers 2 app(s); to add one to the menu:`,
		"Calculator", sudo + "nspawn-tray app add debian org.gnome.Calculator.desktop",
		"Quoted", sudo + `nspawn-tray app add debian 'it'\''s.desktop'`,
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "x.desktop") {
		t.Errorf("another image's offer is listed:\n%s", stdout)
	}
	// Nothing offered: said so.
	bus.launcher.SetOffers(nil)
	if code, stdout, _ := run(t, Program{}, "image", "import", "--quiet", "--add-apps", file, "debian2"); code != 0 || !strings.Contains(stdout, "offers no app") {
		t.Errorf("no offers: code %d, stdout %q", code, stdout)
	}
}
