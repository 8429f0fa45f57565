//go:build e2e

package e2e

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
)

// A sync tells the daemon which icons alice has (by digest): an icon that
// did not change comes back without its bytes and is left as it is; one
// that changed in the image is written again, and so is one alice removed.
func TestSyncRewritesOnlyTheIconsThatChanged(t *testing.T) {
	const img = "/var/lib/machines/e2e-icons"
	svg := func(title string) string {
		return `<svg xmlns="http://www.w3.org/2000/svg" width="48" height="48"><title>` + title + `</title><rect width="48" height="48"/></svg>` + "\n"
	}
	setup := `set -e
img=` + img + `
rm -rf "$img"; cp -a /var/lib/machines/probe "$img"
mkdir -p "$img/usr/share/applications" "$img/usr/share/icons/hicolor/scalable/apps"
printf '[Desktop Entry]\nType=Application\nName=Icons\nExec=/usr/bin/probe\nIcon=e2e-icons\n' > "$img/usr/share/applications/e2e-icons.desktop"
cat > "$img/usr/share/icons/hicolor/scalable/apps/e2e-icons.svg"
printf 'name = "Icons"\nimage = "e2e-icons"\nexec = ["/usr/bin/probe"]\n' > /etc/nspawn-tray/apps.d/e2e-icons.toml
`
	if r := inHost(t, "root", svg("one"), "sh", "-c", setup); r.code != 0 {
		t.Fatalf("setup: %s", r.stderr)
	}
	t.Cleanup(func() {
		inHost(t, "root", "", "rm", "-rf", img, "/etc/nspawn-tray/apps.d/e2e-icons.toml")
		inHost(t, "alice", "", "nspawn-tray", "sync")
	})
	icon := iconsDir + "/scalable/apps/nspawn-tray.e2e-icons.svg"
	syncAsAlice(t)
	if got := mustRun(t, "alice", "cat", icon); got != svg("one") {
		t.Fatalf("icon after the first sync: %q", got)
	}
	inode := func() string { return mustRun(t, "alice", "stat", "-c", "%i", icon) }
	before := inode()
	if out := syncAsAlice(t); !strings.Contains(out, "0 icons written") || inode() != before {
		t.Errorf("unchanged: %q, inode %s, was %s", out, inode(), before)
	}

	// What the daemon answers when told alice's digest: the icon, no bytes.
	sum := sha256.Sum256([]byte(svg("one")))
	args := []string{"busctl", "call", "io.github.nspawn_tray.Launcher1", "/io/github/nspawn_tray/Launcher1",
		"io.github.nspawn_tray.Launcher1", "MetadataBatch", "asa(sssay)", "1", "e2e-icons", "1", "e2e-icons", "scalable", "svg", "32"}
	for _, b := range sum {
		args = append(args, fmt.Sprint(b))
	}
	if out := mustRun(t, "alice", args...); !strings.Contains(out, `"scalable" "svg" 0 `) {
		t.Errorf("MetadataBatch with alice's digest: %s, want the icon with no bytes", out)
	}
	args[len(args)-1] = fmt.Sprint(sum[31] ^ 1)
	if out := mustRun(t, "alice", args...); strings.Contains(out, `"scalable" "svg" 0 `) {
		t.Errorf("MetadataBatch with another digest left the bytes out: %s", out)
	}

	// Changed in the image: written again at the next sync.
	if r := inHost(t, "root", svg("two"), "sh", "-c", "cat > "+img+"/usr/share/icons/hicolor/scalable/apps/e2e-icons.svg"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	if out := syncAsAlice(t); !strings.Contains(out, "1 icon written") {
		t.Errorf("changed in the image: %q", out)
	}
	if got := mustRun(t, "alice", "cat", icon); got != svg("two") {
		t.Errorf("icon after the image changed: %q", got)
	}
	// Removed by alice: its bytes are asked for again.
	mustRun(t, "alice", "rm", icon)
	if out := syncAsAlice(t); !strings.Contains(out, "1 icon written") {
		t.Errorf("removed by hand: %q", out)
	}
	if got := mustRun(t, "alice", "cat", icon); got != svg("two") {
		t.Errorf("icon after it was removed: %q", got)
	}
}
