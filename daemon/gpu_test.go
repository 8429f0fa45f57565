package daemon

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nspawn-tray/nspawn-tray/config"
)

// A gpu app's command line and unit: each node bound at its own path, the
// device groups kept by exec-as, and a DeviceAllow that lists the nodes rw
// (never "m") beside what nspawn needs anyway.
func TestGPUGolden(t *testing.T) {
	app := config.App{ID: "chromium", Name: "Chromium", Image: "realapps", Exec: []string{"/usr/bin/chromium"},
		X11: config.X11Host, Audio: config.AudioPlayback, Network: config.NetworkHost, Home: true, GPU: true}
	devs := []device{{"/dev/dri/card0", 44}, {"/dev/dri/renderD128", 105}, {"/dev/nvidia0", 44}, {"/dev/nvidiactl", 44}}
	s := spec{App: app, Machine: "chromium-0a1b2c3d", Image: "/var/lib/machines/realapps", Self: "/usr/bin/nspawn-tray",
		UID: 1000, GID: 1000, Home: "/home/alice", Env: map[string]string{"HOME": "/home/alice"},
		Devices: devs, Groups: deviceGroups(devs, []uint32{1000, 44, 105, 27}, 1000)}
	for _, d := range devs {
		s.Binds = append(s.Binds, bind{Src: d.Path, Dst: d.Path, RW: true})
	}
	var b strings.Builder
	for _, arg := range nspawnArgv("/usr/bin/systemd-nspawn", s) {
		b.WriteString(strconv.Quote(arg) + "\n")
	}
	golden(t, "argv-gpu.txt", b.String())
	b.Reset()
	for _, r := range deviceRules(devs) {
		b.WriteString(r.Path + " " + r.Access + "\n")
	}
	golden(t, "unit-gpu-device-allow.txt", b.String())
	// Without devices, the unit keeps systemd's default policy: no list.
	if r := deviceRules(nil); r != nil {
		t.Errorf("deviceRules(nil) = %v", r)
	}
	for _, r := range deviceRules(devs) {
		if strings.Contains(r.Access, "m") && !slices.Contains(baseDeviceRules, r) {
			t.Errorf("%s may mknod", r.Path)
		}
	}
}

func TestDeviceGroups(t *testing.T) {
	devs := []device{{"/dev/dri/card0", 44}, {"/dev/dri/renderD128", 105}, {"/dev/dri/card1", 44}, {"/dev/nvidia0", 0}, {"/dev/x", 1000}, {"/dev/y", 7}}
	for _, tc := range []struct {
		member []uint32
		want   []uint32
	}{
		{[]uint32{1000, 44, 105}, []uint32{44, 105}}, // video and render, once each
		{[]uint32{1000}, nil},                        // not a member: nothing
		{[]uint32{0, 1000, 44}, []uint32{44}},        // root's group: never, even when listed
		{[]uint32{7, 1000}, []uint32{7}},
		{nil, nil},
	} {
		if got := deviceGroups(devs, tc.member, 1000); !slices.Equal(got, tc.want) {
			t.Errorf("member of %v: %v, want %v", tc.member, got, tc.want)
		}
	}
}

// findGPUs takes only character devices with GPU names: a symlink named
// like a node (to the user's disk, say), a regular file, a fifo or a
// block device is no GPU. Needs root for mknod.
func TestFindGPUsTakesOnlyCharacterDevices(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (mknod)")
	}
	dev := t.TempDir()
	dri := filepath.Join(dev, "dri")
	if err := os.Mkdir(dri, 0o755); err != nil {
		t.Fatal(err)
	}
	mk := func(path string, mode uint32, major, minor uint32) {
		if err := unix.Mknod(path, mode, int(unix.Mkdev(major, minor))); err != nil {
			t.Skipf("mknod %s: %v (no device nodes here)", path, err)
		}
	}
	mk(filepath.Join(dri, "renderD128"), unix.S_IFCHR|0o666, 226, 128)
	mk(filepath.Join(dri, "card0"), unix.S_IFCHR|0o660, 226, 0)
	mk(filepath.Join(dev, "nvidiactl"), unix.S_IFCHR|0o666, 195, 255)
	mk(filepath.Join(dri, "card1"), unix.S_IFBLK|0o660, 8, 0)
	mk(filepath.Join(dri, "renderD130"), unix.S_IFIFO|0o666, 0, 0)
	if err := os.Symlink("/dev/sda", filepath.Join(dri, "renderD129")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dev, "nvidia0"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	mk(filepath.Join(dri, "by-path"), unix.S_IFCHR|0o666, 1, 3) // a char device, not a GPU name
	mk(filepath.Join(dev, "sda"), unix.S_IFCHR|0o666, 1, 3)
	if err := os.Chown(filepath.Join(dri, "card0"), 0, 44); err != nil {
		t.Fatal(err)
	}
	got, err := findGPUs(dev)
	if err != nil {
		t.Fatal(err)
	}
	want := []device{{filepath.Join(dri, "card0"), 44}, {filepath.Join(dri, "renderD128"), 0}, {filepath.Join(dev, "nvidiactl"), 0}}
	if !slices.Equal(got, want) {
		t.Errorf("findGPUs = %v, want %v", got, want)
	}
	// No /dev/dri at all: no GPU, no error.
	if got, err := findGPUs(t.TempDir()); err != nil || got != nil {
		t.Errorf("empty dev: %v, %v", got, err)
	}
}
