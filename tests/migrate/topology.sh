#!/bin/sh
# Hosts as network namespaces, for migration tests and the demo:
#
#   PREFIX-client (10.77.0.1, fd77::1) ---+
#   PREFIX-a      (10.77.0.2, fd77::2) ---+--- bridge in PREFIX-switch
#   PREFIX-b      (10.77.0.3, fd77::3) ---+
#
# The service address 10.77.0.100 / fd77::100 starts on host a; `move`
# takes it to the other host and announces it there (gratuitous ARP and
# unsolicited neighbour advertisement), so the client learns the new
# place at once.  Nothing here touches the host's own network.
#
#   topology.sh up PREFIX       make the hosts
#   topology.sh move PREFIX TO  move the service address to host TO (a|b)
#   topology.sh down PREFIX     remove everything
set -eu

SVC4=10.77.0.100
SVC6=fd77::100
here=$(cd "$(dirname "$0")" && pwd)

ns() { ip netns exec "$P-$1" "$@"; }
nsx() { n=$1; shift; ip netns exec "$P-$n" "$@"; }

host_up() { # name index
	ip netns add "$P-$1"
	ip link add eth0 netns "$P-$1" type veth peer name "port-$1" \
		netns "$P-switch"
	nsx "$1" sysctl -qw net.ipv6.conf.all.accept_dad=0 \
		net.ipv6.conf.default.accept_dad=0
	nsx "$1" ip link set lo up
	nsx "$1" ip link set eth0 up
	nsx "$1" ip addr add "10.77.0.$2/24" dev eth0
	nsx "$1" ip addr add "fd77::$2/64" dev eth0 nodad
	nsx switch ip link set dev "port-$1" master br0 up
}

up() {
	ip netns add "$P-switch"
	nsx switch ip link set lo up
	nsx switch ip link add br0 type bridge
	nsx switch ip link set br0 up
	host_up client 1
	host_up a 2
	host_up b 3
	nsx a ip addr add "$SVC4/32" dev eth0
	nsx a ip addr add "$SVC6/128" dev eth0 nodad
}

move() {
	case "$1" in
	a) from=b ;;
	b) from=a ;;
	*) echo "topology.sh: move to a or b" >&2; exit 2 ;;
	esac
	nsx "$from" ip addr del "$SVC4/32" dev eth0
	nsx "$from" ip addr del "$SVC6/128" dev eth0
	nsx "$1" ip addr add "$SVC4/32" dev eth0
	nsx "$1" ip addr add "$SVC6/128" dev eth0 nodad
	nsx "$1" python3 "$here/announce.py" eth0 "$SVC4" "$SVC6"
}

down() {
	for n in client a b switch; do
		ip netns del "$P-$n" 2>/dev/null || true
	done
}

[ $# -ge 2 ] || { sed -n '2,17p' "$0" >&2; exit 2; }
cmd=$1
P=$2
case "$cmd" in
up) down; up ;;
move) move "$3" ;;
down) down ;;
*) echo "topology.sh: unknown command $cmd" >&2; exit 2 ;;
esac
