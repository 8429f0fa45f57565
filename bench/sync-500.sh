#!/bin/bash
# `nspawn-tray sync` of 500 app definitions (all on the xapps image, so each
# one's metadata and icon come through the daemon): cold (an empty data dir,
# and the daemon stopped, so its cache is empty and the call activates it),
# then unchanged, in ROUNDS rounds of one cold and three unchanged syncs;
# prints each and the medians. Runs inside the test host as root:
# `make bench-sync`.
set -euo pipefail
n=${1:-500}
rounds=${2:-3}
data=/tmp/bench-sync-data
cleanup() { rm -f /etc/nspawn-tray/apps.d/bench-sync-*.toml; rm -rf "$data"; }
trap cleanup EXIT
cleanup
for i in $(seq -w 1 "$n"); do
	printf 'name = "Bench %s"\nimage = "xapps"\nexec = ["/usr/bin/xterm"]\n' "$i" >"/etc/nspawn-tray/apps.d/bench-sync-$i.toml"
done
sync_once() {
	runuser -u alice -- env HOME=/home/alice XDG_DATA_HOME="$data" nspawn-tray sync 2>/dev/null
}
ms() { echo $((($2 - $1) / 1000000)); }
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
cold=() unchanged=()
for r in $(seq 1 "$rounds"); do
	rm -rf "$data" && mkdir -p "$data" && chown alice:alice "$data"
	systemctl stop nspawn-tray-daemon.service
	t0=$(date +%s%N); out=$(sync_once); t1=$(date +%s%N)
	cold+=("$(ms "$t0" "$t1")")
	echo "cold:      ${cold[-1]} ms  ($out)"
	for _ in 1 2 3; do
		t0=$(date +%s%N); out=$(sync_once); t1=$(date +%s%N)
		unchanged+=("$(ms "$t0" "$t1")")
		echo "unchanged: ${unchanged[-1]} ms  ($out)"
	done
done
echo "median cold: $(printf '%s\n' "${cold[@]}" | median) ms of ${#cold[@]}; median unchanged: $(printf '%s\n' "${unchanged[@]}" | median) ms of ${#unchanged[@]}"
