#!/bin/sh
# The TCP-SI codec is one source for libtcpcp and tcpcp2.ko: it must build
# in a kernel build (Debian's 6.1 headers), warning-free under W=1.
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
cp "$src/lib/si_codec.c" "$work/"
cat > "$work/Kbuild" <<KBUILD
obj-m := si_codec.o
ccflags-y := -I$src/include -I$src/lib
KBUILD
make -s -C "$kdir" M="$work" W=1 si_codec.o > "$work/log" 2>&1 || {
	cat "$work/log"
	exit 1
}
if grep -q "warning:" "$work/log"; then
	cat "$work/log"
	exit 1
fi
echo "si_codec.c builds in $kdir with W=1, no warnings"
