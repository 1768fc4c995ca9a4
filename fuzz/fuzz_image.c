// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libFuzzer target for the checkpoint image reader (lib/image.c).
 *
 * A restarted process parses an image before it trusts anything in it, so
 * image_parse() must refuse a bad one with -EINVAL and a reason, leaving
 * its output alone, or accept it only if everything the shim will act on
 * holds: the TCP-SI passes si_check() with as many connections as there
 * are records, and every record fits its kind.  The format is canonical,
 * so an accepted image must also encode back to exactly its own bytes, and
 * those must parse again to the same image.  Any violation aborts, which
 * libFuzzer and the replay driver (replay.c) both report.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "si_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, int line) __attribute__((noreturn));

static void fail(const char *what, int line)
{
	fprintf(stderr, "fuzz_image.c:%d: %s\n", line, what);
	abort();
}

#define EXPECT(cond)                              \
	do {                                      \
		if (!(cond))                      \
			fail(#cond, __LINE__);    \
	} while (0)

static bool untouched(const struct image *img)
{
	const uint8_t *p = (const void *)img;
	size_t i;

	for (i = 0; i < sizeof(*img); i++)
		if (p[i] != 0xa5)
			return false;
	return true;
}

/* The shim hands the listener address to bind() and compares it with the
 * program's: it must be a complete address of the family it claims. */
static void check_rec(const struct image_conn *c)
{
	sa_family_t af = c->listener.ss_family;

	EXPECT(c->fd >= 0);
	if (c->kind == IMAGE_KIND_CONNECTED) {
		EXPECT(c->listener_len == 0);
		return;
	}
	EXPECT(c->kind == IMAGE_KIND_ACCEPTED);
	EXPECT((af == AF_INET &&
		c->listener_len == sizeof(struct sockaddr_in)) ||
	       (af == AF_INET6 &&
		c->listener_len == sizeof(struct sockaddr_in6)));
}

static void check_image(const struct image *img, size_t size)
{
	unsigned int count = 0;
	uint32_t i;

	EXPECT(memchr(img->host, 0, IMAGE_HOST_MAX));
	EXPECT(memchr(img->backend, 0, IMAGE_BACKEND_MAX));
	EXPECT(img->si && si_check(img->si, img->si_len, &count) == 0);
	EXPECT(count == img->n_conns);
	EXPECT(img->n_conns == 0 || img->conns);
	EXPECT(size == (size_t)IMAGE_HDR_LEN + img->si_len +
			       (size_t)img->n_conns * IMAGE_REC_LEN +
			       IMAGE_CRC_LEN);
	for (i = 0; i < img->n_conns; i++)
		check_rec(&img->conns[i]);
}

static void same_image(const struct image *a, const struct image *b)
{
	uint32_t i;

	EXPECT(a->created_ns == b->created_ns && a->pid == b->pid);
	EXPECT(!strcmp(a->host, b->host) && !strcmp(a->backend, b->backend));
	EXPECT(a->si_len == b->si_len && !memcmp(a->si, b->si, a->si_len));
	EXPECT(a->n_conns == b->n_conns);
	for (i = 0; i < a->n_conns; i++) {
		const struct image_conn *x = &a->conns[i], *y = &b->conns[i];

		EXPECT(x->fd == y->fd && x->kind == y->kind);
		EXPECT(x->listener_len == y->listener_len);
		EXPECT(!memcmp(&x->listener, &y->listener, x->listener_len));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct image img, again;
	char why[256] = "";
	size_t len;
	void *enc;
	int err;

	memset(&img, 0xa5, sizeof(img));
	err = image_parse(data, size, &img, why, sizeof(why));
	if (err) {
		EXPECT(err == -EINVAL || err == -ENOMEM);
		EXPECT(why[0] && !strchr(why, '\n'));
		EXPECT(untouched(&img));
		return 0;
	}
	check_image(&img, size);
	EXPECT(image_encode(&img, &enc, &len) == 0);
	EXPECT(len == size && !memcmp(enc, data, size));
	EXPECT(image_parse(enc, len, &again, why, sizeof(why)) == 0);
	same_image(&img, &again);
	free(enc);
	image_free(&again);
	image_free(&img);
	EXPECT(!img.si && !img.conns);
	return 0;
}
