package main

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/nspawn-tray/nspawn-tray/"

// rootOnly are the packages whose code runs only as root (or, for appexec,
// as the container's first process before it drops to the user): the
// daemon and what it alone uses.
var rootOnly = []string{"daemon", "rootcmd", "stage", "appexec", "appmeta", "catalog", "rawimage"}

// The session side (the tray, the user commands, the menu sync and the
// launcher client) must not contain root-only code: the privileged
// boundary is the import graph, and this keeps it visible.
func TestSessionSideHoldsNoRootCode(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not on PATH")
	}
	for _, pkg := range []string{"tray", "cli", "menusync", "launcher", "autostart"} {
		out, err := exec.Command("go", "list", "-deps", "./"+pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps ./%s: %v", pkg, err)
		}
		deps := strings.Fields(string(out))
		for _, dep := range deps {
			for _, root := range rootOnly {
				if dep == module+root {
					t.Errorf("%s depends on the root-only package %s", pkg, root)
				}
			}
		}
		// The check must see the graph it claims to check.
		if !strings.Contains(string(out), module+pkg+"\n") {
			t.Fatalf("go list -deps ./%s does not list %s itself:\n%s", pkg, pkg, out)
		}
	}
	// And the root side does use them, so the list above names real packages.
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, root := range rootOnly {
		if !strings.Contains(string(out), module+root+"\n") {
			t.Errorf("the binary does not contain %s: the rootOnly list is stale", root)
		}
	}
}
