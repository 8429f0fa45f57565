package tray

import (
	"bytes"
	"context"
	"fmt"
	"image/color"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/prop"

	"github.com/nspawn-tray/nspawn-tray/autostart"
	"github.com/nspawn-tray/nspawn-tray/internal/bustest"
	"github.com/nspawn-tray/nspawn-tray/launcher"
)

const (
	watcherPath  = dbus.ObjectPath("/StatusNotifierWatcher")
	watcherIf    = "org.kde.StatusNotifierWatcher"
	itemPath     = dbus.ObjectPath("/StatusNotifierItem")
	itemIf       = "org.kde.StatusNotifierItem"
	menuObject   = dbus.ObjectPath("/StatusNotifierItem/menu")
	dbusmenuIf   = "com.canonical.dbusmenu"
	clickedEvent = "clicked"
)

// watcher fakes the panel's org.kde.StatusNotifierWatcher: the items that
// register with it, and a host that is always there.
type watcher struct {
	conn  *dbus.Conn
	props *prop.Properties
	mu    sync.Mutex
	items []string
}

func newWatcher(t *testing.T, conn *dbus.Conn) *watcher {
	t.Helper()
	w := &watcher{conn: conn}
	var err error
	w.props, err = prop.Export(conn, watcherPath, prop.Map{watcherIf: {
		"IsStatusNotifierHostRegistered": {Value: true, Emit: prop.EmitTrue},
		"RegisteredStatusNotifierItems":  {Value: []string{}, Emit: prop.EmitTrue},
		"ProtocolVersion":                {Value: int32(0), Emit: prop.EmitTrue},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.Export(watcherAPI{w}, watcherPath, watcherIf); err != nil {
		t.Fatal(err)
	}
	if r, err := conn.RequestName(watcherIf, dbus.NameFlagDoNotQueue); err != nil || r != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("own %s: %v %v", watcherIf, r, err)
	}
	return w
}

// item is the first registered item as "bus name", "object path".
func (w *watcher) item() (string, dbus.ObjectPath, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.items) == 0 {
		return "", "", false
	}
	name, path, _ := strings.Cut(w.items[0], "/")
	return name, dbus.ObjectPath("/" + path), true
}

type watcherAPI struct{ w *watcher }

// RegisterStatusNotifierItem takes an object path on the caller's
// connection or a bus name, as the KDE watcher does.
func (a watcherAPI) RegisterStatusNotifierItem(sender dbus.Sender, service string) *dbus.Error {
	item := service + string(itemPath)
	if strings.HasPrefix(service, "/") {
		item = string(sender) + service
	}
	a.w.mu.Lock()
	a.w.items = append(a.w.items, item)
	items := append([]string(nil), a.w.items...)
	a.w.mu.Unlock()
	a.w.props.SetMust(watcherIf, "RegisteredStatusNotifierItems", items)
	a.w.conn.Emit(watcherPath, watcherIf+".StatusNotifierItemRegistered", item)
	return nil
}

func (a watcherAPI) RegisterStatusNotifierHost(string) *dbus.Error { return nil }

// node is one com.canonical.dbusmenu layout node.
type node struct {
	ID       int32
	Label    string
	Enabled  bool
	Visible  bool
	Toggle   string // "checkmark" for a checkbox
	Checked  bool
	Sep      bool
	Icon     []byte // icon-data
	Children []node
}

// find is the first node shown with label (a prefix after "^").
func (n node) find(label string) (node, bool) {
	if !n.Visible {
		return node{}, false
	}
	if n.Label == label || strings.HasPrefix(label, "^") && strings.HasPrefix(n.Label, label[1:]) {
		return n, true
	}
	for _, c := range n.Children {
		if f, ok := c.find(label); ok {
			return f, true
		}
	}
	return node{}, false
}

// all are the nodes with label, hidden or not, and the separators for "----".
func (n node) all(label string) []node {
	var out []node
	if n.Label == label && !n.Sep || label == "----" && n.Sep {
		out = append(out, n)
	}
	for _, c := range n.Children {
		out = append(out, c.all(label)...)
	}
	return out
}

func (n node) String() string {
	var b strings.Builder
	var walk func(node, string)
	walk = func(n node, indent string) {
		switch {
		case n.Sep:
			b.WriteString(indent + "----\n")
		default:
			fmt.Fprintf(&b, "%s%d %q enabled=%v visible=%v toggle=%q checked=%v\n", indent, n.ID, n.Label, n.Enabled, n.Visible, n.Toggle, n.Checked)
		}
		for _, c := range n.Children {
			walk(c, indent+"  ")
		}
	}
	walk(n, "")
	return b.String()
}

func parseNode(id int32, props map[string]dbus.Variant, kids []dbus.Variant) (node, error) {
	n := node{ID: id, Enabled: true, Visible: true}
	n.Label, _ = props["label"].Value().(string)
	if e, ok := props["enabled"].Value().(bool); ok {
		n.Enabled = e
	}
	if v, ok := props["visible"].Value().(bool); ok {
		n.Visible = v
	}
	n.Toggle, _ = props["toggle-type"].Value().(string)
	if s, ok := props["toggle-state"].Value().(int32); ok {
		n.Checked = s == 1
	}
	typ, _ := props["type"].Value().(string)
	n.Sep = typ == "separator"
	n.Icon, _ = props["icon-data"].Value().([]byte)
	for _, k := range kids {
		f, ok := k.Value().([]any)
		if !ok || len(f) != 3 {
			return node{}, fmt.Errorf("layout child %v", k)
		}
		cid, _ := f[0].(int32)
		cprops, _ := f[1].(map[string]dbus.Variant)
		ckids, _ := f[2].([]dbus.Variant)
		c, err := parseNode(cid, cprops, ckids)
		if err != nil {
			return node{}, err
		}
		n.Children = append(n.Children, c)
	}
	return n, nil
}

// layout asks the item for its whole menu, as a panel does.
func layout(conn *dbus.Conn, name string) (node, error) {
	var rev uint32
	var root struct {
		ID    int32
		Props map[string]dbus.Variant
		Kids  []dbus.Variant
	}
	err := conn.Object(name, menuObject).Call(dbusmenuIf+".GetLayout", 0, int32(0), int32(-1), []string{}).Store(&rev, &root)
	if err != nil {
		return node{}, err
	}
	return parseNode(root.ID, root.Props, root.Kids)
}

// hasARGB reports whether an IconPixmap holds a pixel of colour rgb.
func hasARGB(pixmaps []struct {
	W, H int32
	Pix  []byte
}, rgb [3]byte) bool {
	px := []byte{0xff, rgb[0], rgb[1], rgb[2]}
	for _, p := range pixmaps {
		for i := 0; i+4 <= len(p.Pix); i += 4 {
			if bytes.Equal(p.Pix[i:i+4], px) {
				return true
			}
		}
	}
	return false
}

var (
	grey  = [3]byte{0x6b, 0x72, 0x80} // icons.TrayIdle
	green = [3]byte{0x16, 0xa3, 0x4a} // icons.TrayRunning
)

// systrayUsed: systray.Run works once per process (its quit channel stays
// closed), so only one test may run the real thing.
var systrayUsed atomic.Bool

// The whole tray as a panel sees it: the item registers with the watcher,
// serves its menu over com.canonical.dbusmenu, turns green while a machine
// runs, and acts on clicks.
func TestSystrayServesMenuIconAndClicks(t *testing.T) {
	if !systrayUsed.CompareAndSwap(false, true) {
		t.Skip("fyne.io/systray runs once per process")
	}
	e := newEnv(t, without{})
	// dbusmenu takes "_" for the mnemonic mark: the label must keep it.
	e.writeApp(t, "myapp", "name = \"My_App\"\nimage = \"probe\"\nexec = [\"/bin/true\"]\n")
	var syncs atomic.Int32
	e.opts.Sync = func(context.Context) (string, error) { return fmt.Sprintf("sync %d", syncs.Add(1)), nil }
	// XEyes has an icon synced: its entry carries it as icon-data.
	e.opts.DataHome = filepath.Join(e.tmp, "data")
	xeyesIcon := testPNG(t, 16, color.RGBA{0xd9, 0x46, 0xef, 255})
	installIcon(t, e.opts.DataHome, "xeyes", "16x16", "png", xeyesIcon)
	panel := e.sess.Conn(t)
	w := newWatcher(t, panel)
	e.launch(t, func(ctx context.Context) error { return Run(ctx, e.opts) })

	var name string
	var path dbus.ObjectPath
	eventually(t, func() string {
		var ok bool
		if name, path, ok = w.item(); !ok {
			return "no item registered with the watcher"
		}
		return ""
	})
	if path != itemPath {
		t.Errorf("registered item path %s, want %s", path, itemPath)
	}
	item := panel.Object(name, itemPath)

	// menu waits until the layout has every label (a prefix after "^")
	// and returns it. The first GetLayout after a rebuild is one level
	// deep: asking again gets the rest.
	menu := func(labels ...string) node {
		t.Helper()
		var m node
		eventually(t, func() string {
			var err error
			if m, err = layout(panel, name); err != nil {
				return "GetLayout: " + err.Error()
			}
			for _, l := range labels {
				if _, ok := m.find(l); !ok {
					return fmt.Sprintf("no %q in the menu:\n%s", l, m)
				}
			}
			return ""
		})
		return m
	}
	// until waits until check passes on the layout and returns it.
	until := func(check func(node) string) node {
		t.Helper()
		var m node
		eventually(t, func() string {
			var err error
			if m, err = layout(panel, name); err != nil {
				return "GetLayout: " + err.Error()
			}
			if msg := check(m); msg != "" {
				return msg + " in the menu:\n" + m.String()
			}
			return ""
		})
		return m
	}
	// event sends a dbusmenu event on the entry numbered id.
	event := func(id int32, ev string) {
		t.Helper()
		if err := panel.Object(name, menuObject).Call(dbusmenuIf+".Event", 0, id, ev, dbus.MakeVariant(int32(0)), uint32(0)).Err; err != nil {
			t.Fatalf("%s on %d: %v", ev, id, err)
		}
	}
	// click sends one click and waits for its effect: systray drops a
	// click that comes while the item's handler is busy.
	click := func(n node, effect func() string) {
		t.Helper()
		event(n.ID, clickedEvent)
		eventually(t, effect)
	}
	iconHas := func(rgb [3]byte) bool {
		var px []struct {
			W, H int32
			Pix  []byte
		}
		v, err := item.GetProperty(itemIf + ".IconPixmap")
		return err == nil && v.Store(&px) == nil && hasARGB(px, rgb)
	}
	tooltip := func() string {
		v, err := item.GetProperty(itemIf + ".ToolTip")
		if err != nil {
			return err.Error()
		}
		f, _ := v.Value().([]any)
		if len(f) != 4 {
			return fmt.Sprintf("tooltip %v", v)
		}
		s, _ := f[2].(string)
		return s
	}
	// iconIs waits for the tooltip, then checks the icon. (systray sets
	// the icon, then the tooltip; godbus's prop hands out the icon's
	// pixels while a new icon may overwrite them: no polling of the icon
	// while it changes.)
	iconIs := func(rgb [3]byte, tip string) {
		t.Helper()
		eventually(t, func() string {
			if got := tooltip(); got != tip {
				return fmt.Sprintf("tooltip %q, want %q", got, tip)
			}
			return ""
		})
		if !iconHas(rgb) {
			t.Errorf("with the tooltip %q, the icon lacks %x", tip, rgb)
		}
	}
	// separators checks the menu has its two, and no leftovers.
	separators := func(m node) {
		t.Helper()
		seps, shown := 0, 0
		for _, c := range m.Children {
			if c.Sep {
				seps++
				if c.Visible {
					shown++
				}
			}
		}
		if seps != 2 || shown != 2 || len(m.all("----")) != 2 {
			t.Errorf("%d separators, %d shown, want 2:\n%s", seps, shown, m)
		}
	}

	// fyne.io/systray answers its first GetLayout one level deep, and
	// 150 ms later tells the panel to ask again, from a goroutine that
	// bumps the menu's revision without the lock GetLayout reads it under
	// (the race detector sees it unless a change of the menu comes
	// between). So: the first GetLayout, a change of the menu right away
	// (a machine comes: the icon changes after the menu), another once
	// that goroutine is done (it goes).
	if _, err := layout(panel, name); err != nil {
		t.Fatal(err)
	}
	e.machined.Add(bustest.Machine{Name: "warm-up"})
	eventually(t, func() string {
		if tip := tooltip(); tip != "Container apps: 1 running" {
			return "tooltip " + tip
		}
		return ""
	})
	time.Sleep(300 * time.Millisecond)
	e.machined.Remove("warm-up")
	eventually(t, func() string {
		if tip := tooltip(); tip != "Container apps: nothing running" {
			return "tooltip " + tip
		}
		return ""
	})

	m := menu("XEyes", "My__App", "Nothing running", "Start on login", "Refresh desktop entries", "Quit")
	if v, err := item.GetProperty(itemIf + ".Title"); err != nil || v.Value() != "nspawn-tray" {
		t.Errorf("Title %v, %v", v, err)
	}
	if tip := tooltip(); tip != "Container apps: nothing running" {
		t.Errorf("tooltip %q", tip)
	}
	if !iconHas(grey) || iconHas(green) {
		t.Error("the icon is not the grey one while nothing runs")
	}
	// What the model says reaches the panel: labels are disabled,
	// "Start on login" is a checkmark, separators are separators.
	if apps, _ := m.find("Apps"); apps.Enabled {
		t.Errorf("the Apps header is clickable:\n%s", m)
	}
	if x, _ := m.find("XEyes"); !x.Enabled {
		t.Errorf("XEyes is disabled:\n%s", m)
	}
	if x, _ := m.find("XEyes"); !bytes.Equal(x.Icon, xeyesIcon) {
		t.Errorf("XEyes's icon-data is %d bytes, want its synced icon's %d", len(x.Icon), len(xeyesIcon))
	}
	if a, _ := m.find("My__App"); a.Icon != nil {
		t.Errorf("My_App, without an icon, has %d bytes of icon-data", len(a.Icon))
	}
	if a, _ := m.find("Start on login"); a.Toggle != "checkmark" || a.Checked {
		t.Errorf("Start on login: %+v", a)
	}
	separators(m)
	// No complaint about a missing host: the watcher is there.
	if n := e.log.count("no StatusNotifierItem host"); n != 0 {
		t.Errorf("the tray missed the watcher")
	}

	// Our instance turns up with a submenu, and the icon turns green.
	before := m
	xid := func(m node) int32 { x, _ := m.find("XEyes"); return x.ID }
	e.launcher.SetInstances([]launcher.Instance{{Machine: "xeyes-0001", App: "xeyes", Since: launcher.Now()}})
	e.machined.Add(bustest.Machine{Name: "xeyes-0001"})
	// (The footer comes last in a redraw: with it, the menu is whole.)
	m = menu("^XEyes — ", "Stop", "Show recent log", "Quit")
	iconIs(green, "Container apps: 1 running")
	separators(m)
	// The entries above the machine kept their ids; the footer below was
	// drawn again, its old entries hidden.
	for _, l := range []string{"Apps", "XEyes", "My__App", "Running"} {
		b, _ := before.find(l)
		if a, _ := m.find(l); a.ID != b.ID {
			t.Errorf("%s went from id %d to %d:\n%s", l, b.ID, a.ID, m)
		}
	}
	oldQuit, _ := before.find("Quit")
	if q, _ := m.find("Quit"); q.ID == oldQuit.ID || len(m.all("Quit")) < 2 {
		t.Errorf("Quit was not drawn again below the machine:\n%s", m)
	}

	// A click by the id from before the machine came launches.
	x, _ := before.find("XEyes")
	click(x, func() string {
		if l := e.calls("Launch"); len(l) != 1 || l[0].Arg != "xeyes" || !l[0].Interactive {
			return fmt.Sprintf("Launch calls %+v, want one, interactive, of xeyes", l)
		}
		return ""
	})
	// And on an entry drawn again since: the old one still acts. The sync
	// says what it did, and refreshes the menu with what the daemon says:
	// XEyes cannot launch now.
	e.launcher.SetApps([]launcher.AppStatus{{ID: "xeyes", Name: "XEyes", Problem: "image missing"}})
	refresh, _ := before.find("Refresh desktop entries")
	click(refresh, func() string {
		for _, n := range e.notes.Sent() {
			if n.Summary == "Desktop entries refreshed" && n.Body == "sync 2" {
				return ""
			}
		}
		return fmt.Sprintf("no notification of the sync: %+v", e.notes.Sent())
	})
	m = until(func(m node) string {
		if x, ok := m.find("XEyes (image missing)"); !ok || x.Enabled || x.ID != xid(before) {
			return "XEyes not disabled in place"
		}
		return ""
	})
	e.launcher.SetApps(nil)
	refresh, _ = m.find("Refresh desktop entries")
	event(refresh.ID, clickedEvent)
	until(func(m node) string {
		if x, ok := m.find("XEyes"); !ok || !x.Enabled || x.ID != xid(before) {
			return "XEyes not enabled again in place"
		}
		return ""
	})

	// The autostart entry, changed behind the tray's back, and the menu
	// opened.
	if err := autostart.Set(e.opts.AutostartDir, autostart.TrayFile, autostart.TrayEntry(e.opts.Self)); err != nil {
		t.Fatal(err)
	}
	event(0, "opened")
	until(func(m node) string {
		if a, _ := m.find("Start on login"); !a.Checked {
			return "Start on login not checked"
		}
		return ""
	})
	if err := autostart.Set(e.opts.AutostartDir, autostart.TrayFile, nil); err != nil {
		t.Fatal(err)
	}
	until(func(m node) string {
		if a, _ := m.find("Start on login"); a.Checked {
			return "Start on login checked"
		}
		return ""
	})

	running, _ := m.find("^XEyes — ")
	if len(running.Children) != 2 {
		t.Fatalf("running entry:\n%s", running)
	}
	click(running.Children[0], func() string {
		if s := e.calls("Stop"); len(s) != 1 || s[0].Arg != "xeyes-0001" {
			return fmt.Sprintf("Stop calls %+v, want one of xeyes-0001", s)
		}
		return ""
	})
	// The fake daemon does not end machines: machined does, as the real
	// daemon's stop would make it.
	e.machined.Remove("xeyes-0001")
	m = menu("Nothing running", "Quit")
	iconIs(grey, "Container apps: nothing running")
	separators(m)
	if len(m.all("Stop")) != 0 {
		t.Errorf("the machine's entries stay:\n%s", m)
	}

	// What the tray's menus do not have: checkboxes and separators in a
	// submenu, drawn and taken away. (A shell of its own numbers entries
	// after the tray's, as it would after any other: last, as the tray's
	// shell can no longer tell its separators then.)
	s := &systrayShell{}
	var clicks atomic.Int32
	sub := s.add(nil, Item{Label: "Sub_menu"}, nil)
	box := s.add(sub, Item{ID: "box", Label: "Box", Checkbox: true, Checked: true}, func() { clicks.Add(1) })
	sep := s.add(sub, Item{Separator: true}, nil)
	s.add(sub, Item{Label: "Below"}, nil)
	m = until(func(m node) string {
		sm, ok := m.find("Sub__menu")
		if !ok || len(sm.Children) != 3 || !sm.Children[0].Checked || sm.Children[0].Toggle != "checkmark" || !sm.Children[1].Sep {
			return "no submenu with a checkbox and a separator"
		}
		return ""
	})
	sep.set(Item{Separator: true})
	box.set(Item{ID: "box", Label: "Box_2", Checkbox: true, Tooltip: "tip", Disabled: true})
	sep.remove()
	until(func(m node) string {
		sm, _ := m.find("Sub__menu")
		if len(sm.Children) != 2 || sm.Children[0].Checked || sm.Children[0].Enabled || sm.Children[0].Label != "Box__2" || sm.Children[1].Label != "Below" {
			return "the separator stays, or the checkbox was not updated"
		}
		return ""
	})
	sm, _ := m.find("Sub__menu")
	event(sm.Children[0].ID, clickedEvent)
	eventually(t, func() string {
		if clicks.Load() != 1 {
			return "the click on the checkbox did not arrive"
		}
		return ""
	})
	sub.remove()
	until(func(m node) string {
		if len(m.all("Sub__menu")) != 0 || len(m.all("Box__2")) != 0 {
			return "the submenu stays"
		}
		return ""
	})

	// The tray may end before the reply to the click on Quit is out.
	quit, _ := m.find("Quit")
	panel.Object(name, menuObject).Call(dbusmenuIf+".Event", 0, quit.ID, clickedEvent, dbus.MakeVariant(int32(0)), uint32(0))
	eventually(t, func() string {
		select {
		case <-e.ended:
			return ""
		default:
			return "Run did not end after Quit"
		}
	})
	if err := e.waitEnd(t); err != nil {
		t.Errorf("Run after Quit: %v", err)
	}
}

func TestMnemonicSafe(t *testing.T) {
	for in, want := range map[string]string{"": "", "XEyes": "XEyes", "My_App": "My__App", "__x_": "____x__", "a__b": "a____b"} {
		if got := mnemonicSafe(in); got != want {
			t.Errorf("mnemonicSafe(%q) = %q, want %q", in, got, want)
		}
	}
}
