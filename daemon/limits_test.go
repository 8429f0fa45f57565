package daemon

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nspawn-tray/nspawn-tray/config"
	"github.com/nspawn-tray/nspawn-tray/internal/bustest"
	"github.com/nspawn-tray/nspawn-tray/launcher"
)

// settings writes the daemon's settings file.
func (e *env) settings(content string) {
	e.t.Helper()
	e.paths.Settings = filepath.Join(filepath.Dir(e.paths.Apps), "daemon.toml")
	e.svc.paths.Settings = e.paths.Settings
	writeFile(e.t, e.paths.Settings, content, 0o644)
}

func TestInstancesPerUserAreCapped(t *testing.T) {
	e := newEnv(t)
	e.settings("max_instances_per_user = 2\n")
	for range 2 {
		e.mustLaunch(bustest.Alice, "plain")
	}
	_, _, err := e.launch(bustest.Alice, "plain", launcher.Session{})
	if !errors.Is(err, launcher.ErrLimitReached) || !strings.Contains(err.Error(), "you have 2 instances running") ||
		!strings.Contains(err.Error(), "max_instances_per_user in "+e.paths.Settings) {
		t.Fatalf("a third launch: %v, want the limit named", err)
	}
	// Another user's count is their own.
	e.mustLaunch(bustest.Mallory, "plain")
	if n := len(e.staged()); n != 3 {
		t.Errorf("%d staging dirs, want 3 (the refused launch left nothing)", n)
	}
}

// Launches that come together cannot all take the last places.
func TestInstanceCapHoldsUnderConcurrentLaunches(t *testing.T) {
	e := newEnv(t)
	e.settings("max_instances_per_user = 3\n")
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, limited := 0, 0
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := e.launch(bustest.Alice, "plain", launcher.Session{})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, launcher.ErrLimitReached):
				limited++
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if ok != 3 || limited != 7 {
		t.Errorf("%d launched and %d refused, want 3 and 7", ok, limited)
	}
}

// A record left by a daemon that died mid-launch (no unit, a minute old)
// does not hold a place for ever.
func TestLeftoverRecordsDoNotCount(t *testing.T) {
	e := newEnv(t)
	e.settings("max_instances_per_user = 1\n")
	m := "plain-0badc0de"
	mkdir(t, filepath.Join(e.paths.Stage, m))
	rec, _ := json.Marshal(launcher.Instance{Machine: m, App: "plain", UID: bustest.Alice, Unit: unitName(m),
		Since: launcher.Time(time.Now().Add(-2 * time.Minute).UnixMicro())})
	writeFile(t, filepath.Join(e.paths.Stage, m, recordFile), string(rec), 0o644)
	e.mustLaunch(bustest.Alice, "plain")
	// A fresh record, even without a unit yet, counts: a launch in flight.
	_, _, err := e.launch(bustest.Alice, "plain", launcher.Session{})
	if !errors.Is(err, launcher.ErrLimitReached) {
		t.Errorf("the second launch: %v, want the limit", err)
	}
	os.RemoveAll(filepath.Join(e.paths.Stage, m))
}

func TestUnitLimitsAndScratchTmpfs(t *testing.T) {
	e := newEnv(t)
	e.settings("tasks_max = 100\nmemory_max = \"1G\"\nscratch_size = \"8M\"\n")
	m := e.mustLaunch(bustest.Alice, "plain")
	u := e.startedUnit(unitName(m))
	if got, _ := u.Props["TasksMax"].Value().(uint64); got != 100 {
		t.Errorf("TasksMax %v, want 100", u.Props["TasksMax"])
	}
	if got, _ := u.Props["MemoryMax"].Value().(uint64); got != 1<<30 {
		t.Errorf("MemoryMax %v, want 1G", u.Props["MemoryMax"])
	}
	e.app("bus", "name = \"Bus\"\nimage = \"img\"\nexec = [\"/bin/x\"]\nx11 = \"none\"\naudio = false\n", 0o644)
	proxy := e.startedUnit(proxyUnitName(e.mustLaunch(bustest.Alice, "bus")))
	if got, _ := proxy.Props["TasksMax"].Value().(uint64); got != 16 {
		t.Errorf("the proxy's TasksMax %v, want 16", proxy.Props["TasksMax"])
	}
	if got, _ := proxy.Props["MemoryMax"].Value().(uint64); got != 64<<20 {
		t.Errorf("the proxy's MemoryMax %v, want 64M", proxy.Props["MemoryMax"])
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(filepath.Join(e.paths.Stage, m, "scratch", "runtime"), &fs); err != nil {
		t.Fatal(err)
	}
	if fs.Type != unix.TMPFS_MAGIC || uint64(fs.Blocks)*uint64(fs.Bsize) != 8<<20 {
		t.Errorf("the runtime dir is on fs type %#x of %d bytes, want an 8 MiB tmpfs", fs.Type, uint64(fs.Blocks)*uint64(fs.Bsize))
	}
}

func TestDefaultLimits(t *testing.T) {
	e := newEnv(t)
	m := e.mustLaunch(bustest.Alice, "plain")
	u := e.startedUnit(unitName(m))
	want, _ := memoryMax(config.DefaultSettings().MemoryMax)
	var si unix.Sysinfo_t
	unix.Sysinfo(&si)
	if got, _ := u.Props["MemoryMax"].Value().(uint64); got != want || want == 0 || want >= uint64(si.Totalram)*uint64(si.Unit) {
		t.Errorf("MemoryMax %d, want 75%% of RAM (%d)", got, want)
	}
	if got, _ := u.Props["TasksMax"].Value().(uint64); got != 4096 {
		t.Errorf("TasksMax %d, want 4096", got)
	}
}

func TestInvalidSettingsRefuseLaunches(t *testing.T) {
	e := newEnv(t)
	e.settings("max_instances_per_user = -1\n")
	_, _, err := e.launch(bustest.Alice, "plain", launcher.Session{})
	if !errors.Is(err, launcher.ErrFailed) || !strings.Contains(err.Error(), "the daemon's settings are invalid") ||
		!strings.Contains(err.Error(), "daemon.toml:1") {
		t.Errorf("launch with invalid settings: %v", err)
	}
	if n := len(e.staged()); n != 0 {
		t.Errorf("%d staging dirs left", n)
	}
}
