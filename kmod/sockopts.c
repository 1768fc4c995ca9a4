// SPDX-License-Identifier: GPL-2.0-only
/*
 * Socket options a connection carries across a checkpoint: what
 * lib/'s repair backend saves and restores, with the same meaning, so images move
 * between the backends.  Saved from the socket's fields (the values
 * getsockopt() would return), restored through the setsockopt paths, so the
 * kernel checks every value as it would for a program.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/netdevice.h>
#include <linux/socket.h>
#include <net/inet_sock.h>
#include <net/ip.h>
#include <net/ip6_route.h>
#include <net/ipv6.h>
#include <net/tcp.h>

#include "tcpcp2.h"

#define USERLOCKS_MASK (SOCK_SNDBUF_LOCK | SOCK_RCVBUF_LOCK)

static void add_xopt(struct tcpcp_conn *c, int level, int name,
		     const void *val, unsigned int len)
{
	struct tcpcp_xopt *x;

	if (c->nxopts >= TCPCP_XOPT_MAX || len > TCPCP_XOPT_VAL_MAX)
		return;
	x = &c->xopts[c->nxopts++];
	x->level = level;
	x->name = name;
	x->len = len;
	memset(x->val, 0, sizeof(x->val));
	memcpy(x->val, val, len);
}

static void add_int_xopt(struct tcpcp_conn *c, int level, int name, int v)
{
	/* kept only when set, as lib/ does */
	if (v)
		add_xopt(c, level, name, &v, sizeof(v));
}

static void save_xopts(struct sock *sk, struct tcpcp_conn *c)
{
	const struct tcp_congestion_ops *ca = inet_csk(sk)->icsk_ca_ops;
	const struct tcp_sock *tp = tcp_sk(sk);
	struct net_device *dev;
	char name[IFNAMSIZ];

	add_int_xopt(c, SOL_SOCKET, SO_MARK, sk->sk_mark);
	add_int_xopt(c, SOL_TCP, TCP_USER_TIMEOUT,
		     inet_csk(sk)->icsk_user_timeout);
	add_int_xopt(c, SOL_TCP, TCP_NOTSENT_LOWAT, tp->notsent_lowat);
	add_int_xopt(c, SOL_TCP, TCP_CORK, !!(tp->nonagle & TCP_NAGLE_CORK));
	if (c->ip_version == 6 && inet6_sk(sk)->tclass > 0)
		add_int_xopt(c, SOL_IPV6, IPV6_TCLASS, inet6_sk(sk)->tclass);
	name[0] = '\0';
	rcu_read_lock();
	dev = sk->sk_bound_dev_if ?
	      dev_get_by_index_rcu(sock_net(sk), sk->sk_bound_dev_if) : NULL;
	if (dev)
		strscpy(name, dev->name, sizeof(name));
	rcu_read_unlock();
	if (name[0])
		add_xopt(c, SOL_SOCKET, SO_BINDTODEVICE, name, strlen(name));
	add_xopt(c, SOL_TCP, TCP_CONGESTION, ca->name,
		 strnlen(ca->name, TCP_CA_NAME_MAX));
}

static void save_socket_level(struct sock *sk, struct tcpcp_conn *c)
{
	struct tcpcp_linger lg = {
		.on = sock_flag(sk, SOCK_LINGER),
		.time = sk->sk_lingertime,
	};

	/* a stopped socket's own linger is in its hold (tcpcp2.h) */
	tcpcp_hold_owned(sk, &lg);
	if (sk->sk_reuse)
		tcpcp_conn_add_sock_flags(c, TCPCP_SIE_SOCK_REUSEADDR);
	if (lg.on)
		tcpcp_conn_add_sock_flags(c, TCPCP_SIE_SOCK_LINGER);
	c->l_linger = lg.time / HZ;
	if (sock_flag(sk, SOCK_KEEPOPEN))
		tcpcp_conn_add_sock_flags(c, TCPCP_SIE_SOCK_KEEPOPEN);
	c->priority = sk->sk_priority;
	c->sndbuf = sk->sk_sndbuf;
	c->rcvbuf = sk->sk_rcvbuf;
	c->userlocks = sk->sk_userlocks & USERLOCKS_MASK;
}

/*
 * IP_OPTIONS as getsockopt() returns them: the kernel keeps them with the
 * slots for its own addresses already made, and undoes that for the
 * program (ip_options_undo(), not exported, done here with every offset
 * checked).  Options that do not add up are not carried.
 */
/* Where an option's offset (counted from the IP header) falls in d. */
static bool opt_at(unsigned char off, unsigned int len, unsigned int *ret)
{
	if (off < sizeof(struct iphdr) || off - sizeof(struct iphdr) >= len)
		return false;
	*ret = off - sizeof(struct iphdr);
	return true;
}

/* Takes back the 4-byte slot the pointer at d[at + 2] was moved past. */
static bool undo_slot(u8 *d, unsigned int len, unsigned int at)
{
	if (at + 3 > len || d[at + 2] < 8 || at + d[at + 2] - 1 > len)
		return false;
	d[at + 2] -= 4;
	memset(&d[at + d[at + 2] - 1], 0, 4);
	return true;
}

static bool undo_options(const struct ip_options *o, u8 *d)
{
	unsigned int len = o->optlen, at;

	if (o->srr) {
		if (!opt_at(o->srr, len, &at) || at + 7 > len ||
		    d[at + 1] < 7 || at + d[at + 1] > len)
			return false;
		memmove(d + at + 7, d + at + 3, d[at + 1] - 7);
		memcpy(d + at + 3, &o->faddr, 4);
	}
	if (o->rr_needaddr &&
	    (!opt_at(o->rr, len, &at) || !undo_slot(d, len, at)))
		return false;
	if (!o->ts)
		return true;
	if (!opt_at(o->ts, len, &at))
		return false;
	if (o->ts_needtime) {
		if (!undo_slot(d, len, at) || at + 3 >= len)
			return false;
		if ((d[at + 3] & 0xf) == IPOPT_TS_PRESPEC)
			d[at + 2] -= 4;
	}
	return !o->ts_needaddr || undo_slot(d, len, at);
}

static void save_ip_options(struct sock *sk, struct tcpcp_conn *c)
{
	const struct ip_options_rcu *rco;
	u8 d[sizeof(c->ip_opt)];

	rco = rcu_dereference_protected(inet_sk(sk)->inet_opt,
					lockdep_sock_is_held(sk));
	if (!rco || !rco->opt.optlen || rco->opt.optlen > sizeof(d))
		return;
	memcpy(d, rco->opt.__data, rco->opt.optlen);
	if (!undo_options(&rco->opt, d))
		return;
	memcpy(c->ip_opt, d, rco->opt.optlen);
	c->ip_opt_len = rco->opt.optlen;
}

static int hop_limit(struct sock *sk)
{
	struct dst_entry *dst;
	int val = inet6_sk(sk)->hop_limit;

	if (val < 0) {
		rcu_read_lock();
		dst = __sk_dst_get(sk);
		if (dst)
			val = ip6_dst_hoplimit(dst);
		rcu_read_unlock();
	}
	if (val < 0)
		val = sock_net(sk)->ipv6.devconf_all->hop_limit;
	return val;
}

static void save_ip_level(struct sock *sk, struct tcpcp_conn *c)
{
	const struct inet_sock *inet = inet_sk(sk);

	if (c->ip_version == 6) {
		c->ttl = hop_limit(sk);
		c->pmtudisc = inet6_sk(sk)->pmtudisc;
		return;
	}
	c->ttl = inet->uc_ttl == -1 ?
		 READ_ONCE(sock_net(sk)->ipv4.sysctl_ip_default_ttl) :
		 inet->uc_ttl;
	c->pmtudisc = inet->pmtudisc;
	c->tos = inet->tos;
	save_ip_options(sk, c);
}

static void save_tcp_level(struct sock *sk, struct tcpcp_conn *c)
{
	const struct tcp_sock *tp = tcp_sk(sk);

	c->nonagle = !!(tp->nonagle & TCP_NAGLE_OFF);
	c->keepcnt = keepalive_probes(tp);
	c->keepidle = keepalive_time_when(tp) / HZ;
	c->keepintvl = keepalive_intvl_when(tp) / HZ;
}

void tcpcp_sockopts_save(struct sock *sk, struct tcpcp_conn *c)
{
	save_socket_level(sk, c);
	save_ip_level(sk, c);
	save_tcp_level(sk, c);
	save_xopts(sk, c);
}

/*
 * Buffers are forced only where the program locked them (CRIU #912):
 * forcing them otherwise would switch autotuning off for good.
 */
static int restore_buffers(struct socket *sock, const struct tcpcp_conn *c)
{
	int err = 0;

	if (c->userlocks & SOCK_SNDBUF_LOCK)
		err = tcpcp_sock_set_int(sock, SO_SNDBUFFORCE, c->sndbuf / 2);
	if (!err && (c->userlocks & SOCK_RCVBUF_LOCK))
		err = tcpcp_sock_set_int(sock, SO_RCVBUFFORCE, c->rcvbuf / 2);
	if (!err)
		err = tcpcp_sock_set_int(sock, SO_BUF_LOCK,
					 c->userlocks & USERLOCKS_MASK);
	return err;
}

static int restore_socket_level(struct socket *sock,
				const struct tcpcp_conn *c)
{
	struct linger lg = {
		.l_onoff = !!(tcpcp_conn_sock_flags(c) & TCPCP_SIE_SOCK_LINGER),
		.l_linger = min_t(u32, c->l_linger, INT_MAX),
	};
	int err;

	err = sock_setsockopt(sock, SOL_SOCKET, SO_LINGER, KERNEL_SOCKPTR(&lg),
			      sizeof(lg));
	if (!err)
		err = tcpcp_sock_set_int(sock, SO_KEEPALIVE,
					 !!(tcpcp_conn_sock_flags(c) & TCPCP_SIE_SOCK_KEEPOPEN));
	if (!err)
		err = tcpcp_sock_set_int(sock, SO_PRIORITY,
					 min_t(u32, c->priority, INT_MAX));
	if (!err)
		err = restore_buffers(sock, c);
	return err;
}

static int restore_ip_level(struct sock *sk, const struct tcpcp_conn *c)
{
	int err;

	if (c->ip_version == 6) {
		err = tcpcp_tcp_set_int(sk, SOL_IPV6, IPV6_UNICAST_HOPS, c->ttl);
		if (!err)
			err = tcpcp_tcp_set_int(sk, SOL_IPV6, IPV6_MTU_DISCOVER,
						c->pmtudisc);
		return err;
	}
	err = tcpcp_tcp_set_int(sk, SOL_IP, IP_TTL, c->ttl);
	if (!err)
		err = tcpcp_tcp_set_int(sk, SOL_IP, IP_MTU_DISCOVER, c->pmtudisc);
	if (!err)
		err = tcpcp_tcp_set_int(sk, SOL_IP, IP_TOS, c->tos);
	if (!err && c->ip_opt_len)
		err = tcpcp_tcp_set(sk, SOL_IP, IP_OPTIONS, c->ip_opt,
				    c->ip_opt_len);
	return err;
}

static int restore_tcp_level(struct sock *sk, const struct tcpcp_conn *c)
{
	int err = tcpcp_tcp_set_int(sk, SOL_TCP, TCP_NODELAY, c->nonagle);

	if (!err && c->keepcnt)
		err = tcpcp_tcp_set_int(sk, SOL_TCP, TCP_KEEPCNT, c->keepcnt);
	if (!err && c->keepidle)
		err = tcpcp_tcp_set_int(sk, SOL_TCP, TCP_KEEPIDLE, c->keepidle);
	if (!err && c->keepintvl)
		err = tcpcp_tcp_set_int(sk, SOL_TCP, TCP_KEEPINTVL,
					c->keepintvl);
	return err;
}

static int restore_xopts(struct socket *sock, const struct tcpcp_conn *c)
{
	unsigned int i;
	int err;

	for (i = 0; i < c->nxopts; i++) {
		const struct tcpcp_xopt *x = &c->xopts[i];

		if (x->level == SOL_SOCKET)
			err = sock_setsockopt(sock, x->level, x->name,
					      KERNEL_SOCKPTR((void *)x->val),
					      x->len);
		else
			err = tcpcp_tcp_set(sock->sk, x->level, x->name, x->val,
					    x->len);
		/* an algorithm this kernel lacks: its default serves */
		if (err == -ENOENT && x->level == SOL_TCP &&
		    x->name == TCP_CONGESTION)
			err = 0;
		if (err)
			return err;
	}
	return 0;
}

/*
 * IP level first: setting IP_TOS derives SO_PRIORITY from the TOS, which
 * would overwrite the priority the program chose.
 */
int tcpcp_sockopts_restore(struct socket *sock, const struct tcpcp_conn *c)
{
	int err = restore_ip_level(sock->sk, c);

	if (!err)
		err = restore_socket_level(sock, c);
	if (!err)
		err = restore_tcp_level(sock->sk, c);
	if (!err)
		err = restore_xopts(sock, c);
	return err;
}
