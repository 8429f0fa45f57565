module github.com/nspawn-tray/nspawn-tray

go 1.26.8

require (
	github.com/BurntSushi/toml v1.6.0
	golang.org/x/sys v0.50.0
)

require (
	fyne.io/systray v1.12.2 // indirect
	github.com/adrg/xdg v0.5.3 // indirect
	github.com/godbus/dbus/v5 v5.2.4 // indirect
)
