/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Shared by the module's own tests (kmod/tests/): the raw ioctls of
 * include/tcpcp_ioctl.h, loopback connections in a network namespace of
 * their own, and TAP output.  No libtcpcp: these test the module alone.
 */
#ifndef TCPCP_KMOD_COMMON_H
#define TCPCP_KMOD_COMMON_H

#ifndef _GNU_SOURCE
#error "define _GNU_SOURCE before any include"
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tcpcp_ioctl.h"

static FILE *tap_out;
static int tap_n, tap_failed;

static inline void tap_open(int argc, char **argv, const char *usage)
{
	int i;

	tap_out = stdout;
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help")) {
			printf("usage: %s [--tap=FILE]\n%s\n", argv[0], usage);
			exit(0);
		}
		if (!strncmp(argv[i], "--tap=", 6)) {
			tap_out = fopen(argv[i] + 6, "w");
			if (!tap_out) {
				perror(argv[i] + 6);
				exit(2);
			}
		}
	}
	setvbuf(tap_out, NULL, _IOLBF, 0);
}

static inline void tap_result(int ok, const char *name, const char *why)
{
	tap_n++;
	if (!ok)
		tap_failed++;
	fprintf(tap_out, "%sok %d - %s%s%s\n", ok ? "" : "not ", tap_n, name,
		why && *why ? " # " : "", why ? why : "");
	if (tap_out != stdout)
		printf("%sok - %s%s%s\n", ok ? "" : "not ", name,
		       why && *why ? ": " : "", why ? why : "");
}

static inline int tap_close(void)
{
	fprintf(tap_out, "1..%d\n", tap_n);
	if (tap_out != stdout)
		fclose(tap_out);
	return tap_failed ? 1 : 0;
}

/* Each test returns 0, or sets this and returns -1. */
static char fail_msg[512];

static inline int fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(fail_msg, sizeof(fail_msg), fmt, ap);
	va_end(ap);
	return -1;
}

#define CHECK(cond, ...)                         \
	do {                                     \
		if (!(cond))                     \
			return fail(__VA_ARGS__); \
	} while (0)

static inline int dev_open(void)
{
	return open(TCPCP_DEVICE, O_RDWR | O_CLOEXEC);
}

struct call {
	struct tcpcp_ioc_call a;
	struct tcpcp_ioc_result res[512];
};

/* One ioctl; -errno or 0.  *c keeps what came back. */
static inline int ioc(int dev, unsigned long cmd, int fd, unsigned int flags,
	       void *si, unsigned int si_size, struct call *c)
{
	memset(&c->a, 0, sizeof(c->a));
	c->a.size = sizeof(c->a);
	c->a.version = TCPCP_IOCTL_VERSION;
	c->a.fd = fd;
	c->a.flags = flags;
	c->a.results = (uintptr_t)c->res;
	c->a.results_cap = sizeof(c->res) / sizeof(c->res[0]);
	c->a.si = (uintptr_t)si;
	c->a.si_size = si_size;
	return ioctl(dev, cmd, &c->a) ? -errno : 0;
}

/* get_si into a malloc'ed buffer, growing it on ENOSPC. */
static inline int get_si(int dev, int fd, unsigned int flags, void **ret,
		  unsigned int *ret_len, struct call *c)
{
	unsigned int size = 256;
	int err, tries;

	for (tries = 0; tries < 8; tries++) {
		void *buf = malloc(size);

		err = ioc(dev, TCPCP_IOC_GET_SI, fd, flags, buf, size, c);
		if (!err) {
			*ret = buf;
			*ret_len = c->a.si_len;
			return 0;
		}
		free(buf);
		if (err != -ENOSPC)
			return err;
		size = c->a.si_len + c->a.si_len / 4 + 4096;
	}
	return -ENOSPC;
}

/* A fresh network namespace with lo up: ports never collide. */
static inline int netns_enter(void)
{
	struct ifreq ifr = { 0 };
	int s;

	if (unshare(CLONE_NEWNET))
		return -errno;
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	strcpy(ifr.ifr_name, "lo");
	ifr.ifr_flags = IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &ifr)) {
		close(s);
		return -errno;
	}
	close(s);
	return 0;
}

static inline socklen_t loop_addr(int family, uint16_t port, struct sockaddr_in6 *sa)
{
	memset(sa, 0, sizeof(*sa));
	if (family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)sa;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		return sizeof(*s4);
	}
	sa->sin6_family = AF_INET6;
	sa->sin6_port = htons(port);
	sa->sin6_addr = in6addr_loopback;
	return sizeof(*sa);
}

static inline int listener(int family, uint16_t *ret_port)
{
	struct sockaddr_in6 sa;
	socklen_t len = loop_addr(family, 0, &sa);
	int l = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (l < 0 || bind(l, (struct sockaddr *)&sa, len) || listen(l, 64))
		return -1;
	len = sizeof(sa);
	getsockname(l, (struct sockaddr *)&sa, &len);
	*ret_port = ntohs(sa.sin6_port); /* same offset in sockaddr_in */
	return l;
}

static inline int connect_to(int family, uint16_t port)
{
	struct sockaddr_in6 sa;
	socklen_t len = loop_addr(family, port, &sa);
	int c = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (c < 0 || connect(c, (struct sockaddr *)&sa, len))
		return -1;
	return c;
}

/* A connected pair over loopback: *c the client, *s the accepted end. */
static inline int pair(int family, int *c, int *s)
{
	uint16_t port;
	int l = listener(family, &port);

	if (l < 0)
		return -1;
	*c = connect_to(family, port);
	*s = *c < 0 ? -1 : accept4(l, NULL, NULL, SOCK_CLOEXEC);
	close(l);
	return *c < 0 || *s < 0 ? -1 : 0;
}

static inline int tcp_state(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len))
		return -1;
	return ti.tcpi_state;
}

/* A byte stream whose every byte says where it belongs: loss, duplication
 * and reordering all show. */
struct stream {
	uint64_t off;
	uint8_t salt;
};

static inline uint8_t stream_byte(const struct stream *s, uint64_t off)
{
	return (uint8_t)((off * 131 + (off >> 8) * 7 + s->salt) & 0xff);
}

/* Writes up to len bytes without blocking; how many went. */
static inline size_t stream_write(int fd, struct stream *s, size_t len)
{
	uint8_t buf[4096];
	size_t done = 0;

	while (done < len) {
		size_t n = len - done < sizeof(buf) ? len - done : sizeof(buf), i;
		ssize_t w;

		for (i = 0; i < n; i++)
			buf[i] = stream_byte(s, s->off + i);
		w = send(fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w <= 0)
			break;
		s->off += (size_t)w;
		done += (size_t)w;
	}
	return done;
}

/* Reads exactly len bytes (waiting at most ms) and checks each. */
static inline int stream_read(int fd, struct stream *s, size_t len, int ms)
{
	uint8_t buf[4096];
	size_t done = 0;
	int waited = 0;

	while (done < len) {
		size_t n = len - done < sizeof(buf) ? len - done : sizeof(buf);
		ssize_t r = recv(fd, buf, n, MSG_DONTWAIT);
		size_t i;

		if (r == 0)
			return fail("end of stream after %zu of %zu bytes", done,
				    len);
		if (r < 0 && errno != EAGAIN)
			return fail("recv after %zu of %zu bytes: %s", done, len,
				    strerror(errno));
		if (r < 0) {
			if (waited++ >= ms)
				return fail("only %zu of %zu bytes arrived", done,
					    len);
			usleep(1000);
			continue;
		}
		for (i = 0; i < (size_t)r; i++)
			if (buf[i] != stream_byte(s, s->off + i))
				return fail("byte %llu differs",
					    (unsigned long long)(s->off + i));
		s->off += (size_t)r;
		done += (size_t)r;
	}
	return 0;
}

#endif /* TCPCP_KMOD_COMMON_H */
