package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

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
