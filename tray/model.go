// Package tray is the session applet: the defined apps and the running
// machines in a StatusNotifierItem menu, built from a pure model (Build)
// whenever machined, apps.d or the autostart entry changes, and drawn by
// updating the entries already shown (menuTree).
package tray

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nspawn-tray/nspawn-tray/machines"
	"github.com/nspawn-tray/nspawn-tray/paths"
)

// App is a defined app as the menu shows it.
type App struct {
	ID, Name string
	// Category is the app's main desktop category (MainCategory), "" for
	// none. It groups the apps when there are many.
	Category string
	// Problem says why the app cannot launch now (the daemon's words: an
	// invalid definition, a missing image); "" when it can.
	Problem string
	// Short is Problem in a few words for the label; "" takes the start
	// of Problem.
	Short string
	// Icon is the PNG of the app's own icon, shown beside its entry; nil
	// for none.
	Icon []byte
	// Image is the image it runs in: images of apps are not offered as
	// machines to boot (see machinesSection).
	Image string
}

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
	// Offers are the apps the images offer without a definition yet: the
	// "Add app" submenu (an administrator's password adds one).
	Offers []Offer
	// Bootable are machined's images as machines, for the Machines
	// section; BootAuth is whether this user may start and stop them,
	// EnableAuth whether they may make them start at boot.
	Bootable   []machines.Machine
	BootAuth   Auth
	EnableAuth Auth
}

// Offer is an app an image offers: one of its desktop entries.
type Offer struct {
	Image, DesktopFile, Name string
}

// Item is one menu entry. ID says what a click does: "launch:APP",
// "stop:MACHINE", "log:MACHINE", "add:IMAGE/DESKTOP-FILE",
// "boot-start:IMAGE", "boot-stop:IMAGE", "boot-enable:IMAGE" (a check
// item: a click turns it over), "boot-status:IMAGE", "autostart", "sync",
// "quit"; "" for labels, separators and submenus.
type Item struct {
	ID string
	// Key names the entry across menus, for the items without an ID
	// (see key): "machine:NAME", "cat:CATEGORY", "apps", "running", ...
	Key       string
	Label     string
	Tooltip   string
	Disabled  bool
	Separator bool
	Checkbox  bool
	Checked   bool
	Children  []Item
	// Icon is a PNG shown beside the label (dbusmenu's icon-data); nil
	// for none.
	Icon []byte
}

// key is what identifies it among the menus Build makes: its ID, or its
// Key when it has no ID. An entry of the same key is the same entry, drawn
// again.
func (it Item) key() string {
	if it.ID != "" {
		return it.ID
	}
	return it.Key
}

const (
	maxLabel    = 48
	maxMachines = 30
	// maxFlatApps is the most apps the menu lists at its top level; more
	// go in a submenu per category, so Running and Quit stay on screen.
	maxFlatApps = 12
	// maxProblem is the most of an app's problem its label shows; the
	// tooltip has all of it.
	maxProblem = 32
)

// categories are the main categories of the desktop menu specification
// with the names desktops show for them.
var categories = map[string]string{
	"AudioVideo":  "Sound & Video",
	"Development": "Development",
	"Education":   "Education",
	"Game":        "Games",
	"Graphics":    "Graphics",
	"Network":     "Internet",
	"Office":      "Office",
	"Science":     "Science",
	"Settings":    "Settings",
	"System":      "System",
	"Utility":     "Accessories",
}

// otherCategory is the submenu of the apps without a main category.
const otherCategory = "Other"

// MainCategory is the first of a desktop entry's categories that is a main
// category, "" when none is.
func MainCategory(cats []string) string {
	for _, c := range cats {
		if _, ok := categories[c]; ok {
			return c
		}
	}
	return ""
}

// Build is the menu for apps, machines and st at time now.
func Build(apps []App, machines []Machine, st State, now time.Time) []Item {
	var m []Item
	label := func(key, s string) Item { return Item{Key: key, Label: s, Disabled: true} }

	m = append(m, label("apps", "Apps"))
	switch {
	case st.Daemon == DaemonMissing:
		m = append(m, label("apps-note", "Launcher not installed (no io.github.nspawn_tray.Launcher1)"))
	case st.Auth == AuthNo:
		m = append(m, label("apps-note", "Not authorized to launch: ask to join group nspawn-tray"))
	case st.Auth == AuthChallenge:
		// Tooltips are not in every host's menus: say it in the menu.
		m = append(m, label("apps-note", "Launching asks for an administrator's password"))
	}
	if len(apps) == 0 {
		m = append(m, label("no-apps", "No apps defined ("+paths.AppsDir+")"))
	}
	apps = append([]App(nil), apps...)
	sort.SliceStable(apps, func(i, j int) bool {
		a, b := strings.ToLower(apps[i].Name), strings.ToLower(apps[j].Name)
		if a != b {
			return a < b
		}
		return apps[i].ID < apps[j].ID
	})
	var launch []Item
	for _, a := range apps {
		launch = append(launch, appItem(a, st))
	}
	if len(apps) > maxFlatApps {
		m = append(m, byCategory(apps, launch)...)
	} else {
		m = append(m, launch...)
	}
	if len(st.Offers) > 0 && st.Daemon != DaemonMissing {
		m = append(m, addApps(st.Offers))
	}

	boot := machinesSection(apps, st, now)
	if len(boot) > 0 {
		// A machine of the Machines section is not listed again under
		// Running: its entry there has its own Stop.
		shown := map[string]bool{}
		for _, it := range boot {
			if name, ok := strings.CutPrefix(it.Key, "boot:"); ok {
				shown[name] = true
			}
		}
		machines = slices.DeleteFunc(slices.Clone(machines), func(mc Machine) bool { return mc.App == "" && shown[mc.Name] })
	}

	m = append(m, Item{Key: "apps-end", Separator: true}, label("running", "Running"))
	m = append(m, running(apps, machines, now)...)

	if len(boot) > 0 {
		m = append(m, Item{Key: "running-end", Separator: true})
		m = append(m, boot...)
		m = append(m, Item{Key: "machines-end", Separator: true})
	} else {
		m = append(m, Item{Key: "running-end", Separator: true})
	}
	m = append(m,
		Item{ID: "autostart", Label: "Start on login", Checkbox: true, Checked: st.Autostart},
		Item{ID: "sync", Label: "Refresh desktop entries"},
		Item{ID: "quit", Label: "Quit"})
	return m
}

// addApps is the "Add app" submenu: a submenu per image, an entry per app
// it offers.
func addApps(offers []Offer) Item {
	offers = slices.Clone(offers)
	slices.SortStableFunc(offers, func(a, b Offer) int {
		if c := strings.Compare(a.Image, b.Image); c != 0 {
			return c
		}
		return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name))
	})
	add := Item{Key: "add-apps", Label: "Add app", Tooltip: "Make an app of an image's desktop entry (asks for an administrator's password)"}
	for _, o := range offers {
		if n := len(add.Children); n == 0 || add.Children[n-1].Key != "add-image:"+o.Image {
			add.Children = append(add.Children, Item{Key: "add-image:" + o.Image, Label: ellipsize(o.Image)})
		}
		img := &add.Children[len(add.Children)-1]
		img.Children = append(img.Children, Item{ID: "add:" + o.Image + "/" + o.DesktopFile, Label: ellipsize(o.Name),
			Tooltip: "Add " + o.Name + " (" + o.DesktopFile + " of " + o.Image + ") to the apps"})
	}
	return add
}

// appItem is the entry that launches a.
func appItem(a App, st State) Item {
	it := Item{ID: "launch:" + a.ID, Label: ellipsize(a.Name), Tooltip: "Start " + a.Name}
	it.Icon = a.Icon
	if a.Problem != "" {
		// Not clickable: the daemon would refuse. The label says why in
		// short, the tooltip in full.
		short := a.Short
		if short == "" {
			short = ellipsizeTo(firstLine(a.Problem), maxProblem)
		}
		it.Label += " (" + short + ")"
		it.Tooltip = "Cannot start " + a.Name + ": " + a.Problem
		it.Disabled = true
	}
	if st.Daemon == DaemonMissing || st.Auth == AuthNo {
		it.Disabled = true
	}
	if st.Auth == AuthChallenge && !it.Disabled {
		it.Tooltip += " (asks for a password)"
	}
	return it
}

// byCategory puts the launch items (of apps, in the same order) in a
// submenu per main category, in the order of their names, with Other last.
func byCategory(apps []App, launch []Item) []Item {
	groups := map[string][]Item{}
	for i, a := range apps {
		c := a.Category
		if _, ok := categories[c]; !ok {
			c = otherCategory
		}
		groups[c] = append(groups[c], launch[i])
	}
	label := func(c string) string {
		if c == otherCategory {
			return otherCategory
		}
		return categories[c]
	}
	cats := make([]string, 0, len(groups))
	for c := range groups {
		cats = append(cats, c)
	}
	sort.Slice(cats, func(i, j int) bool {
		if (cats[i] == otherCategory) != (cats[j] == otherCategory) {
			return cats[j] == otherCategory
		}
		return label(cats[i]) < label(cats[j])
	})
	m := make([]Item, 0, len(cats))
	for _, c := range cats {
		m = append(m, Item{Key: "cat:" + c, Label: label(c), Children: groups[c]})
	}
	return m
}

// running is the Running section: the machines, oldest first.
func running(apps []App, machines []Machine, now time.Time) []Item {
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
		return []Item{{Key: "nothing-running", Label: "Nothing running", Disabled: true}}
	}
	// Instances are told apart by their rank among those of the same
	// name: "XTerm", "XTerm (2)", ...
	seen := map[string]int{}
	var m []Item
	for i, mc := range machines {
		if i == maxMachines {
			m = append(m, Item{Key: "more-machines", Label: fmt.Sprintf("… and %d more (nspawn-tray ps)", len(machines)-maxMachines), Disabled: true})
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
		text := ellipsize(name)
		tip := "machine " + mc.Name
		if mc.App == "" {
			text += " (not nspawn-tray)"
			tip += ", started outside nspawn-tray"
		} else {
			seen[text]++
			if n := seen[text]; n > 1 {
				text += fmt.Sprintf(" (%d)", n)
			}
		}
		m = append(m, Item{Key: "machine:" + mc.Name, Label: text + " — " + Age(now.Sub(mc.Since)), Tooltip: tip, Children: []Item{
			{ID: "stop:" + mc.Name, Label: "Stop"},
			{ID: "log:" + mc.Name, Label: "Show recent log"},
		}})
	}
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

func ellipsize(s string) string { return ellipsizeTo(s, maxLabel) }

// ellipsizeTo cuts s to n runes, the last an ellipsis when cut.
func ellipsizeTo(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// firstLine is s up to its first line break, with a "…" when more
// follows.
func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		return strings.TrimSpace(s[:i]) + "…"
	}
	return s
}
