//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The Debian package in a host of its own (otherHost): a fresh machine,
// the one of the README's Install section. It installs with apt (its
// dependencies are in the test host's tree already), the daemon is
// activated, alice launches an app; the manual pages render, the shells
// complete; the desktop's application menu and the tray's menu show the
// apps with their own icons; apt-get remove keeps definitions and homes,
// a second install works, apt-get purge leaves no file of the package's,
// and it installs again after that.

// packageExtras are what the tests below need in the host that the test
// host's tree does not have (yet): the shells' completion frameworks, and
// the SVG loader GTK draws the tray's own icon with.
var packageExtras = []string{"bash-completion", "zsh", "fish", "librsvg2-common"}

// Colours of the icons the menus must show: the test app's own (a PNG made
// here), and the light face of nspawn-tray's (icons/nspawn-tray.svg).
var (
	iconAppColor   = color.RGBA{0xd9, 0x46, 0xef, 0xff}
	trayEntryColor = color.RGBA{0x6f, 0xa3, 0xdc, 0xff}
)

func TestPackage(t *testing.T) {
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("dpkg-deb not installed here")
	}
	deb := buildDeb(t)
	h := bootOtherHost(t, otherState("package"))
	h.forgetCheckout(t)
	h.installExtras(t, packageExtras...)
	if err := copyFile(deb, filepath.Join(h.root, "var/tmp/e2e/nspawn-tray.deb")); err != nil {
		t.Fatal(err)
	}
	before := h.files(t)

	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow()
		}
	}
	step("install", func(t *testing.T) { packageInstall(t, h, true) })
	step("man pages", func(t *testing.T) { packageManPages(t, h) })
	step("completions", func(t *testing.T) { packageCompletions(t, h) })
	step("application menu and tray show the apps' icons", func(t *testing.T) { packageMenus(t, h) })
	step("remove keeps definitions and homes", func(t *testing.T) { packageRemove(t, h) })
	step("reinstall", func(t *testing.T) { packageInstall(t, h, false) })
	step("purge leaves nothing of the package", func(t *testing.T) { packagePurge(t, h, before) })
	step("install after purge", func(t *testing.T) { packageInstall(t, h, false) })
}

// buildDeb is make deb's package of this checkout.
func buildDeb(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("make", "-s", "-C", repoRoot(t), "deb")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("make deb: %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return filepath.Join(repoRoot(t), lines[len(lines)-1])
}

func copyFile(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	return os.WriteFile(to, data, 0o644)
}

// forgetCheckout takes out what testhost/up installed (the checkout, the
// test definitions, the group), so the host is the machine the README's
// Install section starts from.
func (h *otherHost) forgetCheckout(t *testing.T) {
	t.Helper()
	repo := repoRoot(t)
	if out, err := exec.Command("make", "-s", "-C", repo, "uninstall", "DESTDIR="+h.root, "PREFIX=/usr", "SYSCONFDIR=/etc").CombinedOutput(); err != nil {
		t.Fatalf("make uninstall: %v\n%s", err, out)
	}
	if err := os.RemoveAll(filepath.Join(h.root, "etc/nspawn-tray")); err != nil {
		t.Fatal(err)
	}
	// make install made directories that make uninstall leaves: those no
	// package has go too, deepest first.
	stage := t.TempDir()
	if out, err := exec.Command("make", "-s", "-C", repo, "install", "DESTDIR="+stage, "PREFIX=/usr", "SYSCONFDIR=/etc").CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	var dirs []string
	filepath.WalkDir(stage, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && p != stage {
			dirs = append(dirs, strings.TrimPrefix(p, stage))
		}
		return err
	})
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	// The groups the package's sysusers file makes.
	sysusers, err := os.ReadFile(filepath.Join(repo, "packaging/nspawn-tray.sysusers"))
	if err != nil {
		t.Fatal(err)
	}
	var groups []string
	for _, l := range strings.Split(string(sysusers), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "g" {
			groups = append(groups, f[1])
		}
	}
	h.sh(t, "root", `for d in `+strings.Join(dirs, " ")+`; do
	[ -d "$d" ] && [ -z "$(ls -A "$d")" ] && ! dpkg-query -S "$d" >/dev/null 2>&1 && rmdir "$d"
done
for g in `+strings.Join(groups, " ")+`; do groupdel "$g"; done
systemctl daemon-reload
systemctl stop nspawn-tray-daemon.service
busctl call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus ReloadConfig
`)
	if r := h.run(t, "root", "", "busctl", "status", "io.github.nspawn_tray.Launcher1"); r.code == 0 {
		t.Fatal("the launcher is still on the bus after the checkout was taken out")
	}
}

// installExtras installs pkgs that the host lacks, downloaded here with
// apt from this machine's package sources (the host has no network),
// resolved against the host's own package database.
func (h *otherHost) installExtras(t *testing.T, pkgs ...string) {
	t.Helper()
	missing := strings.Fields(h.sh(t, "root", `for p in `+strings.Join(pkgs, " ")+`; do
	[ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" = installed ] || echo "$p"
done`))
	if len(missing) == 0 {
		return
	}
	// This machine's package sources fit only a host of the same release.
	release := func(osRelease string) string {
		data, _ := os.ReadFile(osRelease)
		for _, l := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(l, "VERSION_CODENAME="); ok {
				return v
			}
		}
		return ""
	}
	if here, there := release("/etc/os-release"), release(filepath.Join(h.root, "etc/os-release")); here != there {
		t.Fatalf("the test host (%s) lacks %s, and this machine's package sources are %s's: add them to TESTHOST_PACKAGES", there, missing, here)
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "partial"), 0o755); err != nil {
		t.Fatal(err)
	}
	args := []string{"install", "--download-only", "--no-install-recommends", "-y", "-q",
		"-o", "Dir::State::status=" + filepath.Join(h.root, "var/lib/dpkg/status"),
		"-o", "Dir::Cache::archives=" + dir, "-o", "Debug::NoLocking=true"}
	out, err := exec.Command("apt-get", append(args, missing...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("downloading %s for the test host: %v\n%s\n(with them in TESTHOST_PACKAGES the cached tree has them)", missing, err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(dir, "*.deb"))
	for _, d := range debs {
		if err := copyFile(d, filepath.Join(h.root, "var/tmp/e2e/extras", filepath.Base(d))); err != nil {
			t.Fatal(err)
		}
	}
	h.sh(t, "root", "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends /var/tmp/e2e/extras/*.deb >/dev/null")
}

// packageNoise are the paths a package installation changes that are not
// the package's: apt's and dpkg's own records (but dpkg's files of
// nspawn-tray), the caches their triggers rebuild, logs, systemd's runtime
// state, and this test's files in /var/tmp.
func packageNoise(p string) bool {
	for _, prefix := range []string{"/run/systemd/", "/run/user/", "/run/log/", "/var/log/", "/var/tmp/",
		"/var/cache/apt/", "/var/cache/man/", "/var/cache/debconf/", "/var/cache/ldconfig/", "/var/lib/apt/",
		"/var/lib/systemd/", "/var/lib/polkit-1/"} {
		if strings.HasPrefix(p+"/", prefix) {
			return true
		}
	}
	return strings.HasPrefix(p, "/var/lib/dpkg/") && !strings.Contains(p, "/info/nspawn-tray.")
}

// files are the host's files and directories but its images and the
// users' homes, and but packageNoise.
func (h *otherHost) files(t *testing.T) map[string]bool {
	t.Helper()
	out := h.sh(t, "root", "find /etc /usr /var /opt /srv /run -xdev -path /var/lib/machines -prune -o -print")
	files := map[string]bool{}
	for _, p := range strings.Split(strings.TrimSpace(out), "\n") {
		if !packageNoise(p) {
			files[p] = true
		}
	}
	return files
}

func diffFiles(before, after map[string]bool) (added, removed []string) {
	for p := range after {
		if !before[p] {
			added = append(added, p)
		}
	}
	for p := range before {
		if !after[p] {
			removed = append(removed, p)
		}
	}
	sort.Strings(added)
	sort.Strings(removed)
	return added, removed
}

// The app alice launches: it writes into its persistent home.
const helloApp = `name = "Hello"
image = "probe"
exec = ["/bin/sh", "-c", "echo hello from $(id -un) >> $HOME/hello; echo launched"]
x11 = "none"
audio = "none"
dbus = []
`

// packageInstall installs the package with apt, as the README's one
// command; first also as the README goes on: alice joins the group, the
// administrator defines an app.
func packageInstall(t *testing.T, h *otherHost, first bool) {
	out := h.sh(t, "root", "DEBIAN_FRONTEND=noninteractive apt-get install -y /var/tmp/e2e/nspawn-tray.deb 2>&1")
	if first && !strings.Contains(out, "Creating group 'nspawn-tray'") {
		t.Errorf("the package did not create the group:\n%s", out)
	}
	if h.run(t, "root", "", "getent", "group", "nspawn-tray").code != 0 {
		t.Fatal("no group nspawn-tray after the install")
	}
	if first {
		h.mustRun(t, "root", "usermod", "-aG", "nspawn-tray", "alice")
		h.sh(t, "root", "cat > /etc/nspawn-tray/apps.d/hello.toml <<'EOF'\n"+helloApp+"EOF\n")
	}
	// The daemon is activated by the first call: dbus and polkit took the
	// package's files without a reload by hand.
	if r := h.run(t, "root", "", "systemctl", "is-active", "nspawn-tray-daemon.service"); r.code == 0 {
		t.Errorf("the daemon runs before anyone called it")
	}
	h.mustRun(t, "alice", "nspawn-tray", "ps")
	if r := h.run(t, "root", "", "systemctl", "is-active", "nspawn-tray-daemon.service"); r.code != 0 {
		t.Errorf("the daemon was not activated by alice's call: %s", r.stdout)
	}
	if got := h.mustRun(t, "alice", "nspawn-tray", "launch", "--wait", "hello"); got != "launched\n" {
		t.Errorf("alice's launch printed %q", got)
	}
	if got := h.mustRun(t, "root", "tail", "-n", "1", "/var/lib/nspawn-tray/homes/1000/hello/hello"); got != "hello from alice\n" {
		t.Errorf("the app's home has %q", got)
	}
}

// Both pages render without a warning, by name (where man looks) and as
// files (man -l).
func packageManPages(t *testing.T, h *otherHost) {
	for _, page := range []string{"nspawn-tray", "nspawn-tray.apps.d", "-l /usr/share/man/man1/nspawn-tray.1.gz", "-l /usr/share/man/man5/nspawn-tray.apps.d.5.gz"} {
		r := h.run(t, "alice", "MANWIDTH=80 MANPAGER=cat man --warnings "+page+"\n", "sh", "-s")
		if r.code != 0 || r.stderr != "" || !strings.Contains(r.stdout, "NSPAWN-TRAY") {
			t.Errorf("man --warnings %s: exit %d\nstderr: %s\nstdout: %.300s", page, r.code, r.stderr, r.stdout)
		}
	}
}

// zshComplete prints what zsh's completion offers for a command line: an
// interactive zsh on a pseudo-terminal (zpty), whose compadd prints what
// it adds.
const zshComplete = `zmodload zsh/zpty || exit 1
zpty z zsh -f -i
zpty -w z 'autoload -Uz compinit; compinit -u -D'
zpty -w z 'compadd() {
	if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return; fi
	local -a __hits; builtin compadd -A __hits "$@"
	local h; for h in $__hits; do print -r -- "<MA""TCH>$h"; done
	builtin compadd "$@"
}'
zpty -w z 'PROMPT=; RPROMPT=; print -r -- "<REA""DY>"'
out=
while zpty -r -t z chunk; do out+=$chunk; [[ $out == *'<READY>'* ]] && break; sleep 0.05; done
zpty -n -w z "$1"$'\t'
out=
for i in {1..40}; do zpty -r -t z chunk && out+=$chunk || sleep 0.05; done
print -r -- $out | tr -d '\r' | grep -o '<MATCH>[^<]*' | sed 's/<MATCH>//' | sort -u
zpty -d z
`

// Each shell loads its completion from where the package put it, without
// a word on stderr, and completes an app id and a running machine.
func packageCompletions(t *testing.T, h *otherHost) {
	writeIconApp(t, h)
	machine := strings.TrimSpace(h.mustRun(t, "alice", "nspawn-tray", "launch", "iconapp"))
	t.Cleanup(func() { h.run(t, "alice", "", "nspawn-tray", "stop", machine) })
	want := map[string][]string{
		"nspawn-tray launch he":    {"hello"},
		"nspawn-tray l":            {"launch", "logs"},
		"nspawn-tray stop --app h": {"hello"},
		"nspawn-tray stop ic":      {machine},
	}
	for _, tc := range []struct {
		shell, script string
	}{
		// bash-completion loads it on demand, as for a Tab.
		{"bash", `source /usr/share/bash-completion/bash_completion
try_complete() {
	COMP_LINE="$1"; COMP_POINT=${#COMP_LINE}
	read -ra COMP_WORDS <<<"$1"; [[ $1 == *" " ]] && COMP_WORDS+=("")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	_completion_loader nspawn-tray
	COMPREPLY=()
	_nspawn_tray
	printf '%s\n' "${COMPREPLY[@]}"
}
`},
		{"zsh", "cat > /tmp/e2e-zsh-complete <<'EOF'\n" + zshComplete + "EOF\ntry_complete() { zsh /tmp/e2e-zsh-complete \"$1\"; }\n"},
		{"fish", "try_complete() { fish -c \"complete -C '$1'\" | cut -f1; }\n"},
	} {
		for line, want := range want {
			r := h.run(t, "alice", tc.script+"try_complete '"+line+"'\n", "bash", "-s")
			got := strings.Fields(r.stdout)
			if r.code != 0 || r.stderr != "" || !slices.Equal(got, want) {
				t.Errorf("%s: %q completes to %q, want %q (exit %d, stderr %q)", tc.shell, line, got, want, r.code, r.stderr)
			}
		}
	}
}

// writeIconApp makes the image "iconapp": the probe image with a desktop
// entry and PNG icons of one colour, and its definition.
func writeIconApp(t *testing.T, h *otherHost) {
	h.sh(t, "root", "rm -rf /var/lib/machines/iconapp && cp -a /var/lib/machines/probe /var/lib/machines/iconapp")
	dir := filepath.Join(h.root, "var/lib/machines/iconapp")
	files := map[string][]byte{
		"usr/share/applications/e2e-iconapp.desktop": []byte("[Desktop Entry]\nType=Application\nName=Icon App\nExec=/bin/sleep 600\nIcon=e2e-iconapp\nCategories=Utility;\n"),
	}
	for _, size := range []int{16, 48} {
		img := image.NewRGBA(image.Rect(0, 0, size, size))
		for i := 0; i < len(img.Pix); i += 4 {
			img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = iconAppColor.R, iconAppColor.G, iconAppColor.B, iconAppColor.A
		}
		var b bytes.Buffer
		if err := png.Encode(&b, img); err != nil {
			t.Fatal(err)
		}
		files[fmt.Sprintf("usr/share/icons/hicolor/%dx%d/apps/e2e-iconapp.png", size, size)] = b.Bytes()
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h.sh(t, "root", `cat > /etc/nspawn-tray/apps.d/iconapp.toml <<'EOF'
name = "Icon App"
image = "iconapp"
exec = ["/bin/sleep", "600"]
x11 = "none"
audio = "none"
dbus = []

[desktop]
file = "e2e-iconapp.desktop"
EOF
`)
}

// alice's desktop as an Xfce session has it, and a flat applications menu
// in her panel: xfsettingsd is not running, so GTK takes its menu images
// setting from settings.ini; the menu is one list of every entry, so no
// submenu has to be opened.
const appsMenuSetup = `mkdir -p ~/.config/gtk-3.0 ~/.config/menus
printf '[Settings]\ngtk-menu-images=true\n' > ~/.config/gtk-3.0/settings.ini
cat > ~/.config/menus/e2e-flat.menu <<'EOF'
<!DOCTYPE Menu PUBLIC "-//freedesktop//DTD Menu 1.0//EN" "http://www.freedesktop.org/standards/menu-spec/1.0/menu.dtd">
<Menu>
  <Name>Applications</Name>
  <DefaultAppDirs/>
  <DefaultDirectoryDirs/>
  <Include><All/></Include>
</Menu>
EOF
xfconf-query -c xfce4-panel -p /plugins/plugin-40 -n -t string -s applicationsmenu
xfconf-query -c xfce4-panel -p /plugins/plugin-40/custom-menu -n -t bool -s true
xfconf-query -c xfce4-panel -p /plugins/plugin-40/custom-menu-file -n -t string -s "$HOME/.config/menus/e2e-flat.menu"
xfconf-query -c xfce4-panel -p /plugins/plugin-40/show-menu-icons -n -t bool -s true
ids=$(xfconf-query -c xfce4-panel -p /panels/panel-1/plugin-ids | sed -n 's/^\([0-9][0-9]*\)$/-t int -s \1/p' | tr '\n' ' ')
xfconf-query -c xfce4-panel -p /panels/panel-1/plugin-ids -t int -s 40 $ids
systemctl --user restart xfce4-panel.service
for i in $(seq 100); do busctl --user status org.kde.StatusNotifierWatcher >/dev/null 2>&1 && break; sleep 0.1; done
`

// The desktop's application menu (xfce4-panel's) lists the synced entries
// with their own icons, and the tray's entry with nspawn-tray's; the
// tray's own menu shows the app's icon too (dbusmenu icon-data).
func packageMenus(t *testing.T, h *otherHost) {
	if r := h.run(t, "root", "", "desktop-file-validate", "/usr/share/applications/nspawn-tray.desktop"); r.code != 0 || r.stdout != "" {
		t.Errorf("the tray's entry does not validate: %s%s", r.stdout, r.stderr)
	}
	h.mustRun(t, "alice", "nspawn-tray", "sync")
	h.sh(t, "alice", appsMenuSetup)
	t.Cleanup(func() { h.run(t, "alice", "", "xdotool", "key", "Escape") })

	// The menu button is the panel's first item, at its left end.
	menuArea := image.Rect(0, 33, 400, 600)
	var shown image.Image
	eventually(t, 20*time.Second, func() string {
		h.run(t, "alice", "", "xdotool", "key", "Escape")
		before := h.screenshot(t)
		if n := nearColor(before, menuArea, iconAppColor, 0); n > 0 {
			return fmt.Sprintf("%d pixels of the app's icon colour before the menu opens", n)
		}
		h.mustRun(t, "alice", "xdotool", "mousemove", "12", "16", "click", "1")
		time.Sleep(500 * time.Millisecond)
		shown = h.screenshot(t)
		if n := nearColor(shown, menuArea, iconAppColor, 0); n < 100 {
			return fmt.Sprintf("the application menu shows %d pixels of Icon App's icon, want its 16×16", n)
		}
		if n := nearColor(shown, menuArea, trayEntryColor, 12); n < 10 {
			return fmt.Sprintf("the application menu shows %d pixels of nspawn-tray's icon", n)
		}
		return ""
	})
	h.run(t, "alice", "", "xdotool", "key", "Escape")

	// The tray's menu: the entry carries the icon sync installed, and the
	// panel draws it.
	unit := "nspawn-tray-e2e.service"
	h.mustRun(t, "alice", "systemd-run", "--user", "--quiet", "--unit="+unit, "-p", "KillMode=mixed",
		"-E", "DISPLAY=:0", "-E", "XAUTHORITY=/home/alice/.Xauthority", "nspawn-tray", "tray")
	t.Cleanup(func() { h.run(t, "alice", "", "systemctl", "--user", "stop", unit) })
	icon, err := os.ReadFile(filepath.Join(h.root, "home/alice/.local/share/icons/hicolor/16x16/apps/nspawn-tray.iconapp.png"))
	if err != nil {
		t.Fatalf("sync installed no 16×16 icon: %v", err)
	}
	eventually(t, 20*time.Second, func() string {
		got, ok := h.trayIcons(t, unit)["Icon App"]
		switch {
		case !ok:
			return "no Icon App in the tray's menu"
		case !bytes.Equal(got, icon):
			return fmt.Sprintf("Icon App's icon-data is %d bytes, want the synced icon's %d", len(got), len(icon))
		}
		return ""
	})
	trayArea := image.Rect(700, 33, 1280, 600)
	eventually(t, 20*time.Second, func() string {
		h.run(t, "alice", "", "xdotool", "key", "Escape")
		x, y, ok := findTrayIcon(h.screenshot(t))
		if !ok {
			return "no tray icon in the panel"
		}
		h.mustRun(t, "alice", "xdotool", "mousemove", strconv.Itoa(x), strconv.Itoa(y), "click", "1")
		time.Sleep(500 * time.Millisecond)
		if n := nearColor(h.screenshot(t), trayArea, iconAppColor, 0); n < 100 {
			return fmt.Sprintf("the tray's menu shows %d pixels of Icon App's icon", n)
		}
		return ""
	})
}

// nearColor counts the pixels of r within tol of c in each channel.
func nearColor(img image.Image, r image.Rectangle, c color.RGBA, tol int) int {
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			if abs(int(cr>>8)-int(c.R)) <= tol && abs(int(cg>>8)-int(c.G)) <= tol && abs(int(cb>>8)-int(c.B)) <= tol {
				n++
			}
		}
	}
	return n
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// trayIcons are the icon-data of the tray's menu entries by label, over
// com.canonical.dbusmenu as the panel reads them.
func (h *otherHost) trayIcons(t *testing.T, unit string) map[string][]byte {
	t.Helper()
	pid := strings.TrimSpace(h.mustRun(t, "alice", "systemctl", "--user", "show", "-P", "MainPID", unit))
	name := "org.kde.StatusNotifierItem-" + pid + "-1"
	r := h.run(t, "alice", "", "busctl", "--user", "--json=short", "call", "--", name, "/StatusNotifierItem/menu",
		"com.canonical.dbusmenu", "GetLayout", "iias", "0", "-1", "0")
	var reply struct{ Data []json.RawMessage }
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &reply) != nil || len(reply.Data) != 2 {
		return nil
	}
	out := map[string][]byte{}
	var walk func(raw json.RawMessage)
	walk = func(raw json.RawMessage) {
		var node []json.RawMessage
		if json.Unmarshal(raw, &node) != nil || len(node) != 3 {
			return
		}
		var props map[string]struct {
			Data json.RawMessage
		}
		json.Unmarshal(node[1], &props)
		var label string
		json.Unmarshal(props["label"].Data, &label)
		var data []byte
		var ints []int
		if json.Unmarshal(props["icon-data"].Data, &ints) == nil {
			for _, b := range ints {
				data = append(data, byte(b))
			}
			out[label] = data
		}
		var kids []struct{ Data json.RawMessage }
		json.Unmarshal(node[2], &kids)
		for _, k := range kids {
			walk(k.Data)
		}
	}
	walk(reply.Data[1])
	return out
}

// apt-get remove: the package's files go, the administrator's definitions
// and the users' homes stay.
func packageRemove(t *testing.T, h *otherHost) {
	h.sh(t, "root", "DEBIAN_FRONTEND=noninteractive apt-get remove -y nspawn-tray >/dev/null")
	for _, gone := range []string{"/usr/bin/nspawn-tray", "/usr/share/dbus-1/system.d/io.github.nspawn_tray.Launcher1.conf",
		"/usr/share/polkit-1/actions/io.github.nspawn-tray.policy", "/usr/share/man/man1/nspawn-tray.1.gz"} {
		if h.run(t, "root", "", "test", "-e", gone).code == 0 {
			t.Errorf("%s is still there after apt-get remove", gone)
		}
	}
	for _, kept := range []string{"/etc/nspawn-tray/apps.d/hello.toml", "/etc/nspawn-tray/apps.d/iconapp.toml", "/var/lib/nspawn-tray/homes/1000/hello/hello"} {
		if h.run(t, "root", "", "test", "-f", kept).code != 0 {
			t.Errorf("apt-get remove took %s", kept)
		}
	}
	// No instance is left running, and nothing answers for the launcher.
	if out := h.mustRun(t, "root", "machinectl", "list", "--no-legend"); strings.TrimSpace(out) != "" {
		t.Errorf("machines still run after the package went:\n%s", out)
	}
	if r := h.run(t, "alice", "", "busctl", "call", "io.github.nspawn_tray.Launcher1", "/io/github/nspawn_tray/Launcher1",
		"org.freedesktop.DBus.Peer", "Ping"); r.code == 0 {
		t.Error("the launcher still answers after apt-get remove")
	}
}

// apt-get purge: against the host before the package, what is left is
// exactly what people made (the definitions, alice's app home); once the
// administrator removes those as the README says, nothing is.
func packagePurge(t *testing.T, h *otherHost, before map[string]bool) {
	h.sh(t, "root", "DEBIAN_FRONTEND=noninteractive apt-get purge -y nspawn-tray >/dev/null")
	added, removed := diffFiles(before, h.files(t))
	want := []string{"/etc/nspawn-tray", "/etc/nspawn-tray/apps.d", "/etc/nspawn-tray/apps.d/hello.toml", "/etc/nspawn-tray/apps.d/iconapp.toml",
		"/var/lib/nspawn-tray", "/var/lib/nspawn-tray/homes", "/var/lib/nspawn-tray/homes/1000",
		"/var/lib/nspawn-tray/homes/1000/hello", "/var/lib/nspawn-tray/homes/1000/hello/hello",
		"/var/lib/nspawn-tray/homes/1000/iconapp"}
	if !slices.Equal(added, want) || len(removed) > 0 {
		t.Errorf("after purge, against the host before the install:\nnew: %q\ngone: %q\nwant new only what people made: %q", added, removed, want)
	}
	h.mustRun(t, "root", "rm", "-r", "/etc/nspawn-tray", "/var/lib/nspawn-tray")
	if added, removed := diffFiles(before, h.files(t)); len(added)+len(removed) > 0 {
		t.Errorf("with those removed too:\nnew: %q\ngone: %q", added, removed)
	}
	// The next install starts from an empty apps.d: define hello again.
	t.Cleanup(func() {
		h.sh(t, "root", "mkdir -p /etc/nspawn-tray/apps.d && cat > /etc/nspawn-tray/apps.d/hello.toml <<'EOF'\n"+helloApp+"EOF\n")
	})
}
