package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/nspawn-tray/nspawn-tray/launcher"
	"github.com/nspawn-tray/nspawn-tray/stage"
)

// device is one host device node a gpu app gets: bound at the same path,
// allowed read-write by the unit's device policy.
type device struct {
	Path string
	GID  uint32 // the node's group, which the user keeps when a member
}

// deviceRule is one DeviceAllow entry of the unit: a path or a device class
// ("char-pts") and its access ("rw", "rwm").
type deviceRule struct {
	Path, Access string
}

// gpuNames are the device nodes of GPUs, by directory below /dev: DRI's
// render nodes (what Mesa, Vulkan and VA-API open) and card nodes (what
// older GL drivers, and KMS, open), and NVIDIA's proprietary nodes.
var gpuNames = []struct {
	dir string
	re  *regexp.Regexp
}{
	{"dri", regexp.MustCompile(`^(renderD|card)[0-9]{1,4}$`)},
	{"", regexp.MustCompile(`^nvidia([0-9]{1,3}|ctl|-modeset|-uvm|-uvm-tools)$`)},
}

// findGPUs lists the GPU nodes under dev: character devices only, never a
// symlink (a node's path is what gets bound, so it must be the node). A
// host without a GPU has none, and that is no error.
func findGPUs(dev string) ([]device, error) {
	var out []device
	for _, g := range gpuNames {
		dir := filepath.Join(dev, g.dir)
		names, err := readDirNames(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, name := range names {
			if !g.re.MatchString(name) {
				continue
			}
			path := filepath.Join(dir, name)
			var st unix.Stat_t
			if err := unix.Lstat(path, &st); err != nil {
				if errors.Is(err, unix.ENOENT) {
					continue // gone since the listing
				}
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			if st.Mode&unix.S_IFMT != unix.S_IFCHR {
				continue
			}
			out = append(out, device{Path: path, GID: st.Gid})
		}
	}
	return out, nil
}

func readDirNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	slices.Sort(names)
	return names, err
}

// baseDeviceRules are what any instance needs once the unit's device
// policy is a list (systemd applies DevicePolicy=closed as soon as there
// is one DeviceAllow): the devices systemd-nspawn allows in the scopes it
// makes itself (pseudo-terminals, /dev/net/tun), and the loop devices it
// mounts a raw image from. systemd adds /dev/null, zero, full, random and
// urandom on its own.
var baseDeviceRules = []deviceRule{
	{"/dev/tty", "rwm"},
	{"/dev/ptmx", "rwm"},
	{"char-pts", "rw"},
	{"/dev/net/tun", "rwm"},
	{"/dev/loop-control", "rw"},
	{"block-loop", "rw"},
	{"block-blkext", "rw"},
}

// deviceRules is the unit's DeviceAllow for the devices an instance gets:
// none when it gets none (the default policy; nspawn's own /dev has no
// device nodes to reach), otherwise the base rules and each device rw
// (no "m": nothing inside may mknod).
func deviceRules(devs []device) []deviceRule {
	if len(devs) == 0 {
		return nil
	}
	rules := slices.Clone(baseDeviceRules)
	for _, d := range devs {
		rules = append(rules, deviceRule{d.Path, "rw"})
	}
	return rules
}

// deviceGroups is which of the devices' groups the user keeps inside: those
// the user is a member of on the host (video, render), never root's group,
// and not the user's primary group, which exec-as sets anyway.
func deviceGroups(devs []device, member []uint32, primary uint32) []uint32 {
	var out []uint32
	for _, d := range devs {
		if d.GID != 0 && d.GID != primary && slices.Contains(member, d.GID) && !slices.Contains(out, d.GID) {
			out = append(out, d.GID)
		}
	}
	return out
}

// hostGroups is the host's group list of uid: what the host's own group
// database says, never what the user or the image claims.
func hostGroups(uid uint32) ([]uint32, error) {
	u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10))
	if err != nil {
		return nil, err
	}
	ids, err := u.GroupIds()
	if err != nil {
		return nil, err
	}
	var out []uint32
	for _, id := range ids {
		if n, err := strconv.ParseUint(id, 10, 32); err == nil {
			out = append(out, uint32(n))
		}
	}
	return out, nil
}

// gpuAccess is the host's GPU nodes and the groups of theirs the user
// keeps, for a launch (bindGPU) and for a join into its instance.
func gpuAccess(dev string, u stage.User) ([]device, []uint32, error) {
	devs, err := findGPUs(dev)
	if err != nil {
		return nil, nil, fail(launcher.ErrNameFailed, "gpu: %v", err)
	}
	// No group database entry: no groups kept, the nodes' other
	// permissions (and ACLs) still apply.
	member, _ := hostGroups(u.UID)
	return devs, deviceGroups(devs, member, u.GID), nil
}

// bindGPU gives a gpu app the host's GPU nodes. A host without any is no
// error: the app renders in software, as without the key.
func bindGPU(_ context.Context, l *launch) error {
	if !l.app.GPU {
		return nil
	}
	devs, groups, err := gpuAccess(l.s.paths.Dev, l.user)
	if err != nil {
		return err
	}
	l.spec.Devices, l.spec.Groups = devs, groups
	for _, d := range devs {
		l.spec.Binds = append(l.spec.Binds, bind{Src: d.Path, Dst: d.Path, RW: true})
	}
	return nil
}
