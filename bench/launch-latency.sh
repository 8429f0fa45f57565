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
baseline() {
	systemd-run --quiet --wait --pipe --collect -p Slice=machine.slice -p Delegate=yes -p KillMode=mixed -p Type=notify -- \
		systemd-nspawn --quiet --keep-unit --machine="bench-$1" --directory=/var/lib/machines/probe \
		--read-only --volatile=overlay --private-users=identity --no-new-privileges=yes --as-pid2 --console=pipe \
		--link-journal=no --tmpfs=/home:mode=0755 --bind-ro=/usr/bin/nspawn-tray:/run/nspawn-tray/exec \
		--bind-ro="$b/passwd:/etc/passwd" --bind-ro="$b/group:/etc/group" --bind="$b/home:/home/alice" \
		--bind=/tmp/.X11-unix/X0:/tmp/.X11-unix/X0 --bind-ro="$b/xauth:/run/nspawn-tray/xauthority" \
		--bind=/run/user/1000/pulse/native:/run/nspawn-tray/pulse/native \
		--setenv=DISPLAY=:0 --setenv=XAUTHORITY=/run/nspawn-tray/xauthority \
		-- /run/nspawn-tray/exec exec-as --uid 1000 --gid 1000 --home /home/alice -- /bin/sh -c 'exit 0'
}
launch() { runuser -u alice -- "${alice_env[@]}" nspawn-tray launch --wait "${1:-probe-bench}" >/dev/null; }

# Warm both paths (daemon activation, page cache) before timing.
launch; baseline warm
: >"$b/launch.ns"; : >"$b/nodbus.ns"; : >"$b/baseline.ns"
for i in $(seq "$n"); do
	t0=$(now); launch; t1=$(now); echo $((t1 - t0)) >>"$b/launch.ns"
	t0=$(now); launch probe-bench-nodbus; t1=$(now); echo $((t1 - t0)) >>"$b/nodbus.ns"
	t0=$(now); baseline "$i"; t1=$(now); echo $((t1 - t0)) >>"$b/baseline.ns"
done
median() { sort -n "$1" | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ml=$(median "$b/launch.ns"); mn=$(median "$b/nodbus.ns"); mb=$(median "$b/baseline.ns")
awk -v l="$ml" -v d="$mn" -v b="$mb" -v n="$n" 'BEGIN {
	printf "runs: %d each, alternating\n", n
	printf "nspawn-tray launch --wait (daemon, polkit, staging, proxy): median %.1f ms  ratio %.2f\n", l/1e6, l/b
	printf "nspawn-tray launch --wait, dbus = [] (no proxy):            median %.1f ms  ratio %.2f\n", d/1e6, d/b
	printf "bare systemd-run + systemd-nspawn, same binds:               median %.1f ms  ratio 1.00\n", b/1e6
}'
rm -rf "$b"
