// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The checkpoint image (image.h): encoding, parsing, and the atomic file
 * write that image_done.c shares.
 *
 * Every integer is read and written byte by byte, little-endian, so that
 * nothing is ever cast onto bytes that came from a file.  The reader
 * parses into a local struct and hands it over only when every check has
 * passed: a refused image leaves the caller's struct as it was.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image.h"
#include "si_codec.h"

/* Header field offsets (image.h). */
#define H_VERSION 8
#define H_HDR_LEN 10
#define H_CREATED 12
#define H_PID 20
#define H_BACKEND 24
#define H_HOST (H_BACKEND + IMAGE_BACKEND_MAX)
#define H_N_CONNS (H_HOST + IMAGE_HOST_MAX)
#define H_SI_LEN (H_N_CONNS + 4)

/* Record field offsets. */
#define R_FD 0
#define R_KIND 4
#define R_FAMILY 5
#define R_PORT 6
#define R_ADDR 8
#define R_SCOPE 24

_Static_assert(H_SI_LEN + 4 == IMAGE_HDR_LEN, "header layout");
_Static_assert(R_SCOPE + 4 == IMAGE_REC_LEN, "record layout");

/* The pieces of an encoded image, as image_file_write() takes them. */
struct enc {
	uint8_t hdr[IMAGE_HDR_LEN];
	uint8_t *recs;
	uint8_t crc[IMAGE_CRC_LEN];
	struct iovec iov[4];
	size_t len;
};

static void say(char *why, size_t why_len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void say(char *why, size_t why_len, const char *fmt, ...)
{
	va_list ap;

	if (!why || !why_len)
		return;
	va_start(ap, fmt);
	vsnprintf(why, why_len, fmt, ap);
	va_end(ap);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v & 0xff;
	p[1] = v >> 8;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v & 0xffff);
	put16(p + 2, v >> 16);
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, v & 0xffffffffu);
	put32(p + 4, v >> 32);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return get16(p) | (uint32_t)get16(p + 2) << 16;
}

static uint64_t get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

static bool all_zero(const uint8_t *p, size_t len)
{
	while (len--)
		if (*p++)
			return false;
	return true;
}

/* ---- encoding ---- */

static int check_rec(const struct image_conn *c, uint32_t i, char *why,
		     size_t why_len)
{
	sa_family_t af = c->listener.ss_family;

	if (c->fd < 0) {
		say(why, why_len, "record %u: fd %d", i, c->fd);
		return -EINVAL;
	}
	if (c->kind == IMAGE_KIND_CONNECTED && c->listener_len == 0)
		return 0;
	if (c->kind == IMAGE_KIND_ACCEPTED &&
	    ((af == AF_INET && c->listener_len >= sizeof(struct sockaddr_in)) ||
	     (af == AF_INET6 && c->listener_len >= sizeof(struct sockaddr_in6))))
		return 0;
	say(why, why_len, "record %u: kind %u with a listener address of %u bytes",
	    i, c->kind, (unsigned int)c->listener_len);
	return -EINVAL;
}

static void put_rec(uint8_t *p, const struct image_conn *c)
{
	const struct sockaddr_in *s4 = (const void *)&c->listener;
	const struct sockaddr_in6 *s6 = (const void *)&c->listener;

	memset(p, 0, IMAGE_REC_LEN);
	put32(p + R_FD, (uint32_t)c->fd);
	p[R_KIND] = c->kind;
	if (c->kind != IMAGE_KIND_ACCEPTED)
		return;
	if (c->listener.ss_family == AF_INET) {
		p[R_FAMILY] = 4;
		put16(p + R_PORT, ntohs(s4->sin_port));
		memcpy(p + R_ADDR, &s4->sin_addr, 4);
	} else {
		p[R_FAMILY] = 6;
		put16(p + R_PORT, ntohs(s6->sin6_port));
		memcpy(p + R_ADDR, &s6->sin6_addr, 16);
		put32(p + R_SCOPE, s6->sin6_scope_id);
	}
}

static int check_image(const struct image *img, char *why, size_t why_len)
{
	unsigned int count;

	if (!img->si || si_check(img->si, img->si_len, &count)) {
		say(why, why_len, "the TCP-SI is malformed");
		return -EINVAL;
	}
	if (count != img->n_conns || (img->n_conns && !img->conns)) {
		say(why, why_len, "the TCP-SI holds %u connections, the image %u",
		    count, img->n_conns);
		return -EINVAL;
	}
	if (strnlen(img->backend, sizeof(img->backend)) >= IMAGE_BACKEND_MAX) {
		say(why, why_len, "backend name longer than %d bytes",
		    IMAGE_BACKEND_MAX - 1);
		return -EINVAL;
	}
	return 0;
}

static void put_header(uint8_t *h, const struct image *img)
{
	memset(h, 0, IMAGE_HDR_LEN);
	memcpy(h, IMAGE_MAGIC, IMAGE_MAGIC_LEN);
	put16(h + H_VERSION, IMAGE_VERSION);
	put16(h + H_HDR_LEN, IMAGE_HDR_LEN);
	put64(h + H_CREATED, img->created_ns);
	put32(h + H_PID, img->pid);
	memcpy(h + H_BACKEND, img->backend, strlen(img->backend));
	/* cut, not refused: see image_encode() in image.h */
	memcpy(h + H_HOST, img->host,
	       strnlen(img->host, IMAGE_HOST_MAX - 1));
	put32(h + H_N_CONNS, img->n_conns);
	put32(h + H_SI_LEN, img->si_len);
}

/* Fills e, whose iov then holds the whole image; enc_free() releases it. */
static int enc_build(const struct image *img, struct enc *e, char *why,
		     size_t why_len)
{
	uint64_t len = (uint64_t)IMAGE_HDR_LEN + img->si_len +
		       (uint64_t)img->n_conns * IMAGE_REC_LEN + IMAGE_CRC_LEN;
	uint32_t i, crc;
	int err = check_image(img, why, why_len);

	for (i = 0; !err && i < img->n_conns; i++)
		err = check_rec(&img->conns[i], i, why, why_len);
	if (err)
		return err;
	if (len > IMAGE_SIZE_MAX) {
		say(why, why_len, "%llu bytes, over the limit of %u",
		    (unsigned long long)len, IMAGE_SIZE_MAX);
		return -EFBIG;
	}
	e->recs = malloc(img->n_conns ? img->n_conns * IMAGE_REC_LEN : 1);
	if (!e->recs) {
		say(why, why_len, "out of memory");
		return -ENOMEM;
	}
	put_header(e->hdr, img);
	for (i = 0; i < img->n_conns; i++)
		put_rec(e->recs + i * IMAGE_REC_LEN, &img->conns[i]);
	crc = crc32c(0, e->hdr, IMAGE_HDR_LEN);
	crc = crc32c(crc, img->si, img->si_len);
	crc = crc32c(crc, e->recs, (size_t)img->n_conns * IMAGE_REC_LEN);
	put32(e->crc, crc);
	e->iov[0] = (struct iovec){ e->hdr, IMAGE_HDR_LEN };
	e->iov[1] = (struct iovec){ img->si, img->si_len };
	e->iov[2] = (struct iovec){ e->recs, (size_t)img->n_conns * IMAGE_REC_LEN };
	e->iov[3] = (struct iovec){ e->crc, IMAGE_CRC_LEN };
	e->len = (size_t)len;
	return 0;
}

int image_encode(const struct image *img, void **ret_buf, size_t *ret_len)
{
	struct enc e;
	uint8_t *buf, *p;
	int err, i;

	err = enc_build(img, &e, NULL, 0);
	if (err)
		return err;
	buf = malloc(e.len);
	if (!buf) {
		free(e.recs);
		return -ENOMEM;
	}
	for (i = 0, p = buf; i < 4; i++) {
		memcpy(p, e.iov[i].iov_base, e.iov[i].iov_len);
		p += e.iov[i].iov_len;
	}
	free(e.recs);
	*ret_buf = buf;
	*ret_len = e.len;
	return 0;
}

int image_write(const char *path, const struct image *img, char *why,
		size_t why_len)
{
	struct enc e;
	int err;

	err = enc_build(img, &e, why, why_len);
	if (err)
		return err;
	err = image_file_write(path, e.iov, 4, IMAGE_DURABLE, why, why_len);
	free(e.recs);
	return err;
}

/* ---- parsing ---- */

/* Magic and version first: a later version may lay out the rest anew. */
static int parse_ident(const uint8_t *b, size_t len, char *why,
		       size_t why_len)
{
	size_t n = len < IMAGE_MAGIC_LEN ? len : IMAGE_MAGIC_LEN;
	uint16_t version;

	if (n && memcmp(b, IMAGE_MAGIC, n)) {
		say(why, why_len, "not a tcpcp image (wrong magic)");
		return -EINVAL;
	}
	if (len < IMAGE_HDR_LEN) {
		say(why, why_len, "truncated: %zu bytes, shorter than a header",
		    len);
		return -EINVAL;
	}
	version = get16(b + H_VERSION);
	if (version != IMAGE_VERSION) {
		say(why, why_len, "version %u, this build reads %u", version,
		    IMAGE_VERSION);
		return -EINVAL;
	}
	if (get16(b + H_HDR_LEN) != IMAGE_HDR_LEN) {
		say(why, why_len, "header length %u, version %u has %u",
		    get16(b + H_HDR_LEN), IMAGE_VERSION, IMAGE_HDR_LEN);
		return -EINVAL;
	}
	return 0;
}

/* Every length in the header against the bytes there are, then the CRC. */
static int parse_frame(const uint8_t *b, size_t len, char *why,
		       size_t why_len)
{
	uint64_t want = (uint64_t)IMAGE_HDR_LEN + get32(b + H_SI_LEN) +
			(uint64_t)get32(b + H_N_CONNS) * IMAGE_REC_LEN +
			IMAGE_CRC_LEN;
	uint32_t crc;

	if (len < want) {
		say(why, why_len, "truncated: %zu bytes, the header says %llu",
		    len, (unsigned long long)want);
		return -EINVAL;
	}
	if (len > want) {
		say(why, why_len, "%llu bytes of trailing garbage",
		    (unsigned long long)(len - want));
		return -EINVAL;
	}
	crc = crc32c(0, b, len - IMAGE_CRC_LEN);
	if (crc != get32(b + len - IMAGE_CRC_LEN)) {
		say(why, why_len, "bad CRC (0x%08x stored, 0x%08x computed)",
		    get32(b + len - IMAGE_CRC_LEN), crc);
		return -EINVAL;
	}
	return 0;
}

/* A NUL-padded name: one NUL at least, and nothing but NULs after it. */
static int parse_name(const uint8_t *f, size_t field, char *dst,
		      const char *what, char *why, size_t why_len)
{
	const uint8_t *nul = memchr(f, 0, field);

	if (!nul) {
		say(why, why_len, "%s name not NUL-terminated", what);
		return -EINVAL;
	}
	if (!all_zero(nul, field - (size_t)(nul - f))) {
		say(why, why_len, "bytes after the %s name's NUL", what);
		return -EINVAL;
	}
	memcpy(dst, f, (size_t)(nul - f) + 1);
	return 0;
}

static int parse_header(const uint8_t *b, size_t len, struct image *img,
			char *why, size_t why_len)
{
	int err;

	err = parse_ident(b, len, why, why_len);
	if (!err)
		err = parse_frame(b, len, why, why_len);
	if (!err)
		err = parse_name(b + H_BACKEND, IMAGE_BACKEND_MAX, img->backend,
				 "backend", why, why_len);
	if (!err)
		err = parse_name(b + H_HOST, IMAGE_HOST_MAX, img->host, "host",
				 why, why_len);
	if (err)
		return err;
	img->created_ns = get64(b + H_CREATED);
	img->pid = get32(b + H_PID);
	img->n_conns = get32(b + H_N_CONNS);
	img->si_len = get32(b + H_SI_LEN);
	return 0;
}

static int parse_si(const uint8_t *b, struct image *img, char *why,
		    size_t why_len)
{
	unsigned int count;

	if (si_check(b + IMAGE_HDR_LEN, img->si_len, &count)) {
		say(why, why_len, "the TCP-SI is malformed");
		return -EINVAL;
	}
	if (count != img->n_conns) {
		say(why, why_len, "the TCP-SI holds %u connections, the header %u",
		    count, img->n_conns);
		return -EINVAL;
	}
	img->si = malloc(img->si_len);
	if (!img->si) {
		say(why, why_len, "out of memory");
		return -ENOMEM;
	}
	memcpy(img->si, b + IMAGE_HDR_LEN, img->si_len);
	return 0;
}

static void set_listener(const uint8_t *p, struct image_conn *c)
{
	struct sockaddr_in *s4 = (void *)&c->listener;
	struct sockaddr_in6 *s6 = (void *)&c->listener;

	memset(&c->listener, 0, sizeof(c->listener));
	if (p[R_FAMILY] == 4) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(get16(p + R_PORT));
		memcpy(&s4->sin_addr, p + R_ADDR, 4);
		c->listener_len = sizeof(*s4);
	} else {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(get16(p + R_PORT));
		memcpy(&s6->sin6_addr, p + R_ADDR, 16);
		s6->sin6_scope_id = get32(p + R_SCOPE);
		c->listener_len = sizeof(*s6);
	}
}

static int parse_rec(const uint8_t *p, uint32_t i, struct image_conn *c,
		     char *why, size_t why_len)
{
	uint8_t family = p[R_FAMILY];

	memset(c, 0, sizeof(*c));
	c->fd = (int32_t)get32(p + R_FD);
	c->kind = p[R_KIND];
	if (c->fd < 0) {
		say(why, why_len, "record %u: fd %d", i, c->fd);
		return -EINVAL;
	}
	if (c->kind == IMAGE_KIND_CONNECTED) {
		if (all_zero(p + R_FAMILY, IMAGE_REC_LEN - R_FAMILY))
			return 0;
		say(why, why_len, "record %u: a connected socket with a listener",
		    i);
		return -EINVAL;
	}
	if (c->kind != IMAGE_KIND_ACCEPTED) {
		say(why, why_len, "record %u: kind %u, not 1 or 2", i, c->kind);
		return -EINVAL;
	}
	if (family != 4 && family != 6) {
		say(why, why_len, "record %u: an accepted socket with listener family %u",
		    i, family);
		return -EINVAL;
	}
	/* IPv4: the rest of the address and the scope id must be zero */
	if (family == 4 && !all_zero(p + R_ADDR + 4, IMAGE_REC_LEN - R_ADDR - 4)) {
		say(why, why_len, "record %u: bytes after the IPv4 address", i);
		return -EINVAL;
	}
	set_listener(p, c);
	return 0;
}

static int parse_recs(const uint8_t *b, struct image *img, char *why,
		      size_t why_len)
{
	const uint8_t *p = b + IMAGE_HDR_LEN + img->si_len;
	uint32_t i;
	int err;

	if (!img->n_conns)
		return 0;
	img->conns = calloc(img->n_conns, sizeof(*img->conns));
	if (!img->conns) {
		say(why, why_len, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < img->n_conns; i++, p += IMAGE_REC_LEN) {
		err = parse_rec(p, i, &img->conns[i], why, why_len);
		if (err)
			return err;
	}
	return 0;
}

int image_parse(const void *buf, size_t len, struct image *ret, char *why,
		size_t why_len)
{
	struct image img;
	int err;

	memset(&img, 0, sizeof(img));
	if (!buf && len) {
		say(why, why_len, "no buffer");
		return -EINVAL;
	}
	err = parse_header(buf, len, &img, why, why_len);
	if (!err)
		err = parse_si(buf, &img, why, why_len);
	if (!err)
		err = parse_recs(buf, &img, why, why_len);
	if (err) {
		image_free(&img);
		return err;
	}
	*ret = img;
	return 0;
}

void image_free(struct image *img)
{
	if (!img)
		return;
	free(img->si);
	free(img->conns);
	memset(img, 0, sizeof(*img));
}

/* ---- files ---- */

static int check_stat(const struct stat *st, char *why, size_t why_len)
{
	if (!S_ISREG(st->st_mode)) {
		say(why, why_len, "not a regular file");
		return -EINVAL;
	}
	if (st->st_uid != geteuid()) {
		say(why, why_len, "owned by uid %u, not by this process's uid %u",
		    (unsigned int)st->st_uid, (unsigned int)geteuid());
		return -EPERM;
	}
	/* whoever can write it can make the restore claim any 4-tuple */
	if (st->st_mode & 022) {
		say(why, why_len, "writable by group or others (mode %04o)",
		    (unsigned int)(st->st_mode & 07777));
		return -EPERM;
	}
	if ((uint64_t)st->st_size > IMAGE_SIZE_MAX) {
		say(why, why_len, "%lld bytes, over the limit of %u",
		    (long long)st->st_size, IMAGE_SIZE_MAX);
		return -EFBIG;
	}
	return 0;
}

/* O_NONBLOCK: a FIFO put where the image should be must not hang us. */
static int open_checked(const char *path, int *ret_fd, size_t *ret_size,
			char *why, size_t why_len)
{
	struct stat st;
	int fd, err;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		err = -errno;
		say(why, why_len, "%s", err == -ELOOP ?
		    "a symbolic link (refused)" : strerror(-err));
		return err;
	}
	if (fstat(fd, &st)) {
		err = -errno;
		say(why, why_len, "%s", strerror(-err));
	} else {
		err = check_stat(&st, why, why_len);
	}
	if (err) {
		close(fd);
		return err;
	}
	*ret_fd = fd;
	*ret_size = (size_t)st.st_size;
	return 0;
}

static int read_all(int fd, uint8_t *buf, size_t len, char *why,
		    size_t why_len)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = read(fd, buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			say(why, why_len, "%s", strerror(errno));
			return -errno;
		}
		if (n == 0) {
			say(why, why_len, "shrank while being read");
			return -EINVAL;
		}
		done += (size_t)n;
	}
	return 0;
}

int image_read(const char *path, struct image *ret, char *why,
	       size_t why_len)
{
	size_t len = 0;
	uint8_t *buf;
	int fd = -1, err;

	err = open_checked(path, &fd, &len, why, why_len);
	if (err)
		return err;
	buf = malloc(len ? len : 1);
	if (!buf) {
		close(fd);
		say(why, why_len, "out of memory");
		return -ENOMEM;
	}
	err = read_all(fd, buf, len, why, why_len);
	close(fd);
	if (!err)
		err = image_parse(buf, len, ret, why, why_len);
	free(buf);
	return err;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	ssize_t n;

	while (len) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Writes the pieces into the new file tmp and makes them durable there. */
static int write_tmp(char *tmp, const char *dir, const struct iovec *iov,
		     int iovcnt, bool durable, char *why, size_t why_len)
{
	int fd, i, err = 0;

	/* mkostemp adds O_CREAT|O_EXCL, so a planted symbolic link fails
	 * even without O_NOFOLLOW; fchmod: the mode must not depend on the
	 * umask */
	fd = mkostemp(tmp, O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		err = -errno;
		say(why, why_len, "cannot create a file in %s: %s", dir,
		    strerror(-err));
		return err;
	}
	if (fchmod(fd, 0600))
		err = -errno;
	for (i = 0; !err && i < iovcnt; i++)
		err = write_all(fd, iov[i].iov_base, iov[i].iov_len);
	if (!err && durable && fsync(fd))
		err = -errno;
	if (close(fd) && !err)
		err = -errno;
	if (err) {
		say(why, why_len, "cannot write %s: %s", tmp, strerror(-err));
		unlink(tmp);
	}
	return err;
}

/* "<dir>/.<base>.XXXXXX" for path, and dir: both malloc'ed. */
static int tmp_names(const char *path, char **ret_tmp, char **ret_dir)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	int dlen = slash ? (int)(slash - path) : 1;
	const char *dir = slash ? path : ".";

	if (!*base)
		return -EISDIR;
	if (slash == path)
		dlen = 1; /* "/x": the root */
	if (asprintf(ret_dir, "%.*s", dlen, dir) < 0)
		return -ENOMEM;
	if (asprintf(ret_tmp, "%.*s/.%s.XXXXXX", dlen, dir, base) < 0) {
		free(*ret_dir);
		return -ENOMEM;
	}
	return 0;
}

static int fsync_dir(const char *dir)
{
	int fd, err = 0;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd))
		err = -errno;
	close(fd);
	return err;
}

int image_file_write(const char *path, const struct iovec *iov, int iovcnt,
		     unsigned int flags, char *why, size_t why_len)
{
	char *tmp, *dir;
	int err;

	err = tmp_names(path, &tmp, &dir);
	if (err) {
		say(why, why_len, "%s", strerror(-err));
		return err;
	}
	err = write_tmp(tmp, dir, iov, iovcnt, flags & IMAGE_DURABLE, why,
			why_len);
	if (!err && rename(tmp, path)) {
		err = -errno;
		say(why, why_len, "cannot rename %s: %s", tmp, strerror(-err));
		unlink(tmp);
	}
	/* the rename itself is durable only once the directory is */
	if (!err && (flags & IMAGE_DURABLE)) {
		err = fsync_dir(dir);
		if (err)
			say(why, why_len, "cannot fsync %s: %s", dir,
			    strerror(-err));
	}
	free(tmp);
	free(dir);
	return err;
}
