#!/bin/bash
# Tray benchmarks, inside the test host as root (`make bench-tray`), against
# a bare fyne.io/systray item (bench/baretray) in the same run:
# start to item registered and to its menu complete, RSS after start, CPU time in
# a minute of idleness, and the delay from a machine starting to the menu
# showing it.
# No pipefail: grep stops reading early, and busctl then fails with SIGPIPE.
set -eu
runs=${1:-5}
as_alice() { runuser -u alice -- env HOME=/home/alice XDG_RUNTIME_DIR=/run/user/1000 \
	DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus DISPLAY=:0 XAUTHORITY=/home/alice/.Xauthority "$@"; }
now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
items() { as_alice busctl --user get-property org.kde.StatusNotifierWatcher /StatusNotifierWatcher \
	org.kde.StatusNotifierWatcher RegisteredStatusNotifierItems | tr -d '"' | cut -d' ' -f3-; }
# bus_of PID: the registered item owned by PID.
bus_of() {
	for item in $(items); do
		b=${item%%/*}
		[ "$(as_alice busctl --user call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
			GetConnectionUnixProcessID s "$b" 2>/dev/null)" = "u $1" ] && { echo "$b"; return; }
	done
}
menu_len() { as_alice busctl --user call -- "$1" /StatusNotifierItem/menu com.canonical.dbusmenu GetLayout iias 0 -1 0 2>/dev/null | grep -o '"label"' | wc -l; }

# start BIN: ms from exec to an item registered whose menu has $MIN
# labels, polled through busctl (each check ~30 ms: only for starting the
# items the later figures need); leaves the process running, its pid in $pid.
start() {
	local t0 b
	t0=$(now)
	as_alice "$@" >/dev/null 2>&1 &
	pid=$!
	while :; do
		pid=$(pgrep -u alice -n -f "^$1" || true)
		if [ -n "$pid" ]; then
			b=$(bus_of "$pid")
			[ -n "$b" ] && [ "$(menu_len "$b")" -ge "$MIN" ] && break
		fi
	done
	bus=$b
	echo $((($(now) - t0) / 1000000))
}
stop() { kill "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.01; done; }
cpu_ms() { awk '{print ($14 + $15) * 1000 / '"$(getconf CLK_TCK)"'}' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# The start, from the signals (bench/traywatch: the watcher's
# StatusNotifierItemRegistered and the menu's LayoutUpdated, no polling):
# "registered MS menu MS" per run, alternating.
: >/tmp/tray.reg; : >/tmp/tray.menu; : >/tmp/bare.reg; : >/tmp/bare.menu
for _ in $(seq "$((runs * 2))"); do
	set -- $(as_alice traywatch -labels 10 /usr/bin/nspawn-tray tray 2>/dev/null)
	echo "$2" >>/tmp/tray.reg; echo "$4" >>/tmp/tray.menu
	set -- $(as_alice traywatch -labels 1 /usr/local/bin/baretray 2>/dev/null)
	echo "$2" >>/tmp/bare.reg; echo "$4" >>/tmp/bare.menu
done
printf 'start to item registered (median of %d): nspawn-tray %s ms, bare systray %s ms\n' \
	"$((runs * 2))" "$(median </tmp/tray.reg)" "$(median </tmp/bare.reg)"
printf 'start to its menu complete (median of %d): nspawn-tray %s ms (10 entries: apps, machines, polkit, autostart), bare systray %s ms (1 entry)\n' \
	"$((runs * 2))" "$(median </tmp/tray.menu)" "$(median </tmp/bare.menu)"

MIN=10 start /usr/bin/nspawn-tray tray >/dev/null; tpid=$pid; tbus=$bus
MIN=1 start /usr/local/bin/baretray >/dev/null; bpid=$pid
sleep 2
printf 'RSS after start: nspawn-tray %s kB, bare systray %s kB\n' "$(rss_kb "$tpid")" "$(rss_kb "$bpid")"
t0=$(cpu_ms "$tpid"); b0=$(cpu_ms "$bpid"); sleep 60
printf 'CPU time in 60 s idle: nspawn-tray %s ms, bare systray %s ms\n' \
	"$(awk -v a="$(cpu_ms "$tpid")" -v b="$t0" 'BEGIN {print a - b}')" "$(awk -v a="$(cpu_ms "$bpid")" -v b="$b0" 'BEGIN {print a - b}')"

: >/tmp/delay.ms
for _ in $(seq "$runs"); do
	m=$(as_alice nspawn-tray launch sleeper)
	t0=$(now)
	until as_alice busctl --user call -- "$tbus" /StatusNotifierItem/menu com.canonical.dbusmenu GetLayout iias 0 -1 0 | grep '"Sleeper ' >/dev/null; do :; done
	echo $((($(now) - t0) / 1000000)) >>/tmp/delay.ms
	machinectl terminate "$m"
	until ! as_alice busctl --user call -- "$tbus" /StatusNotifierItem/menu com.canonical.dbusmenu GetLayout iias 0 -1 0 | grep '"Sleeper ' >/dev/null; do :; done
done
printf 'machine running to menu showing it (median of %d): %s ms\n' "$runs" "$(median </tmp/delay.ms)"
kill "$tpid" "$bpid"
