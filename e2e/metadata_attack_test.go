//go:build e2e

package e2e

import (
	"strings"
	"testing"
)

// The daemon reads images as root to serve desktop metadata and icons. An
// image whose desktop file and icons are symlinks to host files must not
// turn that into a root file read: everything resolves inside the image,
// and only validated entries and icons come back.
func TestAttackMetadataCannotReadHostFiles(t *testing.T) {
	setup := `set -e
img=/var/lib/machines/e2e-hostile-meta
rm -rf "$img"; cp -a /var/lib/machines/probe "$img"
mkdir -p "$img/usr/share/applications" "$img/usr/share/icons/hicolor/scalable/apps" "$img/usr/share/pixmaps"
ln -s /etc/shadow "$img/usr/share/applications/evil.desktop"
printf '[Desktop Entry]\nType=Application\nName=Leaky\nExec=/usr/bin/probe\nIcon=leak\n' > "$img/usr/share/applications/leaky.desktop"
ln -s /etc/shadow "$img/usr/share/icons/hicolor/scalable/apps/leak.svg"
ln -s /../../../../etc/e2e-host-secret.svg "$img/usr/share/pixmaps/leak.svg"
ln -s /proc/1/root/etc/e2e-host-secret.svg "$img/usr/share/pixmaps/leak.png"
# A host file that WOULD pass as an icon, if it were ever read.
printf '<svg xmlns="http://www.w3.org/2000/svg"><title>HOSTSECRET</title></svg>\n' > /etc/e2e-host-secret.svg
printf 'name = "Evil"\nimage = "e2e-hostile-meta"\nexec = ["/usr/bin/probe"]\n[desktop]\nfile = "evil.desktop"\n' > /etc/nspawn-tray/apps.d/e2e-evil.toml
printf 'name = "Leaky"\nimage = "e2e-hostile-meta"\nexec = ["/usr/bin/probe"]\n' > /etc/nspawn-tray/apps.d/e2e-leaky.toml
`
	r := inHost(t, "root", setup, "sh", "-s")
	t.Cleanup(func() {
		inHost(t, "root", "", "rm", "-rf", "/var/lib/machines/e2e-hostile-meta", "/etc/e2e-host-secret.svg",
			"/etc/nspawn-tray/apps.d/e2e-evil.toml", "/etc/nspawn-tray/apps.d/e2e-leaky.toml")
		inHost(t, "alice", "", "nspawn-tray", "sync")
	})
	if r.code != 0 {
		t.Fatalf("setup: %s", r.stderr)
	}
	shadowRoot := strings.SplitN(mustRun(t, "root", "head", "-n", "1", "/etc/shadow"), ":", 3)
	leaked := func(what, s string) {
		t.Helper()
		if strings.Contains(s, "HOSTSECRET") || strings.Contains(s, shadowRoot[0]+":"+shadowRoot[1]) {
			t.Errorf("%s leaks host content:\n%s", what, s)
		}
	}
	call := func(app string) result {
		return inHost(t, "alice", "", "busctl", "--json=short", "call", "io.github.nspawn_tray.Launcher1",
			"/io/github/nspawn_tray/Launcher1", "io.github.nspawn_tray.Launcher1", "Metadata", "s", app)
	}
	evil := call("e2e-evil")
	if evil.code == 0 {
		t.Errorf("Metadata of a desktop file that is a symlink to /etc/shadow succeeded:\n%s", evil.stdout)
	}
	leaked("Metadata(e2e-evil)", evil.stdout+evil.stderr)

	leaky := call("e2e-leaky")
	if leaky.code != 0 {
		t.Fatalf("Metadata(e2e-leaky): %s", leaky.stderr)
	}
	leaked("Metadata(e2e-leaky)", leaky.stdout)
	// The entry is the image's, and no icon came back: every candidate was
	// a link to a host file, resolved inside the image, where none exists.
	if !strings.Contains(leaky.stdout, `"Leaky"`) || !strings.HasSuffix(strings.TrimSpace(leaky.stdout), `[]]}`) {
		t.Errorf("Metadata(e2e-leaky) = %s, want the name and no icons", leaky.stdout)
	}
	// Nor does anything reach alice's files through sync.
	mustRun(t, "alice", "nspawn-tray", "sync")
	files := mustRun(t, "alice", "sh", "-c", "cat ~/.local/share/applications/*.desktop; find ~/.local/share/icons -type f -exec cat {} +")
	leaked("alice's entries and icons", files)
}
