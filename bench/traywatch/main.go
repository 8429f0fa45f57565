// Command traywatch starts a tray program and prints, in milliseconds from
// its start, when its StatusNotifierItem was registered with the watcher
// (the panel) and when its menu first had at least -labels entries. It
// listens for the watcher's and the menu's signals rather than polling, so
// the figures do not carry a poll interval. Run it as the session's user:
//
//	traywatch -labels 10 nspawn-tray tray
//
// It prints "registered MS menu MS" and stops the program (SIGTERM).
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/godbus/dbus/v5"
)

func main() {
	labels := flag.Int("labels", 1, "wait until the menu has `N` entries with a label")
	timeout := flag.Duration("timeout", 20*time.Second, "give up after `D`")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: traywatch [-labels N] [-timeout D] PROGRAM [ARG...]")
		os.Exit(2)
	}
	reg, menu, err := watch(flag.Args(), *labels, *timeout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "traywatch:", err)
		os.Exit(1)
	}
	fmt.Printf("registered %.1f menu %.1f\n", ms(reg), ms(menu))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func watch(argv []string, labels int, timeout time.Duration) (reg, menu time.Duration, err error) {
	conn, err := dbus.ConnectSessionBus()
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close()
	for _, m := range [][]dbus.MatchOption{
		{dbus.WithMatchInterface("org.kde.StatusNotifierWatcher"), dbus.WithMatchMember("StatusNotifierItemRegistered")},
		{dbus.WithMatchInterface("com.canonical.dbusmenu"), dbus.WithMatchMember("LayoutUpdated")},
	} {
		if err := conn.AddMatchSignal(m...); err != nil {
			return 0, 0, err
		}
	}
	signals := make(chan *dbus.Signal, 256)
	conn.Signal(signals)

	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	deadline := time.After(timeout)
	item := "" // the item's unique bus name, once registered
	for {
		select {
		case <-deadline:
			return 0, 0, fmt.Errorf("no item with %d menu entries after %s (registered: %v)", labels, timeout, item != "")
		case s := <-signals:
			at := time.Since(start)
			switch {
			case item == "" && s.Name == "org.kde.StatusNotifierWatcher.StatusNotifierItemRegistered":
				name, _ := s.Body[0].(string)
				name, _, _ = strings.Cut(name, "/")
				var pid uint32
				if conn.BusObject().Call("org.freedesktop.DBus.GetConnectionUnixProcessID", 0, name).Store(&pid) != nil || int(pid) != cmd.Process.Pid {
					continue
				}
				item, reg = name, at
			case item != "" && s.Sender == item && s.Name == "com.canonical.dbusmenu.LayoutUpdated":
			default:
				continue
			}
			n, err := menuLabels(conn, item)
			if err != nil {
				return 0, 0, err
			}
			if n >= labels {
				return reg, time.Since(start), nil
			}
		}
	}
}

// menuLabels counts the entries with a label in item's menu.
func menuLabels(conn *dbus.Conn, item string) (int, error) {
	call := conn.Object(item, "/StatusNotifierItem/menu").Call("com.canonical.dbusmenu.GetLayout", 0, int32(0), int32(-1), []string{})
	if call.Err != nil {
		return 0, call.Err
	}
	if len(call.Body) != 2 {
		return 0, errors.New("GetLayout: not (u(ia{sv}av))")
	}
	return count(call.Body[1]), nil
}

func count(v any) int {
	node, ok := v.([]any)
	if !ok || len(node) != 3 {
		return 0
	}
	n := 0
	if props, ok := node[1].(map[string]dbus.Variant); ok {
		if _, ok := props["label"]; ok {
			n++
		}
	}
	children, _ := node[2].([]dbus.Variant)
	for _, c := range children {
		n += count(c.Value())
	}
	return n
}
