package daemon

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/png"
	"path/filepath"
	"slices"
	"strings"
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
