// SPDX-License-Identifier: LGPL-2.1-or-later
/* The repair backend's save: a stopped socket's state into a tcpcp_conn. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "backend.h"
#include "internal.h"
#include "repair.h"
#include "sock_snap.h"

/* A queue that changes under a working block is retried this often before
 * the save fails: a torn queue is never saved (CRIU #622, #1433). */
#define PEEK_TRIES 3

static int read_addrs(struct sock_ref *s, struct tcpcp_conn *c)
{
	const struct sockaddr_in6 *l = &s->local, *p = &s->peer;
	int err = sock_ref_addrs(s);

	if (err)
		return err;
	if (l->sin6_family == AF_INET) {
		const struct sockaddr_in *l4 = (const void *)l;
		const struct sockaddr_in *p4 = (const void *)p;

		c->ip_version = 4;
		memcpy(c->local_addr, &l4->sin_addr, 4);
		memcpy(c->peer_addr, &p4->sin_addr, 4);
		c->local_port = ntohs(l4->sin_port);
		c->peer_port = ntohs(p4->sin_port);
		return 0;
	}
	c->ip_version = 6;
	memcpy(c->local_addr, &l->sin6_addr, 16);
	memcpy(c->peer_addr, &p->sin6_addr, 16);
	c->local_port = ntohs(l->sin6_port);
	c->peer_port = ntohs(p->sin6_port);
	c->scope_id = l->sin6_scope_id;
	if (c->scope_id && !if_indextoname(c->scope_id, c->ifname))
		c->ifname[0] = '\0';
	return 0;
}

static void take_info(struct tcpcp_conn *c, uint8_t state, uint8_t options,
		      uint8_t snd_wscale, uint8_t rcv_wscale, uint32_t snd_mss,
		      uint32_t rcv_mss)
{
	c->state = state;
	c->tcp_opts = options & (TCPI_OPT_TIMESTAMPS | TCPI_OPT_SACK |
				 TCPI_OPT_WSCALE | TCPI_OPT_ECN);
	if (options & TCPI_OPT_WSCALE) {
		c->snd_wscale = snd_wscale;
		c->rcv_wscale = rcv_wscale;
	}
	c->snd_mss = (uint16_t)snd_mss;
	c->rcv_mss = (uint16_t)rcv_mss;
}

static int read_info(int fd, struct tcpcp_conn *c, const struct tcp_diag *d,
		     const struct snap_rec *r)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	if (r) {
		take_info(c, r->state, r->options, r->snd_wscale, r->rcv_wscale,
			  r->snd_mss, r->rcv_mss);
		return 0;
	}
	if (d && (d->have & DIAG_HAVE_INFO)) {
		take_info(c, d->state, d->options, d->snd_wscale, d->rcv_wscale,
			  d->snd_mss, d->rcv_mss);
		return 0;
	}
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len))
		return -errno;
	take_info(c, ti.tcpi_state, ti.tcpi_options, ti.tcpi_snd_wscale,
		  ti.tcpi_rcv_wscale, ti.tcpi_snd_mss, ti.tcpi_rcv_mss);
	return 0;
}

static int getsockopt_u32(int fd, int level, int name, uint32_t *ret)
{
	socklen_t len = sizeof(*ret);

	return getsockopt(fd, level, name, ret, &len) ? -errno : 0;
}

static int ioctl_len(int fd, unsigned long req, uint32_t *ret)
{
	int v;

	if (ioctl(fd, req, &v))
		return -errno;
	*ret = (uint32_t)v;
	return 0;
}

/* Exactly len bytes of the selected queue, or -EBUSY if it moved. */
static int peek_queue(int fd, uint32_t len, uint8_t **ret)
{
	uint8_t *buf;
	ssize_t n;

	*ret = NULL;
	if (!len)
		return 0;
	buf = malloc((size_t)len + 1);
	if (!buf)
		return -ENOMEM;
	n = recv(fd, buf, (size_t)len + 1, MSG_PEEK | MSG_DONTWAIT);
	if (n != (ssize_t)len) {
		free(buf);
		return n < 0 && errno != EAGAIN ? -errno : -EBUSY;
	}
	*ret = buf;
	return 0;
}

/* What the first try at the queues takes from a description of the
 * socket instead of asking it; and the queues' bytes themselves where a
 * batch peeked them (save_many): that try then asks nothing. */
struct qhint {
	bool rcv_len, snd_len, seqs;
	uint32_t inq, outq, notsent; /* SIOCINQ, SIOCOUTQ, SIOCOUTQNSD */
	uint32_t rcv_nxt, write_seq; /* TCP_QUEUE_SEQ of each queue */
	bool peeked;
	uint8_t *rcvq, *sndq; /* malloc'ed; NULL once taken, or empty */
};

/* The hint's bytes of one queue, now the caller's. */
static uint8_t *take(uint8_t **p)
{
	uint8_t *data = *p;

	*p = NULL;
	return data;
}

/* sock_diag's length, as SIOCINQ counts it: without a received FIN. */
static uint32_t diag_inq(const struct tcp_diag *d, const struct tcpcp_conn *c)
{
	bool fin = c->fin_flags & TCPCP_SIE_FIN_RCVD;

	return d->rqueue - (fin && d->rqueue);
}

static struct qhint *qhint_of(const struct tcp_diag *d,
			       const struct snap_rec *r,
			       const struct tcpcp_conn *c, struct qhint *h)
{
	memset(h, 0, sizeof(*h));
	if (r) {
		*h = (struct qhint){ .rcv_len = true, .snd_len = true,
				     .seqs = true, .inq = r->inq,
				     .outq = r->outq, .notsent = r->notsent,
				     .rcv_nxt = r->rcv_nxt,
				     .write_seq = r->write_seq };
		return h;
	}
	if (!d)
		return NULL;
	h->rcv_len = true;
	h->inq = diag_inq(d, c);
	h->snd_len = d->have & DIAG_HAVE_INFO;
	h->outq = d->wqueue;
	h->notsent = d->notsent;
	return h;
}

static int read_seq(int fd, const struct qhint *h, uint32_t hinted,
		    uint32_t *ret)
{
	if (!h || !h->seqs)
		return getsockopt_u32(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, ret);
	*ret = hinted;
	return 0;
}

/* SIOCINQ leaves out a received FIN; rcv_nxt counts it */
static void set_recv_queue(struct tcpcp_conn *c, uint32_t seq, uint32_t len,
			   uint8_t *data)
{
	c->rcv_nxt = seq;
	c->rcvq_seq = seq - len - !!(c->fin_flags & TCPCP_SIE_FIN_RCVD);
	c->rcvq_len = len;
	c->rcvq = data;
}

/* The queues' lengths come from sock_diag or the iterator on the first
 * try, if it still describes the socket; the peek of exactly that many
 * bytes checks them (urgent data, say, makes SIOCINQ count less), and a
 * second try asks the socket itself. */
static int read_recv_queue(int fd, struct tcpcp_conn *c, struct qhint *h)
{
	uint32_t seq = 0, len = 0;
	uint8_t *data = NULL;
	int err, q = TCP_RECV_QUEUE, tries = PEEK_TRIES;

	if (h && h->peeked) {
		set_recv_queue(c, h->rcv_nxt, h->inq, take(&h->rcvq));
		return 0;
	}
	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q)))
		return -errno;
	do {
		err = read_seq(fd, h, h ? h->rcv_nxt : 0, &seq);
		if (!err && h && h->rcv_len)
			len = h->inq;
		else if (!err)
			err = ioctl_len(fd, SIOCINQ, &len);
		if (!err)
			err = peek_queue(fd, len, &data);
		h = NULL;
	} while (err == -EBUSY && --tries);
	if (err)
		return err;
	set_recv_queue(c, seq, len, data);
	return 0;
}

static int read_out_lens(int fd, const struct qhint *h, uint32_t *len,
			 uint32_t *unsent)
{
	int err;

	if (h && h->snd_len) {
		*len = h->outq;
		*unsent = h->notsent;
		return 0;
	}
	err = ioctl_len(fd, SIOCOUTQ, len);
	return err ? err : ioctl_len(fd, SIOCOUTQNSD, unsent);
}

/* len and unsent count an unacknowledged FIN (fin), which has no byte */
static void set_send_queue(struct tcpcp_conn *c, uint32_t seq, uint32_t len,
			   uint32_t unsent, uint32_t fin, uint8_t *data)
{
	c->snd_nxt = seq - unsent;
	c->sndq_seq = seq - len;
	c->sndq_len = len - fin;
	if (fin && !unsent)
		c->fin_flags |= TCPCP_SIE_FIN_SENT;
	c->unsent = unsent > fin ? unsent - fin : 0;
	c->sndq = data;
}

static int read_send_queue(int fd, struct tcpcp_conn *c, struct qhint *h)
{
	uint32_t fin = !!(c->fin_flags & TCPCP_SIE_FIN_QUEUED);
	uint32_t seq = 0, len = 0, unsent = 0;
	uint8_t *data = NULL;
	int err, q = TCP_SEND_QUEUE, tries = PEEK_TRIES;

	if (h && h->peeked) { /* save_peek_lens saw len >= fin */
		set_send_queue(c, h->write_seq, h->outq, h->notsent, fin,
			       take(&h->sndq));
		return 0;
	}
	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q)))
		return -errno;
	do {
		err = read_seq(fd, h, h ? h->write_seq : 0, &seq);
		if (!err)
			err = read_out_lens(fd, h, &len, &unsent);
		h = NULL;
		/* an unacknowledged FIN counts in both lengths, but has no byte */
		if (!err && len < fin)
			err = -EBUSY;
		if (!err)
			err = peek_queue(fd, len - fin, &data);
	} while (err == -EBUSY && --tries);
	if (err)
		return err;
	set_send_queue(c, seq, len, unsent, fin, data);
	return 0;
}

static int read_window(int fd, struct tcpcp_conn *c, const struct snap_rec *r)
{
	struct tcp_repair_window w;
	socklen_t len = sizeof(w);

	if (r)
		w = (struct tcp_repair_window){ r->snd_wl1, r->snd_wnd,
						r->max_window, r->rcv_wnd,
						r->rcv_wup };
	else if (getsockopt(fd, IPPROTO_TCP, TCP_REPAIR_WINDOW, &w, &len))
		return -errno;
	c->has_window = true;
	c->window.snd_wl1 = w.snd_wl1;
	c->window.snd_wnd = w.snd_wnd;
	c->window.max_window = w.max_window;
	c->window.rcv_wnd = w.rcv_wnd;
	c->window.rcv_wup = w.rcv_wup;
	c->snd_wnd = w.snd_wnd;
	c->rcv_wnd = w.rcv_wnd;
	return 0;
}

static int read_u32(int fd, const struct snap_rec *r, int name, uint32_t *ret)
{
	return snap_int(r, IPPROTO_TCP, name, (int *)ret) ?
		       getsockopt_u32(fd, IPPROTO_TCP, name, ret) : 0;
}

static int read_fd_flags(int fd, const struct snap_rec *r, int *fl, int *fdfl)
{
	if (r) {
		*fl = (int)r->f_flags;
		*fdfl = r->cloexec ? FD_CLOEXEC : 0;
		return 0;
	}
	*fl = fcntl(fd, F_GETFL);
	*fdfl = fcntl(fd, F_GETFD);
	return *fl < 0 || *fdfl < 0 ? -errno : 0;
}

static int read_misc(int fd, struct tcpcp_conn *c, const struct snap_rec *r)
{
	int err, fl, fdfl;

	/* in repair mode TCP_MAXSEG reports the MSS clamp */
	err = read_u32(fd, r, TCP_MAXSEG, &c->mss_clamp);
	if (!err && (c->tcp_opts & TCPI_OPT_TIMESTAMPS))
		err = read_u32(fd, r, TCP_TIMESTAMP, &c->ts_gen);
	if (!err)
		err = read_fd_flags(fd, r, &fl, &fdfl);
	if (err)
		return err;
	c->has_fd_flags = true;
	c->fd_flags = ((fl & O_NONBLOCK) ? TCPCP_SIE_FD_NONBLOCK : 0) |
		      ((fdfl & FD_CLOEXEC) ? TCPCP_SIE_FD_CLOEXEC : 0);
	return 0;
}

/* Which FINs a state implies: the peer's received, ours unacknowledged
 * (whether ours was transmitted is read off the send queue). */
static uint8_t fins_of_state(uint8_t state)
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

/* sock_diag's answer describes the socket as it is now only if it was
 * stopped before the call asked: one stopped since was still moving. */
static const struct tcp_diag *diag_now(const struct sock_ref *s)
{
	return s->stopped_here ? NULL : s->diag;
}

/* The same holds for the iterator's record, which must also have found
 * the socket connected and in repair mode (else the save fails, as it
 * would asking). */
static const struct snap_rec *snap_now(const struct sock_ref *s)
{
	const struct snap_rec *r = s->stopped_here ? NULL : s->snap;

	return snap_exact(r) && r->repair ? r : NULL;
}

/* Repair mode masks SO_REUSEADDR; the stop block remembered it. */
static bool saved_reuse(struct sock_ref *s)
{
	return block_known(s) == BLOCK_OURS &&
	       (s->filter_flags & BLOCK_REUSEADDR);
}

int save_peek_lens(const struct sock_ref *s, uint32_t *ret_rcv,
		   uint32_t *ret_snd)
{
	const struct snap_rec *r = snap_now(s);
	uint32_t fin;

	if (!r)
		return -EOPNOTSUPP;
	fin = !!(fins_of_state(r->state) & TCPCP_SIE_FIN_QUEUED);
	if (r->outq < fin)
		return -EOPNOTSUPP; /* the first try's -EBUSY */
	*ret_rcv = r->inq;
	*ret_snd = r->outq - fin;
	return 0;
}

/* What save_many peeked, for the first try: only with the record that
 * gave its lengths (save_peek_lens). */
static void take_peeked(struct sock_ref *s, const struct snap_rec *r,
			struct qhint *h)
{
	if (s->peeked && r && h) {
		h->peeked = true;
		h->rcvq = take(&s->peek_rcvq);
		h->sndq = take(&s->peek_sndq);
	}
	sock_ref_release(s);
}

static int save_stopped(struct sock_ref *s, struct tcpcp_conn *c)
{
	const struct tcp_diag *d = diag_now(s);
	const struct snap_rec *r = snap_now(s);
	struct qhint hint, *h;
	int err, fd = s->fd;

	err = read_info(fd, c, d, r);
	if (err)
		return err;
	c->fin_flags = fins_of_state(c->state);
	h = qhint_of(d, r, c, &hint);
	take_peeked(s, r, h);
	err = read_addrs(s, c);
	if (!err)
		err = read_recv_queue(fd, c, h);
	if (!err)
		err = read_send_queue(fd, c, h);
	if (!err)
		err = read_window(fd, c, r);
	if (!err)
		err = read_misc(fd, c, r);
	if (!err)
		err = sockopts_save(fd, c, d, r, saved_reuse(s));
	free(hint.rcvq); /* those not taken */
	free(hint.sndq);
	return err;
}

int repair_save(struct sock_ref *s, struct tcpcp_conn *ret)
{
	int err, none = TCP_NO_QUEUE, fd = s->fd;
	bool peeked = s->peeked && snap_now(s); /* as take_peeked */

	memset(ret, 0, sizeof(*ret));
	ret->fd = (uint32_t)fd;
	err = save_stopped(s, ret);
	/* a queue left selected would turn the program's send() into bytes
	 * in its own receive queue; a batch that peeked both queues has
	 * selected none again already */
	if (!peeked)
		setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &none,
			   sizeof(none));
	if (err == -EBUSY)
		detail_set("a queue kept changing while it was read; the stop "
			   "block is not holding");
	if (err)
		conn_free_queues(ret);
	return err;
}
