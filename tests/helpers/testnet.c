// SPDX-License-Identifier: LGPL-2.1-or-later
/* Test plumbing; see testnet.h.  Failures here abort the test process
 * (Criterion reports the crash), so callers need not check each step. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "testnet.h"

static void die(const char *what)
{
	fprintf(stderr, "testnet: %s: %s\n", what, strerror(errno));
	abort();
}

void testnet_enter(void)
{
	struct ifreq ifr = { 0 };
	int fd;

	if (unshare(CLONE_NEWNET))
		die("unshare(CLONE_NEWNET) (tests need root)");
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr))
		die("SIOCGIFFLAGS lo");
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr))
		die("SIOCSIFFLAGS lo");
	close(fd);
}

bool testnet_nofile(unsigned int n)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		die("getrlimit");
	if (rl.rlim_cur >= n)
		return true;
	rl.rlim_cur = n;
	if (rl.rlim_max < n)
		rl.rlim_max = n;
	return setrlimit(RLIMIT_NOFILE, &rl) == 0;
}

static socklen_t loopback(int family, uint16_t port, struct sockaddr_in6 *sa)
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

int tn_listen(int family, uint16_t *ret_port)
{
	struct sockaddr_in6 sa;
	socklen_t len = loopback(family, 0, &sa);
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, len) || listen(fd, 4096))
		die("bind/listen");
	*ret_port = tn_local_port(fd);
	return fd;
}

int tn_connect(int family, uint16_t port, int rcvbuf)
{
	struct sockaddr_in6 sa;
	socklen_t len = loopback(family, port, &sa);
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket");
	if (rcvbuf > 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)))
		die("SO_RCVBUF");
	if (connect(fd, (struct sockaddr *)&sa, len))
		die("connect");
	return fd;
}

int tn_accept(int lfd)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		die("accept");
	return fd;
}

void tn_set_nonblock(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK))
		die("fcntl O_NONBLOCK");
}

static uint16_t port_of(int fd, bool peer)
{
	struct sockaddr_in6 sa;
	socklen_t len = sizeof(sa);
	int r = peer ? getpeername(fd, (struct sockaddr *)&sa, &len) :
		       getsockname(fd, (struct sockaddr *)&sa, &len);

	if (r)
		die("getsockname/getpeername");
	return ntohs(sa.sin6_port); /* same offset in sockaddr_in */
}

uint16_t tn_peer_port(int fd)
{
	return port_of(fd, true);
}

uint16_t tn_local_port(int fd)
{
	return port_of(fd, false);
}

void tn_block(int fd)
{
	struct sock_filter drop[] = { BPF_STMT(BPF_RET | BPF_K, 0) };
	struct sock_fprog prog = { .len = 1, .filter = drop };

	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)))
		die("SO_ATTACH_FILTER");
}

void tn_unblock(int fd)
{
	int dummy = 0;

	if (setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &dummy, sizeof(dummy)))
		die("SO_DETACH_FILTER");
}

static int ioctl_int(int fd, unsigned long req)
{
	int v;

	if (ioctl(fd, req, &v))
		die("ioctl queue length");
	return v;
}

int tn_inq(int fd)
{
	return ioctl_int(fd, SIOCINQ);
}

int tn_outq(int fd)
{
	return ioctl_int(fd, SIOCOUTQ);
}

int tn_outq_unsent(int fd)
{
	return ioctl_int(fd, SIOCOUTQNSD);
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

bool tn_wait_q(int fd, int (*q)(int), int want, int ms)
{
	long end = now_ms() + ms;

	while (q(fd) != want) {
		if (now_ms() > end)
			return false;
		usleep(1000);
	}
	return true;
}

uint8_t pattern_byte(uint32_t seed, uint64_t o)
{
	uint64_t x = (o + 1) ^ ((uint64_t)seed << 40);

	x *= 0x9E3779B97F4A7C15ull;
	return (uint8_t)(x >> 56);
}

void pattern_fill(uint8_t *buf, size_t len, uint32_t seed, uint64_t off)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = pattern_byte(seed, off + i);
}

void tn_write_pattern(int fd, uint32_t seed, uint64_t off, size_t len)
{
	uint8_t *buf = malloc(len ? len : 1);
	ssize_t n;

	if (!buf)
		die("malloc");
	pattern_fill(buf, len, seed, off);
	n = send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n != (ssize_t)len) {
		fprintf(stderr, "testnet: send took %zd of %zu\n", n, len);
		die("send");
	}
	free(buf);
}

static int pump_tx(struct xfer *x, char *err, size_t len)
{
	uint8_t buf[16384];
	size_t n = sizeof(buf);
	ssize_t w;

	if (x->tx_end - x->tx_off < n)
		n = x->tx_end - x->tx_off;
	pattern_fill(buf, n, x->tx_seed, x->tx_off);
	w = send(x->fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (w < 0 && errno != EAGAIN) {
		snprintf(err, len, "fd %d: send: %s", x->fd, strerror(errno));
		return -1;
	}
	if (w > 0)
		x->tx_off += (uint64_t)w;
	return 0;
}

static int pump_rx(struct xfer *x, char *err, size_t len)
{
	uint8_t buf[16384];
	size_t n = sizeof(buf);
	ssize_t r, i;

	if (x->rx_end - x->rx_off < n)
		n = x->rx_end - x->rx_off;
	r = recv(x->fd, buf, n, MSG_DONTWAIT);
	if (r < 0 && errno == EAGAIN)
		return 0;
	if (r <= 0) {
		snprintf(err, len, "fd %d: recv at byte %llu: %s", x->fd,
			 (unsigned long long)x->rx_off,
			 r ? strerror(errno) : "EOF");
		return -1;
	}
	for (i = 0; i < r; i++) {
		if (buf[i] != pattern_byte(x->rx_seed, x->rx_off + i)) {
			snprintf(err, len, "fd %d: byte %llu is wrong", x->fd,
				 (unsigned long long)(x->rx_off + i));
			return -1;
		}
	}
	x->rx_off += (uint64_t)r;
	return 0;
}

static unsigned int pump_fill(struct xfer *x, unsigned int n,
			      struct pollfd *pfd, unsigned int *map)
{
	unsigned int i, k = 0;

	for (i = 0; i < n; i++) {
		short ev = (x[i].tx_off < x[i].tx_end ? POLLOUT : 0) |
			   (x[i].rx_off < x[i].rx_end ? POLLIN : 0);

		if (!ev)
			continue;
		pfd[k].fd = x[i].fd;
		pfd[k].events = ev;
		map[k++] = i;
	}
	return k;
}

int xfer_pump(struct xfer *x, unsigned int n, int ms, char *err, size_t len)
{
	struct pollfd *pfd = calloc(n ? n : 1, sizeof(*pfd));
	unsigned int *map = calloc(n ? n : 1, sizeof(*map)), k, i;
	long end = now_ms() + ms;
	int rc = 0;

	if (!pfd || !map)
		die("calloc");
	while (rc == 0 && (k = pump_fill(x, n, pfd, map))) {
		if (now_ms() > end) {
			snprintf(err, len, "%u streams unfinished after %d ms "
				 "(first: fd %d at rx %llu/%llu)", k, ms,
				 x[map[0]].fd,
				 (unsigned long long)x[map[0]].rx_off,
				 (unsigned long long)x[map[0]].rx_end);
			rc = -1;
			break;
		}
		if (poll(pfd, k, 100) < 0)
			die("poll");
		for (i = 0; rc == 0 && i < k; i++) {
			if (pfd[i].revents & (POLLOUT | POLLERR))
				rc = pump_tx(&x[map[i]], err, len);
			if (!rc && pfd[i].revents & (POLLIN | POLLERR | POLLHUP))
				rc = pump_rx(&x[map[i]], err, len);
		}
	}
	free(pfd);
	free(map);
	return rc;
}

int xfer_quiet(struct xfer *x, unsigned int n, char *err, size_t len)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		uint8_t b;
		int soerr = 0;
		socklen_t sl = sizeof(soerr);
		ssize_t r = recv(x[i].fd, &b, 1, MSG_DONTWAIT | MSG_PEEK);

		getsockopt(x[i].fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
		if (soerr) {
			snprintf(err, len, "fd %d: pending error %s", x[i].fd,
				 strerror(soerr));
			return -1;
		}
		if (r >= 0 || errno != EAGAIN) {
			snprintf(err, len, "fd %d: %s after the stream's end",
				 x[i].fd, r > 0 ? "extra bytes" :
				 r == 0 ? "EOF" : strerror(errno));
			return -1;
		}
	}
	return 0;
}
