// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * IMAGE.done (image.h): the line `tcpcp checkpoint` waits for.
 *
 * Text rather than binary, so that an administrator can cat it and a
 * script can grep it; written atomically like the image, so a reader sees
 * either nothing or the whole file.  The reader skips keys it does not
 * know, so a later shim may add some without breaking an older tool.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image.h"

#define DONE_SUFFIX ".done"
/* The fields' sizes bound the text; anything larger is not ours. */
#define DONE_MAX 8192

struct done_text {
	char buf[DONE_MAX];
	size_t len;
};

/* The numeric keys, where each lives in struct image_done. */
static const struct {
	const char *key;
	size_t off;
	bool wide; /* uint64_t, else uint32_t */
} numbers[] = {
	{ "pid", offsetof(struct image_done, pid), false },
	{ "connections", offsetof(struct image_done, connections), false },
	{ "failed", offsetof(struct image_done, failed), false },
	{ "bytes", offsetof(struct image_done, bytes), true },
	{ "freeze_us", offsetof(struct image_done, freeze_us), true },
};

int image_done_path(const char *image_path, char *ret, size_t len)
{
	size_t n = strlen(image_path);

	if (n + sizeof(DONE_SUFFIX) > len)
		return -ENAMETOOLONG;
	memcpy(ret, image_path, n);
	memcpy(ret + n, DONE_SUFFIX, sizeof(DONE_SUFFIX));
	return 0;
}

/* key=value\n; a control character in the value (a newline in a path or
 * an error message) would split the line, so it becomes '?'. */
static void add(struct done_text *t, const char *key, const char *val,
		size_t max)
{
	size_t i, n = strnlen(val, max);
	int k = snprintf(t->buf + t->len, sizeof(t->buf) - t->len, "%s=", key);

	if (k < 0 || (size_t)k + n + 1 >= sizeof(t->buf) - t->len)
		return; /* cannot happen: the fields are bounded */
	t->len += (size_t)k;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)val[i];

		t->buf[t->len++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	t->buf[t->len++] = '\n';
}

static void add_num(struct done_text *t, const char *key, uint64_t v)
{
	char num[24];

	snprintf(num, sizeof(num), "%" PRIu64, v);
	add(t, key, num, sizeof(num));
}

int image_done_write(const char *image_path, const struct image_done *d)
{
	struct done_text *t;
	struct iovec iov;
	char path[PATH_MAX];
	int err;

	err = image_done_path(image_path, path, sizeof(path));
	if (err)
		return err;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	add(t, "outcome", d->ok ? "ok" : "failed", 8);
	add_num(t, "pid", d->pid);
	add_num(t, "connections", d->connections);
	add_num(t, "failed", d->failed);
	add(t, "image", d->image, sizeof(d->image));
	add_num(t, "bytes", d->bytes);
	add_num(t, "freeze_us", d->freeze_us);
	add(t, "action", d->action, sizeof(d->action));
	if (!d->ok)
		add(t, "error", d->error, sizeof(d->error));
	iov = (struct iovec){ t->buf, t->len };
	/* a report: atomic, but not worth an fsync in every outage (5-17
	 * ms); the image it reports on is durable already */
	err = image_file_write(path, &iov, 1, 0, NULL, 0);
	free(t);
	return err;
}

/* A decimal number with nothing around it, up to max. */
static int parse_uint(const char *s, uint64_t max, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

static int set_number(struct image_done *d, size_t i, const char *val)
{
	uint64_t v;
	char *field = (char *)d + numbers[i].off;

	if (parse_uint(val, numbers[i].wide ? UINT64_MAX : UINT32_MAX, &v))
		return -EINVAL;
	if (numbers[i].wide) {
		memcpy(field, &v, sizeof(v));
	} else {
		uint32_t v32 = (uint32_t)v;

		memcpy(field, &v32, sizeof(v32));
	}
	return 0;
}

static int set_string(char *dst, size_t size, const char *val)
{
	size_t n = strlen(val);

	if (n >= size)
		return -EINVAL;
	memcpy(dst, val, n + 1);
	return 0;
}

/* The keys a done file cannot do without. */
#define SEEN_OUTCOME 1u
#define SEEN_PID 2u

/* One "key=value" line, NUL-terminated here. */
static int parse_line(char *line, struct image_done *d, unsigned int *seen)
{
	char *val = strchr(line, '=');
	size_t i;

	if (!val)
		return -EINVAL;
	*val++ = '\0';
	if (!strcmp(line, "pid"))
		*seen |= SEEN_PID;
	for (i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++)
		if (!strcmp(line, numbers[i].key))
			return set_number(d, i, val);
	if (!strcmp(line, "outcome")) {
		*seen |= SEEN_OUTCOME;
		d->ok = !strcmp(val, "ok");
		return d->ok || !strcmp(val, "failed") ? 0 : -EINVAL;
	}
	if (!strcmp(line, "action"))
		return set_string(d->action, sizeof(d->action), val);
	if (!strcmp(line, "image"))
		return set_string(d->image, sizeof(d->image), val);
	if (!strcmp(line, "error"))
		return set_string(d->error, sizeof(d->error), val);
	return 0; /* a key from a later version */
}

static int parse_done(char *text, struct image_done *ret)
{
	struct image_done d;
	unsigned int seen = 0;
	char *line, *next;
	int err;

	memset(&d, 0, sizeof(d));
	for (line = text; *line; line = next) {
		next = strchrnul(line, '\n');
		if (*next)
			*next++ = '\0';
		if (!*line)
			continue;
		err = parse_line(line, &d, &seen);
		if (err)
			return err;
	}
	if (seen != (SEEN_OUTCOME | SEEN_PID))
		return -EINVAL;
	*ret = d;
	return 0;
}

/* The whole file, NUL-terminated; -EINVAL if it could not be ours. */
static int read_text(int fd, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n;

	for (;;) {
		n = read(fd, buf + len, size - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == size - 1)
			return -EINVAL;
	}
	buf[len] = '\0';
	return strlen(buf) == len ? 0 : -EINVAL;
}

int image_done_read(const char *image_path, struct image_done *ret)
{
	char path[PATH_MAX];
	struct stat st;
	char *text;
	int fd, err;

	err = image_done_path(image_path, path, sizeof(path));
	if (err)
		return err;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	text = malloc(DONE_MAX + 1);
	if (!text)
		err = -ENOMEM;
	else if (fstat(fd, &st))
		err = -errno;
	else if (!S_ISREG(st.st_mode))
		err = -EINVAL;
	else
		err = read_text(fd, text, DONE_MAX + 1);
	close(fd);
	if (!err)
		err = parse_done(text, ret);
	free(text);
	return err;
}
