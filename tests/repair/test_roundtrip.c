// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * One connection moved from its socket onto a fresh one, with 64 KiB queued
 * each way: unread in our receive queue, and in our send queue both sent but
 * unacknowledged and never sent (the peer drops our segments and has a small
 * window).  After the restore both ends check every byte and keep talking.
 */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "server.h"
#include "tcpcp.h"
#include "testnet.h"

#define K64 65536

static struct peer_cfg queued_both_ways(int family)
{
	return (struct peer_cfg){
		.family = family,
		.nconns = 1,
		.to_server = K64,
		.from_server = K64,
		.after = 4096,
		.rcvbuf = 4096,
		.block = true,
	};
}

/* The state the test claims to exercise really is there. */
static void assert_queued(const struct side *s)
{
	int fd = s->fds[0];
	int outq = tn_outq(fd), unsent = tn_outq_unsent(fd);

	cr_assert_eq(tn_inq(fd), K64, "receive queue");
	cr_assert_eq(outq, K64, "send queue");
	cr_assert_gt(unsent, 0, "no unsent bytes");
	cr_assert_gt(outq - unsent, 0, "no unacknowledged bytes");
}

static void roundtrip(int family, void (*checkpoint)(struct side *))
{
	struct peer_cfg cfg = queued_both_ways(family);
	struct side s;

	side_open(&s, &cfg, 1 << 20);
	assert_queued(&s);
	checkpoint(&s);
	side_verify(&s);
}

TestSuite(roundtrip, .init = testnet_enter, .timeout = 60);

Test(roundtrip, ipv4_exec_all)
{
	roundtrip(AF_INET, checkpoint_all);
}

Test(roundtrip, ipv4_exec_one)
{
	roundtrip(AF_INET, checkpoint_one);
}

Test(roundtrip, ipv6_exec_all)
{
	roundtrip(AF_INET6, checkpoint_all);
}

Test(roundtrip, ipv6_exec_one)
{
	roundtrip(AF_INET6, checkpoint_one);
}

static int get_int(int fd, int level, int name)
{
	int v = -1;
	socklen_t len = sizeof(v);

	cr_assert_eq(getsockopt(fd, level, name, &v, &len), 0);
	return v;
}

static void set_int(int fd, int level, int name, int v)
{
	cr_assert_eq(setsockopt(fd, level, name, &v, sizeof(v)), 0);
}

/* Options the program set survive, SO_REUSEADDR included (leaving repair
 * mode clears it). */
Test(roundtrip, options_survive)
{
	struct peer_cfg cfg = queued_both_ways(AF_INET);
	struct side s;
	int fd;

	cfg.to_server = cfg.from_server = 1000;
	side_open(&s, &cfg, 0);
	fd = s.fds[0];
	set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
	set_int(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
	set_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, 77);
	set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
	set_int(fd, SOL_SOCKET, SO_PRIORITY, 5);
	checkpoint_one(&s);
	fd = s.fds[0];
	cr_expect_eq(get_int(fd, SOL_SOCKET, SO_REUSEADDR), 1);
	cr_expect_eq(get_int(fd, SOL_SOCKET, SO_KEEPALIVE), 1);
	cr_expect_eq(get_int(fd, IPPROTO_TCP, TCP_KEEPIDLE), 77);
	cr_expect_eq(get_int(fd, IPPROTO_TCP, TCP_NODELAY), 1);
	cr_expect_eq(get_int(fd, SOL_SOCKET, SO_PRIORITY), 5);
	side_verify(&s);
}

/* get_si on a live socket is a snapshot: the connection runs on untouched. */
Test(roundtrip, snapshot_of_live_socket)
{
	struct peer_cfg cfg = queued_both_ways(AF_INET);
	struct result_list *rl = NULL;
	unsigned int size = 0;
	void *buf = NULL;
	struct side s;

	cfg.block = false;
	cfg.rcvbuf = 0;
	side_open(&s, &cfg, 1 << 20);
	cr_assert_eq(tcpcp_get_si(s.fds[0], TCPCP_EXEC_ONE, &buf, &size, &rl),
		     TCPCP_RET_OK, "%s", tcpcp_strerror_detail());
	cr_assert_gt(size, K64, "the unread bytes are in the snapshot");
	free(rl);
	free(buf);
	side_verify(&s);
}

static unsigned int snd_mss(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	cr_assert_eq(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len), 0);
	return ti.tcpi_snd_mss;
}

/* The rebuilt socket sends segments of the size the connection used (up
 * to what TCP_MAXSEG can express), not the 536-byte default it would be
 * left with: on a fast path that is the difference between full speed
 * and a crawl. */
Test(roundtrip, segment_size_kept)
{
	struct peer_cfg cfg = queued_both_ways(AF_INET);
	unsigned int before, want;
	struct side s;

	cfg.block = false;
	cfg.rcvbuf = 0;
	side_open(&s, &cfg, 1 << 20);
	before = snd_mss(s.fds[0]);
	want = before < 32755 ? before : 32755;
	checkpoint_one(&s);
	cr_expect_geq(snd_mss(s.fds[0]), want, "MSS %u after, %u before",
		      snd_mss(s.fds[0]), before);
	side_verify(&s);
}
