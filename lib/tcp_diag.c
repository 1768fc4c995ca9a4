// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Exact sock_diag requests (SOCK_DIAG_BY_FAMILY without NLM_F_DUMP), a
 * batch per sendmsg(): the kernel answers each one before sendmsg()
 * returns, with the socket's description or an error, so one recvmmsg()
 * takes all the answers.  A batch is kept small enough for its answers
 * to fit the default receive buffer; an answer that does not come, or
 * does not fit, leaves its socket to be asked itself.  Asked for:
 * tcp_info, the congestion algorithm, TOS, traffic class and class id
 * (which carries SO_PRIORITY), socket memory (the buffer sizes) and, for
 * CAP_NET_ADMIN, the mark.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h> /* before the kernel headers: libc-compat */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tcp_diag.h"

/* idiag_ext has a bit per attribute up to 8; CLASS_ID comes with TCLASS */
#define EXT(a) (1u << ((a) - 1))
#define WANTED_EXT                                                     \
	(EXT(INET_DIAG_INFO) | EXT(INET_DIAG_CONG) | EXT(INET_DIAG_TOS) | \
	 EXT(INET_DIAG_TCLASS) | EXT(INET_DIAG_SKMEMINFO))

#define BATCH 32
#define ANSWER_MAX 2048 /* an answer is under 1 KiB; all of them stay
			 * below malloc's mmap threshold */

static void take_info(struct tcp_diag *d, const struct nlattr *a)
{
	struct tcp_info ti;
	size_t len = mnl_attr_get_payload_len(a);

	/* kernels older than this header send less, newer ones more */
	if (len < offsetof(struct tcp_info, tcpi_notsent_bytes) + 4)
		return;
	memset(&ti, 0, sizeof(ti));
	memcpy(&ti, mnl_attr_get_payload(a),
	       len < sizeof(ti) ? len : sizeof(ti));
	d->options = ti.tcpi_options;
	d->snd_wscale = ti.tcpi_snd_wscale;
	d->rcv_wscale = ti.tcpi_rcv_wscale;
	d->snd_mss = (uint16_t)ti.tcpi_snd_mss;
	d->rcv_mss = (uint16_t)ti.tcpi_rcv_mss;
	d->notsent = ti.tcpi_notsent_bytes;
	d->have |= DIAG_HAVE_INFO;
}

static void take_mem(struct tcp_diag *d, const struct nlattr *a)
{
	const uint32_t *mem = mnl_attr_get_payload(a);

	if (mnl_attr_get_payload_len(a) < SK_MEMINFO_SNDBUF * 4 + 4)
		return;
	d->rcvbuf = mem[SK_MEMINFO_RCVBUF];
	d->sndbuf = mem[SK_MEMINFO_SNDBUF];
	d->have |= DIAG_HAVE_MEM;
}

static int take_attr(const struct nlattr *a, void *data)
{
	struct tcp_diag *d = data;
	uint16_t len = mnl_attr_get_payload_len(a);

	switch (mnl_attr_get_type(a)) {
	case INET_DIAG_INFO:
		take_info(d, a);
		break;
	case INET_DIAG_SKMEMINFO:
		take_mem(d, a);
		break;
	case INET_DIAG_CONG:
		if (len && len <= sizeof(d->cong)) {
			memcpy(d->cong, mnl_attr_get_payload(a), len);
			d->cong[sizeof(d->cong) - 1] = '\0';
			d->have |= DIAG_HAVE_CONG;
		}
		break;
	case INET_DIAG_TOS:
		d->tos = len ? mnl_attr_get_u8(a) : 0;
		d->have |= len ? DIAG_HAVE_TOS : 0;
		break;
	case INET_DIAG_TCLASS:
		d->tclass = len ? mnl_attr_get_u8(a) : 0;
		d->have |= len ? DIAG_HAVE_TCLASS : 0;
		break;
	case INET_DIAG_MARK:
		d->mark = len >= 4 ? mnl_attr_get_u32(a) : 0;
		d->have |= len >= 4 ? DIAG_HAVE_MARK : 0;
		break;
	case INET_DIAG_CLASS_ID:
		d->class_id = len >= 4 ? mnl_attr_get_u32(a) : 0;
		d->have |= len >= 4 ? DIAG_HAVE_CLASS : 0;
		break;
	}
	return MNL_CB_OK;
}

static void take_msg(struct tcp_diag *d, const struct nlmsghdr *h)
{
	const struct inet_diag_msg *m = mnl_nlmsg_get_payload(h);
	unsigned int alen = m->idiag_family == AF_INET ? 4 : 16;

	memset(d, 0, sizeof(*d));
	d->ino = m->idiag_inode;
	d->family = m->idiag_family;
	d->state = m->idiag_state;
	d->lport = ntohs(m->id.idiag_sport);
	d->pport = ntohs(m->id.idiag_dport);
	memcpy(d->local, m->id.idiag_src, alen);
	memcpy(d->peer, m->id.idiag_dst, alen);
	d->bound_if = m->id.idiag_if;
	d->rqueue = m->idiag_rqueue;
	d->wqueue = m->idiag_wqueue;
	mnl_attr_parse(h, sizeof(*m), take_attr, d);
}

struct request {
	struct nlmsghdr h;
	struct inet_diag_req_v2 r;
};

/* Link-local IPv6 sockets are found by their device (the scope). */
static void make_request(struct request *rq, const struct tcp_diag_query *q,
			 uint32_t seq)
{
	const struct sockaddr_in *l4 = (const void *)&q->local;
	const struct sockaddr_in *p4 = (const void *)&q->peer;

	memset(rq, 0, sizeof(*rq));
	rq->h.nlmsg_len = sizeof(*rq);
	rq->h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	rq->h.nlmsg_flags = NLM_F_REQUEST;
	rq->h.nlmsg_seq = seq;
	rq->r.sdiag_family = (uint8_t)q->local.sin6_family;
	rq->r.sdiag_protocol = IPPROTO_TCP;
	rq->r.idiag_ext = WANTED_EXT;
	rq->r.id.idiag_cookie[0] = rq->r.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
	if (q->local.sin6_family == AF_INET) {
		rq->r.id.idiag_sport = l4->sin_port;
		rq->r.id.idiag_dport = p4->sin_port;
		rq->r.id.idiag_src[0] = l4->sin_addr.s_addr;
		rq->r.id.idiag_dst[0] = p4->sin_addr.s_addr;
		return;
	}
	rq->r.id.idiag_sport = q->local.sin6_port;
	rq->r.id.idiag_dport = q->peer.sin6_port;
	memcpy(rq->r.id.idiag_src, &q->local.sin6_addr, 16);
	memcpy(rq->r.id.idiag_dst, &q->peer.sin6_addr, 16);
	rq->r.id.idiag_if = q->local.sin6_scope_id;
}

/* An answer about another socket (a listener found by the port, say)
 * does not count. */
static void take_answer(const struct nlmsghdr *h, size_t len, uint32_t seq0,
			const struct tcp_diag_query *q, unsigned int n,
			struct tcp_diag *ret)
{
	uint32_t i = h->nlmsg_seq - seq0;

	if (!mnl_nlmsg_ok(h, (int)len) || i >= n ||
	    h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
	    h->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg)))
		return; /* NLMSG_ERROR: ENOENT, no such socket */
	take_msg(&ret[i], h);
	if (ret[i].ino != q[i].ino)
		memset(&ret[i], 0, sizeof(ret[i]));
}

static int ask_batch(int nl, const struct tcp_diag_query *q, unsigned int n,
		     uint32_t seq0, uint8_t *buf, struct tcp_diag *ret)
{
	struct request rq[BATCH];
	struct mmsghdr mm[BATCH];
	struct iovec iov[BATCH];
	unsigned int i, got = 0;
	int k;

	for (i = 0; i < n; i++) {
		make_request(&rq[i], &q[i], seq0 + i);
		iov[i] = (struct iovec){ buf + (size_t)i * ANSWER_MAX,
					 ANSWER_MAX };
		mm[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[i],
						       .msg_iovlen = 1 } };
	}
	if (send(nl, rq, n * sizeof(rq[0]), 0) < 0)
		return -errno;
	while (got < n) {
		k = recvmmsg(nl, mm + got, n - got, MSG_DONTWAIT, NULL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) /* every answer was queued before send() returned */
			return k < 0 && errno != EAGAIN ? -errno : 0;
		for (i = got; i < got + (unsigned int)k; i++)
			if (!(mm[i].msg_hdr.msg_flags & MSG_TRUNC))
				take_answer(iov[i].iov_base, mm[i].msg_len, seq0,
					    q, n, ret);
		got += (unsigned int)k;
	}
	return 0;
}

int tcp_diag_lookup(const struct tcp_diag_query *q, unsigned int n,
		    struct tcp_diag *ret)
{
	uint8_t *buf = malloc((size_t)BATCH * ANSWER_MAX);
	int nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	int err = nl < 0 ? -errno : buf ? 0 : -ENOMEM;
	unsigned int i;

	memset(ret, 0, n * sizeof(*ret));
	for (i = 0; !err && i < n; i += BATCH)
		err = ask_batch(nl, q + i, n - i < BATCH ? n - i : BATCH,
				i + 1, buf, ret + i);
	if (nl >= 0)
		close(nl);
	free(buf);
	return err;
}
