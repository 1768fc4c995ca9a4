// SPDX-License-Identifier: GPL-2.0-only
/* Stop and start of one socket; see tcpcp2.h for what "stopped" means. */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/netdevice.h>
#include <net/addrconf.h>
#include <net/ipv6.h>
#include <net/tcp.h>

#include "tcpcp2.h"

int tcpcp_stop_sk(struct sock *sk, unsigned int hold_secs)
{
	int err;

	lock_sock(sk);
	switch (tcpcp_stage(sk)) {
	case TCPCP_FOREIGN:
		err = -EBUSY;
		break;
	case TCPCP_UNCONNECTED:
		err = -EBADFD;
		break;
	case TCPCP_STOPPED:
		err = 0;
		break;
	default:
		err = tcpcp_hold_stop(sk, hold_secs);
	}
	release_sock(sk);
	return err;
}

/*
 * A segment that passed the hook just before the entry was made may still
 * be on its way to TCP, or parked in the socket's backlog.  The caller
 * waits for packet processing in flight (tcpcp_wait_in_flight) once for
 * all the sockets it stopped; taking and releasing the socket lock then
 * runs the backlog, so the state read afterwards is final.
 */
void tcpcp_settle(struct sock *sk)
{
	lock_sock(sk);
	release_sock(sk);
}

/*
 * Receive processing runs inside RCU read-side sections, so one grace
 * period covers every segment in flight.  An ordinary one takes a tick or
 * more (some 17 ms per EXEC_ONE stop, measured under QEMU); the expedited
 * one, which interrupts the other CPUs, a few microseconds.  It is paid
 * once per call, and only when a caller asks for a stop.
 */
void tcpcp_wait_in_flight(void)
{
	synchronize_rcu_expedited();
}

/* The manual's ENODEV: a link-local IPv6 connection whose device is gone. */
static int check_device(struct sock *sk)
{
	int dif = READ_ONCE(sk->sk_bound_dev_if);
	bool gone;

	if (sk->sk_family != AF_INET6 || !dif ||
	    !(ipv6_addr_type(&sk->sk_v6_rcv_saddr) & IPV6_ADDR_LINKLOCAL))
		return 0;
	rcu_read_lock();
	gone = !dev_get_by_index_rcu(sock_net(sk), dif);
	rcu_read_unlock();
	return gone ? -ENODEV : 0;
}

/*
 * The window probe makes the peer retransmit at once rather than at its
 * next timeout.  tcp_send_window_probe() is not exported; leaving repair
 * mode sends it, so the socket enters repair mode for that moment, under
 * the same CAP_NET_ADMIN that start itself needs.  Entering clears
 * SO_REUSEADDR: it is put back.
 */
static void window_probe(struct sock *sk)
{
	int reuse = sk->sk_reuse;

	if (tcpcp_repair_set(sk, TCP_REPAIR_ON))
		return;
	tcpcp_repair_set(sk, TCP_REPAIR_OFF);
	lock_sock(sk);
	sk->sk_reuse = reuse;
	release_sock(sk);
}

int tcpcp_start_sk(struct sock *sk, bool probe)
{
	int stage, err;

	lock_sock(sk);
	stage = tcpcp_stage(sk);
	if (stage == TCPCP_STOPPED) {
		err = check_device(sk);
		if (!err && !tcpcp_net_admin(sock_net(sk)))
			err = -EPERM;
		/* lifted before the probe, so that its answer gets in */
		if (!err)
			err = tcpcp_hold_release(sk);
	} else {
		/* a socket that is not stopped has nothing to resume */
		err = stage == TCPCP_FOREIGN ? -EBUSY : 0;
	}
	probe = probe && !err && stage == TCPCP_STOPPED &&
		sk->sk_state == TCP_ESTABLISHED;
	release_sock(sk);
	if (probe)
		window_probe(sk);
	return err;
}
