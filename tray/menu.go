package tray

import (
	"bytes"
	"sync"
	"time"
)

// menuItem is one entry a shell drew: a fyne.io/systray MenuItem, or the
// tests' fake.
type menuItem interface {
	// set makes the entry show it (its label, tooltip, enabled and
	// checked state), an item of the same kind as the one it was added as.
	set(it Item)
	// hide keeps the entry, and its clicks, out of sight.
	hide()
	// remove takes the entry and its children out of the menu for good;
	// a click on any of them from then on is lost.
	remove()
}

// retireFor is how long an entry that had to be drawn again elsewhere
// keeps acting on clicks: a panel may still show it and send its click.
const retireFor = 30 * time.Second

// menuTree draws menus on a shell whose menu only grows at the end of each
// parent's entries, as dbusmenu's is in fyne.io/systray, and keeps each
// entry's dbusmenu id for as long as the entry is in the menus: a panel
// that still shows an older menu sends clicks by the old ids, and they
// must reach the action the user saw.
//
// Entries are matched across menus by their key (Item.key). Of a parent's
// entries, the longest run at the front of the new menu whose keys are
// already there, in that order, stays and is updated in place; the others
// go, and the rest of the new menu is appended. An entry inserted before
// existing ones thus redraws those after it; Build orders entries so that
// this is rare (machines by start time: a new one comes last, before only
// the footer). An entry that had to be drawn again is hidden rather than
// removed, for retireFor or until its action is gone, so a click by its
// old id still acts.
type menuTree struct {
	ui    shell
	click func(id string)
	now   func() time.Time

	mu      sync.Mutex
	top     []*menuNode
	retired []retiree
}

// menuNode is an entry drawn, with its children.
type menuNode struct {
	key   string
	item  Item // as drawn, without Children
	sub   bool // drawn with children
	entry menuItem
	kids  []*menuNode
}

type retiree struct {
	node *menuNode
	at   time.Time
}

func newMenuTree(ui shell, click func(id string)) *menuTree {
	return &menuTree{ui: ui, click: click, now: time.Now}
}

// show makes the menu show items.
func (m *menuTree) show(items []Item) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	alive := map[string]bool{}
	actions(items, alive)
	// Retired entries go after retireFor, or with the last of their
	// actions.
	kept := m.retired[:0]
	for _, r := range m.retired {
		if now.Sub(r.at) >= retireFor || !acts(r.node, alive) {
			r.node.entry.remove()
			continue
		}
		prune(r.node, alive)
		kept = append(kept, r)
	}
	clear(m.retired[len(kept):])
	m.retired = kept
	m.top = m.sync(nil, m.top, items, alive, now)
}

// actions adds the IDs of items and their children to ids.
func actions(items []Item, ids map[string]bool) {
	for _, it := range items {
		if it.ID != "" {
			ids[it.ID] = true
		}
		actions(it.Children, ids)
	}
}

// sync makes parent's entries, cur, show want, and returns them.
func (m *menuTree) sync(parent menuItem, cur []*menuNode, want []Item, alive map[string]bool, now time.Time) []*menuNode {
	at := make(map[string]int, len(cur))
	for i, n := range cur {
		if _, dup := at[n.key]; !dup {
			at[n.key] = i
		}
	}
	// The entries that stay: those of the longest run at the front of want
	// found in cur in the same order, as the same kind of entry.
	var stay []*menuNode
	last := -1
	for _, it := range want {
		i, ok := at[keyOf(it)]
		if !ok || i <= last || !sameKind(cur[i], it) {
			break
		}
		stay = append(stay, cur[i])
		last = i
	}
	staying := make(map[*menuNode]bool, len(stay))
	for _, n := range stay {
		staying[n] = true
	}
	for _, n := range cur {
		if !staying[n] {
			m.drop(n, alive, now)
		}
	}
	out := make([]*menuNode, 0, len(want))
	for i, n := range stay {
		it := want[i]
		if look := bare(it); !sameLook(n.item, look) {
			n.entry.set(look)
			n.item = look
		}
		n.kids = m.sync(n.entry, n.kids, it.Children, alive, now)
		out = append(out, n)
	}
	for _, it := range want[len(stay):] {
		out = append(out, m.add(parent, it))
	}
	return out
}

// add appends it, with its children, to parent's entries.
func (m *menuTree) add(parent menuItem, it Item) *menuNode {
	var click func()
	if id := it.ID; id != "" {
		click = func() { m.click(id) }
	}
	look := bare(it)
	n := &menuNode{key: keyOf(it), item: look, sub: len(it.Children) > 0, entry: m.ui.add(parent, look, click)}
	for _, c := range it.Children {
		n.kids = append(n.kids, m.add(n.entry, c))
	}
	return n
}

// drop takes n out of sight: hidden for a while when an action in it is
// still in the menu (drawn elsewhere), with only such actions left in it;
// removed otherwise.
func (m *menuTree) drop(n *menuNode, alive map[string]bool, now time.Time) {
	if !acts(n, alive) {
		n.entry.remove()
		return
	}
	n.entry.hide()
	prune(n, alive)
	m.retired = append(m.retired, retiree{n, now})
}

// prune removes the entries below n that do none of the actions: a retired
// entry keeps nothing else, so that no hidden entry names an app or a
// machine that is gone (some read layouts without looking at "visible").
func prune(n *menuNode, alive map[string]bool) {
	kids := n.kids[:0]
	for _, c := range n.kids {
		if acts(c, alive) {
			prune(c, alive)
			kids = append(kids, c)
		} else {
			c.entry.remove()
		}
	}
	clear(n.kids[len(kids):])
	n.kids = kids
}

// acts reports whether n or an entry below it does one of the actions.
func acts(n *menuNode, actions map[string]bool) bool {
	if actions[n.item.ID] {
		return true
	}
	for _, c := range n.kids {
		if acts(c, actions) {
			return true
		}
	}
	return false
}

// keyOf is it's key, or for an item Build gave none (there is none) its
// label.
func keyOf(it Item) string {
	if k := it.key(); k != "" {
		return k
	}
	return "label:" + it.Label
}

// sameKind reports whether n can be updated to show it: the shells cannot
// turn an entry into a separator or a checkbox, nor a submenu back into an
// item, and a click on n does n's action.
func sameKind(n *menuNode, it Item) bool {
	return n.item.ID == it.ID && n.item.Separator == it.Separator && n.item.Checkbox == it.Checkbox && n.sub == (len(it.Children) > 0)
}

// sameLook reports whether a and b, both without children, draw the same.
func sameLook(a, b Item) bool {
	return a.Label == b.Label && a.Tooltip == b.Tooltip && a.Disabled == b.Disabled && a.Checked == b.Checked &&
		bytes.Equal(a.Icon, b.Icon)
}

// bare is it without its children.
func bare(it Item) Item {
	it.Children = nil
	return it
}
