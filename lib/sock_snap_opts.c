// SPDX-License-Identifier: LGPL-2.1-or-later
/* Socket option values out of a socket iterator record (sock_snap.h). */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "sock_snap.h"

#ifndef SO_BUF_LOCK
#define SO_BUF_LOCK 72
#endif

/* CONFIG_HZ, measured when the iterator was loaded (sock_snap.c) */
unsigned int snap_hz = 1;

static int socket_int(const struct snap_rec *r, int name, int *ret)
{
	switch (name) {
	case SO_REUSEADDR:
		*ret = r->reuse;
		break;
	case SO_KEEPALIVE:
		*ret = r->keepalive;
		break;
	case SO_PRIORITY:
		*ret = (int)r->priority;
		break;
	case SO_SNDBUF:
		*ret = (int)r->sndbuf;
		break;
	case SO_RCVBUF:
		*ret = (int)r->rcvbuf;
		break;
	case SO_MARK:
		*ret = (int)r->mark;
		break;
	case SO_BUF_LOCK:
		*ret = r->buf_lock;
		break;
	default:
		return 1;
	}
	return 0;
}

static int tcp_int(const struct snap_rec *r, int name, int *ret)
{
	switch (name) {
	case TCP_NODELAY:
		*ret = r->nodelay;
		break;
	case TCP_CORK:
		*ret = r->cork;
		break;
	case TCP_KEEPCNT:
		*ret = r->keepcnt;
		break;
	case TCP_KEEPIDLE: /* keepalive_time_when(tp) / HZ */
		*ret = (int)(r->keepidle_jiffies / snap_hz);
		break;
	case TCP_KEEPINTVL:
		*ret = (int)(r->keepintvl_jiffies / snap_hz);
		break;
	case TCP_USER_TIMEOUT:
		*ret = (int)r->user_timeout;
		break;
	case TCP_NOTSENT_LOWAT:
		*ret = (int)r->notsent_lowat;
		break;
	case TCP_MAXSEG:
		*ret = (int)r->maxseg;
		break;
	case TCP_TIMESTAMP:
		*ret = (int)r->timestamp;
		break;
	default:
		return 1;
	}
	return 0;
}

static int ip_int(const struct snap_rec *r, int name, int *ret)
{
	if (r->family != AF_INET)
		return 1;
	switch (name) {
	case IP_TTL:
		*ret = r->ttl;
		break;
	case IP_TOS:
		*ret = (int)r->tos;
		break;
	case IP_MTU_DISCOVER:
		*ret = (int)r->pmtudisc;
		break;
	default:
		return 1;
	}
	return 0;
}

static int ip6_int(const struct snap_rec *r, int name, int *ret)
{
	if (r->family != AF_INET6)
		return 1;
	switch (name) {
	case IPV6_UNICAST_HOPS:
		if (r->flags & SNAP_ASK_HOPS)
			return 1;
		*ret = r->ttl;
		break;
	case IPV6_TCLASS:
		*ret = (int)r->tos;
		break;
	case IPV6_MTU_DISCOVER:
		*ret = (int)r->pmtudisc;
		break;
	default:
		return 1;
	}
	return 0;
}

int snap_int(const struct snap_rec *r, int level, int name, int *ret)
{
	if (!r)
		return 1;
	if (level == SOL_SOCKET)
		return socket_int(r, name, ret);
	if (level == IPPROTO_TCP && name == TCP_REPAIR) {
		*ret = r->repair;
		return 0;
	}
	if (!snap_exact(r))
		return 1;
	if (level == IPPROTO_TCP)
		return tcp_int(r, name, ret);
	if (level == IPPROTO_IP)
		return ip_int(r, name, ret);
	if (level == IPPROTO_IPV6)
		return ip6_int(r, name, ret);
	return 1;
}

/* sk_getsockopt(): l_linger is sk_lingertime / HZ, truncated to int */
int snap_linger(const struct snap_rec *r, struct linger *ret)
{
	if (!r)
		return 1;
	ret->l_onoff = r->linger_on;
	ret->l_linger = (int)(r->linger_jiffies / snap_hz);
	return 0;
}
