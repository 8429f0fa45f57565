package main

import (
	"bytes"
	"encoding/xml"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nspawn-tray/nspawn-tray/launcher"
)

// TestInstallUninstall checks that uninstall removes every file install
// put down, which is what keeping one file list in the Makefile is for.
func TestInstallUninstall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not installed")
	}
	dest := t.TempDir()
	runMake := func(target string) {
		t.Helper()
		cmd := exec.Command("make", target, "DESTDIR="+dest)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make %s: %v\n%s", target, err, out)
		}
	}

	runMake("install")
	for _, p := range []string{
		"usr/local/bin/nspawn-tray",
		"usr/local/lib/sysusers.d/nspawn-tray.conf",
		"usr/local/share/applications/nspawn-tray.desktop",
		"usr/local/share/dbus-1/system-services/io.github.nspawn_tray.Launcher1.service",
		"usr/local/share/dbus-1/system.d/io.github.nspawn_tray.Launcher1.conf",
		"usr/local/lib/systemd/system/nspawn-tray-daemon.service",
		"usr/local/share/polkit-1/actions/io.github.nspawn-tray.policy",
		"usr/local/share/polkit-1/rules.d/50-nspawn-tray.rules",
		"usr/local/share/icons/hicolor/scalable/apps/nspawn-tray.svg",
		"usr/local/share/man/man1/nspawn-tray.1",
		"usr/local/share/man/man5/nspawn-tray.apps.d.5",
		"usr/local/share/bash-completion/completions/nspawn-tray",
		"usr/local/share/zsh/site-functions/_nspawn-tray",
		"usr/local/share/fish/vendor_completions.d/nspawn-tray.fish",
	} {
		if fi, err := os.Stat(filepath.Join(dest, p)); err != nil || !fi.Mode().IsRegular() {
			t.Errorf("install did not create %s: %v", p, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(dest, "etc/nspawn-tray/apps.d")); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o755 {
		t.Errorf("apps.d not created with mode 0755: %v %v", fi, err)
	}

	// An admin's definition must survive uninstall.
	def := filepath.Join(dest, "etc/nspawn-tray/apps.d/mine.toml")
	if err := os.WriteFile(def, []byte("name = \"x\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	runMake("uninstall")
	err := filepath.WalkDir(dest, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && p != def {
			t.Errorf("uninstall left %s", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(def); err != nil {
		t.Errorf("uninstall removed the admin's app definition: %v", err)
	}
}

// The packaged desktop entry of the tray and the polkit policy are valid
// for the tools that read them.
func TestPackagingValid(t *testing.T) {
	if _, err := exec.LookPath("desktop-file-validate"); err != nil {
		t.Skip("desktop-file-validate not installed")
	}
	dest := t.TempDir()
	if out, err := exec.Command("make", "install", "DESTDIR="+dest, "PREFIX=/usr").CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	entry := filepath.Join(dest, "usr/share/applications/nspawn-tray.desktop")
	if out, err := exec.Command("desktop-file-validate", entry).CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("desktop-file-validate: %v\n%s", err, out)
	}
	data, err := os.ReadFile(entry)
	if err != nil || !strings.Contains(string(data), "Exec=/usr/bin/nspawn-tray tray\n") {
		t.Errorf("the tray entry does not run /usr/bin/nspawn-tray tray:\n%s", data)
	}
	unit, _ := os.ReadFile(filepath.Join(dest, "usr/lib/systemd/system/nspawn-tray-daemon.service"))
	if !strings.Contains(string(unit), "ExecStart=/usr/bin/nspawn-tray daemon\n") || !strings.Contains(string(unit), "Type=dbus\n") {
		t.Errorf("daemon unit:\n%s", unit)
	}
}

// runMain is run with env as the environment, restoring the default logger
// run replaces.
func runMain(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr *bytes.Buffer) {
	t.Helper()
	old := slog.Default()
	t.Cleanup(func() { slog.SetDefault(old) })
	stdout, stderr = &bytes.Buffer{}, &bytes.Buffer{}
	code = run(args, func(k string) string { return env[k] }, stdout, stderr)
	return code, stdout, stderr
}

func TestRunHelp(t *testing.T) {
	code, stdout, stderr := runMain(t, nil, "--help")
	if code != 0 || !strings.HasPrefix(stdout.String(), "Usage: nspawn-tray [OPTIONS] COMMAND [ARGS]\n") || stderr.Len() != 0 {
		t.Fatalf("--help: code %d, stderr %q, stdout:\n%s", code, stderr, stdout)
	}
	// The privileged commands are there, the internal steps unlisted.
	help := stdout.String()
	if !strings.Contains(help, "\n  daemon     Run the privileged launcher service (started by D-Bus)\n") {
		t.Errorf("--help does not list daemon:\n%s", help)
	}
	for _, hidden := range []string{"exec-as", "cleanup-instance"} {
		if strings.Contains(help, hidden) {
			t.Errorf("--help lists %s:\n%s", hidden, help)
		}
	}
	for _, cmd := range []string{"daemon", "exec-as", "cleanup-instance"} {
		code, stdout, stderr := runMain(t, nil, cmd, "--help")
		if code != 0 || !strings.HasPrefix(stdout.String(), "Usage: nspawn-tray "+cmd) || stderr.Len() != 0 {
			t.Errorf("%s --help: code %d, stdout %q, stderr %q", cmd, code, stdout, stderr)
		}
	}
}

func TestRunVersion(t *testing.T) {
	code, stdout, stderr := runMain(t, nil, "version")
	if code != 0 || stdout.String() != "nspawn-tray dev\n" || stderr.Len() != 0 {
		t.Errorf("version: code %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestRunUsageError(t *testing.T) {
	code, stdout, stderr := runMain(t, nil, "frobnicate")
	if want := "nspawn-tray: unknown command \"frobnicate\" (see 'nspawn-tray --help')\n"; code != 2 || stdout.Len() != 0 || stderr.String() != want {
		t.Errorf("code %d, stdout %q, stderr %q; want 2 and %q", code, stdout, stderr, want)
	}
}

// The logger run sets up writes to stderr at the level NSPAWN_TRAY_LOG
// asks, and --log-level overrides that.
func TestRunLogLevel(t *testing.T) {
	for _, tc := range []struct {
		name      string
		env       string
		args      []string
		debug     bool
		infoShown bool
	}{
		{"default is info", "", nil, false, true},
		{"NSPAWN_TRAY_LOG=debug", "debug", nil, true, true},
		{"NSPAWN_TRAY_LOG=error", "error", nil, false, false},
		{"NSPAWN_TRAY_LOG=WARN is case-insensitive", "WARN", nil, false, false},
		{"--log-level overrides it", "debug", []string{"--log-level", "error"}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runMain(t, map[string]string{"NSPAWN_TRAY_LOG": tc.env}, append(tc.args, "version")...)
			if code != 0 || stdout.String() != "nspawn-tray dev\n" || stderr.Len() != 0 {
				t.Fatalf("code %d, stdout %q, stderr %q", code, stdout, stderr)
			}
			slog.Debug("a debug line")
			slog.Info("an info line")
			log := stderr.String()
			if got := strings.Contains(log, `level=DEBUG msg="a debug line"`); got != tc.debug {
				t.Errorf("debug logged: %v, want %v:\n%s", got, tc.debug, log)
			}
			if got := strings.Contains(log, `level=INFO msg="an info line"`); got != tc.infoShown {
				t.Errorf("info logged: %v, want %v:\n%s", got, tc.infoShown, log)
			}
		})
	}
}

// A bad NSPAWN_TRAY_LOG is a warning, not a failure: it may be set in a
// session for every command.
func TestRunBadLogEnv(t *testing.T) {
	code, stdout, stderr := runMain(t, map[string]string{"NSPAWN_TRAY_LOG": "loud"}, "version")
	if code != 0 || stdout.String() != "nspawn-tray dev\n" {
		t.Errorf("code %d, stdout %q; want 0 and the version", code, stdout)
	}
	lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], `level=WARN msg="ignoring NSPAWN_TRAY_LOG" value=loud err=`) {
		t.Errorf("stderr %q, want one warning naming the value", stderr)
	}
	slog.Debug("a debug line")
	slog.Info("an info line")
	if log := stderr.String(); strings.Contains(log, "a debug line") || !strings.Contains(log, "an info line") {
		t.Errorf("level after a bad NSPAWN_TRAY_LOG is not info:\n%s", log)
	}
}

// The policy declares exactly the actions the daemon checks: one it checks
// but polkit does not know would always be refused.
func TestPolicyDeclaresEveryAction(t *testing.T) {
	data, err := os.ReadFile("packaging/io.github.nspawn-tray.policy")
	if err != nil {
		t.Fatal(err)
	}
	var policy struct {
		Actions []struct {
			ID string `xml:"id,attr"`
		} `xml:"action"`
	}
	if err := xml.Unmarshal(data, &policy); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range policy.Actions {
		got = append(got, a.ID)
	}
	want := []string{launcher.ActionLaunch, launcher.ActionStopOwn, launcher.ActionStopAny, launcher.ActionManageApps}
	if !slices.Equal(got, want) {
		t.Errorf("policy actions %q, want %q", got, want)
	}
}
