// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Writes the fuzzer's seed corpus: make_seeds DIR (fuzz/seeds).
 *
 * Random bytes almost never pass the TCP-SI length and sequence checks, so
 * the fuzzer starts from real buffers, made by the codec's own encoder:
 * IPv4 and IPv6, queues longer than one segment, every half-closed state
 * with the FINs it implies, the extension elements.  One seed is laid out
 * by hand, because the encoder never writes what a decoder must still
 * accept: empty and over-long segments, interleaved queues, unknown and
 * zero-valued elements.
 *
 * The output is committed and meson builds this program but never runs it:
 * a build then needs no generator step, and a change to the encoder cannot
 * silently change what the corpus exercises.  Rerun it when the format
 * changes: build/fuzz/make_seeds fuzz/seeds
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "si_codec.h"

#define ST_ESTABLISHED 1
#define ST_FIN_WAIT1 4
#define ST_FIN_WAIT2 5
#define ST_CLOSE_WAIT 8
#define ST_LAST_ACK 9
#define ST_CLOSING 11

#define SEED_MAX (200u * 1024) /* keeps the corpus quick to replay */

static const char *out_dir;

static void die(const char *what, const char *name)
{
	fprintf(stderr, "make_seeds: %s: %s\n", name, what);
	exit(1);
}

/* Not periodic, so a misplaced segment shows up in the fuzzer's compare. */
static uint8_t *make_data(uint32_t len, uint32_t seed)
{
	uint8_t *d = malloc(len ? len : 1);
	uint32_t x = seed | 1, i;

	if (!d)
		abort();
	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		d[i] = (uint8_t)x;
	}
	return d;
}

static void base_conn(struct tcpcp_conn *c, uint8_t ip_version, uint8_t state,
		      uint8_t fin_flags)
{
	static const uint8_t v4_local[4] = { 192, 0, 2, 1 };
	static const uint8_t v4_peer[4] = { 198, 51, 100, 2 };
	static const uint8_t v6_local[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
	static const uint8_t v6_peer[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 };

	memset(c, 0, sizeof(*c));
	c->fd = 5;
	c->ip_version = ip_version;
	c->state = state;
	c->fin_flags = fin_flags;
	if (ip_version == 4) {
		memcpy(c->local_addr, v4_local, 4);
		memcpy(c->peer_addr, v4_peer, 4);
	} else {
		memcpy(c->local_addr, v6_local, 16);
		memcpy(c->peer_addr, v6_peer, 16);
	}
	c->local_port = 43210;
	c->peer_port = 443;
	c->tcp_opts = 0x07; /* TIMESTAMPS | SACK | WSCALE */
	c->snd_wscale = 7;
	c->rcv_wscale = 9;
	c->snd_mss = c->rcv_mss = ip_version == 4 ? 1448 : 1428;
	c->snd_wnd = 64256;
	c->rcv_wnd = 65535;
	c->ts_recent = 0x01234567;
	c->ts_gen = 0x89abcdef;
	c->sk_flags = TCPCP_SIE_SOCK_KEEPOPEN;
	c->sndbuf = 87040;
	c->rcvbuf = 131072;
	c->ip_flags = ip_version == 4 ? TCPCP_SIE_IP_DEFAULT_TTL :
					TCPCP_SIE_IPV6_DEFAULT_HOPLIMIT;
	c->ttl = 64;
	c->nonagle = 1;
	c->keepcnt = 9;
	c->keepidle = 7200;
	c->keepintvl = 75;
}

/* Lays the queues out as check_queues() in si_codec.c requires (set
 * fin_flags first): our FIN follows the send queue, the peer's precedes
 * rcv_nxt, and a FIN not yet sent counts like an unsent byte. */
static void set_queues(struct tcpcp_conn *c, uint32_t snd_nxt,
		       uint32_t sndq_len, uint32_t unsent, uint32_t rcv_nxt,
		       uint32_t rcvq_len)
{
	uint32_t fin_sent = (c->fin_flags & TCPCP_SIE_FIN_QUEUED) &&
			    (c->fin_flags & TCPCP_SIE_FIN_SENT);
	uint32_t fin_rcvd = !!(c->fin_flags & TCPCP_SIE_FIN_RCVD);

	c->snd_nxt = snd_nxt;
	c->sndq_len = sndq_len;
	c->unsent = unsent;
	c->sndq_seq = snd_nxt + unsent - fin_sent - sndq_len;
	c->sndq = sndq_len ? make_data(sndq_len, snd_nxt) : NULL;
	c->rcv_nxt = rcv_nxt;
	c->rcvq_len = rcvq_len;
	c->rcvq_seq = rcv_nxt - fin_rcvd - rcvq_len;
	c->rcvq = rcvq_len ? make_data(rcvq_len, ~rcv_nxt) : NULL;
}

static void set_window(struct tcpcp_conn *c)
{
	c->has_window = true;
	c->window.snd_wl1 = c->rcv_nxt - 100;
	c->window.snd_wnd = c->snd_wnd;
	c->window.max_window = 65535u << 2;
	c->window.rcv_wnd = c->rcv_wnd;
	c->window.rcv_wup = c->rcv_nxt;
}

static void add_xopt_int(struct tcpcp_conn *c, uint16_t level, uint16_t name,
			 uint32_t v)
{
	struct tcpcp_xopt *x = &c->xopts[c->nxopts++];

	x->level = level;
	x->name = name;
	x->len = 4;
	memcpy(x->val, &v, 4); /* host order in the struct */
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

static void free_conns(struct tcpcp_conn *c, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		free((void *)c[i].sndq);
		free((void *)c[i].rcvq);
	}
}

/* A seed the codec itself refuses would only teach the fuzzer -EINVAL. */
static void write_buf(const char *name, const uint8_t *buf, uint32_t size)
{
	char path[4096];
	unsigned int count;
	FILE *f;

	if (si_check(buf, size, &count))
		die("the codec refuses it", name);
	if (size > SEED_MAX)
		die("over 200 KB", name);
	snprintf(path, sizeof(path), "%s/%s", out_dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, size, f) != size || fclose(f))
		die("cannot write", path);
	printf("%s: %u connection(s), %u bytes\n", name, count, size);
}

static void write_seed(const char *name, struct tcpcp_conn *c, unsigned int n)
{
	uint32_t size = TCPCP_SI_TOTAL_HDR_LEN, off;
	unsigned int i;
	uint8_t *buf;

	for (i = 0; i < n; i++)
		size += si_conn_size(&c[i]);
	buf = malloc(size);
	if (!buf)
		abort();
	si_encode_total(buf, size, (uint16_t)n);
	for (i = 0, off = TCPCP_SI_TOTAL_HDR_LEN; i < n; i++) {
		si_encode_conn(buf + off, &c[i]);
		off += si_conn_size(&c[i]);
	}
	write_buf(name, buf, size);
	free(buf);
	free_conns(c, n);
}

/* Every element and option an established IPv4 connection can carry. */
static void v4_established(struct tcpcp_conn *c)
{
	static const uint8_t ip_opt[8] = { 0x01, 0x01, 0x01, 0x01,
					   0x01, 0x01, 0x01, 0x00 };

	base_conn(c, 4, ST_ESTABLISHED, 0);
	set_queues(c, 0x10000000, 3000, 1200, 0x20000000, 1500);
	set_window(c);
	c->mss_clamp = 1460;
	c->has_fd_flags = true;
	c->fd_flags = TCPCP_SIE_FD_NONBLOCK | TCPCP_SIE_FD_CLOEXEC;
	c->sk_flags |= TCPCP_SIE_SOCK_REUSEADDR | TCPCP_SIE_SOCK_LINGER;
	c->l_linger = 5;
	c->priority = 6;
	c->tos = 0x10;
	c->ip_opt_len = sizeof(ip_opt);
	memcpy(c->ip_opt, ip_opt, sizeof(ip_opt));
	add_xopt_int(c, 1, 36, 0x2a);    /* SO_MARK */
	add_xopt_int(c, 6, 18, 30000);   /* TCP_USER_TIMEOUT */
	add_xopt_str(c, 6, 13, "cubic"); /* TCP_CONGESTION */
	add_xopt_int(c, 6, 25, 16384);   /* TCP_NOTSENT_LOWAT */
	add_xopt_int(c, 6, 3, 1);        /* TCP_CORK */
}

/* Link-local, so scope_id and its device; three send segments, and the
 * unsent tail starts inside the first one. */
static void v6_big_sndq(struct tcpcp_conn *c)
{
	static const uint8_t ll[16] = { 0xfe, 0x80, [15] = 1 };

	base_conn(c, 6, ST_ESTABLISHED, 0);
	memcpy(c->local_addr, ll, 16);
	c->scope_id = 2;
	strcpy(c->ifname, "eth0");
	set_queues(c, 0x7ffff000, 2 * TCPCP_SI_SEG_MAX + 1000, 70000,
		   0x00abcdef, 2000);
	set_window(c);
	c->userlocks = 3; /* SOCK_SNDBUF_LOCK | SOCK_RCVBUF_LOCK */
	add_xopt_int(c, 41, 67, 0x28);  /* IPV6_TCLASS */
	add_xopt_str(c, 1, 25, "eth0"); /* SO_BINDTODEVICE */
}

/* Two receive segments, and both queues straddle sequence number 0. */
static void v4_big_rcvq_wrap(struct tcpcp_conn *c)
{
	base_conn(c, 4, ST_ESTABLISHED, 0);
	set_queues(c, 0xffffffd0, 100, 40, 0x00000800,
		   TCPCP_SI_SEG_MAX + 4000);
}

static void fin_wait1_unsent(struct tcpcp_conn *c)
{
	base_conn(c, 4, ST_FIN_WAIT1, TCPCP_SIE_FIN_QUEUED);
	set_queues(c, 0x30000000, 500, 200, 0x40000000, 0);
}

static void fin_wait1_sent(struct tcpcp_conn *c)
{
	base_conn(c, 6, ST_FIN_WAIT1,
		  TCPCP_SIE_FIN_QUEUED | TCPCP_SIE_FIN_SENT);
	set_queues(c, 0x30000000, 300, 0, 0x40000000, 50);
	set_window(c);
}

/* Also carries TCPCP_XOPT_MAX options, the most a connection may: one
 * element more must be refused. */
static void fin_wait2(struct tcpcp_conn *c)
{
	uint32_t i;

	base_conn(c, 4, ST_FIN_WAIT2, 0);
	set_queues(c, 0x50000000, 0, 0, 0x60000000, 100);
	add_xopt_str(c, 6, 13, "reno");
	for (i = 1; c->nxopts < TCPCP_XOPT_MAX; i++)
		add_xopt_int(c, 1, 36, i); /* SO_MARK */
}

/* Small and carrying every IPv6 element, so that byte mutations land on
 * them far more often than in the big seeds. */
static void close_wait(struct tcpcp_conn *c)
{
	static const uint8_t ll[16] = { 0xfe, 0x80, [15] = 3 };

	base_conn(c, 6, ST_CLOSE_WAIT, TCPCP_SIE_FIN_RCVD);
	memcpy(c->peer_addr, ll, 16);
	c->scope_id = 3;
	strcpy(c->ifname, "enp0s31f6.100");
	set_queues(c, 0x70000000, 400, 100, 0x80000000, 250);
	set_window(c);
	c->mss_clamp = 1400;
	c->has_fd_flags = true;
	c->fd_flags = TCPCP_SIE_FD_CLOEXEC;
	add_xopt_int(c, 41, 67, 0xb8);           /* IPV6_TCLASS */
	add_xopt_str(c, 1, 25, "enp0s31f6.100"); /* SO_BINDTODEVICE */
	add_xopt_str(c, 6, 13, "bbr");           /* TCP_CONGESTION */
}

static void last_ack(struct tcpcp_conn *c)
{
	base_conn(c, 4, ST_LAST_ACK, TCPCP_SIE_FIN_RCVD |
		  TCPCP_SIE_FIN_QUEUED | TCPCP_SIE_FIN_SENT);
	set_queues(c, 0x90000000, 120, 0, 0xa0000000, 0);
}

static void last_ack_unsent(struct tcpcp_conn *c)
{
	base_conn(c, 6, ST_LAST_ACK, TCPCP_SIE_FIN_RCVD |
		  TCPCP_SIE_FIN_QUEUED);
	set_queues(c, 0x90000000, 200, 80, 0xa0000000, 0);
}

static void closing(struct tcpcp_conn *c)
{
	base_conn(c, 4, ST_CLOSING, TCPCP_SIE_FIN_RCVD |
		  TCPCP_SIE_FIN_QUEUED | TCPCP_SIE_FIN_SENT);
	set_queues(c, 0xb0000000, 0, 0, 0xc0000000, 0);
}

static void one(const char *name, void (*make)(struct tcpcp_conn *))
{
	struct tcpcp_conn c;

	make(&c);
	write_seed(name, &c, 1);
}

static void multi(void)
{
	struct tcpcp_conn c[4];

	v4_established(&c[0]);
	fin_wait2(&c[1]);
	c[1].fd = 6;
	close_wait(&c[2]);
	c[2].fd = 7;
	closing(&c[3]);
	c[3].fd = 8;
	write_seed("multi.si", c, 4);
}

/* ---- the hand-laid seed ---- */

static uint8_t *put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return p + 2;
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
	return p + 4;
}

/* Padding is filled with 0xee: readers must ignore it. */
static uint8_t *seg(uint8_t *p, uint8_t type, uint32_t seq,
		    const uint8_t *data, uint16_t len)
{
	uint32_t padded = (len + 3u) & ~3u;

	memset(p, 0, TCPCP_SI_SKB_HDR_LEN);
	p[0] = type;
	put16(p + 2, len);
	p[4] = 0x18; /* PSH | ACK */
	put32(p + 12, seq);
	memset(p + TCPCP_SI_SKB_HDR_LEN, 0xee, padded);
	memcpy(p + TCPCP_SI_SKB_HDR_LEN, data, len);
	return p + TCPCP_SI_SKB_HDR_LEN + padded;
}

static uint8_t *ext(uint8_t *p, uint8_t type, const void *data, uint16_t len)
{
	uint32_t padded = (len + 3u) & ~3u;

	memset(p, 0, TCPCP_SI_EXT_HDR_LEN);
	p[0] = type;
	put16(p + 2, len);
	memset(p + TCPCP_SI_EXT_HDR_LEN, 0xee, padded);
	memcpy(p + TCPCP_SI_EXT_HDR_LEN, data, len);
	return p + TCPCP_SI_EXT_HDR_LEN + padded;
}

static uint8_t *ext32(uint8_t *p, uint8_t type, uint32_t v)
{
	uint8_t be[4];

	put32(be, v);
	return ext(p, type, be, 4);
}

/* A socket option element: level, name, then a network-order integer. */
static uint8_t *xopt32(uint8_t *p, uint16_t level, uint16_t name, uint32_t v)
{
	uint8_t d[8];

	put32(put16(put16(d, level), name), v);
	return ext(p, TCPCP_SIE_EXT_SOCKOPT, d, sizeof(d));
}

/*
 * Send queue split 0 + 5 + 65535 (over TCPCP_SI_SEG_MAX) + 2 bytes, the
 * receive queue 10 + 0 + 20, the two interleaved with extension elements:
 * unknown ones (a newer minor's, to be skipped), zero-valued ones (FIN 0,
 * MSS clamp 0, fd flags 0, empty ifname) and a repeated socket option.
 */
static uint8_t *odd_elements(uint8_t *p, const struct tcpcp_conn *c)
{
	static const uint8_t zero[TCPCP_IFNAME_LEN];
	static const uint8_t unknown[6] = { 'f', 'u', 't', 'u', 'r', 'e' };
	uint32_t s = c->sndq_seq, r = c->rcvq_seq;
	const uint8_t *sd = c->sndq, *rd = c->rcvq;

	p = seg(p, TCPCP_SIE_BUF_RCV, r, rd, 10);
	p = ext(p, 99, unknown, sizeof(unknown));
	p = seg(p, TCPCP_SIE_BUF_SND, s, sd, 0);
	p = seg(p, TCPCP_SIE_BUF_SND, s, sd, 5);
	p = ext32(p, TCPCP_SIE_EXT_FIN, 0);
	p = seg(p, TCPCP_SIE_BUF_RCV, r + 10, rd + 10, 0);
	p = seg(p, TCPCP_SIE_BUF_SND, s + 5, sd + 5, 65535);
	p = ext32(p, TCPCP_SIE_EXT_SNDQ, c->unsent);
	p = xopt32(p, 1, 36, 7); /* SO_MARK, twice */
	p = ext(p, 255, unknown, 0);
	p = seg(p, TCPCP_SIE_BUF_RCV, r + 10, rd + 10, 20);
	p = ext32(p, TCPCP_SIE_EXT_MSS, 0);
	p = ext32(p, TCPCP_SIE_EXT_FDFLAGS, 0);
	p = ext(p, TCPCP_SIE_EXT_IFNAME, zero, sizeof(zero));
	p = xopt32(p, 1, 36, 8);
	return seg(p, TCPCP_SIE_BUF_SND, s + 65540, sd + 65540, 2);
}

static void odd_layout(void)
{
	struct tcpcp_conn c, bare;
	uint32_t size;
	uint8_t *buf, *end;

	base_conn(&c, 4, ST_ESTABLISHED, 0);
	set_queues(&c, 0xdead0000, 65542, 7, 0xbeef0000, 30);
	/* the encoder writes the header; the elements are laid out here */
	bare = c;
	bare.sndq_len = bare.rcvq_len = bare.unsent = 0;
	buf = calloc(1, TCPCP_SI_TOTAL_HDR_LEN + TCPCP_SI_HDR_LEN + 70000);
	if (!buf)
		abort();
	si_encode_conn(buf + TCPCP_SI_TOTAL_HDR_LEN, &bare);
	end = odd_elements(buf + TCPCP_SI_TOTAL_HDR_LEN + TCPCP_SI_HDR_LEN, &c);
	size = (uint32_t)(end - buf);
	put32(buf + TCPCP_SI_TOTAL_HDR_LEN, (size - TCPCP_SI_TOTAL_HDR_LEN) / 4);
	si_encode_total(buf, size, 1);
	write_buf("odd-layout.si", buf, size);
	free(buf);
	free_conns(&c, 1);
}

int main(int argc, char **argv)
{
	uint8_t empty[TCPCP_SI_TOTAL_HDR_LEN];

	if (argc != 2) {
		fprintf(stderr, "usage: make_seeds DIR\n");
		return 2;
	}
	out_dir = argv[1];
	one("v4-established.si", v4_established);
	one("v6-big-sndq.si", v6_big_sndq);
	one("v4-big-rcvq-wrap.si", v4_big_rcvq_wrap);
	one("fin-wait1-unsent.si", fin_wait1_unsent);
	one("fin-wait1-sent.si", fin_wait1_sent);
	one("fin-wait2.si", fin_wait2);
	one("close-wait.si", close_wait);
	one("last-ack.si", last_ack);
	one("last-ack-unsent.si", last_ack_unsent);
	one("closing.si", closing);
	multi();
	odd_layout();
	si_encode_total(empty, sizeof(empty), 0);
	write_buf("empty.si", empty, sizeof(empty));
	return 0;
}
