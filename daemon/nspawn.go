package daemon

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/nspawn-tray/nspawn-tray/config"
)

// bind is one --bind or --bind-ro. Src is always a path the service made
// (the staging dir, the per-app home) or a root-owned host file.
type bind struct {
	Src, Dst string
	RW       bool
}

// spec is everything that shapes one nspawn start. It is a pure value so the
// command line it gives can be tested byte for byte.
type spec struct {
	App     config.App
	Machine string
	// Image is the image's path: a directory, or with Raw a raw disk image.
	Image string
	Raw   bool
	// Self is the host path of this (static) binary, bound in as the exec step.
	Self  string
	UID   uint32
	GID   uint32
	Home  string // inside the container
	Binds []bind
	Env   map[string]string
	Args  []string
	// Status is exec-as's status socket inside the container, if any.
	Status string
	// Await are the helpers' sockets inside the container, which exec-as
	// waits for before it runs the app.
	Await []string
	// Devices are host device nodes the instance gets (gpu): bound in
	// Binds, allowed by the unit's DeviceAllow (deviceRules).
	Devices []device
	// Groups are supplementary groups the app keeps (exec-as --groups).
	Groups []uint32
}

// nspawnArgv is the systemd-nspawn command line for s, argv[0] included.
func nspawnArgv(nspawn string, s spec) []string {
	root := "--directory=" + s.Image
	if s.Raw {
		root = "--image=" + s.Image
	}
	argv := []string{nspawn,
		"--quiet",
		"--keep-unit", // the machine is our transient service, not a new scope
		"--register=yes",
		"--machine=" + s.Machine,
		// The app's name, not the machine's, which is new at every
		// launch: apps that lock their profile by hostname (Chromium,
		// Electron, Firefox) would stay locked out after one unclean exit.
		"--hostname=" + s.App.ID,
		root,
		// The image stays untouched and shareable: read-only, with a tmpfs
		// overlay on top that takes mount points and writes and is dropped.
		// The same for a raw image: nspawn (252 as later) mounts its root
		// file system read-only on a loop device of its own, in its own
		// mount namespace (--volatile implies --read-only there), and lays
		// the overlay over that mount as over a directory; it takes the
		// image's lock shared, so instances share the image too.
		"--read-only",
		"--volatile=overlay",
		// UID n inside is UID n outside; container root has no host
		// capabilities, so it cannot remount binds or mknod.
		"--private-users=identity",
		"--no-new-privileges=yes",
		"--as-pid2",
		"--console=pipe",
		"--link-journal=no",
		"--tmpfs=/home:mode=0755",
		"--bind-ro=" + s.Self + ":" + inExec,
	}
	// A nested display implies no network (config refuses the host's):
	// said here again, so no definition built around config can give a
	// nested app the abstract socket of the user's X server.
	if s.App.Network == config.NetworkNone || s.App.X11 == config.X11Nested {
		argv = append(argv, "--private-network")
	}
	for _, b := range s.Binds {
		opt := "--bind-ro="
		if b.RW {
			opt = "--bind="
		}
		argv = append(argv, opt+b.Src+":"+b.Dst)
	}
	keys := make([]string, 0, len(s.Env))
	for k := range s.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		argv = append(argv, "--setenv="+k+"="+s.Env[k])
	}
	// nspawn stops parsing options at "--"; the rest is the payload's argv.
	argv = append(argv, "--")
	return append(argv, execAsArgv(s)...)
}

// execAsArgv is exec-as's command line in the instance: the first launch's
// payload, and what a join runs in the running instance.
func execAsArgv(s spec) []string {
	argv := []string{inExec, "exec-as",
		"--uid", strconv.FormatUint(uint64(s.UID), 10),
		"--gid", strconv.FormatUint(uint64(s.GID), 10),
		"--home", s.Home}
	if s.Status != "" {
		argv = append(argv, "--status", s.Status)
	}
	for _, p := range s.Await {
		argv = append(argv, "--await", p)
	}
	if len(s.Groups) > 0 {
		ids := make([]string, len(s.Groups))
		for i, g := range s.Groups {
			ids[i] = strconv.FormatUint(uint64(g), 10)
		}
		argv = append(argv, "--groups", strings.Join(ids, ","))
	}
	argv = append(argv, "--")
	argv = append(argv, s.App.Exec...)
	return append(argv, s.Args...)
}

// unitName is the transient service that runs nspawn for machine.
func unitName(machine string) string { return "nspawn-tray-" + machine + ".service" }

// proxyUnitName is the transient service running the D-Bus proxy for machine.
func proxyUnitName(machine string) string { return "nspawn-tray-dbus-" + machine + ".service" }

// pulseUnitName is the transient service running the PulseAudio filter for
// machine.
func pulseUnitName(machine string) string { return "nspawn-tray-pulse-" + machine + ".service" }

// baseEnv is the environment every app gets.
func baseEnv(user, home string, uid uint32) map[string]string {
	return map[string]string{
		"HOME":            home,
		"USER":            user,
		"LOGNAME":         user,
		"SHELL":           "/bin/sh",
		"PATH":            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"XDG_RUNTIME_DIR": fmt.Sprintf("/run/user/%d", uid),
	}
}
