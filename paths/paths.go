// Package paths holds the well-known places on the host that both sides
// agree on: where definitions, images, staging dirs and homes live. Tests
// and the test host override them through the structs that carry them;
// nothing else spells these paths out.
package paths

import (
	"path/filepath"
	"strconv"
)

const (
	// AppsDir holds the admin's app definitions, one ID.toml per app.
	AppsDir = "/etc/nspawn-tray/apps.d"
	// Settings holds the daemon's limits on instances.
	Settings = "/etc/nspawn-tray/daemon.toml"
	// Machines holds the images, as machined and machinectl know them.
	Machines = "/var/lib/machines"
	// Instances holds one root-owned staging dir per running instance.
	Instances = "/run/nspawn-tray/instances"
	// Exits holds how each instance ended, for an hour.
	Exits = "/run/nspawn-tray/exits"
	// Homes holds the apps' persistent homes: Homes/UID/APP.
	Homes = "/var/lib/nspawn-tray/homes"
	// X11Sockets is where X servers put their X<n> sockets.
	X11Sockets = "/tmp/.X11-unix"
	// RunUser holds the users' runtime dirs, RunUser/UID.
	RunUser = "/run/user"
	// MachineID is the host's machine-id.
	MachineID = "/etc/machine-id"
	// Nspawn, DBusProxy, Xephyr, Journalctl and Nsenter are the programs the
	// daemon starts.
	Nspawn     = "/usr/bin/systemd-nspawn"
	DBusProxy  = "/usr/bin/xdg-dbus-proxy"
	Xephyr     = "/usr/bin/Xephyr"
	Journalctl = "/usr/bin/journalctl"
	Nsenter    = "/usr/bin/nsenter"
)

// NspawnSettings are where systemd-nspawn looks for a machine's NAME.nspawn
// file first (systemd.nspawn(5)): trusted in full, and readable by anyone.
var NspawnSettings = []string{"/etc/systemd/nspawn", "/run/systemd/nspawn"}

// Home is the persistent home of app for uid below homes.
func Home(homes string, uid uint32, app string) string {
	return filepath.Join(homes, strconv.FormatUint(uint64(uid), 10), app)
}

// RuntimeDir is uid's XDG_RUNTIME_DIR below runUser.
func RuntimeDir(runUser string, uid uint32) string {
	return filepath.Join(runUser, strconv.FormatUint(uint64(uid), 10))
}
