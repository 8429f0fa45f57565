#!/bin/bash
# Cold start to first window of a browser, Chromium or Firefox ESR:
# launched by nspawn-tray in its container (the image realapps, the
# definitions testhost/realapps/apps.d/chromium.toml and firefox-esr.toml)
# against the same binary of the same image started directly in the test
# host, side by side (alternating), as a ratio of medians.
#
# "Directly" is the image as root of a private mount namespace
# (pivot_root): the same binary, libraries, fonts and Mesa, with /proc, /dev,
# /sys, alice's X socket, her session bus (unfiltered) and a home on the
# same disk bound in, as alice, and nothing of nspawn-tray (no daemon,
# polkit, staging, proxies, nspawn, overlay). "Cold" is a new,
# empty profile at every start (the browser's first-run work included, both
# sides), with the page cache warm: one untimed start of each first.
# "First window" is the first visible X window of the browser's class on
# :0, polled every 10 ms with xdotool.
#
# Runs inside the test host as root: `make bench-chromium`, `make
# bench-firefox` (or testhost/run -- bash -s N APP < bench/browser-first-window.sh,
# APP chromium or firefox-esr).
set -euo pipefail
n=${1:-10}
app=${2:-chromium}
case $app in
chromium) bin=/usr/bin/chromium class=chromium procs='^/usr/lib/chromium/chromium' ;;
firefox-esr) bin=/usr/lib/firefox-esr/firefox-esr class=firefox procs='^/usr/lib/firefox-esr/firefox-esr' ;;
*) echo "browser-first-window: chromium or firefox-esr, not $app" >&2; exit 2 ;;
esac
img=/var/lib/machines/realapps
[ -x "$img$bin" ] || { echo "no $bin in the image realapps: TESTHOST_REALAPPS=1 make testhost" >&2; exit 1; }
alice_env=(env HOME=/home/alice USER=alice DISPLAY=:0 XAUTHORITY=/home/alice/.Xauthority
	XDG_RUNTIME_DIR=/run/user/1000 DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus)
b=/var/tmp/bench-browser
rm -rf "$b" && mkdir -p "$b"
touch "$b/xauth"
xauth -f /home/alice/.Xauthority nlist :0 | sed 's/^..../ffff/' | xauth -q -f "$b/xauth" nmerge -
chmod 0644 "$b/xauth"

now() { date +%s%N; }
as_alice() { runuser -u alice -- "${alice_env[@]}" "$@"; }
window() { as_alice xdotool search --onlyvisible --class "$class" >/dev/null 2>&1; }
wait_window() {
	for _ in $(seq 6000); do
		window && return 0
		sleep 0.01
	done
	echo "no $app window after 60 s" >&2
	return 1
}
wait_no_window() {
	for _ in $(seq 3000); do
		window || return 0
		sleep 0.01
	done
	echo "a $app window is still there" >&2
	return 1
}

container() {
	runuser -u alice -- nspawn-tray stop --app "$app" >/dev/null 2>&1 || true
	rm -rf "/var/lib/nspawn-tray/homes/1000/$app"
	wait_no_window
	local t0 t1
	t0=$(now)
	as_alice nspawn-tray launch "$app" >/dev/null
	wait_window
	t1=$(now)
	as_alice nspawn-tray stop --app "$app" >/dev/null
	wait_no_window
	echo $((t1 - t0))
}

direct() {
	rm -rf "$b/home" && mkdir -p "$b/home" && chown 1000:1000 "$b/home"
	local t0 t1 pid
	t0=$(now)
	# pivot_root, not chroot: the kernel refuses a chrooted process the
	# user namespace the browsers' sandboxes make (Chromium: "No usable
	# sandbox!").
	unshare --mount --propagation private sh -c '
		img=$1 b=$2
		mount --bind "$img" "$img"
		mount --rbind /dev "$img/dev" && mount -t proc proc "$img/proc" && mount --rbind /sys "$img/sys"
		mount -t tmpfs -o mode=1777 tmpfs "$img/tmp" && mkdir "$img/tmp/.X11-unix"
		touch "$img/tmp/.X11-unix/X0" && mount --bind /tmp/.X11-unix/X0 "$img/tmp/.X11-unix/X0"
		mount -t tmpfs tmpfs "$img/home" && mkdir "$img/home/alice" && mount --bind "$b/home" "$img/home/alice"
		mount -t tmpfs tmpfs "$img/run" && mkdir -p "$img/run/bench" "$img/run/user/1000" && cp "$b/xauth" "$img/run/bench/xauth"
		touch "$img/run/user/1000/bus" && mount --bind /run/user/1000/bus "$img/run/user/1000/bus"
		cd "$img" && pivot_root . mnt && cd / && umount -l /mnt
		exec setpriv --reuid=1000 --regid=1000 --clear-groups env -i HOME=/home/alice USER=alice DISPLAY=:0 \
			XAUTHORITY=/run/bench/xauth XDG_RUNTIME_DIR=/run/user/1000 \
			DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus PATH=/usr/bin:/bin "$3"' sh "$img" "$b" "$bin" >/dev/null 2>&1 &
	pid=$!
	wait_window
	t1=$(now)
	pkill -KILL -P "$pid" 2>/dev/null || true
	kill -KILL "$pid" 2>/dev/null || true
	pkill -KILL -f "$procs" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	wait_no_window
	echo $((t1 - t0))
}

# Warm the page cache and the daemon's activation on both paths.
container >/dev/null
direct >/dev/null
: >"$b/container.ns"
: >"$b/direct.ns"
for _ in $(seq "$n"); do
	container >>"$b/container.ns"
	direct >>"$b/direct.ns"
done
median() { sort -n "$1" | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
range() { sort -n "$1" | awk 'NR==1 {lo=$1} {hi=$1} END {printf "%.0f-%.0f ms", lo/1e6, hi/1e6}'; }
mc=$(median "$b/container.ns")
md=$(median "$b/direct.ns")
awk -v app="$app" -v c="$mc" -v d="$md" -v n="$n" -v rc="$(range "$b/container.ns")" -v rd="$(range "$b/direct.ns")" 'BEGIN {
	printf "runs: %d each, alternating; new profile each start, page cache warm\n", n
	printf "nspawn-tray launch %s (container), to first window: median %.0f ms (%s)  ratio %.2f\n", app, c/1e6, rc, c/d
	printf "same binary run directly (image as root), to first window: median %.0f ms (%s)  ratio 1.00\n", d/1e6, rd
}'
rm -rf "$b"
