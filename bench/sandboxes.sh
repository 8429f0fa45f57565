#!/bin/bash
# Where nspawn-tray sits among the tools users would pick instead: the
# same trivial program (sh -c 'exit 0') started by bubblewrap, firejail, a
# bare systemd-run + systemd-nspawn and nspawn-tray launch --wait, each as
# alice (the bare nspawn as root, as it must), N times each, alternating,
# in the test host. bubblewrap and firejail are Debian packages the test
# host does not have: they are downloaded here with apt, resolved against
# the host's package database, and installed there for the run.
# Run from the repository where the test host runs: `make bench-sandboxes`
# (or bench/sandboxes.sh N).
set -euo pipefail
n=${1:-20}
cd "$(dirname "$0")/.."
. testhost/lib.sh
debs=$TESTHOST_ROOT/var/tmp/bench-debs
rm -rf "$debs" && mkdir -p "$debs/partial"
apt-get install --download-only --no-install-recommends -y -q \
	-o Dir::State::status="$TESTHOST_ROOT/var/lib/dpkg/status" \
	-o Dir::Cache::archives="$debs" -o Debug::NoLocking=true bubblewrap firejail >/dev/null
testhost/run -- sh -c 'DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends /var/tmp/bench-debs/*.deb >/dev/null'
cat bench/baseline.sh - <<'EOF' | testhost/run -- bash -s "$n"
n=$1
as_alice() { runuser -u alice -- "${alice_env[@]}" "$@"; }
bwrap_run() { as_alice bwrap --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp --unshare-all --die-with-parent /bin/sh -c 'exit 0'; }
firejail_run() { as_alice firejail --quiet --noprofile /bin/sh -c 'exit 0' >/dev/null 2>&1; }
tray_run() { as_alice nspawn-tray launch --wait probe-bench-nodbus >/dev/null; }
for f in bwrap firejail bare tray; do : >"$b/$f.ns"; done
bwrap_run; firejail_run; tray_run; baseline warm --wait # warm
for i in $(seq "$n"); do
	for f in bwrap firejail tray; do
		t0=$(now); "${f}_run"; t1=$(now); echo $((t1 - t0)) >>"$b/$f.ns"
	done
	t0=$(now); baseline "sb$i" --wait; t1=$(now); echo $((t1 - t0)) >>"$b/bare.ns"
done
printf "runs: %d each, alternating; sh -c 'exit 0' until it has exited\n" "$n"
for f in bwrap firejail bare tray; do
	printf "%-9s median %7.1f ms\n" "$f" "$(median "$b/$f.ns" | awk '{print $1/1e6}')"
done
rm -rf "$b"
EOF
testhost/run -- sh -c 'DEBIAN_FRONTEND=noninteractive apt-get purge -y -q bubblewrap firejail firejail-profiles >/dev/null 2>&1; apt-get autoremove --purge -y -q >/dev/null 2>&1' || true
rm -rf "$debs"
