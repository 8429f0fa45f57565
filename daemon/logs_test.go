package daemon

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/godbus/dbus/v5"

	"github.com/nspawn-tray/nspawn-tray/internal/bustest"
	"github.com/nspawn-tray/nspawn-tray/launcher"
)

// logsUnits are the journalctl units asked for, in order.
func (e *env) logsUnits() []bustest.Unit {
	var out []bustest.Unit
	for _, u := range e.systemd.Started() {
		if strings.HasPrefix(u.Name, "nspawn-tray-logs-") {
			out = append(out, u)
		}
	}
	return out
}

func TestLogs(t *testing.T) {
	e := newEnv(t)
	e.polkit.Answer(launcher.ActionStopOwn, bustest.PolkitAnswer{Authorized: true})
	ctx := context.Background()
	older := e.mustLaunch(bustest.Alice, "plain")
	newer := e.mustLaunch(bustest.Alice, "plain")
	_, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	t.Run("a machine, followed while it runs", func(t *testing.T) {
		if err := e.client(bustest.Alice).Logs(ctx, older, 50, true, w); err != nil {
			t.Fatal(err)
		}
		u := e.logsUnits()[0]
		want := []string{"/usr/bin/journalctl", "--no-pager", "--quiet", "--output=short", "--lines=50",
			"--unit=" + unitName(older), "--follow"}
		if got := u.Argv("ExecStart"); !slices.Equal(got, want) {
			t.Errorf("ExecStart %q, want %q", got, want)
		}
		if !strings.HasPrefix(u.Name, "nspawn-tray-logs-"+older+"-") {
			t.Errorf("unit %s", u.Name)
		}
		// Not the daemon's root: a dynamic user that may read the journal.
		if u.Props["DynamicUser"].Value() != true || !slices.Equal(u.Props["SupplementaryGroups"].Value().([]string), []string{"systemd-journal"}) {
			t.Errorf("runs as %v %v, want a dynamic user in systemd-journal", u.Props["DynamicUser"], u.Props["SupplementaryGroups"])
		}
		if !slices.Equal(u.Props["BindsTo"].Value().([]string), []string{unitName(older)}) {
			t.Errorf("BindsTo %v: following must end with the instance", u.Props["BindsTo"])
		}
		// journalctl gets a second to print the instance's last lines.
		if got := u.Argv("ExecStop"); !slices.Equal(got, []string{"/bin/sleep", "1"}) {
			t.Errorf("ExecStop %q", got)
		}
		if _, ok := u.Props["StandardOutputFileDescriptor"].Value().(dbus.UnixFD); !ok {
			t.Errorf("no output descriptor: %v", u.Props)
		}
	})

	t.Run("an app id is the caller's latest instance", func(t *testing.T) {
		if err := e.client(bustest.Alice).Logs(ctx, "plain", 10, false, w); err != nil {
			t.Fatal(err)
		}
		u := e.logsUnits()[1]
		argv := u.Argv("ExecStart")
		if !slices.Contains(argv, "--unit="+unitName(newer)) || slices.Contains(argv, "--follow") {
			t.Errorf("ExecStart %q, want the newer instance %s without --follow", argv, newer)
		}
		if _, ok := u.Props["BindsTo"]; ok {
			t.Error("BindsTo without follow")
		}
	})

	t.Run("an instance that ended is still known", func(t *testing.T) {
		e.systemd.Exit(unitName(older), 1, 0)
		bustest.Eventually(t, "the instance is cleaned up", func() bool { return len(e.staged()) == 1 })
		if err := e.client(bustest.Alice).Logs(ctx, older, 10, true, w); err != nil {
			t.Fatal(err)
		}
		u := e.logsUnits()[2]
		if slices.Contains(u.Argv("ExecStart"), "--follow") {
			t.Error("follows an instance that ended: it would wait forever")
		}
	})

	t.Run("refused", func(t *testing.T) {
		n := len(e.logsUnits())
		for _, tc := range []struct {
			name   string
			as     uint32
			target string
			opts   map[string]dbus.Variant
			want   error
		}{
			// stop-any is not granted: Mallory may not read Alice's output.
			{"another user's instance", bustest.Mallory, newer, nil, launcher.ErrNotAuthorized},
			{"an app Mallory never ran", bustest.Mallory, "plain", nil, launcher.ErrNoSuchInstance},
			{"no such instance", bustest.Alice, "plain-0000abcd", nil, launcher.ErrNoSuchInstance},
			{"neither instance nor app", bustest.Alice, "../../etc/shadow", nil, launcher.ErrNoSuchInstance},
			{"too many lines", bustest.Alice, newer, map[string]dbus.Variant{"lines": dbus.MakeVariant(int32(1e6))}, launcher.ErrInvalidArgs},
			{"lines of the wrong type", bustest.Alice, newer, map[string]dbus.Variant{"lines": dbus.MakeVariant("10")}, launcher.ErrInvalidArgs},
			{"an unknown option", bustest.Alice, newer, map[string]dbus.Variant{"grep": dbus.MakeVariant("x")}, launcher.ErrInvalidArgs},
		} {
			opts := tc.opts
			if opts == nil {
				opts = map[string]dbus.Variant{}
			}
			call := e.conn(tc.as).Object(launcher.BusName, launcher.ObjectPath).Call(launcher.Interface+".Logs", 0, tc.target, opts, dbus.UnixFD(w.Fd()))
			if err := launcher.MapError(call.Err); !errors.Is(err, tc.want) {
				t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
			}
		}
		if got := len(e.logsUnits()); got != n {
			t.Errorf("%d journalctl units started for refused calls", got-n)
		}
	})
}

// Apps reports each definition as Launch would take it: the one validation.
// The first version's apps and tray listed definitions Launch refused.
func TestApps(t *testing.T) {
	e := newEnv(t)
	e.app("loose", plainApp, 0o666)
	e.app("noimage", strings.Replace(plainApp, `"img"`, `"absent"`, 1), 0o644)
	e.app("broken", "name = \n", 0o644)
	e.app("users", plainApp, 0o644)
	if err := os.Chown(filepath.Join(e.paths.Apps, "users.toml"), int(bustest.Alice), int(bustest.Alice)); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(e.paths.Apps, "plain.toml"), filepath.Join(e.paths.Apps, "linked.toml")); err != nil {
		t.Fatal(err)
	}
	got, err := e.client(bustest.Mallory).Apps(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"broken":  `app "broken" has an invalid definition: `,
		"full":    "",
		"linked":  `app "linked" has an invalid definition: ` + filepath.Join(e.paths.Apps, "linked.toml") + ": is a symlink, refused",
		"loose":   `app "loose" has an invalid definition: ` + filepath.Join(e.paths.Apps, "loose.toml") + ": mode 0666 is group- or world-writable",
		"noimage": `image "absent" of app "noimage" is missing`,
		"plain":   "",
		"users":   `app "users" has an invalid definition: ` + filepath.Join(e.paths.Apps, "users.toml") + ": owned by uid 65534, must be owned by root",
	}
	var ids []string
	for _, a := range got {
		ids = append(ids, a.ID)
		w, ok := want[a.ID]
		if !ok || (w == "") != (a.Problem == "") || !strings.HasPrefix(a.Problem, w) {
			t.Errorf("%s: problem %q, want %q", a.ID, a.Problem, w)
		}
		if a.ID == "plain" && (a.Name != "Plain" || a.Image != "img") {
			t.Errorf("plain = %+v", a)
		}
	}
	if !slices.IsSorted(ids) || len(ids) != len(want) {
		t.Errorf("ids %v, want the %d sorted", ids, len(want))
	}
	// And Launch says the same.
	_, _, err = e.launch(bustest.Alice, "loose", launcher.Session{})
	if err == nil || err.Error() != got[slices.IndexFunc(got, func(a launcher.AppStatus) bool { return a.ID == "loose" })].Problem {
		t.Errorf("launch loose: %v; want Apps' problem word for word", err)
	}
}
