// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The calling process's TCP sockets, for TCPCP_EXEC_ALL.  A socket that
 * was dup'ed appears once per descriptor; "first" marks one descriptor per
 * socket so that each socket is processed once.  Where the call asks, the
 * connected ones are described by sock_diag on the way (tcp_diag.c): that
 * answers what a dozen calls per socket would.  Where the BPF socket
 * iterator works (sock_snap.h), one pass of it replaces the walk and
 * describes every socket.  And struct sock_ref, what one call knows of
 * one socket.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <string.h>

#include "backend.h"
#include "internal.h"
#include "sock_snap.h"

/*
 * Only a TCP socket answers TCP_INFO, and some that pass it on: MPTCP
 * (from its first subflow) and SMC (from its TCP socket), which
 * SO_PROTOCOL tells apart.  A raw socket of IPPROTO_TCP does not answer.
 * The state comes with it.
 */
static bool asks_tcp(int fd, int *ret_state)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	int proto;

	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len))
		return false;
	len = sizeof(proto);
	if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) ||
	    proto != IPPROTO_TCP)
		return false;
	*ret_state = ti.tcpi_state;
	return true;
}

/* The walk over the descriptors; with sock_diag, the connected internet
 * sockets are gathered as its questions. */
struct walk {
	struct tcp_fd_list *l;
	unsigned int cap;
	bool describe;
	struct tcp_diag_query *q;
	int *qfd;
	unsigned int nq, qcap;
};

static int list_add(struct walk *w, int fd, ino_t ino, int state,
		    const struct tcp_diag *d)
{
	struct tcp_fd_list *l = w->l;

	if (l->n == w->cap) {
		unsigned int ncap = w->cap ? w->cap * 2 : 64;
		struct tcp_fd *n = realloc(l->fds, ncap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		l->fds = n;
		w->cap = ncap;
	}
	l->fds[l->n++] = (struct tcp_fd){
		.fd = fd, .ino = ino, .state = state, .diag = d
	};
	return 0;
}

static int query_add(struct walk *w, int fd, const struct tcp_diag_query *q)
{
	if (w->nq == w->qcap) {
		unsigned int ncap = w->qcap ? w->qcap * 2 : 64;
		struct tcp_diag_query *nq = realloc(w->q, ncap * sizeof(*nq));
		int *nfd = nq ? realloc(w->qfd, ncap * sizeof(*nfd)) : NULL;

		if (nq)
			w->q = nq;
		if (!nfd)
			return -ENOMEM;
		w->qfd = nfd;
		w->qcap = ncap;
	}
	w->q[w->nq] = *q;
	w->qfd[w->nq++] = fd;
	return 0;
}

/* Only an internet socket can be TCP; a connected one is asked about
 * later, with the others: its addresses are the question (and the save
 * needs them anyway). */
static int consider_inet(struct walk *w, int fd, const struct stat *st)
{
	struct tcp_diag_query q = { .ino = (uint32_t)st->st_ino };
	socklen_t ll = sizeof(q.local), pl = sizeof(q.peer);
	int state;

	if (getsockname(fd, (struct sockaddr *)&q.local, &ll) ||
	    (q.local.sin6_family != AF_INET && q.local.sin6_family != AF_INET6))
		return 0;
	if (st->st_ino <= UINT32_MAX &&
	    !getpeername(fd, (struct sockaddr *)&q.peer, &pl))
		return query_add(w, fd, &q);
	return asks_tcp(fd, &state) ? list_add(w, fd, st->st_ino, state, NULL) :
				      0;
}

static int consider(struct walk *w, int fd)
{
	struct stat st;
	int state;

	if (fstat(fd, &st) || !S_ISSOCK(st.st_mode))
		return 0;
	if (w->describe)
		return consider_inet(w, fd, &st);
	return asks_tcp(fd, &state) ? list_add(w, fd, st.st_ino, state, NULL) :
				      0;
}

/* Unanswered: not TCP, or TCP out of sock_diag's reach (another network
 * namespace, bound to a device): such a socket is asked itself. */
static int answer(struct walk *w)
{
	struct tcp_fd_list *l = w->l;
	unsigned int i;
	int err = 0;

	if (!w->nq)
		return 0;
	l->diag = malloc(w->nq * sizeof(*l->diag));
	if (!l->diag)
		return -ENOMEM;
	tcp_diag_lookup(w->q, w->nq, l->diag); /* unanswered on failure */
	for (i = 0; !err && i < w->nq; i++) {
		const struct tcp_diag *d = &l->diag[i];
		int state = d->state;

		if (d->ino || asks_tcp(w->qfd[i], &state))
			err = list_add(w, w->qfd[i], w->q[i].ino, state,
				       d->ino ? d : NULL);
	}
	return err;
}

/* Without /proc, every possible descriptor number is tried. */
static int scan_numbers(struct walk *w)
{
	struct rlimit rl;
	rlim_t fd, max = 65536;
	int err;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < max)
		max = rl.rlim_cur;
	for (fd = 0; fd < max; fd++) {
		err = consider(w, (int)fd);
		if (err)
			return err;
	}
	return 0;
}

static int scan_proc(DIR *d, struct walk *w)
{
	struct dirent *de;
	int err;

	while ((de = readdir(d))) {
		char *end;
		long fd = strtol(de->d_name, &end, 10);

		if (*end || end == de->d_name || fd == dirfd(d))
			continue;
		err = consider(w, (int)fd);
		if (err)
			return err;
	}
	return 0;
}

static int by_ino_then_fd(const void *a, const void *b)
{
	const struct tcp_fd *x = a, *y = b;

	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return (x->fd > y->fd) - (x->fd < y->fd);
}

static int by_fd(const void *a, const void *b)
{
	const struct tcp_fd *x = a, *y = b;

	return (x->fd > y->fd) - (x->fd < y->fd);
}

static void mark_first(struct tcp_fd_list *l)
{
	unsigned int i;

	qsort(l->fds, l->n, sizeof(*l->fds), by_ino_then_fd);
	for (i = 0; i < l->n; i++)
		l->fds[i].first = i == 0 || l->fds[i - 1].ino != l->fds[i].ino;
	qsort(l->fds, l->n, sizeof(*l->fds), by_fd);
}

static int by_rec_fd(const void *a, const void *b)
{
	const struct snap_rec *x = a, *y = b;

	return (x->fd > y->fd) - (x->fd < y->fd);
}

/* The iterator's records as the walk's list.  A descriptor table shared
 * by threads other than the leader is visited once per thread: each
 * descriptor is kept once.  Loading the iterator (some 60 ms) pays for
 * itself in a save, which it spares thirty calls a socket; the other
 * walks, which it spares three, use it once it is there. */
static int snap_list(struct tcp_fd_list *l, bool describe)
{
	struct walk w = { .l = l };
	unsigned int i, n;
	int err;

	if (!describe && !snap_loaded())
		return -ENOSYS;
	err = snap_take(&l->snap, &n);
	if (err)
		return err;
	qsort(l->snap, n, sizeof(*l->snap), by_rec_fd);
	for (i = 0; !err && i < n; i++) {
		const struct snap_rec *r = &l->snap[i];

		if (i && r->fd == r[-1].fd)
			continue;
		err = list_add(&w, (int)r->fd, (ino_t)r->ino, r->state, NULL);
		if (!err)
			l->fds[l->n - 1].snap = r;
	}
	return err;
}

int tcp_fds_list(struct tcp_fd_list *ret, bool describe)
{
	struct tcp_fd_list l = { 0 };
	struct walk w = { .l = &l, .describe = describe };
	DIR *d;
	int err = snap_list(&l, describe);

	if (!err) {
		mark_first(&l);
		*ret = l;
		return 0;
	}
	tcp_fds_free(&l);
	d = opendir("/proc/self/fd");
	if (d) {
		err = scan_proc(d, &w);
		closedir(d);
	} else {
		err = scan_numbers(&w);
	}
	if (!err)
		err = answer(&w);
	free(w.q);
	free(w.qfd);
	if (err) {
		tcp_fds_free(&l);
		return err;
	}
	mark_first(&l);
	*ret = l;
	return 0;
}

void tcp_fds_free(struct tcp_fd_list *l)
{
	if (!l)
		return;
	free(l->fds);
	free(l->diag);
	free(l->snap);
	l->fds = NULL;
	l->diag = NULL;
	l->snap = NULL;
	l->n = 0;
}

void sock_ref_init(struct sock_ref *s, int fd)
{
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->state = -1;
	s->filter = -1;
}

void sock_ref_release(struct sock_ref *s)
{
	free(s->peek_rcvq);
	free(s->peek_sndq);
	s->peek_rcvq = s->peek_sndq = NULL;
	s->peeked = false;
}

void sock_ref_of(struct sock_ref *s, const struct tcp_fd *t)
{
	sock_ref_init(s, t->fd);
	s->state = t->state;
	s->diag = t->diag;
	s->snap = t->snap;
}

/* What getsockname and getpeername would say: an IPv6 address needs a
 * scope when it is link-local, and its scope is the socket's device.
 * Ports in host order, addresses as the kernel keeps them. */
static void addrs_of(struct sock_ref *s, int family, uint16_t lport,
		     uint16_t pport, const uint8_t *local, const uint8_t *peer,
		     uint32_t bound_if)
{
	struct sockaddr_in *l4 = (void *)&s->local, *p4 = (void *)&s->peer;

	memset(&s->local, 0, sizeof(s->local));
	memset(&s->peer, 0, sizeof(s->peer));
	if (family == AF_INET) {
		l4->sin_family = p4->sin_family = AF_INET;
		l4->sin_port = htons(lport);
		p4->sin_port = htons(pport);
		memcpy(&l4->sin_addr, local, 4);
		memcpy(&p4->sin_addr, peer, 4);
		return;
	}
	s->local.sin6_family = s->peer.sin6_family = AF_INET6;
	s->local.sin6_port = htons(lport);
	s->peer.sin6_port = htons(pport);
	memcpy(&s->local.sin6_addr, local, 16);
	memcpy(&s->peer.sin6_addr, peer, 16);
	if (IN6_IS_ADDR_LINKLOCAL(&s->local.sin6_addr))
		s->local.sin6_scope_id = bound_if;
	if (IN6_IS_ADDR_LINKLOCAL(&s->peer.sin6_addr))
		s->peer.sin6_scope_id = bound_if;
}

/* The iterator's addresses are those of a connected socket only (an
 * unconnected one has ENOTCONN for getpeername). */
static bool addrs_known(struct sock_ref *s)
{
	const struct snap_rec *r = s->snap;
	const struct tcp_diag *d = s->diag;

	if (snap_exact(r))
		addrs_of(s, r->family, ntohs(r->lport), ntohs(r->pport),
			 r->local, r->peer, r->bound_dev_if);
	else if (d)
		addrs_of(s, d->family, d->lport, d->pport, d->local, d->peer,
			 d->bound_if);
	else
		return false;
	return true;
}

int sock_ref_addrs(struct sock_ref *s)
{
	socklen_t ll = sizeof(s->local), pl = sizeof(s->peer);

	if (s->has_addrs)
		return 0;
	if (addrs_known(s)) {
		s->has_addrs = true;
		return 0;
	}
	memset(&s->local, 0, sizeof(s->local));
	memset(&s->peer, 0, sizeof(s->peer));
	if (getsockname(s->fd, (struct sockaddr *)&s->local, &ll) ||
	    getpeername(s->fd, (struct sockaddr *)&s->peer, &pl))
		return -errno;
	s->has_addrs = true;
	return 0;
}
