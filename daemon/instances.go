package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/launcher"
	"github.com/nspawn-tray/nspawn-tray/machined"
	"github.com/nspawn-tray/nspawn-tray/machinename"
)

// list is the service's instances that machined has registered.
func (s *Service) list(ctx context.Context) ([]launcher.Instance, error) {
	entries, err := os.ReadDir(s.paths.Stage)
	if errors.Is(err, fs.ErrNotExist) {
		return []launcher.Instance{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("daemon: list %s: %w", s.paths.Stage, err)
	}
	running, err := s.machines.List(ctx)
	if err != nil {
		return nil, err
	}
	registered := map[string]bool{}
	for _, m := range running {
		registered[m.Name] = true
	}
	out := []launcher.Instance{}
	for _, e := range entries {
		if machinename.CheckInstance(e.Name()) != nil || !registered[e.Name()] {
			continue
		}
		if rec, err := s.readRecord(e.Name()); err == nil {
			out = append(out, rec)
		}
	}
	return out, nil
}

// countInstances counts uid's instances: the staging dirs holding a record
// of uid's. A record whose unit systemd no longer knows, a minute after its
// start, is a leftover (the daemon died mid-launch) and does not count.
func (s *Service) countInstances(ctx context.Context, uid uint32) int {
	entries, err := os.ReadDir(s.paths.Stage)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range entries {
		if machinename.CheckInstance(e.Name()) != nil {
			continue
		}
		rec, err := s.readRecord(e.Name())
		if err != nil || rec.UID != uid {
			continue
		}
		if time.Since(rec.Since.Time()) > time.Minute && !s.units.Loaded(ctx, rec.Unit) {
			continue
		}
		n++
	}
	return n
}

// readRecord reads the record of machine from its staging dir.
func (s *Service) readRecord(machine string) (launcher.Instance, error) {
	return readRecord(s.paths.Stage, machine)
}

func readRecord(stageRoot, machine string) (launcher.Instance, error) {
	var rec launcher.Instance
	data, err := os.ReadFile(filepath.Join(stageRoot, machine, recordFile))
	if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(data, &rec); err != nil {
		return rec, err
	}
	if rec.Machine != machine {
		return rec, fmt.Errorf("record of %s names %s", machine, rec.Machine)
	}
	return rec, nil
}

func (s *Service) stop(ctx context.Context, msg dbus.Message, machine string) error {
	sender, uid, err := s.caller(ctx, msg)
	if err != nil {
		return err
	}
	if machinename.CheckInstance(machine) != nil {
		return fail(launcher.ErrNameNoSuchInstance, "no nspawn-tray instance %q", truncate(machine))
	}
	rec, err := s.readRecord(machine)
	if err != nil {
		return fail(launcher.ErrNameNoSuchInstance, "no nspawn-tray instance %q", machine)
	}
	action := launcher.ActionStopAny
	if rec.UID == uid {
		action = launcher.ActionStopOwn
	}
	if err := s.authorize(ctx, msg, sender, action, map[string]string{"app": rec.App, "machine": machine}); err != nil {
		return othersInstance(err, action, machine, "stop it")
	}
	if err := s.machines.Terminate(ctx, machine); err != nil {
		if errors.Is(err, machined.ErrNoSuchMachine) {
			return fail(launcher.ErrNameNoSuchInstance, "instance %q is not running", machine)
		}
		return err
	}
	return nil
}

// othersInstance turns a refused stop-any into what the user can act on:
// no group membership helps, only an administrator can.
func othersInstance(err error, action, machine, what string) error {
	var ce *callError
	if action == launcher.ActionStopAny && errors.As(err, &ce) && ce.name == launcher.ErrNameAccessDenied {
		return fail(launcher.ErrNameOthersInstance, "%s is another user's instance: only an administrator may %s", machine, what)
	}
	return err
}
