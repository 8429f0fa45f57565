#!/bin/bash
# Shared by the launch benchmarks, which the Makefile feeds in after this
# file (cat bench/baseline.sh bench/X.sh | testhost/run -- bash -s ...):
# alice's environment, timing helpers and the baseline, a bare
# `systemd-run ... systemd-nspawn` with the flags and binds the launcher
# gives an app, prepared once and not timed.
set -euo pipefail
alice_env=(env HOME=/home/alice USER=alice DISPLAY=:0 XAUTHORITY=/home/alice/.Xauthority
	XDG_RUNTIME_DIR=/run/user/1000 DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus)

# What the baseline's app gets: passwd/group, a FamilyWild cookie, a home,
# and the same sockets.
b=/run/bench-baseline
rm -rf "$b" && mkdir -p "$b/home" && chown 1000:1000 "$b/home"
{ cat /var/lib/machines/probe/etc/passwd; echo "alice:x:1000:1000::/home/alice:/bin/sh"; } >"$b/passwd"
{ cat /var/lib/machines/probe/etc/group; echo "alice:x:1000:"; } >"$b/group"
touch "$b/xauth"
xauth -f /home/alice/.Xauthority nlist :0 | sed 's/^..../ffff/' | xauth -q -f "$b/xauth" nmerge -
chmod 0644 "$b/xauth"

# as_alice CMD...: CMD as alice, in her session's environment. setpriv, not
# runuser: runuser opens and closes a PAM session (4 ms more here), which
# neither a command in alice's own shell nor the baseline (root's
# systemd-run) pays.
as_alice() { setpriv --reuid=1000 --regid=1000 --init-groups "${alice_env[@]}" "$@"; }

now() { date +%s%N; }
median() { sort -n "$1" | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
# baseline NAME [--wait] [PAYLOAD...]: unit and machine bench-NAME; with
# --wait, returns when the payload has exited and the unit is gone;
# without, when nspawn reported it running (READY=1). The payload is
# sh -c 'exit 0' unless given.
baseline() {
	local name=$1 wait=()
	shift
	if [ "${1:-}" = --wait ]; then
		wait=(--wait --pipe)
		shift
	fi
	[ $# -gt 0 ] || set -- /bin/sh -c 'exit 0'
	systemd-run --quiet "${wait[@]}" --unit="bench-$name" --collect -p Slice=machine.slice -p Delegate=yes -p KillMode=mixed -p Type=notify -- \
		systemd-nspawn --quiet --keep-unit --machine="bench-$name" --directory=/var/lib/machines/probe \
		--read-only --volatile=overlay --private-users=identity --no-new-privileges=yes --as-pid2 --console=pipe \
		--link-journal=no --tmpfs=/home:mode=0755 --bind-ro=/usr/bin/nspawn-tray:/run/nspawn-tray/exec \
		--bind-ro="$b/passwd:/etc/passwd" --bind-ro="$b/group:/etc/group" --bind="$b/home:/home/alice" \
		--bind=/tmp/.X11-unix/X0:/tmp/.X11-unix/X0 --bind-ro="$b/xauth:/run/nspawn-tray/xauthority" \
		--bind=/run/user/1000/pulse/native:/run/nspawn-tray/pulse/native \
		--setenv=DISPLAY=:0 --setenv=XAUTHORITY=/run/nspawn-tray/xauthority \
		-- /run/nspawn-tray/exec exec-as --uid 1000 --gid 1000 --home /home/alice -- "$@"
}
