package cli

// nspawn-tray image: the images apps run in, made from a Docker or Podman
// export, a tarball, a disk image or a URL, through systemd-importd, and
// listed and removed through systemd-machined. Both authorize with their
// own polkit actions (administrators), so these commands need no daemon
// of ours and no privilege of their own.

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"

	"github.com/nspawn-tray/nspawn-tray/config"
	"github.com/nspawn-tray/nspawn-tray/importd"
	"github.com/nspawn-tray/nspawn-tray/launcher"
	"github.com/nspawn-tray/nspawn-tray/machined"
	"github.com/nspawn-tray/nspawn-tray/machinename"
	"github.com/nspawn-tray/nspawn-tray/progress"
)

// imageCommands are image's subcommands, each with its own flags and
// --help.
func imageCommands() []Command {
	return []Command{
		{Name: "import", Summary: "Import a tarball (plain, gz, xz, bz2 or zst, as docker or podman export writes it) or a raw disk image as image NAME",
			Args: "FILE|- NAME | --from docker|podman IMAGE NAME", Flags: imageImportFlags},
		{Name: "pull", Summary: "Download a tarball or a raw disk image as image NAME", Args: "URL NAME", Flags: imagePullFlags},
		{Name: "list", Summary: "List the images, with the apps defined on each", Flags: imageListFlags},
		{Name: "remove", Summary: "Remove image NAME, unless an app runs on it", Args: "NAME", Flags: imageRemoveFlags},
	}
}

// wantArgs checks the positional arguments' count; flags after them are
// the likeliest mistake (Go's flag parsing stops at the first argument).
func wantArgs(args []string, names ...string) error {
	for _, a := range args {
		if len(a) > 1 && strings.HasPrefix(a, "-") {
			return UsageError(fmt.Sprintf("unexpected %q: options go before %s", a, strings.Join(names, " ")))
		}
	}
	if len(args) != len(names) {
		return UsageError(fmt.Sprintf("want %s", strings.Join(names, " and ")))
	}
	return nil
}

// checkImageName applies systemd's rule for machine and image names
// before anything is asked of anyone.
func checkImageName(name string) error {
	if p := machinename.Problem(name); p != "" {
		return UsageError(fmt.Sprintf("invalid image name %q: %s", name, p))
	}
	return nil
}

// imageError is an error whose message is meant for the user as it
// stands, and which still matches what it wraps.
type imageError struct {
	msg string
	err error
}

func (e *imageError) Error() string { return e.msg }
func (e *imageError) Unwrap() error { return e.err }

// refused words importd's and machined's refusals: their polkit actions
// are for administrators, and no group of ours changes that.
func refused(what, action, sub string, err error) error {
	switch {
	case errors.Is(err, importd.ErrNotAuthorized), errors.Is(err, machined.ErrAccessDenied):
		return &imageError{fmt.Sprintf("not authorized to %s: polkit allows %s to administrators only; run it as root (sudo nspawn-tray image %s ...), or in a desktop session, whose authentication agent asks for an administrator's password",
			what, action, sub), err}
	case errors.Is(err, importd.ErrUnavailable):
		return &imageError{"systemd-importd is not available on the system bus (install systemd-container)", err}
	}
	return err
}

// interrupts delivers Ctrl-C (and SIGTERM, SIGHUP) to a transfer, which
// cancels it; tests replace it.
var interrupts = func() (<-chan os.Signal, func()) {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	return ch, func() { signal.Stop(ch) }
}

// progressTo is where a transfer's progress goes and how: a meter on
// stderr, redrawn on a terminal, lines otherwise.
func progressTo(e *Env, quiet bool, label string, total int64) *progress.Meter {
	o := progress.Options{Mode: progress.Quiet, Label: label, Total: total}
	if !quiet {
		o.Mode = progress.Lines
		if f, ok := e.Stderr.(*os.File); ok && progress.IsTerminal(f.Fd()) {
			o.Mode, o.Width = progress.Terminal, progress.Width(f.Fd())
		}
	}
	return progress.New(e.Stderr, o)
}

// ---- import

func imageImportFlags(fs *flag.FlagSet) Run {
	quiet := fs.Bool("quiet", false, "show no progress")
	from := fs.String("from", "", "take the image from `ENGINE` (docker or podman): create a container of IMAGE, export it into the import and remove the container")
	addApps := fs.Bool("add-apps", false, "then list the apps the image offers (its desktop entries), with the command that adds each")
	return func(e *Env, args []string) error {
		first := "FILE"
		if *from != "" {
			first = "IMAGE"
			if *from != "docker" && *from != "podman" {
				return UsageError(fmt.Sprintf("--from %q: docker or podman", *from))
			}
		}
		if err := wantArgs(args, first, "NAME"); err != nil {
			return err
		}
		what, name := args[0], args[1]
		if err := checkImageName(name); err != nil {
			return err
		}
		if u, err := url.Parse(what); *from == "" && err == nil && (u.Scheme == "http" || u.Scheme == "https") {
			return UsageError(fmt.Sprintf("%s is a URL: 'nspawn-tray image pull URL NAME' downloads it", what))
		}
		sigs, stop := interrupts()
		defer stop()
		var src *importSource
		var err error
		if *from != "" {
			src, err = engineSource(e, *quiet, *from, what)
		} else {
			src, err = fileSource(what)
		}
		if err != nil {
			return err
		}
		defer src.close(e)
		if err := importImage(e, *quiet, sigs, src, name); err != nil || !*addApps {
			return err
		}
		return offerApps(e, name)
	}
}

// offerApps lists the apps image offers, as the daemon's Offers says
// (its desktop entries without a definition), with the command that adds
// each: writing a definition is root's (app add), or an administrator's
// through the tray's Add app.
func offerApps(e *Env, image string) error {
	return withClient(func(c *launcher.Client) error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		offers, err := c.Offers(ctx)
		if err != nil {
			return fmt.Errorf("the apps of image %q: %w", image, err)
		}
		cmd := "nspawn-tray app add"
		if os.Geteuid() != 0 {
			cmd = "sudo " + cmd
		}
		var rows [][]string
		for _, o := range offers {
			if o.Image == image {
				rows = append(rows, []string{o.Name, cmd + " " + ShellQuote(image) + " " + ShellQuote(o.DesktopFile)})
			}
		}
		if len(rows) == 0 {
			fmt.Fprintf(e.Stdout, "Image %q offers no app (no desktop entry with a program it has).\n", image)
			return nil
		}
		fmt.Fprintf(e.Stdout, "Image %q offers %d app(s); to add one to the menu:\n", image, len(rows))
		for _, r := range rows {
			fmt.Fprintf(e.Stdout, "  %-24s %s\n", r[0], r[1])
		}
		return nil
	})
}

type imageKind int

const (
	kindTar imageKind = iota + 1
	kindRaw
)

func (k imageKind) String() string {
	if k == kindRaw {
		return "disk image"
	}
	return "tarball"
}

// importSource is where an import's bytes come from: a descriptor importd
// reads itself (a regular file), or a stream pumped into a pipe
// (standard input, an engine's export, what zstd decompresses).
type importSource struct {
	desc string // for messages: the file, "standard input", "docker image debian:12"
	kind imageKind
	size int64 // the input's size in bytes, or -1

	// direct is the descriptor importd reads, from base on.
	direct *os.File
	base   int64
	// r is the stream otherwise.
	r io.Reader
	// offset tells how far the input was read: the offset of a file
	// (importd's or zstd's reads move it, as they share its open file
	// description), or what was taken from a stream.
	offset func() int64
	// finish reports how the producers of r ended, after r's end of
	// file: a failed export must not look like a complete tarball.
	finish func() error
	// kill stops the producers (a canceled transfer).
	kill func()
	// closers undo what opening did (files, the engine's container).
	closers []func(*Env)
	// zstdPassed: a zstd stream went to importd as it was, without the
	// zstd tool here; a failure says what would help.
	zstdPassed bool
}

func (s *importSource) close(e *Env) {
	if s.kill != nil {
		s.kill()
	}
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i](e)
	}
}

// counter counts what is read through it.
type counter struct {
	r io.Reader
	n atomic.Int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// sniffLen is how much of the start of an input the format is told from:
// enough for a tar header, a partition table and the file systems whose
// magic sits furthest in (btrfs, at 64 KiB).
const sniffLen = 72 << 10

// lookPath is exec.LookPath; tests take tools away with it.
var lookPath = exec.LookPath

// fileSource opens FILE, or standard input for "-", and tells what it
// holds.
func fileSource(arg string) (*importSource, error) {
	f, desc := os.Stdin, "standard input"
	if arg != "-" {
		var err error
		if f, err = os.Open(arg); err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
		desc = arg
	}
	s := &importSource{desc: desc, size: -1}
	if arg != "-" {
		s.closers = append(s.closers, func(*Env) { f.Close() })
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		s.close(nil)
		return nil, fmt.Errorf("import: %s: %w", desc, err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		s.close(nil)
		return nil, fmt.Errorf("import: %s is a directory: import a tarball of it (tar -C %s -c . | nspawn-tray image import - NAME)", desc, arg)
	case unix.S_IFREG:
		if err := s.fromFile(f); err != nil {
			s.close(nil)
			return nil, err
		}
		return s, nil
	}
	if arg == "-" && progress.IsTerminal(f.Fd()) {
		return nil, UsageError("standard input is a terminal: give a FILE, or pipe a tarball in (docker export ID | nspawn-tray image import - NAME)")
	}
	if err := s.fromStream(f, arg); err != nil {
		s.close(nil)
		return nil, err
	}
	return s, nil
}

// fromFile: importd reads the file itself from where it stands, unless it
// is zstd and the zstd tool is here to decompress it.
func (s *importSource) fromFile(f *os.File) error {
	base, err := unix.Seek(int(f.Fd()), 0, io.SeekCurrent)
	if err != nil {
		return fmt.Errorf("import: %s: %w", s.desc, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return fmt.Errorf("import: %s: %w", s.desc, err)
	}
	s.base, s.size = base, max(st.Size-base, 0)
	s.offset = func() int64 {
		off, err := unix.Seek(int(f.Fd()), 0, io.SeekCurrent)
		if err != nil {
			return 0
		}
		return off - base
	}
	head := make([]byte, sniffLen)
	n, err := f.ReadAt(head, base) // pread: the offset stays for importd
	if err != nil && err != io.EOF {
		return fmt.Errorf("import: %s: %w", s.desc, err)
	}
	kind, comp, _, err := sniffImage(s.desc, head[:n])
	if err != nil {
		return err
	}
	if comp == "zstd" {
		if zstd, err := lookPath("zstd"); err == nil {
			return s.unzstd(zstd, f)
		}
		s.zstdPassed = true
	}
	s.kind, s.direct = kind, f
	return nil
}

// fromStream reads a pipe (or another descriptor importd would not take
// as it is): the head is read to tell the format, so all of it is pumped.
func (s *importSource) fromStream(f *os.File, name string) error {
	c := &counter{r: f}
	br := bufio.NewReaderSize(c, sniffLen)
	s.offset = c.n.Load
	kind, comp, err := sniffStream(name, br)
	if err != nil {
		return err
	}
	if comp == "zstd" {
		if zstd, err := lookPath("zstd"); err == nil {
			return s.unzstd(zstd, br)
		}
		s.zstdPassed = true
	}
	s.kind, s.r = kind, br
	return nil
}

// unzstd decompresses in with the zstd tool: importd 252 (Debian 12)
// cannot, and whether a newer one can is not ours to guess. The offset
// keeps counting the compressed input.
func (s *importSource) unzstd(zstd string, in io.Reader) error {
	cmd := exec.Command(zstd, "-d", "-c", "-q")
	cmd.Stdin = in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	// Its own process group: Ctrl-C cancels the transfer, and the
	// transfer stops zstd, not the terminal.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("import: %s: start zstd: %w", s.desc, err)
	}
	wait := onceWait(cmd)
	s.kill = func() { cmd.Process.Kill(); wait() }
	s.finish = func() error {
		if err := wait(); err != nil {
			return fmt.Errorf("zstd: %s", lastLine(stderr.String(), err))
		}
		return nil
	}
	br := bufio.NewReaderSize(out, sniffLen)
	kind, _, err := sniffStream(strings.TrimSuffix(strings.TrimSuffix(s.desc, ".zst"), ".zstd"), br)
	if err != nil {
		s.kill()
		if _, perr := br.Peek(1); perr != nil {
			// Nothing came out: zstd says why.
			return fmt.Errorf("import: decompressing %s: %v", s.desc, s.finish())
		}
		return err
	}
	s.kind, s.r, s.direct = kind, br, nil
	return nil
}

// onceWait is cmd.Wait, callable more than once.
func onceWait(cmd *exec.Cmd) func() error {
	var once sync.Once
	var err error
	return func() error {
		once.Do(func() { err = cmd.Wait() })
		return err
	}
}

// lastLine is the last non-empty line of a tool's stderr, or err.
func lastLine(stderr string, err error) string {
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if l := strings.TrimSpace(lines[len(lines)-1]); l != "" {
		return l
	}
	if err != nil {
		return err.Error()
	}
	return "failed"
}

// engineSource exports image with docker or podman: create a container
// (never started), stream its export, remove it when done.
func engineSource(e *Env, quiet bool, engine, image string) (*importSource, error) {
	if image == "" || strings.HasPrefix(image, "-") {
		return nil, UsageError(fmt.Sprintf("invalid %s image %q", engine, image))
	}
	bin, err := lookPath(engine)
	if err != nil {
		return nil, fmt.Errorf("import --from %s: %s is not installed (no %s in PATH); export the image yourself and import the file", engine, engine, engine)
	}
	var createErr bytes.Buffer
	create := exec.Command(bin, "create", image)
	// A create may pull the image first: its progress is worth seeing.
	create.Stderr = &createErr
	if !quiet {
		create.Stderr = io.MultiWriter(e.Stderr, &createErr)
	}
	out, err := create.Output()
	if err != nil {
		return nil, fmt.Errorf("import: %s create %s: %s", engine, image, lastLine(createErr.String(), err))
	}
	id := strings.TrimSpace(lastLine(string(out), nil))
	if id == "" || strings.IndexFunc(id, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.')
	}) >= 0 {
		return nil, fmt.Errorf("import: %s create %s printed %q, not a container id", engine, image, id)
	}
	s := &importSource{desc: engine + " image " + image, kind: kindTar, size: -1}
	s.closers = append(s.closers, func(e *Env) {
		var rmErr bytes.Buffer
		rm := exec.Command(bin, "rm", id)
		rm.Stderr = &rmErr
		if err := rm.Run(); err != nil && e != nil {
			e.Warn(fmt.Sprintf("could not remove the exported container %s (%s rm %s): %s", id, engine, id, lastLine(rmErr.String(), err)))
		}
	})
	var exportErr bytes.Buffer
	export := exec.Command(bin, "export", id)
	export.Stderr = &exportErr
	export.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := export.StdoutPipe()
	if err == nil {
		err = export.Start()
	}
	if err != nil {
		s.close(e)
		return nil, fmt.Errorf("import: %s export %s: %w", engine, id, err)
	}
	wait := onceWait(export)
	c := &counter{r: stdout}
	s.r, s.offset = c, c.n.Load
	s.kill = func() { export.Process.Kill(); wait() }
	s.finish = func() error {
		if err := wait(); err != nil {
			return fmt.Errorf("%s export: %s", engine, lastLine(exportErr.String(), err))
		}
		return nil
	}
	return s, nil
}

// sniffImage tells a tarball from a disk image by its first bytes, and by
// its name's extension where they cannot tell (the head of an xz or a
// large bzip2 stream is not decompressed here): comp is "", "gzip",
// "xz", "bzip2" or "zstd", and sure says the content decided.
func sniffImage(name string, head []byte) (kind imageKind, comp string, sure bool, err error) {
	if len(head) == 0 {
		return 0, "", true, fmt.Errorf("import: %s is empty", name)
	}
	data := head
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		comp = "gzip"
		if zr, err := gzip.NewReader(bytes.NewReader(head)); err == nil {
			data = readSome(zr)
		} else {
			data = nil
		}
	case bytes.HasPrefix(head, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		comp, data = "xz", nil
	case bytes.HasPrefix(head, []byte("BZh")):
		comp, data = "bzip2", readSome(bzip2.NewReader(bytes.NewReader(head)))
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		comp, data = "zstd", nil
	}
	if k := contentKind(data); k != 0 {
		return k, comp, true, nil
	}
	if k := extensionKind(name); k != 0 {
		return k, comp, false, nil
	}
	if comp == "xz" || comp == "bzip2" || comp == "zstd" {
		// The common case: docker export | xz.
		return kindTar, comp, false, nil
	}
	return 0, "", false, fmt.Errorf("import: %s is neither a tarball nor a disk image (no tar header, partition table or file system at its start)", name)
}

// sniffStream tells the format of a stream from as little of its start as
// it takes (a tar header is 512 bytes; a slow producer need not fill the
// whole sniffLen first), leaving all of it to be read from br.
func sniffStream(name string, br *bufio.Reader) (imageKind, string, error) {
	var kind imageKind
	var comp string
	var err error
	for _, n := range []int{512, 4096, sniffLen} {
		head, perr := br.Peek(n)
		if perr != nil && perr != io.EOF && !errors.Is(perr, bufio.ErrBufferFull) {
			return 0, "", fmt.Errorf("import: reading %s: %w", name, perr)
		}
		var sure bool
		kind, comp, sure, err = sniffImage(name, head)
		if sure || perr != nil {
			break
		}
	}
	return kind, comp, err
}

// readSome decompresses what the head holds, ignoring that it ends early.
func readSome(r io.Reader) []byte {
	var out bytes.Buffer
	io.Copy(&out, io.LimitReader(r, sniffLen))
	return out.Bytes()
}

// contentKind is what the (uncompressed) start of an image says it is,
// or 0.
func contentKind(d []byte) imageKind {
	at := func(off int, magic string) bool {
		return len(d) >= off+len(magic) && string(d[off:off+len(magic)]) == magic
	}
	switch {
	case at(257, "ustar"): // POSIX, GNU and PAX tar; docker export
		return kindTar
	case at(0, "QFI\xfb"), // qcow2: importd converts it
		at(512, "EFI PART"),          // GPT
		at(0, "hsqs"),                // squashfs
		at(0, "XFSB"),                // xfs
		at(0x10040, "_BHRfS_M"),      // btrfs
		at(1024, "\xe2\xe1\xf5\xe0"), // erofs
		len(d) >= 1082 && binary.LittleEndian.Uint16(d[1080:]) == 0xef53: // ext2/3/4
		return kindRaw
	case len(d) >= 512 && d[510] == 0x55 && d[511] == 0xaa: // MBR
		return kindRaw
	}
	return 0
}

// extensionKind is what the name's extension says, or 0.
func extensionKind(name string) imageKind {
	base := strings.ToLower(path.Base(name))
	for _, c := range []string{".gz", ".xz", ".bz2", ".zst", ".zstd"} {
		base = strings.TrimSuffix(base, c)
	}
	switch path.Ext(base) {
	case ".tar", ".tgz", ".txz", ".tbz2", ".tzst":
		return kindTar
	case ".raw", ".img", ".qcow2":
		return kindRaw
	}
	return 0
}

// imageExists tells whether machined knows an image called name (false
// when machined cannot be asked: importd then refuses itself).
func imageExists(ctx context.Context, conn *dbus.Conn, name string) bool {
	images, err := machined.New(conn).ListImages(ctx)
	return err == nil && slices.ContainsFunc(images, func(i machined.Image) bool { return i.Name == name })
}

func importImage(e *Env, quiet bool, sigs <-chan os.Signal, src *importSource, name string) error {
	conn, err := systemBus()
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx := context.Background()
	if imageExists(ctx, conn, name) {
		return fmt.Errorf("image %q exists already: remove it first (nspawn-tray image remove %s), or pick another NAME", name, name)
	}
	mgr := importd.New(conn)
	fd := -1
	var pumpIn, pumpOut *os.File
	if src.direct != nil {
		fd = int(src.direct.Fd())
	} else {
		// A pipe of our own (importd takes files and pipes only), made
		// blocking: importd's tar reads the other end as it is.
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
			return fmt.Errorf("import: pipe: %w", err)
		}
		pumpIn, pumpOut = os.NewFile(uintptr(p[0]), "import-in"), os.NewFile(uintptr(p[1]), "import-out")
		defer pumpIn.Close()
		defer pumpOut.Close()
		fd = int(pumpIn.Fd())
	}
	var pumped chan error
	t := transfer{
		verb: "import", name: name, src: src, mgr: mgr, sigs: sigs,
		meter: progressTo(e, quiet, name, src.size),
		start: func(ctx context.Context) (importd.Transfer, error) {
			if src.kind == kindRaw {
				return mgr.ImportRaw(ctx, fd, name, false)
			}
			return mgr.ImportTar(ctx, fd, name, false)
		},
		started: func() {
			if pumpOut == nil {
				return
			}
			// importd holds the read end now.
			pumpIn.Close()
			pumped = make(chan error, 1)
			go func() {
				_, err := io.Copy(pumpOut, src.r)
				if err == nil && src.finish != nil {
					err = src.finish()
				}
				if err == nil {
					// All of it, and its producers ended well: only now
					// may importd see the end of the stream.
					err = pumpOut.Close()
				}
				pumped <- err
			}()
		},
		pumped: func() <-chan error { return pumped },
	}
	if src.offset != nil {
		t.bytes = src.offset
	}
	return t.run(e)
}

// transfer follows one importd transfer from its start to its end:
// progress, Ctrl-C, and the reason when it failed.
type transfer struct {
	verb, name string
	src        *importSource // nil for a pull
	url        string
	mgr        *importd.Manager
	sigs       <-chan os.Signal
	meter      *progress.Meter
	start      func(context.Context) (importd.Transfer, error)
	started    func()
	pumped     func() <-chan error
	// bytes is how far the input was read, when it is ours to see;
	// otherwise importd's fraction is shown.
	bytes func() int64
	// logged is the last fraction the transfer's log gave (float64
	// bits; negative while none).
	logged *atomic.Uint64
}

// progressEvery is how often the progress is looked at.
var progressEvery = 200 * time.Millisecond

// recancelEvery is how long a canceled transfer may take to go before it
// is canceled again: importd sends SIGTERM to the first three cancels
// and SIGKILL to the fourth, and a transfer stuck in a loop (systemd-pull
// 252 spins on a .tar.gz with bytes after its end) ignores SIGTERM.
var recancelEvery = 2 * time.Second

func (t transfer) run(e *Env) error {
	ctx := context.Background()
	t.logged = new(atomic.Uint64)
	t.logged.Store(math.Float64bits(-1))
	w, err := t.mgr.Watch(ctx)
	if err != nil {
		return err
	}
	defer w.Close()

	// Start it while watching Ctrl-C: polkit may be asking for a
	// password. A transfer that starts anyway is canceled at once.
	type startResult struct {
		tr  importd.Transfer
		err error
	}
	startCtx, giveUp := context.WithCancel(ctx)
	defer giveUp()
	sc := make(chan startResult, 1)
	go func() {
		tr, err := t.start(startCtx)
		sc <- startResult{tr, err}
	}()
	interrupted := false
	var st startResult
	for waiting := true; waiting; {
		select {
		case st = <-sc:
			waiting = false
		case <-t.sigs:
			if interrupted {
				giveUp()
				e.Warn("stopped waiting for importd; a transfer it starts now runs on (machinectl list-transfers, machinectl cancel-transfer)")
				return ExitStatus(130)
			}
			interrupted = true
			e.Warn("canceling once importd answers (Ctrl-C again to stop waiting)")
		}
	}
	if st.err != nil {
		return t.startError(st.err)
	}
	tr := st.tr
	if t.started != nil {
		t.started()
	}
	var pumped <-chan error
	if t.pumped != nil {
		pumped = t.pumped()
	}

	var mu sync.Mutex
	var logLines []string
	type waitResult struct {
		res string
		err error
	}
	done := make(chan waitResult, 1)
	go func() {
		res, err := w.Wait(ctx, tr, func(_ uint32, line string) {
			mu.Lock()
			logLines = append(logLines, line)
			mu.Unlock()
			if f, ok := loggedFraction(line); ok {
				t.logged.Store(math.Float64bits(f))
			}
		})
		done <- waitResult{res, err}
	}()
	cancelErrs := make(chan error, 8)
	var recancel <-chan time.Time
	stopRecancel := func() {}
	defer func() { stopRecancel() }()
	cancels := 0
	cancel := func() {
		if cancels > 0 {
			return
		}
		if t.src != nil && t.src.kill != nil {
			t.src.kill()
		}
		cancels++
		go func() { cancelErrs <- t.mgr.CancelTransfer(ctx, tr.ID) }()
		tk := time.NewTicker(recancelEvery)
		stopRecancel = tk.Stop
		recancel = tk.C
	}
	if interrupted {
		cancel()
	}
	tick := time.NewTicker(progressEvery)
	defer tick.Stop()
	var sourceErr error
	for {
		select {
		case r := <-done:
			t.update(ctx, tr)
			mu.Lock()
			lines := logLines
			mu.Unlock()
			return t.end(e, r.res, r.err, interrupted, sourceErr, lines)
		case <-tick.C:
			t.update(ctx, tr)
		case err := <-pumped:
			pumped = nil
			if err != nil {
				// The input broke off: a cut stream must not end up as
				// an image.
				sourceErr = err
				cancel()
			}
		case <-recancel:
			if cancels < 4 {
				cancels++
				go func() { cancelErrs <- t.mgr.CancelTransfer(ctx, tr.ID) }()
			}
		case err := <-cancelErrs:
			if err != nil && !errors.Is(err, importd.ErrNoSuchTransfer) {
				t.meter.Finish(false)
				return refused("cancel the "+t.verb+" of "+t.name, "canceling transfers", t.verb, err)
			}
		case <-t.sigs:
			if interrupted {
				t.meter.Finish(false)
				e.Warn(fmt.Sprintf("stopped waiting; importd is still canceling transfer %d (machinectl list-transfers)", tr.ID))
				return ExitStatus(130)
			}
			interrupted = true
			cancel()
		}
	}
}

func (t transfer) update(ctx context.Context, tr importd.Transfer) {
	if t.bytes != nil {
		t.meter.Bytes(t.bytes())
		return
	}
	f, err := t.mgr.Progress(ctx, tr.Path)
	if err != nil || f < 0 {
		// importd 252 refuses systemd-pull's progress notifications
		// ("Got invalid percent value, ignoring."), so its Progress
		// stays unknown; the transfer's log says it all the same.
		f = math.Float64frombits(t.logged.Load())
	}
	t.meter.Fraction(f)
}

// loggedFraction reads a pull's progress line, "Got 17% of URL. 5s left
// at 166.2K/s.".
func loggedFraction(line string) (float64, bool) {
	rest, ok := strings.CutPrefix(line, "Got ")
	if !ok {
		return 0, false
	}
	pct, rest, ok := strings.Cut(rest, "% of ")
	if !ok || rest == "" {
		return 0, false
	}
	n, err := strconv.Atoi(pct)
	if err != nil || n < 0 || n > 100 {
		return 0, false
	}
	return float64(n) / 100, true
}

func (t transfer) startError(err error) error {
	what := "import images"
	action := "org.freedesktop.import1.import"
	if t.verb == "pull" {
		what, action = "pull images", "org.freedesktop.import1.pull"
	}
	if errors.Is(err, importd.ErrNotAuthorized) || errors.Is(err, importd.ErrUnavailable) {
		return refused(what, action, t.verb, err)
	}
	if errors.Is(err, importd.ErrInProgress) {
		return &imageError{fmt.Sprintf("%s is being pulled already (machinectl list-transfers)", t.url), err}
	}
	return err
}

func (t transfer) end(e *Env, result string, err error, interrupted bool, sourceErr error, log []string) error {
	if err == nil && result == importd.ResultDone && sourceErr == nil {
		t.meter.Finish(true)
		return nil
	}
	t.meter.Finish(false)
	switch {
	case err != nil:
		return fmt.Errorf("%s of %q: %w", t.verb, t.name, err)
	case interrupted:
		e.Warn(fmt.Sprintf("canceled: image %q was not created", t.name))
		return ExitStatus(130)
	case sourceErr != nil && !errors.Is(sourceErr, syscall.EPIPE):
		return fmt.Errorf("%s of %q stopped, nothing was imported: reading %s: %w", t.verb, t.name, t.src.desc, sourceErr)
	// With EPIPE importd stopped reading first (its tar failed), and the
	// cancel that followed may have ended the transfer before its failure
	// did: its log says why, not "someone else".
	case result == importd.ResultCanceled && sourceErr == nil:
		return fmt.Errorf("%s of %q was canceled by someone else (machinectl cancel-transfer)", t.verb, t.name)
	}
	// EPIPE: importd stopped reading, failing (a zstd file it cannot
	// read), and our cancel may have reached it before its importer's exit
	// did, which makes the result "canceled": its log says why all the same.
	msg := fmt.Sprintf("%s of %q failed", t.verb, t.name)
	if why := failureReason(log); why != "" {
		msg += ": " + why
	} else {
		msg += " (journalctl -u systemd-importd says why)"
	}
	switch {
	case t.src != nil && t.src.zstdPassed:
		msg += " (if importd cannot read zstd: install zstd, and nspawn-tray decompresses it itself)"
	case t.src == nil && strings.HasSuffix(strings.ToLower(t.url), ".zst"):
		msg += " (importd may not read zstd: download it and use 'nspawn-tray image import' with zstd installed)"
	case t.src == nil && (strings.Contains(msg, "gpg") || strings.Contains(msg, "ignature")):
		msg += " (--verify=checksum checks only SHA256SUMS, --verify=no nothing)"
	}
	return errors.New(msg)
}

// failureReason picks the lines of a transfer's log that say why it
// failed: importd's progress and chatter come first, the error last.
func failureReason(log []string) string {
	var keep []string
	for _, l := range log {
		l = strings.TrimSpace(l)
		if l == "" || slices.ContainsFunc([]string{
			"Importing '", "Pulling '", "Imported ", "Downloading ", "Downloaded ", "Got ",
			"Exiting.", "Operation completed", "Acquired ", "Enqueued ", "Saving ", "Wrote ",
			"Download of ", "Starting ", "Stripping ", "Unpacking ", "Settings file could not be retrieved",
			"tar: Removing leading ", "Operating on image directory ",
		}, func(p string) bool { return strings.HasPrefix(l, p) }) || strings.HasSuffix(l, ".nspawn failed with code 404.") {
			continue
		}
		keep = append(keep, l)
	}
	if len(keep) > 3 {
		keep = keep[len(keep)-3:]
	}
	return strings.Join(keep, "; ")
}

// ---- pull

func imagePullFlags(fs *flag.FlagSet) Run {
	quiet := fs.Bool("quiet", false, "show no progress")
	verify := fs.String("verify", string(importd.VerifySignature), "check the download by `MODE`: checksum (its SHA-256 is listed in SHA256SUMS next to it), signature (and SHA256SUMS is signed by a key importd trusts) or no")
	return func(e *Env, args []string) error {
		if err := wantArgs(args, "URL", "NAME"); err != nil {
			return err
		}
		raw, name := args[0], args[1]
		v, err := importd.ParseVerify(*verify)
		if err != nil {
			return UsageError(err.Error())
		}
		if err := checkImageName(name); err != nil {
			return err
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "file") || (u.Scheme != "file" && u.Host == "") {
			return UsageError(fmt.Sprintf("%q is not an http, https or file URL", raw))
		}
		sigs, stop := interrupts()
		defer stop()
		conn, err := systemBus()
		if err != nil {
			return err
		}
		defer conn.Close()
		if imageExists(context.Background(), conn, name) {
			return fmt.Errorf("image %q exists already: remove it first (nspawn-tray image remove %s), or pick another NAME", name, name)
		}
		mgr := importd.New(conn)
		// A URL's name says tarball or disk image: importd must be told
		// before it sees a byte.
		raw2 := extensionKind(u.Path) == kindRaw
		t := transfer{verb: "pull", name: name, url: raw, mgr: mgr, sigs: sigs, meter: progressTo(e, *quiet, name, 0),
			start: func(ctx context.Context) (importd.Transfer, error) {
				if raw2 {
					return mgr.PullRaw(ctx, raw, name, v)
				}
				return mgr.PullTar(ctx, raw, name, v)
			}}
		return t.run(e)
	}
}

// ---- list

type imageJSON struct {
	Name     string    `json:"name"`
	Type     string    `json:"type"`
	Size     *uint64   `json:"size"` // null when machined does not know
	Created  time.Time `json:"created,omitzero"`
	Modified time.Time `json:"modified,omitzero"`
	ReadOnly bool      `json:"read_only"`
	Apps     []string  `json:"apps"`
}

func imageListFlags(fs *flag.FlagSet) Run {
	asJSON := fs.Bool("json", false, "print a JSON array instead of a table")
	return func(e *Env, args []string) error {
		if err := NoArgs(args); err != nil {
			return err
		}
		conn, err := systemBus()
		if err != nil {
			return err
		}
		defer conn.Close()
		images, err := machined.New(conn).ListImages(context.Background())
		if err != nil {
			return err
		}
		// Hidden ones (the host's own ".host", importd's caches of pulled
		// files) are left out, as machinectl list-images does.
		images = slices.DeleteFunc(images, func(i machined.Image) bool { return strings.HasPrefix(i.Name, ".") })
		slices.SortFunc(images, func(a, b machined.Image) int { return strings.Compare(a.Name, b.Name) })
		users := appsByImage()
		out := make([]imageJSON, 0, len(images))
		for _, img := range images {
			j := imageJSON{Name: img.Name, Type: img.Type, ReadOnly: img.ReadOnly, Apps: users[img.Name]}
			if img.Usage != machined.UsageUnknown {
				j.Size = &img.Usage
			}
			if img.Created != 0 {
				j.Created = time.UnixMicro(int64(img.Created))
			}
			if img.Modified != 0 {
				j.Modified = time.UnixMicro(int64(img.Modified))
			}
			if j.Apps == nil {
				j.Apps = []string{}
			}
			out = append(out, j)
		}
		if *asJSON {
			enc := json.NewEncoder(e.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(out)
		}
		if len(out) == 0 {
			_, err := fmt.Fprintln(e.Stdout, "No images (nspawn-tray image import or pull makes one).")
			return err
		}
		tw := tabwriter.NewWriter(e.Stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tTYPE\tSIZE\tCREATED\tMODIFIED\tRO\tAPPS")
		when := func(t time.Time) string {
			if t.IsZero() {
				return "-"
			}
			return t.Local().Format(time.DateTime)
		}
		for _, j := range out {
			size, ro, apps := "-", "no", "-"
			if j.Size != nil {
				size = progress.Bytes(int64(*j.Size))
			}
			if j.ReadOnly {
				ro = "yes"
			}
			if len(j.Apps) > 0 {
				apps = strings.Join(j.Apps, ",")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", j.Name, j.Type, size, when(j.Created), when(j.Modified), ro, apps)
		}
		return tw.Flush()
	}
}

// appsByImage maps each image to the ids of the apps defined on it, read
// as the daemon reads the definitions.
func appsByImage() map[string][]string {
	apps, _ := config.LoadDir(appsDir, config.Options{RequireRootOwned: true, Owner: appsOwner})
	out := map[string][]string{}
	for _, a := range apps {
		out[a.Image] = append(out[a.Image], a.ID)
	}
	for _, ids := range out {
		slices.Sort(ids)
	}
	return out
}

// ---- remove

func imageRemoveFlags(fs *flag.FlagSet) Run {
	return func(e *Env, args []string) error {
		if err := wantArgs(args, "NAME"); err != nil {
			return err
		}
		name := args[0]
		if err := checkImageName(name); err != nil {
			return err
		}
		ctx := context.Background()
		conn, err := systemBus()
		if err != nil {
			return err
		}
		defer conn.Close()
		m := machined.New(conn)
		images, err := m.ListImages(ctx)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(images, func(i machined.Image) bool { return i.Name == name }) {
			return fmt.Errorf("no image %q (nspawn-tray image list shows the images)", name)
		}
		apps := appsByImage()[name]
		if err := notInUse(ctx, conn, name, apps); err != nil {
			return err
		}
		if err := m.RemoveImage(ctx, name); err != nil {
			if errors.Is(err, machined.ErrNoSuchImage) {
				return fmt.Errorf("no image %q (nspawn-tray image list shows the images)", name)
			}
			if errors.Is(err, machined.ErrBusy) {
				// A machine started outside nspawn-tray (machinectl
				// start), or one of ours that started since the check.
				return &imageError{fmt.Sprintf("image %q is in use by a running machine (machinectl list): stop it first", name), err}
			}
			return refused("remove images", "org.freedesktop.machine1.manage-images", "remove", err)
		}
		fmt.Fprintf(e.Stdout, "Removed image %q.\n", name)
		if len(apps) > 0 {
			e.Warn(fmt.Sprintf("%s cannot launch until image %q is back (their definitions are in %s)", strings.Join(apps, ", "), name, appsDir))
		}
		return nil
	}
}

// notInUse refuses while an instance of one of apps (the apps on the
// image) runs: the daemon's List has every user's instances. Without the
// daemon installed, none of ours can run.
func notInUse(ctx context.Context, conn *dbus.Conn, name string, apps []string) error {
	if len(apps) == 0 {
		return nil
	}
	list, err := launcher.NewClient(conn).List(ctx)
	if errors.Is(err, launcher.ErrNoDaemon) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("image %q: cannot tell whether an app runs on it: %w", name, err)
	}
	var using []string
	for _, i := range list {
		if slices.Contains(apps, i.App) {
			using = append(using, fmt.Sprintf("%s (%s)", i.Machine, i.App))
		}
	}
	switch len(using) {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("image %q is in use by %s: stop it first", name, using[0])
	}
	return fmt.Errorf("image %q is in use by %s: stop them first", name, strings.Join(using, ", "))
}
