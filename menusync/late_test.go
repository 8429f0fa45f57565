package menusync

import (
	"context"
	"os"
	"slices"
	"testing"

	"github.com/nspawn-tray/nspawn-tray/config"
	"github.com/nspawn-tray/nspawn-tray/launcher"
)

type recorder struct{ asked []string }

func (r *recorder) Metadata(_ context.Context, app string) (launcher.AppMetadata, error) {
	r.asked = append(r.asked, app)
	return launcher.AppMetadata{DesktopID: "late." + app}, nil
}

// A definition that appeared after the daemon was asked by file name (a
// race with an administrator's app add) is asked for on its own; the
// others keep their early answers.
func TestMetadataOfAsksForLateDefinitions(t *testing.T) {
	src := &recorder{}
	early := map[string]metaResult{"a": {meta: launcher.AppMetadata{DesktopID: "early.a"}}}
	got := metadataOf(context.Background(), Options{Source: src, DataHome: t.TempDir()},
		[]config.App{{ID: "a"}, {ID: "b"}}, early)
	if !slices.Equal(src.asked, []string{"b"}) || got[0].meta.DesktopID != "early.a" || got[1].meta.DesktopID != "late.b" {
		t.Errorf("asked %v, got %+v", src.asked, got)
	}
}

// definitionIDs finds what config.LoadDir would: *.toml, no dot files,
// valid ids only.
func TestDefinitionIDs(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"a.toml", ".hidden.toml", "b.toml.dpkg-new", "c.toml", "Bad Name.toml", "d.txt"} {
		writeTestFile(t, dir+"/"+n)
	}
	if got := definitionIDs(dir); !slices.Equal(got, []string{"a", "c"}) {
		t.Errorf("definitionIDs = %v, want [a c]", got)
	}
	if got := definitionIDs(dir + "/missing"); got != nil {
		t.Errorf("missing dir: %v", got)
	}
}

func writeTestFile(t *testing.T, p string) {
	t.Helper()
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}
