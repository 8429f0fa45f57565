// Command baretray is the benchmark baseline for the tray: a fyne.io/systray
// item with one menu entry and nothing else.
package main

import (
	"fyne.io/systray"

	"github.com/nspawn-tray/nspawn-tray/icons"
)

func main() {
	systray.Run(func() {
		systray.SetIcon(icons.TrayIdle())
		systray.AddMenuItem("Quit", "")
	}, nil)
}
