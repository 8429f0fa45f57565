package daemon

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"

	"github.com/nspawn-tray/nspawn-tray/config"
	"github.com/nspawn-tray/nspawn-tray/launcher"
	"github.com/nspawn-tray/nspawn-tray/systemd"
)

// The nested X server of an x11 = "nested" app (bindX11Nested).
const (
	// nestedScreen is its initial size; the user can resize its window
	// (-resizeable), and the app sees a RandR change.
	nestedScreen = "1024x768"
)

// nestedDisplay is the nested server's display number, given the user's
// display's (host). Its socket is in a directory of the instance's own,
// bound over the container's /tmp/.X11-unix, so the number clashes with
// nothing on the host; it differs from the host's, whose socket is bound
// beside it in the helper's view of the same directory, and it is not 0,
// so an app's DISPLAY does not look like the usual host display.
func nestedDisplay(host string) string {
	if host == "1" {
		return "2"
	}
	return "1"
}

// xnestedUnitName is the transient service running the nested X server of
// machine.
func xnestedUnitName(machine string) string { return "nspawn-tray-xnested-" + machine + ".service" }

// bindX11Nested gives an x11 = "nested" app an X server of its own:
// Xephyr, running as the user outside the container in a helper unit like
// the filters (no capabilities, no network, read-only system), shown as
// one window on the user's display. The app gets only its socket and a
// cookie of its own; the user's X socket is never bound into the
// container, and the app's private network namespace (config: nested
// implies network = "none") keeps the user's abstract X socket out of
// reach. So the app sees no other window, and what it reads, types or
// clicks through XTEST or XSendEvent stays inside the nested server.
//
// The X libraries only reach a local display as /tmp/.X11-unix/X<n> (or
// its abstract twin), so the helper gets a /tmp/.X11-unix of its own:
// staging/scratch/xnested/x11, the user's (Xephyr makes its socket
// there) below a root-owned 0700 dir (so no one on the host, the user
// included, reaches or swaps it; Xephyr and the app see it through their
// binds only). Into it the helper unit binds the user's X socket, opened
// by fd without following links and staged like x11 = "host" does, at
// X<host>: Xephyr connects to that, and nothing else of the host's X
// (PrivateNetwork hides the abstract socket, PrivateTmp the host's
// /tmp/.X11-unix). That bind is in the helper's mount namespace only: the
// app sees an empty mount point file there, which refuses connections.
// The container gets the directory read-only (connecting to a socket
// needs no write access to its mount, and the app can leave nothing there
// for Xephyr). exec-as waits for Xephyr's socket before the app runs, as
// for the filters.
func bindX11Nested(ctx context.Context, l *launch) error {
	s, sess, u, sp := l.s, l.session, l.user, &l.spec
	if l.app.X11 != config.X11Nested {
		return nil
	}
	// config refuses this; the daemon does not rely on it, since the
	// nested server is worth nothing when the app shares the network
	// namespace of the user's X server (nspawnArgv adds
	// --private-network for nested apps as well).
	if l.app.Network != config.NetworkNone {
		return fail(launcher.ErrNameFailed, "app %q: x11 = \"nested\" needs network = \"none\"", l.app.ID)
	}
	if sess.Display == "" {
		return fail(launcher.ErrNameSessionResource, "app %q shows its windows in a nested X server on your X display, and the session has none (DISPLAY is not set)", l.app.ID)
	}
	if !exists(s.paths.Xephyr) {
		return fail(launcher.ErrNameSessionResource, "app %q wants a nested X server, but %s is not installed (xserver-xephyr)", l.app.ID, s.paths.Xephyr)
	}
	num := sess.DisplayNumber()
	nested := nestedDisplay(num)
	host, err := bindSocket(l, "X11 display "+sess.Display, s.paths.X11Sockets, "X"+num, "host-X"+num, false, u.UID, 0)
	if err != nil {
		return err
	}
	// As for x11 = "host": a display that refuses the user is a clear
	// error now, not a nested server that dies at its start.
	if err := probeX11(host, u.UID, u.GID, sess.XCookie); err != nil {
		return fail(launcher.ErrNameSessionResource, "X11 display %s: %v", sess.Display, err)
	}
	env := []string{"DISPLAY=:" + num, "XAUTHORITY=/dev/null"}
	if sess.XCookie != nil {
		path, err := l.userFile("xauthority-host", wildCookieFile(num, sess.XCookie))
		if err != nil {
			return err
		}
		env[1] = "XAUTHORITY=" + path
	}
	// The nested server's own cookie, for it (-auth) and the app: a
	// client that has not got it (anything but the app) is refused.
	cookie := make([]byte, 16)
	if _, err := rand.Read(cookie); err != nil {
		return err
	}
	auth, err := l.userFile("xauthority", wildCookieFile(nested, cookie))
	if err != nil {
		return err
	}
	sockDir, err := l.nestedSocketDir()
	if err != nil {
		return err
	}
	argv := []string{s.paths.Xephyr, ":" + nested,
		// Its socket in /tmp/.X11-unix only: no TCP, and no abstract
		// socket (which its private network would hide anyway).
		"-nolisten", "tcp", "-nolisten", "local",
		"-auth", auth,
		// Ctrl+Shift in its window would grab the user's keyboard and
		// pointer for it; nothing the app needs.
		"-no-host-grab",
		// It stays up when the app's last connection closes, for its next
		// window (a join, a program that reconnects).
		"-noreset",
		"-resizeable", "-screen", nestedScreen,
		"-title", fmt.Sprintf("%s (nested X, nspawn-tray)", l.app.Name)}
	err = l.startHelper(ctx, userHelper{unit: xnestedUnitName(l.machine), what: "nested X server", argv: argv,
		await: "/tmp/.X11-unix/X" + nested, memoryMax: 256 << 20,
		extra: []systemd.Property{
			systemd.Prop("PrivateTmp", true),
			// Sorted by destination, systemd mounts the directory first,
			// then the user's socket in it.
			systemd.Prop("BindPaths", []bindPath{{Src: sockDir, Dst: "/tmp/.X11-unix"}}),
			systemd.Prop("BindReadOnlyPaths", []bindPath{{Src: host, Dst: "/tmp/.X11-unix/X" + num}}),
			systemd.Prop("Environment", env),
		}})
	if err != nil {
		return err
	}
	sp.Binds = append(sp.Binds,
		bind{Src: sockDir, Dst: "/tmp/.X11-unix"},
		bind{Src: auth, Dst: inXauthority})
	sp.Env["DISPLAY"] = ":" + nested
	sp.Env["XAUTHORITY"] = inXauthority
	return nil
}

// nestedSocketDir makes the nested server's socket dir,
// scratch/xnested/x11 (see bindX11Nested).
func (l *launch) nestedSocketDir() (string, error) {
	scratch := l.scratch
	if scratch == nil {
		return "", fmt.Errorf("daemon: no scratch dir staged for the nested X server")
	}
	if _, err := scratch.Mkdir("xnested", 0, 0, 0o700); err != nil {
		return "", err
	}
	private, err := scratch.Sub("xnested")
	if err != nil {
		return "", err
	}
	defer private.Close()
	return private.Mkdir("x11", int(l.user.UID), int(l.user.GID), 0o700)
}

// bindPath is one entry of a unit's BindPaths (systemd's a(ssbt)).
type bindPath struct {
	Src, Dst      string
	IgnoreMissing bool
	Flags         uint64 // MS_REC is all systemd reads
}

// userFile writes data to the staging dir as name, readable by the user
// only.
func (l *launch) userFile(name string, data []byte) (string, error) {
	path, err := l.dir.WriteFile(name, data, 0o400)
	if err != nil {
		return "", err
	}
	if err := os.Chown(path, int(l.user.UID), int(l.user.GID)); err != nil {
		return "", fmt.Errorf("daemon: chown %s: %w", name, err)
	}
	return path, nil
}
