// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Writes the image fuzzer's seed corpus: make_image_seeds DIR
 * (fuzz/seeds-image).
 *
 * A random buffer never gets past the CRC, so the fuzzer starts from real
 * images made by the image code's own encoder around real TCP-SI buffers:
 * no connection, one (IPv4 or IPv6, accepted or connected), three of every
 * kind.  A few are then broken on purpose (bad CRC; a wrong version, a
 * record of no kind and a truncated TCP-SI, each with its CRC made right
 * again) so that the corpus also reaches each refusal past the CRC.
 *
 * Everything is fixed (time, pid, host, addresses), so that a rerun writes
 * the same bytes and the tool's test (tests/tools/test_tool.py) can run
 * this program to get images whose contents it knows.  Like make_seeds,
 * meson builds it but never runs it over the committed corpus; rerun it
 * when the format changes: build/fuzz/make_image_seeds fuzz/seeds-image
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "si_codec.h"

#define ST_ESTABLISHED 1
#define ST_FIN_WAIT1 4
#define ST_CLOSE_WAIT 8

/* 2026-01-02T03:04:05.678Z */
#define SEED_TIME_NS 1767323045678000000ull
#define SEED_PID 4242

static const char *out_dir;

static void die(const char *what, const char *name)
{
	fprintf(stderr, "make_image_seeds: %s: %s\n", name, what);
	exit(1);
}

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

/* IPv4 192.0.2.1:8080 <- 198.51.100.2:40001, or the IPv6 documentation
 * prefix with the same ports; the FIN flags the state implies. */
static void base_conn(struct tcpcp_conn *c, uint8_t ipv, uint8_t state,
		      uint32_t fd)
{
	static const uint8_t v6_local[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
	static const uint8_t v6_peer[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 };

	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->ip_version = ipv;
	c->state = state;
	if (ipv == 4) {
		memcpy(c->local_addr, "\xc0\x00\x02\x01", 4);
		memcpy(c->peer_addr, "\xc6\x33\x64\x02", 4);
	} else {
		memcpy(c->local_addr, v6_local, 16);
		memcpy(c->peer_addr, v6_peer, 16);
	}
	c->local_port = 8080;
	c->peer_port = (uint16_t)(40000 + fd);
	c->tcp_opts = 0x07; /* TIMESTAMPS | SACK | WSCALE */
	c->snd_wscale = 7;
	c->rcv_wscale = 9;
	c->snd_mss = c->rcv_mss = ipv == 4 ? 1448 : 1428;
	c->snd_wnd = 64256;
	c->rcv_wnd = 65535;
	c->ttl = 64;
	if (state == ST_FIN_WAIT1)
		c->fin_flags = TCPCP_SIE_FIN_QUEUED | TCPCP_SIE_FIN_SENT;
	if (state == ST_CLOSE_WAIT)
		c->fin_flags = TCPCP_SIE_FIN_RCVD;
}

/* Queues as the codec requires them (see make_seeds.c). */
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
	c->sndq = make_data(sndq_len, snd_nxt);
	c->rcv_nxt = rcv_nxt;
	c->rcvq_len = rcvq_len;
	c->rcvq_seq = rcv_nxt - fin_rcvd - rcvq_len;
	c->rcvq = make_data(rcvq_len, ~rcv_nxt);
}

static void *encode_si(struct tcpcp_conn *c, unsigned int n, uint32_t *ret)
{
	uint32_t size = TCPCP_SI_TOTAL_HDR_LEN, off = size;
	unsigned int i;
	uint8_t *buf;

	for (i = 0; i < n; i++)
		size += si_conn_size(&c[i]);
	buf = malloc(size);
	if (!buf)
		abort();
	si_encode_total(buf, size, (uint16_t)n);
	for (i = 0; i < n; i++) {
		si_encode_conn(buf + off, &c[i]);
		off += si_conn_size(&c[i]);
		free((void *)c[i].sndq);
		free((void *)c[i].rcvq);
	}
	*ret = size;
	return buf;
}

static void listener4(struct image_conn *r, int32_t fd)
{
	struct sockaddr_in *s = (void *)&r->listener;

	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->kind = IMAGE_KIND_ACCEPTED;
	s->sin_family = AF_INET;
	s->sin_port = htons(8080);
	s->sin_addr.s_addr = htonl(INADDR_ANY);
	r->listener_len = sizeof(*s);
}

/* A dual-stack wildcard listener, as most servers bind. */
static void listener6(struct image_conn *r, int32_t fd)
{
	struct sockaddr_in6 *s = (void *)&r->listener;

	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->kind = IMAGE_KIND_ACCEPTED;
	s->sin6_family = AF_INET6;
	s->sin6_port = htons(8080);
	s->sin6_addr = in6addr_any;
	r->listener_len = sizeof(*s);
}

static void connected(struct image_conn *r, int32_t fd)
{
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->kind = IMAGE_KIND_CONNECTED;
}

static void write_file(const char *name, const void *buf, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", out_dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, len, f) != len || fclose(f))
		die("cannot write", path);
	printf("%s: %zu bytes\n", name, len);
}

/* Encodes img; breaks it with how (NULL: a valid seed) and writes it. */
static void write_image(const char *name, struct image *img,
			void (*how)(uint8_t *, size_t *))
{
	char why[256];
	struct image back;
	size_t len;
	void *buf;

	img->created_ns = SEED_TIME_NS;
	img->pid = SEED_PID;
	strcpy(img->host, "seedhost");
	if (!img->backend[0])
		strcpy(img->backend, "repair");
	if (image_encode(img, &buf, &len))
		die("the encoder refuses it", name);
	if (how)
		how(buf, &len);
	/* a valid seed must parse, a broken one must not */
	if (!image_parse(buf, len, &back, why, sizeof(why)) != !how)
		die(how ? "still parses" : why, name);
	if (!how)
		image_free(&back);
	write_file(name, buf, len);
	free(buf);
	free(img->si);
}

static void set_conns(struct image *img, struct tcpcp_conn *c,
		      struct image_conn *r, unsigned int n)
{
	memset(img, 0, sizeof(*img));
	img->si = encode_si(c, n, &img->si_len);
	img->n_conns = n;
	img->conns = r;
}

static void none(void)
{
	struct image img;

	set_conns(&img, NULL, NULL, 0);
	strcpy(img.backend, "kmod");
	write_image("empty.img", &img, NULL);
}

static void one_v4_accepted(const char *name,
			    void (*how)(uint8_t *, size_t *))
{
	struct tcpcp_conn c;
	struct image_conn r;
	struct image img;

	base_conn(&c, 4, ST_ESTABLISHED, 5);
	set_queues(&c, 0x10000000, 3000, 1200, 0x20000000, 1500);
	listener4(&r, 5);
	set_conns(&img, &c, &r, 1);
	write_image(name, &img, how);
}

static void one_v6_accepted(void)
{
	struct tcpcp_conn c;
	struct image_conn r;
	struct image img;

	base_conn(&c, 6, ST_FIN_WAIT1, 6);
	set_queues(&c, 0x30000000, 300, 0, 0x40000000, 50);
	listener6(&r, 6);
	set_conns(&img, &c, &r, 1);
	write_image("v6-accepted.img", &img, NULL);
}

static void one_v4_connected(void)
{
	struct tcpcp_conn c;
	struct image_conn r;
	struct image img;

	base_conn(&c, 4, ST_CLOSE_WAIT, 7);
	c.peer_port = 6379;
	set_queues(&c, 0x50000000, 0, 0, 0x60000000, 100);
	connected(&r, 7);
	set_conns(&img, &c, &r, 1);
	write_image("v4-connected.img", &img, NULL);
}

static void three(void)
{
	struct tcpcp_conn c[3];
	struct image_conn r[3];
	struct image img;

	base_conn(&c[0], 4, ST_ESTABLISHED, 5);
	set_queues(&c[0], 0x10000000, 3000, 1200, 0x20000000, 1500);
	listener4(&r[0], 5);
	base_conn(&c[1], 6, ST_ESTABLISHED, 9);
	set_queues(&c[1], 0xfffffff0, 0, 0, 0x7, 0);
	listener6(&r[1], 9);
	base_conn(&c[2], 6, ST_CLOSE_WAIT, 12);
	c[2].tcp_opts = 0;
	c[2].snd_wscale = c[2].rcv_wscale = 0;
	set_queues(&c[2], 0x70000000, 10, 10, 0x80000000, 0);
	connected(&r[2], 12);
	set_conns(&img, c, r, 3);
	write_image("three.img", &img, NULL);
}

/* ---- broken on purpose ---- */

static void put32le(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void fix_crc(uint8_t *b, size_t len)
{
	put32le(b + len - IMAGE_CRC_LEN, crc32c(0, b, len - IMAGE_CRC_LEN));
}

static void bad_crc(uint8_t *b, size_t *len)
{
	b[*len - 1] ^= 0x01;
}

static void wrong_version(uint8_t *b, size_t *len)
{
	b[8] = 2;
	fix_crc(b, *len);
}

/* the record follows the TCP-SI, right before the CRC */
static void kind_zero(uint8_t *b, size_t *len)
{
	b[*len - IMAGE_CRC_LEN - IMAGE_REC_LEN + 4] = 0;
	fix_crc(b, *len);
}

/* The header still says the old TCP-SI length: only the CRC is right. */
static void truncated(uint8_t *b, size_t *len)
{
	memmove(b + *len - 1000, b + *len - IMAGE_CRC_LEN - IMAGE_REC_LEN,
		IMAGE_REC_LEN + IMAGE_CRC_LEN);
	*len -= 1000 - IMAGE_CRC_LEN - IMAGE_REC_LEN;
	fix_crc(b, *len);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: make_image_seeds DIR\n");
		return 2;
	}
	out_dir = argv[1];
	none();
	one_v4_accepted("v4-accepted.img", NULL);
	one_v6_accepted();
	one_v4_connected();
	three();
	one_v4_accepted("bad-crc.img", bad_crc);
	one_v4_accepted("wrong-version.img", wrong_version);
	one_v4_accepted("kind-zero.img", kind_zero);
	one_v4_accepted("truncated.img", truncated);
	return 0;
}
