# Shared settings for the test host scripts. Sourced, never executed.
# shellcheck shell=bash

# TESTHOST_SUITE picks the Debian release of the test host: bookworm (Debian
# 12, systemd 252, PulseAudio; the default) or trixie (Debian 13, systemd 257,
# PipeWire). Each release has its own tree, cache and machine name, so both
# can exist (and run) at once; bookworm keeps the names it always had.
TESTHOST_SUITE=${TESTHOST_SUITE:-bookworm}
case $TESTHOST_SUITE in
bookworm) suffix="" ;;
trixie) suffix=-trixie ;;
*) echo "testhost: unknown TESTHOST_SUITE \"$TESTHOST_SUITE\" (bookworm or trixie)" >&2; exit 2 ;;
esac
TESTHOST_NAME=testhost$suffix
# TESTHOST_STATE and TESTHOST_CACHE, when set, move bookworm's directories;
# trixie's are beside them, with -trixie appended. They are read, never
# changed: the scripts call each other with the same environment.
TESTHOST_STATE_DIR=${TESTHOST_STATE:-/var/lib/nspawn-tray-testhost}$suffix
TESTHOST_CACHE_DIR=${TESTHOST_CACHE:-/var/cache/nspawn-tray-testhost}$suffix
unset suffix
TESTHOST_ROOT=$TESTHOST_STATE_DIR/root
TESTHOST_PIDFILE=$TESTHOST_STATE_DIR/nspawn.pid
TESTHOST_CONSOLE=$TESTHOST_STATE_DIR/console.log
TESTHOST_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Packages of the booted host. Later issues' tools (xdg-dbus-proxy, dex,
# desktop-file-utils, gtk-launch, xdotool) are here already so the cached
# tree does not have to be rebuilt for each of them.
TESTHOST_PACKAGES=systemd,systemd-sysv,dbus,dbus-user-session,dbus-bin,libpam-systemd,systemd-container,polkitd,pulseaudio-utils,xvfb,xauth,x11-utils,x11-apps,x11-xserver-utils,xdotool,xfce4-panel,xfconf,xfce4-notifyd,fonts-dejavu-core,xdg-dbus-proxy,desktop-file-utils,dex,libglib2.0-bin,libgtk-3-bin,busybox-static,procps,less,python3,xserver-xephyr,weston

# The xapps fixture image: X clients, a PulseAudio client, D-Bus tools and an
# application (xterm) that ships its own .desktop file and icons; xdotool,
# socat and weston's demo clients for the nested display's and Wayland's
# tests. It follows the suite: the apps a Debian 13 desktop runs are Debian 13's.
XAPPS_PACKAGES=x11-apps,x11-utils,pulseaudio-utils,dbus-bin,xterm,xdotool,socat,weston

# The sound server of alice's session, as on that release's desktop, and the
# user units that start it (socket-activated, enabled for every user). Its
# configuration (a null sink, testhost_null, as the default) is in
# rootfs.$TESTHOST_SOUND/, laid over rootfs/.
# TESTHOST_NSPAWN_ENV: the environment systemd-nspawn boots the host with.
case $TESTHOST_SUITE in
bookworm)
	TESTHOST_RELEASE="Debian 12 (bookworm)"
	TESTHOST_SOUND=pulseaudio
	TESTHOST_PACKAGES+=,pulseaudio
	TESTHOST_SOUND_UNITS="pulseaudio.socket"
	TESTHOST_NSPAWN_ENV=()
	;;
trixie)
	TESTHOST_RELEASE="Debian 13 (trixie)"
	TESTHOST_SOUND=pipewire
	TESTHOST_PACKAGES+=,pipewire,pipewire-pulse,wireplumber
	# What e2e/package_test.go's host needs beyond the tree: on bookworm it
	# downloads them with this machine's apt, whose sources are bookworm's.
	TESTHOST_PACKAGES+=,bash-completion,zsh,fish,librsvg2-common
	TESTHOST_SOUND_UNITS="pipewire.socket pipewire-pulse.socket wireplumber.service"
	# systemd 257 wants the unified cgroup hierarchy; nspawn 252 on a host
	# with the legacy or hybrid one gives it that only when asked.
	TESTHOST_NSPAWN_ENV=(SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1)
	;;
esac

die() { echo "testhost: $*" >&2; exit 1; }

# The Debian mirror this machine already uses, so nothing names a host here.
debian_mirror() {
	local m=""
	if [ -r /etc/apt/sources.list.d/debian.sources ]; then
		m=$(awk '/^URIs:/ && !/security/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
	fi
	if [ -z "$m" ] && [ -r /etc/apt/sources.list ]; then
		m=$(awk '$1=="deb" && $3 !~ /security/ {print $2; exit}' /etc/apt/sources.list)
	fi
	[ -n "$m" ] || die "no Debian mirror found in /etc/apt/sources.list{,.d/debian.sources}"
	echo "$m"
}

# The key of the cached tree: every input that shapes it.
cache_key() {
	(
		cd "$TESTHOST_SRC" &&
			echo "$TESTHOST_SUITE $TESTHOST_PACKAGES $XAPPS_PACKAGES $TESTHOST_SOUND_UNITS" &&
			find build rootfs "rootfs.$TESTHOST_SOUND" fixtures -type f -print0 | sort -z | xargs -0 sha256sum &&
			find rootfs "rootfs.$TESTHOST_SOUND" fixtures -print0 | sort -z | xargs -0 stat -c '%n %a'
	) | sha256sum | cut -c1-16
}

# The cgroup each host's systemd-nspawn runs in, a child of the cgroup that
# started it, named after the host's state dir. Without it, nspawn puts every
# container in one "payload" cgroup beside itself, and two hosts running at
# once share their systemd's cgroup trees: each sees the other's processes in
# its units (Debian 13's systemd then waits on them at every stop) and could
# kill them with its own.
TESTHOST_CGROUP=$(basename "$TESTHOST_STATE_DIR")

# cgroup_dirs: this host's cgroup directory in each hierarchy systemd uses,
# the unified one and the legacy name=systemd one, where mounted.
cgroup_dirs() {
	local id ctl path mnt
	while IFS=: read -r id ctl path; do
		case $ctl in
		"") mnt=$(findmnt -n -o TARGET -t cgroup2 | head -n 1) ;;
		name=systemd) mnt=$(findmnt -n -o TARGET -t cgroup -O name=systemd | head -n 1) ;;
		*) continue ;;
		esac
		[ -n "$mnt" ] && echo "$mnt${path%/}/$TESTHOST_CGROUP"
	done </proc/self/cgroup
}

# join_cgroup: move this (sub)shell into the host's cgroups, and note them
# in the state dir for testhost/stop to remove.
join_cgroup() {
	local d
	: >"$TESTHOST_STATE_DIR/cgroups"
	for d in $(cgroup_dirs); do
		mkdir -p "$d" && echo "$BASHPID" >"$d/cgroup.procs" || die "cannot join the cgroup $d"
		echo "$d" >>"$TESTHOST_STATE_DIR/cgroups"
	done
}

# PID of the container's init as seen from here, or nothing.
leader_pid() {
	[ -f "$TESTHOST_PIDFILE" ] || return 0
	local nspawn
	nspawn=$(cat "$TESTHOST_PIDFILE")
	[ -d "/proc/$nspawn" ] || return 0
	# nspawn's direct child is the container's PID 1.
	pgrep -P "$nspawn" | head -n 1
}

is_running() {
	local l
	l=$(leader_pid)
	[ -n "$l" ] && [ -S "/proc/$l/root/run/systemd/private" ]
}
