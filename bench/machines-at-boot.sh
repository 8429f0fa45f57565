#!/bin/bash
# The seed's complaint, measured: N machines enabled at boot (copies of the
# test image tiny, each `machinectl enable`d), the test host rebooted, and
# the time from the host's systemd starting until every machine's own
# tiny.service is active, from the timestamps the systemds keep (no
# polling in the figures). Boots twice: the first boot of a copy picks its
# UID range (-U); the second is the steady state. A boot without the
# machines comes first, as the baseline.
# Runs on the machine that runs the test host (it reboots it):
# `make bench-boot` (or bench/machines-at-boot.sh N).
set -euo pipefail
n=${1:-20}
here=$(cd "$(dirname "$0")/.." && pwd)
run() { "$here/testhost/run" -- "$@"; }

echo "machines-at-boot: $n copies of tiny"
# Scripts go in on stdin: systemd-run would expand the $ of an argument.
run bash -s "$n" <<'COPY'
for i in $(seq "$1"); do [ -d "/var/lib/machines/tiny$i" ] || cp -a /var/lib/machines/tiny "/var/lib/machines/tiny$i"; done
COPY
"$here/testhost/reboot" >/dev/null 2>&1
echo -n "boot with none enabled:  "
run bash -s 0 <"$here/bench/machines-up.sh"
run bash -s "$n" <<'ENABLE'
for i in $(seq "$1"); do machinectl enable "tiny$i" >/dev/null 2>&1; done
ENABLE
for boot in first second; do
	"$here/testhost/reboot" >/dev/null 2>&1
	echo -n "$boot boot, $n enabled: "
	run bash -s "$n" <"$here/bench/machines-up.sh"
done
run bash -s "$n" <<'CLEAN'
for i in $(seq "$1"); do machinectl disable "tiny$i" >/dev/null 2>&1; systemctl stop "systemd-nspawn@tiny$i.service"; done
for i in $(seq "$1"); do rm -rf "/var/lib/machines/tiny$i"; done
CLEAN
