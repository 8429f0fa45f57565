package daemon

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"

	"github.com/nspawn-tray/nspawn-tray/appexec"
	"github.com/nspawn-tray/nspawn-tray/internal/bustest"
	"github.com/nspawn-tray/nspawn-tray/launcher"
	"github.com/nspawn-tray/nspawn-tray/machinename"
	"github.com/nspawn-tray/nspawn-tray/stage"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: bind mounts, sockets owned by other users, bus connections as other users")
	}
}

// The apps every env has. plain needs nothing of the session, so a launch
// of it goes through authorization, staging and the unit only; full wants
// everything (X11, audio, session bus, persistent home, extra env).
const (
	plainApp = `name = "Plain"
image = "img"
exec = ["/usr/bin/plain"]
x11 = "none"
audio = false
dbus = []
home = false
`
	fullApp = `name = "Full"
image = "img"
exec = ["/usr/bin/full", "--flag"]
env = { FOO = "bar" }
`
)

// env is the daemon on a private bus, the fakes of polkit, machined and
// systemd on another connection, and the host paths of one test.
type env struct {
	t        *testing.T
	bus      *bustest.Bus
	paths    Paths
	polkit   *bustest.Polkit
	machined *bustest.Machined
	systemd  *bustest.Systemd
	svc      *Service
	svcConn  *dbus.Conn

	mu sync.Mutex
	// instanceStart decides how the instance unit's start goes; nil: "done".
	instanceStart func(bustest.Unit) (string, *dbus.Error)
	// execReport is what exec-as reports on the status socket: "" (the
	// default) for an exec that succeeded, the reason otherwise, after
	// which the unit exits 127. execSilent: it never connects.
	execReport string
	execSilent bool
	// xRefuse is the fake X server's reason to refuse a connection ("":
	// it accepts); xClients, who set up a connection.
	xRefuse  string
	xClients []xClient
	// proxyNoSocket makes the session bus proxy start without ever
	// creating its socket.
	proxyNoSocket bool
	// proxyFails makes the session bus proxy's start job fail.
	proxyFails bool
	proxies    map[string]net.Listener // unit -> the fake proxy's socket
	conns      map[uint32]*dbus.Conn
	hooks      sync.WaitGroup
	hookErrs   []error
}

func newEnv(t *testing.T) *env {
	t.Helper()
	needRoot(t)
	b := bustest.New(t)
	// Not t.TempDir: the staging root must be root-owned and not
	// group/world-writable all the way up, which a fresh MkdirTemp is.
	root, err := os.MkdirTemp("", "daemon-test-")
	if err == nil {
		// Like /run/nspawn-tray: users may pass through to what is bound
		// for them.
		err = os.Chmod(root, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	p := Paths{
		Apps:       filepath.Join(root, "apps"),
		Settings:   filepath.Join(root, "daemon.toml"), // absent: the defaults
		Machines:   filepath.Join(root, "machines"),
		Stage:      filepath.Join(root, "stage"),
		Exits:      filepath.Join(root, "exits"),
		Homes:      filepath.Join(root, "homes"),
		X11Sockets: filepath.Join(root, "x11"),
		RunUser:    filepath.Join(root, "run-user"),
		Self:       "/bin/true",
		Nspawn:     "/usr/bin/systemd-nspawn",
		Journalctl: "/usr/bin/journalctl",
		Nsenter:    "/usr/bin/nsenter",
		DBusProxy:  "/bin/true",
		MachineID:  "/etc/machine-id",
	}
	e := &env{t: t, bus: b, paths: p, proxies: map[string]net.Listener{}, conns: map[uint32]*dbus.Conn{}}
	t.Cleanup(func() {
		// The OnEnd hooks may still be cleaning up; let them finish
		// before anything goes.
		e.hooks.Wait()
		for _, err := range e.hookErrs {
			t.Errorf("the instance's ExecStopPost (daemon.Cleanup): %v", err)
		}
		e.mu.Lock()
		for _, l := range e.proxies {
			l.Close()
		}
		e.mu.Unlock()
		// Whatever a test left staged, mounts included, must not outlive it.
		entries, _ := os.ReadDir(p.Stage)
		for _, en := range entries {
			if machinename.CheckInstance(en.Name()) != nil {
				continue // a test's decoy, never mounted on
			}
			if err := stage.Remove(p.Stage, en.Name()); err != nil {
				t.Errorf("remove leftover %s: %v", en.Name(), err)
			}
		}
		if m := mountsBelow(t, root); len(m) > 0 {
			t.Errorf("mounts left behind: %v", m)
			return // RemoveAll would reach into them
		}
		os.RemoveAll(root)
	})
	for _, d := range []string{p.Apps, p.X11Sockets, p.RunUser} {
		mkdir(t, d)
	}
	e.image("img")
	e.app("plain", plainApp, 0o644)
	e.app("full", fullApp, 0o644)

	// A connection per fake: godbus's Export is not safe against a
	// concurrent Export on the same connection (its PathExists reads the
	// object map unlocked), and machined's and systemd's fakes export from
	// the test and from their handlers.
	e.polkit = bustest.NewPolkit(t, b.Conn(t))
	e.machined = bustest.NewMachined(t, b.Conn(t))
	e.systemd = bustest.NewSystemd(t, b.Conn(t))
	// Before its connection closes (cleanups run last first): an
	// instance's ExecStopPost may still be running when Wait has answered.
	t.Cleanup(e.systemd.Settle)
	e.systemd.OnStart(e.onStart)
	e.systemd.OnEnd(e.onEnd)
	e.polkit.Answer(launcher.ActionLaunch, bustest.PolkitAnswer{Authorized: true})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	svc, err := New(ctx, dialer(b), p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	e.svcConn = svc.conn
	if err := svc.Export(); err != nil {
		t.Fatal(err)
	}
	// Under e.mu: the fake systemd's handlers read it, and a bus message
	// is no happens-before edge for the race detector.
	e.mu.Lock()
	e.svc = svc
	e.mu.Unlock()
	return e
}

func mkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	mkdir(t, filepath.Dir(path))
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	// WriteFile's mode goes through the umask, and an existing file keeps
	// its mode.
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// image creates an image with a passwd and a group file.
func (e *env) image(name string) string {
	dir := filepath.Join(e.paths.Machines, name)
	writeFile(e.t, filepath.Join(dir, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n", 0o644)
	writeFile(e.t, filepath.Join(dir, "etc/group"), "root:x:0:\n", 0o644)
	return dir
}

// app writes the definition of id, root-owned with mode.
func (e *env) app(id, def string, mode os.FileMode) {
	writeFile(e.t, filepath.Join(e.paths.Apps, id+".toml"), def, mode)
}

// listen makes a unix socket at path owned by uid, as a session's server
// (Xorg, Xwayland, pulse) would.
func listen(t *testing.T, path string, uid uint32) *net.UnixListener {
	t.Helper()
	mkdir(t, filepath.Dir(path))
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	t.Cleanup(func() { l.Close() })
	if err := os.Chown(path, int(uid), int(uid)); err != nil {
		t.Fatal(err)
	}
	// Like X and PulseAudio sockets: anyone may connect, the server decides.
	if err := os.Chmod(path, 0o777); err != nil {
		t.Fatal(err)
	}
	return l.(*net.UnixListener)
}

// x11 makes the X server socket X<num> owned by uid, served by a fake X
// server that answers every connection setup with e.xRefuse (Success
// when empty) and records who connected.
func (e *env) x11(num string, uid uint32) string {
	p := filepath.Join(e.paths.X11Sockets, "X"+num)
	l := listen(e.t, p, uid)
	go func() {
		for {
			c, err := l.AcceptUnix()
			if err != nil {
				return
			}
			e.xServe(c)
		}
	}()
	return p
}

// xClient is one connection setup the fake X server saw.
type xClient struct {
	UID, GID uint32
	Auth     string
	Cookie   []byte
}

func (e *env) xServe(c *net.UnixConn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	var cl xClient
	if raw, err := c.SyscallConn(); err == nil {
		raw.Control(func(fd uintptr) {
			if cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
				cl.UID, cl.GID = cred.Uid, cred.Gid
			}
		})
	}
	head := make([]byte, 12)
	if _, err := io.ReadFull(c, head); err != nil || head[0] != 'l' || binary.LittleEndian.Uint16(head[2:]) != 11 {
		return
	}
	n, d := int(binary.LittleEndian.Uint16(head[6:])), int(binary.LittleEndian.Uint16(head[8:]))
	body := make([]byte, pad4(n)+pad4(d))
	if _, err := io.ReadFull(c, body); err != nil {
		return
	}
	cl.Auth, cl.Cookie = string(body[:n]), body[pad4(n):pad4(n)+d]
	e.mu.Lock()
	e.xClients = append(e.xClients, cl)
	refuse := e.xRefuse
	e.mu.Unlock()
	if refuse == "" {
		c.Write([]byte{1, 0, 11, 0, 0, 0, 0, 0})
		return
	}
	reply := []byte{0, byte(len(refuse)), 11, 0, 0, 0, byte(pad4(len(refuse)) / 4), 0}
	reply = append(reply, refuse...)
	c.Write(append(reply, make([]byte, pad4(len(refuse))-len(refuse))...))
}

// userSocket makes a socket in uid's runtime dir, owned by owner.
func (e *env) userSocket(uid uint32, rel string, owner uint32) string {
	p := filepath.Join(e.paths.RunUser, itoa(uid), rel)
	listen(e.t, p, owner)
	return p
}

func (e *env) onStart(u bustest.Unit) (string, *dbus.Error) {
	argv := u.Argv("ExecStart")
	if strings.HasPrefix(u.Name, "nspawn-tray-logs-") {
		return "done", nil
	}
	if strings.HasPrefix(u.Name, "nspawn-tray-xnested-") {
		// What Xephyr does first: listen at /tmp/.X11-unix/X<n> of its
		// unit, the directory of its BindPaths.
		return e.xnestedStart(u, argv)
	}
	if helper := strings.HasPrefix(u.Name, "nspawn-tray-dbus-"); helper || strings.HasPrefix(u.Name, "nspawn-tray-pulse-") {
		socket := ""
		switch {
		case helper && len(argv) >= 3 && argv[0] == e.paths.DBusProxy:
			socket = argv[2]
		case !helper && len(argv) >= 6 && argv[0] == e.paths.Self && argv[1] == "pulse-filter" && argv[4] == "--listen":
			socket = argv[5]
		default:
			return "", dbus.NewError("org.freedesktop.DBus.Error.InvalidArgs", []any{"not a helper command line"})
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.proxyNoSocket && helper {
			return "done", nil
		}
		if e.proxyFails && helper {
			return "failed", nil
		}
		// What xdg-dbus-proxy and the filter do first: listen on the path
		// they were given (the filter makes its directory).
		os.MkdirAll(filepath.Dir(socket), 0o700)
		l, err := net.Listen("unix", socket)
		if err != nil {
			return "", dbus.NewError("org.freedesktop.DBus.Error.Failed", []any{err.Error()})
		}
		l.(*net.UnixListener).SetUnlinkOnClose(false)
		e.proxies[u.Name] = l
		return "done", nil
	}
	e.mu.Lock()
	f, report, silent := e.instanceStart, e.execReport, e.execSilent
	e.mu.Unlock()
	if strings.HasPrefix(u.Name, "nspawn-tray-join-") {
		// nsenter runs exec-as in the instance.
		go e.execAs(u, report)
		return "done", nil
	}
	result := "done"
	if f != nil {
		var err *dbus.Error
		if result, err = f(u); err != nil {
			return result, err
		}
	}
	if result == "done" && !silent {
		go e.execAs(u, report)
	}
	return result, nil
}

// execAs does what exec-as does with the status socket: connect (through
// the bind nspawn was given, or, for a join, in the instance it entered),
// then end-of-file for a good exec, or the reason and exit 127.
func (e *env) execAs(u bustest.Unit, report string) {
	argv := u.Argv("ExecStart")
	status := ""
	for i, a := range argv {
		if a == "--status" && i+1 < len(argv) {
			status = argv[i+1]
		}
	}
	machine := strings.TrimSuffix(strings.TrimPrefix(u.Name, "nspawn-tray-"), ".service")
	if j, ok := strings.CutPrefix(machine, "join-"); ok {
		machine = j[:strings.LastIndexByte(j, '-')]
	}
	rel, ok := strings.CutPrefix(status, inStatusDir+"/")
	host := filepath.Join(e.paths.Stage, machine, "status", rel)
	if !ok || !slices.Contains(argv, "--bind-ro="+filepath.Join(e.paths.Stage, machine, "status")+":"+inStatusDir) && !strings.Contains(u.Name, "-join-") {
		e.mu.Lock()
		e.hookErrs = append(e.hookErrs, fmt.Errorf("exec-as: no status socket bound in %q", argv))
		e.mu.Unlock()
		return
	}
	c, err := net.Dial("unix", host)
	if err != nil {
		e.mu.Lock()
		e.hookErrs = append(e.hookErrs, fmt.Errorf("exec-as: status socket %q: %w", host, err))
		e.mu.Unlock()
		return
	}
	// Like exec-as, wait for the helpers' sockets: the --await paths
	// inside are below the runtime dir nspawn binds.
	if report == "" {
		var await []string
		for i, a := range argv {
			if a != "--await" || i+1 >= len(argv) {
				continue
			}
			for _, b := range argv {
				src, dst, ok := strings.Cut(strings.TrimPrefix(b, "--bind="), ":")
				if rel, under := strings.CutPrefix(argv[i+1], dst+"/"); ok && strings.HasPrefix(b, "--bind=") && under {
					await = append(await, filepath.Join(src, rel))
				}
			}
		}
		if err := appexec.AwaitSockets(await, 300*time.Millisecond); err != nil {
			report = err.Error()
		}
	}
	if report == "" {
		c.Close()
		return
	}
	c.Write([]byte(report))
	c.Close()
	e.systemd.Exit(u.Name, 1, 127)
}

// endedAs is how systemd would describe the fake unit's end to
// ExecStopPost.
func endedAs(u bustest.Unit) Ended {
	switch u.ExecMainCode {
	case 1:
		return Ended{"exited", itoa(uint32(u.ExecMainStatus))}
	case 2, 3:
		return Ended{map[int32]string{2: "killed", 3: "dumped"}[u.ExecMainCode], strings.TrimPrefix(unix.SignalName(syscall.Signal(u.ExecMainStatus)), "SIG")}
	}
	return Ended{}
}

// onEnd does what the units' own commands do when they end: the proxy
// closes its socket, the instance's ExecStopPost runs cleanup-instance.
func (e *env) onEnd(u bustest.Unit) {
	if strings.HasPrefix(u.Name, "nspawn-tray-join-") || strings.HasPrefix(u.Name, "nspawn-tray-logs-") {
		return // nothing runs when they end
	}
	if strings.HasPrefix(u.Name, "nspawn-tray-dbus-") || strings.HasPrefix(u.Name, "nspawn-tray-pulse-") || strings.HasPrefix(u.Name, "nspawn-tray-xnested-") {
		e.mu.Lock()
		if l := e.proxies[u.Name]; l != nil {
			l.Close()
		}
		e.mu.Unlock()
		return
	}
	post := u.Argv("ExecStopPost")
	if len(post) != 3 || post[1] != "cleanup-instance" {
		e.mu.Lock()
		e.hookErrs = append(e.hookErrs, errors.New(u.Name+": unexpected ExecStopPost "+strings.Join(post, " ")))
		e.mu.Unlock()
		return
	}
	e.hooks.Add(1)
	defer e.hooks.Done()
	// cleanup-instance connects to the system bus by itself.
	conn, err := dbus.Connect(e.bus.Addr)
	if err == nil {
		defer conn.Close()
		err = Cleanup(context.Background(), conn, e.paths, post[2], endedAs(u))
	}
	if err != nil {
		e.mu.Lock()
		e.hookErrs = append(e.hookErrs, err)
		e.mu.Unlock()
	}
}

// conn is a connection of uid to the bus (root: a plain one), one per uid.
func (e *env) conn(uid uint32) *dbus.Conn {
	e.mu.Lock()
	c := e.conns[uid]
	e.mu.Unlock()
	if c != nil {
		return c
	}
	if uid == 0 {
		c = e.bus.Conn(e.t)
	} else {
		c = e.bus.ConnAs(e.t, uid, uid)
	}
	e.mu.Lock()
	e.conns[uid] = c
	e.mu.Unlock()
	return c
}

func (e *env) client(uid uint32) *launcher.Client { return launcher.NewClient(e.conn(uid)) }

func (e *env) launch(uid uint32, app string, s launcher.Session) (string, int32, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return e.client(uid).Launch(ctx, app, s)
}

// mustLaunch launches app as uid without a session.
func (e *env) mustLaunch(uid uint32, app string) string {
	e.t.Helper()
	m, _, err := e.launch(uid, app, launcher.Session{})
	if err != nil {
		e.t.Fatalf("launch %s as %d: %v", app, uid, err)
	}
	return m
}

// raw calls method without ALLOW_INTERACTIVE_AUTHORIZATION, which the
// client always sets.
func (e *env) raw(uid uint32, method string, args ...any) *dbus.Call {
	return e.conn(uid).Object(launcher.BusName, launcher.ObjectPath).Call(launcher.Interface+"."+method, 0, args...)
}

// staged are the entries below the staging root.
func (e *env) staged() []string {
	entries, err := os.ReadDir(e.paths.Stage)
	if err != nil && !os.IsNotExist(err) {
		e.t.Fatal(err)
	}
	var out []string
	for _, en := range entries {
		out = append(out, en.Name())
	}
	return out
}

// started are the names of the units StartTransientUnit was asked for.
func (e *env) started() []string {
	var out []string
	for _, u := range e.systemd.Started() {
		out = append(out, u.Name)
	}
	return out
}

// startedUnit is the unit named name that was asked for.
func (e *env) startedUnit(name string) bustest.Unit {
	e.t.Helper()
	for _, u := range e.systemd.Started() {
		if u.Name == name {
			return u
		}
	}
	e.t.Fatalf("%s was not started; started: %v", name, e.started())
	return bustest.Unit{}
}

// mountsBelow lists the mount points at or below dir.
func mountsBelow(t *testing.T, dir string) []string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && (fields[4] == dir || strings.HasPrefix(fields[4], dir+"/")) {
			out = append(out, fields[4])
		}
	}
	return out
}

func itoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }

// dialer connects the daemon to the test bus.
func dialer(b *bustest.Bus) Dial {
	return func(o ...dbus.ConnOption) (*dbus.Conn, error) { return dbus.Connect(b.Addr, o...) }
}

// xnestedStart plays the nested X server's start: its socket in the
// directory its unit binds at /tmp/.X11-unix.
func (e *env) xnestedStart(u bustest.Unit, argv []string) (string, *dbus.Error) {
	var binds [][]any
	if v, ok := u.Props["BindPaths"]; ok {
		binds, _ = v.Value().([][]any)
	}
	e.mu.Lock()
	xephyr := e.svc.paths.Xephyr
	e.mu.Unlock()
	if len(argv) < 2 || argv[0] != xephyr || len(binds) != 1 {
		return "", dbus.NewError("org.freedesktop.DBus.Error.InvalidArgs", []any{"not a nested X server"})
	}
	dir, _ := binds[0][0].(string)
	l, err := net.Listen("unix", filepath.Join(dir, "X"+strings.TrimPrefix(argv[1], ":")))
	if err != nil {
		return "", dbus.NewError("org.freedesktop.DBus.Error.Failed", []any{err.Error()})
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	e.mu.Lock()
	e.proxies[u.Name] = l
	e.mu.Unlock()
	return "done", nil
}
