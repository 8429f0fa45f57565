package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/config"
	"github.com/nspawn-tray/nspawn-tray/launcher"
	"github.com/nspawn-tray/nspawn-tray/machinename"
	"github.com/nspawn-tray/nspawn-tray/systemd"
)

// Bounds of a Logs call's options.
const (
	defaultLogLines = 200
	maxLogLines     = 10000
)

// logsOptions are Logs' a{sv}: a closed set, like the session's.
type logsOptions struct {
	lines  int32
	follow bool
}

func parseLogsOptions(d map[string]dbus.Variant) (logsOptions, error) {
	o := logsOptions{lines: defaultLogLines}
	for k, v := range d {
		switch k {
		case "lines":
			n, ok := v.Value().(int32)
			if !ok || n < 0 || n > maxLogLines {
				return o, fmt.Errorf("lines: want an int32 from 0 to %d", maxLogLines)
			}
			o.lines = n
		case "follow":
			b, ok := v.Value().(bool)
			if !ok {
				return o, fmt.Errorf("follow: want a boolean")
			}
			o.follow = b
		default:
			return o, fmt.Errorf("unknown option %q", truncate(k))
		}
	}
	return o, nil
}

// logs writes the journal of an instance's unit to the caller's fd: the
// app's own output (stdout and stderr go to the journal when nobody
// waits) and systemd's lines about it. It is authorized like Stop, since it
// may show what an app printed: the owner under stop-own, anyone else
// under stop-any. journalctl runs as a transient unit with a dynamic user
// in the systemd-journal group, not as the daemon: with follow it runs as
// long as the reader reads (journalctl ends when its output is closed), or
// until the instance ends.
func (s *Service) logs(ctx context.Context, msg dbus.Message, target string, opts map[string]dbus.Variant, out dbus.UnixFD) error {
	sender, uid, err := s.caller(ctx, msg)
	if err != nil {
		return err
	}
	o, err := parseLogsOptions(opts)
	if err != nil {
		return fail(launcher.ErrNameInvalidArgs, "logs: %v", err)
	}
	rec, running, err := s.findInstance(ctx, target, uid)
	if err != nil {
		return err
	}
	action := launcher.ActionStopAny
	if rec.UID == uid {
		action = launcher.ActionStopOwn
	}
	if err := s.authorize(ctx, msg, sender, action, map[string]string{"app": rec.App, "machine": rec.Machine}); err != nil {
		return othersInstance(err, action, rec.Machine, "read its log")
	}
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	unit := "nspawn-tray-logs-" + rec.Machine + "-" + hex.EncodeToString(b[:]) + ".service"
	argv := []string{s.paths.Journalctl, "--no-pager", "--quiet", "--output=short",
		"--lines=" + strconv.Itoa(int(o.lines)), "--unit=" + rec.Unit}
	props := []systemd.Property{
		systemd.Prop("Description", "nspawn-tray: the log of "+rec.Machine),
		systemd.Prop("CollectMode", "inactive-or-failed"),
		systemd.Prop("DynamicUser", true),
		systemd.Prop("SupplementaryGroups", []string{"systemd-journal"}),
		systemd.Prop("PrivateNetwork", true),
		systemd.Prop("NoNewPrivileges", true),
		systemd.Prop("StandardInput", "null"),
		systemd.Prop("StandardOutputFileDescriptor", out),
		systemd.Prop("StandardError", "inherit"),
	}
	if o.follow && running {
		argv = append(argv, "--follow")
		// Following ends with the instance, a second after it: journalctl
		// stops at SIGTERM, and the instance's last lines may not be
		// printed yet.
		props = append(props, systemd.Prop("BindsTo", []string{rec.Unit}), systemd.Prop("After", []string{rec.Unit}),
			systemd.ExecProp("ExecStop", systemd.ExecCommand{Path: "/bin/sleep", Argv: []string{"/bin/sleep", "1"}}))
	} else {
		props = append(props, systemd.Prop("RuntimeMaxUSec", uint64(60e6)))
	}
	props = append(props, systemd.ExecProp("ExecStart", systemd.ExecCommand{Path: argv[0], Argv: argv}))
	if err := s.units.StartTransientUnit(ctx, unit, props); err != nil {
		return fmt.Errorf("logs of %s: %w", rec.Machine, err)
	}
	return nil
}

// findInstance resolves target for uid: a machine name, running or ended
// within exitKeep, or an app id, the caller's latest instance of it.
func (s *Service) findInstance(ctx context.Context, target string, uid uint32) (launcher.Instance, bool, error) {
	if machinename.CheckInstance(target) == nil {
		if rec, err := s.readRecord(target); err == nil {
			return rec, true, nil
		}
		if rec, err := s.readExit(target); err == nil {
			return rec.Instance, false, nil
		}
		return launcher.Instance{}, false, fail(launcher.ErrNameNoSuchInstance, "no nspawn-tray instance %q (ended instances are known for %s)", target, keptFor)
	}
	if config.ValidID(target) != nil {
		return launcher.Instance{}, false, fail(launcher.ErrNameNoSuchInstance, "%q is neither an instance nor an app", truncate(target))
	}
	var best launcher.Instance
	running := false
	consider := func(rec launcher.Instance, live bool) {
		if rec.App == target && rec.UID == uid && rec.Since >= best.Since {
			best, running = rec, live
		}
	}
	for _, dir := range []struct {
		path string
		live bool
	}{{s.paths.Exits, false}, {s.paths.Stage, true}} {
		entries, err := os.ReadDir(dir.path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return launcher.Instance{}, false, err
		}
		for _, e := range entries {
			name := strings.TrimSuffix(e.Name(), ".json")
			if machinename.CheckInstance(name) != nil {
				continue
			}
			if dir.live {
				if rec, err := s.readRecord(name); err == nil {
					consider(rec, true)
				}
			} else if rec, err := s.readExit(name); err == nil {
				consider(rec.Instance, false)
			}
		}
	}
	if best.Machine == "" {
		return best, false, fail(launcher.ErrNameNoSuchInstance, "you have no instance of %q running or ended in the last hour", target)
	}
	return best, running, nil
}
