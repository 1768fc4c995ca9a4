#!/bin/sh
# Installs what tcpcp2 needs on Debian 12 and builds it into build/.
# Sourced by ./demo and ./test; safe to run again.
set -eu

PACKAGES="meson ninja-build gcc make pkg-config libcriterion-dev libnftables-dev libnftnl-dev libmnl-dev nftables
	libbpf-dev clang
	iproute2 procps python3 linux-headers-amd64 redis-server lighttpd
	linux-image-amd64 qemu-system-x86 cpio strace"

need_root() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "tcpcp2: run this as root (it installs packages, and" \
			"TCP_REPAIR needs CAP_NET_ADMIN)" >&2
		exit 1
	fi
}

install_packages() {
	missing=""
	for p in $PACKAGES; do
		dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	echo "tcpcp2: installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

build() {
	if [ -f build/build.ninja ]; then
		meson setup --reconfigure build >/dev/null
	else
		meson setup build >/dev/null
	fi
	ninja -C build >/dev/null
}

# The kmod test VM (tests/vm/) packs a static busybox into its initramfs.
# Installing busybox-static would remove Debian's busybox, so the package
# is only unpacked, into the build folder.
fetch_busybox() {
	dest=build/tests/vm/work/busybox-static
	[ -x "$dest/bin/busybox" ] && return 0
	tmp=$(mktemp -d)
	if ! (cd "$tmp" && apt-get download busybox-static >/dev/null 2>&1); then
		apt-get update -qq
		(cd "$tmp" && apt-get download busybox-static >/dev/null 2>&1) || true
	fi
	for deb in "$tmp"/busybox-static_*.deb; do
		[ -f "$deb" ] && mkdir -p "$dest" && dpkg-deb -x "$deb" "$dest"
	done
	rm -rf "$tmp"
	[ -x "$dest/bin/busybox" ] ||
		echo "tcpcp2: busybox-static could not be fetched: the vm suite will skip" >&2
}

cd "$(dirname "$0")/.."
need_root
install_packages
build
fetch_busybox
