package tray

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/prop"

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
	Toggle   string // "checkmark" for a checkbox
	Checked  bool
	Sep      bool
	Children []node
}

func (n node) find(label string) (node, bool) {
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

func (n node) String() string {
	var b strings.Builder
	var walk func(node, string)
	walk = func(n node, indent string) {
		switch {
		case n.Sep:
			b.WriteString(indent + "----\n")
		default:
			fmt.Fprintf(&b, "%s%d %q enabled=%v toggle=%q checked=%v\n", indent, n.ID, n.Label, n.Enabled, n.Toggle, n.Checked)
		}
		for _, c := range n.Children {
			walk(c, indent+"  ")
		}
	}
	walk(n, "")
	return b.String()
}

func parseNode(id int32, props map[string]dbus.Variant, kids []dbus.Variant) (node, error) {
	n := node{ID: id, Enabled: true}
	n.Label, _ = props["label"].Value().(string)
	if e, ok := props["enabled"].Value().(bool); ok {
		n.Enabled = e
	}
	n.Toggle, _ = props["toggle-type"].Value().(string)
	if s, ok := props["toggle-state"].Value().(int32); ok {
		n.Checked = s == 1
	}
	typ, _ := props["type"].Value().(string)
	n.Sep = typ == "separator"
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
	// click sends one click and waits for its effect: systray drops a
	// click that comes while the item's handler is busy.
	click := func(n node, effect func() string) {
		t.Helper()
		if err := panel.Object(name, menuObject).Call(dbusmenuIf+".Event", 0, n.ID, clickedEvent, dbus.MakeVariant(int32(0)), uint32(0)).Err; err != nil {
			t.Fatalf("click on %q: %v", n.Label, err)
		}
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

	m := menu("XEyes", "Nothing running", "Start on login", "Refresh desktop entries", "Quit")
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
	if a, _ := m.find("Start on login"); a.Toggle != "checkmark" || a.Checked {
		t.Errorf("Start on login: %+v", a)
	}
	seps := 0
	for _, c := range m.Children {
		if c.Sep {
			seps++
		}
	}
	if seps != 2 {
		t.Errorf("%d separators, want 2:\n%s", seps, m)
	}
	// No complaint about a missing host: the watcher is there.
	if n := e.log.count("no StatusNotifierItem host"); n != 0 {
		t.Errorf("the tray missed the watcher")
	}

	// Our instance turns up with a submenu, and the icon turns green.
	e.launcher.SetInstances([]launcher.Instance{{Machine: "xeyes-0001", App: "xeyes", Since: launcher.Now()}})
	e.machined.Add(bustest.Machine{Name: "xeyes-0001"})
	m = menu("^XEyes — ", "Stop", "Show recent log")
	eventually(t, func() string {
		if tip := tooltip(); tip != "Container apps: 1 running" || !iconHas(green) {
			return fmt.Sprintf("tooltip %q, green icon %v", tip, iconHas(green))
		}
		return ""
	})

	x, _ := m.find("XEyes")
	click(x, func() string {
		if l := e.calls("Launch"); len(l) != 1 || l[0].Arg != "xeyes" || !l[0].Interactive {
			return fmt.Sprintf("Launch calls %+v, want one, interactive, of xeyes", l)
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
	m = menu("Nothing running")
	eventually(t, func() string {
		if tip := tooltip(); tip != "Container apps: nothing running" || !iconHas(grey) {
			return fmt.Sprintf("tooltip %q, grey icon %v", tip, iconHas(grey))
		}
		return ""
	})

	quit, _ := m.find("Quit")
	click(quit, func() string {
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
