package icons

import _ "embed"

// Tray icons: a container box, grey when nothing runs and green when
// something does, as PNGs because StatusNotifierItem hosts want pixels
// (IconPixmap) and the project's own icon is an SVG. They are drawn by
// trayPNG (tray_test.go), which checks these files against the drawing
// (go test ./icons -update writes them): encoding them at run time
// allocated 1.7 MB of zlib state and took 0.5 to 3 ms of every start of the
// binary, and the tray's icon registered that much later.
var (
	//go:embed tray-idle.png
	trayIdle []byte
	//go:embed tray-running.png
	trayRunning []byte
)

// TrayIdle is the tray's icon while nothing runs.
func TrayIdle() []byte { return trayIdle }

// TrayRunning is the tray's icon while a machine runs.
func TrayRunning() []byte { return trayRunning }
