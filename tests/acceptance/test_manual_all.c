// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * test_manual_all.c - acceptance test of the TCPCP_EXEC_ALL sequence.
 *
 * Written only from include/tcpcp.h, include/tcpcp_si.h, the TCPCP2 API
 * manual and the man pages tcpcp_*(3) and tcpcp-si(5), without looking at
 * the library's sources or its other tests: it checks that a program
 * written from the documentation alone works.
 *
 * In a private network namespace, a forked peer opens 20 connections
 * (10 IPv4, 10 IPv6) to this process.  Data is queued both ways and left
 * unread; then this process stops, saves, silently closes, rebuilds and
 * starts all its connections with TCPCP_EXEC_ALL on a dummy socket.  Both
 * sides then read what was queued plus 1000 further bytes each way and
 * compare every byte, so that lost, duplicated or reordered bytes, resets
 * and EOFs all show.
 *
 * Run as root (CAP_NET_ADMIN for TCP_REPAIR and unshare).  Exit status 0
 * means pass; on failure the reason is printed to stderr.
 *
 *   gcc -std=gnu11 -Wall -Wextra -I include \
 *       tests/acceptance/test_manual_all.c -L build/lib -ltcpcp -o accept
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <tcpcp.h>

#define PER_FAMILY 10
#define NCONN (2 * PER_FAMILY)
#define PEER_BYTES 20000   /* queued by the peer, unread by the parent */
#define PARENT_BYTES 30000 /* queued by the parent, unread by the peer */
#define MORE_BYTES 1000    /* exchanged once the connections are restored */
#define IO_TIMEOUT_S 20    /* any single read or write; alarm() is the backstop */
#define SMALL_RCVBUF 4096  /* some peer sockets: see peer_connect() */
#define MSG_MAX 512

/* Direction of a byte stream, part of its pattern. */
enum { TO_PARENT = 0, TO_PEER = 1 };

/* ------------------------------------------------------------------ */
/* Failing loudly                                                      */

static const char *g_who = "parent";
static int g_sp = -1;    /* the peer sends its verdict here */
static pid_t g_peer = 0; /* the parent kills it when giving up */

static void send_msg(int sp, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	char msg[MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "FAIL (%s): %s\n", g_who, msg);
	if (g_peer == 0 && g_sp >= 0) /* we are the peer: tell the parent */
		send_msg(g_sp, "FAIL: %s", msg);
	if (g_peer > 0)
		kill(g_peer, SIGKILL);
	exit(1);
}

/* A tcpcp call failed: say exactly what it returned. */
static void tcpcp_failed(const char *call, int ret, int err)
{
	fail("%s returned %d, errno %d (%s), tcpcp_strerror_detail(): \"%s\"",
	     call, ret, err, strerror(err), tcpcp_strerror_detail());
}

static void on_alarm(int sig)
{
	static const char m[] = "FAIL: timeout (alarm), something hung\n";

	(void)sig;
	if (write(2, m, sizeof(m) - 1) < 0) {
		/* nothing more to do */
	}
	if (g_peer > 0)
		kill(g_peer, SIGKILL);
	_exit(2);
}

/* ------------------------------------------------------------------ */
/* Coordination over a SOCK_SEQPACKET socketpair: one message a record */

static void send_msg(int sp, const char *fmt, ...)
{
	char msg[MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* The failure path calls us too: do not recurse into fail(). */
	if (send(sp, msg, strlen(msg) + 1, MSG_NOSIGNAL) < 0)
		fprintf(stderr, "(%s) socketpair send: %s\n", g_who, strerror(errno));
}

/* Returns 0 at EOF (the other side has gone), else the message length. */
static size_t recv_msg(int sp, char *msg, size_t size)
{
	ssize_t n = recv(sp, msg, size - 1, 0);

	if (n < 0)
		fail("socketpair recv: %s", strerror(errno));
	msg[n] = '\0';
	return (size_t)n;
}

/* Waits for "want"; a "FAIL: ..." from the peer or its disappearance is fatal. */
static void expect_msg(int sp, const char *want)
{
	char msg[MSG_MAX];

	if (recv_msg(sp, msg, sizeof(msg)) == 0)
		fail("the other side closed the socketpair while we waited for \"%s\"", want);
	if (strcmp(msg, want) != 0)
		fail("waiting for \"%s\", got: %s", want, msg);
}

/* ------------------------------------------------------------------ */
/* Byte patterns: each stream distinct, each byte depending on its offset */

static uint32_t mix32(uint32_t x)
{
	x ^= x >> 16;
	x *= 0x7feb352dU;
	x ^= x >> 15;
	x *= 0x846ca68bU;
	x ^= x >> 16;
	return x;
}

/* A stream is named by the peer's end (family, port) and its direction. */
static uint8_t pattern_byte(int family, unsigned port, int dir, size_t off)
{
	uint32_t stream = mix32(port | (family == AF_INET6 ? 1U << 16 : 0) |
				(uint32_t)dir << 17);

	return (uint8_t)(mix32(stream ^ ((uint32_t)off * 0x9e3779b9U)) >> 24);
}

static void fill(uint8_t *buf, int family, unsigned port, int dir, size_t off,
		 size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = pattern_byte(family, port, dir, off + i);
}

static void verify(const uint8_t *buf, int family, unsigned port, int dir,
		   size_t off, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		uint8_t want = pattern_byte(family, port, dir, off + i);

		if (buf[i] != want)
			fail("IPv%d connection of peer port %u, %s: byte %zu is 0x%02x, expected 0x%02x",
			     family == AF_INET ? 4 : 6, port,
			     dir == TO_PEER ? "parent->peer" : "peer->parent",
			     off + i, buf[i], want);
	}
}

/* ------------------------------------------------------------------ */
/* Socket helpers                                                      */

static socklen_t loopback(int family, unsigned port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		return sizeof(*sin);
	}
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons((uint16_t)port);
	sin6->sin6_addr = in6addr_loopback;
	return sizeof(*sin6);
}

/* Family and port of one end of fd (peer != 0: the remote end). */
static unsigned end_of(int fd, int peer, int *family)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int r = peer ? getpeername(fd, (struct sockaddr *)&ss, &len)
		     : getsockname(fd, (struct sockaddr *)&ss, &len);

	if (r < 0)
		fail("%s(fd %d): %s", peer ? "getpeername" : "getsockname", fd,
		     strerror(errno));
	*family = ss.ss_family;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	fail("fd %d: unexpected address family %d", fd, ss.ss_family);
}

static void set_int_opt(int fd, int level, int name, int val, const char *what)
{
	if (setsockopt(fd, level, name, &val, sizeof(val)) < 0)
		fail("setsockopt(fd %d, %s, %d): %s", fd, what, val, strerror(errno));
}

/* Blocking reads and writes must not hang: IO_TIMEOUT_S each. */
static void set_io_timeouts(int fd)
{
	struct timeval tv = { .tv_sec = IO_TIMEOUT_S };

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		fail("setsockopt(fd %d, SO_RCVTIMEO/SO_SNDTIMEO): %s", fd, strerror(errno));
}

/* Reads exactly len bytes; EOF, reset or timeout are failures. */
static void read_exact(int fd, uint8_t *buf, size_t len, const char *what)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = recv(fd, buf + got, len - got, 0);

		if (n == 0)
			fail("%s: EOF on fd %d after %zu of %zu bytes", what, fd, got, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fail("%s: recv(fd %d) after %zu of %zu bytes: %s%s", what, fd,
			     got, len, strerror(errno),
			     errno == EAGAIN ? " (timed out)" : "");
		got += (size_t)n;
	}
}

static void write_all(int fd, const uint8_t *buf, size_t len, const char *what)
{
	size_t put = 0;

	while (put < len) {
		ssize_t n = send(fd, buf + put, len - put, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fail("%s: send(fd %d) after %zu of %zu bytes: %s", what, fd, put,
			     len, strerror(errno));
		put += (size_t)n;
	}
}

/* At the end: no pending error, no EOF or reset, no byte beyond the expected. */
static void check_quiet_and_alive(int fd, const char *what)
{
	int err = 0;
	socklen_t len = sizeof(err);
	uint8_t b;
	ssize_t n;

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		fail("%s: getsockopt(fd %d, SO_ERROR): %s", what, fd, strerror(errno));
	if (err != 0)
		fail("%s: fd %d has SO_ERROR %d (%s)", what, fd, err, strerror(err));
	n = recv(fd, &b, 1, MSG_DONTWAIT | MSG_PEEK);
	if (n == 0)
		fail("%s: fd %d saw EOF from the other side", what, fd);
	if (n > 0)
		fail("%s: fd %d has bytes beyond the expected stream", what, fd);
	if (errno != EAGAIN && errno != EWOULDBLOCK)
		fail("%s: fd %d: recv: %s", what, fd, strerror(errno));
}

/* ------------------------------------------------------------------ */
/* The peer: the far end of every connection, in a child process      */

struct peer_conn {
	int fd;
	int family;
	unsigned port; /* its own port: names the streams */
};

/*
 * Odd-numbered connections get a small receive buffer, so that most of
 * what the parent queues cannot be sent and waits in the parent's send
 * queue: the TCP-SI must then carry unsent bytes too (SNDQ).
 */
static void peer_connect(struct peer_conn *pc, int idx, unsigned port4, unsigned port6)
{
	struct sockaddr_storage ss;
	int family = idx < PER_FAMILY ? AF_INET : AF_INET6;
	socklen_t len = loopback(family, family == AF_INET ? port4 : port6, &ss);
	int fd = socket(family, SOCK_STREAM, 0);

	if (fd < 0)
		fail("peer socket(): %s", strerror(errno));
	if (idx % 2)
		set_int_opt(fd, SOL_SOCKET, SO_RCVBUF, SMALL_RCVBUF, "SO_RCVBUF");
	if (connect(fd, (struct sockaddr *)&ss, len) < 0)
		fail("peer connect() #%d (IPv%d): %s", idx, family == AF_INET ? 4 : 6,
		     strerror(errno));
	set_io_timeouts(fd);
	pc->fd = fd;
	pc->port = end_of(fd, 0, &pc->family);
}

static void peer_main(int sp, unsigned port4, unsigned port6)
{
	static uint8_t buf[PARENT_BYTES];
	struct peer_conn pc[NCONN];
	char what[64], msg[MSG_MAX];

	for (int i = 0; i < NCONN; i++)
		peer_connect(&pc[i], i, port4, port6);
	/* Queue our pattern; the parent will not read it before the restore. */
	for (int i = 0; i < NCONN; i++) {
		fill(buf, pc[i].family, pc[i].port, TO_PARENT, 0, PEER_BYTES);
		write_all(pc[i].fd, buf, PEER_BYTES, "peer initial write");
	}
	send_msg(sp, "ready");
	expect_msg(sp, "go");

	/* Everything the parent queued, then our further bytes. */
	for (int i = 0; i < NCONN; i++) {
		snprintf(what, sizeof(what), "peer reading queued data, port %u", pc[i].port);
		read_exact(pc[i].fd, buf, PARENT_BYTES, what);
		verify(buf, pc[i].family, pc[i].port, TO_PEER, 0, PARENT_BYTES);
		fill(buf, pc[i].family, pc[i].port, TO_PARENT, PEER_BYTES, MORE_BYTES);
		write_all(pc[i].fd, buf, MORE_BYTES, "peer further write");
	}
	/* The parent's further bytes: they must follow on without gap or repeat. */
	for (int i = 0; i < NCONN; i++) {
		snprintf(what, sizeof(what), "peer reading further data, port %u", pc[i].port);
		read_exact(pc[i].fd, buf, MORE_BYTES, what);
		verify(buf, pc[i].family, pc[i].port, TO_PEER, PARENT_BYTES, MORE_BYTES);
		check_quiet_and_alive(pc[i].fd, "peer final check");
	}
	send_msg(sp, "OK: verified %d connections, %d bytes received on each",
		 NCONN, PARENT_BYTES + MORE_BYTES);
	/* Keep the connections open until the parent has done its own checks. */
	while (recv_msg(sp, msg, sizeof(msg)) != 0)
		;
	exit(0);
}

/* ------------------------------------------------------------------ */
/* The parent: the program under test                                  */

struct pconn {
	int fd;              /* the accepted descriptor, later the restored one */
	int new_fd;          /* from the tcpcp_set_si() result list */
	int family;
	unsigned peer_port;  /* names the connection and its streams */
	unsigned local_port; /* the listener's */
	int cloexec;         /* FD_CLOEXEC given at accept: must survive */
};

static struct pconn *find_by_fd(struct pconn *c, int fd)
{
	for (int i = 0; i < NCONN; i++)
		if (c[i].fd == fd)
			return &c[i];
	return NULL;
}

static struct pconn *find_by_peer(struct pconn *c, int family, unsigned port)
{
	for (int i = 0; i < NCONN; i++)
		if (c[i].family == family && c[i].peer_port == port)
			return &c[i];
	return NULL;
}

/* Everything happens in a namespace of our own: no real interface is touched. */
static void setup_netns(void)
{
	struct ifreq ifr;
	int s;

	if (unshare(CLONE_NEWNET) < 0)
		fail("unshare(CLONE_NEWNET): %s (must run as root)", strerror(errno));
	/* Created after unshare(), so the ioctl acts on the new namespace's lo. */
	s = socket(AF_INET, SOCK_DGRAM, 0);
	if (s < 0)
		fail("socket(AF_INET, SOCK_DGRAM): %s", strerror(errno));
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		fail("ioctl(SIOCGIFFLAGS, lo): %s", strerror(errno));
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		fail("ioctl(SIOCSIFFLAGS, lo up): %s", strerror(errno));
	close(s);
}

static int listen_on(int family, unsigned *port)
{
	struct sockaddr_storage ss;
	socklen_t len = loopback(family, 0, &ss);
	int fd = socket(family, SOCK_STREAM, 0), got;

	if (fd < 0)
		fail("socket(listener): %s", strerror(errno));
	if (family == AF_INET6) /* keep the two families apart */
		set_int_opt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1, "IPV6_V6ONLY");
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, NCONN) < 0)
		fail("bind/listen on %s: %s", family == AF_INET ? "127.0.0.1" : "::1",
		     strerror(errno));
	*port = end_of(fd, 0, &got);
	return fd;
}

/* Even-numbered accepts get FD_CLOEXEC, so that restoring the descriptor
 * flags (tcpcp_set_si(3): "the O_NONBLOCK and FD_CLOEXEC flags recorded")
 * is checked both ways. */
static void accept_all(int l4, int l6, struct pconn *c)
{
	for (int i = 0; i < NCONN; i++) {
		int want = i < PER_FAMILY ? AF_INET : AF_INET6, family;
		int fd = accept4(want == AF_INET ? l4 : l6, NULL, NULL,
				 i % 2 ? 0 : SOCK_CLOEXEC);

		if (fd < 0)
			fail("accept4(): %s", strerror(errno));
		c[i].fd = fd;
		c[i].new_fd = -1;
		c[i].cloexec = !(i % 2);
		c[i].local_port = end_of(fd, 0, &family);
		c[i].peer_port = end_of(fd, 1, &c[i].family);
		if (c[i].family != want || find_by_peer(c, c[i].family, c[i].peer_port) != &c[i])
			fail("accepted fd %d: unexpected or duplicate peer (family %d port %u)",
			     fd, c[i].family, c[i].peer_port);
	}
}

/* The peer's bytes must all sit in our receive queues before the stop, so
 * that the TCP-SI has to carry them (FIONREAD: bytes queued, unread). */
static void wait_rcvq_full(struct pconn *c)
{
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (int i = 0; i < NCONN; i++) {
		int n = 0;

		for (;;) {
			if (ioctl(c[i].fd, FIONREAD, &n) < 0)
				fail("ioctl(fd %d, FIONREAD): %s", c[i].fd, strerror(errno));
			if (n >= PEER_BYTES)
				break;
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec - start.tv_sec > IO_TIMEOUT_S)
				fail("fd %d: only %d of %d peer bytes arrived", c[i].fd, n,
				     PEER_BYTES);
			usleep(1000);
		}
		if (n != PEER_BYTES)
			fail("fd %d: %d bytes queued, the peer sent %d", c[i].fd, n, PEER_BYTES);
	}
}

/* Our pattern, left unread by the peer: partly in its receive queue, partly
 * (small peer windows) still in our send queue. */
static void queue_parent_data(struct pconn *c)
{
	static uint8_t buf[PARENT_BYTES];

	for (int i = 0; i < NCONN; i++) {
		ssize_t n;

		/* Room for the whole write even where the peer's window is small. */
		set_int_opt(c[i].fd, SOL_SOCKET, SO_SNDBUF, 4 * PARENT_BYTES, "SO_SNDBUF");
		fill(buf, c[i].family, c[i].peer_port, TO_PEER, 0, PARENT_BYTES);
		n = send(c[i].fd, buf, PARENT_BYTES, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n != PARENT_BYTES)
			fail("send(fd %d, %d bytes, MSG_DONTWAIT) returned %zd: %s", c[i].fd,
			     PARENT_BYTES, n, n < 0 ? strerror(errno) : "short write");
	}
}

/* ---- checking what the tcpcp calls return ---- */

/*
 * tcpcp_stop(3): fd_all entries, fd_ng of them with a negative result
 * (-errno).  We expect exactly our NCONN sockets, none failed.  For
 * tcpcp_set_si() a result is the new descriptor, otherwise it is 0.
 */
static void check_result_list(const char *call, const struct result_list *r,
			      int results_are_fds)
{
	unsigned ng = 0;

	if (r == NULL)
		fail("%s returned TCPCP_RET_OK but *reslst is NULL", call);
	if (r->fd_all != NCONN)
		fail("%s: fd_all is %u, expected %d (one per connection; the dummy, the "
		     "listeners and the AF_UNIX socketpair are not connected TCP sockets)",
		     call, r->fd_all, NCONN);
	for (unsigned i = 0; i < r->fd_all; i++) {
		int res = r->fdrs[i].result;

		if (res < 0) {
			ng++;
			fprintf(stderr, "  %s: entry %u, fd %d: result %d (%s)\n", call, i,
				r->fdrs[i].fd, res, strerror(-res));
		} else if (!results_are_fds && res != 0) {
			fail("%s: entry %u, fd %d: result %d, the manual says 0 or -errno",
			     call, i, r->fdrs[i].fd, res);
		}
	}
	if (ng != r->fd_ng)
		fail("%s: fd_ng is %u but %u entries have a negative result", call,
		     r->fd_ng, ng);
	if (ng)
		fail("%s: %u of %u sockets failed; tcpcp_strerror_detail(): \"%s\"", call,
		     ng, r->fd_all, tcpcp_strerror_detail());
}

/* ret/errno of a TCPCP_EXEC_ALL call, then its list. */
static void check_call(const char *call, int ret, int err,
		       const struct result_list *r, int results_are_fds)
{
	if (ret == TCPCP_RET_NG) {
		if (r != NULL)
			fprintf(stderr, "  note: %s failed but *reslst is not NULL "
				"(the manual says NULL)\n", call);
		tcpcp_failed(call, ret, err);
	}
	if (ret != TCPCP_RET_OK)
		fail("%s returned %d, neither TCPCP_RET_OK nor TCPCP_RET_NG", call, ret);
	check_result_list(call, r, results_are_fds);
}

/* The entries must name exactly our descriptors (c[].fd), each once. */
static void check_list_fds(const char *call, const struct result_list *r,
			   struct pconn *c)
{
	int seen[NCONN] = { 0 };

	for (unsigned i = 0; i < r->fd_all; i++) {
		struct pconn *p = find_by_fd(c, r->fdrs[i].fd);

		if (p == NULL)
			fail("%s: entry %u names fd %d, which is none of our connections",
			     call, i, r->fdrs[i].fd);
		if (seen[p - c]++)
			fail("%s: fd %d is listed twice", call, p->fd);
	}
}

static uint32_t be32_at(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static unsigned be16_at(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

/*
 * tcpcp-si(5) and tcpcp_get_si(3): a total header, then one ESTABLISHED
 * record per connection, in the order of the descriptors, each naming its
 * descriptor, IP version and ports.  Read byte by byte: the manual forbids
 * casting the buffer to the structures.  rec_fd[] gets the recorded fds.
 */
static void check_si_buffer(const uint8_t *b, unsigned size, struct pconn *c,
			    int rec_fd[NCONN])
{
	size_t off = TCPCP_SI_TOTAL_HDR_LEN;

	if (b == NULL || size < TCPCP_SI_TOTAL_HDR_LEN || size % 4)
		fail("tcpcp_get_si: buffer %p of %u bytes (manual: a multiple of 4, >= 8)",
		     (const void *)b, size);
	if (be32_at(b) * 4ULL != size || b[4] != TCPCP_SI_MAJOR ||
	    be16_at(b + 6) != NCONN)
		fail("TCP-SI total header: length %u units, major %u, si_cnt %u; "
		     "expected %u units, major %u, si_cnt %d", be32_at(b), b[4],
		     be16_at(b + 6), size / 4, TCPCP_SI_MAJOR, NCONN);
	for (int i = 0; i < NCONN; i++) {
		const uint8_t *h = b + off;
		uint64_t len;
		struct pconn *p;

		if (size - off < TCPCP_SI_HDR_LEN ||
		    (len = be32_at(h) * 4ULL) < TCPCP_SI_HDR_LEN || len > size - off)
			fail("TCP-SI record %d at offset %zu: bad si_length", i, off);
		rec_fd[i] = (int)be32_at(h + offsetof(struct tcpcp_si_hdr, fd));
		p = find_by_fd(c, rec_fd[i]);
		if (p == NULL)
			fail("TCP-SI record %d names fd %d, none of our connections", i, rec_fd[i]);
		if (i > 0 && rec_fd[i] <= rec_fd[i - 1])
			fail("TCP-SI records are not in the order of their descriptors");
		if (h[offsetof(struct tcpcp_si_hdr, id.ip_version)] != (p->family == AF_INET ? 4 : 6) ||
		    be16_at(h + offsetof(struct tcpcp_si_hdr, id.tcp_sport)) != p->local_port ||
		    be16_at(h + offsetof(struct tcpcp_si_hdr, id.tcp_dport)) != p->peer_port ||
		    h[offsetof(struct tcpcp_si_hdr, vargen.state)] != TCP_ESTABLISHED)
			fail("TCP-SI record %d (fd %d): IP version, ports or state do not match "
			     "the connection", i, rec_fd[i]);
		off += len;
	}
	if (off != size)
		fail("TCP-SI: %zu bytes left after the %d records", size - off, NCONN);
}

/* tcpcp_close(3): every descriptor of every stopped socket is closed, the
 * dummy stays open; the listeners were never stopped. */
static void check_after_close(struct pconn *c, int dummy, int l4, int l6)
{
	for (int i = 0; i < NCONN; i++)
		if (fcntl(c[i].fd, F_GETFD) != -1 || errno != EBADF)
			fail("fd %d is still open after tcpcp_close(dummy)", c[i].fd);
	if (fcntl(dummy, F_GETFD) < 0 || fcntl(l4, F_GETFD) < 0 || fcntl(l6, F_GETFD) < 0)
		fail("tcpcp_close(dummy) closed the dummy or a listener");
}

/*
 * tcpcp_set_si(3): fdrs[i].fd is the descriptor recorded in the TCP-SI
 * (i-th record, the buffer's order), fdrs[i].result the new one.  Which
 * connection a new socket carries is found from the peer's port.
 */
static void adopt_restored(const struct result_list *r, struct pconn *c,
			   const int rec_fd[NCONN])
{
	for (unsigned i = 0; i < r->fd_all; i++) {
		int old = r->fdrs[i].fd, nfd = r->fdrs[i].result, family;
		unsigned port;
		struct pconn *p;

		if (old != rec_fd[i])
			fail("tcpcp_set_si: entry %u names fd %d, the TCP-SI's record %u had fd %d",
			     i, old, i, rec_fd[i]);
		port = end_of(nfd, 1, &family);
		p = find_by_peer(c, family, port);
		if (p == NULL || p->new_fd != -1)
			fail("restored fd %d: peer port %u (IPv%d) is unknown or taken twice",
			     nfd, port, family == AF_INET ? 4 : 6);
		if (p->fd != old)
			fail("restored fd %d carries the connection of fd %d, but the list says fd %d",
			     nfd, p->fd, old);
		p->new_fd = nfd;
	}
	for (int i = 0; i < NCONN; i++)
		c[i].fd = c[i].new_fd;
}

/* A started socket is an ordinary connected one, with its old flags. */
static void check_restored_socket(const struct pconn *p)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	int family, fdfl = fcntl(p->fd, F_GETFD), fl = fcntl(p->fd, F_GETFL);

	if (end_of(p->fd, 0, &family) != p->local_port || family != p->family)
		fail("restored fd %d: local end is not the listener's port", p->fd);
	if (fdfl < 0 || fl < 0 || !!(fdfl & FD_CLOEXEC) != p->cloexec || (fl & O_NONBLOCK))
		fail("restored fd %d: FD_CLOEXEC %d (want %d), O_NONBLOCK %d (want 0)",
		     p->fd, !!(fdfl & FD_CLOEXEC), p->cloexec, !!(fl & O_NONBLOCK));
	if (getsockopt(p->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		fail("getsockopt(fd %d, TCP_INFO): %s", p->fd, strerror(errno));
	if (ti.tcpi_state != TCP_ESTABLISHED)
		fail("restored fd %d: TCP state %u, not ESTABLISHED", p->fd, ti.tcpi_state);
}

/*
 * The manual's sequence, TCPCP_EXEC_ALL throughout, on one dummy socket.
 * Between tcpcp_close() and tcpcp_set_si() the connections exist nowhere
 * (tcpcp_close(3) BUGS): only quick checks happen there.
 */
static unsigned checkpoint_restore(struct pconn *c, int l4, int l6)
{
	struct result_list *r;
	void *buf = NULL;
	unsigned size = 0;
	int rec_fd[NCONN], ret, err;
	int dummy = socket(AF_INET, SOCK_STREAM, 0);

	if (dummy < 0)
		fail("socket(dummy): %s", strerror(errno));

	r = NULL;
	ret = tcpcp_stop(dummy, TCPCP_EXEC_ALL, &r);
	err = errno;
	check_call("tcpcp_stop(dummy, TCPCP_EXEC_ALL, &r)", ret, err, r, 0);
	check_list_fds("tcpcp_stop", r, c);
	free(r);

	r = NULL;
	ret = tcpcp_get_si(dummy, TCPCP_EXEC_ALL, &buf, &size, &r);
	err = errno;
	check_call("tcpcp_get_si(dummy, TCPCP_EXEC_ALL, &buf, &size, &r)", ret, err, r, 0);
	check_list_fds("tcpcp_get_si", r, c);
	free(r);
	check_si_buffer(buf, size, c, rec_fd);

	r = NULL;
	ret = tcpcp_close(dummy, &r);
	err = errno;
	check_call("tcpcp_close(dummy, &r)", ret, err, r, 0);
	check_list_fds("tcpcp_close", r, c);
	free(r);
	check_after_close(c, dummy, l4, l6);

	r = NULL;
	ret = tcpcp_set_si(dummy, TCPCP_EXEC_ALL, buf, size, &r);
	err = errno;
	check_call("tcpcp_set_si(dummy, TCPCP_EXEC_ALL, buf, size, &r)", ret, err, r, 1);
	adopt_restored(r, c, rec_fd);
	free(r);
	free(buf); /* only read by tcpcp_set_si(); still ours */

	r = NULL;
	ret = tcpcp_start(dummy, TCPCP_EXEC_ALL, &r);
	err = errno;
	check_call("tcpcp_start(dummy, TCPCP_EXEC_ALL, &r)", ret, err, r, 0);
	check_list_fds("tcpcp_start", r, c); /* c[].fd are the new fds now */
	free(r);

	close(dummy);
	for (int i = 0; i < NCONN; i++)
		check_restored_socket(&c[i]);
	return size;
}

/* On the restored sockets: the peer's queued and further bytes, then ours. */
static void parent_exchange(struct pconn *c)
{
	static uint8_t buf[PEER_BYTES + MORE_BYTES];
	char what[64];

	for (int i = 0; i < NCONN; i++) {
		set_io_timeouts(c[i].fd);
		snprintf(what, sizeof(what), "parent reading, peer port %u", c[i].peer_port);
		read_exact(c[i].fd, buf, PEER_BYTES + MORE_BYTES, what);
		verify(buf, c[i].family, c[i].peer_port, TO_PARENT, 0, PEER_BYTES + MORE_BYTES);
		fill(buf, c[i].family, c[i].peer_port, TO_PEER, PARENT_BYTES, MORE_BYTES);
		write_all(c[i].fd, buf, MORE_BYTES, "parent further write");
	}
}

/* The peer's "OK: ..." or "FAIL: ..."; reap_peer() then checks its exit. */
static void collect_peer_verdict(int sp, char *verdict, size_t size)
{
	if (recv_msg(sp, verdict, size) == 0)
		fail("the peer exited without a verdict");
	if (strncmp(verdict, "OK: ", 4) != 0)
		fail("peer reported: %s", verdict);
}

static void reap_peer(int sp, pid_t pid)
{
	int st;

	close(sp); /* the peer waits for this before closing its connections */
	if (waitpid(pid, &st, 0) != pid)
		fail("waitpid(peer): %s", strerror(errno));
	g_peer = -1;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail("the peer ended with status 0x%x", st);
}

int main(void)
{
	struct pconn c[NCONN];
	char verdict[MSG_MAX];
	unsigned port4, port6, si_size;
	int sp[2], l4, l6;
	const char *backend;
	pid_t pid;

	signal(SIGALRM, on_alarm);
	alarm(120);
	setup_netns();
	backend = tcpcp_backend_name();
	if (backend == NULL)
		fail("tcpcp_backend_name(): NULL, errno %d (%s), detail \"%s\"", errno,
		     strerror(errno), tcpcp_strerror_detail());

	l4 = listen_on(AF_INET, &port4);
	l6 = listen_on(AF_INET6, &port6);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp) < 0)
		fail("socketpair: %s", strerror(errno));
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		fail("fork: %s", strerror(errno));
	if (pid == 0) {
		g_who = "peer";
		g_sp = sp[1];
		alarm(120); /* a child does not inherit the pending alarm */
		close(sp[0]);
		close(l4);
		close(l6);
		peer_main(sp[1], port4, port6);
	}
	g_peer = pid;
	close(sp[1]);

	expect_msg(sp[0], "ready"); /* all connected, all peer data written */
	accept_all(l4, l6, c);
	wait_rcvq_full(c);
	queue_parent_data(c);
	si_size = checkpoint_restore(c, l4, l6);
	send_msg(sp[0], "go");
	parent_exchange(c);
	collect_peer_verdict(sp[0], verdict, sizeof(verdict));
	for (int i = 0; i < NCONN; i++)
		check_quiet_and_alive(c[i].fd, "parent final check");
	reap_peer(sp[0], pid);

	printf("PASS: backend %s; %d connections (%d IPv4, %d IPv6) stopped, saved "
	       "(%u-byte TCP-SI), closed, rebuilt and started with TCPCP_EXEC_ALL\n",
	       backend, NCONN, PER_FAMILY, PER_FAMILY, si_size);
	printf("      parent verified %d bytes per connection, peer: %s\n",
	       PEER_BYTES + MORE_BYTES, verdict + 4);
	return 0;
}
