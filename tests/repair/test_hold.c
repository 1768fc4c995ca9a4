// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The hold: after tcpcp_stop() the peer's segments are dropped even once the
 * socket is closed, until a socket with the same 4-tuple is started or the
 * hold expires (CRIU's "ABC" test).  The peer never sees a reset: checked on
 * its socket and on a capture of the loopback interface.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdbool.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "capture.h"
#include "tcpcp.h"
#include "testnet.h"

struct pair {
	int fd;   /* ours: stopped, closed, restored */
	int peer; /* the other end, left alone */
};

static struct pair pair_open(int family)
{
	uint16_t port;
	int lfd = tn_listen(family, &port), one = 1;
	struct pair p;

	p.peer = tn_connect(family, port, 0);
	p.fd = tn_accept(lfd);
	close(lfd);
	/* each letter must leave at once, not wait for an ACK (Nagle) */
	setsockopt(p.peer, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return p;
}

static void ok(int rc, struct result_list **rl, const char *what)
{
	cr_assert_eq(rc, TCPCP_RET_OK, "%s: %s (%s)", what, strerror(errno),
		     tcpcp_strerror_detail());
	free(*rl);
	*rl = NULL;
}

static void send_letter(int fd, char c)
{
	cr_assert_eq(send(fd, &c, 1, MSG_NOSIGNAL), 1, "peer send: %m");
}

static int peer_error(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
	return err;
}

/* A, stop, B, close, b (no socket at all now), set_si, start, C. */
static int abc(struct pair *p, int family, void **si, unsigned int *size)
{
	struct result_list *rl = NULL;
	int nfd;

	send_letter(p->peer, 'A');
	cr_assert(tn_wait_q(p->fd, tn_inq, 1, 5000));
	ok(tcpcp_stop(p->fd, TCPCP_EXEC_ONE, &rl), &rl, "stop");
	send_letter(p->peer, 'B');
	ok(tcpcp_get_si(p->fd, TCPCP_EXEC_ONE, si, size, &rl), &rl, "get_si");
	ok(tcpcp_close(p->fd, &rl), &rl, "close");
	send_letter(p->peer, 'b');
	usleep(700 * 1000); /* the peer retransmits into the gap */
	nfd = socket(family, SOCK_STREAM, 0);
	ok(tcpcp_set_si(nfd, TCPCP_EXEC_ONE, *si, *size, &rl), &rl, "set_si");
	ok(tcpcp_start(nfd, TCPCP_EXEC_ONE, &rl), &rl, "start");
	send_letter(p->peer, 'C');
	return nfd;
}

static void read_exactly(int fd, const char *want)
{
	size_t n = strlen(want), got = 0;
	char buf[16] = "";

	tn_set_nonblock(fd, false);
	while (got < n) {
		ssize_t r = recv(fd, buf + got, n - got, 0);

		cr_assert_gt(r, 0, "restored side: %s",
			     r ? strerror(errno) : "EOF");
		got += (size_t)r;
	}
	cr_assert_str_eq(buf, want);
}

static void abc_test(int family)
{
	int cap = cap_open("lo"), nfd;
	struct pair p = pair_open(family);
	unsigned int size;
	char c = 0;
	void *si;

	nfd = abc(&p, family, &si, &size);
	read_exactly(nfd, "ABbC");
	cr_assert_eq(send(nfd, "!", 1, 0), 1);
	cr_assert_eq(recv(p.peer, &c, 1, 0), 1, "peer: %m");
	cr_expect_eq(c, '!');
	cr_expect_eq(peer_error(p.peer), 0, "the peer saw %s",
		     strerror(peer_error(p.peer)));
	cr_expect_eq(cap_count_rst(cap), 0, "a RST was on the wire");
	free(si);
}

TestSuite(hold, .init = testnet_enter, .timeout = 60);

Test(hold, abc_ipv4)
{
	abc_test(AF_INET);
}

Test(hold, abc_ipv6)
{
	abc_test(AF_INET6);
}

/* Sends one letter after another until the peer's socket reports the
 * reset (a retransmission may meet it first); true if it came in time. */
static bool reset_within(int peer, int ms)
{
	for (; ms > 0; ms -= 100) {
		if (peer_error(peer) == ECONNRESET ||
		    (send(peer, "r", 1, MSG_NOSIGNAL) < 0 && errno == ECONNRESET))
			return true;
		usleep(100 * 1000);
	}
	return false;
}

/* The control: with the hold off, a segment after close resets the peer,
 * so the tests above would notice a hold that does nothing. */
Test(hold, without_hold_the_peer_is_reset)
{
	struct result_list *rl = NULL;
	struct pair p = pair_open(AF_INET);
	int cap = cap_open("lo");

	setenv("TCPCP_HOLD_SECONDS", "0", 1);
	ok(tcpcp_stop(p.fd, TCPCP_EXEC_ONE, &rl), &rl, "stop");
	ok(tcpcp_close(p.fd, &rl), &rl, "close");
	send_letter(p.peer, 'b');
	cr_expect(reset_within(p.peer, 2000), "the peer was not reset");
	cr_expect_gt(cap_count_rst(cap), 0, "no RST on the wire");
}

/* An expired hold removes itself: the kernel answers as for any unknown
 * connection. */
Test(hold, expires)
{
	struct result_list *rl = NULL;
	struct pair p = pair_open(AF_INET);
	int cap = cap_open("lo");

	setenv("TCPCP_HOLD_SECONDS", "2", 1);
	ok(tcpcp_stop(p.fd, TCPCP_EXEC_ONE, &rl), &rl, "stop");
	ok(tcpcp_close(p.fd, &rl), &rl, "close");
	send_letter(p.peer, 'x');
	usleep(1000 * 1000);
	cr_expect_eq(cap_count_rst(cap), 0, "not held for its first second");
	cr_expect_eq(peer_error(p.peer), 0);
	cr_expect(reset_within(p.peer, 5000), "still held long after expiry");
	cr_expect_gt(cap_count_rst(cap), 0, "no RST on the wire after expiry");
}

Test(hold, bad_hold_seconds_is_einval)
{
	struct result_list *rl = NULL;
	struct pair p = pair_open(AF_INET);

	setenv("TCPCP_HOLD_SECONDS", "soon", 1);
	cr_expect_eq(tcpcp_stop(p.fd, TCPCP_EXEC_ONE, &rl), TCPCP_RET_NG);
	cr_expect_eq(errno, EINVAL);
	cr_expect_eq(send(p.fd, "z", 1, 0), 1, "nothing was stopped");
}

/* When nftables cannot hold (here: a table of that name that is not ours),
 * the calls still work and say plainly that the restart window is open. */
Test(hold, unavailable_is_a_warning)
{
	struct result_list *rl = NULL;
	struct pair p = pair_open(AF_INET);

	cr_assert_eq(system("nft add table inet tcpcp2 && nft add set inet "
			    "tcpcp2 hold4 '{ type ipv4_addr; }'"), 0,
		     "nft(8) from nftables is needed");
	ok(tcpcp_stop(p.fd, TCPCP_EXEC_ONE, &rl), &rl, "stop");
	cr_expect(strstr(tcpcp_strerror_detail(), "no hold"), "detail: %s",
		  tcpcp_strerror_detail());
	ok(tcpcp_start(p.fd, TCPCP_EXEC_ONE, &rl), &rl, "start");
	cr_expect_eq(send(p.fd, "s", 1, 0), 1, "the connection runs on");
}

/* tcpcp_hold(): a saved connection with no hold at all (closed with the
 * hold off) gets one from its TCP-SI alone, as on the host a server
 * moves to; restored and started there, it carries on: ABbC again. */
Test(hold, tcpcp_hold_from_a_tcp_si)
{
	struct result_list *rl = NULL;
	struct pair p = pair_open(AF_INET);
	int cap = cap_open("lo"), nfd;
	unsigned int size;
	void *si;

	send_letter(p.peer, 'A');
	cr_assert(tn_wait_q(p.fd, tn_inq, 1, 5000));
	setenv("TCPCP_HOLD_SECONDS", "0", 1);
	ok(tcpcp_stop(p.fd, TCPCP_EXEC_ONE, &rl), &rl, "stop");
	send_letter(p.peer, 'B');
	ok(tcpcp_get_si(p.fd, TCPCP_EXEC_ONE, &si, &size, &rl), &rl, "get_si");
	setenv("TCPCP_HOLD_SECONDS", "30", 1);
	cr_assert_eq(tcpcp_hold(si, size), TCPCP_RET_OK, "hold: %m (%s)",
		     tcpcp_strerror_detail());
	ok(tcpcp_close(p.fd, &rl), &rl, "close");
	send_letter(p.peer, 'b');
	usleep(700 * 1000);
	nfd = socket(AF_INET, SOCK_STREAM, 0);
	ok(tcpcp_set_si(nfd, TCPCP_EXEC_ONE, si, size, &rl), &rl, "set_si");
	ok(tcpcp_start(nfd, TCPCP_EXEC_ONE, &rl), &rl, "start");
	send_letter(p.peer, 'C');
	read_exactly(nfd, "ABbC");
	cr_expect_eq(peer_error(p.peer), 0, "the peer saw %s",
		     strerror(peer_error(p.peer)));
	cr_expect_eq(cap_count_rst(cap), 0, "a RST was on the wire");
	free(si);
}

Test(hold, tcpcp_hold_bad_input)
{
	static const char junk[200] = "not a TCP-SI";

	cr_expect_eq(tcpcp_hold(junk, sizeof(junk)), TCPCP_RET_NG);
	cr_expect_eq(errno, EINVAL);
	cr_expect_eq(tcpcp_hold((void *)8, 200), TCPCP_RET_NG);
	cr_expect_eq(errno, EFAULT);
	setenv("TCPCP_HOLD_SECONDS", "soon", 1);
	cr_expect_eq(tcpcp_hold(junk, sizeof(junk)), TCPCP_RET_NG);
	cr_expect_eq(errno, EINVAL);
}
