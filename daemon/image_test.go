package daemon

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nspawn-tray/nspawn-tray/config"
	"github.com/nspawn-tray/nspawn-tray/internal/bustest"
	"github.com/nspawn-tray/nspawn-tray/launcher"
	"github.com/nspawn-tray/nspawn-tray/rawimage/rawimagetest"
)

// rawImage builds e.paths.Machines/NAME.raw, a GPT image whose root file
// system holds a passwd, a group and files (path in the image: content;
// content "->TARGET" makes a symlink).
func (e *env) rawImage(name string, files map[string]string) string {
	e.t.Helper()
	rawimagetest.Need(e.t)
	tree := filepath.Join(e.t.TempDir(), "tree")
	all := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nrawuser:x:999:999::/nonexistent:/bin/false\n",
		"etc/group":  "root:x:0:\nrawgroup:x:999:\n",
	}
	for p, c := range files {
		all[p] = c
	}
	for p, c := range all {
		path := filepath.Join(tree, p)
		mkdir(e.t, filepath.Dir(path))
		if target, ok := strings.CutPrefix(c, "->"); ok {
			if err := os.Symlink(target, path); err != nil {
				e.t.Fatal(err)
			}
			continue
		}
		writeFile(e.t, path, c, 0o644)
	}
	img := filepath.Join(e.paths.Machines, name+".raw")
	mkdir(e.t, e.paths.Machines)
	rawimagetest.Build(e.t, tree, img)
	return img
}

// noMountOutlives fails the test if a mount point or a loop device of
// the raw image at img is left.
func (e *env) noMountOutlives(img string) {
	e.t.Helper()
	dissect := filepath.Join(filepath.Dir(e.paths.Stage), "dissect")
	if m := mountsBelow(e.t, dissect); len(m) > 0 {
		e.t.Errorf("mounts left in the dissect dir: %v", m)
	}
	entries, _ := os.ReadDir(dissect)
	for _, en := range entries {
		e.t.Errorf("mount point left: %s", en.Name())
	}
	bustest.Eventually(e.t, "no loop device backs "+img, func() bool { return len(rawimagetest.Loops(e.t, img)) == 0 })
}

// An app's image is NAME, a directory, or else NAME.raw, a raw image, as
// machined finds images: a directory wins, and neither may be a symlink.
func TestImageIsADirectoryOrARawImage(t *testing.T) {
	e := newEnv(t)
	m := e.paths.Machines
	file := func(name string, mode os.FileMode, uid int) {
		writeFile(t, filepath.Join(m, name), "not even an image\n", mode)
		if err := os.Chown(filepath.Join(m, name), uid, uid); err != nil {
			t.Fatal(err)
		}
	}
	file("img.raw", 0o644, 0)
	file("rawonly.raw", 0o644, 0)
	file("users.raw", 0o644, 1000)
	file("loose.raw", 0o664, 0)
	file("plainfile", 0o644, 0)
	file("plainfile.raw", 0o644, 0)
	mkdir(t, filepath.Join(m, "dirraw.raw"))
	if err := os.Symlink("rawonly.raw", filepath.Join(m, "linked.raw")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("img", filepath.Join(m, "dirlink")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		image string
		want  appImage
		err   string
	}{
		{image: "img", want: appImage{Path: filepath.Join(m, "img")}}, // img.raw too: the directory wins
		{image: "rawonly", want: appImage{Path: filepath.Join(m, "rawonly.raw"), Raw: true}},
		{image: "absent", err: `image "absent" of app "x" is missing: no directory ` + m + `/absent and no raw image ` + m + `/absent.raw`},
		{image: "linked", err: `image "linked" of app "x" is not usable: not a regular file: ` + m + `/linked.raw is a symlink`},
		{image: "users", err: `image "users" of app "x" is not usable: not safe to mount: ` + m + `/users.raw is owned by uid 1000, not root`},
		{image: "loose", err: `image "loose" of app "x" is not usable: not safe to mount: ` + m + `/loose.raw is writable by others than root (mode 0664)`},
		{image: "dirraw", err: `image "dirraw" of app "x" is not usable: not a regular file: ` + m + `/dirraw.raw has mode`},
		{image: "dirlink", err: `image "dirlink" of app "x" is missing: ` + m + `/dirlink is not a directory (symlinks are not followed)`},
		// NAME exists: NAME.raw is not looked at, as with machined.
		{image: "plainfile", err: `image "plainfile" of app "x" is missing: ` + m + `/plainfile is not a directory`},
		{image: "rawonly.raw", err: `image "rawonly.raw" of app "x" is missing: ` + m + `/rawonly.raw is a file, not a directory (a raw image is named without .raw: image = "rawonly")`},
	} {
		got, err := e.svc.image(config.App{ID: "x", Image: tc.image})
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("image %q: %+v, %v; want %+v", tc.image, got, err, tc.want)
		case tc.err != "" && (toDBusError(err).Name != launcher.ErrNameImageMissing || !strings.HasPrefix(err.Error(), tc.err)):
			t.Errorf("image %q: %+v, %v\nwant ImageMissing %s", tc.image, got, err, tc.err)
		}
	}

	// Apps says the same, naming both paths for a missing image.
	e.app("noimage", strings.Replace(plainApp, `"img"`, `"absent"`, 1), 0o644)
	e.app("rawapp", strings.Replace(plainApp, `"img"`, `"rawonly"`, 1), 0o644)
	apps, err := e.svc.apps()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range apps {
		switch a.ID {
		case "noimage":
			if !strings.Contains(a.Problem, "no directory "+m+"/absent and no raw image "+m+"/absent.raw") {
				t.Errorf("Apps: noimage's problem %q does not name both paths", a.Problem)
			}
		case "rawapp":
			if a.Problem != "" {
				t.Errorf("Apps: rawapp's image is a raw image, yet: %s", a.Problem)
			}
		}
	}
}

// A raw image runs with --image (and everything else as for a
// directory); the user's identity is merged into the image's own passwd
// and group, read from the image mounted for that read only.
func TestLaunchRawImage(t *testing.T) {
	e := newEnv(t)
	img := e.rawImage("rawimg", nil)
	e.app("rawapp", strings.Replace(plainApp, `"img"`, `"rawimg"`, 1), 0o644)
	machine, _, err := e.launch(bustest.Alice, "rawapp", launcher.Session{})
	if err != nil {
		t.Fatal(err)
	}
	argv := e.startedUnit(unitName(machine)).Argv("ExecStart")
	if !slices.Contains(argv, "--image="+img) || slices.ContainsFunc(argv, func(a string) bool { return strings.HasPrefix(a, "--directory") }) {
		t.Errorf("ExecStart %q: want --image=%s and no --directory", argv, img)
	}
	for _, a := range []string{"--read-only", "--volatile=overlay", "--private-users=identity"} {
		if !slices.Contains(argv, a) {
			t.Errorf("ExecStart lacks %s: %q", a, argv)
		}
	}
	s := filepath.Join(e.paths.Stage, machine)
	passwd, _ := os.ReadFile(filepath.Join(s, "passwd"))
	if !strings.Contains(string(passwd), "rawuser:x:999:999:") || !strings.Contains(string(passwd), "nobody:x:65534:65534::/home/nobody:/bin/sh\n") {
		t.Errorf("staged passwd lacks the image's or the user's entry:\n%s", passwd)
	}
	group, _ := os.ReadFile(filepath.Join(s, "group"))
	if !strings.Contains(string(group), "rawgroup:x:999:") {
		t.Errorf("staged group lacks the image's entry:\n%s", group)
	}
	e.noMountOutlives(img)

	// An image that is no disk image fails the launch with what
	// systemd-dissect said, and leaves nothing behind.
	writeFile(t, filepath.Join(e.paths.Machines, "junk.raw"), strings.Repeat("junk", 1<<18), 0o644)
	e.app("junkapp", strings.Replace(plainApp, `"img"`, `"junk"`, 1), 0o644)
	before := len(e.started())
	_, _, err = e.launch(bustest.Alice, "junkapp", launcher.Session{})
	if !errors.Is(err, launcher.ErrImageMissing) || !strings.Contains(err.Error(), "systemd-dissect") {
		t.Errorf("launch of a junk raw image: %v; want ImageMissing with systemd-dissect's reason", err)
	}
	if len(e.started()) != before {
		t.Errorf("units started for a junk image: %v", e.started()[before:])
	}
	bustest.Eventually(t, "the junk launch's staging dir is gone", func() bool {
		return !slices.ContainsFunc(e.staged(), func(n string) bool { return strings.HasPrefix(n, "junkapp-") })
	})
	e.noMountOutlives(filepath.Join(e.paths.Machines, "junk.raw"))
}

// Metadata reads a raw image's desktop entry and icon, its symlinks
// resolving inside the image, and caches the answer while the image file
// is the same (device, inode, size, times).
func TestMetadataRawImage(t *testing.T) {
	e := newEnv(t)
	// A host file that would pass as an icon, were it ever read.
	secret := filepath.Join(filepath.Dir(e.paths.Stage), "host-secret.svg")
	writeFile(t, secret, `<svg xmlns="http://www.w3.org/2000/svg"><title>HOSTSECRET</title></svg>`+"\n", 0o644)
	icon := string(pngIcon(t, 48))
	files := map[string]string{
		"usr/share/applications/x.desktop":            "[Desktop Entry]\nType=Application\nName=Raw One\nExec=/usr/bin/full\nIcon=x\n",
		"usr/share/icons/hicolor/48x48/apps/x.png":    icon,
		"usr/share/icons/hicolor/scalable/apps/x.svg": "->" + secret,
		"usr/share/pixmaps/x.svg":                     "->/../../../../.." + secret,
		"usr/share/pixmaps/x.xpm":                     "->/etc/shadow",
	}
	img := e.rawImage("rawmeta", files)
	e.app("rawmeta", strings.Replace(fullApp, `"img"`, `"rawmeta"`, 1), 0o644)
	c := e.client(bustest.Mallory)
	get := func() launcher.AppMetadata {
		t.Helper()
		m, err := c.Metadata(context.Background(), "rawmeta")
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	m := get()
	if m.DesktopID != "x" || m.Entry.Name != "Raw One" {
		t.Errorf("desktop id %q, name %q; want x, Raw One", m.DesktopID, m.Entry.Name)
	}
	if len(m.Icons) != 1 || m.Icons[0].SizeDir != "48x48" || string(m.Icons[0].Data) != icon {
		t.Errorf("icons %+v, want the one PNG (the symlinks resolve inside the image, to nothing)", m.Icons)
	}
	e.noMountOutlives(img)

	for range 5 {
		get()
	}
	if n := e.svc.meta.extractions.Load(); n != 1 {
		t.Errorf("6 calls with the image unchanged mounted it %d times, want 1", n)
	}
	// Touched: read again.
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(img, later, later); err != nil {
		t.Fatal(err)
	}
	get()
	if n := e.svc.meta.extractions.Load(); n != 2 {
		t.Errorf("the image's mtime changed, yet it was read %d times, want 2", n)
	}
	// Replaced by another image: its entry.
	files["usr/share/applications/x.desktop"] = "[Desktop Entry]\nType=Application\nName=Raw Two\nExec=/usr/bin/full\nIcon=x\n"
	if err := os.Remove(img); err != nil {
		t.Fatal(err)
	}
	e.rawImage("rawmeta", files)
	if m := get(); m.Entry.Name != "Raw Two" {
		t.Errorf("after the image was replaced: name %q, want Raw Two", m.Entry.Name)
	}
	// A directory of the same name wins from now on.
	dir := e.image("rawmeta")
	writeFile(t, filepath.Join(dir, "usr/share/applications/x.desktop"), "[Desktop Entry]\nType=Application\nName=Dir\nExec=/usr/bin/full\n", 0o644)
	if m := get(); m.Entry.Name != "Dir" {
		t.Errorf("with a directory of the same name: name %q, want Dir", m.Entry.Name)
	}
	e.noMountOutlives(img)
}
