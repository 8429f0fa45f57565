package daemon

import (
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nspawn-tray/nspawn-tray/config"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (run with -update if the change is intended)\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

func TestNspawnArgvGolden(t *testing.T) {
	base := config.App{ID: "spotify", Name: "Spotify", Image: "spotify", Exec: []string{"/usr/bin/spotify", "--no-zygote"},
		X11: config.X11Host, Audio: config.AudioPlayback, Network: config.NetworkHost, Home: true}
	full := spec{
		App: base, Machine: "spotify-0a1b2c3d", Image: "/var/lib/machines/spotify", Self: "/usr/bin/nspawn-tray",
		UID: 1000, GID: 1000, Home: "/home/alice",
		Binds: []bind{
			{Src: "/run/nspawn-tray/instances/spotify-0a1b2c3d/passwd", Dst: "/etc/passwd"},
			{Src: "/run/nspawn-tray/instances/spotify-0a1b2c3d/X0", Dst: "/tmp/.X11-unix/X0", RW: true},
			{Src: "/var/lib/nspawn-tray/homes/1000/spotify", Dst: "/home/alice", RW: true},
		},
		Env:  map[string]string{"HOME": "/home/alice", "DISPLAY": ":0", "A": "has spaces\nand a newline"},
		Args: []string{"--bind=/", "$(reboot)", ";", "../../etc/shadow"},
	}
	private := full
	private.App.Network = config.NetworkNone
	private.Args = nil
	// A raw image: --image instead of --directory, and nothing else
	// changes (read-only, the volatile overlay, the binds).
	raw := private
	raw.Image, raw.Raw = "/var/lib/machines/spotify.raw", true
	for name, spec := range map[string]spec{"argv-full.txt": full, "argv-private-network.txt": private, "argv-raw-image.txt": raw} {
		t.Run(name, func(t *testing.T) {
			var b strings.Builder
			for _, arg := range nspawnArgv("/usr/bin/systemd-nspawn", spec) {
				b.WriteString(strconv.Quote(arg) + "\n")
			}
			golden(t, name, b.String())
		})
	}
}

// Whatever the user passes as app arguments must land after nspawn's "--"
// and after exec-as's "--": never parsed as an option by either.
func TestNspawnArgvUserArgsStayPayload(t *testing.T) {
	spec := spec{App: config.App{Exec: []string{"/bin/true"}, Network: config.NetworkHost}, Machine: "x-00000000",
		Image: "/var/lib/machines/x", Self: "/usr/bin/nspawn-tray", UID: 1000, GID: 1000, Home: "/home/a",
		Args: []string{"--bind=/:/host", "--private-users=no", "-D/"}}
	argv := nspawnArgv("/usr/bin/systemd-nspawn", spec)
	first := -1
	for i, a := range argv {
		if a == "--" {
			first = i
			break
		}
	}
	if first < 0 {
		t.Fatal("no -- in the nspawn command line")
	}
	for _, a := range argv[:first] {
		for _, evil := range spec.Args {
			if a == evil {
				t.Errorf("user argument %q is among nspawn's options", evil)
			}
		}
	}
	tail := argv[first+1:]
	want := []string{"/run/nspawn-tray/exec", "exec-as", "--uid", "1000", "--gid", "1000", "--home", "/home/a", "--", "/bin/true",
		"--bind=/:/host", "--private-users=no", "-D/"}
	if strings.Join(tail, " ") != strings.Join(want, " ") {
		t.Errorf("payload %q\nwant    %q", tail, want)
	}
}
