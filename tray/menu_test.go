package tray

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

// treeEnv is a menuTree drawing on a fakeShell, with a clock of its own
// and the clicks that reached it.
type treeEnv struct {
	ui    *fakeShell
	tree  *menuTree
	clock time.Time

	mu     sync.Mutex
	clicks []string
}

func newTreeEnv() *treeEnv {
	e := &treeEnv{ui: newFakeShell(), clock: now}
	e.tree = newMenuTree(e.ui, func(id string) {
		e.mu.Lock()
		e.clicks = append(e.clicks, id)
		e.mu.Unlock()
	})
	e.tree.now = func() time.Time { return e.clock }
	return e
}

// show draws items and checks that the panel shows exactly them.
func (e *treeEnv) show(t *testing.T, items []Item) {
	t.Helper()
	e.tree.show(items)
	compare(t, "menu shown", render(e.ui.items()), render(items))
	compare(t, "tooltips shown", tips(e.ui.items()), tips(items))
}

// lastClick is the action the last click reached, "" for none.
func (e *treeEnv) lastClick() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.clicks) == 0 {
		return ""
	}
	return e.clicks[len(e.clicks)-1]
}

// ids are the dbusmenu ids of the entries shown, by key.
func (f *fakeShell) ids() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int{}
	var walk func([]*fakeEntry)
	walk = func(es []*fakeEntry) {
		for _, e := range es {
			if !e.hidden {
				out[keyOf(e.item)] = e.id
				walk(e.kids)
			}
		}
	}
	walk(f.top)
	return out
}

func (f *fakeShell) counts() (adds, sets int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.adds, f.sets
}

var (
	twoApps = []App{{ID: "firefox", Name: "Firefox"}, {ID: "xeyes", Name: "XEyes"}}
	mA      = Machine{Name: "a-0001", App: "xeyes", Since: ago(time.Hour)}
	mB      = Machine{Name: "b-0001", App: "firefox", Since: ago(time.Minute)}
	// mEarly started before the others, and is seen after them.
	mEarly = Machine{Name: "early", Since: ago(2 * time.Hour)}
)

// Each change draws what it must and keeps every other entry, with its
// id: a panel that shows the menu from before sends those ids.
func TestMenuTreeKeepsTheEntriesThatStay(t *testing.T) {
	footer := []string{"running-end", "autostart", "sync", "quit"}
	for _, tc := range []struct {
		name     string
		from, to []Item
		// redrawn are the keys of both menus drawn again (new ids), the
		// others of both keep theirs.
		redrawn []string
		adds    int
	}{
		{
			name:    "the first machine starts",
			from:    Build(twoApps, nil, State{}, now),
			to:      Build(twoApps, []Machine{mA}, State{}, now),
			redrawn: footer,
			adds:    3 + 4, // the machine, its two entries; the footer
		},
		{
			name:    "another machine starts",
			from:    Build(twoApps, []Machine{mA}, State{}, now),
			to:      Build(twoApps, []Machine{mA, mB}, State{}, now),
			redrawn: footer,
			adds:    3 + 4,
		},
		{
			name: "a machine ends",
			from: Build(twoApps, []Machine{mA, mB}, State{}, now),
			to:   Build(twoApps, []Machine{mB}, State{}, now),
		},
		{
			name:    "the last machine ends",
			from:    Build(twoApps, []Machine{mA}, State{}, now),
			to:      Build(twoApps, nil, State{}, now),
			redrawn: footer,
			adds:    1 + 4, // "Nothing running"
		},
		{
			// Rare: machined tells of machines as they come, but one
			// started before the tray may be seen late.
			name:    "a machine started earlier turns up",
			from:    Build(twoApps, []Machine{mA, mB}, State{}, now),
			to:      Build(twoApps, []Machine{mEarly, mA, mB}, State{}, now),
			redrawn: append([]string{"machine:a-0001", "stop:a-0001", "log:a-0001", "machine:b-0001", "stop:b-0001", "log:b-0001"}, footer...),
			adds:    9 + 4,
		},
		{
			name: "time passes, autostart changes",
			from: Build(twoApps, []Machine{mA}, State{}, now),
			to:   Build(twoApps, []Machine{mA}, State{Autostart: true}, now.Add(time.Hour)),
		},
		{
			name: "an app goes",
			from: Build(twoApps, []Machine{mA}, State{}, now),
			to:   Build(twoApps[1:], []Machine{mA}, State{}, now),
		},
		{
			name: "an app is added last",
			from: Build(twoApps, []Machine{mA}, State{}, now),
			to:   Build(append(twoApps, App{ID: "zed", Name: "Zed"}), []Machine{mA}, State{}, now),
			redrawn: append([]string{"apps-end", "running", "machine:a-0001", "stop:a-0001", "log:a-0001"},
				footer...),
			adds: 1 + 2 + 3 + 4,
		},
		{
			name: "a warning comes",
			from: Build(twoApps, nil, State{}, now),
			to:   Build(twoApps, nil, State{Auth: AuthChallenge}, now),
			redrawn: append([]string{"launch:firefox", "launch:xeyes", "apps-end", "running", "nothing-running"},
				footer...),
			adds: 1 + 2 + 3 + 4,
		},
		{
			name: "a warning changes",
			from: Build(twoApps, nil, State{Auth: AuthChallenge}, now),
			to:   Build(twoApps, nil, State{Auth: AuthNo}, now),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTreeEnv()
			e.show(t, tc.from)
			before := e.ui.ids()
			adds, _ := e.ui.counts()
			e.show(t, tc.to)
			after := e.ui.ids()
			var redrawn []string
			for k, id := range after {
				if old, ok := before[k]; ok && old != id {
					redrawn = append(redrawn, k)
				}
			}
			slices.Sort(redrawn)
			want := slices.Sorted(slices.Values(tc.redrawn))
			if !slices.Equal(redrawn, want) {
				t.Errorf("drawn again: %q, want %q", redrawn, want)
			}
			if n, _ := e.ui.counts(); n-adds != tc.adds {
				t.Errorf("%d entries added, want %d", n-adds, tc.adds)
			}
			// Every id from before still does what it did or, for an
			// action that is gone, nothing.
			was, is := map[string]bool{}, map[string]bool{}
			actions(tc.from, was)
			actions(tc.to, is)
			for k, id := range before {
				if !was[k] {
					continue
				}
				reached := e.ui.clickID(id)
				switch {
				case is[k] && (!reached || e.lastClick() != k):
					t.Errorf("a click on the old id %d of %s reached %q", id, k, e.lastClick())
				case !is[k] && reached:
					t.Errorf("a click on the old id %d of %s, gone, reached %q", id, k, e.lastClick())
				}
			}
		})
	}
}

// An entry drawn again elsewhere keeps acting on clicks by its old id for
// a while, out of sight; then it goes.
func TestMenuTreeRetiresEntriesDrawnAgain(t *testing.T) {
	e := newTreeEnv()
	e.show(t, Build(twoApps, nil, State{}, now))
	old := e.ui.ids()
	entries := e.ui.entries()
	e.show(t, Build(twoApps, []Machine{mA}, State{}, now))
	// "Nothing running" went, the machine came; the footer is there
	// twice, but for its separator.
	if n, want := e.ui.entries(), entries-1+3+4-1; n != want {
		t.Errorf("%d entries, want %d", n, want)
	}
	for _, id := range []string{"quit", "sync", "autostart"} {
		if !e.ui.clickID(old[id]) || e.lastClick() != id {
			t.Errorf("the old %s (%d) reached %q", id, old[id], e.lastClick())
		}
	}

	e.clock = e.clock.Add(retireFor - time.Second)
	e.show(t, Build(twoApps, []Machine{mA}, State{}, now))
	if !e.ui.clickID(old["quit"]) {
		t.Errorf("the old quit is gone before %v", retireFor)
	}
	e.clock = e.clock.Add(time.Second)
	e.show(t, Build(twoApps, []Machine{mA}, State{}, now))
	if e.ui.clickID(old["quit"]) {
		t.Errorf("the old quit still acts after %v", retireFor)
	}
	if n, want := e.ui.entries(), entries-1+3+4-1-3; n != want {
		t.Errorf("%d entries, want %d", n, want)
	}
}

// A retired entry keeps only what still acts: a submenu of apps drawn
// again elsewhere keeps the apps still defined, and goes when none is left.
func TestMenuTreeRetiredEntriesKeepOnlyLiveActions(t *testing.T) {
	var apps []App
	for i := range 14 {
		apps = append(apps, App{ID: fmt.Sprintf("a%02d", i), Name: fmt.Sprintf("A%02d", i), Category: "Game"})
	}
	e := newTreeEnv()
	e.show(t, Build(apps, []Machine{mA}, State{}, now))
	old := e.ui.ids()
	// Twelve: at the top level, the Games submenu drawn no more.
	e.show(t, Build(apps[:12], []Machine{mA}, State{}, now))
	if !e.ui.clickID(old["launch:a00"]) || e.lastClick() != "launch:a00" {
		t.Errorf("the old a00 (%d) reached %q", old["launch:a00"], e.lastClick())
	}
	for _, id := range []string{"launch:a12", "launch:a13"} {
		if e.ui.clickID(old[id]) {
			t.Errorf("the old %s acts, gone", id)
		}
	}
	if e.ui.clickID(old["cat:Game"]) {
		t.Error("the old Games submenu acts")
	}
	e.ui.mu.Lock()
	games := e.ui.byID[old["cat:Game"]]
	var labels []string
	for _, k := range games.kids {
		labels = append(labels, k.item.Label)
	}
	e.ui.mu.Unlock()
	if !games.hidden || len(labels) != 12 || labels[0] != "A00" || labels[11] != "A11" {
		t.Errorf("the old Games submenu: hidden %v, entries %q", games.hidden, labels)
	}
	// Less again: the retired submenu keeps fewer; none, and it goes.
	e.show(t, Build(apps[:2], []Machine{mA}, State{}, now))
	if e.ui.clickID(old["launch:a05"]) || !e.ui.clickID(old["launch:a01"]) {
		t.Error("the old submenu does not follow the apps")
	}
	e.show(t, Build(nil, []Machine{mA}, State{}, now))
	e.ui.mu.Lock()
	_, there := e.ui.byID[old["cat:Game"]]
	e.ui.mu.Unlock()
	if there {
		t.Error("the old submenu stays with no app left")
	}
}

// An entry is changed in place only when it looks different.
func TestMenuTreeSetsOnlyWhatChanged(t *testing.T) {
	e := newTreeEnv()
	menu := Build(twoApps, []Machine{mA, mB}, State{}, now)
	e.show(t, menu)
	adds, sets := e.ui.counts()
	e.show(t, Build(twoApps, []Machine{mA, mB}, State{}, now))
	if a, s := e.ui.counts(); a != adds || s != sets {
		t.Errorf("the same menu again: %d adds, %d sets", a-adds, s-sets)
	}
	// An hour later: the two machines' labels.
	e.show(t, Build(twoApps, []Machine{mA, mB}, State{}, now.Add(time.Hour)))
	if a, s := e.ui.counts(); a != adds || s != sets+2 {
		t.Errorf("an hour later: %d adds, %d sets; want 0, 2", a-adds, s-sets)
	}
}

// The shells cannot turn one kind of entry into another: such an entry is
// drawn anew.
func TestMenuTreeRedrawsAnEntryOfAnotherKind(t *testing.T) {
	sub := []Item{{ID: "x:1", Label: "one"}}
	for _, tc := range []struct {
		name     string
		from, to Item
	}{
		{"item to submenu", Item{Key: "k", Label: "K"}, Item{Key: "k", Label: "K", Children: sub}},
		{"submenu to item", Item{Key: "k", Label: "K", Children: sub}, Item{Key: "k", Label: "K"}},
		{"item to checkbox", Item{Key: "k", Label: "K"}, Item{Key: "k", Label: "K", Checkbox: true}},
		{"label to separator", Item{Key: "k", Label: "K"}, Item{Key: "k", Separator: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTreeEnv()
			first := Item{ID: "first", Label: "First"}
			e.show(t, []Item{first, tc.from, {ID: "quit", Label: "Quit"}})
			before := e.ui.ids()
			e.show(t, []Item{first, tc.to, {ID: "quit", Label: "Quit"}})
			after := e.ui.ids()
			if before["first"] != after["first"] || before["k"] == after["k"] || before["quit"] == after["quit"] {
				t.Errorf("ids before %v, after %v: want first's kept, k's and quit's new", before, after)
			}
		})
	}
}

// Build makes no two entries of one key; should a menu have them, each is
// drawn all the same.
func TestMenuTreeTakesDuplicateKeys(t *testing.T) {
	e := newTreeEnv()
	a := []Item{{Key: "k", Label: "one"}, {Key: "k", Label: "two"}, {Label: "no key"}, {Label: "no key"}}
	e.show(t, a)
	e.show(t, append(a, Item{ID: "quit", Label: "Quit"}))
	e.show(t, a[1:])
}

// Whatever the menus, the panel shows the last one, every entry shown
// acts as its item says, and every id a panel was shown either acts as it
// did or, when its action is gone, not at all.
func TestMenuTreeRandomMenus(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	e := newTreeEnv()
	acted := map[int]string{}    // every id shown with an action, and the action
	shown := map[int]time.Time{} // when each was last shown
	for step := range 300 {
		var apps []App
		for i := range rng.IntN(16) {
			apps = append(apps, App{ID: fmt.Sprintf("a%d", rng.IntN(20)+i*20), Name: fmt.Sprintf("App %d", rng.IntN(30)),
				Category: []string{"", "Game", "Office", "Development"}[rng.IntN(4)]})
		}
		var machines []Machine
		for i := range rng.IntN(5) {
			machines = append(machines, Machine{Name: fmt.Sprintf("m%d", rng.IntN(8)+i*8), App: []string{"", "a1"}[rng.IntN(2)],
				Since: ago(time.Duration(rng.IntN(10)) * time.Minute)})
		}
		st := State{Daemon: Daemon(rng.IntN(2)), Auth: Auth(rng.IntN(3)), Autostart: rng.IntN(2) == 0}
		e.clock = e.clock.Add(time.Duration(rng.IntN(20)) * time.Second)
		items := Build(apps, machines, st, now.Add(time.Duration(step)*time.Minute))
		e.show(t, items)
		if t.Failed() {
			t.Fatalf("step %d", step)
		}
		alive := map[string]bool{}
		actions(items, alive)
		for id, act := range acted {
			reached := e.ui.clickID(id)
			switch {
			case reached && e.lastClick() != act:
				t.Fatalf("step %d: the id %d of %s reached %s", step, id, act, e.lastClick())
			case !reached && alive[act] && e.clock.Sub(shown[id]) < retireFor:
				t.Fatalf("step %d: the id %d of %s, still in the menu, acts no more", step, id, act)
			case !reached:
				delete(acted, id)
			}
		}
		for k, id := range e.ui.ids() {
			if alive[k] {
				acted[id] = k
				shown[id] = e.clock
			}
		}
	}
	if adds, _ := e.ui.counts(); adds > 300*30 {
		t.Errorf("%d entries added for 300 menus", adds)
	}
}
