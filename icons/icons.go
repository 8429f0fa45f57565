// Package icons holds the artwork built into the binary, so the tray can
// show its icon even before (or without) the package's icon theme files
// being installed.
package icons

import _ "embed"

// SVG is the nspawn-tray application icon, the same file that is installed
// into the hicolor theme.
//
//go:embed nspawn-tray.svg
var SVG []byte
