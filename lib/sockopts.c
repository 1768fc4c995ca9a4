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
#include "sock_snap.h"

#define USERLOCKS_MASK 3 /* SOCK_SNDBUF_LOCK | SOCK_RCVBUF_LOCK */

static int get_int(int fd, int level, int name, int *ret)
{
	socklen_t len = sizeof(*ret);

	return getsockopt(fd, level, name, ret, &len) ? -errno : 0;
}

static int set_int(const struct rebuild *r, int level, int name, int v)
{
	return rebuild_setopt(r, level, name, &v, sizeof(v), 0);
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

/* sock_diag's value of an option, when it has one; else 1: ask. */
static int diag_int(const struct tcp_diag *d, int level, int name, int *ret)
{
	if (!d)
		return 1;
	if (level == SOL_SOCKET && name == SO_MARK && (d->have & DIAG_HAVE_MARK))
		*ret = (int)d->mark;
	else if (level == IPPROTO_IPV6 && name == IPV6_TCLASS &&
		 (d->have & DIAG_HAVE_TCLASS))
		*ret = d->tclass;
	else if (level == IPPROTO_IP && name == IP_TOS &&
		 (d->have & DIAG_HAVE_TOS))
		*ret = d->tos;
	/* the class id falls back to the priority: 0 means both are 0 */
	else if (level == SOL_SOCKET && name == SO_PRIORITY &&
		 (d->have & DIAG_HAVE_CLASS) && !d->class_id)
		*ret = 0;
	else if (level == SOL_SOCKET && name == SO_SNDBUF &&
		 (d->have & DIAG_HAVE_MEM))
		*ret = (int)d->sndbuf;
	else if (level == SOL_SOCKET && name == SO_RCVBUF &&
		 (d->have & DIAG_HAVE_MEM))
		*ret = (int)d->rcvbuf;
	else
		return 1;
	return 0;
}

/* Where a saved option's value comes from: the socket iterator's record,
 * sock_diag's answer, or the socket itself. */
struct optsrc {
	int fd;
	const struct tcp_diag *d;
	const struct snap_rec *r;
};

static int read_int(const struct optsrc *o, int level, int name, int *ret)
{
	if (!snap_int(o->r, level, name, ret) ||
	    !diag_int(o->d, level, name, ret))
		return 0;
	return get_int(o->fd, level, name, ret);
}

/* A device name is asked for only when the socket has a device. */
static void save_device(const struct optsrc *o, struct tcpcp_conn *c)
{
	char name[TCPCP_XOPT_VAL_MAX + 1];
	socklen_t len = sizeof(name);
	int fd = o->fd;

	if ((o->d && !o->d->bound_if) || (o->r && !o->r->bound_dev_if))
		return;
	if (!getsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, name, &len) && len > 1)
		add_xopt(c, SOL_SOCKET, SO_BINDTODEVICE, name, strnlen(name, len));
}

static int save_congestion(const struct optsrc *o, struct tcpcp_conn *c)
{
	const struct tcp_diag *d = o->d;
	char name[TCPCP_XOPT_VAL_MAX + 1];
	socklen_t len = sizeof(name);

	if (snap_exact(o->r)) {
		add_xopt(c, IPPROTO_TCP, TCP_CONGESTION, o->r->cong,
			 strnlen(o->r->cong, sizeof(o->r->cong)));
		return 0;
	}
	if (d && (d->have & DIAG_HAVE_CONG)) {
		add_xopt(c, IPPROTO_TCP, TCP_CONGESTION, d->cong,
			 strnlen(d->cong, sizeof(d->cong)));
		return 0;
	}
	if (getsockopt(o->fd, IPPROTO_TCP, TCP_CONGESTION, name, &len))
		return -errno;
	add_xopt(c, IPPROTO_TCP, TCP_CONGESTION, name, strnlen(name, len));
	return 0;
}

static int save_xopts(const struct optsrc *o, struct tcpcp_conn *c)
{
	size_t i;
	int v, err;

	for (i = 0; i < sizeof(int_xopts) / sizeof(int_xopts[0]); i++) {
		err = read_int(o, int_xopts[i].level, int_xopts[i].name, &v);
		if (err)
			return err;
		if (v)
			add_xopt(c, int_xopts[i].level, int_xopts[i].name, &v, 4);
	}
	if (c->ip_version == 6 &&
	    !read_int(o, IPPROTO_IPV6, IPV6_TCLASS, &v) && v > 0)
		add_xopt(c, IPPROTO_IPV6, IPV6_TCLASS, &v, 4);
	save_device(o, c);
	return save_congestion(o, c);
}

static int read_linger(const struct optsrc *o, struct linger *lg)
{
	socklen_t len = sizeof(*lg);

	if (!snap_linger(o->r, lg))
		return 0;
	return getsockopt(o->fd, SOL_SOCKET, SO_LINGER, lg, &len) ? -errno : 0;
}

static int save_socket_level(const struct optsrc *o, struct tcpcp_conn *c,
			     bool reuse)
{
	struct linger lg;
	int v = 0, err;

	if (reuse)
		c->sk_flags |= TCPCP_SIE_SOCK_REUSEADDR;
	err = read_linger(o, &lg);
	if (err)
		return err;
	if (lg.l_onoff)
		c->sk_flags |= TCPCP_SIE_SOCK_LINGER;
	c->l_linger = (uint32_t)lg.l_linger;
	err = read_int(o, SOL_SOCKET, SO_KEEPALIVE, &v);
	if (!err && v)
		c->sk_flags |= TCPCP_SIE_SOCK_KEEPOPEN;
	if (!err)
		err = read_int(o, SOL_SOCKET, SO_PRIORITY, (int *)&c->priority);
	if (!err)
		err = read_int(o, SOL_SOCKET, SO_SNDBUF, (int *)&c->sndbuf);
	if (!err)
		err = read_int(o, SOL_SOCKET, SO_RCVBUF, (int *)&c->rcvbuf);
	if (!err)
		err = read_int(o, SOL_SOCKET, SO_BUF_LOCK, &v);
	c->userlocks = (uint8_t)(v & USERLOCKS_MASK);
	return err;
}

/* IP options are asked for only when the socket has some. */
static int read_ip_options(const struct optsrc *o, struct tcpcp_conn *c)
{
	socklen_t len = sizeof(c->ip_opt);

	if (snap_exact(o->r) && !(o->r->flags & SNAP_ASK_IPOPT))
		len = 0;
	else if (getsockopt(o->fd, IPPROTO_IP, IP_OPTIONS, c->ip_opt, &len))
		return -errno;
	c->ip_opt_len = (uint8_t)len;
	return 0;
}

static int save_ip_level(const struct optsrc *o, struct tcpcp_conn *c)
{
	int ttl, pmtu, tos = 0, err;

	if (c->ip_version == 6) {
		err = read_int(o, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &ttl);
		if (!err)
			err = read_int(o, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &pmtu);
	} else {
		err = read_int(o, IPPROTO_IP, IP_TTL, &ttl);
		if (!err)
			err = read_int(o, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu);
		if (!err)
			err = read_int(o, IPPROTO_IP, IP_TOS, &tos);
		if (!err)
			err = read_ip_options(o, c);
	}
	c->ttl = (uint8_t)ttl;
	c->pmtudisc = (uint8_t)pmtu;
	c->tos = (uint8_t)tos;
	return err;
}
static int save_tcp_level(const struct optsrc *o, struct tcpcp_conn *c)
{
	int nodelay, cnt, idle, intvl, err;

	err = read_int(o, IPPROTO_TCP, TCP_NODELAY, &nodelay);
	if (!err)
		err = read_int(o, IPPROTO_TCP, TCP_KEEPCNT, &cnt);
	if (!err)
		err = read_int(o, IPPROTO_TCP, TCP_KEEPIDLE, &idle);
	if (!err)
		err = read_int(o, IPPROTO_TCP, TCP_KEEPINTVL, &intvl);
	c->nonagle = (uint8_t)nodelay;
	c->keepcnt = (uint8_t)cnt;
	c->keepidle = (uint16_t)idle;
	c->keepintvl = (uint16_t)intvl;
	return err;
}

int sockopts_save(int fd, struct tcpcp_conn *c, const struct tcp_diag *d,
		  const struct snap_rec *r, bool reuse)
{
	const struct optsrc o = { fd, d, r };
	int err = save_socket_level(&o, c, reuse);

	if (!err)
		err = save_ip_level(&o, c);
	if (!err)
		err = save_tcp_level(&o, c);
	if (!err)
		err = save_xopts(&o, c);
	return err;
}

/*
 * Restoring onto a socket this call made, an option that already has the
 * recorded value is not written.  What a fresh socket has depends on the
 * namespace's sysctls (keep-alive times, TTL, PMTU discovery) and on
 * whatever a cgroup's BPF program sets at creation, so it is read from the
 * call's first fresh socket of each family rather than assumed.
 */
static struct sockopt_defaults defaults[2]; /* IPv4, IPv6: this call's */

void sockopts_forget_defaults(void)
{
	memset(defaults, 0, sizeof(defaults));
}

static int read_ip_defaults(int fd, int family, struct sockopt_defaults *d)
{
	int err;

	if (family == AF_INET6) {
		err = get_int(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &d->ttl);
		if (!err)
			err = get_int(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER,
				      &d->pmtu);
		return err;
	}
	err = get_int(fd, IPPROTO_IP, IP_TTL, &d->ttl);
	if (!err)
		err = get_int(fd, IPPROTO_IP, IP_MTU_DISCOVER, &d->pmtu);
	if (!err)
		err = get_int(fd, IPPROTO_IP, IP_TOS, &d->tos);
	return err;
}

static int read_defaults(int fd, int family, struct sockopt_defaults *d)
{
	socklen_t len = sizeof(d->lg);
	int err = read_ip_defaults(fd, family, d);

	if (!err && getsockopt(fd, SOL_SOCKET, SO_LINGER, &d->lg, &len))
		err = -errno;
	if (!err)
		err = get_int(fd, SOL_SOCKET, SO_KEEPALIVE, &d->keepalive);
	if (!err)
		err = get_int(fd, SOL_SOCKET, SO_PRIORITY, &d->priority);
	if (!err)
		err = get_int(fd, SOL_SOCKET, SO_BUF_LOCK, &d->buf_lock);
	if (!err)
		err = get_int(fd, SOL_SOCKET, SO_RCVBUF, &d->rcvbuf);
	if (!err)
		err = get_int(fd, IPPROTO_TCP, TCP_NODELAY, &d->nodelay);
	if (!err)
		err = get_int(fd, IPPROTO_TCP, TCP_KEEPCNT, &d->keepcnt);
	if (!err)
		err = get_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, &d->keepidle);
	if (!err)
		err = get_int(fd, IPPROTO_TCP, TCP_KEEPINTVL, &d->keepintvl);
	return err;
}

/* fd must not have been touched yet: what it has is the default. */
const struct sockopt_defaults *sockopts_defaults(int fd, int family)
{
	struct sockopt_defaults *d = &defaults[family == AF_INET6];

	if (!d->valid && !read_defaults(fd, family, d))
		d->valid = true;
	return d->valid ? d : NULL;
}

/* Without defaults (a socket the caller made) every option is written. */
#define CHANGED(def, v, field) (!(def) || (int)(v) != (def)->field)

/* Buffers are forced only where the program locked them (CRIU #912):
 * forcing them otherwise would switch autotuning off for good.  Forcing
 * sets the lock bits, as growing them for the queues did (r->forced):
 * then SO_BUF_LOCK puts back the recorded ones. */
static int restore_buffers(const struct rebuild *r, const struct tcpcp_conn *c)
{
	const struct sockopt_defaults *def = r->def;
	bool relock = r->forced || CHANGED(def, c->userlocks, buf_lock);
	int err = 0;

	if (c->userlocks & 1)
		err = set_int(r, SOL_SOCKET, SO_SNDBUFFORCE, (int)(c->sndbuf / 2));
	if (!err && (c->userlocks & 2))
		err = set_int(r, SOL_SOCKET, SO_RCVBUFFORCE, (int)(c->rcvbuf / 2));
	if (!err && relock)
		err = set_int(r, SOL_SOCKET, SO_BUF_LOCK, c->userlocks);
	return err;
}

/* tos_set: IP_TOS was written, which derives SO_PRIORITY from it. */
static int restore_socket_level(const struct rebuild *r,
				const struct tcpcp_conn *c, bool tos_set)
{
	const struct sockopt_defaults *def = r->def;
	struct linger lg = {
		.l_onoff = !!(c->sk_flags & TCPCP_SIE_SOCK_LINGER),
		.l_linger = (int)c->l_linger,
	};
	int keep = !!(c->sk_flags & TCPCP_SIE_SOCK_KEEPOPEN), err = 0;

	if (!def || lg.l_onoff != def->lg.l_onoff ||
	    lg.l_linger != def->lg.l_linger)
		err = rebuild_setopt(r, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg),
				     0);
	if (!err && CHANGED(def, keep, keepalive))
		err = set_int(r, SOL_SOCKET, SO_KEEPALIVE, keep);
	if (!err && (tos_set || CHANGED(def, c->priority, priority)))
		err = set_int(r, SOL_SOCKET, SO_PRIORITY, (int)c->priority);
	if (!err)
		err = restore_buffers(r, c);
	return err;
}

static int restore_ip6_level(const struct rebuild *r,
			     const struct tcpcp_conn *c)
{
	const struct sockopt_defaults *def = r->def;
	int err = 0;

	if (CHANGED(def, c->ttl, ttl))
		err = set_int(r, IPPROTO_IPV6, IPV6_UNICAST_HOPS, c->ttl);
	if (!err && CHANGED(def, c->pmtudisc, pmtu))
		err = set_int(r, IPPROTO_IPV6, IPV6_MTU_DISCOVER, c->pmtudisc);
	return err;
}

static int restore_ip_level(const struct rebuild *r, const struct tcpcp_conn *c,
			    bool *tos_set)
{
	const struct sockopt_defaults *def = r->def;
	int err = 0;

	*tos_set = false;
	if (c->ip_version == 6)
		return restore_ip6_level(r, c);
	if (CHANGED(def, c->ttl, ttl))
		err = set_int(r, IPPROTO_IP, IP_TTL, c->ttl);
	if (!err && CHANGED(def, c->pmtudisc, pmtu))
		err = set_int(r, IPPROTO_IP, IP_MTU_DISCOVER, c->pmtudisc);
	*tos_set = CHANGED(def, c->tos, tos);
	if (!err && *tos_set)
		err = set_int(r, IPPROTO_IP, IP_TOS, c->tos);
	if (!err && c->ip_opt_len)
		err = rebuild_setopt(r, IPPROTO_IP, IP_OPTIONS, c->ip_opt,
				     c->ip_opt_len, 0);
	return err;
}

/* The keep-alive values always read as something (the sysctl's when the
 * program set none): 0 is "not recorded". */
static int restore_tcp_level(const struct rebuild *r,
			     const struct tcpcp_conn *c)
{
	const struct sockopt_defaults *def = r->def;
	int err = 0;

	if (CHANGED(def, c->nonagle, nodelay))
		err = set_int(r, IPPROTO_TCP, TCP_NODELAY, c->nonagle);
	if (!err && c->keepcnt && CHANGED(def, c->keepcnt, keepcnt))
		err = set_int(r, IPPROTO_TCP, TCP_KEEPCNT, c->keepcnt);
	if (!err && c->keepidle && CHANGED(def, c->keepidle, keepidle))
		err = set_int(r, IPPROTO_TCP, TCP_KEEPIDLE, c->keepidle);
	if (!err && c->keepintvl && CHANGED(def, c->keepintvl, keepintvl))
		err = set_int(r, IPPROTO_TCP, TCP_KEEPINTVL, c->keepintvl);
	return err;
}

static int restore_xopts(const struct rebuild *r, const struct tcpcp_conn *c)
{
	unsigned int i;

	for (i = 0; i < c->nxopts; i++) {
		const struct tcpcp_xopt *x = &c->xopts[i];
		/* an algorithm this kernel lacks: its default serves */
		int ok = x->level == IPPROTO_TCP && x->name == TCP_CONGESTION ?
				 -ENOENT : 0;
		int err = rebuild_setopt(r, x->level, x->name, x->val, x->len,
					 ok);

		if (!err)
			continue;
		if (r->batch)
			return err; /* no answer yet: the batch's own failure */
		detail_set("cannot restore socket option %u/%u: %s", x->level,
			   x->name, strerror(-err));
		return err;
	}
	return 0;
}

/* IP level first: setting IP_TOS derives SO_PRIORITY from the TOS, which
 * would overwrite the priority the program chose.  The extension options
 * are always written: they are recorded only when set, and the congestion
 * algorithm of a route (ip route ... congctl) is applied at connect(), so
 * a fresh socket's is not the rebuilt one's. */
int sockopts_restore(const struct rebuild *r, const struct tcpcp_conn *c)
{
	bool tos_set;
	int err = restore_ip_level(r, c, &tos_set);

	if (!err)
		err = restore_socket_level(r, c, tos_set);
	if (!err)
		err = restore_tcp_level(r, c);
	if (!err)
		err = restore_xopts(r, c);
	return err;
}
