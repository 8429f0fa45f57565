package daemon

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"image"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/internal/bustest"
	"github.com/nspawn-tray/nspawn-tray/launcher"
)

func pngIcon(t *testing.T, size int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewNRGBA(image.Rect(0, 0, size, size))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestMetadata(t *testing.T) {
	e := newEnv(t)
	img := filepath.Join(e.paths.Machines, "img")
	// The image is untrusted: its entry comes back sanitized, never with
	// its Exec.
	writeFile(t, filepath.Join(img, "usr/share/applications/x.desktop"), "[Desktop Entry]\nType=Application\n"+
		"Name=X\u202eTerm\nName[de]=X-Terminal\nComment=A terminal\nExec=/usr/bin/full %U\nIcon=x\n"+
		"Categories=System;TerminalEmulator;NotACategory;\nStartupWMClass=XTerm\n", 0o644)
	icon := pngIcon(t, 48)
	writeFile(t, filepath.Join(img, "usr/share/icons/hicolor/48x48/apps/x.png"), string(icon), 0o644)
	// An icon that is no PNG is dropped.
	writeFile(t, filepath.Join(img, "usr/share/icons/hicolor/64x64/apps/x.png"), "#!/bin/sh\n", 0o644)

	m, err := e.client(bustest.Alice).Metadata(context.Background(), "full")
	if err != nil {
		t.Fatal(err)
	}
	if m.DesktopID != "x" {
		t.Errorf("desktop id %q, want x", m.DesktopID)
	}
	en := m.Entry
	if en.Name != "XTerm" || en.NameLoc["de"] != "X-Terminal" || en.Comment != "A terminal" || en.Icon != "x" || en.StartupWMClass != "XTerm" {
		t.Errorf("entry %+v", en)
	}
	if !slices.Equal(en.Categories, []string{"System", "TerminalEmulator"}) {
		t.Errorf("categories %q, want the registered ones", en.Categories)
	}
	if len(m.Icons) != 1 {
		t.Fatalf("icons %+v, want the one PNG", m.Icons)
	}
	if i := m.Icons[0]; i.Name != "x" || i.SizeDir != "48x48" || i.Ext != "png" || !bytes.Equal(i.Data, icon) {
		t.Errorf("icon %s %s %s (%d bytes)", i.Name, i.SizeDir, i.Ext, len(i.Data))
	}
}

func TestMetadataWithoutDesktopFile(t *testing.T) {
	e := newEnv(t)
	m, err := e.client(bustest.Alice).Metadata(context.Background(), "plain")
	if err != nil || m.DesktopID != "" || len(m.Icons) != 0 || m.Entry.Name != "" {
		t.Errorf("Metadata = %+v, %v; want empty", m, err)
	}
}

func TestMetadataNamedDesktopFileMissing(t *testing.T) {
	e := newEnv(t)
	e.app("named", plainApp+"[desktop]\nfile = \"gone.desktop\"\n", 0o644)
	_, err := e.client(bustest.Alice).Metadata(context.Background(), "named")
	if !errors.Is(err, launcher.ErrImageMissing) || !strings.Contains(err.Error(), `app "named": appmeta: desktop file gone.desktop`) {
		t.Errorf("Metadata: %v, want ImageMissing naming the desktop file", err)
	}
}

// Metadata needs no authorization: a repeated call must not make root read
// and decode the image again while nothing changed, and any change to the
// definition or to a file the answer came from must show.
func TestMetadataIsCachedUntilTheDefinitionOrImageChanges(t *testing.T) {
	e := newEnv(t)
	img := filepath.Join(e.paths.Machines, "img")
	desktop := filepath.Join(img, "usr/share/applications/x.desktop")
	writeFile(t, desktop, "[Desktop Entry]\nType=Application\nName=One\nExec=/usr/bin/full\nIcon=x\n", 0o644)
	c := e.client(bustest.Mallory)
	name := func() string {
		t.Helper()
		m, err := c.Metadata(context.Background(), "full")
		if err != nil {
			t.Fatal(err)
		}
		return m.Entry.Name
	}
	if got := name(); got != "One" {
		t.Fatalf("name %q", got)
	}
	for range 20 {
		name()
	}
	if n := e.svc.meta.extractions.Load(); n != 1 {
		t.Errorf("21 calls with nothing changed read the image %d times, want 1", n)
	}
	for _, step := range []struct {
		what   string
		change func()
		want   string
	}{
		{"the desktop file rewritten in place", func() {
			writeFile(t, desktop, "[Desktop Entry]\nType=Application\nName=Two\nExec=/usr/bin/full\nIcon=x\n", 0o644)
		}, "Two"},
		{"an icon that was missing added", func() {
			writeFile(t, filepath.Join(img, "usr/share/icons/hicolor/48x48/apps/x.png"), string(pngIcon(t, 48)), 0o644)
		}, "Two"},
		{"the definition changed", func() {
			e.app("full", fullApp+"[desktop]\nname = \"Three\"\n", 0o644)
		}, ""},
	} {
		before := e.svc.meta.extractions.Load()
		step.change()
		got := name()
		if e.svc.meta.extractions.Load() != before+1 {
			t.Errorf("%s: the image was not read again", step.what)
		}
		if step.want != "" && got != step.want {
			t.Errorf("%s: name %q, want %q", step.what, got, step.want)
		}
	}
}

// 200 calls at once from a user who may not launch anything: one read of
// the image per app, at most maxExtractions reads at a time, and a launch
// by someone else goes through meanwhile.
func TestMetadataFloodIsBounded(t *testing.T) {
	e := newEnv(t)
	img := filepath.Join(e.paths.Machines, "img")
	writeFile(t, filepath.Join(img, "usr/share/applications/x.desktop"),
		"[Desktop Entry]\nType=Application\nName=X\nExec=/usr/bin/full\nIcon=x\n", 0o644)
	writeFile(t, filepath.Join(img, "usr/share/icons/hicolor/48x48/apps/x.png"), string(pngIcon(t, 48)), 0o644)
	for i := range 5 {
		e.app(fmt.Sprintf("app%d", i), fullApp, 0o644)
	}
	// The bus lets a connection wait for at most 128 replies: four of them.
	var clients []*launcher.Client
	for range 4 {
		clients = append(clients, launcher.NewClient(e.bus.ConnAs(t, bustest.Mallory, bustest.Mallory)))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := clients[i%4].Metadata(context.Background(), fmt.Sprintf("app%d", i%5))
			errs <- err
		}()
	}
	if _, _, err := e.launch(bustest.Alice, "plain", launcher.Session{}); err != nil {
		t.Errorf("a launch during the flood: %v", err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a Metadata call failed: %v", err)
		}
	}
	if n := e.svc.meta.extractions.Load(); n != 5 {
		t.Errorf("the image was read %d times for 5 apps", n)
	}
	if p := e.svc.meta.peak.Load(); p > maxExtractions {
		t.Errorf("%d reads at once, at most %d allowed", p, maxExtractions)
	}
}

func TestMetaCacheEvictsTheOldest(t *testing.T) {
	c := newMetaCache()
	for i := range 5 {
		c.store(fmt.Sprintf("a%d", i), &metaEntry{size: maxCacheBytes / 3})
	}
	if c.bytes > maxCacheBytes {
		t.Errorf("%d bytes kept, cap %d", c.bytes, maxCacheBytes)
	}
	if _, ok := c.entries["a4"]; !ok {
		t.Error("the newest entry was evicted")
	}
	if _, ok := c.entries["a0"]; ok {
		t.Error("the oldest entry was kept")
	}
}

// MetadataBatch answers as Metadata would, app by app and in order, each
// with its own error; a reply ends past MetadataBatchBytes of icons and
// the client asks again for the rest.
func TestMetadataBatch(t *testing.T) {
	e := newEnv(t)
	icon := e.imageX(t, "48x48", pngIcon(t, 48))
	c := e.client(bustest.Alice)
	ctx := context.Background()
	apps := []string{"full", "nosuch", "plain", "full", "../../etc/passwd"}
	res, err := c.MetadataBatch(ctx, apps, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(apps) {
		t.Fatalf("%d results for %d apps", len(res), len(apps))
	}
	for i, app := range apps {
		one, oneErr := c.Metadata(ctx, app)
		got := res[i]
		if (got.Err == nil) != (oneErr == nil) || (oneErr != nil && got.Err.Error() != oneErr.Error()) {
			t.Errorf("%s: batch error %v, Metadata's %v", app, got.Err, oneErr)
		}
		if oneErr != nil && !errors.Is(got.Err, launcher.ErrUnknownApp) {
			t.Errorf("%s: batch error %v is not ErrUnknownApp", app, got.Err)
		}
		if got.Meta.DesktopID != one.DesktopID || got.Meta.Entry.Name != one.Entry.Name || len(got.Meta.Icons) != len(one.Icons) {
			t.Errorf("%s: batch %+v, Metadata %+v", app, got.Meta, one)
		}
	}
	if res[0].Meta.DesktopID != "x" || len(res[0].Meta.Icons) != 1 || !bytes.Equal(res[0].Meta.Icons[0].Data, icon) {
		t.Errorf("full: %+v", res[0].Meta)
	}

	// Raw calls, as any local user can make them.
	obj := e.conn(bustest.Mallory).Object(launcher.BusName, launcher.ObjectPath)
	for _, bad := range [][]string{
		{},
		make([]string, launcher.MaxMetadataBatch+1),
		{strings.Repeat("a", 1<<17)},
	} {
		var r []launcher.MetadataReply
		err := obj.Call(launcher.Interface+".MetadataBatch", 0, bad, []launcher.KnownIcon{}).Store(&r)
		var de dbus.Error
		if !errors.As(err, &de) || de.Name != launcher.ErrNameInvalidArgs {
			t.Errorf("MetadataBatch of %d apps (%d bytes): %v, want InvalidArguments", len(bad), len(strings.Join(bad, "")), err)
		}
	}
}

// Past MetadataBatchBytes of icons the reply ends, and the client asks
// again: every app is answered, in order, over several calls.
func TestMetadataBatchIsCutBySize(t *testing.T) {
	e := newEnv(t)
	// Big icons: a noisy PNG does not compress.
	big := e.imageX(t, "512x512", noisyPNG(t, 400))
	var apps []string
	per := len(big)
	n := launcher.MetadataBatchBytes/per + 3
	for i := range n {
		id := fmt.Sprintf("big%d", i)
		e.app(id, strings.Replace(plainApp, `"/usr/bin/plain"`, `"/usr/bin/full"`, 1), 0o644)
		apps = append(apps, id)
	}
	// One raw call answers only a part.
	var part []launcher.MetadataReply
	if err := e.conn(bustest.Alice).Object(launcher.BusName, launcher.ObjectPath).Call(launcher.Interface+".MetadataBatch", 0, apps, []launcher.KnownIcon{}).Store(&part); err != nil {
		t.Fatal(err)
	}
	if len(part) == 0 || len(part) >= n {
		t.Errorf("one call answered %d of %d apps of %d bytes of icons each; want fewer, past %d bytes", len(part), n, per, launcher.MetadataBatchBytes)
	}
	res, err := e.client(bustest.Alice).MetadataBatch(context.Background(), apps, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil || len(r.Meta.Icons) != 1 || len(r.Meta.Icons[0].Data) != per {
			t.Fatalf("app %d: %+v, %v", i, r.Meta.DesktopID, r.Err)
		}
	}
	if len(res) != n {
		t.Errorf("%d results for %d apps", len(res), n)
	}
}

// imageX makes the image "img" (which the test env's definitions use) hold
// the desktop entry X, whose program is /usr/bin/full, and its icon in
// hicolor's sizeDir; it returns the icon.
func (e *env) imageX(t *testing.T, sizeDir string, icon []byte) []byte {
	t.Helper()
	img := filepath.Join(e.paths.Machines, "img")
	writeFile(t, filepath.Join(img, "usr/share/applications/x.desktop"), "[Desktop Entry]\nType=Application\nName=X\nExec=/usr/bin/full\nIcon=x\n", 0o644)
	writeFile(t, filepath.Join(img, "usr/share/icons/hicolor", sizeDir, "apps/x.png"), string(icon), 0o644)
	return icon
}

// noisyPNG is a size x size PNG of random pixels: it does not compress.
func noisyPNG(tb testing.TB, size int) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	rand.NewChaCha8([32]byte{1}).Read(img.Pix)
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// go test -run '^$' -bench MetadataCached ./daemon/: one app's Metadata
// answered from the cache, without the bus (what a sync of an unchanged
// menu costs the daemon per app).
func BenchmarkMetadataCached(b *testing.B) {
	dir := b.TempDir()
	s := &Service{paths: Paths{Apps: filepath.Join(dir, "apps"), Machines: filepath.Join(dir, "machines")}, meta: newMetaCache()}
	img := filepath.Join(s.paths.Machines, "img")
	for path, data := range map[string]string{
		filepath.Join(s.paths.Apps, "full.toml"):                          "name = \"Full\"\nimage = \"img\"\nexec = [\"/usr/bin/full\"]\n",
		filepath.Join(img, "usr/share/applications/x.desktop"):            "[Desktop Entry]\nType=Application\nName=X\nExec=/usr/bin/full\nIcon=x\n",
		filepath.Join(img, "usr/share/icons/hicolor/48x48/apps/x.png"):    string(noisyPNG(b, 48)),
		filepath.Join(img, "usr/share/icons/hicolor/scalable/apps/x.svg"): `<svg xmlns="http://www.w3.org/2000/svg" width="48" height="48"/>`,
		filepath.Join(img, "usr/bin/full"):                                "",
	} {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	if _, _, icons, err := s.metadata("full"); err != nil || len(icons) != 2 {
		b.Fatalf("metadata: %d icons, %v", len(icons), err)
	}
	for b.Loop() {
		if _, _, _, err := s.metadata("full"); err != nil {
			b.Fatal(err)
		}
	}
	if n := s.meta.extractions.Load(); n != 1 {
		b.Errorf("%d extractions, want the first only", n)
	}
}

// An icon the caller lists as known (its app, size, type and digest) comes
// back without bytes; any difference (another digest, size or app) brings
// the bytes, and the cache keeps them for the next caller.
func TestMetadataBatchLeavesOutKnownIcons(t *testing.T) {
	e := newEnv(t)
	icon := e.imageX(t, "48x48", pngIcon(t, 48))
	e.app("full2", strings.Replace(plainApp, `"/usr/bin/plain"`, `"/usr/bin/full"`, 1), 0o644)
	sum := sha256.Sum256(icon)
	other := sha256.Sum256([]byte("other"))
	c := e.client(bustest.Alice)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		known []launcher.KnownIcon
		bytes bool // full's icon comes with its bytes
	}{
		{"same", []launcher.KnownIcon{{App: "full", SizeDir: "48x48", Ext: "png", SHA256: sum[:]}}, false},
		{"other digest", []launcher.KnownIcon{{App: "full", SizeDir: "48x48", Ext: "png", SHA256: other[:]}}, true},
		{"other size", []launcher.KnownIcon{{App: "full", SizeDir: "64x64", Ext: "png", SHA256: sum[:]}}, true},
		{"other type", []launcher.KnownIcon{{App: "full", SizeDir: "48x48", Ext: "svg", SHA256: sum[:]}}, true},
		{"another app's", []launcher.KnownIcon{{App: "full2", SizeDir: "48x48", Ext: "png", SHA256: sum[:]}}, true},
		{"none", nil, true},
	} {
		res, err := c.MetadataBatch(ctx, []string{"full", "full2"}, tc.known)
		if err != nil || res[0].Err != nil || res[1].Err != nil {
			t.Fatalf("%s: %v, %+v", tc.name, err, res)
		}
		got := res[0].Meta.Icons
		if len(got) != 1 || got[0].SizeDir != "48x48" || got[0].Ext != "png" {
			t.Fatalf("%s: icons %+v", tc.name, got)
		}
		if has := bytes.Equal(got[0].Data, icon); has != tc.bytes || (!has && got[0].Data != nil) {
			t.Errorf("%s: full's icon has %d bytes, want them: %v", tc.name, len(got[0].Data), tc.bytes)
		}
		// full2 (the same icon) is known only in "another app's".
		if want := tc.name != "another app's"; bytes.Equal(res[1].Meta.Icons[0].Data, icon) != want {
			t.Errorf("%s: full2's icon has %d bytes", tc.name, len(res[1].Meta.Icons[0].Data))
		}
	}

	// Raw calls, as any local user can make them: a known list that is
	// too long or not made of SHA-256 digests is refused.
	obj := e.conn(bustest.Mallory).Object(launcher.BusName, launcher.ObjectPath)
	many := make([]launcher.KnownIcon, launcher.MaxKnownIcons+1)
	for i := range many {
		many[i] = launcher.KnownIcon{App: "full", SizeDir: fmt.Sprintf("%dx%d", i+1, i+1), Ext: "png", SHA256: sum[:]}
	}
	for name, known := range map[string][]launcher.KnownIcon{
		"too many":     many,
		"short digest": {{App: "full", SizeDir: "48x48", Ext: "png", SHA256: sum[:31]}},
		"no digest":    {{App: "full", SizeDir: "48x48", Ext: "png"}},
		"long size":    {{App: "full", SizeDir: strings.Repeat("1", 17), Ext: "png", SHA256: sum[:]}},
		"long app":     {{App: strings.Repeat("a", 256), SizeDir: "48x48", Ext: "png", SHA256: sum[:]}},
	} {
		var r []launcher.MetadataReply
		err := obj.Call(launcher.Interface+".MetadataBatch", 0, []string{"full"}, known).Store(&r)
		var de dbus.Error
		if !errors.As(err, &de) || de.Name != launcher.ErrNameInvalidArgs {
			t.Errorf("%s: %v, want InvalidArguments", name, err)
		}
	}
}
