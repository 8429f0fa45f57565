// Command nspawn-tray runs desktop apps that live in systemd-nspawn
// containers. This file only wires logging and the version into package cli.
package main

import (
	"log/slog"
	"os"

	"github.com/nspawn-tray/nspawn-tray/cli"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	var level slog.LevelVar
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: &level})))
	if s := os.Getenv("NSPAWN_TRAY_LOG"); s != "" {
		if err := level.UnmarshalText([]byte(s)); err != nil {
			slog.Warn("ignoring NSPAWN_TRAY_LOG", "value", s, "err", err)
		}
	}
	os.Exit(cli.Program{Version: version, LogLevel: &level}.Run(os.Args[1:], os.Stdout, os.Stderr))
}
