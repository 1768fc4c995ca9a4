// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Socket options a connection carries across a checkpoint: TCPCP2's fixed
 * set (socket, IP, TCP level) plus extension options of modern kernels.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

#include "internal.h"
#include "repair.h"

#define USERLOCKS_MASK 3 /* SOCK_SNDBUF_LOCK | SOCK_RCVBUF_LOCK */

static int get_int(int fd, int level, int name, int *ret)
{
	socklen_t len = sizeof(*ret);

	return getsockopt(fd, level, name, ret, &len) ? -errno : 0;
}

static int set_int(int fd, int level, int name, int v)
{
	return setsockopt(fd, level, name, &v, sizeof(v)) ? -errno : 0;
}

static void add_xopt(struct tcpcp_conn *c, int level, int name,
		     const void *val, unsigned int len)
{
	struct tcpcp_xopt *x;

	if (c->nxopts >= TCPCP_XOPT_MAX || len > TCPCP_XOPT_VAL_MAX)
		return;
	x = &c->xopts[c->nxopts++];
	x->level = (uint16_t)level;
	x->name = (uint16_t)name;
	x->len = (uint8_t)len;
	memset(x->val, 0, sizeof(x->val));
	memcpy(x->val, val, len);
}

/* Integer extension options, kept only when they differ from "unset". */
static const struct {
	int level, name;
} int_xopts[] = {
	{ SOL_SOCKET, SO_MARK },
	{ IPPROTO_TCP, TCP_USER_TIMEOUT },
	{ IPPROTO_TCP, TCP_NOTSENT_LOWAT },
	{ IPPROTO_TCP, TCP_CORK },
};

static int save_xopts(int fd, struct tcpcp_conn *c)
{
	char name[TCPCP_XOPT_VAL_MAX + 1];
	socklen_t len;
	size_t i;
	int v, err;

	for (i = 0; i < sizeof(int_xopts) / sizeof(int_xopts[0]); i++) {
		err = get_int(fd, int_xopts[i].level, int_xopts[i].name, &v);
		if (err)
			return err;
		if (v)
			add_xopt(c, int_xopts[i].level, int_xopts[i].name, &v, 4);
	}
	if (c->ip_version == 6 && !get_int(fd, IPPROTO_IPV6, IPV6_TCLASS, &v) &&
	    v > 0)
		add_xopt(c, IPPROTO_IPV6, IPV6_TCLASS, &v, 4);
	len = sizeof(name);
	if (!getsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, name, &len) && len > 1)
		add_xopt(c, SOL_SOCKET, SO_BINDTODEVICE, name, strnlen(name, len));
	len = sizeof(name);
	if (getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, name, &len))
		return -errno;
	add_xopt(c, IPPROTO_TCP, TCP_CONGESTION, name, strnlen(name, len));
	return 0;
}

static int save_socket_level(int fd, struct tcpcp_conn *c)
{
	struct linger lg;
	socklen_t len = sizeof(lg);
	uint32_t flags = 0;
	int v, err;

	/* repair mode masks SO_REUSEADDR; the stop block remembered it */
	if (block_read(fd, &flags) == BLOCK_OURS && (flags & BLOCK_REUSEADDR))
		c->sk_flags |= TCPCP_SIE_SOCK_REUSEADDR;
	if (getsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, &len))
		return -errno;
	if (lg.l_onoff)
		c->sk_flags |= TCPCP_SIE_SOCK_LINGER;
	c->l_linger = (uint32_t)lg.l_linger;
	err = get_int(fd, SOL_SOCKET, SO_KEEPALIVE, &v);
	if (!err && v)
		c->sk_flags |= TCPCP_SIE_SOCK_KEEPOPEN;
	if (!err)
		err = get_int(fd, SOL_SOCKET, SO_PRIORITY, (int *)&c->priority);
	if (!err)
		err = get_int(fd, SOL_SOCKET, SO_SNDBUF, (int *)&c->sndbuf);
	if (!err)
		err = get_int(fd, SOL_SOCKET, SO_RCVBUF, (int *)&c->rcvbuf);
	if (!err)
		err = get_int(fd, SOL_SOCKET, SO_BUF_LOCK, &v);
	c->userlocks = (uint8_t)(v & USERLOCKS_MASK);
	return err;
}

static int save_ip_level(int fd, struct tcpcp_conn *c)
{
	socklen_t len = sizeof(c->ip_opt);
	int ttl, pmtu, tos = 0, err;

	if (c->ip_version == 6) {
		err = get_int(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &ttl);
		if (!err)
			err = get_int(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &pmtu);
	} else {
		err = get_int(fd, IPPROTO_IP, IP_TTL, &ttl);
		if (!err)
			err = get_int(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu);
		if (!err)
			err = get_int(fd, IPPROTO_IP, IP_TOS, &tos);
		if (!err && getsockopt(fd, IPPROTO_IP, IP_OPTIONS, c->ip_opt, &len))
			err = -errno;
		c->ip_opt_len = (uint8_t)len;
	}
	c->ttl = (uint8_t)ttl;
	c->pmtudisc = (uint8_t)pmtu;
	c->tos = (uint8_t)tos;
	return err;
}

static int save_tcp_level(int fd, struct tcpcp_conn *c)
{
	int nodelay, cnt, idle, intvl, err;

	err = get_int(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay);
	if (!err)
		err = get_int(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt);
	if (!err)
		err = get_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle);
	if (!err)
		err = get_int(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl);
	c->nonagle = (uint8_t)nodelay;
	c->keepcnt = (uint8_t)cnt;
	c->keepidle = (uint16_t)idle;
	c->keepintvl = (uint16_t)intvl;
	return err;
}

int sockopts_save(int fd, struct tcpcp_conn *c)
{
	int err = save_socket_level(fd, c);

	if (!err)
		err = save_ip_level(fd, c);
	if (!err)
		err = save_tcp_level(fd, c);
	if (!err)
		err = save_xopts(fd, c);
	return err;
}

/* Buffers are forced only where the program locked them (CRIU #912):
 * forcing them otherwise would switch autotuning off for good. */
static int restore_buffers(int fd, const struct tcpcp_conn *c)
{
	int err = 0;

	if (c->userlocks & 1)
		err = set_int(fd, SOL_SOCKET, SO_SNDBUFFORCE, (int)(c->sndbuf / 2));
	if (!err && (c->userlocks & 2))
		err = set_int(fd, SOL_SOCKET, SO_RCVBUFFORCE, (int)(c->rcvbuf / 2));
	if (!err)
		err = set_int(fd, SOL_SOCKET, SO_BUF_LOCK, c->userlocks);
	return err;
}

static int restore_socket_level(int fd, const struct tcpcp_conn *c)
{
	struct linger lg = {
		.l_onoff = !!(c->sk_flags & TCPCP_SIE_SOCK_LINGER),
		.l_linger = (int)c->l_linger,
	};
	int err;

	if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)))
		return -errno;
	err = set_int(fd, SOL_SOCKET, SO_KEEPALIVE,
		      !!(c->sk_flags & TCPCP_SIE_SOCK_KEEPOPEN));
	if (!err)
		err = set_int(fd, SOL_SOCKET, SO_PRIORITY, (int)c->priority);
	if (!err)
		err = restore_buffers(fd, c);
	return err;
}

static int restore_ip_level(int fd, const struct tcpcp_conn *c)
{
	int err;

	if (c->ip_version == 6) {
		err = set_int(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, c->ttl);
		if (!err)
			err = set_int(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER,
				      c->pmtudisc);
		return err;
	}
	err = set_int(fd, IPPROTO_IP, IP_TTL, c->ttl);
	if (!err)
		err = set_int(fd, IPPROTO_IP, IP_MTU_DISCOVER, c->pmtudisc);
	if (!err)
		err = set_int(fd, IPPROTO_IP, IP_TOS, c->tos);
	if (!err && c->ip_opt_len &&
	    setsockopt(fd, IPPROTO_IP, IP_OPTIONS, c->ip_opt, c->ip_opt_len))
		err = -errno;
	return err;
}

static int restore_tcp_level(int fd, const struct tcpcp_conn *c)
{
	int err = set_int(fd, IPPROTO_TCP, TCP_NODELAY, c->nonagle);

	if (!err && c->keepcnt)
		err = set_int(fd, IPPROTO_TCP, TCP_KEEPCNT, c->keepcnt);
	if (!err && c->keepidle)
		err = set_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, c->keepidle);
	if (!err && c->keepintvl)
		err = set_int(fd, IPPROTO_TCP, TCP_KEEPINTVL, c->keepintvl);
	return err;
}

static int restore_xopts(int fd, const struct tcpcp_conn *c)
{
	unsigned int i;

	for (i = 0; i < c->nxopts; i++) {
		const struct tcpcp_xopt *x = &c->xopts[i];
		int err;

		if (!setsockopt(fd, x->level, x->name, x->val, x->len))
			continue;
		/* an algorithm this kernel lacks: its default serves */
		if (x->level == IPPROTO_TCP && x->name == TCP_CONGESTION &&
		    errno == ENOENT)
			continue;
		err = -errno;
		detail_set("cannot restore socket option %u/%u: %s", x->level,
			   x->name, strerror(-err));
		return err;
	}
	return 0;
}

/* IP level first: setting IP_TOS derives SO_PRIORITY from the TOS, which
 * would overwrite the priority the program chose. */
int sockopts_restore(int fd, const struct tcpcp_conn *c)
{
	int err = restore_ip_level(fd, c);

	if (!err)
		err = restore_socket_level(fd, c);
	if (!err)
		err = restore_tcp_level(fd, c);
	if (!err)
		err = restore_xopts(fd, c);
	return err;
}
