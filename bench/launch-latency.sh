#!/bin/bash
# Launch latency of the whole nspawn-tray path against a bare
# `systemd-run ... systemd-nspawn` with the same flags and binds, side by
# side in one run (alternating), as a ratio of medians.
# Runs inside the test host as root, after bench/baseline.sh: `make bench`
# (or cat bench/baseline.sh bench/launch-latency.sh | testhost/run -- bash -s N).
set -euo pipefail
n=${1:-30}

launch() { as_alice nspawn-tray launch "$@" >/dev/null; }
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
	systemctl reset-failed nspawn-tray-daemon.service 2>/dev/null || true
	time_it cold launch --wait probe-bench
done
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
