// SPDX-License-Identifier: LGPL-2.1-or-later
/* The repair backend's restore: a decoded connection onto a fresh socket,
 * in the order repair.h gives (each step depends on the one before). */
#define _GNU_SOURCE
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "backend.h"
#include "internal.h"
#include "repair.h"
#include "repair_batch.h"
#include "si_codec.h"

/* In repair mode every send() becomes one skb; big ones fail with ENOMEM,
 * so chunks start here and halve down to the floor on failure. */
#define CHUNK_START (256u * 1024)
#define CHUNK_FLOOR 1024u

static socklen_t make_addr(const struct tcpcp_conn *c, bool local,
			   struct sockaddr_in6 *sa)
{
	const uint8_t *addr = local ? c->local_addr : c->peer_addr;
	uint16_t port = local ? c->local_port : c->peer_port;

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
	return sizeof(*sa);
}

int rebuild_setopt(const struct rebuild *r, int level, int name,
		   const void *val, socklen_t len, int ok)
{
	int err;

	if (r->batch)
		return batch_setopt(r->batch, r->fd, level, name, val, len, ok,
				    0);
	if (!setsockopt(r->fd, level, name, val, len))
		return 0;
	err = -errno;
	return ok == REBUILD_ANY_ERR || err == ok ? 0 : err;
}

static int set_u32(const struct rebuild *r, int name, uint32_t v)
{
	return rebuild_setopt(r, IPPROTO_TCP, name, &v, sizeof(v), 0);
}

int rebuild_queue(struct rebuild *r, int q)
{
	int err;

	if (r->queue == q)
		return 0;
	err = rebuild_setopt(r, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q), 0);
	if (err)
		return err;
	r->queue = q;
	return 0;
}

int rebuild_repair(struct rebuild *r, int mode)
{
	int err = r->batch ? rebuild_setopt(r, IPPROTO_TCP, TCP_REPAIR, &mode,
					    sizeof(mode), 0) :
			     repair_set(r->fd, mode);

	if (!err)
		r->queue = TCP_NO_QUEUE;
	return err;
}

/* The receive queue last: it is the one filled first. */
static int set_queue_seqs(struct rebuild *r, const struct tcpcp_conn *c)
{
	/* in FIN_WAIT2 our FIN, already acknowledged, comes back just before
	 * the send queue and is acknowledged again (repair_fin.c) */
	uint32_t snd = c->sndq_seq - (c->state == TCP_FIN_WAIT2);
	int err = rebuild_queue(r, TCP_SEND_QUEUE);

	if (!err)
		err = set_u32(r, TCP_QUEUE_SEQ, snd);
	if (!err)
		err = rebuild_queue(r, TCP_RECV_QUEUE);
	if (!err)
		err = set_u32(r, TCP_QUEUE_SEQ, c->rcvq_seq);
	return err;
}

static int set_tcp_options(const struct rebuild *r, const struct tcpcp_conn *c)
{
	struct tcp_repair_opt opts[4];
	unsigned int n = 0;
	int err;

	opts[n++] = (struct tcp_repair_opt){
		TCPOPT_MAXSEG, c->mss_clamp ? c->mss_clamp : c->snd_mss
	};
	if (c->tcp_opts & TCPI_OPT_WSCALE)
		opts[n++] = (struct tcp_repair_opt){
			TCPOPT_WINDOW,
			c->snd_wscale | (uint32_t)c->rcv_wscale << 16
		};
	if (c->tcp_opts & TCPI_OPT_SACK)
		opts[n++] = (struct tcp_repair_opt){ TCPOPT_SACK_PERMITTED, 0 };
	if (c->tcp_opts & TCPI_OPT_TIMESTAMPS)
		opts[n++] = (struct tcp_repair_opt){ TCPOPT_TIMESTAMP, 0 };
	err = rebuild_setopt(r, IPPROTO_TCP, TCP_REPAIR_OPTIONS, opts,
			     n * sizeof(opts[0]), 0);
	if (!err && (c->tcp_opts & TCPI_OPT_TIMESTAMPS))
		err = set_u32(r, TCP_TIMESTAMP, c->ts_gen);
	return err;
}

/* A buffer smaller than twice its queue and some is forced bigger; the
 * final sizes and locks are set with the other options afterwards. */
static int make_room(struct rebuild *r, int get, int force, uint32_t qlen)
{
	uint64_t need = 2ull * qlen + 65536;
	socklen_t len = sizeof(int);
	int cur, want = (int)(qlen + 65536);

	if (getsockopt(r->fd, SOL_SOCKET, get, &cur, &len) ||
	    (uint64_t)cur >= need)
		return 0;
	r->forced = true;
	return setsockopt(r->fd, SOL_SOCKET, force, &want, sizeof(want)) ?
		       -errno : 0;
}

/* Segments beyond the receive buffer are pruned, so the receive queue gets
 * room before it is filled; a fresh socket's buffer (which connect() does
 * not shrink) often answers without asking.  A batch cannot ask. */
static int rcv_room(struct rebuild *r, const struct tcpcp_conn *c)
{
	if (!c->rcvq_len ||
	    (r->def && (uint64_t)r->def->rcvbuf >= 2ull * c->rcvq_len + 65536))
		return 0;
	if (r->batch)
		return -EOPNOTSUPP;
	return make_room(r, SO_RCVBUF, SO_RCVBUFFORCE, c->rcvq_len);
}

/* Queued: in chunks as the first attempt would send them; any failure
 * (ENOMEM, EAGAIN, a short send) sends the connection the plain way,
 * which halves chunks and makes room. */
static int queue_sends(struct rebuild *r, const uint8_t *p, uint32_t len)
{
	int err = 0;

	while (!err && len) {
		uint32_t n = len < CHUNK_START ? len : CHUNK_START;

		err = batch_send(r->batch, r->fd, p, n);
		p += n;
		len -= n;
	}
	return err;
}

/* A send into a full send queue waits (EAGAIN), or in repair mode cannot
 * have its one skb (ENOMEM): room is made the first time, after that a
 * smaller chunk is tried.  The send buffer grew at connect(): most queues
 * fit without. */
static int send_all(struct rebuild *r, const struct tcpcp_conn *c,
		    const uint8_t *p, uint32_t len, bool sndq)
{
	uint32_t chunk = CHUNK_START;
	int err;

	if (r->batch)
		return queue_sends(r, p, len);
	while (len) {
		ssize_t n = send(r->fd, p, len < chunk ? len : chunk,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && (errno == EAGAIN || errno == ENOMEM) && sndq &&
		    !r->snd_room) {
			r->snd_room = true;
			err = make_room(r, SO_SNDBUF, SO_SNDBUFFORCE,
					c->sndq_len);
			if (err)
				return err;
			continue;
		}
		if (n < 0 && errno == ENOMEM && chunk > CHUNK_FLOOR) {
			chunk /= 2;
			continue;
		}
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (uint32_t)n;
	}
	return 0;
}

static int fill_queues(struct rebuild *r, const struct tcpcp_conn *c,
		       uint8_t *snd, uint8_t *rcv)
{
	uint32_t sent = c->sndq_len - c->unsent;
	int err = 0;

	if (c->rcvq_len)
		err = rebuild_queue(r, TCP_RECV_QUEUE);
	if (!err)
		err = rcv_room(r, c);
	if (!err && c->rcvq_len)
		err = send_all(r, c, rcv, c->rcvq_len, false);
	if (!err && sent)
		err = rebuild_queue(r, TCP_SEND_QUEUE);
	if (!err && sent)
		err = send_all(r, c, snd, sent, true);
	if (err || !c->unsent)
		return err;
	/* Unsent bytes go in the ordinary way, with repair off; the send
	 * window is still 0, so none of them leaves the host. */
	err = rebuild_repair(r, TCP_REPAIR_OFF_NO_WP);
	if (!err)
		err = send_all(r, c, snd + sent, c->unsent, true);
	if (!err)
		err = rebuild_repair(r, TCP_REPAIR_ON);
	return err;
}

/* A batch's bytes stay until its sends have run. */
static uint8_t *queue_buf(const struct rebuild *r, uint32_t len)
{
	if (r->batch)
		return batch_alloc(r->batch, len ? len : 1);
	return malloc(len ? len : 1);
}

static int restore_queues(struct rebuild *r, const struct tcpcp_conn *c)
{
	uint8_t *snd = queue_buf(r, c->sndq_len);
	uint8_t *rcv = queue_buf(r, c->rcvq_len);
	int err = r->batch ? -ENOSPC : -ENOMEM;

	if (snd && rcv) {
		si_queue_gather(c, TCPCP_SIE_BUF_SND, snd);
		si_queue_gather(c, TCPCP_SIE_BUF_RCV, rcv);
		err = fill_queues(r, c, snd, rcv);
	}
	if (!r->batch) {
		free(snd);
		free(rcv);
	}
	return err;
}

static int set_window(const struct rebuild *r, const struct tcpcp_conn *c)
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
	return rebuild_setopt(r, IPPROTO_TCP, TCP_REPAIR_WINDOW, &w, sizeof(w),
			      0);
}

/* Interface numbers are per host: the recorded name wins where it exists. */
static void scope_by_name(const struct tcpcp_conn *c, struct sockaddr_in6 *sa)
{
	unsigned int idx;

	if (c->ip_version != 6 || !c->ifname[0])
		return;
	idx = if_nametoindex(c->ifname);
	if (idx)
		sa->sin6_scope_id = idx;
}

/*
 * The segment size is computed once, at connect(), from the MSS clamp of
 * that moment; TCP_REPAIR_OPTIONS raises the clamp afterwards but nothing
 * recomputes it, and the connection would go on with 524-byte segments.
 * A user MSS set just for the connect makes it the size the connection
 * had (which the kernel had also bounded to half the peer's largest
 * window: larger segments stall on a small window), and is cleared after.
 */
#define MAXSEG_LIMIT 32767

static int mss_for_connect(const struct rebuild *r, const struct tcpcp_conn *c)
{
	int mss = (int)(c->snd_mss ? c->snd_mss : c->mss_clamp);

	if (mss > MAXSEG_LIMIT)
		mss = MAXSEG_LIMIT;
	if (mss < 88) /* TCP_MIN_MSS */
		return 0;
	return rebuild_setopt(r, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof(mss),
			      REBUILD_ANY_ERR);
}

static int mss_after_connect(const struct rebuild *r)
{
	int none = 0;

	return rebuild_setopt(r, IPPROTO_TCP, TCP_MAXSEG, &none, sizeof(none),
			      REBUILD_ANY_ERR);
}

static int rebuild_bind(const struct rebuild *r, const struct sockaddr *sa,
			socklen_t len)
{
	if (r->batch)
		return batch_bind(r->batch, r->fd, sa, len);
	return bind(r->fd, sa, len) ? -errno : 0;
}

static int rebuild_connect(const struct rebuild *r, const struct sockaddr *sa,
			   socklen_t len)
{
	if (r->batch)
		return batch_connect(r->batch, r->fd, sa, len);
	return connect(r->fd, sa, len) ? -errno : 0;
}

/* s->local and s->peer are what getsockname and getpeername will say. */
static int connect_repaired(struct rebuild *r, struct sock_ref *s,
			    const struct tcpcp_conn *c)
{
	socklen_t len = make_addr(c, true, &s->local);
	int err;

	scope_by_name(c, &s->local);
	err = mss_for_connect(r, c);
	if (!err)
		err = rebuild_bind(r, (struct sockaddr *)&s->local, len);
	if (!err)
		err = set_queue_seqs(r, c);
	if (err)
		return err;
	len = make_addr(c, false, &s->peer);
	scope_by_name(c, &s->peer);
	err = rebuild_connect(r, (struct sockaddr *)&s->peer, len);
	if (!err) {
		s->has_addrs = true;
		return mss_after_connect(r);
	}
	if (err == -EADDRNOTAVAIL || err == -EADDRINUSE)
		detail_set("a socket with this connection's addresses and ports "
			   "still exists");
	return err;
}

/* No queue stays selected: a program's send() into the stopped socket
 * fails instead of landing in one. */
static int build(struct rebuild *r, const struct tcpcp_conn *c)
{
	int err = set_tcp_options(r, c);

	if (!err)
		err = restore_queues(r, c);
	if (!err)
		err = fin_restore(r, c);
	if (!err)
		err = set_window(r, c);
	if (!err)
		err = sockopts_restore(r, c);
	if (!err)
		err = rebuild_queue(r, TCP_NO_QUEUE);
	return err;
}

/* Undo: in repair mode a disconnect sends nothing. */
static void unwind(int fd, bool connected)
{
	struct sockaddr sa = { .sa_family = AF_UNSPEC };

	if (connected)
		connect(fd, &sa, sizeof(sa));
	repair_set(fd, TCP_REPAIR_OFF_NO_WP);
	block_remove(fd);
}

/* A socket this call made has no filter, and its options are the
 * defaults (read before anything changes them). */
static int begin_restore(struct rebuild *r, struct sock_ref *s,
			 const struct tcpcp_conn *c)
{
	uint32_t flags = (c->sk_flags & TCPCP_SIE_SOCK_REUSEADDR) ?
				 BLOCK_REUSEADDR : 0;
	int err;

	*r = (struct rebuild){ .fd = s->fd, .queue = TCP_NO_QUEUE };
	if (s->fresh) {
		r->def = sockopts_defaults(s->fd, c->ip_version == 4 ? AF_INET :
								       AF_INET6);
		s->filter = BLOCK_NONE;
	}
	err = block_claim(s, flags);
	if (err)
		return err;
	err = repair_on(s);
	if (err)
		block_remove(s->fd);
	return err;
}

/* begin_restore's block and repair mode, queued: the program lives in
 * the batch until the attach has run. */
static int begin_queued(struct rebuild *r, struct sock_ref *s,
			const struct tcpcp_conn *c)
{
	struct sock_filter *prog = batch_alloc(r->batch, sizeof(*prog) *
							 BLOCK_LEN);
	struct sock_fprog fprog = { .len = BLOCK_LEN, .filter = prog };
	uint32_t flags = (c->sk_flags & TCPCP_SIE_SOCK_REUSEADDR) ?
				 BLOCK_REUSEADDR : 0;
	int on = TCP_REPAIR_ON, err;

	if (!prog)
		return -ENOSPC;
	block_prog(flags, prog);
	r->def = sockopts_defaults(s->fd, c->ip_version == 4 ? AF_INET :
							       AF_INET6);
	err = rebuild_setopt(r, SOL_SOCKET, SO_ATTACH_FILTER, &fprog,
			     sizeof(fprog), 0);
	if (!err)
		err = rebuild_setopt(r, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on),
				     0);
	s->filter = BLOCK_OURS;
	s->filter_flags = flags;
	s->repair_ok = true;
	return err;
}

int repair_restore_queue(struct rebuild *r, struct sock_ref *s,
			 const struct tcpcp_conn *c)
{
	int err;

	if (c->state != TCP_ESTABLISHED)
		return -EOPNOTSUPP; /* fin_restore waits for states */
	r->fd = s->fd;
	r->queue = TCP_NO_QUEUE;
	err = begin_queued(r, s, c);
	if (!err)
		err = connect_repaired(r, s, c);
	if (!err)
		err = build(r, c);
	return err;
}

int repair_restore(struct sock_ref *s, const struct tcpcp_conn *c)
{
	struct rebuild r;
	int err = begin_restore(&r, s, c);

	if (err)
		return err;
	err = connect_repaired(&r, s, c);
	if (err) {
		unwind(s->fd, false);
		return err;
	}
	err = build(&r, c);
	if (!err)
		err = hold_add(s); /* refreshed: the old one may be expiring */
	if (err)
		unwind(s->fd, true);
	return err;
}
