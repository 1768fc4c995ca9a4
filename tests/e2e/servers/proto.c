// SPDX-License-Identifier: LGPL-2.1-or-later
/* The stateless request/answer protocol: see testsrv.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

#include "testsrv.h"

#define ALPHABET \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
#define ALPHABET_LEN 62

struct request {
	unsigned long long seq;
	unsigned int len;
	unsigned int resp_len;
	uint32_t crc;
	size_t line_len;
};

static uint32_t crc_table[256];
/* The answer to request seq is pattern[(seq * 31) % 62 ...]: the client
 * computes the same bytes and compares every one. */
static char pattern[TS_MAX_RESP + ALPHABET_LEN];

void proto_init(void)
{
	uint32_t c;
	size_t i;
	int k;

	/* zlib's CRC-32 (reflected 0xEDB88320), as Python's zlib.crc32. */
	for (i = 0; i < 256; i++) {
		c = (uint32_t)i;
		for (k = 0; k < 8; k++)
			c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
	for (i = 0; i < sizeof(pattern); i++)
		pattern[i] = ALPHABET[i % ALPHABET_LEN];
}

static uint32_t crc32(const char *p, size_t n)
{
	uint32_t c = 0xFFFFFFFFu;

	while (n--)
		c = crc_table[(c ^ (unsigned char)*p++) & 0xFF] ^ (c >> 8);
	return c ^ 0xFFFFFFFFu;
}

static int set_int(int fd, int level, int name, int val)
{
	return setsockopt(fd, level, name, &val, sizeof(val));
}

static void set_lowat(struct ts_conn *c, int lowat)
{
	if (c->lowat == lowat)
		return;
	if (set_int(c->fd, SOL_SOCKET, SO_RCVLOWAT, lowat) == 0)
		c->lowat = lowat;
}

/* Every connection, new or handed back after a restore, starts from known
 * socket options: nothing the old process set is trusted. */
int proto_setup_conn(int fd)
{
	if (set_int(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, TS_NOTSENT_LOWAT) ||
	    set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1) ||
	    set_int(fd, SOL_SOCKET, SO_RCVLOWAT, 1)) {
		perror("testsrv: setsockopt");
		return -1;
	}
	return 0;
}

/*
 * True when the answer of `need` bytes might not go into the send queue in
 * one write.  The first half is exactly the second half of tcp_poll()'s
 * POLLOUT test (unsent * 2 < TCP_NOTSENT_LOWAT), so a loop that waits for
 * POLLOUT is woken when it matters; with answers at most a quarter of the
 * low-water mark, the write then never meets the mark.  The second half
 * keeps well inside SO_SNDBUF, which on loopback is far larger.
 */
static bool backpressured(int fd, size_t need)
{
	int unsent = 0, queued = 0, sndbuf = 0;
	socklen_t len = sizeof(sndbuf);

	if (ioctl(fd, SIOCOUTQNSD, &unsent) || ioctl(fd, SIOCOUTQ, &queued) ||
	    getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &len))
		return false; /* the write will tell */
	return 2 * (long)unsent >= TS_NOTSENT_LOWAT ||
	       (long)queued + (long)need > sndbuf / 2;
}

static int parse_num(const char **p, const char *end,
		     unsigned long long max, unsigned long long *ret)
{
	unsigned long long v = 0;
	const char *s = *p;

	if (s >= end || *s < '0' || *s > '9')
		return -1;
	while (s < end && *s >= '0' && *s <= '9') {
		v = v * 10 + (unsigned long long)(*s++ - '0');
		if (v > max)
			return -1;
	}
	if (s >= end || *s != ' ')
		return -1;
	*p = s + 1;
	*ret = v;
	return 0;
}

static int parse_request(const char *line, const char *nl, struct request *r)
{
	unsigned long long len, resp;
	const char *p = line;
	const char *q;

	if (parse_num(&p, nl, ~0ULL / 64, &r->seq) ||
	    parse_num(&p, nl, TS_MAX_PAYLOAD, &len) ||
	    parse_num(&p, nl, TS_MAX_RESP, &resp) ||
	    (size_t)(nl - p) != len)
		return -1;
	for (q = p; q < nl; q++)
		if (!memchr(ALPHABET, *q, ALPHABET_LEN))
			return -1;
	r->len = (unsigned int)len;
	r->resp_len = (unsigned int)resp;
	r->crc = crc32(p, len);
	r->line_len = (size_t)(nl - line) + 1;
	return 0;
}

/* Moves msg past the n bytes the kernel took. */
static void skip(struct msghdr *msg, size_t n)
{
	while (msg->msg_iovlen > 0 && n >= msg->msg_iov->iov_len) {
		n -= msg->msg_iov->iov_len;
		msg->msg_iov++;
		msg->msg_iovlen--;
	}
	if (msg->msg_iovlen > 0) {
		msg->msg_iov->iov_base = (char *)msg->msg_iov->iov_base + n;
		msg->msg_iov->iov_len -= n;
	}
}

/* Writes all of iov; the kernel normally takes it in one call (see
 * backpressured()).  When it does not, the rest is written here and now,
 * waiting for room with the signals of *unblocked open: the one moment
 * this server can be stopped holding protocol bytes. */
static int write_all(int fd, struct iovec *iov, int iovcnt,
		     const sigset_t *unblocked)
{
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t)iovcnt };
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	sigset_t all;
	ssize_t n;
	int err;

	while (msg.msg_iovlen > 0) {
		n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			pthread_sigmask(SIG_SETMASK, unblocked, &all);
			err = poll(&pfd, 1, -1) < 0 && errno != EINTR;
			pthread_sigmask(SIG_SETMASK, &all, NULL);
			if (err)
				return -1;
			continue;
		}
		if (n < 0)
			return -1;
		skip(&msg, (size_t)n);
	}
	return 0;
}

static int answer(int fd, const struct request *r, const sigset_t *unblocked)
{
	char hdr[64];
	int hl = snprintf(hdr, sizeof(hdr), "%llu %08x %u\n", r->seq, r->crc,
			  r->resp_len);
	struct iovec iov[3] = {
		{ hdr, (size_t)hl },
		{ pattern + r->seq % ALPHABET_LEN * 31 % ALPHABET_LEN,
		  r->resp_len },
		{ (char *)"\n", 1 },
	};

	return write_all(fd, iov, 3, unblocked);
}

/* Consumes exactly the request line that a peek found. */
static int consume(int fd, size_t len)
{
	char buf[TS_MAX_LINE];
	ssize_t n;

	do
		n = recv(fd, buf, len, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)len) {
		fprintf(stderr, "testsrv: fd %d: read %zd of a %zu-byte line "
			"that a peek had found\n", fd, n, len);
		return -1;
	}
	return 0;
}

/*
 * Reads the request and writes its answer as one step as far as signals
 * go: a thread stopped (by the shim's parking signal) between the two would
 * hold a request that the kernel no longer has and whose answer it never
 * got, which no checkpoint of the kernel's state can carry.
 */
static int serve_one(struct ts_conn *c, const struct request *r)
{
	sigset_t all, old;
	int err;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	err = consume(c->fd, r->line_len);
	if (!err)
		err = answer(c->fd, r, &old);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return err;
}

static void sleep_ms(long ms)
{
	struct timespec t = { 0, ms * 1000000 };

	while (nanosleep(&t, &t) && errno == EINTR)
		;
}

/*
 * Answers complete requests on c until none is left (WANT_IN), the next
 * answer would not fit (WANT_OUT), the peer is gone (WANT_CLOSE), or budget
 * requests were answered (budget < 0: no limit; edge-triggered loops must
 * go on until the socket runs dry).
 */
enum ts_want proto_serve(struct ts_conn *c, int budget)
{
	char line[TS_MAX_LINE];
	struct request r;
	bool woken_for_out = c->want == WANT_OUT;
	bool served = false;
	ssize_t n;
	char *nl;

	for (; budget != 0; budget--) {
		n = recv(c->fd, line, sizeof(line), MSG_PEEK | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return WANT_IN;
		if (n < 0) {
			if (errno != ECONNRESET)
				perror("testsrv: recv");
			return WANT_CLOSE;
		}
		if (n == 0)
			return WANT_CLOSE;
		nl = memchr(line, '\n', (size_t)n);
		if (!nl && n < (ssize_t)sizeof(line)) {
			set_lowat(c, (int)n + 1);
			return WANT_IN;
		}
		if (!nl || parse_request(line, nl, &r)) {
			fprintf(stderr, "testsrv: fd %d: bad request: %.60s\n",
				c->fd, line);
			return WANT_CLOSE;
		}
		if (backpressured(c->fd, r.resp_len + 64)) {
			/* The kernel's POLLOUT and this test can disagree
			 * only by SO_SNDBUF; do not spin on that. */
			if (woken_for_out && !served)
				sleep_ms(1);
			return WANT_OUT;
		}
		if (serve_one(c, &r))
			return WANT_CLOSE;
		set_lowat(c, 1);
		served = true;
	}
	return WANT_IN;
}

/* For blocking servers: waits, in recv, until the socket holds more than
 * the partial line that proto_serve() saw (or the peer closed). */
void proto_wait_line(struct ts_conn *c)
{
	char buf[TS_MAX_LINE];

	while (recv(c->fd, buf, sizeof(buf), MSG_PEEK) < 0 && errno == EINTR)
		;
}
