#!/bin/bash
# Inside the test host, after a boot (bench/machines-at-boot.sh): wait until
# the N machines tiny1..tinyN have their tiny.service active, then print,
# from the systemds' own timestamps, how long after the host's systemd
# started machines.target, multi-user.target and the last tiny.service
# became active, and the machines' resident memory.
set -eu
n=${1:-20}
prop() { busctl get-property org.freedesktop.systemd1 "$@" | cut -d' ' -f2; }
target() { prop "/org/freedesktop/systemd1/unit/$1" org.freedesktop.systemd1.Unit ActiveEnterTimestamp; }
up=0
for _ in $(seq 3000); do
	up=0
	for i in $(seq "$n"); do systemctl -M "tiny$i" is-active -q tiny.service 2>/dev/null && up=$((up + 1)); done
	[ "$up" = "$n" ] && break
	sleep 0.1
done
start=$(prop /org/freedesktop/systemd1 org.freedesktop.systemd1.Manager UserspaceTimestamp)
last=$start
for i in $(seq "$n"); do
	t=$(busctl -M "tiny$i" get-property org.freedesktop.systemd1 /org/freedesktop/systemd1/unit/tiny_2eservice \
		org.freedesktop.systemd1.Unit ActiveEnterTimestamp | cut -d' ' -f2)
	[ "$t" -gt "$last" ] && last=$t
done
kb=0
for i in $(seq "$n"); do
	for p in $(find "/sys/fs/cgroup/unified/machine.slice/systemd-nspawn@tiny$i.service" -name cgroup.procs -exec cat {} +); do
		kb=$((kb + $(cut -d' ' -f2 "/proc/$p/statm" 2>/dev/null || echo 0) * 4))
	done
done
awk -v s="$start" -v m="$(target machines_2etarget)" -v u="$(target multi_2duser_2etarget)" -v l="$last" \
	-v up="$up" -v n="$n" -v kb="$kb" -v load="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN {
	printf "%d/%d up; after the host systemd started: machines.target %.2f s, multi-user.target %.2f s, ", up, n, (m-s)/1e6, (u-s)/1e6
	printf "every tiny.service active %.2f s; RSS of the machines %.0f MiB; load %s\n", (l-s)/1e6, kb/1024, load
}'
