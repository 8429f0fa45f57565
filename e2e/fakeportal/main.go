//go:build e2e

// Command fakeportal stands in for xdg-desktop-portal's OpenURI on the
// session bus of a test host user: it records each link it is asked to
// open, one per line, in the file named by its argument.
package main

import (
	"fmt"
	"os"

	"github.com/godbus/dbus/v5"
)

type portal struct{ log *os.File }

func (p portal) OpenURI(parent, uri string, opts map[string]dbus.Variant) (dbus.ObjectPath, *dbus.Error) {
	fmt.Fprintln(p.log, uri)
	return "/org/freedesktop/portal/desktop/request/1_1/e2e", nil
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: fakeportal LOG")
		os.Exit(2)
	}
	log, err := os.OpenFile(os.Args[1], os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	conn, err := dbus.ConnectSessionBus()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := conn.Export(portal{log}, "/org/freedesktop/portal/desktop", "org.freedesktop.portal.OpenURI"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if r, err := conn.RequestName("org.freedesktop.portal.Desktop", dbus.NameFlagDoNotQueue); err != nil || r != dbus.RequestNameReplyPrimaryOwner {
		fmt.Fprintln(os.Stderr, "cannot own org.freedesktop.portal.Desktop", err)
		os.Exit(1)
	}
	select {}
}
