package cli

import (
	"testing"

	"github.com/nspawn-tray/nspawn-tray/menusync"
	"github.com/nspawn-tray/nspawn-tray/ownedfiles"
)

func TestSyncSummary(t *testing.T) {
	files := func(n int) []string { return make([]string, n) }
	for _, tc := range []struct {
		name string
		res  menusync.Result
		want string
	}{
		{"nothing", menusync.Result{}, "0 apps, all up to date"},
		{"up to date", menusync.Result{Apps: 3}, "3 apps, all up to date"},
		{"one of each", menusync.Result{Apps: 1,
			Entries: ownedfiles.Result{Written: files(1), Removed: files(1)},
			Icons:   ownedfiles.Result{Written: files(1), Removed: files(1)}},
			"1 app, 1 entry written, 1 entry removed, 1 icon written, 1 icon removed"},
		{"some", menusync.Result{Apps: 12,
			Entries: ownedfiles.Result{Written: files(2)},
			Icons:   ownedfiles.Result{Removed: files(5)}},
			"12 apps, 2 entries written, 5 icons removed"},
		{"left alone, warnings", menusync.Result{Apps: 2,
			Entries:  ownedfiles.Result{Skipped: files(1)},
			Icons:    ownedfiles.Result{Skipped: files(2)},
			Warnings: []string{"x"}},
			"2 apps, all up to date, 3 files left alone (not nspawn-tray's), 1 warning in the log"},
		{"one left alone, warnings", menusync.Result{Apps: 2,
			Entries:  ownedfiles.Result{Written: files(1), Skipped: files(1)},
			Warnings: []string{"x", "y"}},
			"2 apps, 1 entry written, 1 file left alone (not nspawn-tray's), 2 warnings in the log"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := syncSummary(tc.res); got != tc.want {
				t.Errorf("syncSummary = %q, want %q", got, tc.want)
			}
		})
	}
}
