// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests for the TCP-SI codec (lib/si_codec.c): encode/decode round
 * trips, network byte order on the wire, rejection of malformed buffers,
 * skipping of unknown elements, and truncated or corrupted input.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "si_codec.h"

#define ALIGN4(x) (((x) + 3u) & ~3u)
#define HDR_OFF(f) ((uint32_t)offsetof(struct tcpcp_si_hdr, f))
#define CONN0 TCPCP_SI_TOTAL_HDR_LEN
#define SENTINEL 0xdeadu

/* linux/tcp.h states */
#define ST_ESTABLISHED 1
#define ST_FIN_WAIT1 4
#define ST_CLOSING 11

struct wire {
	uint8_t *buf;
	uint32_t size;
};

/* ---- byte helpers, independent of the codec's own ---- */

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* ---- building connections ---- */

/* Not periodic, so segments that are swapped or repeated show up. */
static uint8_t *make_data(uint32_t len, uint32_t seed)
{
	uint8_t *d = malloc(len + 1);
	uint32_t x = seed | 1, i;

	cr_assert_not_null(d);
	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		d[i] = (uint8_t)x;
	}
	return d;
}

/* Our FIN transmitted; the peer's FIN received (each takes a sequence
 * number). */
static uint32_t fin_sent(const struct tcpcp_conn *c)
{
	return (c->fin_flags & TCPCP_SIE_FIN_QUEUED) &&
	       (c->fin_flags & TCPCP_SIE_FIN_SENT);
}

static uint32_t fin_rcvd(const struct tcpcp_conn *c)
{
	return !!(c->fin_flags & TCPCP_SIE_FIN_RCVD);
}

/*
 * Lays the queues out the way the codec requires (set c->fin_flags first):
 * sndq_seq + sndq_len + (FIN queued) == snd_nxt + unsent + (FIN unsent) and
 * rcvq_seq + rcvq_len + (FIN received) == rcv_nxt.
 */
static void set_queues(struct tcpcp_conn *c, uint32_t snd_nxt,
		       uint32_t sndq_len, uint32_t unsent, uint32_t rcv_nxt,
		       uint32_t rcvq_len)
{
	c->snd_nxt = snd_nxt;
	c->sndq_len = sndq_len;
	c->unsent = unsent;
	c->sndq_seq = snd_nxt + unsent - fin_sent(c) - sndq_len;
	c->sndq = sndq_len ? make_data(sndq_len, snd_nxt ^ 0x5a5a) : NULL;
	c->rcv_nxt = rcv_nxt;
	c->rcvq_len = rcvq_len;
	c->rcvq_seq = rcv_nxt - fin_rcvd(c) - rcvq_len;
	c->rcvq = rcvq_len ? make_data(rcvq_len, rcv_nxt ^ 0xa5a5) : NULL;
}

static void free_queues(struct tcpcp_conn *c)
{
	free((void *)c->sndq);
	free((void *)c->rcvq);
	c->sndq = NULL;
	c->rcvq = NULL;
}

static void add_xopt_int(struct tcpcp_conn *c, uint16_t level, uint16_t name,
			 uint32_t v)
{
	struct tcpcp_xopt *x = &c->xopts[c->nxopts++];

	x->level = level;
	x->name = name;
	x->len = 4;
	memcpy(x->val, &v, 4);
}

static void add_xopt_str(struct tcpcp_conn *c, uint16_t level, uint16_t name,
			 const char *s)
{
	struct tcpcp_xopt *x = &c->xopts[c->nxopts++];

	x->level = level;
	x->name = name;
	x->len = (uint8_t)strlen(s);
	memcpy(x->val, s, x->len);
}

/* Every field that is not per family; multi-byte values have distinct
 * bytes so that a swapped or shifted field cannot compare equal. */
static void fill_common(struct tcpcp_conn *c)
{
	c->fd = 0x01020304;
	c->local_port = 0x1f90;
	c->peer_port = 0xc351;
	c->tcp_opts = 0x0f;
	c->snd_wscale = 7;
	c->rcv_wscale = 14;
	c->snd_mss = 1448;
	c->rcv_mss = 0x05b4;
	c->mss_clamp = 0xfedc;
	c->snd_wnd = 0x00a1b2c3;
	c->rcv_wnd = 0x00c3b2a1;
	c->ts_recent = 0x11223344;
	c->ts_gen = 0x55667788;
	c->has_window = true;
	c->window = (struct tcpcp_sie_window){ 0x10203040, 0x00a1b2c3,
					       0x00ffeedd, 0x00c3b2a1,
					       0x50607080 };
	c->has_fd_flags = true;
	c->fd_flags = TCPCP_SIE_FD_NONBLOCK | TCPCP_SIE_FD_CLOEXEC;
	c->sk_flags = TCPCP_SIE_SOCK_REUSEADDR | TCPCP_SIE_SOCK_KEEPOPEN |
		      TCPCP_SIE_SOCK_LINGER;
	c->userlocks = 3;
	c->priority = 0x06050403;
	c->sndbuf = 0x000a0b0c;
	c->rcvbuf = 0x000c0b0a;
	c->l_linger = 0x00000102;
	c->nonagle = 1;
	c->keepcnt = 9;
	c->keepidle = 0x1c20;
	c->keepintvl = 0x004b;
}

static void make_conn4(struct tcpcp_conn *c)
{
	static const uint8_t opt[8] = { 0x94, 0x04, 0, 0, 1, 1, 1, 0 };

	memset(c, 0, sizeof(*c));
	fill_common(c);
	c->ip_version = 4;
	c->state = ST_CLOSING;
	c->fin_flags = TCPCP_SIE_FIN_QUEUED | TCPCP_SIE_FIN_RCVD;
	memcpy(c->local_addr, "\x0a\x00\x00\x01", 4);
	memcpy(c->peer_addr, "\xc0\xa8\x01\xfe", 4);
	strcpy(c->ifname, "eth0");
	c->ip_flags = TCPCP_SIE_IP_DEFAULT_TTL;
	c->ttl = 64;
	c->pmtudisc = 2;
	c->tos = 0x10;
	c->ip_opt_len = sizeof(opt);
	memcpy(c->ip_opt, opt, sizeof(opt));
	add_xopt_int(c, 1, 36, 0xdeadbeef);
	add_xopt_str(c, 1, 25, "eth0");
	add_xopt_int(c, 6, 18, 30000);
	add_xopt_str(c, 6, 13, "cubic");
	add_xopt_int(c, 6, 25, 16384);
	add_xopt_int(c, 6, 3, 1);
	add_xopt_int(c, 41, 67, 0xb8);
}

/* IPv6 has no TOS or IP options in the header: those stay 0. */
static void make_conn6(struct tcpcp_conn *c)
{
	static const uint8_t local[16] = { 0xfe, 0x80, [8] = 0x02, 0x11, 0x22,
					   0xff, 0xfe, 0x33, 0x44, 0x55 };
	static const uint8_t peer[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 0x01 };

	memset(c, 0, sizeof(*c));
	fill_common(c);
	c->ip_version = 6;
	c->state = ST_FIN_WAIT1;
	c->fin_flags = TCPCP_SIE_FIN_QUEUED;
	memcpy(c->local_addr, local, 16);
	memcpy(c->peer_addr, peer, 16);
	c->scope_id = 0x00000203;
	strcpy(c->ifname, "enp0s31f6.100");
	c->fd_flags = TCPCP_SIE_FD_CLOEXEC;
	c->ip_flags = TCPCP_SIE_IPV6_DEFAULT_HOPLIMIT;
	c->ttl = 255;
	c->pmtudisc = 3;
	add_xopt_int(c, 41, 67, 0x28);
	add_xopt_str(c, 1, 25, "0123456789abcdef"); /* 16: no room for NUL */
	add_xopt_str(c, 6, 13, "bbr");
	add_xopt_int(c, 1, 36, 0x01020304);
}

/* Only what the fixed header requires. */
static void make_conn_min(struct tcpcp_conn *c)
{
	memset(c, 0, sizeof(*c));
	c->ip_version = 4;
	c->state = ST_ESTABLISHED;
	c->snd_nxt = 1000;
	c->rcv_nxt = 2000;
	c->sndq_seq = 1000;
	c->rcvq_seq = 2000;
}

/* ---- building and patching buffers ---- */

static struct wire encode(const struct tcpcp_conn *conns, unsigned int n)
{
	struct wire w = { .size = TCPCP_SI_TOTAL_HDR_LEN };
	uint32_t off = TCPCP_SI_TOTAL_HDR_LEN;
	unsigned int i;

	for (i = 0; i < n; i++)
		w.size += si_conn_size(&conns[i]);
	/* Exact size, so that ASan catches any read past the end. */
	w.buf = malloc(w.size);
	cr_assert_not_null(w.buf);
	si_encode_total(w.buf, w.size, (uint16_t)n);
	for (i = 0; i < n; i++) {
		si_encode_conn(w.buf + off, &conns[i]);
		off += si_conn_size(&conns[i]);
	}
	return w;
}

static struct wire encode1(const struct tcpcp_conn *c)
{
	return encode(c, 1);
}

static void wire_free(struct wire *w)
{
	free(w->buf);
	w->buf = NULL;
}

/* Inserts len bytes at "at" inside the connection at conn_off and fixes
 * that connection's si_length and the total_si_length. */
static void insert_elem(struct wire *w, uint32_t conn_off, uint32_t at,
			const void *elem, uint32_t len)
{
	w->buf = realloc(w->buf, w->size + len);
	cr_assert_not_null(w->buf);
	memmove(w->buf + at + len, w->buf + at, w->size - at);
	memcpy(w->buf + at, elem, len);
	w->size += len;
	wr32(w->buf + conn_off, rd32(w->buf + conn_off) + len / 4);
	wr32(w->buf, w->size / 4);
}

static void append_elem(struct wire *w, uint32_t conn_off, const void *elem,
			uint32_t len)
{
	insert_elem(w, conn_off, w->size, elem, len);
}

/*
 * Declares the last len bytes of the last connection gone but leaves them
 * in memory: a decoder that reads past the end then finds a well-formed
 * element instead of garbage, so the test fails even without ASan.
 */
static void hide_tail(struct wire *w, uint32_t conn_off, uint32_t len)
{
	w->size -= len;
	wr32(w->buf + conn_off, rd32(w->buf + conn_off) - len / 4);
	wr32(w->buf, w->size / 4);
}

static uint32_t make_ext(uint8_t *e, uint8_t type, const void *payload,
			 uint16_t len)
{
	memset(e, 0, TCPCP_SI_EXT_HDR_LEN + ALIGN4(len));
	e[0] = type;
	wr16(e + 2, len);
	if (len)
		memcpy(e + TCPCP_SI_EXT_HDR_LEN, payload, len);
	return TCPCP_SI_EXT_HDR_LEN + ALIGN4(len);
}

static uint32_t make_seg(uint8_t *e, uint8_t type, uint32_t seq, uint16_t len)
{
	memset(e, 0, TCPCP_SI_SKB_HDR_LEN + ALIGN4(len));
	e[0] = type;
	wr16(e + 2, len);
	e[4] = 0x10;
	wr32(e + offsetof(struct tcpcp_si_skb, seq), seq);
	memset(e + TCPCP_SI_SKB_HDR_LEN, 0x77, len);
	return TCPCP_SI_SKB_HDR_LEN + ALIGN4(len);
}

static uint32_t make_xopt(uint8_t *e, uint16_t level, uint16_t name,
			  uint32_t v)
{
	uint8_t d[8];

	wr16(d, level);
	wr16(d + 2, name);
	wr32(d + 4, v);
	return make_ext(e, TCPCP_SIE_EXT_SOCKOPT, d, sizeof(d));
}

/* Offset of the nth (from 0) element of the given type in the connection
 * at conn_off; walks the elements on its own, not with the codec. */
static uint32_t find_elem(const struct wire *w, uint32_t conn_off,
			  uint8_t type, unsigned int nth)
{
	uint32_t p = conn_off + TCPCP_SI_HDR_LEN;
	uint32_t end = conn_off + rd32(w->buf + conn_off) * 4;
	unsigned int seen = 0;

	while (p < end) {
		uint8_t t = w->buf[p];
		uint32_t hdr = t < TCPCP_SIE_EXT_MIN ? TCPCP_SI_SKB_HDR_LEN :
						       TCPCP_SI_EXT_HDR_LEN;

		if (t == type && seen++ == nth)
			return p;
		p += hdr + ALIGN4(rd16(w->buf + p + 2));
	}
	return end;
}

static unsigned int count_elems(const struct wire *w, uint32_t conn_off,
				uint8_t type)
{
	uint32_t end = conn_off + rd32(w->buf + conn_off) * 4;
	unsigned int n = 0;

	while (find_elem(w, conn_off, type, n) != end)
		n++;
	return n;
}

static uint32_t find_elem_or_fail(const struct wire *w, uint32_t conn_off,
				  uint8_t type, unsigned int nth)
{
	uint32_t p = find_elem(w, conn_off, type, nth);

	cr_assert_neq(p, conn_off + rd32(w->buf + conn_off) * 4,
		      "element type %u #%u not found", type, nth);
	return p;
}

/* ---- checking ---- */

static void expect_ok(const struct wire *w, unsigned int count)
{
	unsigned int n = SENTINEL;

	cr_assert_eq(si_check(w->buf, w->size, &n), 0);
	cr_assert_eq(n, count);
}

/* Also checks that the output parameter is untouched on failure. */
static void expect_einval(const void *buf, uint32_t size)
{
	unsigned int n = SENTINEL;

	cr_assert_eq(si_check(buf, size, &n), -EINVAL);
	cr_assert_eq(n, SENTINEL);
}

static void expect_einval_conn(const struct tcpcp_conn *c)
{
	struct wire w = encode1(c);

	expect_einval(w.buf, w.size);
	wire_free(&w);
}

static void expect_ok_conn(const struct tcpcp_conn *c)
{
	struct wire w = encode1(c);

	expect_ok(&w, 1);
	wire_free(&w);
}

static void cmp_id(const struct tcpcp_conn *a, const struct tcpcp_conn *b)
{
	cr_assert_eq(a->fd, b->fd);
	cr_assert_eq(a->ip_version, b->ip_version);
	cr_assert_eq(a->state, b->state);
	cr_assert_arr_eq(a->local_addr, b->local_addr, 16);
	cr_assert_arr_eq(a->peer_addr, b->peer_addr, 16);
	cr_assert_eq(a->scope_id, b->scope_id);
	cr_assert_eq(a->local_port, b->local_port);
	cr_assert_eq(a->peer_port, b->peer_port);
	cr_assert_arr_eq(a->ifname, b->ifname, TCPCP_IFNAME_LEN);
}

static void cmp_general(const struct tcpcp_conn *a, const struct tcpcp_conn *b)
{
	cr_assert_eq(a->tcp_opts, b->tcp_opts);
	cr_assert_eq(a->snd_wscale, b->snd_wscale);
	cr_assert_eq(a->rcv_wscale, b->rcv_wscale);
	cr_assert_eq(a->snd_mss, b->snd_mss);
	cr_assert_eq(a->rcv_mss, b->rcv_mss);
	cr_assert_eq(a->mss_clamp, b->mss_clamp);
	cr_assert_eq(a->snd_nxt, b->snd_nxt);
	cr_assert_eq(a->rcv_nxt, b->rcv_nxt);
	cr_assert_eq(a->snd_wnd, b->snd_wnd);
	cr_assert_eq(a->rcv_wnd, b->rcv_wnd);
	cr_assert_eq(a->ts_recent, b->ts_recent);
	cr_assert_eq(a->ts_gen, b->ts_gen);
	cr_assert_eq(a->has_window, b->has_window);
	cr_assert_eq(a->window.snd_wl1, b->window.snd_wl1);
	cr_assert_eq(a->window.snd_wnd, b->window.snd_wnd);
	cr_assert_eq(a->window.max_window, b->window.max_window);
	cr_assert_eq(a->window.rcv_wnd, b->window.rcv_wnd);
	cr_assert_eq(a->window.rcv_wup, b->window.rcv_wup);
	cr_assert_eq(a->fin_flags, b->fin_flags);
	cr_assert_eq(a->has_fd_flags, b->has_fd_flags);
	cr_assert_eq(a->fd_flags, b->fd_flags);
}

static void cmp_sockopt(const struct tcpcp_conn *a, const struct tcpcp_conn *b)
{
	cr_assert_eq(a->sk_flags, b->sk_flags);
	cr_assert_eq(a->userlocks, b->userlocks);
	cr_assert_eq(a->priority, b->priority);
	cr_assert_eq(a->sndbuf, b->sndbuf);
	cr_assert_eq(a->rcvbuf, b->rcvbuf);
	cr_assert_eq(a->l_linger, b->l_linger);
	cr_assert_eq(a->ip_flags, b->ip_flags);
	cr_assert_eq(a->ttl, b->ttl);
	cr_assert_eq(a->pmtudisc, b->pmtudisc);
	cr_assert_eq(a->tos, b->tos);
	cr_assert_eq(a->ip_opt_len, b->ip_opt_len);
	cr_assert_arr_eq(a->ip_opt, b->ip_opt, sizeof(a->ip_opt));
	cr_assert_eq(a->nonagle, b->nonagle);
	cr_assert_eq(a->keepcnt, b->keepcnt);
	cr_assert_eq(a->keepidle, b->keepidle);
	cr_assert_eq(a->keepintvl, b->keepintvl);
}

static void cmp_xopts(const struct tcpcp_conn *a, const struct tcpcp_conn *b)
{
	unsigned int i;

	cr_assert_eq(a->nxopts, b->nxopts);
	for (i = 0; i < a->nxopts; i++) {
		cr_assert_eq(a->xopts[i].level, b->xopts[i].level);
		cr_assert_eq(a->xopts[i].name, b->xopts[i].name);
		cr_assert_eq(a->xopts[i].len, b->xopts[i].len);
		cr_assert_arr_eq(a->xopts[i].val, b->xopts[i].val,
				 TCPCP_XOPT_VAL_MAX);
	}
}

static void cmp_queue(const struct tcpcp_conn *d, int type,
		      const uint8_t *want, uint32_t len)
{
	/* One guard byte past the end catches a gather that copies more. */
	uint8_t *got = malloc(len + 1);

	cr_assert_not_null(got);
	got[len] = 0xe5;
	si_queue_gather(d, type, got);
	cr_assert_eq(got[len], 0xe5, "gather wrote past the queue");
	if (len)
		cr_assert(memcmp(got, want, len) == 0, "queue %d differs",
			  type);
	free(got);
}

/* d was decoded from what a encoded to. */
static void cmp_conn(const struct tcpcp_conn *a, const struct tcpcp_conn *d)
{
	cmp_id(a, d);
	cmp_general(a, d);
	cmp_sockopt(a, d);
	cmp_xopts(a, d);
	cr_assert_eq(a->sndq_seq, d->sndq_seq);
	cr_assert_eq(a->sndq_len, d->sndq_len);
	cr_assert_eq(a->unsent, d->unsent);
	cr_assert_eq(a->rcvq_seq, d->rcvq_seq);
	cr_assert_eq(a->rcvq_len, d->rcvq_len);
	cr_assert_null(d->sndq);
	cr_assert_null(d->rcvq);
	cmp_queue(d, TCPCP_SIE_BUF_SND, a->sndq, a->sndq_len);
	cmp_queue(d, TCPCP_SIE_BUF_RCV, a->rcvq, a->rcvq_len);
}

/* Decodes every connection of w and compares it with conns. */
static void check_decodes_to(const struct wire *w,
			     const struct tcpcp_conn *conns, unsigned int n)
{
	uint32_t off = TCPCP_SI_TOTAL_HDR_LEN;
	struct tcpcp_conn d;
	unsigned int i;

	expect_ok(w, n);
	for (i = 0; i < n; i++) {
		uint32_t start = off;

		cr_assert_eq(si_decode_conn(w->buf, w->size, &off, &d), 0);
		cr_assert_eq(d.raw, w->buf + start);
		cr_assert_eq(d.raw_len, off - start);
		cr_assert_eq(d.raw_len, rd32(w->buf + start) * 4);
		cmp_conn(&conns[i], &d);
	}
	cr_assert_eq(off, w->size);
}

static void roundtrip(const struct tcpcp_conn *conns, unsigned int n)
{
	struct wire w = encode(conns, n);

	check_decodes_to(&w, conns, n);
	wire_free(&w);
}

/* ---- 1. round trips ---- */

Test(roundtrip, ipv4_full)
{
	struct tcpcp_conn c;
	struct wire w;

	make_conn4(&c);
	/* two full segments and an unaligned tail; the receive queue spills
	 * into a second segment of 3 bytes */
	set_queues(&c, 0x12345678, 2 * TCPCP_SI_SEG_MAX + 1001, 1500,
		   0x9abcdef0, TCPCP_SI_SEG_MAX + 3);
	w = encode1(&c);
	cr_assert_eq(count_elems(&w, CONN0, TCPCP_SIE_BUF_SND), 3);
	cr_assert_eq(count_elems(&w, CONN0, TCPCP_SIE_BUF_RCV), 2);
	cr_assert_eq(count_elems(&w, CONN0, TCPCP_SIE_EXT_SOCKOPT), 7);
	check_decodes_to(&w, &c, 1);
	wire_free(&w);
	free_queues(&c);
}

Test(roundtrip, ipv6_full)
{
	struct tcpcp_conn c;

	make_conn6(&c);
	set_queues(&c, 0x01000000, 70001, 70000, 0x02000000, 131071);
	roundtrip(&c, 1);
	free_queues(&c);
}

Test(roundtrip, minimal_has_no_extensions)
{
	struct tcpcp_conn c;
	struct wire w;

	make_conn_min(&c);
	cr_assert_eq(si_conn_size(&c), TCPCP_SI_HDR_LEN);
	w = encode1(&c);
	cr_assert_eq(w.size, TCPCP_SI_TOTAL_HDR_LEN + TCPCP_SI_HDR_LEN);
	check_decodes_to(&w, &c, 1);
	wire_free(&w);
}

Test(roundtrip, segment_boundaries)
{
	struct tcpcp_conn c;
	struct wire w;

	/* exactly one and exactly two full segments: no empty tail element */
	make_conn4(&c);
	set_queues(&c, 5000, TCPCP_SI_SEG_MAX, 0, 7000, 2 * TCPCP_SI_SEG_MAX);
	w = encode1(&c);
	cr_assert_eq(count_elems(&w, CONN0, TCPCP_SIE_BUF_SND), 1);
	cr_assert_eq(count_elems(&w, CONN0, TCPCP_SIE_BUF_RCV), 2);
	check_decodes_to(&w, &c, 1);
	wire_free(&w);
	free_queues(&c);
}

Test(roundtrip, sequence_wraps)
{
	struct tcpcp_conn c[2];

	/* send queue starts below 2^32 and ends above it; the receive queue
	 * of the second connection starts above rcv_nxt, i.e. wrapped */
	make_conn4(&c[0]);
	set_queues(&c[0], 0xffffff00, 140000, 600, 0xfffffff0, 70000);
	make_conn6(&c[1]);
	set_queues(&c[1], 0x00000010, 80000, 79999, 100, 70000);
	cr_assert_gt(c[0].sndq_seq, c[0].snd_nxt + c[0].unsent);
	cr_assert_gt(c[1].rcvq_seq, c[1].rcv_nxt);
	roundtrip(c, 2);
	free_queues(&c[0]);
	free_queues(&c[1]);
}

Test(roundtrip, several_connections)
{
	struct tcpcp_conn c[4];
	unsigned int i;

	make_conn4(&c[0]);
	set_queues(&c[0], 111, 70000, 1, 222, 5);
	make_conn_min(&c[1]);
	make_conn6(&c[2]);
	set_queues(&c[2], 333, 0, 0, 444, 66000);
	make_conn4(&c[3]);
	/* absent extensions decode as zero */
	c[3].has_window = false;
	memset(&c[3].window, 0, sizeof(c[3].window));
	c[3].has_fd_flags = false;
	c[3].fd_flags = 0;
	c[3].fin_flags = 0;
	c[3].state = ST_ESTABLISHED;
	memset(c[3].ifname, 0, sizeof(c[3].ifname));
	set_queues(&c[3], 555, 3, 3, 666, 0);
	roundtrip(c, 4);
	for (i = 0; i < 4; i++)
		free_queues(&c[i]);
}

Test(roundtrip, twelve_xopts)
{
	struct tcpcp_conn c;

	make_conn6(&c);
	while (c.nxopts < TCPCP_XOPT_MAX)
		add_xopt_int(&c, 6, 18, c.nxopts * 1000);
	roundtrip(&c, 1);
}

Test(roundtrip, zero_connections)
{
	struct wire w = encode(NULL, 0);
	unsigned int n = SENTINEL;

	cr_assert_eq(w.size, TCPCP_SI_TOTAL_HDR_LEN);
	expect_ok(&w, 0);
	cr_assert_eq(si_check_total(w.buf, w.size, &n), 0);
	cr_assert_eq(n, 0);
	wire_free(&w);
}

/* ---- 2. byte order ---- */

Test(wire, total_header)
{
	uint8_t b[8];

	si_encode_total(b, 0x01020304u * 4, 0x0506);
	cr_assert_eq(b[0], 0x01);
	cr_assert_eq(b[1], 0x02);
	cr_assert_eq(b[2], 0x03);
	cr_assert_eq(b[3], 0x04);
	cr_assert_eq(b[4], TCPCP_SI_MAJOR);
	cr_assert_eq(b[5], TCPCP_SI_MINOR);
	cr_assert_eq(b[6], 0x05);
	cr_assert_eq(b[7], 0x06);
}

Test(wire, connection_header)
{
	struct tcpcp_conn c;
	struct wire w;
	const uint8_t *h;

	make_conn4(&c);
	set_queues(&c, 0xa1b2c3d4, 10, 0, 0x01020304, 0);
	w = encode1(&c);
	h = w.buf + CONN0;
	cr_assert_eq(rd32(h), si_conn_size(&c) / 4);
	cr_assert_eq(h[HDR_OFF(fd)], 0x01);
	cr_assert_eq(h[HDR_OFF(fd) + 3], 0x04);
	cr_assert_eq(h[HDR_OFF(id.ip_version)], 4);
	cr_assert_arr_eq(h + HDR_OFF(id.ip.v4.ip_src), "\x0a\x00\x00\x01", 4);
	cr_assert_arr_eq(h + HDR_OFF(id.ip.v4.ip_dst), "\xc0\xa8\x01\xfe", 4);
	cr_assert_arr_eq(h + HDR_OFF(id.tcp_sport), "\x1f\x90", 2);
	cr_assert_arr_eq(h + HDR_OFF(id.tcp_dport), "\xc3\x51", 2);
	cr_assert_arr_eq(h + HDR_OFF(vargen.snd_nxt), "\xa1\xb2\xc3\xd4", 4);
	cr_assert_arr_eq(h + HDR_OFF(fixgen.snd_mss), "\x05\xa8", 2);
	cr_assert_arr_eq(h + HDR_OFF(sockopt.tcp.keepidle), "\x1c\x20", 2);
	wire_free(&w);
	free_queues(&c);
}

Test(wire, elements)
{
	struct tcpcp_conn c;
	struct wire w;
	uint32_t e;

	make_conn6(&c);
	set_queues(&c, 0xa1b2c3d4, 10, 0, 0x01020304, 0);
	w = encode1(&c);
	cr_assert_arr_eq(w.buf + CONN0 + HDR_OFF(id.ip.v6.scope_id),
			 "\x00\x00\x02\x03", 4);
	e = find_elem_or_fail(&w, CONN0, TCPCP_SIE_BUF_SND, 0);
	cr_assert_eq(e, CONN0 + TCPCP_SI_HDR_LEN);
	cr_assert_arr_eq(w.buf + e + 2, "\x00\x0a", 2);
	cr_assert_arr_eq(w.buf + e + offsetof(struct tcpcp_si_skb, seq),
			 "\xa1\xb2\xc3\xca", 4);
	/* the fourth option of make_conn6() is SO_MARK */
	e = find_elem_or_fail(&w, CONN0, TCPCP_SIE_EXT_SOCKOPT, 3);
	cr_assert_arr_eq(w.buf + e + 4, "\x00\x01\x00\x24\x01\x02\x03\x04", 8);
	e = find_elem_or_fail(&w, CONN0, TCPCP_SIE_EXT_MSS, 0);
	cr_assert_arr_eq(w.buf + e, "\x12\x00\x00\x04\x00\x00\xfe\xdc", 8);
	wire_free(&w);
	free_queues(&c);
}

/* ---- 3. rejections: the total header ---- */

Test(reject, null_and_short)
{
	uint8_t b[12] = { 0, 0, 0, 2, TCPCP_SI_MAJOR, 0, 0, 0 };
	unsigned int n = SENTINEL;

	expect_einval(NULL, 8);
	expect_einval(NULL, 0);
	cr_assert_eq(si_check_total(NULL, 8, &n), -EINVAL);
	expect_einval(b, 0);
	wr32(b, 1);
	expect_einval(b, 4);
	wr32(b, 0);
	expect_einval(b, 0);
	wr32(b, 2);
	expect_ok(&(struct wire){ b, 8 }, 0);
}

Test(reject, size_not_multiple_of_4)
{
	uint8_t b[12] = { 0, 0, 0, 2, TCPCP_SI_MAJOR, 0, 0, 0 };
	uint32_t size;

	for (size = 9; size < 12; size++)
		expect_einval(b, size);
	for (size = 5; size < 8; size++)
		expect_einval(b, size);
}

Test(reject, total_length_mismatch)
{
	struct tcpcp_conn c;
	struct wire w;

	make_conn4(&c);
	w = encode1(&c);
	wr32(w.buf, w.size / 4 + 1);
	expect_einval(w.buf, w.size);
	wr32(w.buf, w.size / 4 - 1);
	expect_einval(w.buf, w.size);
	/* would wrap to w.size if multiplied in 32 bits */
	wr32(w.buf, w.size / 4 + 0x40000000);
	expect_einval(w.buf, w.size);
	wr32(w.buf, 0);
	expect_einval(w.buf, w.size);
	wire_free(&w);
}

Test(reject, major_version)
{
	struct wire w = encode(NULL, 0);
	static const uint8_t bad[] = { 0, TCPCP_SI_MAJOR + 1, 0xff };
	unsigned int i;

	for (i = 0; i < sizeof(bad); i++) {
		w.buf[4] = bad[i];
		expect_einval(w.buf, w.size);
	}
	wire_free(&w);
}

Test(reject, count_lies)
{
	struct tcpcp_conn c[2];
	struct wire w;

	make_conn4(&c[0]);
	make_conn6(&c[1]);
	w = encode(c, 2);
	wr16(w.buf + 6, 3);
	expect_einval(w.buf, w.size);
	wr16(w.buf + 6, 0xffff);
	expect_einval(w.buf, w.size);
	wr16(w.buf + 6, 1); /* the second connection is trailing garbage */
	expect_einval(w.buf, w.size);
	wr16(w.buf + 6, 0);
	expect_einval(w.buf, w.size);
	wr16(w.buf + 6, 2);
	expect_ok(&w, 2);
	wire_free(&w);
}

/* ---- 3. rejections: the connection header ---- */

Test(reject, si_length_too_small)
{
	struct tcpcp_conn c;
	struct wire w;

	make_conn_min(&c);
	w = encode1(&c);
	cr_assert_eq(rd32(w.buf + CONN0), TCPCP_SI_HDR_LEN / 4);
	wr32(w.buf + CONN0, TCPCP_SI_HDR_LEN / 4 - 1);
	expect_einval(w.buf, w.size);
	wr32(w.buf + CONN0, 1);
	expect_einval(w.buf, w.size);
	wr32(w.buf + CONN0, 0);
	expect_einval(w.buf, w.size);
	wire_free(&w);
}

Test(reject, si_length_overruns)
{
	struct tcpcp_conn c[2];
	struct wire w;
	uint32_t second;

	make_conn4(&c[0]);
	make_conn4(&c[1]);
	w = encode(c, 2);
	second = CONN0 + si_conn_size(&c[0]);
	wr32(w.buf + second, rd32(w.buf + second) + 1);
	expect_einval(w.buf, w.size);
	wr32(w.buf + second, 0xffffffff);
	expect_einval(w.buf, w.size);
	/* 0x40000000 * 4 is 0 in 32 bits */
	wr32(w.buf + second, 0x40000000 + si_conn_size(&c[1]) / 4);
	expect_einval(w.buf, w.size);
	wire_free(&w);
}

/*
 * The first connection claims 160 bytes, and its header's last 4 bytes
 * (keepidle, keepintvl) double as the second connection's si_length: the
 * buffer adds up only if a connection shorter than its header is allowed.
 */
Test(reject, si_length_overlaps_next)
{
	struct tcpcp_conn c[2];
	struct wire w;

	make_conn_min(&c[0]);
	make_conn_min(&c[1]);
	c[0].keepintvl = TCPCP_SI_HDR_LEN / 4;
	w = encode(c, 2);
	cr_assert_arr_eq(w.buf + CONN0 + TCPCP_SI_HDR_LEN - 4,
			 w.buf + CONN0 + TCPCP_SI_HDR_LEN, 4);
	memmove(w.buf + CONN0 + TCPCP_SI_HDR_LEN - 4,
		w.buf + CONN0 + TCPCP_SI_HDR_LEN, TCPCP_SI_HDR_LEN);
	w.size -= 4;
	wr32(w.buf, w.size / 4);
	wr32(w.buf + CONN0, TCPCP_SI_HDR_LEN / 4 - 1);
	expect_einval(w.buf, w.size);
	wire_free(&w);
}

/* A truncated first connection: the second one's header must not be
 * taken for part of it. */
Test(reject, si_length_into_next_connection)
{
	struct tcpcp_conn c[2];
	struct wire w;

	make_conn4(&c[0]);
	make_conn4(&c[1]);
	w = encode(c, 2);
	wr32(w.buf + CONN0, rd32(w.buf + CONN0) + 1);
	expect_einval(w.buf, w.size);
	wire_free(&w);
}

Test(reject, ip_version)
{
	struct tcpcp_conn c;
	struct wire w;
	static const uint8_t bad[] = { 0, 5, 3, 7, 0x46, 0xff };
	unsigned int i;

	make_conn6(&c);
	w = encode1(&c);
	for (i = 0; i < sizeof(bad); i++) {
		w.buf[CONN0 + HDR_OFF(id.ip_version)] = bad[i];
		expect_einval(w.buf, w.size);
	}
	wire_free(&w);
}

Test(reject, state)
{
	struct tcpcp_conn c;
	struct wire w;
	unsigned int s;

	make_conn4(&c);
	w = encode1(&c);
	for (s = 0; s < 256; s++) {
		/* the FINs the connection carries fit LAST_ACK and CLOSING */
		bool ok = s == 9 || s == 11;

		w.buf[CONN0 + HDR_OFF(vargen.state)] = (uint8_t)s;
		if (ok)
			expect_ok(&w, 1);
		else
			expect_einval(w.buf, w.size);
	}
	wire_free(&w);
}

Test(reject, wscale)
{
	struct tcpcp_conn c;

	make_conn4(&c);
	c.snd_wscale = 14;
	c.rcv_wscale = 14;
	expect_ok_conn(&c);
	c.snd_wscale = 15;
	expect_einval_conn(&c);
	c.snd_wscale = 0;
	c.rcv_wscale = 15;
	expect_einval_conn(&c);
	c.rcv_wscale = 255;
	expect_einval_conn(&c);
}

Test(reject, tcp_opts_and_ip_opt_len)
{
	struct tcpcp_conn c;

	make_conn4(&c);
	c.tcp_opts = 0x10;
	expect_einval_conn(&c);
	c.tcp_opts = 0x0f;
	c.ip_opt_len = 40;
	expect_ok_conn(&c);
	c.ip_opt_len = 44;
	expect_einval_conn(&c);
	c.ip_opt_len = 6;
	expect_einval_conn(&c);
}

/* ---- 3. rejections: elements ---- */

/* A connection with an empty receive queue, so that a receive segment
 * ending at rcv_nxt can be appended and be valid. */
static struct wire wire_for_append(struct tcpcp_conn *c)
{
	make_conn4(c);
	set_queues(c, 0x1000, 70000, 10, 0x8000, 0);
	return encode1(c);
}

Test(reject, element_header_truncated)
{
	struct tcpcp_conn c;
	struct wire w = wire_for_append(&c);
	uint8_t e[TCPCP_SI_SKB_HDR_LEN];
	uint32_t len = make_seg(e, TCPCP_SIE_BUF_RCV, c.rcv_nxt - fin_rcvd(&c), 0);

	append_elem(&w, CONN0, e, len);
	expect_ok(&w, 1);
	hide_tail(&w, CONN0, 8);
	expect_einval(w.buf, w.size);
	hide_tail(&w, CONN0, 4);
	expect_einval(w.buf, w.size);
	wire_free(&w);
	free_queues(&c);
}

Test(reject, segment_overruns)
{
	struct tcpcp_conn c;
	struct wire w = wire_for_append(&c);
	uint8_t e[TCPCP_SI_SKB_HDR_LEN + 100];
	uint32_t len = make_seg(e, TCPCP_SIE_BUF_RCV, c.rcv_nxt - fin_rcvd(&c) - 100, 100);

	append_elem(&w, CONN0, e, len);
	expect_ok(&w, 1);
	hide_tail(&w, CONN0, 4);
	expect_einval(w.buf, w.size);
	hide_tail(&w, CONN0, 92);
	expect_einval(w.buf, w.size);
	wire_free(&w);
	free_queues(&c);
}

Test(reject, segment_length_65535)
{
	struct tcpcp_conn c;
	struct wire w = wire_for_append(&c);
	uint8_t *e = malloc(TCPCP_SI_SKB_HDR_LEN + 65536);
	uint32_t len = make_seg(e, TCPCP_SIE_BUF_RCV,
				c.rcv_nxt - fin_rcvd(&c) - 65535, 65535);

	/* the longest length pads to 65536: the padding must be counted */
	append_elem(&w, CONN0, e, len);
	expect_ok(&w, 1);
	hide_tail(&w, CONN0, 4);
	expect_einval(w.buf, w.size);
	free(e);
	wire_free(&w);
	free_queues(&c);
}

Test(reject, extension_overruns)
{
	struct tcpcp_conn c;
	struct wire w;
	uint8_t e[TCPCP_SI_EXT_HDR_LEN + 64], pay[61] = { 0 };
	uint32_t len = make_ext(e, 200, pay, sizeof(pay));

	make_conn4(&c);
	w = encode1(&c);
	append_elem(&w, CONN0, e, len);
	expect_ok(&w, 1);
	hide_tail(&w, CONN0, 4); /* only the padding is missing */
	expect_einval(w.buf, w.size);
	hide_tail(&w, CONN0, 56);
	expect_einval(w.buf, w.size);
	wire_free(&w);
}

Test(reject, known_extension_overruns)
{
	struct tcpcp_conn c;
	struct wire w;
	uint8_t e[TCPCP_SI_EXT_HDR_LEN + 20], pay[20] = { 0 };
	uint32_t len = make_ext(e, TCPCP_SIE_EXT_WINDOW, pay, sizeof(pay));

	make_conn_min(&c);
	w = encode1(&c);
	append_elem(&w, CONN0, e, len);
	expect_ok(&w, 1);
	hide_tail(&w, CONN0, 8);
	expect_einval(w.buf, w.size);
	wire_free(&w);
}

/* Well-formed as extensions (length 0), so only the type can be wrong;
 * 16-22 are known extensions for which length 0 is wrong anyway. */
Test(reject, reserved_element_types)
{
	struct tcpcp_conn c;
	uint8_t e[TCPCP_SI_EXT_HDR_LEN];
	unsigned int t;

	make_conn4(&c);
	for (t = 0; t < 256; t++) {
		struct wire w;

		if (t == TCPCP_SIE_BUF_SND || t == TCPCP_SIE_BUF_RCV ||
		    (t >= TCPCP_SIE_EXT_MIN && t <= TCPCP_SIE_EXT_IFNAME))
			continue;
		w = encode1(&c);
		append_elem(&w, CONN0, e, make_ext(e, (uint8_t)t, NULL, 0));
		if (t >= TCPCP_SIE_EXT_MIN)
			expect_ok(&w, 1);
		else
			expect_einval(w.buf, w.size);
		wire_free(&w);
	}
}

Test(reject, window_length)
{
	struct tcpcp_conn c;
	uint8_t e[TCPCP_SI_EXT_HDR_LEN + 24], pay[24] = { 0 };
	static const uint16_t lens[] = { 20, 16, 24, 0, 21 };
	unsigned int i;

	make_conn_min(&c);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		struct wire w = encode1(&c);

		append_elem(&w, CONN0, e, make_ext(e, 16, pay, lens[i]));
		if (lens[i] == sizeof(struct tcpcp_sie_window))
			expect_ok(&w, 1);
		else
			expect_einval(w.buf, w.size);
		wire_free(&w);
	}
}

Test(reject, fixed_length_extensions)
{
	static const uint8_t types[] = {
		TCPCP_SIE_EXT_SNDQ, TCPCP_SIE_EXT_MSS, TCPCP_SIE_EXT_FIN,
		TCPCP_SIE_EXT_FDFLAGS, TCPCP_SIE_EXT_IFNAME,
	};
	uint8_t e[TCPCP_SI_EXT_HDR_LEN + 20], pay[20] = { 0 };
	struct tcpcp_conn c;
	unsigned int i;

	make_conn_min(&c);
	for (i = 0; i < sizeof(types); i++) {
		struct wire w = encode1(&c);
		uint16_t good = types[i] == TCPCP_SIE_EXT_IFNAME ? 16 : 4;

		append_elem(&w, CONN0, e, make_ext(e, types[i], pay, good));
		expect_ok(&w, 1);
		wire_free(&w);
		w = encode1(&c);
		append_elem(&w, CONN0, e, make_ext(e, types[i], pay, good + 4));
		expect_einval(w.buf, w.size);
		wire_free(&w);
	}
}

Test(reject, mss_clamp_too_large)
{
	struct tcpcp_conn c;

	make_conn4(&c);
	c.mss_clamp = 0xffff;
	expect_ok_conn(&c);
	c.mss_clamp = 0x10000;
	expect_einval_conn(&c);
	c.mss_clamp = 0xffffffff;
	expect_einval_conn(&c);
}

Test(reject, disallowed_xopt)
{
	struct tcpcp_conn c;
	uint8_t e[12];
	struct wire w;

	make_conn_min(&c);
	w = encode1(&c);
	append_elem(&w, CONN0, e, make_xopt(e, 1, 36, 7));
	expect_ok(&w, 1);
	append_elem(&w, CONN0, e, make_xopt(e, 1, 2, 1)); /* SO_REUSEADDR */
	expect_einval(w.buf, w.size);
	wire_free(&w);
}

Test(reject, xopt_lengths)
{
	struct tcpcp_conn c;
	uint8_t e[32], d[21] = { 0, 6, 0, 13 }; /* TCP_CONGESTION */
	struct wire w;

	make_conn_min(&c);
	w = encode1(&c);
	append_elem(&w, CONN0, e, make_ext(e, 20, d, 20)); /* 16 chars */
	expect_ok(&w, 1);
	append_elem(&w, CONN0, e, make_ext(e, 20, d, 21)); /* 17 chars */
	expect_einval(w.buf, w.size);
	wire_free(&w);
	w = encode1(&c);
	d[3] = 18; /* TCP_USER_TIMEOUT: an integer must be 4 bytes */
	append_elem(&w, CONN0, e, make_ext(e, 20, d, 6));
	expect_einval(w.buf, w.size);
	wire_free(&w);
	w = encode1(&c);
	append_elem(&w, CONN0, e, make_ext(e, 20, d, 3));
	expect_einval(w.buf, w.size);
	wire_free(&w);
}

Test(reject, too_many_xopts)
{
	struct tcpcp_conn c;
	uint8_t e[12];
	struct wire w;

	make_conn4(&c);
	while (c.nxopts < TCPCP_XOPT_MAX)
		add_xopt_int(&c, 6, 3, 0);
	w = encode1(&c);
	expect_ok(&w, 1);
	append_elem(&w, CONN0, e, make_xopt(e, 6, 3, 1));
	expect_einval(w.buf, w.size);
	wire_free(&w);
}

/* ---- 3. rejections: queues ---- */

/*
 * Only the second segment moves, so the queue's first seq and total length
 * still add up to snd_nxt + unsent: only the contiguity check can catch it.
 */
static void expect_gap_rejected(int type, uint32_t delta)
{
	struct tcpcp_conn c;
	struct wire w;
	uint32_t e;

	make_conn4(&c);
	set_queues(&c, 0x40000000, 70000, 20, 0x50000000, 70000);
	w = encode1(&c);
	e = find_elem_or_fail(&w, CONN0, (uint8_t)type, 1) +
	    offsetof(struct tcpcp_si_skb, seq);
	wr32(w.buf + e, rd32(w.buf + e) + delta);
	expect_einval(w.buf, w.size);
	wire_free(&w);
	free_queues(&c);
}

Test(reject, segments_not_contiguous)
{
	expect_gap_rejected(TCPCP_SIE_BUF_SND, 1);
	expect_gap_rejected(TCPCP_SIE_BUF_SND, (uint32_t)-4);
	expect_gap_rejected(TCPCP_SIE_BUF_RCV, 4);
	expect_gap_rejected(TCPCP_SIE_BUF_RCV, (uint32_t)-1);
}

Test(reject, queues_inconsistent)
{
	struct tcpcp_conn c;

	make_conn4(&c);
	set_queues(&c, 1000, 5000, 100, 9000, 3000);
	expect_ok_conn(&c);
	c.snd_nxt++;
	expect_einval_conn(&c);
	c.snd_nxt--;
	c.rcv_nxt--;
	expect_einval_conn(&c);
	free_queues(&c);
}

Test(reject, queues_inconsistent_when_empty)
{
	struct tcpcp_conn c;

	/* no segments at all, yet "unsent" claims untransmitted bytes */
	make_conn_min(&c);
	expect_ok_conn(&c);
	c.unsent = 1;
	expect_einval_conn(&c);
}

Test(reject, unsent_exceeds_queue)
{
	struct tcpcp_conn c;

	make_conn4(&c);
	set_queues(&c, 1000, 100, 100, 9000, 0);
	expect_ok_conn(&c);
	/* keep sndq_seq + sndq_len == snd_nxt + unsent true */
	c.unsent = 101;
	c.snd_nxt -= 1;
	expect_einval_conn(&c);
	free_queues(&c);
}

/* ---- 3. rejections: extension values ---- */

Test(reject, ifname_not_terminated)
{
	struct tcpcp_conn c;

	make_conn6(&c);
	memset(c.ifname, 'x', TCPCP_IFNAME_LEN - 1);
	expect_ok_conn(&c);
	c.ifname[TCPCP_IFNAME_LEN - 1] = 'x';
	expect_einval_conn(&c);
}

Test(reject, fin_flags_unknown)
{
	struct tcpcp_conn c;
	unsigned int bit;

	make_conn4(&c);
	for (bit = 3; bit < 8; bit++) {
		c.fin_flags = (uint8_t)(TCPCP_SIE_FIN_QUEUED |
					TCPCP_SIE_FIN_RCVD | 1u << bit);
		expect_einval_conn(&c);
	}
}

Test(reject, fd_flags_unknown)
{
	struct tcpcp_conn c;
	unsigned int bit;

	make_conn4(&c);
	for (bit = 2; bit < 32; bit++) {
		c.fd_flags = TCPCP_SIE_FD_CLOEXEC | 1u << bit;
		expect_einval_conn(&c);
	}
	c.fd_flags = 0; /* present but empty is valid */
	expect_ok_conn(&c);
}

/* ---- 4. forward compatibility ---- */

/*
 * Inserts an element of an unknown type before the nth element of type
 * "before" in the first connection (right after its header when before is
 * 0), and one at the end of the second; neither may change what decodes.
 */
static void check_unknown_skipped(uint8_t before, unsigned int nth,
				  uint8_t type, uint16_t len)
{
	struct tcpcp_conn c[2];
	uint8_t e[TCPCP_SI_EXT_HDR_LEN + 64], pay[64];
	struct wire w;
	uint32_t second, at, elen;

	memset(pay, 0x01, sizeof(pay)); /* looks like segment headers */
	make_conn4(&c[0]);
	set_queues(&c[0], 0xfffff000, 70000, 7, 0x7000, 65540);
	make_conn6(&c[1]);
	set_queues(&c[1], 0x2000, 300, 0, 0x3000, 5);
	w = encode(c, 2);
	second = CONN0 + si_conn_size(&c[0]);
	at = before ? find_elem_or_fail(&w, CONN0, before, nth) :
		      CONN0 + TCPCP_SI_HDR_LEN;
	elen = make_ext(e, type, pay, len);
	insert_elem(&w, CONN0, at, e, elen);
	insert_elem(&w, second + elen, w.size, e, elen);
	check_decodes_to(&w, c, 2);
	wire_free(&w);
	free_queues(&c[0]);
	free_queues(&c[1]);
}

Test(compat, unknown_extension_skipped)
{
	check_unknown_skipped(0, 0, 200, 10);
	/* between two segments of one queue */
	check_unknown_skipped(TCPCP_SIE_BUF_SND, 1, 200, 64);
	check_unknown_skipped(TCPCP_SIE_BUF_RCV, 1, 201, 1);
	check_unknown_skipped(TCPCP_SIE_EXT_FIN, 0, 255, 0);
	check_unknown_skipped(TCPCP_SIE_EXT_IFNAME, 0, 23, 3);
}

Test(compat, minor_version)
{
	struct tcpcp_conn c;
	struct wire w;
	unsigned int minor;

	make_conn6(&c);
	set_queues(&c, 10, 20, 5, 30, 40);
	w = encode1(&c);
	for (minor = 1; minor < 256; minor += 127) {
		w.buf[5] = (uint8_t)minor;
		check_decodes_to(&w, &c, 1);
	}
	wire_free(&w);
	free_queues(&c);
}

/* ---- 5. truncation and corruption ---- */

/* Two connections with every element type present, queues included. */
static struct wire small_pair(struct tcpcp_conn c[2])
{
	make_conn4(&c[0]);
	set_queues(&c[0], 0xfffffff0, 1001, 37, 0x7000, 333);
	make_conn6(&c[1]);
	set_queues(&c[1], 0x2000, 64, 0, 0x3000, 7);
	return encode(c, 2);
}

/* Truncated to size, in a buffer of exactly that size for ASan. */
static int check_truncated(const struct wire *w, uint32_t size, uint16_t cnt,
			   unsigned int *ret_count)
{
	uint8_t *b = malloc(size);
	int r;

	cr_assert_not_null(b);
	memcpy(b, w->buf, size);
	wr32(b, size / 4);
	wr16(b + 6, cnt);
	r = si_check(b, size, ret_count);
	free(b);
	return r;
}

Test(fuzz, truncation)
{
	struct tcpcp_conn c[2];
	struct wire w = small_pair(c);
	uint32_t end0 = CONN0 + si_conn_size(&c[0]), size;

	cr_assert_eq(end0 + si_conn_size(&c[1]), w.size);
	for (size = TCPCP_SI_TOTAL_HDR_LEN; size < w.size; size += 4) {
		/* the number of whole connections left, and the original 2 */
		uint16_t whole = size >= end0 ? 1 : 0;
		bool on_boundary = size == CONN0 || size == end0;
		unsigned int n = SENTINEL;

		cr_assert_eq(check_truncated(&w, size, 2, &n), -EINVAL,
			     "size %u", size);
		cr_assert_eq(check_truncated(&w, size, whole, &n),
			     on_boundary ? 0 : -EINVAL, "size %u", size);
		cr_assert_eq(n, on_boundary ? whole : SENTINEL);
	}
	wire_free(&w);
	free_queues(&c[0]);
	free_queues(&c[1]);
}

Test(fuzz, byte_flips)
{
	struct tcpcp_conn c[2];
	struct wire w = small_pair(c);
	uint32_t i;
	unsigned int rejected = 0;

	for (i = 0; i < w.size; i++) {
		unsigned int n = SENTINEL;
		int r;

		w.buf[i] ^= 0xff;
		r = si_check(w.buf, w.size, &n);
		w.buf[i] ^= 0xff;
		cr_assert(r == 0 || r == -EINVAL, "byte %u: %d", i, r);
		cr_assert(r == 0 ? n == 2 : n == SENTINEL, "byte %u", i);
		rejected += r != 0;
	}
	/* the length and version fields at least must have been noticed */
	cr_assert_geq(rejected, 8);
	expect_ok(&w, 2);
	wire_free(&w);
	free_queues(&c[0]);
	free_queues(&c[1]);
}

/* The FINs must be those the state implies, and take their sequence
 * numbers: a TCP-SI that disagrees with itself is refused. */
Test(reject, fins_disagree_with_state)
{
	static const struct {
		uint8_t state, fins;
	} bad[] = {
		{ ST_ESTABLISHED, TCPCP_SIE_FIN_RCVD },
		{ ST_FIN_WAIT1, 0 },
		{ ST_FIN_WAIT1, TCPCP_SIE_FIN_QUEUED | TCPCP_SIE_FIN_RCVD },
		{ 5 /* FIN_WAIT2 */, TCPCP_SIE_FIN_QUEUED },
		{ 8 /* CLOSE_WAIT */, 0 },
		{ 9 /* LAST_ACK */, TCPCP_SIE_FIN_RCVD },
		{ ST_CLOSING, TCPCP_SIE_FIN_QUEUED },
		{ 8 /* CLOSE_WAIT */, TCPCP_SIE_FIN_RCVD | TCPCP_SIE_FIN_SENT },
	};
	struct tcpcp_conn c;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		make_conn_min(&c);
		c.state = bad[i].state;
		c.fin_flags = bad[i].fins;
		set_queues(&c, 1000, 10, 0, 2000, 10);
		expect_einval_conn(&c);
		free_queues(&c);
	}
}

Test(roundtrip, fin_sent_and_received)
{
	struct tcpcp_conn c;

	make_conn4(&c); /* CLOSING: our FIN queued, the peer's received */
	c.fin_flags |= TCPCP_SIE_FIN_SENT;
	set_queues(&c, 0x5000, 3000, 0, 0x9000, 100);
	cr_assert_eq(c.sndq_seq + c.sndq_len + 1, c.snd_nxt, "FIN was sent");
	roundtrip(&c, 1);
	free_queues(&c);
}

Test(reject, fin_sent_behind_unsent_bytes)
{
	struct tcpcp_conn c;

	make_conn4(&c);
	c.fin_flags |= TCPCP_SIE_FIN_SENT;
	set_queues(&c, 0x5000, 3000, 10, 0x9000, 100);
	expect_einval_conn(&c);
	free_queues(&c);
}
