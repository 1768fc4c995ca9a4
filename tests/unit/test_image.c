// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests for the checkpoint image (lib/image.c, lib/image_done.c,
 * lib/crc32c.c): the on-disk layout, round trips through a file, every
 * refusal of the reader, the file checks of image_read, the atomic write,
 * and the done file.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image.h"
#include "si_codec.h"

#define ST_ESTABLISHED 1
#define ST_CLOSE_WAIT 8

/* Header and record offsets, restated from image.h rather than shared. */
#define H_VERSION 8
#define H_HDR_LEN 10
#define H_CREATED 12
#define H_PID 20
#define H_BACKEND 24
#define H_HOST 40
#define H_N_CONNS 104
#define H_SI_LEN 108
#define R_FD 0
#define R_KIND 4
#define R_FAMILY 5
#define R_PORT 6
#define R_ADDR 8
#define R_SCOPE 24

struct bytes {
	uint8_t *buf;
	size_t len;
};

static char dir[64];

/* ---- little-endian helpers, independent of the image code ---- */

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

/* Bit by bit, the definition the table must agree with. */
static uint32_t crc_slow(const uint8_t *p, size_t len)
{
	uint32_t c = 0xffffffffu;
	int k;

	while (len--) {
		c ^= *p++;
		for (k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
	}
	return ~c;
}

static void fix_crc(struct bytes *b)
{
	wr32(b->buf + b->len - 4, crc_slow(b->buf, b->len - 4));
}

/* ---- a real TCP-SI ---- */

static void make_conn(struct tcpcp_conn *c, uint8_t ipv, uint32_t fd)
{
	static const uint8_t l6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
	static const uint8_t p6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 };
	static uint8_t data[300];

	memset(c, 0, sizeof(*c));
	memset(data, 0x5a, sizeof(data));
	c->fd = fd;
	c->ip_version = ipv;
	c->state = ST_ESTABLISHED;
	if (ipv == 4) {
		memcpy(c->local_addr, "\x0a\x00\x00\x01", 4);
		memcpy(c->peer_addr, "\x0a\x00\x00\x02", 4);
	} else {
		memcpy(c->local_addr, l6, 16);
		memcpy(c->peer_addr, p6, 16);
	}
	c->local_port = 8080;
	c->peer_port = (uint16_t)(40000 + fd);
	c->snd_nxt = 1000 + fd;
	c->sndq_len = 300;
	c->unsent = 100;
	c->sndq_seq = c->snd_nxt + c->unsent - c->sndq_len;
	c->sndq = data;
	c->rcv_nxt = 5000;
	c->rcvq_len = 20;
	c->rcvq_seq = c->rcv_nxt - 20;
	c->rcvq = data;
}

static void *make_si(unsigned int n, uint32_t *ret_len)
{
	struct tcpcp_conn c[3];
	uint32_t size = TCPCP_SI_TOTAL_HDR_LEN, off = size;
	unsigned int i, count;
	uint8_t *buf;

	cr_assert(n <= 3);
	for (i = 0; i < n; i++) {
		make_conn(&c[i], i == 1 ? 6 : 4, 5 + i);
		size += si_conn_size(&c[i]);
	}
	buf = malloc(size);
	cr_assert_not_null(buf);
	si_encode_total(buf, size, (uint16_t)n);
	for (i = 0; i < n; i++) {
		si_encode_conn(buf + off, &c[i]);
		off += si_conn_size(&c[i]);
	}
	cr_assert_eq(si_check(buf, size, &count), 0);
	*ret_len = size;
	return buf;
}

/* Record i: 0 accepted IPv4, 1 accepted IPv6 with a scope, 2 connected. */
static void make_rec(struct image_conn *r, unsigned int i)
{
	struct sockaddr_in *s4 = (void *)&r->listener;
	struct sockaddr_in6 *s6 = (void *)&r->listener;

	memset(r, 0, sizeof(*r));
	r->fd = (int32_t)(5 + i);
	if (i == 0) {
		r->kind = IMAGE_KIND_ACCEPTED;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(8080);
		memcpy(&s4->sin_addr, "\x0a\x00\x00\x01", 4);
		r->listener_len = sizeof(*s4);
	} else if (i == 1) {
		r->kind = IMAGE_KIND_ACCEPTED;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(443);
		s6->sin6_addr.s6_addr[0] = 0xfe;
		s6->sin6_addr.s6_addr[1] = 0x80;
		s6->sin6_addr.s6_addr[15] = 7;
		s6->sin6_scope_id = 0x01020304;
		r->listener_len = sizeof(*s6);
	} else {
		r->kind = IMAGE_KIND_CONNECTED;
	}
}

static void make_image(struct image *img, unsigned int n)
{
	unsigned int i;

	memset(img, 0, sizeof(*img));
	img->created_ns = 0x0102030405060708ull;
	img->pid = 0x0a0b0c0d;
	strcpy(img->host, "host.example");
	strcpy(img->backend, "repair");
	img->si = make_si(n, &img->si_len);
	img->n_conns = n;
	img->conns = n ? calloc(n, sizeof(*img->conns)) : NULL;
	for (i = 0; i < n; i++)
		make_rec(&img->conns[i], i);
}

static struct bytes encoded(unsigned int n)
{
	struct image img;
	struct bytes b;
	void *buf;

	make_image(&img, n);
	cr_assert_eq(image_encode(&img, &buf, &b.len), 0);
	b.buf = buf;
	image_free(&img);
	return b;
}

static void assert_same(const struct image *a, const struct image *b)
{
	unsigned int i;

	cr_assert_eq(a->created_ns, b->created_ns);
	cr_assert_eq(a->pid, b->pid);
	cr_assert_str_eq(a->host, b->host);
	cr_assert_str_eq(a->backend, b->backend);
	cr_assert_eq(a->si_len, b->si_len);
	cr_assert_eq(memcmp(a->si, b->si, a->si_len), 0);
	cr_assert_eq(a->n_conns, b->n_conns);
	for (i = 0; i < a->n_conns; i++) {
		const struct image_conn *x = &a->conns[i], *y = &b->conns[i];

		cr_assert_eq(x->fd, y->fd, "record %u", i);
		cr_assert_eq(x->kind, y->kind, "record %u", i);
		cr_assert_eq(x->listener_len, y->listener_len, "record %u", i);
		cr_assert_eq(memcmp(&x->listener, &y->listener, x->listener_len),
			     0, "record %u", i);
	}
}

/* ---- files ---- */

static void make_dir(void)
{
	strcpy(dir, "/tmp/tcpcp-test-image.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void)
{
	struct dirent *e;
	DIR *d = opendir(dir);
	char p[512];

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' && (!e->d_name[1] ||
		    (e->d_name[1] == '.' && !e->d_name[2])))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (unlink(p))
			rmdir(p);
	}
	closedir(d);
	rmdir(dir);
}

static const char *in_dir(const char *name)
{
	static char p[4][512];
	static int k;

	k = (k + 1) % 4;
	snprintf(p[k], sizeof(p[k]), "%s/%s", dir, name);
	return p[k];
}

static unsigned int entries(void)
{
	struct dirent *e;
	DIR *d = opendir(dir);
	unsigned int n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void put_file(const char *path, const void *buf, size_t len,
		     mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, buf, len), (ssize_t)len);
	cr_assert_eq(fchmod(fd, mode), 0);
	close(fd);
}

static void put_text(const char *path, const char *text)
{
	put_file(path, text, strlen(text), 0600);
}

/* ---- the parser's contract on a refusal ---- */

/* An image the parser must refuse, with a reason containing want;
 * the output is left alone. */
static void refused(const struct bytes *b, const char *want)
{
	struct image out;
	char why[256] = "";
	size_t i;
	int err;

	memset(&out, 0xa5, sizeof(out));
	err = image_parse(b->buf, b->len, &out, why, sizeof(why));
	cr_assert_eq(err, -EINVAL, "accepted; wanted \"%s\"", want);
	cr_assert_neq(why[0], '\0');
	cr_assert_null(strchr(why, '\n'));
	if (want)
		cr_assert_not_null(strstr(why, want), "\"%s\", wanted \"%s\"",
				   why, want);
	for (i = 0; i < sizeof(out); i++)
		cr_assert_eq(((uint8_t *)&out)[i], 0xa5, "output touched");
}

static uint8_t *rec(const struct bytes *b, unsigned int i)
{
	return b->buf + b->len - 4 - (rd32(b->buf + H_N_CONNS) - i) * 28;
}

TestSuite(crc);
TestSuite(layout);
TestSuite(roundtrip, .init = make_dir, .fini = remove_dir);
TestSuite(reject);
TestSuite(encode);
TestSuite(file, .init = make_dir, .fini = remove_dir);
TestSuite(write, .init = make_dir, .fini = remove_dir);
TestSuite(done, .init = make_dir, .fini = remove_dir);

/* ---- crc ---- */

Test(crc, check_value)
{
	cr_assert_eq(crc32c(0, "123456789", 9), 0xe3069283u);
	cr_assert_eq(crc32c(0, "", 0), 0);
}

Test(crc, table_matches_the_definition)
{
	uint8_t buf[256];
	unsigned int i;

	for (i = 0; i < 256; i++) {
		buf[i] = (uint8_t)i;
		cr_assert_eq(crc32c(0, buf + i, 1), crc_slow(buf + i, 1),
			     "byte %u", i);
	}
	cr_assert_eq(crc32c(0, buf, sizeof(buf)), crc_slow(buf, sizeof(buf)));
}

/* Every length and offset around the eight-byte steps of the crc32
 * instruction, against the definition. */
Test(crc, lengths_and_offsets)
{
	uint8_t buf[96];
	unsigned int i, off, len;

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 37 + 11);
	for (off = 0; off < 8; off++)
		for (len = 0; off + len <= sizeof(buf); len++)
			cr_assert_eq(crc32c(0, buf + off, len),
				     crc_slow(buf + off, len),
				     "offset %u, length %u", off, len);
}

Test(crc, chains)
{
	const char *s = "123456789";

	cr_assert_eq(crc32c(crc32c(0, s, 4), s + 4, 5), 0xe3069283u);
}

/* ---- layout ---- */

Test(layout, header_and_records)
{
	struct bytes b = encoded(3);
	uint32_t si_len = rd32(b.buf + H_SI_LEN);
	uint8_t *r;

	cr_assert_eq(memcmp(b.buf, "TCPCPIMG", 8), 0);
	cr_assert_eq(rd16(b.buf + H_VERSION), 1);
	cr_assert_eq(rd16(b.buf + H_HDR_LEN), IMAGE_HDR_LEN);
	cr_assert_eq(rd32(b.buf + H_CREATED), 0x05060708u);
	cr_assert_eq(rd32(b.buf + H_CREATED + 4), 0x01020304u);
	cr_assert_eq(rd32(b.buf + H_PID), 0x0a0b0c0du);
	cr_assert_str_eq((char *)b.buf + H_BACKEND, "repair");
	cr_assert_str_eq((char *)b.buf + H_HOST, "host.example");
	cr_assert_eq(rd32(b.buf + H_N_CONNS), 3);
	cr_assert_eq(b.len, IMAGE_HDR_LEN + si_len + 3 * IMAGE_REC_LEN + 4);
	cr_assert_eq(IMAGE_REC_LEN, 28);
	cr_assert_eq(IMAGE_HDR_LEN, 112);

	r = rec(&b, 0);
	cr_assert_eq(rd32(r + R_FD), 5);
	cr_assert_eq(r[R_KIND], 1);
	cr_assert_eq(r[R_FAMILY], 4);
	cr_assert_eq(rd16(r + R_PORT), 8080);
	cr_assert_eq(memcmp(r + R_ADDR, "\x0a\x00\x00\x01", 4), 0);
	r = rec(&b, 1);
	cr_assert_eq(r[R_FAMILY], 6);
	cr_assert_eq(rd16(r + R_PORT), 443);
	cr_assert_eq(r[R_ADDR], 0xfe);
	cr_assert_eq(rd32(r + R_SCOPE), 0x01020304u);
	r = rec(&b, 2);
	cr_assert_eq(rd32(r + R_FD), 7);
	cr_assert_eq(r[R_KIND], 2);
	cr_assert_eq(r[R_FAMILY], 0);
	cr_assert_eq(rd32(b.buf + b.len - 4), crc_slow(b.buf, b.len - 4));
	free(b.buf);
}

/* ---- round trips ---- */

static void file_roundtrip(unsigned int n)
{
	struct image img, back;
	char why[256];
	struct stat st;

	make_image(&img, n);
	cr_assert_eq(image_write(in_dir("x.img"), &img, why, sizeof(why)), 0,
		     "%s", why);
	cr_assert_eq(stat(in_dir("x.img"), &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0600);
	cr_assert_eq(image_read(in_dir("x.img"), &back, why, sizeof(why)), 0,
		     "%s", why);
	assert_same(&img, &back);
	cr_assert_eq(entries(), 1, "a temporary file was left behind");
	image_free(&back);
	image_free(&back); /* freed twice: a freed image is a zeroed one */
	image_free(&img);
}

Test(roundtrip, no_connections)
{
	file_roundtrip(0);
}

Test(roundtrip, one_connection)
{
	file_roundtrip(1);
}

Test(roundtrip, three_connections)
{
	file_roundtrip(3);
}

Test(roundtrip, in_memory)
{
	struct bytes b = encoded(3);
	struct image img;
	size_t len;
	void *again;

	cr_assert_eq(image_parse(b.buf, b.len, &img, NULL, 0), 0);
	cr_assert_eq(image_encode(&img, &again, &len), 0);
	cr_assert_eq(len, b.len);
	cr_assert_eq(memcmp(again, b.buf, len), 0);
	free(again);
	image_free(&img);
	free(b.buf);
}

Test(roundtrip, overwrites)
{
	struct image a, b, back;

	make_image(&a, 1);
	make_image(&b, 3);
	cr_assert_eq(image_write(in_dir("x.img"), &a, NULL, 0), 0);
	cr_assert_eq(image_write(in_dir("x.img"), &b, NULL, 0), 0);
	cr_assert_eq(image_read(in_dir("x.img"), &back, NULL, 0), 0);
	assert_same(&b, &back);
	cr_assert_eq(entries(), 1);
	image_free(&a);
	image_free(&b);
	image_free(&back);
}

/* ---- refusals ---- */

Test(reject, every_truncation)
{
	struct bytes b = encoded(1);
	size_t full = b.len;

	for (b.len = 0; b.len < full; b.len++)
		refused(&b, NULL);
	b.len = full;
	free(b.buf);
}

Test(reject, every_byte_flipped)
{
	struct bytes b = encoded(3);
	size_t i;

	for (i = 0; i < b.len; i++) {
		b.buf[i] ^= 0x40;
		refused(&b, NULL);
		b.buf[i] ^= 0x40;
	}
	free(b.buf);
}

Test(reject, bad_crc)
{
	struct bytes b = encoded(1);

	b.buf[IMAGE_HDR_LEN + 40] ^= 1; /* inside the TCP-SI */
	refused(&b, "bad CRC");
	b.buf[IMAGE_HDR_LEN + 40] ^= 1;
	b.buf[b.len - 1] ^= 0x80; /* the CRC itself */
	refused(&b, "bad CRC");
	free(b.buf);
}

Test(reject, trailing_garbage)
{
	struct bytes b = encoded(1);

	b.buf = realloc(b.buf, b.len + 1);
	b.buf[b.len++] = 0;
	refused(&b, "trailing garbage");
	free(b.buf);
}

Test(reject, wrong_magic)
{
	struct bytes b = encoded(0);

	b.buf[3] = 'x';
	fix_crc(&b);
	refused(&b, "wrong magic");
	free(b.buf);
}

Test(reject, wrong_version)
{
	struct bytes b = encoded(1);
	struct image out;
	char why[256];

	wr16(b.buf + H_VERSION, 7);
	fix_crc(&b);
	cr_assert_eq(image_parse(b.buf, b.len, &out, why, sizeof(why)),
		     -EINVAL);
	cr_assert_str_eq(why, "version 7, this build reads 1");
	free(b.buf);
}

Test(reject, header_length)
{
	struct bytes b = encoded(1);

	wr16(b.buf + H_HDR_LEN, IMAGE_HDR_LEN + 4);
	fix_crc(&b);
	refused(&b, "header length");
	free(b.buf);
}

Test(reject, lengths_disagree)
{
	struct bytes b = encoded(1);

	wr32(b.buf + H_SI_LEN, rd32(b.buf + H_SI_LEN) + 28);
	fix_crc(&b);
	refused(&b, "truncated");
	wr32(b.buf + H_SI_LEN, rd32(b.buf + H_SI_LEN) - 56);
	fix_crc(&b);
	refused(&b, "trailing garbage");
	wr32(b.buf + H_SI_LEN, rd32(b.buf + H_SI_LEN) + 28);
	wr32(b.buf + H_N_CONNS, 0xffffffffu); /* no 32-bit overflow */
	fix_crc(&b);
	refused(&b, "truncated");
	free(b.buf);
}

Test(reject, malformed_tcp_si)
{
	struct bytes b = encoded(1);

	b.buf[IMAGE_HDR_LEN + 4] = 99; /* the TCP-SI's major version */
	fix_crc(&b);
	refused(&b, "TCP-SI is malformed");
	free(b.buf);
}

/* Two records for a TCP-SI of one connection, lengths all consistent. */
Test(reject, count_differs_from_tcp_si)
{
	struct bytes b = encoded(1);

	b.buf = realloc(b.buf, b.len + 28);
	memcpy(b.buf + b.len - 4, b.buf + b.len - 32, 28); /* the record */
	b.len += 28;
	wr32(b.buf + H_N_CONNS, 2);
	fix_crc(&b);
	refused(&b, "TCP-SI holds 1 connections, the header 2");
	free(b.buf);
}

Test(reject, kind)
{
	struct bytes b = encoded(3);
	static const uint8_t kinds[] = { 0, 3, 255 };
	size_t i;

	for (i = 0; i < sizeof(kinds); i++) {
		rec(&b, 2)[R_KIND] = kinds[i];
		fix_crc(&b);
		refused(&b, "kind");
	}
	free(b.buf);
}

Test(reject, accepted_needs_a_listener)
{
	struct bytes b = encoded(1);
	uint8_t *r = rec(&b, 0);

	memset(r + R_FAMILY, 0, 28 - R_FAMILY);
	fix_crc(&b);
	refused(&b, "listener family 0");
	r[R_FAMILY] = 5;
	fix_crc(&b);
	refused(&b, "listener family 5");
	free(b.buf);
}

Test(reject, connected_has_no_listener)
{
	struct bytes b = encoded(3);
	uint8_t *r = rec(&b, 2);

	r[R_FAMILY] = 4;
	fix_crc(&b);
	refused(&b, "connected socket with a listener");
	r[R_FAMILY] = 0;
	r[R_SCOPE + 3] = 1; /* any byte at all */
	fix_crc(&b);
	refused(&b, "connected socket with a listener");
	free(b.buf);
}

Test(reject, ipv4_listener_padding)
{
	struct bytes b = encoded(1);

	rec(&b, 0)[R_ADDR + 4] = 1;
	fix_crc(&b);
	refused(&b, "after the IPv4 address");
	rec(&b, 0)[R_ADDR + 4] = 0;
	rec(&b, 0)[R_SCOPE] = 1;
	fix_crc(&b);
	refused(&b, "after the IPv4 address");
	free(b.buf);
}

Test(reject, negative_fd)
{
	struct bytes b = encoded(1);

	wr32(rec(&b, 0) + R_FD, 0x80000000u);
	fix_crc(&b);
	refused(&b, "fd -2147483648");
	free(b.buf);
}

Test(reject, names_not_terminated)
{
	struct bytes b = encoded(0);

	memset(b.buf + H_HOST, 'h', IMAGE_HOST_MAX);
	fix_crc(&b);
	refused(&b, "host name not NUL-terminated");
	free(b.buf);
	b = encoded(0);
	memset(b.buf + H_BACKEND, 'b', IMAGE_BACKEND_MAX);
	fix_crc(&b);
	refused(&b, "backend name not NUL-terminated");
	free(b.buf);
}

Test(reject, names_padding)
{
	struct bytes b = encoded(0);

	b.buf[H_HOST + IMAGE_HOST_MAX - 1] = 'x';
	fix_crc(&b);
	refused(&b, "after the host name");
	free(b.buf);
}

Test(reject, null_and_empty)
{
	struct bytes b = { NULL, 0 };

	refused(&b, "truncated");
}

/* ---- what the encoder refuses or adjusts ---- */

static int try_encode(const struct image *img)
{
	void *buf = NULL;
	size_t len;
	int err = image_encode(img, &buf, &len);

	free(buf);
	return err;
}

Test(encode, refuses_what_the_reader_would)
{
	struct image img;

	make_image(&img, 3);
	img.n_conns = 2;
	cr_assert_eq(try_encode(&img), -EINVAL);
	img.n_conns = 3;
	img.conns[1].fd = -1;
	cr_assert_eq(try_encode(&img), -EINVAL);
	img.conns[1].fd = 6;
	img.conns[2].listener_len = 16; /* connected with a listener */
	cr_assert_eq(try_encode(&img), -EINVAL);
	img.conns[2].listener_len = 0;
	img.conns[1].listener_len = sizeof(struct sockaddr_in); /* short v6 */
	cr_assert_eq(try_encode(&img), -EINVAL);
	img.conns[1].listener_len = sizeof(struct sockaddr_in6);
	img.conns[0].kind = 9;
	cr_assert_eq(try_encode(&img), -EINVAL);
	img.conns[0].kind = IMAGE_KIND_ACCEPTED;
	strcpy(img.backend, "0123456789abcdef");
	cr_assert_eq(try_encode(&img), -EINVAL);
	strcpy(img.backend, "kmod");
	((uint8_t *)img.si)[4] = 99;
	cr_assert_eq(try_encode(&img), -EINVAL);
	((uint8_t *)img.si)[4] = TCPCP_SI_MAJOR;
	cr_assert_eq(try_encode(&img), 0);
	image_free(&img);
}

Test(encode, cuts_a_long_host_name)
{
	struct image img, back;
	struct bytes b;
	void *buf;

	make_image(&img, 0);
	memset(img.host, 'h', IMAGE_HOST_MAX);
	img.host[IMAGE_HOST_MAX] = '\0';
	cr_assert_eq(image_encode(&img, &buf, &b.len), 0);
	b.buf = buf;
	cr_assert_eq(image_parse(b.buf, b.len, &back, NULL, 0), 0);
	cr_assert_eq(strlen(back.host), IMAGE_HOST_MAX - 1);
	image_free(&back);
	image_free(&img);
	free(b.buf);
}

/* ---- image_read's file checks ---- */

static int read_path(const char *path, char *why, size_t why_len)
{
	struct image img;
	int err = image_read(path, &img, why, why_len);

	if (!err)
		image_free(&img);
	return err;
}

Test(file, group_writable)
{
	struct bytes b = encoded(1);
	char why[256];

	put_file(in_dir("x.img"), b.buf, b.len, 0620);
	cr_assert_eq(read_path(in_dir("x.img"), why, sizeof(why)), -EPERM);
	cr_assert_str_eq(why, "writable by group or others (mode 0620)");
	cr_assert_eq(chmod(in_dir("x.img"), 0602), 0);
	cr_assert_eq(read_path(in_dir("x.img"), why, sizeof(why)), -EPERM);
	cr_assert_eq(chmod(in_dir("x.img"), 0644), 0); /* readable is fine */
	cr_assert_eq(read_path(in_dir("x.img"), why, sizeof(why)), 0, "%s",
		     why);
	free(b.buf);
}

Test(file, owned_by_someone_else)
{
	struct bytes b = encoded(1);
	char why[256];

	if (geteuid() != 0)
		cr_skip_test("only root can give a file away");
	put_file(in_dir("x.img"), b.buf, b.len, 0600);
	cr_assert_eq(chown(in_dir("x.img"), 12345, 12345), 0);
	cr_assert_eq(read_path(in_dir("x.img"), why, sizeof(why)), -EPERM);
	cr_assert_not_null(strstr(why, "owned by uid 12345"), "%s", why);
	free(b.buf);
}

Test(file, symbolic_link)
{
	struct bytes b = encoded(1);
	char why[256];

	put_file(in_dir("x.img"), b.buf, b.len, 0600);
	cr_assert_eq(symlink(in_dir("x.img"), in_dir("link.img")), 0);
	cr_assert_eq(read_path(in_dir("link.img"), why, sizeof(why)), -ELOOP);
	cr_assert_not_null(strstr(why, "symbolic link"), "%s", why);
	free(b.buf);
}

Test(file, not_a_regular_file)
{
	char why[256];

	cr_assert_eq(mkfifo(in_dir("fifo"), 0600), 0);
	cr_assert_eq(read_path(in_dir("fifo"), why, sizeof(why)), -EINVAL);
	cr_assert_str_eq(why, "not a regular file");
	cr_assert_eq(read_path(dir, why, sizeof(why)), -EINVAL);
}

Test(file, missing)
{
	char why[256];

	cr_assert_eq(read_path(in_dir("none"), why, sizeof(why)), -ENOENT);
	cr_assert_str_eq(why, strerror(ENOENT));
}

Test(file, corrupt)
{
	struct bytes b = encoded(1);
	char why[256];

	b.buf[b.len - 1] ^= 1;
	put_file(in_dir("x.img"), b.buf, b.len, 0600);
	cr_assert_eq(read_path(in_dir("x.img"), why, sizeof(why)), -EINVAL);
	cr_assert_not_null(strstr(why, "bad CRC"), "%s", why);
	put_file(in_dir("empty.img"), "", 0, 0600);
	cr_assert_eq(read_path(in_dir("empty.img"), why, sizeof(why)),
		     -EINVAL);
	free(b.buf);
}

/* ---- the atomic write ---- */

Test(write, missing_directory)
{
	struct image img;
	char why[256];

	make_image(&img, 1);
	cr_assert_eq(image_write(in_dir("no/x.img"), &img, why, sizeof(why)),
		     -ENOENT);
	cr_assert_not_null(strstr(why, "cannot create a file in"), "%s", why);
	cr_assert_eq(entries(), 0);
	image_free(&img);
}

Test(write, failed_rename_keeps_nothing)
{
	struct image img;
	char why[256];

	make_image(&img, 1);
	/* a non-empty directory where the image should go: rename fails */
	cr_assert_eq(mkdir(in_dir("x.img"), 0700), 0);
	put_text(in_dir("x.img/keep"), "x");
	cr_assert_neq(image_write(in_dir("x.img"), &img, why, sizeof(why)), 0);
	cr_assert_not_null(strstr(why, "cannot rename"), "%s", why);
	cr_assert_eq(entries(), 1, "the temporary file was left behind");
	unlink(in_dir("x.img/keep"));
	image_free(&img);
}

Test(write, refused_image_keeps_the_previous_one)
{
	struct image good, bad, back;

	make_image(&good, 1);
	make_image(&bad, 1);
	bad.conns[0].kind = 0;
	cr_assert_eq(image_write(in_dir("x.img"), &good, NULL, 0), 0);
	cr_assert_eq(image_write(in_dir("x.img"), &bad, NULL, 0), -EINVAL);
	cr_assert_eq(image_read(in_dir("x.img"), &back, NULL, 0), 0);
	assert_same(&good, &back);
	cr_assert_eq(entries(), 1);
	image_free(&good);
	image_free(&bad);
	image_free(&back);
}

Test(write, relative_path_and_umask)
{
	struct image img;
	struct stat st;
	char cwd[512];

	make_image(&img, 0);
	cr_assert_not_null(getcwd(cwd, sizeof(cwd)));
	cr_assert_eq(chdir(dir), 0);
	umask(0);
	cr_assert_eq(image_write("rel.img", &img, NULL, 0), 0);
	cr_assert_eq(stat("rel.img", &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0600);
	cr_assert_eq(image_write("sub/", &img, NULL, 0), -EISDIR);
	cr_assert_eq(chdir(cwd), 0);
	cr_assert_eq(entries(), 1);
	image_free(&img);
}

/* ---- the done file ---- */

static struct image_done sample_done(void)
{
	struct image_done d;

	memset(&d, 0, sizeof(d));
	d.ok = 1;
	d.pid = 4242;
	d.connections = 5;
	d.failed = 1;
	d.bytes = 5000000000ull;
	d.freeze_us = 850;
	strcpy(d.action, "continue");
	strcpy(d.image, "/var/lib/x.img");
	return d;
}

Test(done, path)
{
	char p[10]; /* "a.im.done" and its NUL */

	cr_assert_eq(image_done_path("a.img", p, sizeof(p)), -ENAMETOOLONG);
	cr_assert_eq(image_done_path("a.im", p, sizeof(p)), 0);
	cr_assert_str_eq(p, "a.im.done");
}

Test(done, roundtrip_ok)
{
	struct image_done d = sample_done(), back;
	char text[512];
	FILE *f;
	size_t n;

	cr_assert_eq(image_done_write(in_dir("x.img"), &d), 0);
	f = fopen(in_dir("x.img.done"), "r");
	cr_assert_not_null(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	cr_assert_str_eq(text, "outcome=ok\npid=4242\nconnections=5\n"
			       "failed=1\nimage=/var/lib/x.img\n"
			       "bytes=5000000000\nfreeze_us=850\n"
			       "action=continue\n");
	memset(&back, 0x5a, sizeof(back));
	cr_assert_eq(image_done_read(in_dir("x.img"), &back), 0);
	cr_assert_eq(memcmp(&d, &back, sizeof(d)), 0);
	cr_assert_eq(entries(), 1);
}

Test(done, roundtrip_failed)
{
	struct image_done d = sample_done(), back;

	d.ok = 0;
	strcpy(d.error, "stop: Operation not permitted\nsecond line");
	cr_assert_eq(image_done_write(in_dir("x.img"), &d), 0);
	cr_assert_eq(image_done_read(in_dir("x.img"), &back), 0);
	cr_assert_eq(back.ok, 0);
	cr_assert_str_eq(back.error, "stop: Operation not permitted?second line");
}

Test(done, absent)
{
	struct image_done back;

	cr_assert_eq(image_done_read(in_dir("x.img"), &back), -ENOENT);
}

Test(done, tolerant)
{
	struct image_done back;

	put_text(in_dir("x.img.done"),
		 "\nfuture=whatever\npid=7\n\noutcome=failed\nerror=a=b");
	cr_assert_eq(image_done_read(in_dir("x.img"), &back), 0);
	cr_assert_eq(back.pid, 7);
	cr_assert_eq(back.ok, 0);
	cr_assert_str_eq(back.error, "a=b");
	cr_assert_eq(back.connections, 0);
}

Test(done, malformed)
{
	static const char *const bad[] = {
		"",
		"pid=7\n",
		"outcome=ok\n",
		"outcome=maybe\npid=7\n",
		"outcome=ok\npid=-7\n",
		"outcome=ok\npid=7x\n",
		"outcome=ok\npid=\n",
		"outcome=ok\npid=4294967296\n",
		"outcome=ok\npid=7\nbytes=18446744073709551616\n",
		"outcome=ok\npid=7\njunk\n",
		"outcome=ok\npid=7\naction=0123456789abcdef\n",
	};
	struct image_done back;
	size_t i;

	memset(&back, 0x5a, sizeof(back));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put_text(in_dir("x.img.done"), bad[i]);
		cr_assert_eq(image_done_read(in_dir("x.img"), &back), -EINVAL,
			     "accepted \"%s\"", bad[i]);
	}
	put_file(in_dir("x.img.done"), "outcome=ok\0pid=7\n", 17, 0600);
	cr_assert_eq(image_done_read(in_dir("x.img"), &back), -EINVAL);
	cr_assert_eq(((uint8_t *)&back)[0], 0x5a, "output touched");
}

Test(done, too_big)
{
	static char text[20000];
	struct image_done back;

	memset(text, '\n', sizeof(text) - 1);
	memcpy(text, "outcome=ok\npid=1\n", 17);
	put_text(in_dir("x.img.done"), text);
	cr_assert_eq(image_done_read(in_dir("x.img"), &back), -EINVAL);
}
