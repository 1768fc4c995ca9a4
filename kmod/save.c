// SPDX-License-Identifier: GPL-2.0-only
/*
 * get_si: a socket's state into a tcpcp_conn.  The fields mean what they
 * mean in lib/'s repair backend (an image saved here restores with that
 * backend and the other way round); they are read from the tcp_sock, under
 * the socket lock, so a running socket is read as it is at one instant and
 * no repair mode is needed.  The queues are copied out of their skbs, and a
 * queue that is not one contiguous run of bytes is never saved (EBUSY).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/netdevice.h>
#include <linux/skbuff.h>
#include <net/ipv6.h>
#include <net/tcp.h>

#include "tcpcp2.h"

/* Room left in one connection's TCP-SI for headers and elements. */
#define QUEUES_MAX (TCPCP_IOC_CONN_MAX - (4u << 20))

static void read_ifname(struct sock *sk, struct tcpcp_conn *c)
{
	struct net_device *dev;

	rcu_read_lock();
	dev = dev_get_by_index_rcu(sock_net(sk), c->scope_id);
	if (dev)
		strscpy(c->ifname, dev->name, sizeof(c->ifname));
	rcu_read_unlock();
}

/* As getsockname() and getpeername() would say. */
static void read_addrs(struct sock *sk, struct tcpcp_conn *c)
{
	const struct inet_sock *inet = inet_sk(sk);
	const struct in6_addr *local;
	__be32 local4;

	c->local_port = ntohs(inet->inet_sport);
	c->peer_port = ntohs(inet->inet_dport);
	if (sk->sk_family == AF_INET) {
		local4 = inet->inet_rcv_saddr ? inet->inet_rcv_saddr :
						inet->inet_saddr;
		c->ip_version = 4;
		memcpy(c->local_addr, &local4, 4);
		memcpy(c->peer_addr, &inet->inet_daddr, 4);
		return;
	}
	local = ipv6_addr_any(&sk->sk_v6_rcv_saddr) ? &inet6_sk(sk)->saddr :
						      &sk->sk_v6_rcv_saddr;
	c->ip_version = 6;
	memcpy(c->local_addr, local, 16);
	memcpy(c->peer_addr, &sk->sk_v6_daddr, 16);
	c->scope_id = ipv6_iface_scope_id(local, sk->sk_bound_dev_if);
	if (c->scope_id)
		read_ifname(sk, c);
}

/* What TCP_INFO reports. */
static void read_info(struct sock *sk, struct tcpcp_conn *c)
{
	const struct tcp_sock *tp = tcp_sk(sk);

	c->state = sk->sk_state;
	if (tp->rx_opt.tstamp_ok)
		c->tcp_opts |= TCPI_OPT_TIMESTAMPS;
	if (tp->rx_opt.sack_ok)
		c->tcp_opts |= TCPI_OPT_SACK;
	if (tp->rx_opt.wscale_ok) {
		c->tcp_opts |= TCPI_OPT_WSCALE;
		c->snd_wscale = tp->rx_opt.snd_wscale;
		c->rcv_wscale = tp->rx_opt.rcv_wscale;
	}
	if (tp->ecn_flags & TCP_ECN_OK)
		c->tcp_opts |= TCPI_OPT_ECN;
	c->snd_mss = tp->mss_cache;
	c->rcv_mss = inet_csk(sk)->icsk_ack.rcv_mss;
}

/* Which FINs a state implies, as lib/'s repair backend reads them. */
static u8 fins_of_state(u8 state)
{
	switch (state) {
	case TCP_CLOSE_WAIT:
		return TCPCP_SIE_FIN_RCVD;
	case TCP_FIN_WAIT1:
		return TCPCP_SIE_FIN_QUEUED;
	case TCP_LAST_ACK:
	case TCP_CLOSING:
		return TCPCP_SIE_FIN_RCVD | TCPCP_SIE_FIN_QUEUED;
	}
	return 0;
}

/* The bytes [next, end) of a queue, copied skb by skb. */
struct qcopy {
	u8 *dst;
	u32 next;
	u32 end;
};

static int qcopy_skb(struct qcopy *q, const struct sk_buff *skb, u32 seq)
{
	u32 off, n;

	if (q->next == q->end || !after(seq + skb->len, q->next))
		return 0;
	if (after(seq, q->next))
		return -EBUSY; /* a hole: not one run of bytes */
	off = q->next - seq;
	n = min(skb->len - off, q->end - q->next);
	if (skb_copy_bits(skb, off, q->dst, n))
		return -EBUSY;
	q->dst += n;
	q->next += n;
	return 0;
}

static u8 *qalloc(u32 len)
{
	return kvmalloc(len ? len : 1, GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
}

static int copy_rcvq(struct sock *sk, u32 from, u32 len, u8 **ret)
{
	struct qcopy q = { qalloc(len), from, from + len };
	struct sk_buff *skb;
	int err = 0;

	*ret = q.dst;
	if (!q.dst)
		return -ENOMEM;
	skb_queue_walk(&sk->sk_receive_queue, skb) {
		u32 seq = TCP_SKB_CB(skb)->seq;

		/* a Fast Open SYN carries data after its sequence number */
		if (TCP_SKB_CB(skb)->tcp_flags & TCPHDR_SYN)
			seq++;
		err = qcopy_skb(&q, skb, seq);
		if (err)
			break;
	}
	return err ? err : q.next == q.end ? 0 : -EBUSY;
}

static int copy_sndq(struct sock *sk, u32 from, u32 len, u8 **ret)
{
	struct qcopy q = { qalloc(len), from, from + len };
	struct sk_buff *skb;
	int err = 0;

	*ret = q.dst;
	if (!q.dst)
		return -ENOMEM;
	skb_rbtree_walk(skb, &sk->tcp_rtx_queue) {
		err = qcopy_skb(&q, skb, TCP_SKB_CB(skb)->seq);
		if (err)
			return err;
	}
	skb_queue_walk(&sk->sk_write_queue, skb) {
		err = qcopy_skb(&q, skb, TCP_SKB_CB(skb)->seq);
		if (err)
			return err;
	}
	return q.next == q.end ? 0 : -EBUSY;
}

/*
 * As SIOCINQ counts it (a received FIN is not a byte) and TCP_QUEUE_SEQ
 * reports it: rcv_nxt counts the FIN, the queue is what the program has
 * not read.
 */
static int read_recv_queue(struct sock *sk, struct tcpcp_conn *c, bool copy)
{
	const struct tcp_sock *tp = tcp_sk(sk);
	u32 fin = !!(c->fin_flags & TCPCP_SIE_FIN_RCVD);
	u32 len = tp->rcv_nxt - tp->copied_seq;
	u8 *data;
	int err;

	if (len && sock_flag(sk, SOCK_DONE))
		len--;
	if (len > QUEUES_MAX)
		return -E2BIG;
	if (copy) {
		err = copy_rcvq(sk, tp->copied_seq, len, &data);
		c->rcvq = data;
		if (err)
			return err;
	}
	c->rcv_nxt = tp->rcv_nxt;
	c->rcvq_seq = tp->rcv_nxt - len - fin;
	c->rcvq_len = len;
	return 0;
}

/*
 * As SIOCOUTQ and SIOCOUTQNSD count it: our FIN, unacknowledged, counts
 * in both lengths but has no byte.
 */
static int read_send_queue(struct sock *sk, struct tcpcp_conn *c, bool copy)
{
	const struct tcp_sock *tp = tcp_sk(sk);
	u32 fin = !!(c->fin_flags & TCPCP_SIE_FIN_QUEUED);
	u32 len = tp->write_seq - tp->snd_una;
	u32 unsent = tp->write_seq - tp->snd_nxt;
	u8 *data;
	int err;

	if (len < fin || unsent > len)
		return -EBUSY;
	if (len - fin > QUEUES_MAX - c->rcvq_len)
		return -E2BIG;
	if (copy) {
		err = copy_sndq(sk, tp->snd_una, len - fin, &data);
		c->sndq = data;
		if (err)
			return err;
	}
	c->snd_nxt = tp->snd_nxt;
	c->sndq_seq = tp->snd_una;
	c->sndq_len = len - fin;
	if (fin && !unsent)
		c->fin_flags |= TCPCP_SIE_FIN_SENT;
	c->unsent = unsent > fin ? unsent - fin : 0;
	return 0;
}

/* TCP_REPAIR_WINDOW, the MSS clamp, TCP_TIMESTAMP, the descriptor. */
static void read_misc(struct sock *sk, struct file *file, bool cloexec,
		      struct tcpcp_conn *c)
{
	const struct tcp_sock *tp = tcp_sk(sk);

	c->has_window = true;
	c->window.snd_wl1 = tp->snd_wl1;
	c->window.snd_wnd = tp->snd_wnd;
	c->window.max_window = tp->max_window;
	c->window.rcv_wnd = tp->rcv_wnd;
	c->window.rcv_wup = tp->rcv_wup;
	c->snd_wnd = tp->snd_wnd;
	c->rcv_wnd = tp->rcv_wnd;
	c->mss_clamp = tp->rx_opt.mss_clamp;
	if (tp->rx_opt.tstamp_ok) {
		c->ts_gen = tcp_time_stamp_raw() + tp->tsoffset;
		c->ts_recent = tp->rx_opt.ts_recent;
	}
	c->has_fd_flags = true;
	c->fd_flags = ((file->f_flags & O_NONBLOCK) ? TCPCP_SIE_FD_NONBLOCK : 0) |
		      (cloexec ? TCPCP_SIE_FD_CLOEXEC : 0);
}

static int save_locked(struct sock *sk, struct file *file, bool cloexec,
		       struct tcpcp_conn *c, bool copy)
{
	int err, stage = tcpcp_stage(sk);

	if (stage == TCPCP_FOREIGN)
		return -EBUSY;
	if (stage == TCPCP_UNCONNECTED)
		return -EBADFD;
	read_info(sk, c);
	c->fin_flags = fins_of_state(c->state);
	read_addrs(sk, c);
	err = read_recv_queue(sk, c, copy);
	if (!err)
		err = read_send_queue(sk, c, copy);
	if (err)
		return err;
	read_misc(sk, file, cloexec, c);
	tcpcp_sockopts_save(sk, c);
	return 0;
}

int tcpcp_save(struct sock *sk, struct file *file, bool cloexec,
	       struct tcpcp_conn *c, bool sizes_only)
{
	int err;

	lock_sock(sk);
	err = save_locked(sk, file, cloexec, c, !sizes_only);
	release_sock(sk);
	if (err)
		tcpcp_conn_free_queues(c);
	return err;
}

void tcpcp_conn_free_queues(struct tcpcp_conn *c)
{
	kvfree(c->sndq);
	kvfree(c->rcvq);
	c->sndq = NULL;
	c->rcvq = NULL;
}
