package tray

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// now is the fixed clock for every Build in these tests.
var now = time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC)

// ago is a machine start time d before now.
func ago(d time.Duration) time.Time { return now.Add(-d) }

// render draws a menu as indented text, one item a line, two spaces a
// level. A line starts with "- " for a disabled item and "  " otherwise,
// then "[x] " or "[ ] " for a checkbox, then the ID and a space if there is
// an ID, then the label; a separator is "----". For example
// "- Apps", "  launch:xeyes XEyes", "  [x] autostart Start on login".
// Tooltips are not drawn; tips() covers them.
func render(items []Item) string {
	var b strings.Builder
	var walk func([]Item, string)
	walk = func(items []Item, indent string) {
		for _, it := range items {
			b.WriteString(indent)
			if it.Separator {
				b.WriteString("----")
				if it.ID != "" || it.Label != "" || it.Checkbox || it.Disabled || len(it.Children) > 0 {
					fmt.Fprintf(&b, " (separator with fields: %+v)", it)
				}
				b.WriteString("\n")
				continue
			}
			if it.Disabled {
				b.WriteString("- ")
			} else {
				b.WriteString("  ")
			}
			switch {
			case it.Checkbox && it.Checked:
				b.WriteString("[x] ")
			case it.Checkbox:
				b.WriteString("[ ] ")
			case it.Checked:
				b.WriteString("(checked, not a checkbox) ")
			}
			if it.ID != "" {
				b.WriteString(it.ID + " ")
			}
			b.WriteString(it.Label + "\n")
			walk(it.Children, indent+"  ")
		}
	}
	walk(items, "")
	return b.String()
}

// tips lists the tooltip of every item that has one: "ID|Label: tooltip".
func tips(items []Item) string {
	var b strings.Builder
	var walk func([]Item)
	walk = func(items []Item) {
		for _, it := range items {
			if it.Tooltip != "" {
				key := it.ID
				if key == "" {
					key = it.Label
				}
				fmt.Fprintf(&b, "%s: %s\n", key, it.Tooltip)
			}
			walk(it.Children)
		}
	}
	walk(items)
	return b.String()
}

// section is the render of the top-level items after the disabled label
// header up to the next top-level separator.
func section(t *testing.T, items []Item, header string) string {
	t.Helper()
	for i, it := range items {
		if it.Disabled && it.ID == "" && it.Label == header && !it.Separator {
			end := i + 1
			for end < len(items) && !items[end].Separator {
				end++
			}
			return render(items[i+1 : end])
		}
	}
	t.Fatalf("no section %q in menu:\n%s", header, render(items))
	return ""
}

// text turns a backquoted expectation into the render format: the leading
// newline goes, a trailing newline is ensured.
func text(s string) string {
	s = strings.TrimPrefix(s, "\n")
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	return s
}

func compare(t *testing.T, what, got, want string) {
	t.Helper()
	if got == want {
		return
	}
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	line := 0
	for line < len(g) && line < len(w) && g[line] == w[line] {
		line++
	}
	var gl, wl string
	if line < len(g) {
		gl = g[line]
	}
	if line < len(w) {
		wl = w[line]
	}
	t.Errorf("%s differs at line %d:\n got: %q\nwant: %q\n--- got ---\n%s--- want ---\n%s",
		what, line+1, gl, wl, got, want)
}

const tail = `
----
  [ ] autostart Start on login
  sync Refresh desktop entries
  quit Quit
`

func TestBuildFullMenu(t *testing.T) {
	apps := []App{{ID: "xeyes", Name: "XEyes"}, {ID: "firefox", Name: "Firefox"}}
	machines := []Machine{
		{Name: "xeyes-1a2b", App: "xeyes", Since: ago(5 * time.Minute)},
		{Name: "web", Since: ago(2*time.Hour + 5*time.Minute)},
	}
	got := Build(apps, machines, State{}, now)
	compare(t, "menu", render(got), text(`
- Apps
  launch:firefox Firefox
  launch:xeyes XEyes
----
- Running
  web (not nspawn-tray) — 2h 5m
    stop:web Stop
    log:web Show recent log
  XEyes — 5m
    stop:xeyes-1a2b Stop
    log:xeyes-1a2b Show recent log
`)+text(tail))
	compare(t, "tooltips", tips(got), text(`
launch:firefox: Start Firefox
launch:xeyes: Start XEyes
web (not nspawn-tray) — 2h 5m: machine web, started outside nspawn-tray
XEyes — 5m: machine xeyes-1a2b
`))
}

func TestBuildAppOrder(t *testing.T) {
	for _, tc := range []struct {
		name string
		apps []App
		want string
	}{
		{
			name: "case-insensitive by name",
			apps: []App{
				{ID: "z", Name: "zeta"},
				{ID: "b", Name: "Beta"},
				{ID: "a", Name: "alpha"},
				{ID: "g", Name: "Gamma"},
			},
			want: `
  launch:a alpha
  launch:b Beta
  launch:g Gamma
  launch:z zeta
`,
		},
		{
			name: "lower case does not sort after upper case",
			apps: []App{{ID: "1", Name: "b"}, {ID: "2", Name: "A"}, {ID: "3", Name: "C"}},
			want: `
  launch:2 A
  launch:1 b
  launch:3 C
`,
		},
		{
			name: "same name then by ID",
			apps: []App{
				{ID: "term-c", Name: "Terminal"},
				{ID: "term-a", Name: "Terminal"},
				{ID: "term-b", Name: "Terminal"},
			},
			want: `
  launch:term-a Terminal
  launch:term-b Terminal
  launch:term-c Terminal
`,
		},
		{
			name: "names equal ignoring case then by ID",
			apps: []App{
				{ID: "y", Name: "xterm"},
				{ID: "x", Name: "XTerm"},
				{ID: "w", Name: "XTERM"},
			},
			want: `
  launch:w XTERM
  launch:x XTerm
  launch:y xterm
`,
		},
		{
			name: "name decides before ID",
			apps: []App{{ID: "a", Name: "Zed"}, {ID: "z", Name: "Ant"}},
			want: `
  launch:z Ant
  launch:a Zed
`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Build(tc.apps, nil, State{}, now)
			compare(t, "apps", section(t, got, "Apps"), text(tc.want))
		})
	}
}

func TestBuildMachineOrder(t *testing.T) {
	apps := []App{{ID: "app", Name: "App"}}
	for _, tc := range []struct {
		name     string
		machines []Machine
		want     string
	}{
		{
			name: "oldest first",
			machines: []Machine{
				{Name: "m-new", App: "app", Since: ago(10 * time.Second)},
				{Name: "m-old", App: "app", Since: ago(3 * time.Hour)},
				{Name: "m-mid", App: "app", Since: ago(2 * time.Minute)},
			},
			want: `
  App — 3h 0m
    stop:m-old Stop
    log:m-old Show recent log
  App (2) — 2m
    stop:m-mid Stop
    log:m-mid Show recent log
  App (3) — 10s
    stop:m-new Stop
    log:m-new Show recent log
`,
		},
		{
			name: "same start then by machine name",
			machines: []Machine{
				{Name: "c", Since: ago(time.Minute)},
				{Name: "a", Since: ago(time.Minute)},
				{Name: "b", Since: ago(time.Minute)},
			},
			want: `
  a (not nspawn-tray) — 1m
    stop:a Stop
    log:a Show recent log
  b (not nspawn-tray) — 1m
    stop:b Stop
    log:b Show recent log
  c (not nspawn-tray) — 1m
    stop:c Stop
    log:c Show recent log
`,
		},
		{
			name: "start decides before name",
			machines: []Machine{
				{Name: "a", Since: ago(time.Minute)},
				{Name: "z", Since: ago(time.Hour)},
			},
			want: `
  z (not nspawn-tray) — 1h 0m
    stop:z Stop
    log:z Show recent log
  a (not nspawn-tray) — 1m
    stop:a Stop
    log:a Show recent log
`,
		},
		{
			// Equal instants in different zones are the same start.
			name: "same instant in another zone then by name",
			machines: []Machine{
				{Name: "b", Since: ago(time.Minute)},
				{Name: "a", Since: ago(time.Minute).In(time.FixedZone("UTC+5", 5*3600))},
			},
			want: `
  a (not nspawn-tray) — 1m
    stop:a Stop
    log:a Show recent log
  b (not nspawn-tray) — 1m
    stop:b Stop
    log:b Show recent log
`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Build(apps, tc.machines, State{}, now)
			compare(t, "running", section(t, got, "Running"), text(tc.want))
		})
	}
}

func TestBuildMachineLabels(t *testing.T) {
	apps := []App{{ID: "xeyes", Name: "XEyes"}, {ID: "firefox", Name: "Firefox Browser"}}
	for _, tc := range []struct {
		name     string
		machine  Machine
		want     string
		wantTips string
	}{
		{
			name:    "known app shows the app name",
			machine: Machine{Name: "firefox-77aa", App: "firefox", Since: ago(42 * time.Second)},
			want: `
  Firefox Browser — 42s
    stop:firefox-77aa Stop
    log:firefox-77aa Show recent log
`,
			wantTips: "Firefox Browser — 42s: machine firefox-77aa\n",
		},
		{
			name:    "app no longer defined shows the app id",
			machine: Machine{Name: "gimp-0001", App: "gimp", Since: ago(26 * time.Hour)},
			want: `
  gimp — 1d 2h
    stop:gimp-0001 Stop
    log:gimp-0001 Show recent log
`,
			wantTips: "gimp — 1d 2h: machine gimp-0001\n",
		},
		{
			name:    "foreign machine",
			machine: Machine{Name: "debian-sid", Since: ago(90 * time.Minute)},
			want: `
  debian-sid (not nspawn-tray) — 1h 30m
    stop:debian-sid Stop
    log:debian-sid Show recent log
`,
			wantTips: "debian-sid (not nspawn-tray) — 1h 30m: machine debian-sid, started outside nspawn-tray\n",
		},
		{
			// A foreign machine named like an app ID is still foreign.
			name:    "foreign machine named like an app",
			machine: Machine{Name: "xeyes", Since: ago(time.Second)},
			want: `
  xeyes (not nspawn-tray) — 1s
    stop:xeyes Stop
    log:xeyes Show recent log
`,
			wantTips: "xeyes (not nspawn-tray) — 1s: machine xeyes, started outside nspawn-tray\n",
		},
		{
			name:    "started in the future shows 0s",
			machine: Machine{Name: "xeyes-2", App: "xeyes", Since: now.Add(3 * time.Second)},
			want: `
  XEyes — 0s
    stop:xeyes-2 Stop
    log:xeyes-2 Show recent log
`,
			wantTips: "XEyes — 0s: machine xeyes-2\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Build(apps, []Machine{tc.machine}, State{}, now)
			compare(t, "running", section(t, got, "Running"), text(tc.want))
			var running []Item
			for _, it := range got {
				if len(it.Children) > 0 {
					running = append(running, it)
				}
			}
			compare(t, "tooltips", tips(running), tc.wantTips)
		})
	}
}

func TestBuildEllipsize(t *testing.T) {
	ascii48 := strings.Repeat("a", 48)
	ascii49 := strings.Repeat("a", 49)
	accent49 := strings.Repeat("é", 49)
	cjk60 := strings.Repeat("漢", 60)
	emoji49 := strings.Repeat("🐧", 49)
	mixed := strings.Repeat("x", 46) + "éü漢"
	for _, tc := range []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"short", "XEyes", "XEyes"},
		{"exactly 48 ascii", ascii48, ascii48},
		{"exactly 48 multi-byte", strings.Repeat("é", 48), strings.Repeat("é", 48)},
		{"49 ascii", ascii49, strings.Repeat("a", 47) + "…"},
		{"49 two-byte runes", accent49, strings.Repeat("é", 47) + "…"},
		{"60 three-byte runes", cjk60, strings.Repeat("漢", 47) + "…"},
		{"49 four-byte runes", emoji49, strings.Repeat("🐧", 47) + "…"},
		{"multi-byte rune at the cut", mixed, strings.Repeat("x", 46) + "é…"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ellipsize(tc.in)
			if got != tc.want {
				t.Errorf("ellipsize(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if !utf8.ValidString(got) {
				t.Errorf("ellipsize(%q) = %q is not valid UTF-8", tc.in, got)
			}
			if n := utf8.RuneCountInString(got); n > maxLabel {
				t.Errorf("ellipsize(%q) has %d runes, more than %d", tc.in, n, maxLabel)
			}

			// Through Build: the app item, the machine of that app, a
			// foreign machine of that name.
			apps := []App{{ID: "app", Name: tc.in}}
			machines := []Machine{
				{Name: "app-1", App: "app", Since: ago(time.Minute)},
				{Name: tc.in, Since: ago(time.Hour)},
			}
			menu := Build(apps, machines, State{}, now)
			compare(t, "apps", section(t, menu, "Apps"), "  launch:app "+tc.want+"\n")
			compare(t, "running", section(t, menu, "Running"), text(fmt.Sprintf(`
  %s (not nspawn-tray) — 1h 0m
    stop:%s Stop
    log:%s Show recent log
  %s — 1m
    stop:app-1 Stop
    log:app-1 Show recent log
`, tc.want, tc.in, tc.in, tc.want)))
			// The tooltip keeps the whole name.
			compare(t, "tooltips", tips(menu[:2]), "launch:app: Start "+tc.in+"\n")
		})
	}
}

func TestBuildManyMachines(t *testing.T) {
	for _, tc := range []struct {
		n        int
		wantMore string // "" for no "… and N more" line
	}{
		{1, ""},
		{29, ""},
		{30, ""},
		{31, "… and 1 more (nspawn-tray ps)"},
		{32, "… and 2 more (nspawn-tray ps)"},
		{100, "… and 70 more (nspawn-tray ps)"},
	} {
		t.Run(fmt.Sprint(tc.n), func(t *testing.T) {
			// Given newest first, so the menu has to sort them.
			var machines []Machine
			for i := tc.n - 1; i >= 0; i-- {
				machines = append(machines, Machine{
					Name:  fmt.Sprintf("m%03d", i),
					Since: ago(time.Duration(tc.n-i) * time.Minute),
				})
			}
			var want strings.Builder
			shown := min(tc.n, 30)
			for i := 0; i < shown; i++ {
				name := fmt.Sprintf("m%03d", i)
				fmt.Fprintf(&want, "  %s (not nspawn-tray) — %s\n    stop:%s Stop\n    log:%s Show recent log\n",
					name, age(time.Duration(tc.n-i)*time.Minute), name, name)
			}
			if tc.wantMore != "" {
				want.WriteString("- " + tc.wantMore + "\n")
			}
			got := Build(nil, machines, State{}, now)
			compare(t, "running", section(t, got, "Running"), want.String())
		})
	}
}

func TestBuildStates(t *testing.T) {
	apps := []App{{ID: "xeyes", Name: "XEyes"}, {ID: "firefox", Name: "Firefox"}}
	for _, tc := range []struct {
		name     string
		apps     []App
		state    State
		want     string // the Apps section
		wantTips string
	}{
		{
			name:  "no apps",
			state: State{},
			want: `
- No apps defined (/etc/nspawn-tray/apps.d)
`,
		},
		{
			name:  "no apps, launcher missing",
			state: State{Daemon: DaemonMissing},
			want: `
- Launcher not installed (no io.github.nspawn_tray.Launcher1)
- No apps defined (/etc/nspawn-tray/apps.d)
`,
		},
		{
			name:  "authorized",
			apps:  apps,
			state: State{Auth: AuthYes},
			want: `
  launch:firefox Firefox
  launch:xeyes XEyes
`,
			wantTips: `
launch:firefox: Start Firefox
launch:xeyes: Start XEyes
`,
		},
		{
			name:  "launcher missing",
			apps:  apps,
			state: State{Daemon: DaemonMissing},
			want: `
- Launcher not installed (no io.github.nspawn_tray.Launcher1)
- launch:firefox Firefox
- launch:xeyes XEyes
`,
			wantTips: `
launch:firefox: Start Firefox
launch:xeyes: Start XEyes
`,
		},
		{
			name:  "not authorized",
			apps:  apps,
			state: State{Auth: AuthNo},
			want: `
- Not authorized to launch: ask to join group nspawn-tray
- launch:firefox Firefox
- launch:xeyes XEyes
`,
			wantTips: `
launch:firefox: Start Firefox
launch:xeyes: Start XEyes
`,
		},
		{
			// The missing launcher is the first thing to fix: say only that.
			name:  "launcher missing and not authorized",
			apps:  apps,
			state: State{Daemon: DaemonMissing, Auth: AuthNo},
			want: `
- Launcher not installed (no io.github.nspawn_tray.Launcher1)
- launch:firefox Firefox
- launch:xeyes XEyes
`,
			wantTips: `
launch:firefox: Start Firefox
launch:xeyes: Start XEyes
`,
		},
		{
			name:  "password asked",
			apps:  apps,
			state: State{Auth: AuthChallenge},
			want: `
- Launching asks for an administrator's password
  launch:firefox Firefox
  launch:xeyes XEyes
`,
			wantTips: `
launch:firefox: Start Firefox (asks for a password)
launch:xeyes: Start XEyes (asks for a password)
`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Build(tc.apps, nil, tc.state, now)
			compare(t, "menu", render(got),
				"- Apps\n"+text(tc.want)+text(`
----
- Running
- Nothing running
`)+text(tail))
			var launch []Item
			for _, it := range got {
				if strings.HasPrefix(it.ID, "launch:") {
					launch = append(launch, it)
				}
			}
			compare(t, "tooltips", tips(launch), strings.TrimPrefix(tc.wantTips, "\n"))
		})
	}
}

func TestBuildTail(t *testing.T) {
	for _, tc := range []struct {
		name  string
		state State
		want  string
	}{
		{"autostart off", State{}, `
----
  [ ] autostart Start on login
  sync Refresh desktop entries
  quit Quit
`},
		{"autostart on", State{Autostart: true}, `
----
  [x] autostart Start on login
  sync Refresh desktop entries
  quit Quit
`},
		// The tail stays enabled whatever the launcher and polkit say.
		{"launcher missing", State{Daemon: DaemonMissing, Auth: AuthNo, Autostart: true}, `
----
  [x] autostart Start on login
  sync Refresh desktop entries
  quit Quit
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			machines := []Machine{{Name: "m", Since: ago(time.Second)}}
			got := Build([]App{{ID: "a", Name: "A"}}, machines, tc.state, now)
			if len(got) < 4 {
				t.Fatalf("menu too short:\n%s", render(got))
			}
			compare(t, "tail", render(got[len(got)-4:]), text(tc.want))
		})
	}
}

func TestBuildKeepsInputs(t *testing.T) {
	apps := []App{
		{ID: "z", Name: "zeta"},
		{ID: "b", Name: "Beta"},
		{ID: "a", Name: "alpha"},
	}
	machines := []Machine{
		{Name: "m-new", App: "z", Since: ago(time.Second)},
		{Name: "m-old", App: "a", Since: ago(time.Hour)},
		{Name: "m-x", Since: ago(time.Minute)},
	}
	// Spare capacity: an append into the caller's backing array would show.
	apps = append(make([]App, 0, 10), apps...)
	machines = append(make([]Machine, 0, 10), machines...)
	wantApps := append([]App(nil), apps...)
	wantMachines := append([]Machine(nil), machines...)

	menu := Build(apps, machines, State{Auth: AuthChallenge}, now)
	if !reflect.DeepEqual(apps, wantApps) {
		t.Errorf("Build changed apps:\n got %v\nwant %v", apps, wantApps)
	}
	if !reflect.DeepEqual(machines, wantMachines) {
		t.Errorf("Build changed machines:\n got %v\nwant %v", machines, wantMachines)
	}
	if spare := apps[:cap(apps)][len(apps):]; !reflect.DeepEqual(spare, make([]App, len(spare))) {
		t.Errorf("Build wrote past len(apps): %v", spare)
	}
	if spare := machines[:cap(machines)][len(machines):]; !reflect.DeepEqual(spare, make([]Machine, len(spare))) {
		t.Errorf("Build wrote past len(machines): %v", spare)
	}

	// The menu itself is sorted.
	compare(t, "apps", section(t, menu, "Apps"), text(`
- Launching asks for an administrator's password
  launch:a alpha
  launch:b Beta
  launch:z zeta
`))

	// Building twice gives the same menu: nothing leaks between calls.
	if again := Build(apps, machines, State{Auth: AuthChallenge}, now); !reflect.DeepEqual(menu, again) {
		t.Errorf("second Build differs:\n%s\nvs\n%s", render(menu), render(again))
	}
}

// keys draws the keys of a menu, one a line, two spaces a level.
func keys(items []Item) string {
	var b strings.Builder
	var walk func([]Item, string)
	walk = func(items []Item, indent string) {
		for _, it := range items {
			b.WriteString(indent + it.key() + "\n")
			walk(it.Children, indent+"  ")
		}
	}
	walk(items, "")
	return b.String()
}

// Keys name the entries across menus: the menu keeps an entry's dbusmenu
// id for as long as its key is there, so every entry needs one, unique,
// and the same for the same thing from one menu to the next.
func TestBuildKeys(t *testing.T) {
	apps := []App{{ID: "xeyes", Name: "XEyes"}, {ID: "firefox", Name: "Firefox"}}
	machines := []Machine{
		{Name: "xeyes-1a2b", App: "xeyes", Since: ago(5 * time.Minute)},
		{Name: "web", Since: ago(2 * time.Hour)},
	}
	var many []App
	for i := range 13 {
		many = append(many, App{ID: fmt.Sprintf("app%02d", i), Name: fmt.Sprintf("App %02d", i), Category: []string{"Game", "", "Office"}[i%3]})
	}
	var lots []Machine
	for i := range maxMachines + 2 {
		lots = append(lots, Machine{Name: fmt.Sprintf("m%02d", i), Since: ago(time.Duration(100-i) * time.Minute)})
	}
	for _, tc := range []struct {
		name     string
		apps     []App
		machines []Machine
		state    State
		want     string
	}{
		{
			name: "nothing", state: State{Daemon: DaemonMissing},
			want: `
apps
apps-note
no-apps
apps-end
running
nothing-running
running-end
autostart
sync
quit
`,
		},
		{
			name: "apps and machines", apps: apps, machines: machines, state: State{Auth: AuthChallenge},
			want: `
apps
apps-note
launch:firefox
launch:xeyes
apps-end
running
machine:web
  stop:web
  log:web
machine:xeyes-1a2b
  stop:xeyes-1a2b
  log:xeyes-1a2b
running-end
autostart
sync
quit
`,
		},
		{
			name: "by category, many machines", apps: many, machines: lots,
			want: func() string {
				var b strings.Builder
				b.WriteString("apps\ncat:Game\n")
				for i := 0; i < 13; i += 3 {
					fmt.Fprintf(&b, "  launch:app%02d\n", i)
				}
				b.WriteString("cat:Office\n")
				for i := 2; i < 13; i += 3 {
					fmt.Fprintf(&b, "  launch:app%02d\n", i)
				}
				b.WriteString("cat:Other\n")
				for i := 1; i < 13; i += 3 {
					fmt.Fprintf(&b, "  launch:app%02d\n", i)
				}
				b.WriteString("apps-end\nrunning\n")
				for i := range maxMachines {
					fmt.Fprintf(&b, "machine:m%02d\n  stop:m%02d\n  log:m%02d\n", i, i, i)
				}
				b.WriteString("more-machines\nrunning-end\nautostart\nsync\nquit\n")
				return b.String()
			}(),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Build(tc.apps, tc.machines, tc.state, now)
			compare(t, "keys", keys(got), text(tc.want))
			seen := map[string]bool{}
			for _, k := range strings.Fields(keys(got)) {
				if seen[k] {
					t.Errorf("key %q twice", k)
				}
				seen[k] = true
			}
			// Time passing changes labels, never keys.
			if later := Build(tc.apps, tc.machines, tc.state, now.Add(3*time.Hour)); keys(later) != keys(got) {
				t.Errorf("keys change with time:\n%s", keys(later))
			}
		})
	}
}

func TestMainCategory(t *testing.T) {
	for _, tc := range []struct {
		cats []string
		want string
	}{
		{nil, ""},
		{[]string{}, ""},
		{[]string{"Game"}, "Game"},
		// Additional categories come before main ones in many entries.
		{[]string{"GTK", "TerminalEmulator", "System"}, "System"},
		{[]string{"Audio", "AudioVideo", "Player"}, "AudioVideo"},
		{[]string{"Development", "Utility"}, "Development"},
		{[]string{"Utility", "Development"}, "Utility"},
		// Case matters in desktop entries.
		{[]string{"game", "OFFICE"}, ""},
		{[]string{"X-Custom", "Other"}, ""},
		{[]string{"Network", "WebBrowser"}, "Network"},
	} {
		if got := MainCategory(tc.cats); got != tc.want {
			t.Errorf("MainCategory(%q) = %q, want %q", tc.cats, got, tc.want)
		}
	}
}

func TestBuildGroupsManyAppsByCategory(t *testing.T) {
	app := func(id, name, cat string) App { return App{ID: id, Name: name, Category: cat} }
	// filler is n apps of category cat named "Fill NN".
	filler := func(n int, cat string) []App {
		var out []App
		for i := range n {
			out = append(out, app(fmt.Sprintf("fill%02d", i), fmt.Sprintf("Fill %02d", i), cat))
		}
		return out
	}
	fillLines := func(n int, indent string) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "%slaunch:fill%02d Fill %02d\n", indent, i, i)
		}
		return b.String()
	}
	for _, tc := range []struct {
		name string
		apps []App
		want string // the Apps section
	}{
		{
			name: "twelve stay at the top level",
			apps: append(filler(11, "Game"), app("ed", "Editor", "Development")),
			want: "  launch:ed Editor\n" + fillLines(11, "  "),
		},
		{
			name: "thirteen go in submenus",
			apps: append(filler(12, "Game"), app("ed", "Editor", "Development")),
			want: "  Development\n    launch:ed Editor\n  Games\n" + fillLines(12, "    "),
		},
		{
			// By the names shown, not the category ids: Accessories
			// (Utility) before Development; Other last.
			name: "submenus in the order of their names, Other last",
			apps: append(filler(7, ""), []App{
				app("calc", "Calculator", "Utility"),
				app("vlc", "VLC", "AudioVideo"),
				app("ff", "Firefox", "Network"),
				app("ed", "Editor", "Development"),
				app("sys", "Monitor", "System"),
				app("zz", "Zebra", "X-Unknown"),
			}...),
			want: `
  Accessories
    launch:calc Calculator
  Development
    launch:ed Editor
  Internet
    launch:ff Firefox
  Sound & Video
    launch:vlc VLC
  System
    launch:sys Monitor
  Other
` + fillLines(7, "    ") + "    launch:zz Zebra\n",
		},
		{
			name: "every main category",
			apps: []App{
				app("a", "A", "AudioVideo"), app("b", "B", "Development"), app("c", "C", "Education"),
				app("d", "D", "Game"), app("e", "E", "Graphics"), app("f", "F", "Network"),
				app("g", "G", "Office"), app("h", "H", "Science"), app("i", "I", "Settings"),
				app("j", "J", "System"), app("k", "K", "Utility"), app("l", "L", ""), app("m", "M", ""),
			},
			want: `
  Accessories
    launch:k K
  Development
    launch:b B
  Education
    launch:c C
  Games
    launch:d D
  Graphics
    launch:e E
  Internet
    launch:f F
  Office
    launch:g G
  Science
    launch:h H
  Settings
    launch:i I
  Sound & Video
    launch:a A
  System
    launch:j J
  Other
    launch:l L
    launch:m M
`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Build(tc.apps, nil, State{}, now)
			compare(t, "apps", section(t, got, "Apps"), text(tc.want))
			// Running and the footer follow at the top level.
			compare(t, "tail", render(got[len(got)-4:]), text(tail))
		})
	}
}

func TestBuildAppsThatCannotLaunch(t *testing.T) {
	long := `image "a-very-long-image-name" of app "ghost" is missing`
	for _, tc := range []struct {
		name     string
		app      App
		state    State
		want     string
		wantTips string
	}{
		{
			name:     "missing image",
			app:      App{ID: "ghost", Name: "Ghost", Problem: "image missing"},
			want:     "- launch:ghost Ghost (image missing)\n",
			wantTips: "launch:ghost: Cannot start Ghost: image missing\n",
		},
		{
			name:     "the label has the start of a long problem, the tooltip all",
			app:      App{ID: "ghost", Name: "Ghost", Problem: long},
			want:     "- launch:ghost Ghost (image \"a-very-long-image-name\" …)\n",
			wantTips: "launch:ghost: Cannot start Ghost: " + long + "\n",
		},
		{
			name:     "the label has the first line",
			app:      App{ID: "broken", Name: "broken", Problem: "broken.toml:2: image: missing\nbroken.toml:3: exec: missing"},
			want:     "- launch:broken broken (broken.toml:2: image: missing…)\n",
			wantTips: "launch:broken: Cannot start broken: broken.toml:2: image: missing\nbroken.toml:3: exec: missing\n",
		},
		{
			// Nothing to ask a password for.
			name:     "password asked",
			app:      App{ID: "ghost", Name: "Ghost", Problem: "image missing"},
			state:    State{Auth: AuthChallenge},
			want:     "- Launching asks for an administrator's password\n- launch:ghost Ghost (image missing)\n",
			wantTips: "launch:ghost: Cannot start Ghost: image missing\n",
		},
		{
			name:     "launcher missing",
			app:      App{ID: "ghost", Name: "Ghost", Problem: "image missing"},
			state:    State{Daemon: DaemonMissing},
			want:     "- Launcher not installed (no io.github.nspawn_tray.Launcher1)\n- launch:ghost Ghost (image missing)\n",
			wantTips: "launch:ghost: Cannot start Ghost: image missing\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			apps := []App{tc.app, {ID: "xeyes", Name: "XEyes"}}
			got := Build(apps, nil, tc.state, now)
			xeyes := "  launch:xeyes XEyes\n"
			if tc.state.Daemon == DaemonMissing {
				xeyes = "- launch:xeyes XEyes\n"
			}
			compare(t, "apps", section(t, got, "Apps"), tc.want+xeyes)
			var launch []Item
			for _, it := range got {
				if it.ID == "launch:"+tc.app.ID {
					launch = append(launch, it)
				}
			}
			compare(t, "tooltips", tips(launch), tc.wantTips)
		})
	}
}

func TestBuildTellsInstancesApart(t *testing.T) {
	apps := []App{{ID: "xterm", Name: "XTerm"}, {ID: "term", Name: "XTerm"}, {ID: "xeyes", Name: "XEyes"}}
	for _, tc := range []struct {
		name     string
		machines []Machine
		want     string // the labels of the Running section
	}{
		{
			name:     "one instance has no number",
			machines: []Machine{{Name: "xterm-0001", App: "xterm", Since: ago(time.Minute)}},
			want:     "XTerm — 1m",
		},
		{
			name: "the later ones are numbered in start order",
			machines: []Machine{
				{Name: "xterm-0003", App: "xterm", Since: ago(time.Minute)},
				{Name: "xterm-0001", App: "xterm", Since: ago(3 * time.Minute)},
				{Name: "xeyes-0001", App: "xeyes", Since: ago(2 * time.Minute)},
				{Name: "xterm-0002", App: "xterm", Since: ago(2 * time.Minute)},
			},
			want: "XTerm — 3m\nXEyes — 2m\nXTerm (2) — 2m\nXTerm (3) — 1m",
		},
		{
			// What the user tells apart is the name shown.
			name: "apps of the same name",
			machines: []Machine{
				{Name: "xterm-0001", App: "xterm", Since: ago(3 * time.Minute)},
				{Name: "term-0001", App: "term", Since: ago(time.Minute)},
			},
			want: "XTerm — 3m\nXTerm (2) — 1m",
		},
		{
			// Machine names are unique: no number, even when named
			// like an app.
			name: "foreign machines",
			machines: []Machine{
				{Name: "XTerm", Since: ago(3 * time.Minute)},
				{Name: "xterm-0001", App: "xterm", Since: ago(2 * time.Minute)},
			},
			want: "XTerm (not nspawn-tray) — 3m\nXTerm — 2m",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var labels []string
			for _, it := range Build(apps, tc.machines, State{}, now) {
				if strings.HasPrefix(it.Key, "machine:") {
					labels = append(labels, it.Label)
				}
			}
			compare(t, "running", strings.Join(labels, "\n"), tc.want)
		})
	}
}

// The images' apps without a definition, a submenu per image; none without
// a daemon to add them.
func TestBuildAddApp(t *testing.T) {
	offers := []Offer{
		{Image: "gnome", DesktopFile: "org.gnome.Calculator.desktop", Name: "Calculator"},
		{Image: "debian", DesktopFile: "firefox-esr.desktop", Name: "Firefox ESR"},
		{Image: "debian", DesktopFile: "debian-xterm.desktop", Name: "XTerm"},
	}
	got := Build([]App{{ID: "xeyes", Name: "XEyes"}}, nil, State{Offers: offers}, now)
	compare(t, "menu", render(got), text(`
- Apps
  launch:xeyes XEyes
  Add app
    debian
      add:debian/firefox-esr.desktop Firefox ESR
      add:debian/debian-xterm.desktop XTerm
    gnome
      add:gnome/org.gnome.Calculator.desktop Calculator
----
- Running
- Nothing running
`)+text(tail))
	if m := render(Build(nil, nil, State{Offers: offers, Daemon: DaemonMissing}, now)); strings.Contains(m, "Add app") {
		t.Errorf("Add app without a daemon:\n%s", m)
	}
}
