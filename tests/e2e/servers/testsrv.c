// SPDX-License-Identifier: LGPL-2.1-or-later
/* testsrv: options, the listener, outgoing connections, accept.  See
 * testsrv.h for the protocol. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testsrv.h"

static struct ts_opts opts = {
	.mode = MODE_EPOLL_FD,
	.wait = WAIT_EPOLL_WAIT,
	.reuseaddr = true,
	.bind = "127.0.0.1",
};
const struct ts_opts *ts = &opts;

void ts_fatal(const char *what)
{
	fprintf(stderr, "testsrv: %s: %s\n", what, strerror(errno));
	exit(1);
}

struct ts_conn *ts_conn_new(int fd, bool listener)
{
	struct ts_conn *c = calloc(1, sizeof(*c));

	if (!c)
		ts_fatal("calloc");
	c->fd = fd;
	c->listener = listener;
	c->want = WANT_IN;
	c->lowat = 1;
	return c;
}

void ts_conn_free(struct ts_conn *c)
{
	if (!c)
		return;
	close(c->fd);
	free(c);
}

static int parse_addr(const char *host, int port, struct sockaddr_storage *ss,
		      socklen_t *len)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		*len = sizeof(*in);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*in6);
		return 0;
	}
	return -1;
}

static bool same_peer(const struct sockaddr_storage *a,
		      const struct sockaddr_storage *b)
{
	const struct sockaddr_in *a4 = (const void *)a, *b4 = (const void *)b;
	const struct sockaddr_in6 *a6 = (const void *)a, *b6 = (const void *)b;

	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return a4->sin_port == b4->sin_port &&
		       a4->sin_addr.s_addr == b4->sin_addr.s_addr;
	return a6->sin6_port == b6->sin6_port &&
	       !memcmp(&a6->sin6_addr, &b6->sin6_addr, sizeof(a6->sin6_addr));
}

/* What accept() returned must look like what the kernel's accept returns:
 * flags as asked for, the peer's address.  A mismatch is printed, and the
 * tests fail on anything this server prints. */
static void check_accepted(int fd, const struct sockaddr_storage *ss,
			   socklen_t len, bool nonblock)
{
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	int fl = fcntl(fd, F_GETFL);
	int fdfl = fcntl(fd, F_GETFD);
	bool want_nb = ts->accept4 && nonblock;
	bool want_cloexec = ts->accept4;

	if (fl < 0 || fdfl < 0 || !!(fl & O_NONBLOCK) != want_nb ||
	    !!(fdfl & FD_CLOEXEC) != want_cloexec)
		fprintf(stderr, "testsrv: accept%s: fd %d has O_NONBLOCK=%d "
			"FD_CLOEXEC=%d, expected %d and %d\n",
			ts->accept4 ? "4" : "", fd, !!(fl & O_NONBLOCK),
			!!(fdfl & FD_CLOEXEC), want_nb, want_cloexec);
	if (getpeername(fd, (struct sockaddr *)&peer, &plen) ||
	    plen != len || !same_peer(&peer, ss))
		fprintf(stderr, "testsrv: accept: fd %d: the address returned "
			"(len %u) is not getpeername's (len %u)\n",
			fd, len, plen);
}

/* Accepts one connection; -1 with errno when there is none. */
int ts_accept(int lfd, bool nonblock)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd;

	memset(&ss, 0, sizeof(ss));
	if (ts->accept4)
		fd = accept4(lfd, (struct sockaddr *)&ss, &len,
			     SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0));
	else
		fd = accept(lfd, (struct sockaddr *)&ss, &len);
	if (fd < 0)
		return -1;
	check_accepted(fd, &ss, len, nonblock);
	if (nonblock && !ts->accept4 &&
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK))
		ts_fatal("fcntl");
	if (proto_setup_conn(fd)) {
		close(fd);
		errno = EAGAIN;
		return -1;
	}
	return fd;
}

static int open_listener(bool nonblock)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = opts.reuseaddr;
	int fd;

	if (parse_addr(opts.bind, opts.port, &ss, &len)) {
		fprintf(stderr, "testsrv: bad --bind address %s\n", opts.bind);
		exit(2);
	}
	fd = socket(ss.ss_family,
		    SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0)
		ts_fatal("socket");
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)))
		ts_fatal("SO_REUSEADDR");
	if (bind(fd, (struct sockaddr *)&ss, len))
		ts_fatal("bind");
	if (listen(fd, 128))
		ts_fatal("listen");
	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		ts_fatal("getsockname");
	opts.port = ntohs(ss.ss_family == AF_INET ?
		((struct sockaddr_in *)&ss)->sin_port :
		((struct sockaddr_in6 *)&ss)->sin6_port);
	return fd;
}

/* HOST:PORT or [HOST]:PORT. */
static int open_outgoing(const char *spec, bool nonblock)
{
	struct sockaddr_storage ss;
	char host[128];
	const char *colon = strrchr(spec, ':');
	size_t hl;
	socklen_t len;
	int fd;

	if (!colon || (hl = (size_t)(colon - spec)) >= sizeof(host))
		goto bad;
	if (spec[0] == '[' && hl >= 2 && spec[hl - 1] == ']') {
		memcpy(host, spec + 1, hl - 2);
		host[hl - 2] = '\0';
	} else {
		memcpy(host, spec, hl);
		host[hl] = '\0';
	}
	if (parse_addr(host, atoi(colon + 1), &ss, &len))
		goto bad;
	fd = socket(ss.ss_family, SOCK_STREAM, 0);
	if (fd < 0)
		ts_fatal("socket");
	if (connect(fd, (struct sockaddr *)&ss, len))
		ts_fatal("connect");
	if (nonblock && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK))
		ts_fatal("fcntl");
	if (proto_setup_conn(fd))
		exit(1);
	return fd;
bad:
	fprintf(stderr, "testsrv: bad --connect %s (HOST:PORT)\n", spec);
	exit(2);
}

static const char *const mode_names[] = {
	[MODE_ACCEPT] = "accept",       [MODE_POLL] = "poll",
	[MODE_PPOLL] = "ppoll",         [MODE_SELECT] = "select",
	[MODE_PSELECT] = "pselect",     [MODE_EPOLL_FD] = "epoll-fd",
	[MODE_EPOLL_PTR] = "epoll-ptr",
};
static const char *const wait_names[] = {
	[WAIT_EPOLL_WAIT] = "epoll_wait",
	[WAIT_EPOLL_PWAIT] = "epoll_pwait",
	[WAIT_EPOLL_PWAIT2] = "epoll_pwait2",
};

static int lookup(const char *const *names, int n, const char *s)
{
	int i;

	for (i = 0; i < n; i++)
		if (!strcmp(names[i], s))
			return i;
	fprintf(stderr, "testsrv: unknown value %s\n", s);
	exit(2);
}

static void usage(void)
{
	fputs("usage: testsrv [--mode accept|poll|ppoll|select|pselect|"
	      "epoll-fd|epoll-ptr] [--et] [--oneshot]\n"
	      "\t[--wait epoll_wait|epoll_pwait|epoll_pwait2] [--accept4]\n"
	      "\t[--port N] [--bind ADDR] [--reuseaddr 0|1] "
	      "[--connect HOST:PORT]...\n", stderr);
	exit(2);
}

static void parse_opts(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "et", no_argument, NULL, 'e' },
		{ "oneshot", no_argument, NULL, 'o' },
		{ "wait", required_argument, NULL, 'w' },
		{ "accept4", no_argument, NULL, '4' },
		{ "port", required_argument, NULL, 'p' },
		{ "bind", required_argument, NULL, 'b' },
		{ "reuseaddr", required_argument, NULL, 'r' },
		{ "connect", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	int o;

	while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (o) {
		case 'm':
			opts.mode = lookup(mode_names, 7, optarg);
			break;
		case 'e':
			opts.et = true;
			break;
		case 'o':
			opts.oneshot = true;
			break;
		case 'w':
			opts.wait = lookup(wait_names, 3, optarg);
			break;
		case '4':
			opts.accept4 = true;
			break;
		case 'p':
			opts.port = atoi(optarg);
			break;
		case 'b':
			opts.bind = optarg;
			break;
		case 'r':
			opts.reuseaddr = atoi(optarg) != 0;
			break;
		case 'c':
			if (opts.nconnect == TS_MAX_CONNECT)
				usage();
			opts.connect[opts.nconnect++] = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
}

int main(int argc, char **argv)
{
	int out[TS_MAX_CONNECT];
	bool nonblock;
	int lfd, i;

	parse_opts(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	proto_init();
	nonblock = opts.mode != MODE_ACCEPT;
	lfd = open_listener(nonblock);
	for (i = 0; i < opts.nconnect; i++)
		out[i] = open_outgoing(opts.connect[i], nonblock);
	printf("ready %d\n", opts.port);
	fflush(stdout);

	switch (opts.mode) {
	case MODE_ACCEPT:
		loop_threads(lfd, out, opts.nconnect);
		break;
	case MODE_POLL:
	case MODE_PPOLL:
		loop_poll(lfd, out, opts.nconnect);
		break;
	case MODE_SELECT:
	case MODE_PSELECT:
		loop_select(lfd, out, opts.nconnect);
		break;
	default:
		loop_epoll(lfd, out, opts.nconnect);
	}
	return 1;
}
