module github.com/nspawn-tray/nspawn-tray

go 1.26.8

require (
	fyne.io/systray v1.12.2
	github.com/BurntSushi/toml v1.6.0
	github.com/adrg/xdg v0.5.3
	github.com/godbus/dbus/v5 v5.2.4
	golang.org/x/sys v0.50.0
)

// A patched copy: godbus 5.2.4 panics on descriptors in containers (a
// remote crash) and leaks descriptors a message's body does not name.
// third_party/godbus-dbus/README.nspawn-tray.md says what and why.
replace github.com/godbus/dbus/v5 => ./third_party/godbus-dbus

// A patched copy: AddSeparator returns nothing to remove the separator by,
// so the tray could not keep its entries' ids while its menu changes.
// third_party/fyne-systray/README.nspawn-tray.md says what and why.
replace fyne.io/systray => ./third_party/fyne-systray
