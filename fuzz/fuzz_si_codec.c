// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libFuzzer target for the TCP-SI codec (lib/si_codec.c).
 *
 * The codec is the one parser of untrusted bytes that also runs inside
 * tcpcp2.ko, so a buffer must either be refused with -EINVAL or decode into
 * a struct the module can act on without checking it again.  A checkpoint
 * is also only as good as its round trip: what was decoded must survive
 * encode and decode unchanged.  The wire bytes may legitimately change
 * (segments re-split, padding zeroed, unknown elements dropped), so decoded
 * values are compared field by field, never the input bytes.  Any violation
 * aborts, which libFuzzer and the replay driver (replay.c) both report.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "si_codec.h"

/* linux/tcp.h states a TCP-SI may carry */
#define ST_ESTABLISHED 1
#define ST_FIN_WAIT1 4
#define ST_FIN_WAIT2 5
#define ST_CLOSE_WAIT 8
#define ST_LAST_ACK 9
#define ST_CLOSING 11

#define FIN_QUEUED TCPCP_SIE_FIN_QUEUED
#define FIN_RCVD TCPCP_SIE_FIN_RCVD
#define FIN_SENT TCPCP_SIE_FIN_SENT

/* No si_check() count can be this (it is a 16-bit field). */
#define UNTOUCHED 0xdeadbeefu

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct decoded {
	unsigned int count;
	struct tcpcp_conn *conns; /* sndq/rcvq: gathered, malloc'ed */
};

static void fail(unsigned int conn, const char *what, int line)
{
	fprintf(stderr, "fuzz_si_codec.c:%d: connection %u: %s\n", line, conn,
		what);
	abort();
}

static void fail_field(unsigned int conn, const char *field, uint64_t a,
		       uint64_t b)
{
	fprintf(stderr,
		"fuzz_si_codec: connection %u: %s decoded as 0x%" PRIx64
		", re-encoded and decoded as 0x%" PRIx64 "\n",
		conn, field, a, b);
	abort();
}

#define EXPECT(i, cond)                             \
	do {                                        \
		if (!(cond))                        \
			fail(i, #cond, __LINE__);   \
	} while (0)

#define SAME(i, a, b, f)                                               \
	do {                                                           \
		if ((a)->f != (b)->f)                                  \
			fail_field(i, #f, (uint64_t)(a)->f,            \
				   (uint64_t)(b)->f);                  \
	} while (0)

#define SAME_BYTES(i, a, b, f, n)                                      \
	do {                                                           \
		if (memcmp((a)->f, (b)->f, n))                         \
			fail(i, "bytes of " #f " differ", __LINE__);   \
	} while (0)

/*
 * The options tcpcp-si(5) lets an element set, restated here rather than
 * taken from the codec: a TCP-SI must not become a way to set arbitrary
 * socket options, and an oracle that shared the codec's table would not
 * notice the table being bypassed.  A new option needs a line here too.
 */
static const struct {
	uint16_t level, name;
	bool is_string;
} allowed_xopts[] = {
	{ 1, 36, false },  /* SOL_SOCKET, SO_MARK */
	{ 1, 25, true },   /* SOL_SOCKET, SO_BINDTODEVICE */
	{ 6, 18, false },  /* IPPROTO_TCP, TCP_USER_TIMEOUT */
	{ 6, 13, true },   /* IPPROTO_TCP, TCP_CONGESTION */
	{ 6, 25, false },  /* IPPROTO_TCP, TCP_NOTSENT_LOWAT */
	{ 6, 3, false },   /* IPPROTO_TCP, TCP_CORK */
	{ 41, 67, false }, /* IPPROTO_IPV6, IPV6_TCLASS */
};

static void check_xopt(unsigned int i, const struct tcpcp_xopt *x)
{
	size_t k;

	EXPECT(i, x->len <= TCPCP_XOPT_VAL_MAX);
	for (k = 0; k < sizeof(allowed_xopts) / sizeof(allowed_xopts[0]); k++)
		if (allowed_xopts[k].level == x->level &&
		    allowed_xopts[k].name == x->name)
			break;
	EXPECT(i, k < sizeof(allowed_xopts) / sizeof(allowed_xopts[0]));
	/* integers are handed to setsockopt() as a 4-byte int */
	EXPECT(i, allowed_xopts[k].is_string || x->len == 4);
}

static bool state_ok(uint8_t state)
{
	return state == ST_ESTABLISHED || state == ST_FIN_WAIT1 ||
	       state == ST_FIN_WAIT2 || state == ST_CLOSE_WAIT ||
	       state == ST_LAST_ACK || state == ST_CLOSING;
}

static void check_header(unsigned int i, const struct tcpcp_conn *c)
{
	static const uint8_t zero[16];
	unsigned int k;

	EXPECT(i, c->ip_version == 4 || c->ip_version == 6);
	EXPECT(i, state_ok(c->state));
	EXPECT(i, !(c->tcp_opts & ~0x0fu));
	EXPECT(i, c->snd_wscale <= 14 && c->rcv_wscale <= 14);
	EXPECT(i, c->ip_opt_len <= sizeof(c->ip_opt) && c->ip_opt_len % 4 == 0);
	if (c->ip_version == 4) {
		/* the module copies 16 address bytes whatever the family */
		EXPECT(i, !memcmp(c->local_addr + 4, zero, 12));
		EXPECT(i, !memcmp(c->peer_addr + 4, zero, 12));
		EXPECT(i, c->scope_id == 0);
	} else {
		EXPECT(i, c->tos == 0 && c->ip_opt_len == 0);
	}
	EXPECT(i, c->mss_clamp <= 0xffff);
	EXPECT(i, !(c->fd_flags & ~(uint32_t)(TCPCP_SIE_FD_NONBLOCK |
					       TCPCP_SIE_FD_CLOEXEC)));
	EXPECT(i, c->has_fd_flags || c->fd_flags == 0);
	/* handed to dev_get_by_name() as a C string */
	EXPECT(i, c->ifname[TCPCP_IFNAME_LEN - 1] == '\0');
	EXPECT(i, c->nxopts <= TCPCP_XOPT_MAX);
	for (k = 0; k < c->nxopts; k++)
		check_xopt(i, &c->xopts[k]);
}

/* The FINs the state implies, as tcpcp-si(5) says (check_fins()). */
static void check_fins(unsigned int i, const struct tcpcp_conn *c)
{
	bool rcvd = c->state == ST_CLOSE_WAIT || c->state == ST_LAST_ACK ||
		    c->state == ST_CLOSING;
	bool queued = c->state == ST_FIN_WAIT1 || c->state == ST_LAST_ACK ||
		      c->state == ST_CLOSING;

	EXPECT(i, !(c->fin_flags & ~(FIN_QUEUED | FIN_RCVD | FIN_SENT)));
	EXPECT(i, !!(c->fin_flags & FIN_RCVD) == rcvd);
	EXPECT(i, !!(c->fin_flags & FIN_QUEUED) == queued);
	EXPECT(i, !(c->fin_flags & FIN_SENT) || (c->fin_flags & FIN_QUEUED));
}

/*
 * The restore path injects the queues at these sequence numbers and then
 * sets snd_nxt/rcv_nxt; if they did not line up, the peer would see a
 * hole or a duplicate.  A FIN takes one sequence number after its queue.
 */
static void check_seqs(unsigned int i, const struct tcpcp_conn *c)
{
	uint32_t fq = !!(c->fin_flags & FIN_QUEUED);
	uint32_t fs = fq && (c->fin_flags & FIN_SENT);
	uint32_t fr = !!(c->fin_flags & FIN_RCVD);

	EXPECT(i, c->unsent <= c->sndq_len);
	EXPECT(i, !fs || c->unsent == 0);
	EXPECT(i, c->sndq_len <= TCPCP_SI_QUEUE_MAX);
	EXPECT(i, c->rcvq_len <= TCPCP_SI_QUEUE_MAX);
	EXPECT(i, (uint32_t)(c->sndq_seq + c->sndq_len + fq) ==
			  (uint32_t)(c->snd_nxt + c->unsent + fq - fs));
	EXPECT(i, (uint32_t)(c->rcvq_seq + c->rcvq_len + fr) == c->rcv_nxt);
}

/*
 * Bytes of one queue's segments in raw, counted independently of the
 * codec's walk: si_queue_gather() copies exactly these into a buffer the
 * caller sized from sndq_len/rcvq_len, so they must agree.
 */
static uint64_t queue_bytes(unsigned int i, const struct tcpcp_conn *c,
			    uint8_t type)
{
	const uint8_t *p = c->raw + TCPCP_SI_HDR_LEN;
	const uint8_t *end = c->raw + c->raw_len;
	uint64_t n = 0;

	while (p < end) {
		uint32_t len = (uint32_t)(p[2] << 8 | p[3]);
		bool seg = p[0] == TCPCP_SIE_BUF_SND ||
			   p[0] == TCPCP_SIE_BUF_RCV;

		EXPECT(i, end - p >= (seg ? 16 : 4));
		EXPECT(i, seg || p[0] >= TCPCP_SIE_EXT_MIN);
		if (p[0] == type)
			n += len;
		p += (seg ? 16 : 4) + ((len + 3) & ~3u);
	}
	EXPECT(i, p == end);
	return n;
}

static void check_conn(unsigned int i, const struct tcpcp_conn *c,
		       const uint8_t *buf, uint32_t size)
{
	check_header(i, c);
	check_fins(i, c);
	check_seqs(i, c);
	/* after decoding the queues are still in the buffer */
	EXPECT(i, !c->sndq && !c->rcvq);
	EXPECT(i, c->raw >= buf + TCPCP_SI_TOTAL_HDR_LEN);
	EXPECT(i, c->raw_len >= TCPCP_SI_HDR_LEN && c->raw_len % 4 == 0);
	EXPECT(i, c->raw_len <= size - (uint32_t)(c->raw - buf));
	EXPECT(i, queue_bytes(i, c, TCPCP_SIE_BUF_SND) == c->sndq_len);
	EXPECT(i, queue_bytes(i, c, TCPCP_SIE_BUF_RCV) == c->rcvq_len);
}

/*
 * The module may walk a buffer with si_decode_conn() alone, so every
 * connection it accepts must be sound even when the buffer as a whole is
 * refused, and a refusal must leave *offset where it was.
 */
static void walk_refused(const uint8_t *buf, uint32_t size)
{
	uint32_t off = TCPCP_SI_TOTAL_HDR_LEN, before;
	struct tcpcp_conn c;
	unsigned int i, count;
	int err = 0;

	if (si_check_total(buf, size, &count))
		return;
	for (i = 0; i < count && !err; i++) {
		before = off;
		err = si_decode_conn(buf, size, &off, &c);
		if (err) {
			EXPECT(i, err == -EINVAL && off == before);
		} else {
			EXPECT(i, off == before + c.raw_len);
			EXPECT(i, c.raw == buf + before);
			check_conn(i, &c, buf, size);
		}
	}
	/* si_check() refused: a connection or the trailing bytes must be bad */
	EXPECT(i, err || off != size);
}

/* si_check()'s verdict, held to its contract: a refusal is -EINVAL and
 * leaves *ret_count alone; an acceptance agrees with the total header. */
static bool accepted(const uint8_t *buf, uint32_t size,
		     unsigned int *ret_count)
{
	unsigned int count = UNTOUCHED, total = UNTOUCHED;
	int err = si_check(buf, size, &count);

	if (err) {
		EXPECT(0, err == -EINVAL && count == UNTOUCHED);
		walk_refused(buf, size);
		return false;
	}
	EXPECT(0, si_check_total(buf, size, &total) == 0 && total == count);
	*ret_count = count;
	return true;
}

/* Gathered into a buffer of exactly len bytes, so an overrun trips ASan.
 * An empty queue is left NULL: there is nothing to copy. */
static const uint8_t *gather(const struct tcpcp_conn *c, int type,
			     uint32_t len)
{
	uint8_t *q;

	if (!len)
		return NULL;
	q = malloc(len);
	if (!q)
		abort();
	si_queue_gather(c, type, q);
	return q;
}

static void decode_all(const uint8_t *buf, uint32_t size, struct decoded *d)
{
	uint32_t off = TCPCP_SI_TOTAL_HDR_LEN;
	unsigned int i;

	d->conns = calloc(d->count ? d->count : 1, sizeof(*d->conns));
	if (!d->conns)
		abort();
	for (i = 0; i < d->count; i++) {
		struct tcpcp_conn *c = &d->conns[i];

		/* si_check() accepted the buffer, so every connection must */
		EXPECT(i, si_decode_conn(buf, size, &off, c) == 0);
		check_conn(i, c, buf, size);
		c->sndq = gather(c, TCPCP_SIE_BUF_SND, c->sndq_len);
		c->rcvq = gather(c, TCPCP_SIE_BUF_RCV, c->rcvq_len);
	}
	EXPECT(0, off == size);
}

static void free_decoded(struct decoded *d)
{
	unsigned int i;

	for (i = 0; i < d->count; i++) {
		free((void *)d->conns[i].sndq);
		free((void *)d->conns[i].rcvq);
	}
	free(d->conns);
}

/* Each connection is encoded into a buffer of exactly si_conn_size()
 * bytes first, so writing past it trips ASan instead of being silently
 * overwritten by the next connection. */
static void encode_one(unsigned int i, uint8_t *dst, uint32_t n,
		       const struct tcpcp_conn *c)
{
	uint8_t *tmp = malloc(n);

	if (!tmp)
		abort();
	si_encode_conn(tmp, c);
	memcpy(dst, tmp, n);
	free(tmp);
	/* si_length is what a reader trusts; it must match si_conn_size() */
	EXPECT(i, n / 4 == ((uint32_t)dst[0] << 24 | (uint32_t)dst[1] << 16 |
			    (uint32_t)dst[2] << 8 | dst[3]));
}

static uint8_t *encode_all(const struct decoded *d, uint32_t *ret_size)
{
	uint64_t total = TCPCP_SI_TOTAL_HDR_LEN;
	uint32_t off = TCPCP_SI_TOTAL_HDR_LEN, n;
	unsigned int i;
	uint8_t *buf;

	for (i = 0; i < d->count; i++) {
		n = si_conn_size(&d->conns[i]);
		EXPECT(i, n >= TCPCP_SI_HDR_LEN && n % 4 == 0);
		total += n;
	}
	EXPECT(0, total <= UINT32_MAX);
	buf = malloc(total);
	if (!buf)
		abort();
	si_encode_total(buf, (uint32_t)total, (uint16_t)d->count);
	for (i = 0; i < d->count; i++) {
		n = si_conn_size(&d->conns[i]);
		encode_one(i, buf + off, n, &d->conns[i]);
		off += n;
	}
	*ret_size = (uint32_t)total;
	return buf;
}

static void same_id(unsigned int i, const struct tcpcp_conn *a,
		    const struct tcpcp_conn *b)
{
	SAME(i, a, b, fd);
	SAME(i, a, b, ip_version);
	SAME(i, a, b, state);
	SAME_BYTES(i, a, b, local_addr, sizeof(a->local_addr));
	SAME_BYTES(i, a, b, peer_addr, sizeof(a->peer_addr));
	SAME(i, a, b, scope_id);
	SAME(i, a, b, local_port);
	SAME(i, a, b, peer_port);
	/* Only the name before the NUL means anything: the encoder writes no
	 * element for "", whatever bytes followed the NUL on the wire. */
	EXPECT(i, !strncmp(a->ifname, b->ifname, TCPCP_IFNAME_LEN));
}

static void same_general(unsigned int i, const struct tcpcp_conn *a,
			 const struct tcpcp_conn *b)
{
	SAME(i, a, b, tcp_opts);
	SAME(i, a, b, snd_wscale);
	SAME(i, a, b, rcv_wscale);
	SAME(i, a, b, snd_mss);
	SAME(i, a, b, rcv_mss);
	SAME(i, a, b, mss_clamp);
	SAME(i, a, b, snd_nxt);
	SAME(i, a, b, rcv_nxt);
	SAME(i, a, b, snd_wnd);
	SAME(i, a, b, rcv_wnd);
	SAME(i, a, b, ts_recent);
	SAME(i, a, b, ts_gen);
	SAME(i, a, b, has_window);
	SAME(i, a, b, window.snd_wl1);
	SAME(i, a, b, window.snd_wnd);
	SAME(i, a, b, window.max_window);
	SAME(i, a, b, window.rcv_wnd);
	SAME(i, a, b, window.rcv_wup);
	SAME(i, a, b, fin_flags);
	SAME(i, a, b, has_fd_flags);
	SAME(i, a, b, fd_flags);
}

static void same_sockopt(unsigned int i, const struct tcpcp_conn *a,
			 const struct tcpcp_conn *b)
{
	unsigned int k;

	SAME(i, a, b, sk_flags);
	SAME(i, a, b, userlocks);
	SAME(i, a, b, priority);
	SAME(i, a, b, sndbuf);
	SAME(i, a, b, rcvbuf);
	SAME(i, a, b, l_linger);
	SAME(i, a, b, ip_flags);
	SAME(i, a, b, ttl);
	SAME(i, a, b, pmtudisc);
	SAME(i, a, b, tos);
	SAME(i, a, b, ip_opt_len);
	SAME_BYTES(i, a, b, ip_opt, sizeof(a->ip_opt));
	SAME(i, a, b, nonagle);
	SAME(i, a, b, keepcnt);
	SAME(i, a, b, keepidle);
	SAME(i, a, b, keepintvl);
	SAME(i, a, b, nxopts);
	for (k = 0; k < a->nxopts; k++) {
		SAME(i, a, b, xopts[k].level);
		SAME(i, a, b, xopts[k].name);
		SAME(i, a, b, xopts[k].len);
		SAME_BYTES(i, a, b, xopts[k].val, a->xopts[k].len);
	}
}

static void same_queues(unsigned int i, const struct tcpcp_conn *a,
			const struct tcpcp_conn *b)
{
	SAME(i, a, b, sndq_seq);
	SAME(i, a, b, sndq_len);
	SAME(i, a, b, unsent);
	SAME(i, a, b, rcvq_seq);
	SAME(i, a, b, rcvq_len);
	if (a->sndq_len)
		SAME_BYTES(i, a, b, sndq, a->sndq_len);
	if (a->rcvq_len)
		SAME_BYTES(i, a, b, rcvq, a->rcvq_len);
}

static void same_decoded(const struct decoded *a, const struct decoded *b)
{
	unsigned int i;

	EXPECT(0, a->count == b->count);
	for (i = 0; i < a->count; i++) {
		const struct tcpcp_conn *x = &a->conns[i], *y = &b->conns[i];

		EXPECT(i, y->raw_len == si_conn_size(x));
		same_id(i, x, y);
		same_general(i, x, y);
		same_sockopt(i, x, y);
		same_queues(i, x, y);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct decoded first, second;
	uint8_t *enc, *enc2;
	uint32_t enc_size, enc2_size;

	if (size > UINT32_MAX || !accepted(data, (uint32_t)size, &first.count))
		return 0;
	decode_all(data, (uint32_t)size, &first);

	enc = encode_all(&first, &enc_size);
	EXPECT(0, accepted(enc, enc_size, &second.count));
	EXPECT(0, second.count == first.count);
	decode_all(enc, enc_size, &second);
	same_decoded(&first, &second);

	/*
	 * The encoding of a decoded buffer is canonical: encoding it again
	 * must give the same bytes.  This also catches a field added to
	 * struct tcpcp_conn and to the codec but not to the checks above.
	 */
	enc2 = encode_all(&second, &enc2_size);
	EXPECT(0, enc2_size == enc_size && !memcmp(enc, enc2, enc_size));

	free(enc2);
	free(enc);
	free_decoded(&second);
	free_decoded(&first);
	return 0;
}
