// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Half-closed connections moved onto a fresh socket: FIN_WAIT1, FIN_WAIT2,
 * CLOSE_WAIT, LAST_ACK and CLOSING, with data still queued where the state
 * allows.  The rebuilt socket must be in the same state, and the rest of the
 * exchange must go as it would have: every byte, EOF where due, writes
 * failing where due, and no reset.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "capture.h"
#include "tcpcp.h"
#include "testnet.h"

#define US_SEED 11   /* bytes we send */
#define PEER_SEED 22 /* bytes the peer sends */

struct pair {
	int fd;   /* ours: moved */
	int peer; /* left alone */
	int family;
	int cap;
};

static void timeouts(int fd)
{
	struct timeval tv = { .tv_sec = 10 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

static struct pair pair_open(int family)
{
	uint16_t port;
	int lfd = tn_listen(family, &port);
	struct pair p = { .family = family, .cap = cap_open("lo") };

	p.peer = tn_connect(family, port, 0);
	p.fd = tn_accept(lfd);
	close(lfd);
	timeouts(p.peer);
	return p;
}

static int tcp_state(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	cr_assert_eq(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len), 0);
	return ti.tcpi_state;
}

static void wait_state(int fd, int want)
{
	int i;

	for (i = 0; i < 5000 && tcp_state(fd) != want; i++)
		usleep(1000);
	cr_assert_eq(tcp_state(fd), want, "state %d, expected %d",
		     tcp_state(fd), want);
}

static void ok(int rc, struct result_list **rl, const char *what)
{
	cr_assert_eq(rc, TCPCP_RET_OK, "%s: %s (%s)", what, strerror(errno),
		     tcpcp_strerror_detail());
	free(*rl);
	*rl = NULL;
}

/* stop, get_si, close, set_si onto a new socket (checked to be in the same
 * state before it is started), start. */
static void move(struct pair *p)
{
	struct result_list *rl = NULL;
	int state = tcp_state(p->fd), nfd;
	unsigned int size;
	void *si;

	ok(tcpcp_stop(p->fd, TCPCP_EXEC_ONE, &rl), &rl, "stop");
	ok(tcpcp_get_si(p->fd, TCPCP_EXEC_ONE, &si, &size, &rl), &rl, "get_si");
	ok(tcpcp_close(p->fd, &rl), &rl, "close");
	nfd = socket(p->family, SOCK_STREAM, 0);
	ok(tcpcp_set_si(nfd, TCPCP_EXEC_ONE, si, size, &rl), &rl, "set_si");
	cr_expect_eq(tcp_state(nfd), state, "rebuilt in state %d, was %d",
		     tcp_state(nfd), state);
	ok(tcpcp_start(nfd, TCPCP_EXEC_ONE, &rl), &rl, "start");
	free(si);
	timeouts(nfd);
	p->fd = nfd;
}

static void read_pattern(int fd, uint32_t seed, uint64_t off, size_t len)
{
	uint8_t buf[4096];
	size_t got = 0, i;

	while (got < len) {
		size_t want = len - got < sizeof(buf) ? len - got : sizeof(buf);
		ssize_t r = recv(fd, buf, want, 0);

		cr_assert_gt(r, 0, "fd %d at byte %zu: %s", fd, got,
			     r ? strerror(errno) : "early EOF");
		for (i = 0; i < (size_t)r; i++)
			cr_assert_eq(buf[i], pattern_byte(seed, off + got + i),
				     "byte %zu", got + i);
		got += (size_t)r;
	}
}

static void expect_eof(int fd)
{
	char c;
	ssize_t r = recv(fd, &c, 1, 0);

	cr_assert_eq(r, 0, "fd %d: expected EOF, got %zd (%s)", fd, r,
		     r < 0 ? strerror(errno) : "data");
}

static void expect_write_fails(int fd)
{
	cr_expect_eq(send(fd, "x", 1, MSG_NOSIGNAL), -1, "write after our FIN");
	cr_expect_eq(errno, EPIPE);
}

static void no_reset(struct pair *p)
{
	int err = 0;
	socklen_t len = sizeof(err);

	getsockopt(p->peer, SOL_SOCKET, SO_ERROR, &err, &len);
	cr_expect_eq(err, 0, "the peer saw %s", strerror(err));
	cr_expect_eq(cap_count_rst(p->cap), 0, "a RST was on the wire");
}

TestSuite(halfclosed, .init = testnet_enter, .timeout = 60);

/* The peer is done sending; we still have things to say. */
static void close_wait(int family)
{
	struct pair p = pair_open(family);

	tn_write_pattern(p.peer, PEER_SEED, 0, 1000);
	shutdown(p.peer, SHUT_WR);
	wait_state(p.fd, TCP_CLOSE_WAIT);
	tn_block(p.peer); /* what we send now stays unacknowledged */
	tn_write_pattern(p.fd, US_SEED, 0, 2000);
	move(&p);
	tn_unblock(p.peer);
	read_pattern(p.fd, PEER_SEED, 0, 1000);
	expect_eof(p.fd);
	tn_write_pattern(p.fd, US_SEED, 2000, 500);
	read_pattern(p.peer, US_SEED, 0, 2500);
	shutdown(p.fd, SHUT_WR);
	expect_eof(p.peer);
	no_reset(&p);
}

Test(halfclosed, close_wait_ipv4)
{
	close_wait(AF_INET);
}

Test(halfclosed, close_wait_ipv6)
{
	close_wait(AF_INET6);
}

/* We are done sending, the peer has not acknowledged our FIN yet. */
static void fin_wait1(int family)
{
	struct pair p = pair_open(family);

	tn_write_pattern(p.peer, PEER_SEED, 0, 1000);
	cr_assert(tn_wait_q(p.fd, tn_inq, 1000, 5000));
	tn_block(p.peer);
	tn_write_pattern(p.fd, US_SEED, 0, 2000);
	shutdown(p.fd, SHUT_WR);
	wait_state(p.fd, TCP_FIN_WAIT1);
	move(&p);
	tn_unblock(p.peer);
	read_pattern(p.peer, US_SEED, 0, 2000);
	expect_eof(p.peer);
	expect_write_fails(p.fd);
	tn_write_pattern(p.peer, PEER_SEED, 1000, 500);
	read_pattern(p.fd, PEER_SEED, 0, 1500);
	shutdown(p.peer, SHUT_WR);
	expect_eof(p.fd);
	no_reset(&p);
}

Test(halfclosed, fin_wait1_ipv4)
{
	fin_wait1(AF_INET);
}

Test(halfclosed, fin_wait1_ipv6)
{
	fin_wait1(AF_INET6);
}

/* Our FIN was acknowledged; the peer still sends. */
Test(halfclosed, fin_wait2)
{
	struct pair p = pair_open(AF_INET);

	shutdown(p.fd, SHUT_WR);
	wait_state(p.fd, TCP_FIN_WAIT2);
	tn_write_pattern(p.peer, PEER_SEED, 0, 1000);
	cr_assert(tn_wait_q(p.fd, tn_inq, 1000, 5000));
	move(&p);
	read_pattern(p.fd, PEER_SEED, 0, 1000);
	expect_write_fails(p.fd);
	tn_write_pattern(p.peer, PEER_SEED, 1000, 300);
	read_pattern(p.fd, PEER_SEED, 1000, 300);
	expect_eof(p.peer);
	shutdown(p.peer, SHUT_WR);
	expect_eof(p.fd);
	no_reset(&p);
}

/* The peer closed first; our FIN, after our last bytes, is unacknowledged. */
Test(halfclosed, last_ack)
{
	struct pair p = pair_open(AF_INET);

	shutdown(p.peer, SHUT_WR);
	wait_state(p.fd, TCP_CLOSE_WAIT);
	tn_block(p.peer);
	tn_write_pattern(p.fd, US_SEED, 0, 1500);
	shutdown(p.fd, SHUT_WR);
	wait_state(p.fd, TCP_LAST_ACK);
	move(&p);
	tn_unblock(p.peer);
	read_pattern(p.peer, US_SEED, 0, 1500);
	expect_eof(p.peer);
	expect_eof(p.fd);
	wait_state(p.fd, TCP_CLOSE); /* the peer's ACK of our FIN arrived */
	no_reset(&p);
}

/* Both closed at once: each FIN crossed the other. */
Test(halfclosed, closing)
{
	struct pair p = pair_open(AF_INET);

	tn_block(p.peer);
	tn_write_pattern(p.fd, US_SEED, 0, 700);
	shutdown(p.fd, SHUT_WR);
	wait_state(p.fd, TCP_FIN_WAIT1);
	shutdown(p.peer, SHUT_WR);
	wait_state(p.fd, TCP_CLOSING);
	move(&p);
	tn_unblock(p.peer);
	read_pattern(p.peer, US_SEED, 0, 700);
	expect_eof(p.peer);
	expect_eof(p.fd);
	/* the ACK of our FIN arrived: the connection went to TIME_WAIT, which
	 * leaves the socket itself CLOSED */
	wait_state(p.fd, TCP_CLOSE);
	no_reset(&p);
}
