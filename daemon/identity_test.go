package daemon

import (
	"bytes"
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nspawn-tray/nspawn-tray/internal/bustest"
	"github.com/nspawn-tray/nspawn-tray/launcher"
	"github.com/nspawn-tray/nspawn-tray/stage"
)

func TestHostUser(t *testing.T) {
	unknown := uint32(3999999)
	if _, err := user.LookupId("3999999"); err == nil {
		t.Skip("uid 3999999 exists here")
	}
	tests := []struct {
		name string
		uid  uint32
		want stage.User
		err  string
	}{
		{"known user", bustest.Alice, stage.User{Name: "nobody", UID: 65534, GID: 65534, Home: "/home/nobody", Shell: "/bin/sh"}, ""},
		{"another known user", bustest.Mallory, stage.User{Name: "daemon", UID: 1, GID: 1, Home: "/home/daemon", Shell: "/bin/sh"}, ""},
		// A uid without a passwd entry (from LDAP gone offline, say) still
		// gets a valid identity, with its uid as its group.
		{"unknown uid", unknown, stage.User{Name: "u3999999", UID: unknown, GID: unknown, Home: "/home/u3999999", Shell: "/bin/sh"}, ""},
		{"root's group", 0, stage.User{}, "uid 0 has root's group as its primary group"},
		{"uid -1", ^uint32(0), stage.User{}, "uid/gid -1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := hostUser(tc.uid)
			if tc.err != "" {
				var ce *callError
				if !errors.As(err, &ce) || ce.name != launcher.ErrNameInvalidArgs || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("hostUser(%d) = %+v, %v; want InvalidArguments %q", tc.uid, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("hostUser(%d) = %+v, %v; want %+v", tc.uid, got, err, tc.want)
			}
		})
	}
}

func TestAppHome(t *testing.T) {
	needRoot(t)
	homes := filepath.Join(t.TempDir(), "homes")
	home, err := appHome(homes, bustest.Alice, bustest.Alice, "full")
	if err != nil {
		t.Fatal(err)
	}
	if home != filepath.Join(homes, "65534", "full") {
		t.Errorf("home %s", home)
	}
	checkOwner(t, home, bustest.Alice, 0o700)
	checkOwner(t, filepath.Join(homes, "65534"), 0, 0o755)
	// The home persists: a second launch finds what the first left.
	writeFile(t, filepath.Join(home, "kept"), "x", 0o644)
	if again, err := appHome(homes, bustest.Alice, bustest.Alice, "full"); err != nil || again != home {
		t.Fatalf("second appHome = %s, %v", again, err)
	}
	if _, err := os.Stat(filepath.Join(home, "kept")); err != nil {
		t.Errorf("the home was not reused: %v", err)
	}
}

func TestAppHomeRefuses(t *testing.T) {
	needRoot(t)
	tests := []struct {
		name  string
		setup func(t *testing.T, homes string)
		err   string
	}{
		{"homes writable by others", func(t *testing.T, homes string) {
			mkdir(t, homes)
			os.Chmod(homes, 0o777)
		}, "must be root-owned"},
		{"the uid's dir owned by the user", func(t *testing.T, homes string) {
			mkdir(t, filepath.Join(homes, "65534"))
			os.Chown(filepath.Join(homes, "65534"), int(bustest.Alice), int(bustest.Alice))
		}, "must be root-owned"},
		// The user could otherwise point the home anywhere.
		{"the uid's dir a symlink", func(t *testing.T, homes string) {
			mkdir(t, filepath.Join(homes, "elsewhere"))
			os.Symlink("elsewhere", filepath.Join(homes, "65534"))
		}, "65534: not a directory"}, // O_NOFOLLOW|O_DIRECTORY on a symlink
		{"the home a symlink", func(t *testing.T, homes string) {
			mkdir(t, filepath.Join(homes, "65534"))
			os.Symlink("/etc", filepath.Join(homes, "65534", "full"))
		}, "65534/full: not a directory"},
		{"the home owned by another user", func(t *testing.T, homes string) {
			mkdir(t, filepath.Join(homes, "65534", "full"))
			os.Chown(filepath.Join(homes, "65534", "full"), int(bustest.Mallory), int(bustest.Mallory))
		}, "owned by uid 1, not 65534"},
		{"homes is a file", func(t *testing.T, homes string) { writeFile(t, homes, "", 0o644) }, "home: create"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			homes := filepath.Join(t.TempDir(), "homes")
			tc.setup(t, homes)
			if home, err := appHome(homes, bustest.Alice, bustest.Alice, "full"); err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("appHome = %s, %v; want an error containing %q", home, err, tc.err)
			}
		})
	}
}

func TestAppMachineID(t *testing.T) {
	host := []byte("0123456789abcdef0123456789abcdef\n")
	a, err := appMachineID(host, 1000, "firefox")
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 33 || a[32] != '\n' || a[12] != '4' || !strings.ContainsRune("89ab", rune(a[16])) {
		t.Errorf("id %q is not a v4 UUID in machine-id form", a)
	}
	if bytes.Contains(a, host[:32]) {
		t.Error("the app's id shows the host's")
	}
	again, _ := appMachineID(host, 1000, "firefox")
	other, _ := appMachineID(host, 1000, "chromium")
	user, _ := appMachineID(host, 1001, "firefox")
	host2, _ := appMachineID([]byte("fedcba9876543210fedcba9876543210"), 1000, "firefox")
	if !bytes.Equal(a, again) {
		t.Error("the id is not stable")
	}
	for name, b := range map[string][]byte{"another app": other, "another user": user, "another host": host2} {
		if bytes.Equal(a, b) {
			t.Errorf("%s gets the same id", name)
		}
	}
	for _, bad := range []string{"", "xyz", "0123456789abcdef"} {
		if _, err := appMachineID([]byte(bad), 1000, "x"); err == nil {
			t.Errorf("host id %q accepted", bad)
		}
	}
}
