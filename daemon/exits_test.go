package daemon

import (
	"os"
	"path/filepath"
	"testing"
)

// On a fresh boot the daemon makes /run/nspawn-tray: users must pass
// through it to their sockets in the staging dirs, while the exit records
// stay root's. (The first version made both 0700: every X11 launch failed
// with "permission denied" until something else made the parent.)
func TestExitsDirLeavesItsParentOpen(t *testing.T) {
	run := filepath.Join(t.TempDir(), "run", "nspawn-tray")
	exits := filepath.Join(run, "exits")
	w, err := newExitWatch(exits)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	for dir, want := range map[string]os.FileMode{run: 0o755, filepath.Dir(run): 0o755, exits: 0o700} {
		fi, err := os.Stat(dir)
		if err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v %v, want %v", dir, fi.Mode(), err, want)
		}
	}
}
