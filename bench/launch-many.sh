#!/bin/bash
# The seed's boot complaint, and leaks: N different apps launched by alice
# at the same moment, against one launch alone (side by side, alternating
# rounds), then CYCLES launch/stop cycles with the daemon's descriptors
# and memory and the host's unit count before and after. Also the second
# launch of a running app (it joins the running machine) against a fresh
# launch. The same for the bare systemd-run + systemd-nspawn baseline: N
# at once against one. Runs inside the test host as root, after
# bench/baseline.sh: `make bench-many` (or cat bench/baseline.sh
# bench/launch-many.sh | testhost/run -- bash -s N ROUNDS CYCLES).
set -euo pipefail
n=${1:-20}
rounds=${2:-3}
cycles=${3:-100}
apps=/etc/nspawn-tray/apps.d
settings=/etc/nspawn-tray/daemon.toml
work=/run/bench-many
cleanup() {
	stop_all
	rm -f "$apps"/bench-many-*.toml "$settings"
	rm -rf "$work"
}
stop_all() { for i in $(seq -w 1 "$n"); do as_alice nspawn-tray stop --app "bench-many-$i" >/dev/null 2>&1 || true; done; }
running() { machinectl list --no-legend | grep -c '^bench-many-' || true; }
wait_none() { while [ "$(running)" != 0 ]; do sleep 0.02; done; }
trap cleanup EXIT
mkdir -p "$work"
# A desktop app's resources (X11, the sound filter, the bus proxy, a
# home) and a payload that stays.
for i in $(seq -w 1 "$n"); do
	cat >"$apps/bench-many-$i.toml" <<EOF
name = "Many $i"
image = "probe"
exec = ["/bin/sleep", "600"]
EOF
done
# The default allows 16 instances per user.
printf 'max_instances_per_user = %d\n' $((n + 4)) >"$settings"

as_alice nspawn-tray launch bench-many-01 >/dev/null # warm
stop_all; wait_none
: >"$work/one.ns"; : >"$work/all.ns"; : >"$work/join.ns"; : >"$work/fresh.ns"; : >"$work/bone.ns"; : >"$work/ball.ns"
bare_stop() { systemctl stop 'bench-m*.service' 2>/dev/null || true; while machinectl list --no-legend | grep -q '^bench-m'; do sleep 0.02; done; }
failures=0
for r in $(seq "$rounds"); do
	t0=$(now); as_alice nspawn-tray launch bench-many-01 >/dev/null; t1=$(now)
	echo $((t1 - t0)) >>"$work/fresh.ns"
	# A second launch of the running app joins its machine.
	t0=$(now); as_alice nspawn-tray launch bench-many-01 >/dev/null; t1=$(now)
	echo $((t1 - t0)) >>"$work/join.ns"
	stop_all; wait_none
	t0=$(now); as_alice nspawn-tray launch bench-many-02 >/dev/null; t1=$(now)
	echo $((t1 - t0)) >>"$work/one.ns"
	stop_all; wait_none
	pids=()
	t0=$(now)
	for i in $(seq -w 1 "$n"); do
		as_alice nspawn-tray launch "bench-many-$i" >"$work/out-$i" 2>&1 &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || failures=$((failures + 1)); done
	t1=$(now)
	echo $((t1 - t0)) >>"$work/all.ns"
	got=$(running)
	[ "$got" = "$n" ] || { echo "round $r: $got of $n machines running" >&2; cat "$work"/out-* >&2; }
	stop_all; wait_none
	# The baseline: one bare nspawn, then N at once (each returns at READY=1).
	t0=$(now); baseline "m$r-one" /bin/sleep 600; t1=$(now)
	echo $((t1 - t0)) >>"$work/bone.ns"
	bare_stop
	pids=()
	t0=$(now)
	for i in $(seq -w 1 "$n"); do
		baseline "m$r-$i" /bin/sleep 600 &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || failures=$((failures + 1)); done
	t1=$(now)
	echo $((t1 - t0)) >>"$work/ball.ns"
	bare_stop
done
sleep 1 # the last instances' helper units go
units_left=$(systemctl list-units --all --no-legend 'nspawn-tray-*' | grep -c bench-many || true)

# Leaks: the daemon's descriptors and memory, and the host's units, before
# and after CYCLES launch/stop cycles. The daemon stays up (each call is
# within its idle timeout).
daemon_pid() { systemctl show -p MainPID --value nspawn-tray-daemon.service; }
fds() { ls "/proc/$(daemon_pid)/fd" | wc -l; }
rss() { awk '/^VmRSS/ {print $2}' "/proc/$(daemon_pid)/status"; }
unit_count() { systemctl list-units --all --no-legend | wc -l; }
as_alice nspawn-tray launch bench-many-01 >/dev/null; stop_all; wait_none
pid0=$(daemon_pid); fd0=$(fds); rss0=$(rss); units0=$(unit_count)
for c in $(seq "$cycles"); do
	as_alice nspawn-tray launch bench-many-01 >/dev/null || failures=$((failures + 1))
	as_alice nspawn-tray stop --app bench-many-01 >/dev/null || failures=$((failures + 1))
done
wait_none
sleep 1 # the last instance's units go
pid1=$(daemon_pid); fd1=$(fds); rss1=$(rss); units1=$(unit_count)

mo=$(median "$work/one.ns"); ma=$(median "$work/all.ns"); mj=$(median "$work/join.ns"); mf=$(median "$work/fresh.ns")
mbo=$(median "$work/bone.ns"); mba=$(median "$work/ball.ns")
awk -v o="$mo" -v a="$ma" -v j="$mj" -v f="$mf" -v bo="$mbo" -v ba="$mba" -v n="$n" -v r="$rounds" 'BEGIN {
	printf "rounds: %d, alternating\n", r
	printf "one launch alone:                      median %7.1f ms\n", o/1e6
	printf "%d different apps at once, all running: median %7.1f ms  ratio %.2f to one\n", n, a/1e6, a/o
	printf "bare nspawn, one alone:                median %7.1f ms\n", bo/1e6
	printf "bare nspawn, %d at once:                median %7.1f ms  ratio %.2f to one\n", n, ba/1e6, ba/bo
	printf "%d at once, nspawn-tray to bare:        ratio %.2f\n", n, a/ba
	printf "fresh launch of an app:                median %7.1f ms\n", f/1e6
	printf "second launch (joins the running one): median %7.1f ms  ratio %.2f to fresh\n", j/1e6, j/f
}'
echo "failed launches or stops: $failures; nspawn-tray units left after the rounds: $units_left"
echo "after $cycles launch/stop cycles: daemon pid $pid0 -> $pid1, fds $fd0 -> $fd1, RSS ${rss0} -> ${rss1} kB, host units $units0 -> $units1"
