#!/bin/sh
# tcpcp2.ko must build against Debian's kernel headers warning-free under
# W=1, and under sparse (C=2) when sparse is installed.  It is built in a
# copy holding only what a DKMS source tree holds (kmod/, the TCP-SI codec
# from lib/, the headers from include/), so the tree gets no build products.
# Exit 77 (skip) when no kernel headers are installed.
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
kdir=$(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sort -V | tail -n 1)
if [ -z "$kdir" ]; then
	echo "SKIP: no kernel headers (apt-get install linux-headers-amd64)"
	exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/kmod" "$work/lib" "$work/include"
cp "$src"/kmod/Kbuild "$src"/kmod/*.c "$src"/kmod/*.h "$work/kmod/"
cp "$src"/lib/si_codec.c "$src"/lib/si_codec.h "$src"/lib/si_conn.h \
	"$src"/lib/si_compat.h "$work/lib/"
cp "$src"/include/tcpcp_si.h "$src"/include/tcpcp_ioctl.h "$work/include/"
checker=
if command -v sparse > /dev/null; then
	checker=C=2
fi
make -C "$kdir" M="$work/kmod" W=1 $checker modules > "$work/log" 2>&1 || {
	cat "$work/log"
	exit 1
}
if grep -E "warning:|error:" "$work/log"; then
	exit 1
fi
echo "tcpcp2.ko builds in $kdir with W=1${checker:+ and sparse}, no warnings"
