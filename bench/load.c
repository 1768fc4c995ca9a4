// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * load: the shim-overhead benchmark's client, for testsrv's protocol
 * (tests/e2e/servers/testsrv.h).  One thread, epoll, non-blocking.
 *
 *   --mode accept  --conns C: C connections in flight, each one connect,
 *                  one request with a --resp byte answer (32 by default),
 *                  the answer read,
 *                  close; then the next.  Counts connections.
 *   --mode data    --conns C: C connections for the whole run, each with
 *                  --depth requests in flight for --resp byte answers
 *                  (64 KiB by default).  Counts answer bytes.
 *
 * Runs for --seconds, then starts nothing new and finishes what is in
 * flight; the time is taken at the last answer.  Every answer is checked
 * byte by byte (its sequence number, the CRC of the empty payload, its
 * length, the pattern, the final newline): any fault, reset or refused
 * connection ends the run with status 1 and no figure.  Prints one line:
 *
 *   load <mode>: ops N bytes B seconds S
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ALPHABET \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
#define ALPHABET_LEN 62
#define MAX_RESP 65536 /* TS_MAX_RESP */
#define MAX_CONNS 1024
#define MAX_DEPTH 64
#define HDR_MAX 64
#define RBUF (256 * 1024)

enum mode { M_ACCEPT, M_DATA };
enum st { S_IDLE, S_CONNECTING, S_OPEN };

struct conn {
	int fd;
	enum st st;
	unsigned long long next_seq; /* the next request's */
	unsigned long long want_seq; /* the next answer's */
	unsigned int inflight;
	/* the answer being read */
	char hdr[HDR_MAX];
	unsigned int hdr_len;
	bool in_body;
	unsigned int body_left; /* pattern bytes, then the newline */
	unsigned int body_off;  /* into pattern[] */
	/* requests not yet taken by the kernel */
	char out[MAX_DEPTH * 32];
	unsigned int out_len;
};

static struct {
	enum mode mode;
	struct sockaddr_in addr;
	unsigned int conns, depth, resp;
	double seconds;
} o = { .conns = 0, .depth = 4, .resp = 0, .seconds = 1.0 };

static char pattern[MAX_RESP + 2 * ALPHABET_LEN];
static char rbuf[RBUF];
static struct conn *conns;
static int epfd;
static bool stopping;
static unsigned long long ops, bytes;
static double t_last;

static __attribute__((format(printf, 1, 2), noreturn)) void
die(const char *fmt, ...)
{
	va_list ap;

	fputs("load: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void ep(int op, struct conn *c, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };

	if (epoll_ctl(epfd, op, c->fd, op == EPOLL_CTL_DEL ? NULL : &ev))
		die("epoll_ctl: %s", strerror(errno));
}

static void queue_request(struct conn *c)
{
	int n = snprintf(c->out + c->out_len, sizeof(c->out) - c->out_len,
			 "%llu 0 %u \n", c->next_seq++, o.resp);

	c->out_len += (unsigned int)n;
	c->inflight++;
}

/* false: the kernel's buffer is full, the rest waits for EPOLLOUT. */
static bool flush(struct conn *c)
{
	while (c->out_len) {
		ssize_t n = send(c->fd, c->out, c->out_len,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return false;
		if (n < 0)
			die("send: %s", strerror(errno));
		memmove(c->out, c->out + n, c->out_len - (size_t)n);
		c->out_len -= (unsigned int)n;
	}
	return true;
}

static void conn_open(struct conn *c)
{
	int one = 1;

	memset(c, 0, sizeof(*c));
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		die("socket: %s", strerror(errno));
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&o.addr, sizeof(o.addr)) &&
	    errno != EINPROGRESS)
		die("connect: %s", strerror(errno));
	c->st = S_CONNECTING;
	ep(EPOLL_CTL_ADD, c, EPOLLOUT);
}

static void conn_close(struct conn *c)
{
	ep(EPOLL_CTL_DEL, c, 0);
	close(c->fd);
	c->fd = -1;
	c->st = S_IDLE;
}

/* Requests up to the depth, unless the run is over. */
static void refill(struct conn *c)
{
	unsigned int depth = o.depth;

	/* one request per connection, sent even once the run is over */
	if (o.mode == M_ACCEPT && !c->next_seq)
		queue_request(c);
	while (o.mode == M_DATA && !stopping && c->inflight < depth)
		queue_request(c);
	ep(EPOLL_CTL_MOD, c, EPOLLIN | (flush(c) ? 0 : EPOLLOUT));
}

static void answer_done(struct conn *c)
{
	c->inflight--;
	c->want_seq++;
	t_last = now_s();
	if (o.mode == M_DATA) {
		bytes += o.resp;
		ops++;
		refill(c);
		return;
	}
	/* accept: the connection is done; the next one replaces it */
	ops++;
	bytes += o.resp;
	conn_close(c);
	if (!stopping)
		conn_open(c);
}

static void check_header(struct conn *c)
{
	char want[HDR_MAX];
	int n = snprintf(want, sizeof(want), "%llu 00000000 %u\n", c->want_seq,
			 o.resp);

	if ((unsigned int)n != c->hdr_len || memcmp(want, c->hdr, (size_t)n))
		die("answer header \"%.*s\", expected \"%.*s\"",
		    (int)c->hdr_len - 1, c->hdr, n - 1, want);
	c->in_body = true;
	c->body_left = o.resp + 1;
	c->body_off = (unsigned int)(c->want_seq % ALPHABET_LEN * 31 %
				     ALPHABET_LEN);
}

/* Consumes what one read returned; answers may end anywhere in it. */
static void parse(struct conn *c, const char *p, size_t n)
{
	while (n) {
		if (!c->inflight)
			die("%zu bytes nobody asked for", n);
		if (!c->in_body) {
			const char *nl = memchr(p, '\n', n);
			size_t k = nl ? (size_t)(nl - p) + 1 : n;

			if (c->hdr_len + k > HDR_MAX)
				die("answer header too long");
			memcpy(c->hdr + c->hdr_len, p, k);
			c->hdr_len += (unsigned int)k;
			p += k;
			n -= k;
			if (nl)
				check_header(c);
			continue;
		}
		{
			size_t k = n < c->body_left ? n : c->body_left;
			size_t pat = c->body_left > 1 ?
				(k < c->body_left ? k : k - 1) : 0;

			if (memcmp(p, pattern + c->body_off, pat))
				die("answer %llu: wrong pattern bytes",
				    c->want_seq);
			if (k > pat && p[pat] != '\n')
				die("answer %llu: no newline at its end",
				    c->want_seq);
			c->body_off += (unsigned int)pat;
			c->body_left -= (unsigned int)k;
			p += k;
			n -= k;
			if (!c->body_left) {
				c->in_body = false;
				c->hdr_len = 0;
				if (o.mode == M_ACCEPT && n)
					die("bytes after the one answer");
				answer_done(c); /* accept: c is a new one */
				if (o.mode == M_ACCEPT)
					return;
			}
		}
	}
}

static void on_event(struct conn *c, uint32_t ev)
{
	if (c->st == S_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);

		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err)
			die("connect: %s", strerror(err));
		c->st = S_OPEN;
		refill(c);
		return;
	}
	if (ev & EPOLLOUT)
		ep(EPOLL_CTL_MOD, c, EPOLLIN | (flush(c) ? 0 : EPOLLOUT));
	if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
		ssize_t n = recv(c->fd, rbuf, sizeof(rbuf), MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n < 0)
			die("recv: %s", strerror(errno));
		if (n == 0)
			die("the server closed a connection (answer %llu)",
			    c->want_seq);
		parse(c, rbuf, (size_t)n);
	}
}

static unsigned int busy(void)
{
	unsigned int i, k = 0;

	for (i = 0; i < o.conns; i++)
		k += conns[i].st != S_IDLE && conns[i].inflight + !conns[i].next_seq;
	return k;
}

static void run(void)
{
	struct epoll_event ev[64];
	double t0 = now_s(), deadline = t0 + o.seconds, drain_end = 0;
	unsigned int i;
	int n;

	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		die("epoll_create1: %s", strerror(errno));
	for (i = 0; i < o.conns; i++)
		conn_open(&conns[i]);
	t_last = t0;
	for (;;) {
		n = epoll_wait(epfd, ev, 64, 100);
		if (n < 0 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		for (i = 0; (int)i < n; i++)
			on_event(ev[i].data.ptr, ev[i].events);
		if (!stopping && now_s() >= deadline) {
			stopping = true;
			drain_end = now_s() + 10;
		}
		if (stopping && !busy())
			break;
		if (stopping && now_s() > drain_end)
			die("answers still missing 10 s after the end");
	}
	for (i = 0; i < o.conns; i++)
		if (conns[i].st != S_IDLE)
			conn_close(&conns[i]);
	printf("load %s: ops %llu bytes %llu seconds %.6f\n",
	       o.mode == M_ACCEPT ? "accept" : "data", ops, bytes, t_last - t0);
}

static __attribute__((noreturn)) void usage(void)
{
	fprintf(stderr, "usage: load --port P [--host IPV4] --mode accept|data"
		" [--conns C] [--depth D] [--resp BYTES] [--seconds S]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "host", required_argument, NULL, 'h' },
		{ "mode", required_argument, NULL, 'm' },
		{ "conns", required_argument, NULL, 'c' },
		{ "depth", required_argument, NULL, 'd' },
		{ "resp", required_argument, NULL, 'r' },
		{ "seconds", required_argument, NULL, 's' },
		{ 0 },
	};
	const char *host = "127.0.0.1";
	int port = 0, mode = -1, c;
	bool resp_set = false;
	size_t i;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (c == 'p')
			port = atoi(optarg);
		else if (c == 'h')
			host = optarg;
		else if (c == 'm' && !strcmp(optarg, "accept"))
			mode = M_ACCEPT;
		else if (c == 'm' && !strcmp(optarg, "data"))
			mode = M_DATA;
		else if (c == 'c')
			o.conns = (unsigned int)atoi(optarg);
		else if (c == 'd')
			o.depth = (unsigned int)atoi(optarg);
		else if (c == 'r')
			o.resp = (unsigned int)atoi(optarg), resp_set = true;
		else if (c == 's')
			o.seconds = atof(optarg);
		else
			usage();
	}
	if (optind != argc || port <= 0 || port > 65535 || mode < 0)
		usage();
	o.mode = (enum mode)mode;
	if (!o.conns)
		o.conns = o.mode == M_ACCEPT ? 16 : 1;
	if (!resp_set)
		o.resp = o.mode == M_DATA ? MAX_RESP : 32;
	if (o.conns > MAX_CONNS || !o.depth || o.depth > MAX_DEPTH ||
	    o.resp > MAX_RESP || o.seconds <= 0)
		usage();
	o.addr.sin_family = AF_INET;
	o.addr.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &o.addr.sin_addr) != 1)
		usage();
	for (i = 0; i < sizeof(pattern); i++)
		pattern[i] = ALPHABET[i % ALPHABET_LEN];
	conns = calloc(o.conns, sizeof(*conns));
	if (!conns)
		die("calloc");
	signal(SIGPIPE, SIG_IGN);
	run();
	return 0;
}
