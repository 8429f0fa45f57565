package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"sort"
	"strconv"
	"sync"

	"github.com/nspawn-tray/nspawn-tray/launcher"
	"github.com/nspawn-tray/nspawn-tray/machinename"
	"github.com/nspawn-tray/nspawn-tray/stage"
	"github.com/nspawn-tray/nspawn-tray/systemd"
)

// envFile is the instance's environment (spec.Env), in its staging dir:
// what a join gives the program it starts in the running instance.
const envFile = "env.json"

// saveEnv keeps the environment the session binders settled on, for joins.
func (l *launch) saveEnv(context.Context) error {
	data, err := json.Marshal(l.spec.Env)
	if err != nil {
		return err
	}
	_, err = l.dir.WriteFile(envFile, data, 0o600)
	return err
}

// appLock serializes the launches of one app by one user, and returns the
// unlock.
func (s *Service) appLock(uid uint32, app string) func() {
	key := strconv.FormatUint(uint64(uid), 10) + "/" + app
	s.appLocksMu.Lock()
	if s.appLocks == nil {
		s.appLocks = map[string]*appLock{}
	}
	l := s.appLocks[key]
	if l == nil {
		l = &appLock{}
		s.appLocks[key] = l
	}
	l.refs++
	s.appLocksMu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		s.appLocksMu.Lock()
		if l.refs--; l.refs == 0 {
			delete(s.appLocks, key)
		}
		s.appLocksMu.Unlock()
	}
}

type appLock struct {
	mu   sync.Mutex
	refs int
}

// runningInstance is uid's newest instance of app that machined has
// running, with its leader (the container's first process, on the host).
func (s *Service) runningInstance(ctx context.Context, uid uint32, app string) (launcher.Instance, uint32, bool) {
	entries, err := os.ReadDir(s.paths.Stage)
	if err != nil {
		return launcher.Instance{}, 0, false
	}
	var recs []launcher.Instance
	for _, e := range entries {
		if machinename.CheckInstance(e.Name()) != nil {
			continue
		}
		if rec, err := s.readRecord(e.Name()); err == nil && rec.UID == uid && rec.App == app {
			recs = append(recs, rec)
		}
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Since > recs[j].Since })
	for _, rec := range recs {
		d, err := s.machines.Get(ctx, rec.Machine)
		if err == nil && d.State == "running" && d.Leader > 1 && d.Unit == rec.Unit {
			return rec, d.Leader, true
		}
	}
	return launcher.Instance{}, 0, false
}

// join starts the app's program in uid's running instance rec, for a
// second launch: single-instance apps (a browser, a player owning its bus
// name) then get their "open a new window" request in the machine whose
// profile lock and bus name they hold, instead of failing in a new one.
//
// The program is started by a unit of its own that enters the instance's
// namespaces with nsenter and runs exec-as as the first launch did (same
// user, binds and environment), bound to the instance's unit so it ends
// with it, with the same limits. Entering by the leader's PID is checked
// twice: the unit binds to the instance's unit (started only while it
// runs), and exec-as must find this join's status socket, which exists
// only in that instance's mount namespace, before it runs anything.
func (l *launch) join(ctx context.Context, rec launcher.Instance, leader uint32) error {
	s := l.s
	dir, err := stage.Open(s.paths.Stage, rec.Machine)
	if err != nil {
		return err
	}
	defer dir.Close()
	data, err := dir.ReadFile(envFile, 1<<20)
	if err != nil {
		return err
	}
	var env map[string]string
	if err := json.Unmarshal(data, &env); err != nil {
		return fmt.Errorf("environment of %s: %w", rec.Machine, err)
	}
	status, err := dir.Sub("status")
	if err != nil {
		return err
	}
	defer status.Close()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	name := "join-" + hex.EncodeToString(b[:])
	if l.status, _, err = status.Listen(name); err != nil {
		return err
	}
	defer status.Remove(name)
	memoryMax, err := memoryMax(l.settings.MemoryMax)
	if err != nil {
		return err
	}
	// The device groups the first launch kept (bindGPU), found the same way.
	var groups []uint32
	if l.app.GPU {
		if _, groups, err = gpuAccess(s.paths.Dev, l.user); err != nil {
			return err
		}
	}
	l.machine = rec.Machine
	l.unit = "nspawn-tray-join-" + rec.Machine + "-" + hex.EncodeToString(b[:]) + ".service"
	argv := append([]string{s.paths.Nsenter, "--target", strconv.FormatUint(uint64(leader), 10), "--all", "--"},
		execAsArgv(spec{App: l.app, UID: l.user.UID, GID: l.user.GID, Home: l.spec.Home, Args: l.session.Args,
			Status: inStatusDir + "/" + name, Groups: groups})...)
	var environment []string
	for _, k := range slices.Sorted(maps.Keys(env)) {
		environment = append(environment, k+"="+env[k])
	}
	props := []systemd.Property{
		systemd.Prop("Description", fmt.Sprintf("nspawn-tray: %s for %s, in %s", l.app.Name, l.user.Name, rec.Machine)),
		systemd.Prop("Slice", "machine.slice"),
		systemd.Prop("CollectMode", "inactive-or-failed"),
		systemd.Prop("BindsTo", []string{rec.Unit}),
		systemd.Prop("After", []string{rec.Unit}),
		systemd.Prop("TasksMax", l.settings.TasksMax),
		systemd.Prop("MemoryMax", memoryMax),
		systemd.Prop("Environment", environment),
		systemd.ExecProp("ExecStart", systemd.ExecCommand{Path: argv[0], Argv: argv}),
	}
	if err := s.units.StartTransientUnit(ctx, l.unit, props); err != nil {
		return fail(launcher.ErrNameFailed, "app %q could not start in %s: %v", l.app.ID, rec.Machine, err)
	}
	return l.awaitExec(ctx)
}
