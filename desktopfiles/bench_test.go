package desktopfiles

import (
	"fmt"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/nspawn-tray/nspawn-tray/ownedfiles"
)

var entries = ownedfiles.OwnerKey(".desktop", func(b []byte) bool { return ParseOwner(b) != "" })

// realisticWant is n rendered entries with translations, like a desktop
// with many apps (about 3 KB each).
func realisticWant(n int) map[string][]byte {
	want := make(map[string][]byte, n)
	e := fullEntry()
	loc := map[string]string{}
	for _, l := range []string{"ar", "ca", "cs", "da", "de", "el", "es", "fi", "fr", "he", "hu", "it", "ja", "ko", "nl", "pl", "pt", "pt_BR", "ru", "sv", "tr", "uk", "zh_CN", "zh_TW"} {
		loc[l] = "Translated name for " + l
	}
	e.NameLoc, e.CommentLoc = loc, loc
	for i := range n {
		id := "app-" + strconv.Itoa(i)
		e.Name = fmt.Sprintf("App %d", i)
		want["nspawn-tray-"+id+".desktop"] = Render(Ours{AppID: id, Entry: e, Launcher: testLauncher, HomeDir: "/home/u/.local/share/nspawn-tray/homes/" + id})
	}
	return want
}

func BenchmarkReconcile500(b *testing.B) {
	want := realisticWant(500)
	size := 0
	for _, d := range want {
		size += len(d)
	}
	b.Run("cold", func(b *testing.B) {
		base := b.TempDir()
		b.SetBytes(int64(size))
		written := 0
		for i := 0; i < b.N; i++ {
			res, err := ownedfiles.Reconcile(filepath.Join(base, strconv.Itoa(i)), entries, want)
			if err != nil {
				b.Fatal(err)
			}
			written += len(res.Written)
		}
		b.ReportMetric(float64(written)/float64(b.N), "written/op")
	})
	b.Run("unchanged", func(b *testing.B) {
		dir := b.TempDir()
		if _, err := ownedfiles.Reconcile(dir, entries, want); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(size))
		b.ResetTimer()
		written := 0
		for i := 0; i < b.N; i++ {
			res, err := ownedfiles.Reconcile(dir, entries, want)
			if err != nil {
				b.Fatal(err)
			}
			written += len(res.Written) + len(res.Removed)
		}
		b.ReportMetric(float64(written)/float64(b.N), "written/op")
	})
}
