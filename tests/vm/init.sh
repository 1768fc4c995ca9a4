#!/bin/busybox sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# /init of the kmod test VM; run-vm-tests packs it with the programs it
# runs.  Each result goes to the second serial port (ttyS1) as one line
#
#	TCPCP-TAP: <group> ok - suite::test  (1.23s)
#
# and the run ends with the only line the host believes:
#
#	TCPCP-VM-RESULT: N passed, M failed, K skipped
#
# QEMU exits 0 whether this powers off or the kernel panics, so a run that
# never prints that line has failed, whatever the exit status says.
#
# Groups, in order:
#   repair  the repair backend on this (Debian 6.1) kernel, before the
#           module is loaded (the errno tests expect no /dev/tcpcp2)
#   kmod    the integration tests again with TCPCP_BACKEND=kmod
#   module  who may do what (kmod_privileges.c), and kmod/tests/ on the
#           raw ioctls
#   cross   images made by one backend restored by the other, both ways
#   unload  rmmod with connections still held, then load again
#   kernel  the kernel log holds no BUG, WARNING or Oops
#
# Kernel command-line words with '=' that the kernel does not know reach
# this script as variables: TCPCP_VM_ONLY=<group> runs one group (the
# module is still loaded when that group needs it).
#
# One more group runs only when named, TCPCP_VM_ONLY=bench (run-vm-bench,
# bench/run --vm): the save/restore benchmark with the repair backend
# before the module is loaded, then with the kmod backend; see bench_half.

# Links for busybox's applets, except where the initramfs has the real
# program: /sbin/ip is iproute2's (busybox's ip has no netns or veth
# support) and /bin/sh is dash, whose system("ip ...") finds it; this
# script runs in busybox's shell, which prefers its own applets, so it
# says /sbin/ip.
/bin/busybox --install -s
export PATH=/sbin:/usr/sbin:/bin:/usr/bin HOME=/root
export LD_LIBRARY_PATH=/tcpcp/lib
T=/tcpcp/tests
# Most tests wait on TCP timers, not the CPU: more at once than CPUs.
JOBS=${TCPCP_VM_JOBS:-4}
pass=0 fail=0 skip=0

mount -t devtmpfs dev /dev
# ttyS0 is the kernel's console; all of this script's output goes to ttyS1,
# where no kernel message can break a line.
exec > /dev/ttyS1 2>&1 < /dev/null
mount -t proc proc /proc
mount -t sysfs sys /sys
mkdir -p /dev/shm /run /tmp
mount -t tmpfs shm /dev/shm # Criterion's workers share memory through it
mount -t tmpfs run /run
mount -t tmpfs tmp /tmp
/sbin/ip link set lo up
boot_lines=$(dmesg | wc -l)

say() { echo "TCPCP-VM: $*"; }

tap() { # group, then a TAP result line
	case $2 in
	"not ok"*) fail=$((fail + 1)) ;;
	*"# SKIP"* | *"# skip"*) skip=$((skip + 1)) ;;
	*) pass=$((pass + 1)) ;;
	esac
	echo "TCPCP-TAP: $1 $2"
}

indent() { sed 's/^/#   /' "$@"; }

uptime_s() { cut -d' ' -f1 /proc/uptime; }

wanted() { [ -z "$TCPCP_VM_ONLY" ] || [ "$TCPCP_VM_ONLY" = "$1" ]; }

# criterion GROUP BACKEND PROGRAM [FILTER]: each Criterion test is a result.
# Tests the filter leaves out are not reported at all (Criterion would call
# them skipped); what is left out, and why, is said where the groups are.
# criterion_run and criterion_report are its halves, for a program run in
# the background while others go on.
criterion() {
	criterion_run "$@"
	criterion_report "$@"
}

criterion_run() {
	backend=$2 prog=$3 filter=$4 out=/tmp/$1-$3
	[ -x "$T/$prog" ] || return
	set -- --tap="$out.tap" --jobs "$JOBS"
	[ -n "$filter" ] && set -- "$@" --filter="$filter"
	: > "$out.tap"
	t0=$(uptime_s)
	TCPCP_BACKEND=$backend timeout -s KILL 240 "$T/$prog" "$@" > "$out.log" 2>&1
	echo $? > "$out.rc"
	echo "$(uptime_s) $t0" | awk '{ printf "%.1f", $1 - $2 }' > "$out.time"
}

criterion_report() {
	group=$1 backend=$2 prog=$3 out=/tmp/$1-$3
	if [ ! -x "$T/$prog" ]; then
		tap "$group" "not ok - $prog: not in the initramfs"
		return
	fi
	rc=$(cat "$out.rc") bad=0 n=0
	echo "# $prog (TCPCP_BACKEND=$backend): $(cat "$out.time") s"
	while IFS= read -r line; do
		case $line in
		"ok"*"# SKIP test was skipped") continue ;;
		"not ok"*) bad=$((bad + 1)) ;;
		"ok"*) ;;
		*) continue ;;
		esac
		n=$((n + 1))
		tap "$group" "$line"
	done < "$out.tap"
	if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
		tap "$group" "not ok - $prog exited with status $rc after $n results"
		bad=1
	fi
	if [ "$bad" -ne 0 ]; then
		echo "# $prog (TCPCP_BACKEND=$backend) said:"
		indent "$out.log"
	fi
}

# program GROUP NAME [VAR=value...] PROGRAM ARGS...: one result, by exit
# status; what it printed follows as TAP comments.
program() {
	group=$1 name=$2
	shift 2
	t0=$(uptime_s)
	timeout -s KILL 120 env "$@" > /tmp/log 2>&1
	rc=$?
	echo "# $name: $(echo "$(uptime_s) $t0" | awk '{ printf "%.1f", $1 - $2 }') s"
	if [ "$rc" -eq 0 ]; then
		tap "$group" "ok - $name"
	elif [ "$rc" -eq 77 ]; then
		tap "$group" "ok - $name # SKIP $(tail -n 1 /tmp/log)"
	else
		tap "$group" "not ok - $name (exit status $rc)"
	fi
	indent /tmp/log
}

load_modules() { # the kernel's own modules the tests need, in order
	while read -r ko; do
		insmod "/tcpcp/modules/$ko" || say "insmod $ko failed"
	done < /tcpcp/modules/order
}

# What runs is chosen to keep the whole VM run near two minutes under TCG,
# where every test process costs about a second of CPU before it starts
# (Criterion runs each test in a fresh exec of its program) and checking
# big streams byte by byte is slow.  The repair suite runs everything
# natively on the host's kernel; here the repair group keeps only a few
# round trips, the hold's ABC test, the errno tests that depend on the
# kernel or on the module's absence, and the acceptance program; the kmod
# group leaves out queues::scale_ipv4_10000 (10 000 connections), the
# big-queue tests other than big_ipv4_all (4 MiB each way, the same
# paths), and the IPv6 twins of the IPv4 socket-option tests.

# The repair backend on this kernel: a second kernel for it, for free.
repair_group() {
	criterion repair repair test_roundtrip \
		'roundtrip/@(ipv4_exec_all|ipv6_exec_one)'
	criterion repair repair test_hold 'hold/abc_ipv4'
	# the BPF socket iterator relocated against this kernel (6.1)
	criterion repair repair test_snapshot 'snapshot/*'
	# before the module is loaded: these expect no /dev/tcpcp2
	criterion repair repair test_errno \
		'errors/@(enosys_kmod_without_module|enodev_linklocal_device_gone)'
	program repair manual-all TCPCP_BACKEND=repair $T/test_manual_all
}

# The queue tests spend most of their time checking 4 MiB streams byte by
# byte, which TCG makes slow: they run beside the others, which mostly
# wait on timers.
kmod_group() {
	queues='queues/@(big_ipv4_all|zero_window_*|streaming_during_stop)'
	criterion_run kmod kmod test_queues "$queues" &
	queues_pid=$!
	criterion kmod kmod test_roundtrip
	criterion kmod kmod test_halfclosed
	criterion kmod kmod test_options \
		'options/@(*_ipv4|tclass_ipv6|unicast_hops_ipv6)'
	criterion kmod kmod test_scale # 1000 connections, IPv4 and IPv6
	program kmod manual-all TCPCP_BACKEND=kmod $T/test_manual_all
	program kmod move-connection TCPCP_BACKEND=kmod $T/move-connection
	wait $queues_pid
	criterion_report kmod kmod test_queues
}

# tapfile GROUP PROGRAM: a program that writes TAP to --tap=FILE, one
# result per line; exit 77 means it cannot run here (skipped).
tapfile() {
	group=$1 prog=$2 name=${2##*/}
	: > /tmp/tap
	t0=$(uptime_s)
	timeout -s KILL 120 "$prog" --tap=/tmp/tap > /tmp/log 2>&1
	rc=$? bad=0 n=0
	echo "# $name: $(echo "$(uptime_s) $t0" | awk '{ printf "%.1f", $1 - $2 }') s"
	while IFS= read -r line; do
		case $line in
		"not ok"*) bad=$((bad + 1)) ;;
		"ok"*) ;;
		*) continue ;;
		esac
		n=$((n + 1))
		tap "$group" "$line"
	done < /tmp/tap
	if [ "$rc" -eq 77 ] && [ "$n" -eq 0 ]; then
		tap "$group" "ok - $name # SKIP $(tail -n 1 /tmp/log)"
	elif [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
		tap "$group" "not ok - $name exited with status $rc after $n results"
		bad=1
	elif [ "$n" -eq 0 ]; then
		tap "$group" "not ok - $name reported no result"
		bad=1
	fi
	[ "$bad" -ne 0 ] && indent /tmp/log
}

# The module's own tests: who may do what through libtcpcp
# (kmod_privileges.c), then the module through its raw ioctls alone
# (kmod/tests/, built by run-vm-tests, which lists how each one runs).
module_group() {
	criterion module kmod test_kmod_privileges
	while read -r how name; do
		case $how in
		tap) tapfile module /tcpcp/kmod-tests/$name ;;
		fuzz) program module "$name" /tcpcp/kmod-tests/$name \
			"${TCPCP_VM_FUZZ_SECONDS:-10}" ;;
		*) program module "$name" /tcpcp/kmod-tests/$name ;;
		esac
	done < /tcpcp/kmod-tests/list
}

# Images across backends, both ways, and the module alone, each run in
# network namespaces of its own, all at once.
cross_group() {
	set -- repair-to-kmod-ipv4 "repair kmod 4" kmod-to-repair-ipv4 "kmod repair 4" \
		repair-to-kmod-ipv6 "repair kmod 6" kmod-to-repair-ipv6 "kmod repair 6" \
		kmod-to-kmod-ipv4 "kmod kmod 4"
	pids=
	while [ $# -gt 0 ]; do
		XBACKEND_IMAGE=/tmp/$1.img timeout -s KILL 120 $T/xbackend $2 \
			> /tmp/$1.log 2>&1 &
		pids="$pids $1:$!"
		shift 2
	done
	for p in $pids; do
		name=${p%%:*}
		wait "${p#*:}"
		rc=$?
		if [ $rc -eq 0 ]; then
			tap cross "ok - $name"
		else
			tap cross "not ok - $name (exit status $rc)"
		fi
		indent /tmp/$name.log
	done
}

# Unload safety (unload_holder.c): rmmod while a process has a stopped
# socket open may be refused, never crash; once that process is gone rmmod
# must work although a 4-tuple is still held and its peer retransmits into
# the hooks; then the module must load, and unload, again.
unload_group() {
	rm -rf /tmp/unload && mkdir /tmp/unload
	$T/unload-holder /tmp/unload > /tmp/holder.log 2>&1 &
	holder=$!
	i=0
	while [ ! -e /tmp/unload/ready ] && [ $i -lt 300 ] && kill -0 $holder 2> /dev/null; do
		sleep 0.1
		i=$((i + 1))
	done
	loaded=1
	if [ -e /tmp/unload/ready ]; then
		if rmmod tcpcp2 2> /tmp/rmmod.log; then
			loaded=0
			tap unload "ok - rmmod while a stopped socket is open: unloaded"
		else
			tap unload "ok - rmmod while a stopped socket is open: refused ($(cat /tmp/rmmod.log))"
		fi
		touch /tmp/unload/go
	else
		kill $holder 2> /dev/null
	fi
	wait $holder
	rc=$?
	if [ $rc -eq 0 ]; then
		tap unload "ok - unload-holder: a stopped socket closed, a tuple held"
	else
		tap unload "not ok - unload-holder (exit status $rc)"
	fi
	indent /tmp/holder.log
	if [ $loaded -eq 1 ]; then
		if rmmod tcpcp2 2> /tmp/rmmod.log; then
			tap unload "ok - rmmod with a tuple held and its peer retransmitting"
		else
			tap unload "not ok - rmmod with a tuple held: $(cat /tmp/rmmod.log)"
		fi
	fi
	sleep 2 # retransmissions now meet no hook
	if insmod /tcpcp/tcpcp2.ko 2> /tmp/insmod.log && [ -c /dev/tcpcp2 ]; then
		tap unload "ok - insmod again: /dev/tcpcp2 is back"
		if rmmod tcpcp2 2> /tmp/rmmod.log; then
			tap unload "ok - rmmod again"
		else
			tap unload "not ok - rmmod again: $(cat /tmp/rmmod.log)"
		fi
	else
		tap unload "not ok - insmod again: $(cat /tmp/insmod.log)"
	fi
}

# The benchmark (bench/bench_save_restore; run-vm-tests packs it, and
# its options in /tcpcp/bench/args, one run a line, only for this group).
# bench_half BACKEND prints each run's table between TCPCP-BENCH-BEGIN and
# -END lines, which run-vm-bench joins into one table, then what
# bench/strace-one counts (when strace is in the initramfs) between
# TCPCP-STRACE-BEGIN and -END.
bench_half() {
	backend=$1 exe=$T/bench_save_restore out=/tmp/bench-$1
	if [ ! -x "$exe" ]; then
		tap bench "not ok - bench_save_restore: not in the initramfs"
		return
	fi
	while IFS= read -r args; do
		[ -n "$args" ] || continue
		t0=$(uptime_s)
		# shellcheck disable=SC2086 # the options are words
		TCPCP_BACKEND=$backend timeout -s KILL 3600 "$exe" $args \
			> "$out.out" 2> "$out.err" < /dev/null
		rc=$?
		secs=$(echo "$(uptime_s) $t0" | awk '{ printf "%.1f", $1 - $2 }')
		echo "TCPCP-BENCH-BEGIN $backend"
		cat "$out.out"
		echo "TCPCP-BENCH-END $backend"
		if [ "$rc" -eq 0 ]; then
			tap bench "ok - bench_save_restore $args, TCPCP_BACKEND=$backend ($secs s)"
		else
			tap bench "not ok - bench_save_restore $args, TCPCP_BACKEND=$backend: exit status $rc after $secs s"
		fi
		indent "$out.err"
	done < /tcpcp/bench/args
	[ -x /usr/bin/strace ] && [ -x /tcpcp/bench/strace-one ] || return 0
	n=$(cat /tcpcp/bench/strace-conns)
	TCPCP_BACKEND=$backend timeout -s KILL 600 /tcpcp/bench/strace-one \
		"$exe" "$n" > "$out.strace" 2> "$out.serr"
	rc=$?
	echo "TCPCP-STRACE-BEGIN $backend"
	cat "$out.strace"
	echo "TCPCP-STRACE-END $backend"
	if [ "$rc" -eq 0 ]; then
		tap bench "ok - strace-one $n, TCPCP_BACKEND=$backend"
	else
		tap bench "not ok - strace-one $n, TCPCP_BACKEND=$backend: exit status $rc"
		indent "$out.serr"
	fi
}

bench_wanted() { [ "$TCPCP_VM_ONLY" = bench ]; }

kernel_log_check() {
	if dmesg | grep -E 'BUG:|WARNING:|Oops|KASAN|UBSAN|general protection|Call Trace|refcount_t:|list_(add|del) corruption' > /tmp/bad; then
		tap kernel "not ok - the kernel log is clean"
		indent /tmp/bad
	else
		tap kernel "ok - the kernel log is clean"
	fi
}

# group NAME: runs NAME_group unless TCPCP_VM_ONLY names another.
group() {
	wanted "$1" || return 0
	g0=$(uptime_s)
	"$1_group"
	say "$1 group: $(echo "$(uptime_s) $g0" | awk '{ printf "%.1f", $1 - $2 }') s"
}

say "booted $(uname -r), $(nproc) CPUs, $(uptime_s) s"
load_modules
group repair
if bench_wanted; then
	say "bench: $(grep MemTotal /proc/meminfo)"
	g0=$(uptime_s)
	bench_half repair # the stock kernel: no module loaded yet
	say "bench repair half: $(echo "$(uptime_s) $g0" | awk '{ printf "%.1f", $1 - $2 }') s"
fi
if [ -f /tcpcp/tcpcp2.ko ]; then
	if insmod /tcpcp/tcpcp2.ko 2> /tmp/insmod.log && [ -c /dev/tcpcp2 ]; then
		tap load "ok - insmod tcpcp2.ko, /dev/tcpcp2 is there"
		group kmod
		group module
		group cross
		group unload
		if bench_wanted; then
			g0=$(uptime_s)
			bench_half kmod
			say "bench kmod half: $(echo "$(uptime_s) $g0" | awk '{ printf "%.1f", $1 - $2 }') s"
		fi
	else
		tap load "not ok - insmod tcpcp2.ko: $(cat /tmp/insmod.log)"
	fi
else
	tap load "ok - tcpcp2.ko # SKIP $(cat /tcpcp/no-module)"
fi
kernel_log_check
if [ "$fail" -ne 0 ]; then
	echo "# kernel log since boot (quiet hid it):"
	dmesg | sed -n "$((boot_lines + 1)),\$p" | indent
fi
say "done at $(uptime_s) s"
echo "TCPCP-VM-RESULT: $pass passed, $fail failed, $skip skipped"
sync
poweroff -f
