package tray

import (
	"bytes"
	"context"
	"strings"

	"fyne.io/systray"
)

// shell is what shows the tray on the desktop: fyne.io/systray
// (systrayShell). Everything else in the tray only builds Items and acts on
// their IDs, so it runs without systray's process-wide state.
type shell interface {
	// run shows the item until quit. onReady runs in a goroutine of its
	// own; onOpen runs each time the user opens the menu (when the panel
	// says so); onExit runs before run returns.
	run(onReady, onOpen, onExit func())
	quit()
	setTitle(title string)
	setIcon(icon []byte, tooltip string)
	// add appends it (not its Children) at the end of parent's entries,
	// of the top level for a nil parent, and returns the entry. click, if
	// not nil, runs on each click on the entry, in a goroutine of its own.
	// A shell's menu only grows at the end: menuTree draws on it.
	add(parent menuItem, it Item, click func()) menuItem
}

// systrayShell is the StatusNotifierItem with its com.canonical.dbusmenu
// menu, on dbus.SessionBus(). systray is global state: one per process.
type systrayShell struct{}

func (*systrayShell) quit()                 { systray.Quit() }
func (*systrayShell) setTitle(title string) { systray.SetTitle(title) }

func (*systrayShell) setIcon(icon []byte, tooltip string) {
	systray.SetIcon(icon)
	systray.SetTooltip(tooltip)
}

func (*systrayShell) run(onReady, onOpen, onExit func()) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// systray drops the news when no one waits for it.
		for {
			select {
			case <-ctx.Done():
				return
			case <-systray.TrayOpenedCh:
				onOpen()
			}
		}
	}()
	systray.Run(onReady, func() {
		cancel()
		onExit()
	})
}

func (s *systrayShell) add(parent menuItem, it Item, click func()) menuItem {
	var p *systray.MenuItem
	if parent != nil {
		p = parent.(*sysEntry).mi
	}
	if it.Separator {
		// AddSeparatorItem is our patch of systray (third_party): a
		// separator that can be removed when the entries around it are
		// redrawn.
		if p == nil {
			return &sysEntry{it: it, mi: systray.AddSeparatorItem()}
		}
		return &sysEntry{it: it, mi: p.AddSeparatorItem()}
	}
	label := mnemonicSafe(it.Label)
	var mi *systray.MenuItem
	switch {
	case p == nil && it.Checkbox:
		mi = systray.AddMenuItemCheckbox(label, it.Tooltip, it.Checked)
	case p == nil:
		mi = systray.AddMenuItem(label, it.Tooltip)
	case it.Checkbox:
		mi = p.AddSubMenuItemCheckbox(label, it.Tooltip, it.Checked)
	default:
		mi = p.AddSubMenuItem(label, it.Tooltip)
	}
	if it.Disabled {
		mi.Disable()
	}
	if it.Icon != nil {
		mi.SetIcon(it.Icon)
	}
	if click != nil {
		go func(ch chan struct{}) {
			// Remove closes the channel: a closed channel would fire
			// forever.
			for range ch {
				// Act in the background: the library drops clicks that
				// arrive while a handler is busy.
				go click()
			}
		}(mi.ClickedCh)
	}
	return &sysEntry{it: it, mi: mi}
}

// sysEntry is a systray entry.
type sysEntry struct {
	it Item // as drawn
	mi *systray.MenuItem
}

func (e *sysEntry) set(it Item) {
	if e.it.Separator {
		return
	}
	if it.Label != e.it.Label {
		e.mi.SetTitle(mnemonicSafe(it.Label))
	}
	if it.Tooltip != e.it.Tooltip {
		e.mi.SetTooltip(it.Tooltip)
	}
	if it.Disabled != e.it.Disabled {
		if it.Disabled {
			e.mi.Disable()
		} else {
			e.mi.Enable()
		}
	}
	if !bytes.Equal(it.Icon, e.it.Icon) {
		e.mi.SetIcon(it.Icon)
	}
	if it.Checked != e.it.Checked {
		if it.Checked {
			e.mi.Check()
		} else {
			e.mi.Uncheck()
		}
	}
	e.it = it
}

func (e *sysEntry) hide() { e.mi.Hide() }

func (e *sysEntry) remove() { e.mi.Remove() }

// mnemonicSafe escapes label for dbusmenu, where "_" marks the next
// letter as the access key and "__" is an underscore.
func mnemonicSafe(label string) string { return strings.ReplaceAll(label, "_", "__") }
