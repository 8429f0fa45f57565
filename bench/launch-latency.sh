#!/bin/bash
# Launch latency of the whole nspawn-tray path against a bare
# `systemd-run ... systemd-nspawn` with the same flags and binds, side by
# side in one run (alternating), as a ratio of medians.
# Runs inside the test host as root: `make bench` (or
# testhost/run -- bash -s N < bench/launch-latency.sh).
set -euo pipefail
n=${1:-30}
alice_env=(env HOME=/home/alice USER=alice DISPLAY=:0 XAUTHORITY=/home/alice/.Xauthority
	XDG_RUNTIME_DIR=/run/user/1000 DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus)

# The baseline gets what the launcher gives the app, prepared once and not
# timed: passwd/group, a FamilyWild cookie, a home, and the same sockets.
b=/run/bench-baseline
rm -rf "$b" && mkdir -p "$b/home" && chown 1000:1000 "$b/home"
{ cat /var/lib/machines/probe/etc/passwd; echo "alice:x:1000:1000::/home/alice:/bin/sh"; } >"$b/passwd"
{ cat /var/lib/machines/probe/etc/group; echo "alice:x:1000:"; } >"$b/group"
touch "$b/xauth"
xauth -f /home/alice/.Xauthority nlist :0 | sed 's/^..../ffff/' | xauth -q -f "$b/xauth" nmerge -
chmod 0644 "$b/xauth"

now() { date +%s%N; }
# baseline N [--wait]: with --wait, returns when the payload has exited and
# the unit is gone; without, when nspawn reported it running (READY=1).
baseline() {
	local wait=()
	[ "${2:-}" = --wait ] && wait=(--wait --pipe)
	systemd-run --quiet "${wait[@]}" --unit="bench-$1" --collect -p Slice=machine.slice -p Delegate=yes -p KillMode=mixed -p Type=notify -- \
		systemd-nspawn --quiet --keep-unit --machine="bench-$1" --directory=/var/lib/machines/probe \
		--read-only --volatile=overlay --private-users=identity --no-new-privileges=yes --as-pid2 --console=pipe \
		--link-journal=no --tmpfs=/home:mode=0755 --bind-ro=/usr/bin/nspawn-tray:/run/nspawn-tray/exec \
		--bind-ro="$b/passwd:/etc/passwd" --bind-ro="$b/group:/etc/group" --bind="$b/home:/home/alice" \
		--bind=/tmp/.X11-unix/X0:/tmp/.X11-unix/X0 --bind-ro="$b/xauth:/run/nspawn-tray/xauthority" \
		--bind=/run/user/1000/pulse/native:/run/nspawn-tray/pulse/native \
		--setenv=DISPLAY=:0 --setenv=XAUTHORITY=/run/nspawn-tray/xauthority \
		-- /run/nspawn-tray/exec exec-as --uid 1000 --gid 1000 --home /home/alice -- /bin/sh -c 'exit 0'
}
launch() { runuser -u alice -- "${alice_env[@]}" nspawn-tray launch "$@" >/dev/null; }
# Until the instance of a launch without --wait is gone (its payload exits
# at once), so that the next one is a fresh launch, not a join.
settle() { while [ -n "$(machinectl list --no-legend | grep -E '^probe-bench-' || true)" ]; do sleep 0.01; done; }

# Warm both paths (daemon activation, page cache) before timing.
launch --wait probe-bench; baseline warm --wait
for f in launch nodbus baseline start basestart cold; do : >"$b/$f.ns"; done
time_it() { local f=$1; shift; local t0 t1; t0=$(now); "$@"; t1=$(now); echo $((t1 - t0)) >>"$b/$f.ns"; }
for i in $(seq "$n"); do
	time_it launch launch --wait probe-bench
	time_it nodbus launch --wait probe-bench-nodbus
	time_it baseline baseline "w$i" --wait
	time_it start launch probe-bench; settle
	time_it basestart baseline "s$i"; while systemctl is-active -q "bench-s$i" 2>/dev/null; do sleep 0.01; done
	# Cold: the daemon is gone; the call activates it (D-Bus activation,
	# its start, its subscription to systemd) as after its idle exit.
	systemctl stop nspawn-tray-daemon.service
	# Not the start rate limit (5 in 10 s), which this loop would hit.
	systemctl reset-failed nspawn-tray-daemon.service
	time_it cold launch --wait probe-bench
done
median() { sort -n "$1" | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ml=$(median "$b/launch.ns"); mn=$(median "$b/nodbus.ns"); mb=$(median "$b/baseline.ns")
ms=$(median "$b/start.ns"); mbs=$(median "$b/basestart.ns"); mc=$(median "$b/cold.ns")
awk -v l="$ml" -v d="$mn" -v b="$mb" -v s="$ms" -v bs="$mbs" -v c="$mc" -v n="$n" 'BEGIN {
	printf "runs: %d each, alternating\n", n
	printf "nspawn-tray launch --wait (daemon, polkit, staging, proxy): median %6.1f ms  ratio %.2f\n", l/1e6, l/b
	printf "nspawn-tray launch --wait, dbus = [] (no proxy):            median %6.1f ms  ratio %.2f\n", d/1e6, d/b
	printf "bare systemd-run --wait + systemd-nspawn, same binds:        median %6.1f ms  ratio 1.00\n", b/1e6
	printf "nspawn-tray launch (returns when the app runs):             median %6.1f ms  ratio %.2f\n", s/1e6, s/bs
	printf "bare systemd-run + systemd-nspawn (returns at READY=1):      median %6.1f ms  ratio 1.00\n", bs/1e6
	printf "nspawn-tray launch --wait, cold (daemon activated):         median %6.1f ms  ratio %.2f to warm\n", c/1e6, c/l
}'
rm -rf "$b"
