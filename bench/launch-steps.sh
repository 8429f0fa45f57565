#!/bin/bash
# Where a launch's time goes: the daemon's own profile of each step (its
# debug log, NSPAWN_TRAY_LOG=debug), medians over N launches of
# probe-bench (X11, PulseAudio filter, session bus proxy) with --wait.
# Runs inside the test host as root: `make bench-steps` (or
# testhost/run -- bash -s N < bench/launch-steps.sh).
set -euo pipefail
n=${1:-20}
alice_env=(env HOME=/home/alice USER=alice DISPLAY=:0 XAUTHORITY=/home/alice/.Xauthority
	XDG_RUNTIME_DIR=/run/user/1000 DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus)
dropin=/run/systemd/system/nspawn-tray-daemon.service.d
mkdir -p "$dropin"
printf '[Service]\nEnvironment=NSPAWN_TRAY_LOG=debug\n' >"$dropin/bench-steps.conf"
trap 'rm -f "$dropin/bench-steps.conf"; systemctl daemon-reload; systemctl stop nspawn-tray-daemon.service' EXIT
systemctl daemon-reload
systemctl stop nspawn-tray-daemon.service
launch() { runuser -u alice -- "${alice_env[@]}" nspawn-tray launch --wait "${1:-probe-bench}" >/dev/null; }
launch # activation and page cache, not counted
since=$(date '+%Y-%m-%d %H:%M:%S')
sleep 1
for _ in $(seq "$n"); do launch; done
journalctl -q -o cat -u nspawn-tray-daemon.service --since "$since" | grep 'msg="launch steps"' |
	tr ' ' '\n' | grep -E '^[a-z0-9.+-]+=[0-9.]+$' | tr '=' ' ' >/run/bench-steps.txt
# Each step's median, in the order the daemon ran them.
awk '!seen[$1]++ {print $1}' /run/bench-steps.txt | while read -r step; do
	awk -v s="$step" '$1 == s {print $2}' /run/bench-steps.txt | sort -n |
		awk -v s="$step" '{a[NR] = $1} END {printf "%-16s %7.2f ms  (median of %d)\n", s, (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2), NR}'
done
rm -f /run/bench-steps.txt
