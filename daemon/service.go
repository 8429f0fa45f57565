// Package daemon is nspawn-tray's privileged side: the root D-Bus service
// (io.github.nspawn_tray.Launcher1) that starts an app in its container for
// an authorized caller, lists and stops instances, and serves the apps'
// desktop metadata from images only root can read. Everything here runs as
// root and trusts nothing the caller controls; the contract it implements
// is package launcher.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/launcher"
	"github.com/nspawn-tray/nspawn-tray/machined"
	"github.com/nspawn-tray/nspawn-tray/paths"
	"github.com/nspawn-tray/nspawn-tray/polkit"
	"github.com/nspawn-tray/nspawn-tray/systemd"
)

// Paths is where the service finds and puts things on the host. Only root
// can write any of them, except the users' sockets the session binders
// open by fd below X11Sockets and RunUser.
type Paths struct {
	Apps       string // app definitions
	Settings   string // the daemon's limits (config.Settings)
	Machines   string // images
	Stage      string // per-instance staging dirs
	Exits      string // how instances ended, for Wait
	Homes      string // per-app persistent homes
	X11Sockets string // X servers' sockets
	RunUser    string // users' runtime dirs (PulseAudio, Wayland, session bus)
	Self       string // this binary, bound read-only into every instance
	Nspawn     string // systemd-nspawn
	Journalctl string // journalctl, for Logs
	Nsenter    string // nsenter, for joins
	DBusProxy  string // xdg-dbus-proxy
	Xephyr     string // the nested X server of x11 = "nested" apps
	MachineID  string // the host's machine-id, from which each app's is derived
	Dev        string // device nodes: gpu apps' GPUs
	// HostFonts and FontCache are the host's font dirs and fontconfig
	// cache, bound read-only into host_look apps when root's.
	HostFonts []hostFontDir
	FontCache string
}

// DefaultPaths are the paths of an installed system; self is this binary.
func DefaultPaths(self string) Paths {
	return Paths{
		Apps:       paths.AppsDir,
		Settings:   paths.Settings,
		Machines:   paths.Machines,
		Stage:      paths.Instances,
		Exits:      paths.Exits,
		Homes:      paths.Homes,
		X11Sockets: paths.X11Sockets,
		RunUser:    paths.RunUser,
		Self:       self,
		Nspawn:     paths.Nspawn,
		Journalctl: paths.Journalctl,
		Nsenter:    paths.Nsenter,
		DBusProxy:  paths.DBusProxy,
		Xephyr:     paths.Xephyr,
		MachineID:  paths.MachineID,
		Dev:        "/dev",
		HostFonts:  hostFontDirs,
		FontCache:  "/var/cache/fontconfig",
	}
}

// Service is the privileged side. Its D-Bus methods live on api.
type Service struct {
	conn     *dbus.Conn
	fds      *fdTable
	auth     *polkit.Authority
	machines *machined.Manager
	units    *systemd.Manager
	paths    Paths
	meta     *metaCache
	exits    *exitWatch
	waiters  waiters
	// claimMu makes counting a user's instances and claiming a staging dir
	// one step.
	claimMu sync.Mutex
	// homeOf finds a user's home on the host (passwdHome; tests replace it).
	homeOf func(uid uint32) (string, error)
	// appLocks serialize the launches of one app by one user (appLock).
	appLocksMu sync.Mutex
	appLocks   map[string]*appLock

	mu       sync.Mutex
	inflight int
	lastCall time.Time

	// Steps, when set, gets how long each step of a launch took (the
	// profile that docs/benchmarks.md publishes; the daemon command logs
	// it at debug level).
	Steps func(app string, steps []Step)
}

// Step is one timed step of a launch; "session.x11" is a part of
// "session".
type Step struct {
	Name string
	Took time.Duration
}

// Dial connects to a bus with the given options: dbus.ConnectSystemBus, or
// dbus.Connect of a test bus's address.
type Dial func(opts ...dbus.ConnOption) (*dbus.Conn, error)

// New connects the service to the bus with dial (a connection of its own,
// which owns the descriptors callers send, and whose signal channel it
// takes over for systemd's signals).
func New(ctx context.Context, dial Dial, p Paths) (*Service, error) {
	fds := newFDTable()
	conn, err := dial(fds.connOptions()...)
	if err != nil {
		return nil, fmt.Errorf("daemon: connect to the bus: %w", err)
	}
	units := systemd.New(conn)
	if err := units.Subscribe(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	exits, err := newExitWatch(p.Exits)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return &Service{
		conn: conn, fds: fds, auth: polkit.New(conn), machines: machined.New(conn), units: units,
		paths: p, meta: newMetaCache(), exits: exits, homeOf: passwdHome, waiters: waiters{n: map[uint32]int{}, max: maxWaitsPerUser},
		lastCall: time.Now(),
	}, nil
}

// maxWaitsPerUser bounds a user's open Wait calls: a few per instance.
const maxWaitsPerUser = 64

// Close closes the service's bus connection.
func (s *Service) Close() error { return errors.Join(s.exits.Close(), s.conn.Close()) }

// Export publishes the API on the bus and takes the well-known name.
func (s *Service) Export() error {
	if err := s.conn.Export(api{s}, launcher.ObjectPath, launcher.Interface); err != nil {
		return fmt.Errorf("daemon: export: %w", err)
	}
	reply, err := s.conn.RequestName(launcher.BusName, dbus.NameFlagDoNotQueue)
	if err != nil {
		return fmt.Errorf("daemon: request name %s: %w", launcher.BusName, err)
	}
	if reply != dbus.RequestNameReplyPrimaryOwner {
		return fmt.Errorf("daemon: name %s is already taken", launcher.BusName)
	}
	return nil
}

// Serve answers calls until ctx ends, or until no call came for idle. Then
// it gives up the bus name, so that the next call activates a fresh daemon,
// and waits for the calls already running (a --wait launch may take long).
// It returns ErrIdle when it stopped for being idle.
func (s *Service) Serve(ctx context.Context, idle time.Duration) error {
	tick := time.NewTicker(max(min(time.Second, idle/4), 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if !s.idle(idle) {
				continue
			}
			if _, err := s.conn.ReleaseName(launcher.BusName); err != nil {
				return fmt.Errorf("daemon: release %s: %w", launcher.BusName, err)
			}
			// A call may have slipped in just before the name went.
			for !s.idle(0) {
				time.Sleep(50 * time.Millisecond)
			}
			return ErrIdle
		}
	}
}

// ErrIdle is Serve's answer when it stopped because no call came.
var ErrIdle = fmt.Errorf("idle")

// idle reports whether no call is running and none came for d.
func (s *Service) idle(d time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inflight == 0 && time.Since(s.lastCall) >= d
}

// begin marks a call as running; the returned func marks it done.
func (s *Service) begin() func() {
	s.mu.Lock()
	s.inflight++
	s.lastCall = time.Now()
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		s.inflight--
		s.lastCall = time.Now()
		s.mu.Unlock()
	}
}
