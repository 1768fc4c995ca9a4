// SPDX-License-Identifier: GPL-2.0-only
/*
 * set_si: a decoded connection onto an unconnected socket, through the
 * kernel's TCP_REPAIR machinery, in the order of lib/'s repair backend (each step
 * depends on the one before):
 *
 *   hold claimed (the block is in place before the tuple exists), repair
 *   on, bind(local), TCP_QUEUE_SEQ of both queues, connect(peer) (no SYN in
 *   repair mode), TCP_REPAIR_OPTIONS, TCP_TIMESTAMP, receive-queue bytes,
 *   sent-but-unacknowledged bytes, unsent bytes (repair off around them:
 *   the send window is still 0), half-closed state (fin.c),
 *   TCP_REPAIR_WINDOW (EINVAL before the queues), options; then repair off
 *   with the socket stopped as tcpcp2.h describes.
 *
 * The caller has CAP_NET_ADMIN in the socket's namespace; the kernel checks
 * it again on every TCP_REPAIR option.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/ctype.h>
#include <linux/netdevice.h>
#include <linux/uio.h>
#include <net/ipv6.h>
#include <net/tcp.h>

#include "tcpcp2.h"

/*
 * In repair mode every send becomes one skb; big ones fail with ENOMEM, so
 * chunks start here and halve down to the floor on failure.
 */
#define CHUNK_START (256u * 1024)
#define CHUNK_FLOOR 1024u
#define MAXSEG_LIMIT 32767
/* The largest window TCP can express: 16 bits, scaled by at most 14. */
#define WINDOW_MAX (65535ULL << TCP_MAX_WSCALE)

static u32 mss_of(const struct tcpcp_conn *c)
{
	return c->mss_clamp ? c->mss_clamp : c->snd_mss;
}

static bool name_sane(const struct tcpcp_xopt *x)
{
	unsigned int i;

	if (x->level != SOL_TCP || x->name != TCP_CONGESTION)
		return true; /* the kernel checks device names itself */
	/* it may become a module name to load: letters, digits, '_', '-' */
	for (i = 0; i < x->len; i++)
		if (!isalnum(x->val[i]) && x->val[i] != '_' && x->val[i] != '-')
			return false;
	return x->len > 0;
}

/*
 * What the codec cannot know: values a real connection cannot have.  The
 * kernel would accept some of them from TCP_REPAIR; the module refuses
 * them before they get there.
 */
int tcpcp_conn_sane(const struct tcpcp_conn *c)
{
	bool wscale = c->tcp_opts & TCPI_OPT_WSCALE;
	u64 snd_max = 65535ULL << (wscale ? c->snd_wscale : 0);
	const struct in6_addr *l6 = (const void *)c->local_addr;
	const struct in6_addr *p6 = (const void *)c->peer_addr;
	unsigned int i;

	if (!c->local_port || !c->peer_port || !mss_of(c))
		return -EINVAL;
	if (c->ip_version == 6 &&
	    ipv6_addr_v4mapped(l6) != ipv6_addr_v4mapped(p6))
		return -EINVAL;
	/* our FIN acknowledged: every byte before it was too */
	if (c->state == TCP_FIN_WAIT2 && c->sndq_len)
		return -EINVAL;
	if (c->has_window &&
	    (c->window.snd_wnd > snd_max || c->window.max_window > snd_max ||
	     c->window.rcv_wnd > WINDOW_MAX))
		return -EINVAL;
	for (i = 0; i < c->nxopts; i++)
		if (!name_sane(&c->xopts[i]))
			return -EINVAL;
	return 0;
}

static int make_addr(struct net *net, const struct tcpcp_conn *c, bool local,
		     struct sockaddr_in6 *sa)
{
	const u8 *addr = local ? c->local_addr : c->peer_addr;
	u16 port = local ? c->local_port : c->peer_port;
	struct net_device *dev;

	memset(sa, 0, sizeof(*sa));
	if (c->ip_version == 4) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)sa;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		memcpy(&s4->sin_addr, addr, 4);
		return sizeof(*s4);
	}
	sa->sin6_family = AF_INET6;
	sa->sin6_port = htons(port);
	memcpy(&sa->sin6_addr, addr, 16);
	sa->sin6_scope_id = c->scope_id;
	/* interface numbers are per host: the recorded name wins */
	if (c->ifname[0]) {
		rcu_read_lock();
		dev = dev_get_by_name_rcu(net, c->ifname);
		if (dev)
			sa->sin6_scope_id = dev->ifindex;
		rcu_read_unlock();
	}
	return sizeof(*sa);
}

static int set_queue_seqs(struct sock *sk, const struct tcpcp_conn *c)
{
	int err = tcpcp_repair_queue(sk, TCP_SEND_QUEUE);

	if (!err)
		err = tcpcp_tcp_set_int(sk, SOL_TCP, TCP_QUEUE_SEQ, c->sndq_seq);
	if (!err)
		err = tcpcp_repair_queue(sk, TCP_RECV_QUEUE);
	if (!err)
		err = tcpcp_tcp_set_int(sk, SOL_TCP, TCP_QUEUE_SEQ, c->rcvq_seq);
	return err;
}

/*
 * The segment size is computed once, at connect(), from the MSS clamp of
 * that moment; TCP_REPAIR_OPTIONS raises the clamp later but nothing
 * recomputes it.  A user MSS for the connect gives the size the connection
 * had, and is cleared after (lib/'s repair backend says more).
 */
static void mss_for_connect(struct sock *sk, const struct tcpcp_conn *c)
{
	int mss = min_t(u32, c->snd_mss ? c->snd_mss : c->mss_clamp,
			MAXSEG_LIMIT);

	if (mss >= TCP_MIN_MSS)
		tcpcp_tcp_set_int(sk, SOL_TCP, TCP_MAXSEG, mss);
}

static int connect_repaired(struct socket *sock, const struct tcpcp_conn *c)
{
	struct net *net = sock_net(sock->sk);
	struct tcpcp_tuple want, got;
	struct sockaddr_in6 sa;
	int len, err;

	mss_for_connect(sock->sk, c);
	len = make_addr(net, c, true, &sa);
	err = kernel_bind(sock, (struct sockaddr *)&sa, len);
	if (!err)
		err = set_queue_seqs(sock->sk, c);
	if (err)
		return err;
	len = make_addr(net, c, false, &sa);
	err = kernel_connect(sock, (struct sockaddr *)&sa, len, O_NONBLOCK);
	if (err)
		return err;
	tcpcp_tcp_set_int(sock->sk, SOL_TCP, TCP_MAXSEG, 0);
	/* the block claimed must be the connection's own */
	tcpcp_tuple_of_conn(c, &want);
	tcpcp_tuple_of_sk(sock->sk, &got);
	return memcmp(&want, &got, sizeof(want)) ? -EINVAL : 0;
}

static int set_tcp_options(struct sock *sk, const struct tcpcp_conn *c)
{
	struct tcp_repair_opt opts[4];
	unsigned int n = 0;
	int err;

	opts[n++] = (struct tcp_repair_opt){ TCPOPT_MSS, mss_of(c) };
	if (c->tcp_opts & TCPI_OPT_WSCALE)
		opts[n++] = (struct tcp_repair_opt){
			TCPOPT_WINDOW, c->snd_wscale | (u32)c->rcv_wscale << 16
		};
	if (c->tcp_opts & TCPI_OPT_SACK)
		opts[n++] = (struct tcp_repair_opt){ TCPOPT_SACK_PERM, 0 };
	if (c->tcp_opts & TCPI_OPT_TIMESTAMPS)
		opts[n++] = (struct tcp_repair_opt){ TCPOPT_TIMESTAMP, 0 };
	err = tcpcp_tcp_set(sk, SOL_TCP, TCP_REPAIR_OPTIONS, opts,
			    n * sizeof(opts[0]));
	if (!err && (c->tcp_opts & TCPI_OPT_TIMESTAMPS))
		err = tcpcp_tcp_set_int(sk, SOL_TCP, TCP_TIMESTAMP, c->ts_gen);
	return err;
}

static int send_all(struct socket *sock, const u8 *p, u32 len)
{
	u32 chunk = CHUNK_START;

	while (len) {
		struct msghdr msg = { .msg_flags = MSG_DONTWAIT | MSG_NOSIGNAL };
		struct kvec v = { (void *)p, min(len, chunk) };
		int n = kernel_sendmsg(sock, &msg, &v, 1, v.iov_len);

		if (n == -ENOMEM && chunk > CHUNK_FLOOR) {
			chunk /= 2;
			continue;
		}
		if (n <= 0)
			return n < 0 ? n : -EIO;
		p += n;
		len -= n;
		cond_resched();
	}
	return 0;
}

/*
 * Queues bigger than the buffers would not fit: room is made now; the
 * final sizes and locks are set with the other options afterwards.
 */
static int make_room(struct socket *sock, const struct tcpcp_conn *c)
{
	struct sock *sk = sock->sk;
	int err = 0;

	if (c->sndq_len &&
	    (u64)READ_ONCE(sk->sk_sndbuf) < 2ULL * c->sndq_len + 65536)
		err = tcpcp_sock_set_int(sock, SO_SNDBUFFORCE,
					 c->sndq_len + 65536);
	if (!err && c->rcvq_len &&
	    (u64)READ_ONCE(sk->sk_rcvbuf) < 2ULL * c->rcvq_len + 65536)
		err = tcpcp_sock_set_int(sock, SO_RCVBUFFORCE,
					 c->rcvq_len + 65536);
	return err;
}

static int fill_queues(struct socket *sock, const struct tcpcp_conn *c,
		       const u8 *snd, const u8 *rcv)
{
	u32 sent = c->sndq_len - c->unsent;
	struct sock *sk = sock->sk;
	int err;

	err = tcpcp_repair_queue(sk, TCP_RECV_QUEUE);
	if (!err)
		err = send_all(sock, rcv, c->rcvq_len);
	if (!err)
		err = tcpcp_repair_queue(sk, TCP_SEND_QUEUE);
	if (!err)
		err = send_all(sock, snd, sent);
	if (err || !c->unsent)
		return err;
	/* unsent bytes go the ordinary way; the window is 0, nothing leaves */
	err = tcpcp_repair_set(sk, TCP_REPAIR_OFF_NO_WP);
	if (!err)
		err = send_all(sock, snd + sent, c->unsent);
	if (!err)
		err = tcpcp_repair_set(sk, TCP_REPAIR_ON);
	return err;
}

static int restore_queues(struct socket *sock, const struct tcpcp_conn *c)
{
	gfp_t gfp = GFP_KERNEL_ACCOUNT | __GFP_NOWARN;
	u8 *snd = kvmalloc(c->sndq_len ? c->sndq_len : 1, gfp);
	u8 *rcv = kvmalloc(c->rcvq_len ? c->rcvq_len : 1, gfp);
	int err = -ENOMEM;

	if (snd && rcv) {
		si_queue_gather(c, TCPCP_SIE_BUF_SND, snd);
		si_queue_gather(c, TCPCP_SIE_BUF_RCV, rcv);
		err = make_room(sock, c);
		if (!err)
			err = fill_queues(sock, c, snd, rcv);
	}
	kvfree(snd);
	kvfree(rcv);
	return err;
}

static int set_window(struct sock *sk, const struct tcpcp_conn *c)
{
	struct tcp_repair_window w = {
		.snd_wl1 = c->window.snd_wl1,
		.snd_wnd = c->window.snd_wnd,
		.max_window = c->window.max_window,
		.rcv_wnd = c->window.rcv_wnd,
		.rcv_wup = c->window.rcv_wup,
	};

	if (!c->has_window)
		return 0;
	return tcpcp_tcp_set(sk, SOL_TCP, TCP_REPAIR_WINDOW, &w, sizeof(w));
}

static int build(struct socket *sock, const struct tcpcp_conn *c)
{
	int err = set_tcp_options(sock->sk, c);

	if (!err)
		err = restore_queues(sock, c);
	if (!err)
		err = tcpcp_fin_restore(sock, c);
	if (!err)
		err = set_window(sock->sk, c);
	if (!err)
		err = tcpcp_sockopts_restore(sock, c);
	if (!err)
		err = tcpcp_repair_queue(sock->sk, TCP_NO_QUEUE);
	return err;
}

/*
 * Repair mode off, the socket stopped and its SO_REUSEADDR back (leaving
 * repair mode clears it).
 */
static int leave_stopped(struct socket *sock, const struct tcpcp_conn *c,
			 unsigned int hold_secs)
{
	struct sock *sk = sock->sk;
	int err = tcpcp_repair_set(sk, TCP_REPAIR_OFF_NO_WP);

	if (err)
		return err;
	lock_sock(sk);
	sk->sk_reuse = (tcpcp_conn_sock_flags(c) & TCPCP_SIE_SOCK_REUSEADDR) ?
		       SK_CAN_REUSE : SK_NO_REUSE;
	err = tcpcp_hold_stop(sk, hold_secs);
	release_sock(sk);
	return err;
}

/* Undo: in repair mode a disconnect sends nothing. */
static void unwind(struct socket *sock, bool connected)
{
	struct sockaddr sa = { .sa_family = AF_UNSPEC };

	tcpcp_repair_set(sock->sk, TCP_REPAIR_ON);
	if (connected)
		kernel_connect(sock, &sa, sizeof(sa), O_NONBLOCK);
	tcpcp_repair_set(sock->sk, TCP_REPAIR_OFF_NO_WP);
}

int tcpcp_restore(struct socket *sock, const struct tcpcp_conn *c,
		  unsigned int hold_secs)
{
	struct net *net = sock_net(sock->sk);
	bool created, connected = false;
	struct tcpcp_tuple t;
	int err;

	err = tcpcp_conn_sane(c);
	if (err)
		return err;
	tcpcp_tuple_of_conn(c, &t);
	err = tcpcp_hold_claim(net, &t, &created);
	if (err)
		return err;
	err = tcpcp_repair_set(sock->sk, TCP_REPAIR_ON);
	if (err)
		goto err_hold;
	err = connect_repaired(sock, c);
	connected = sock->sk->sk_state != TCP_CLOSE;
	if (!err)
		err = build(sock, c);
	if (!err)
		err = leave_stopped(sock, c, hold_secs);
	if (!err)
		return 0;
	unwind(sock, connected);
err_hold:
	if (created)
		tcpcp_hold_unclaim(net, &t);
	return err;
}
