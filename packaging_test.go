package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/nspawn-tray/nspawn-tray/config"
)

// tomlKeys are the keys a struct of package config reads (its toml tags).
func tomlKeys(v any) []string {
	var keys []string
	t := reflect.TypeOf(v)
	for i := range t.NumField() {
		if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("toml"), ","); tag != "" && tag != "-" {
			keys = append(keys, tag)
		}
	}
	sort.Strings(keys)
	return keys
}

// manKeys are the keys nspawn-tray.apps.d(5) documents, with the default
// each says: every ".TP" entry whose tag is ".B KEY", by section ("KEYS",
// "DAEMON LIMITS"); the entries of [desktop]'s nested list are
// "desktop.KEY".
func manKeys(t *testing.T) map[string]map[string]string {
	t.Helper()
	f, err := os.Open("packaging/nspawn-tray.apps.d.5.in")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]map[string]string{}
	var section, key, parent string
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, ".SH "):
			section = strings.Trim(strings.TrimPrefix(l, ".SH "), `"`)
			out[section] = map[string]string{}
			parent = ""
		case l == ".RS" && key != "":
			parent = key + "."
		case l == ".RE":
			parent = ""
		case l == ".TP" && i+1 < len(lines) && strings.HasPrefix(lines[i+1], ".B "):
			key = strings.Trim(strings.TrimPrefix(lines[i+1], ".B "), "[]")
			out[section][parent+key] = manDefault(lines[i+2:])
		}
	}
	return out
}

// manDefault is the default an entry's text starts with: "required",
// "none", or the value after "Default" (".BR """host""" ." is "host", in
// quotes).
func manDefault(text []string) string {
	switch {
	case len(text) == 0:
		return ""
	case strings.HasPrefix(text[0], "Required."):
		return "required"
	case strings.HasPrefix(text[0], "No default."):
		return "none"
	case text[0] == "Default" && len(text) > 1:
		arg := strings.TrimPrefix(strings.TrimPrefix(text[1], ".BR "), ".B ")
		if strings.HasPrefix(arg, `"`) {
			end := strings.LastIndex(arg, `"`)
			return strings.ReplaceAll(arg[1:end], `""`, `"`)
		}
		v, _, _ := strings.Cut(arg, " ")
		return v
	}
	return ""
}

// readmeKeys are the keys of the README's table under heading, with their
// defaults (the second column, without backticks).
func readmeKeys(t *testing.T, heading string) map[string]string {
	t.Helper()
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("README.md has no heading %q", heading)
	}
	out := map[string]string{}
	row := regexp.MustCompile("^\\| `([^`]+)` \\| ([^|]+) \\|")
	inTable := false
	for _, l := range strings.Split(rest, "\n") {
		if m := row.FindStringSubmatch(l); m != nil {
			out[strings.Trim(m[1], "[]")] = strings.Trim(strings.TrimSpace(m[2]), "`")
			inTable = true
		} else if inTable && !strings.HasPrefix(l, "|") {
			break
		}
	}
	return out
}

func sortedKeys(m map[string]string, prefix string) []string {
	var out []string
	for k := range m {
		if strings.HasPrefix(k, prefix) && !strings.Contains(strings.TrimPrefix(k, prefix), ".") {
			out = append(out, strings.TrimPrefix(k, prefix))
		}
	}
	sort.Strings(out)
	return out
}

// The keys package config reads, the ones nspawn-tray.apps.d(5) documents
// and the ones in the README's tables are the same, with the same
// defaults: a key added to one of them fails here until the others have
// it.
func TestDefinitionKeysAreDocumented(t *testing.T) {
	man := manKeys(t)
	for _, tc := range []struct {
		what, section, prefix, heading string
		config                         []string
	}{
		{"definition keys", "KEYS", "", "## Configuration: app definitions", tomlKeys(config.App{})},
		{"[desktop] keys", "KEYS", "desktop.", "", tomlKeys(config.Desktop{})},
		{"daemon.toml keys", "DAEMON LIMITS", "", "### Limits: `/etc/nspawn-tray/daemon.toml`", tomlKeys(config.Settings{})},
	} {
		inMan := sortedKeys(man[tc.section], tc.prefix)
		if !slices.Equal(inMan, tc.config) {
			t.Errorf("%s: nspawn-tray.apps.d(5) documents %q, package config reads %q", tc.what, inMan, tc.config)
		}
		if tc.heading == "" {
			continue
		}
		readme := readmeKeys(t, tc.heading)
		if inReadme := sortedKeys(readme, ""); !slices.Equal(inReadme, tc.config) {
			t.Errorf("%s: the README's table has %q, package config reads %q", tc.what, inReadme, tc.config)
		}
		for k, def := range readme {
			if m, ok := man[tc.section][k]; ok && m != def {
				t.Errorf("%s: %s's default is %q in the README, %q in nspawn-tray.apps.d(5)", tc.what, k, def, m)
			}
		}
	}
}

// Both manual pages, as make install builds them, render without a
// warning at a terminal's width.
func TestManPagesRender(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	if !haveTool(t, "man") {
		t.Skip("man not installed")
	}
	if out, err := exec.Command("make", "-s", "build/nspawn-tray.1", "build/nspawn-tray.apps.d.5").CombinedOutput(); err != nil {
		t.Fatalf("make: %v\n%s", err, out)
	}
	for page, want := range map[string][]string{
		"build/nspawn-tray.1":        {"NSPAWN-TRAY(1)", "daemon [OPTIONS]", "app add [OPTIONS] IMAGE [DESKTOP-FILE...]", "EXIT STATUS"},
		"build/nspawn-tray.apps.d.5": {"NSPAWN-TRAY.APPS.D(5)", "startup_wm_class", "max_instances_per_user"},
	} {
		cmd := exec.Command("man", "--warnings", "-l", page)
		cmd.Env = append(os.Environ(), "MANWIDTH=80", "MANPAGER=cat", "PAGER=cat")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil || stderr.Len() > 0 {
			t.Errorf("man --warnings -l %s: %v\n%s", page, err, stderr.String())
		}
		for _, w := range want {
			if !strings.Contains(string(out), w) {
				t.Errorf("%s rendered lacks %q", page, w)
			}
		}
	}
}

// installedFiles are the files make install puts down with args, relative
// to DESTDIR, sorted.
func installedFiles(t *testing.T, args ...string) []string {
	t.Helper()
	dest := t.TempDir()
	cmd := exec.Command("make", append([]string{"-s", "install", "DESTDIR=" + dest}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	var files []string
	filepath.WalkDir(dest, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, strings.TrimPrefix(p, dest))
		}
		return err
	})
	sort.Strings(files)
	return files
}

// The .deb holds what make install puts down with PREFIX=/usr, the files
// every Debian package has, and nothing else; lintian (when installed)
// says nothing at its default level, and each override has its reason.
func TestDebPackage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the package")
	}
	if !haveTool(t, "dpkg-deb") {
		t.Skip("dpkg-deb not installed")
	}
	out, err := exec.Command("make", "-s", "deb").Output()
	if err != nil {
		t.Fatalf("make deb: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	deb := lines[len(lines)-1]

	want := installedFiles(t, "PREFIX=/usr", "ZSHCOMPDIR=/usr/share/zsh/vendor-completions")
	for i, f := range want {
		if strings.HasPrefix(f, "/usr/share/man/") {
			want[i] = f + ".gz"
		}
	}
	want = append(want, "/usr/share/doc/nspawn-tray/changelog.gz", "/usr/share/doc/nspawn-tray/copyright",
		"/usr/share/lintian/overrides/nspawn-tray")
	sort.Strings(want)
	listing, err := exec.Command("dpkg-deb", "--fsys-tarfile", deb).Output()
	if err != nil {
		t.Fatal(err)
	}
	tar := exec.Command("tar", "-t")
	tar.Stdin = strings.NewReader(string(listing))
	names, err := tar.Output()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range strings.Split(strings.TrimSpace(string(names)), "\n") {
		if !strings.HasSuffix(n, "/") {
			got = append(got, strings.TrimPrefix(n, "."))
		}
	}
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("the package holds\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(string(names), "./etc/nspawn-tray/apps.d/\n") {
		t.Error("the package lacks the apps.d directory")
	}

	control, err := exec.Command("dpkg-deb", "-f", deb, "Depends", "Recommends").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, dep := range []string{"systemd-container", "dbus", "polkitd", "xdg-dbus-proxy", "pulseaudio"} {
		if !strings.Contains(string(control), dep) {
			t.Errorf("Depends/Recommends lack %s:\n%s", dep, control)
		}
	}
	for _, script := range []string{"postinst", "prerm", "postrm"} {
		if out, err := exec.Command("sh", "-n", filepath.Join("packaging/deb", script)).CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", script, err, out)
		}
	}

	// Every override says why, in the comment lines before it.
	overrides, err := os.ReadFile("packaging/deb/lintian-overrides")
	if err != nil {
		t.Fatal(err)
	}
	reason := false
	for _, l := range strings.Split(string(overrides), "\n") {
		switch {
		case strings.HasPrefix(l, "#"):
			reason = true
		case strings.TrimSpace(l) == "":
			reason = false
		case !reason:
			t.Errorf("lintian override without a reason: %s", l)
		}
	}
	if !haveTool(t, "lintian") {
		t.Log("lintian not installed: not run")
		return
	}
	lint := exec.Command("lintian", deb)
	var stdout strings.Builder
	lint.Stdout = &stdout
	if err := lint.Run(); err != nil || stdout.Len() > 0 {
		t.Errorf("lintian %s: %v\n%s", deb, err, stdout.String())
	}
}

// The RPM holds what make install puts down with PREFIX=/usr (its manual
// pages gzip-ed by rpmbuild), and rpmlint (when installed) finds nothing
// its configuration does not explain.
func TestRpmPackage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the package")
	}
	if !haveTool(t, "rpmbuild") {
		t.Skip("rpmbuild not installed")
	}
	out, err := exec.Command("make", "-s", "rpm").Output()
	if err != nil {
		t.Fatalf("make rpm: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	rpm := lines[len(lines)-1]
	want := installedFiles(t, "PREFIX=/usr")
	for i, f := range want {
		if strings.HasPrefix(f, "/usr/share/man/") {
			want[i] = f + ".gz"
		}
	}
	want = append(want, "/etc/nspawn-tray", "/etc/nspawn-tray/apps.d")
	sort.Strings(want)
	list, err := exec.Command("rpm", "-qlp", rpm).Output()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSpace(string(list)), "\n")
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("the RPM holds\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !haveTool(t, "rpmlint") {
		t.Log("rpmlint not installed: not run")
		return
	}
	lint, err := exec.Command("rpmlint", "-c", "packaging/rpm/rpmlint.toml", rpm).CombinedOutput()
	if err != nil || !strings.Contains(string(lint), "0 errors, 0 warnings") {
		t.Errorf("rpmlint: %v\n%s", err, lint)
	}
}

// The completion scripts are valid in their shells (the e2e tests run them).
func TestCompletionScriptsParse(t *testing.T) {
	for shell, script := range map[string]string{
		"bash": "packaging/completions/nspawn-tray.bash",
		"zsh":  "packaging/completions/_nspawn-tray",
		"fish": "packaging/completions/nspawn-tray.fish",
	} {
		if !haveTool(t, shell) {
			t.Logf("%s not installed: %s not checked", shell, script)
			continue
		}
		if out, err := exec.Command(shell, "-n", script).CombinedOutput(); err != nil {
			t.Errorf("%s -n %s: %v\n%s", shell, script, err, out)
		}
	}
}

// haveTool reports whether name is installed. Where CI is set (.ci/run,
// whose testhost/host-deps installs them all) a missing one is an error:
// there, a check that did not run must not pass for one that did.
func haveTool(t *testing.T, name string) bool {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") != "" {
			t.Errorf("%s is not installed, and CI is set: testhost/host-deps installs it", name)
		}
		return false
	}
	return true
}
