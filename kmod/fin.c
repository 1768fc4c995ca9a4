// SPDX-License-Identifier: GPL-2.0-only
/*
 * Half-closed states on a rebuilt socket.  It comes out of the repair-mode
 * connect() ESTABLISHED, with its queues; from there:
 *
 *   our FIN:   shutdown(SHUT_WR), as lib/'s repair backend does: in repair mode
 *              with the send queue selected if it was already transmitted
 *              (counted as sent without leaving the host), else with repair
 *              off like the unsent bytes before it (the window is still 0);
 *   our FIN acknowledged (FIN_WAIT2): nothing of it is left to send or to
 *              acknowledge, so the state and the send shutdown are set;
 *   the peer's FIN: TCP_REPAIR has no option for it, and user space has to
 *              inject a segment; here it is queued directly, as tcp_fin()
 *              would: a FIN after the received bytes, rcv_nxt past it, the
 *              receive side shut, and the state moved on.
 *
 * CLOSE_WAIT = peer's FIN; FIN_WAIT1 = our FIN; FIN_WAIT2 = set directly;
 * LAST_ACK = peer's FIN, then ours; CLOSING = ours, then the peer's.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/skbuff.h>
#include <net/inet_connection_sock.h>
#include <net/tcp.h>

#include "tcpcp2.h"

static int our_fin(struct socket *sock, const struct tcpcp_conn *c)
{
	struct sock *sk = sock->sk;
	int err;

	if (c->fin_flags & TCPCP_SIE_FIN_SENT) {
		err = tcpcp_repair_queue(sk, TCP_SEND_QUEUE);
		return err ? err : kernel_sock_shutdown(sock, SHUT_WR);
	}
	err = tcpcp_repair_set(sk, TCP_REPAIR_OFF_NO_WP);
	if (!err)
		err = kernel_sock_shutdown(sock, SHUT_WR);
	if (!err)
		err = tcpcp_repair_set(sk, TCP_REPAIR_ON);
	return err;
}

/*
 * A zero-length FIN skb at rcv_nxt: recvmsg() reads the bytes before it,
 * then end of file, exactly as after a real FIN.
 */
static int queue_peer_fin(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	struct sk_buff *skb;

	skb = alloc_skb(0, sk->sk_allocation);
	if (!skb)
		return -ENOMEM;
	if (!sk_rmem_schedule(sk, skb, skb->truesize)) {
		kfree_skb(skb);
		return -ENOMEM;
	}
	TCP_SKB_CB(skb)->seq = tp->rcv_nxt;
	TCP_SKB_CB(skb)->end_seq = tp->rcv_nxt + 1;
	TCP_SKB_CB(skb)->tcp_flags = TCPHDR_FIN | TCPHDR_ACK;
	__skb_queue_tail(&sk->sk_receive_queue, skb);
	skb_set_owner_r(skb, sk);
	WRITE_ONCE(tp->rcv_nxt, tp->rcv_nxt + 1);
	return 0;
}

static int peer_fin(struct sock *sk)
{
	int err;

	lock_sock(sk);
	err = queue_peer_fin(sk);
	if (!err) {
		WRITE_ONCE(sk->sk_shutdown, sk->sk_shutdown | RCV_SHUTDOWN);
		sock_set_flag(sk, SOCK_DONE);
		if (sk->sk_state == TCP_ESTABLISHED) {
			tcp_set_state(sk, TCP_CLOSE_WAIT);
			inet_csk_enter_pingpong_mode(sk);
		} else if (sk->sk_state == TCP_FIN_WAIT1) {
			tcp_set_state(sk, TCP_CLOSING);
		}
		sk->sk_state_change(sk);
	}
	release_sock(sk);
	return err;
}

static void fin_wait2(struct sock *sk)
{
	lock_sock(sk);
	WRITE_ONCE(sk->sk_shutdown, sk->sk_shutdown | SEND_SHUTDOWN);
	tcp_set_state(sk, TCP_FIN_WAIT2);
	sk->sk_state_change(sk);
	release_sock(sk);
}

static int steps(struct socket *sock, const struct tcpcp_conn *c)
{
	int err;

	switch (c->state) {
	case TCP_CLOSE_WAIT:
		return peer_fin(sock->sk);
	case TCP_FIN_WAIT1:
		return our_fin(sock, c);
	case TCP_FIN_WAIT2:
		fin_wait2(sock->sk);
		return 0;
	case TCP_LAST_ACK:
		err = peer_fin(sock->sk);
		return err ? err : our_fin(sock, c);
	case TCP_CLOSING:
		err = our_fin(sock, c);
		return err ? err : peer_fin(sock->sk);
	}
	return 0;
}

int tcpcp_fin_restore(struct socket *sock, const struct tcpcp_conn *c)
{
	int err;

	if (c->state == TCP_ESTABLISHED)
		return 0;
	err = steps(sock, c);
	if (!err && READ_ONCE(sock->sk->sk_state) != c->state)
		err = -EPROTO;
	return err;
}
