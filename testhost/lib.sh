# Shared settings for the test host scripts. Sourced, never executed.
# shellcheck shell=bash

TESTHOST_NAME=testhost
TESTHOST_STATE=${TESTHOST_STATE:-/var/lib/nspawn-tray-testhost}
TESTHOST_CACHE=${TESTHOST_CACHE:-/var/cache/nspawn-tray-testhost}
TESTHOST_ROOT=$TESTHOST_STATE/root
TESTHOST_PIDFILE=$TESTHOST_STATE/nspawn.pid
TESTHOST_CONSOLE=$TESTHOST_STATE/console.log
TESTHOST_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TESTHOST_SUITE=bookworm

# Packages of the booted host. Later issues' tools (xdg-dbus-proxy, dex,
# desktop-file-utils, gtk-launch, xdotool) are here already so the cached
# tree does not have to be rebuilt for each of them.
TESTHOST_PACKAGES=systemd,systemd-sysv,dbus,dbus-user-session,dbus-bin,libpam-systemd,systemd-container,polkitd,pulseaudio,pulseaudio-utils,xvfb,xauth,x11-utils,x11-apps,x11-xserver-utils,xdotool,xfce4-panel,xfconf,xfce4-notifyd,fonts-dejavu-core,xdg-dbus-proxy,desktop-file-utils,dex,libglib2.0-bin,libgtk-3-bin,busybox-static,procps,less,xserver-xephyr,weston

# The xapps fixture image: X clients, a PulseAudio client, D-Bus tools and an
# application (xterm) that ships its own .desktop file and icons.
XAPPS_PACKAGES=x11-apps,x11-utils,pulseaudio-utils,dbus-bin,xterm,xdotool,socat,weston

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
			echo "$TESTHOST_SUITE $TESTHOST_PACKAGES $XAPPS_PACKAGES" &&
			find build rootfs fixtures -type f -print0 | sort -z | xargs -0 sha256sum &&
			find rootfs fixtures -print0 | sort -z | xargs -0 stat -c '%n %a'
	) | sha256sum | cut -c1-16
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
