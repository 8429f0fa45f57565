//go:build e2e

package e2e

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkClickToWindow times what a user sees: from the trigger to the
// app's first window mapped on alice's X display, for xeyes and xterm of
// the xapps image. Each run is one shell in the test host that takes the
// time, triggers, and polls the display (xdotool, every 5 ms) until the
// window is there, so testhost/run's own start is outside the figures.
// The triggers, alternating:
//
//   - tray: alice's click on the app in the tray's menu (dbusmenu Event,
//     as the panel sends it);
//
//   - entry: `gio launch` of the app's desktop entry (its Exec is
//     nspawn-tray launch);
//
//   - bare: root's systemd-run + systemd-nspawn of the same image with the
//     X socket and a cookie bound, and exec-as, no daemon;
//
//   - direct: the image's binary run on the test host's X without a
//     container (`systemd-run --user`, so that it outlives the shell):
//     xeyes only, which the test host has; its xterm is the image's alone.
//
//     go test -tags e2e -run '^$' -bench ClickToWindow -benchtime 5x ./e2e/
func BenchmarkClickToWindow(b *testing.B) {
	name := startTray(b)
	mustRun(b, "alice", "nspawn-tray", "sync")
	// A FamilyWild cookie for the bare start, as the launcher writes one.
	mustRun(b, "root", "sh", "-c", `set -e; rm -rf /run/bench-win; mkdir -p /run/bench-win/home; chown 1000:1000 /run/bench-win/home
touch /run/bench-win/xauth; xauth -f /home/alice/.Xauthority nlist :0 | sed 's/^..../ffff/' | xauth -q -f /run/bench-win/xauth nmerge -
chmod 0644 /run/bench-win/xauth
{ cat /var/lib/machines/xapps/etc/passwd; echo "alice:x:1000:1000::/home/alice:/bin/sh"; } >/run/bench-win/passwd`)
	b.Cleanup(func() { inHost(b, "root", "", "rm", "-rf", "/run/bench-win") })
	for _, app := range []struct {
		id, class, entry string
		argv             []string
		direct           bool
	}{
		{"xeyes", "XEyes", "xeyes.desktop", []string{"/usr/bin/xeyes", "-geometry", "300x200+490+300"}, true},
		{"xterm", "XTerm", "debian-xterm.desktop", []string{"/usr/bin/xterm", "-geometry", "80x16+40+60"}, false},
	} {
		m := layout(b, name)
		item, ok := m.find(map[string]string{"xeyes": "XEyes", "xterm": "Terminal (container)"}[app.id])
		if !ok {
			b.Fatalf("no %s in the tray's menu:\n%v", app.id, m.labels())
		}
		wait := `until xdotool search --onlyvisible --class ` + app.class + ` >/dev/null 2>&1; do sleep 0.005; done`
		// Each trigger as a shell line; the time is taken around it and the wait.
		triggers := map[string][2]string{ // user, command
			"tray":  {"alice", fmt.Sprintf(`busctl --user call -- %s /StatusNotifierItem/menu com.canonical.dbusmenu Event isvu %d clicked i 0 0 >/dev/null`, name, item.ID)},
			"entry": {"alice", `gio launch "$HOME/.local/share/applications/` + app.entry + `" >/dev/null`},
			"bare": {"root", `systemd-run --quiet --collect --unit=bench-win.service -p Slice=machine.slice -p Delegate=yes -p KillMode=mixed -p Type=notify -- \
systemd-nspawn --quiet --keep-unit --machine=bench-win --directory=/var/lib/machines/xapps --read-only --volatile=overlay \
--private-users=identity --no-new-privileges=yes --as-pid2 --console=pipe --link-journal=no --tmpfs=/home:mode=0755 \
--bind-ro=/usr/bin/nspawn-tray:/run/nspawn-tray/exec --bind-ro=/run/bench-win/passwd:/etc/passwd --bind=/run/bench-win/home:/home/alice \
--bind=/tmp/.X11-unix/X0:/tmp/.X11-unix/X0 --bind-ro=/run/bench-win/xauth:/run/nspawn-tray/xauthority \
--setenv=DISPLAY=:0 --setenv=XAUTHORITY=/run/nspawn-tray/xauthority \
-- /run/nspawn-tray/exec exec-as --uid 1000 --gid 1000 --home /home/alice -- ` + strings.Join(app.argv, " ") + " >/dev/null"},
		}
		if app.direct {
			triggers["direct"] = [2]string{"alice", `systemd-run --user --quiet --collect --unit=bench-win-direct -E DISPLAY=:0 -E XAUTHORITY=/home/alice/.Xauthority ` + strings.Join(app.argv, " ") + " >/dev/null"}
		}
		stop := map[string][2]string{
			"tray":   {"alice", "nspawn-tray stop --app " + app.id},
			"entry":  {"alice", "nspawn-tray stop --app " + app.id},
			"bare":   {"root", "systemctl stop bench-win.service"},
			"direct": {"alice", "systemctl --user stop bench-win-direct"},
		}
		gone := `while xdotool search --onlyvisible --class ` + app.class + ` >/dev/null 2>&1; do sleep 0.01; done`
		// Nothing of the app runs before the first start.
		inHost(b, "alice", "", "nspawn-tray", "stop", "--app", app.id)
		mustRun(b, "alice", "sh", "-c", gone)
		times := map[string][]time.Duration{}
		order := slices.Sorted(func(yield func(string) bool) {
			for k := range triggers {
				if !yield(k) {
					return
				}
			}
		})
		for i := 0; i < b.N+1; i++ { // the first round warms the caches and is not counted
			for _, how := range order {
				tr := triggers[how]
				script := "export DISPLAY=:0 XAUTHORITY=/home/alice/.Xauthority\nt0=$(date +%s%N)\n" + tr[1] + "\n"
				if tr[0] == "root" {
					script += "runuser -u alice -- env DISPLAY=:0 XAUTHORITY=/home/alice/.Xauthority sh -c '" + wait + "'\n"
				} else {
					script += wait + "\n"
				}
				script += "t1=$(date +%s%N)\necho $((t1 - t0))\n"
				out := mustRun(b, tr[0], "sh", "-c", script)
				ns, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
				if err != nil {
					b.Fatalf("%s %s: %q", app.id, how, out)
				}
				if i > 0 {
					times[how] = append(times[how], time.Duration(ns))
				}
				st := stop[how]
				inHost(b, st[0], "", "sh", "-c", st[1])
				mustRun(b, "alice", "sh", "-c", gone)
				// The machine and its units go before the next start.
				mustRun(b, "root", "sh", "-c", "while machinectl list --no-legend | grep -qE '^("+app.id+"|bench-win)'; do sleep 0.01; done")
			}
		}
		med := func(ds []time.Duration) time.Duration {
			slices.Sort(ds)
			return ds[len(ds)/2]
		}
		for _, how := range order {
			b.ReportMetric(float64(med(times[how]).Microseconds())/1000, app.id+"-"+how+"-ms")
		}
		if app.direct {
			b.ReportMetric(float64(med(times["tray"]))/float64(med(times["direct"])), app.id+"-tray/direct")
			b.ReportMetric(float64(med(times["entry"]))/float64(med(times["direct"])), app.id+"-entry/direct")
		}
		b.ReportMetric(float64(med(times["tray"]))/float64(med(times["bare"])), app.id+"-tray/bare")
		b.ReportMetric(float64(med(times["entry"]))/float64(med(times["bare"])), app.id+"-entry/bare")
	}
}
