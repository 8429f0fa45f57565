// Package tray is the session applet: the defined apps and the running
// machines in a StatusNotifierItem menu, rebuilt from a pure model whenever
// machined or apps.d changes.
package tray

import (
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nspawn-tray/nspawn-tray/paths"
)

// App is a defined app as the menu shows it.
type App struct{ ID, Name string }

// Machine is a running machine. App is empty for machines nspawn-tray did
// not start (machinectl start, a systemd-nspawn by hand).
type Machine struct {
	Name  string
	App   string
	Since time.Time
}

// Daemon is what the tray knows of the privileged launcher.
type Daemon int

const (
	DaemonOK Daemon = iota
	// DaemonMissing: nothing provides io.github.nspawn_tray.Launcher1.
	DaemonMissing
)

// Auth is whether polkit lets this user launch.
type Auth int

const (
	AuthYes Auth = iota
	// AuthChallenge: launching asks for a password.
	AuthChallenge
	AuthNo
)

// State is everything besides apps and machines that shapes the menu.
type State struct {
	Daemon    Daemon
	Auth      Auth
	Autostart bool
}

// Item is one menu entry. ID says what a click does: "launch:APP",
// "stop:MACHINE", "log:MACHINE", "autostart", "sync", "quit"; "" for
// labels and separators.
type Item struct {
	ID        string
	Label     string
	Tooltip   string
	Disabled  bool
	Separator bool
	Checkbox  bool
	Checked   bool
	Children  []Item
}

const (
	maxLabel    = 48
	maxMachines = 30
)

// Build is the menu for apps, machines and st at time now.
func Build(apps []App, machines []Machine, st State, now time.Time) []Item {
	var m []Item
	label := func(s string) Item { return Item{Label: s, Disabled: true} }
	sep := Item{Separator: true}

	m = append(m, label("Apps"))
	switch {
	case st.Daemon == DaemonMissing:
		m = append(m, label("Launcher not installed (no io.github.nspawn_tray.Launcher1)"))
	case st.Auth == AuthNo:
		m = append(m, label("Not authorized to launch: ask to join group nspawn-tray"))
	case st.Auth == AuthChallenge:
		// Tooltips are not in every host's menus: say it in the menu.
		m = append(m, label("Launching asks for an administrator's password"))
	}
	if len(apps) == 0 {
		m = append(m, label("No apps defined ("+paths.AppsDir+")"))
	}
	apps = append([]App(nil), apps...)
	sort.SliceStable(apps, func(i, j int) bool {
		a, b := strings.ToLower(apps[i].Name), strings.ToLower(apps[j].Name)
		if a != b {
			return a < b
		}
		return apps[i].ID < apps[j].ID
	})
	for _, a := range apps {
		it := Item{ID: "launch:" + a.ID, Label: ellipsize(a.Name), Tooltip: "Start " + a.Name}
		if st.Daemon == DaemonMissing || st.Auth == AuthNo {
			it.Disabled = true
		}
		if st.Auth == AuthChallenge && !it.Disabled {
			it.Tooltip += " (asks for a password)"
		}
		m = append(m, it)
	}

	m = append(m, sep, label("Running"))
	names := map[string]string{}
	for _, a := range apps {
		names[a.ID] = a.Name
	}
	machines = append([]Machine(nil), machines...)
	sort.SliceStable(machines, func(i, j int) bool {
		if !machines[i].Since.Equal(machines[j].Since) {
			return machines[i].Since.Before(machines[j].Since)
		}
		return machines[i].Name < machines[j].Name
	})
	if len(machines) == 0 {
		m = append(m, label("Nothing running"))
	}
	for i, mc := range machines {
		if i == maxMachines {
			m = append(m, label(fmt.Sprintf("… and %d more (nspawn-tray ps)", len(machines)-maxMachines)))
			break
		}
		name := mc.Name
		if mc.App != "" {
			if n, ok := names[mc.App]; ok {
				name = n
			} else {
				name = mc.App
			}
		}
		text := ellipsize(name) + " — " + Age(now.Sub(mc.Since))
		tip := "machine " + mc.Name
		if mc.App == "" {
			text = ellipsize(name) + " (not nspawn-tray) — " + Age(now.Sub(mc.Since))
			tip += ", started outside nspawn-tray"
		}
		m = append(m, Item{Label: text, Tooltip: tip, Children: []Item{
			{ID: "stop:" + mc.Name, Label: "Stop"},
			{ID: "log:" + mc.Name, Label: "Show recent log"},
		}})
	}

	m = append(m, sep,
		Item{ID: "autostart", Label: "Start on login", Checkbox: true, Checked: st.Autostart},
		Item{ID: "sync", Label: "Refresh desktop entries"},
		Item{ID: "quit", Label: "Quit"})
	return m
}

// Age is a short, human duration: "12s", "5m", "2h 5m", "3d 4h".
func Age(d time.Duration) string {
	switch {
	case d < 0:
		d = 0
		fallthrough
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh %dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd %dh", int(d.Hours())/24, int(d.Hours())%24)
}

func ellipsize(s string) string {
	if utf8.RuneCountInString(s) <= maxLabel {
		return s
	}
	r := []rune(s)
	return string(r[:maxLabel-1]) + "…"
}
