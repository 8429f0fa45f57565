#!/bin/bash
# Import throughput: `nspawn-tray image import` (the client, D-Bus,
# systemd-importd, its systemd-import and GNU tar, the rename into
# /var/lib/machines) against a bare `tar -x` of the same tarball into a
# directory on the same file system, side by side in one run
# (alternating), as a ratio of medians. The tarball is the xapps image in
# the layout `docker export` writes, plain and gzip'd.
# Runs inside the test host as root: `make bench-import` (or
# testhost/run -- bash -s N < bench/import.sh).
set -euo pipefail
n=${1:-5}
b=/var/tmp/bench-import
name=bench-import
cleanup() {
	machinectl remove "$name" >/dev/null 2>&1 || true
	rm -rf "$b"
}
trap cleanup EXIT
cleanup
mkdir -p "$b"
(cd /var/lib/machines/xapps && tar --numeric-owner -cf "$b/xapps.tar" $(ls -A))
gzip -1 -c "$b/xapps.tar" >"$b/xapps.tar.gz"
size=$(stat -c %s "$b/xapps.tar")
files=$(tar -tf "$b/xapps.tar" | wc -l)

now() { date +%s%N; }
# A timed run ends when the tree is written, as importd's does (it is
# done when its transfer is removed, after the rename); removal is not
# timed. With sync, both also pay for writing the data out (syncfs of the
# one file system both write to); without, the figures are the pipeline's
# own cost, with the data in the page cache.
timed() {
	local out=$1 sync=$2 what=$3 file=$4
	local t0 t1
	case $what in
	import)
		t0=$(now); nspawn-tray image import --quiet "$file" "$name"
		[ "$sync" = no ] || sync -f /var/lib/machines
		t1=$(now); machinectl remove "$name" ;;
	untar)
		mkdir "$b/x"; t0=$(now); tar --numeric-owner -C "$b/x" -xpf "$file"
		[ "$sync" = no ] || sync -f "$b/x"
		t1=$(now); rm -rf "$b/x" ;;
	esac
	sync -f "$b"
	echo $((t1 - t0)) >>"$out"
}

# Warm: the tarballs in the page cache, importd activated.
timed /dev/null yes import "$b/xapps.tar"; timed /dev/null yes untar "$b/xapps.tar"
runs=(import:yes:xapps.tar untar:yes:xapps.tar import:yes:xapps.tar.gz untar:yes:xapps.tar.gz import:no:xapps.tar untar:no:xapps.tar)
for r in "${runs[@]}"; do : >"$b/$r.ns"; done
for i in $(seq "$n"); do
	for r in "${runs[@]}"; do
		IFS=: read -r what sync file <<<"$r"
		timed "$b/$r.ns" "$sync" "$what" "$b/$file"
	done
done
median() { sort -n "$1" | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
gz=$(stat -c %s "$b/xapps.tar.gz")
printf 'tarball: xapps, %.1f MiB, %d entries (gzip -1: %.1f MiB); runs: %d each, alternating\n' \
	"$(awk -v s="$size" 'BEGIN {print s/1048576}')" "$files" "$(awk -v s="$gz" 'BEGIN {print s/1048576}')" "$n"
row() { # label, nspawn-tray's runs, tar's runs (MiB/s of the uncompressed tarball)
	awk -v l="$1" -v i="$(median "$b/$2.ns")" -v u="$(median "$b/$3.ns")" -v s="$size" 'BEGIN {
		printf "%-24s nspawn-tray image import %6.0f ms (%5.1f MiB/s)   tar -x %6.0f ms (%5.1f MiB/s)   ratio %.2f\n",
			l, i/1e6, s/1048576/(i/1e9), u/1e6, s/1048576/(u/1e9), i/u }'
}
row "xapps.tar, synced" import:yes:xapps.tar untar:yes:xapps.tar
row "xapps.tar.gz, synced" import:yes:xapps.tar.gz untar:yes:xapps.tar.gz
row "xapps.tar, not synced" import:no:xapps.tar untar:no:xapps.tar
