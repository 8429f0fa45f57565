#!/bin/bash
# `nspawn-tray sync` of 500 app definitions (all on the xapps image, so each
# one's metadata and icon come through the daemon): cold (empty data dir),
# then unchanged. Runs inside the test host as root: `make bench-sync`.
set -euo pipefail
n=${1:-500}
data=/tmp/bench-sync-data
cleanup() { rm -f /etc/nspawn-tray/apps.d/bench-sync-*.toml; rm -rf "$data"; }
trap cleanup EXIT
cleanup
for i in $(seq -w 1 "$n"); do
	printf 'name = "Bench %s"\nimage = "xapps"\nexec = ["/usr/bin/xterm"]\n' "$i" >"/etc/nspawn-tray/apps.d/bench-sync-$i.toml"
done
mkdir -p "$data" && chown alice:alice "$data"
sync_once() {
	runuser -u alice -- env HOME=/home/alice XDG_DATA_HOME="$data" nspawn-tray sync 2>/dev/null
}
ms() { echo $((($2 - $1) / 1000000)); }
t0=$(date +%s%N); out1=$(sync_once); t1=$(date +%s%N)
out2=$(sync_once); t2=$(date +%s%N)
out3=$(sync_once); t3=$(date +%s%N)
echo "cold:      $(ms "$t0" "$t1") ms  ($out1)"
echo "unchanged: $(ms "$t1" "$t2") ms  ($out2)"
echo "unchanged: $(ms "$t2" "$t3") ms  ($out3)"
