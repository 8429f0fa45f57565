// Command nspawn-tray runs desktop apps that live in systemd-nspawn
// containers. This file only wires logging, the version and the privileged
// commands into package cli.
package main

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/nspawn-tray/nspawn-tray/cli"
	"github.com/nspawn-tray/nspawn-tray/rootcmd"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(commandLine(os.Args), os.Getenv, os.Stdout, os.Stderr))
}

// commandLine is the command line the program runs for argv: run as
// xdg-open (bound as /usr/local/bin/xdg-open in containers, see cli's
// xdg-open), it is that command.
func commandLine(argv []string) []string {
	if len(argv) == 0 {
		return nil
	}
	if filepath.Base(argv[0]) == "xdg-open" {
		return append([]string{"xdg-open"}, argv[1:]...)
	}
	return argv[1:]
}

// run is main without the process: the log level from NSPAWN_TRAY_LOG
// (--log-level overrides it), then the command line.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	var level slog.LevelVar
	slog.SetDefault(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: &level})))
	if s := getenv("NSPAWN_TRAY_LOG"); s != "" {
		if err := level.UnmarshalText([]byte(s)); err != nil {
			slog.Warn("ignoring NSPAWN_TRAY_LOG", "value", s, "err", err)
		}
	}
	return cli.Program{Version: version, LogLevel: &level, Extra: rootcmd.Commands()}.Run(args, stdout, stderr)
}
