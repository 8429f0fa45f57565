package daemon

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nspawn-tray/nspawn-tray/internal/bustest"
	"github.com/nspawn-tray/nspawn-tray/launcher"
)

// userHome makes Alice's home on the "host" below the env's root, with
// user-dirs.dirs content (none when empty), and points the daemon at it.
func (e *env) userHome(userDirs string) string {
	home := filepath.Join(filepath.Dir(e.paths.Stage), "home", "alice")
	mkdir(e.t, home)
	if userDirs != "" {
		writeFile(e.t, filepath.Join(home, ".config/user-dirs.dirs"), userDirs, 0o644)
	}
	e.svc.homeOf = func(uint32) (string, error) { return home, nil }
	return home
}

func chownAll(t *testing.T, root string, uid uint32) {
	t.Helper()
	filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if err == nil {
			os.Lchown(p, int(uid), int(uid))
		}
		return err
	})
}

func TestShareBindsTheUsersDirs(t *testing.T) {
	e := newEnv(t)
	home := e.userHome("# xdg-user-dirs\nXDG_DOWNLOAD_DIR=\"$HOME/Téléchargements\"\nXDG_MUSIC_DIR=\"/etc\"\nXDG_VIDEOS_DIR=\"$HOME/../x\"\n")
	for _, d := range []string{"Téléchargements", "Documents", "Music", "etc"} {
		mkdir(t, filepath.Join(home, d))
	}
	chownAll(t, home, bustest.Alice)
	e.app("sharer", strings.Replace(plainApp, "home = false", "home = true\nshare = [\"downloads\", \"documents\", \"music\", \"pictures\"]", 1), 0o644)
	m, _, err := e.launch(bustest.Alice, "sharer", launcher.Session{})
	if err != nil {
		t.Fatal(err)
	}
	argv := e.startedUnit(unitName(m)).Argv("ExecStart")
	s := filepath.Join(e.paths.Stage, m)
	for _, want := range []string{
		"--bind=" + s + "/share-downloads:/home/nobody/Téléchargements",
		"--bind=" + s + "/share-documents:/home/nobody/Documents",
		// user-dirs.dirs may not point outside the home: the default.
		"--bind=" + s + "/share-music:/home/nobody/Music",
	} {
		if !slices.Contains(argv, want) {
			t.Errorf("no %s in %q", want, argv)
		}
	}
	if strings.Contains(strings.Join(argv, " "), "share-pictures") {
		t.Error("a missing Pictures was bound")
	}
	if !sameInode(t, s+"/share-downloads", filepath.Join(home, "Téléchargements")) {
		t.Error("share-downloads is not the user's directory")
	}
	// The mount points in the app's home are the user's.
	appHome := filepath.Join(e.paths.Homes, itoa(bustest.Alice), "sharer")
	checkOwner(t, filepath.Join(appHome, "Téléchargements"), bustest.Alice, 0o700)
}

func TestShareRefusesWhatIsNotTheUsers(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, home string)
		msg   string
	}{
		{"a symlink to another user's files", func(t *testing.T, home string) {
			os.Symlink("/root", filepath.Join(home, "Downloads"))
		}, "share downloads: "},
		{"a directory root owns", func(t *testing.T, home string) {
			mkdir(t, filepath.Join(home, "Downloads"))
			os.Chown(filepath.Join(home, "Downloads"), 0, 0)
		}, "owned by uid 0, not yours"},
		{"user-dirs.dirs a symlink to /etc/shadow", func(t *testing.T, home string) {
			os.Remove(filepath.Join(home, ".config/user-dirs.dirs"))
			os.Symlink("/etc/shadow", filepath.Join(home, ".config/user-dirs.dirs"))
			os.Symlink("/root", filepath.Join(home, "Downloads"))
		}, "share downloads: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			home := e.userHome("XDG_DOCUMENTS_DIR=\"$HOME/Documents\"\n")
			chownAll(t, home, bustest.Alice)
			tc.setup(t, home)
			e.app("sharer", strings.Replace(plainApp, "home = false", "share = [\"downloads\"]", 1), 0o644)
			_, _, err := e.launch(bustest.Alice, "sharer", launcher.Session{})
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("launch: %v, want %q", err, tc.msg)
			}
			if len(e.staged()) != 0 {
				t.Errorf("staged: %v", e.staged())
			}
		})
	}
}
