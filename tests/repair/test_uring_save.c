// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The batched save (TCPCP_ACCEL=bpf,uring): a stop batched in an io_uring,
 * whose every socket is checked (block, flags, repair mode), then the
 * queues peeked for every socket in one io_uring; the TCP-SI must be
 * byte for byte that of TCPCP_ACCEL=none (snapconns.h).  And a batched
 * stop(ALL) racing a thread that disconnects sockets under it: every
 * socket it reports is stopped, every other one untouched.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "accel_probe.h"
#include "snapconns.h"
#include "tcpcp.h"
#include "testnet.h"

#define NMANY 480 /* more than one round of the ring (five steps each) */
#define NRACE 400
#define BLOCK_MAGIC 0x74637032u /* lib/repair_block.c */

TestSuite(uring_save, .init = testnet_enter, .timeout = 120);

static void skip_without_batch(void)
{
	char why[200];

	if (!accel_uring_usable(why, sizeof(why)))
		cr_skip_test("the batched save cannot run here: %s", why);
}

static bool has_ring(void)
{
	return accel_fd_linked_to("io_uring") >= 0;
}

static int get_int(int fd, int level, int name)
{
	socklen_t len = sizeof(int);
	int v = -1;

	cr_assert_eq(getsockopt(fd, level, name, &v, &len), 0,
		     "getsockopt %d/%d: %s", level, name, strerror(errno));
	return v;
}

/* tcpcp's block (its flags: SO_REUSEADDR), -1 for none, -2 another. */
static int block_flags(int fd)
{
	struct sock_filter prog[6];
	socklen_t len = 6;

	if (getsockopt(fd, SOL_SOCKET, SO_GET_FILTER, prog, &len))
		return -2;
	if (len == 0)
		return -1;
	if (len != 6 || prog[0].k != BLOCK_MAGIC)
		return -2;
	return (int)prog[1].k;
}

/* What a stop must leave: the block with the socket's SO_REUSEADDR,
 * repair mode on. */
static void expect_stopped(int fd, bool reuse)
{
	cr_expect_eq(block_flags(fd), reuse ? 1 : 0, "fd %d: block %d, "
		     "SO_REUSEADDR was %d", fd, block_flags(fd), reuse);
	cr_expect_eq(get_int(fd, IPPROTO_TCP, TCP_REPAIR), 1, "fd %d", fd);
}

/* After a save, no repair queue is selected (a send() would land in the
 * socket's own receive queue). */
static void expect_no_queue(const struct conn *c, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		cr_expect_eq(get_int(c[i].fd, IPPROTO_TCP, TCP_REPAIR_QUEUE),
			     TCP_NO_QUEUE, "fd %d: a queue is left selected",
			     c[i].fd);
}

/* n connections of every kind, stopped in a batch, saved both ways. */
static void batched_both_ways(struct conn *c, unsigned int n)
{
	unsigned int i, na, nb;
	void *a, *b;
	pid_t child;
	int dummy;

	skip_without_batch();
	cr_assert(testnet_nofile(4 * n + 64));
	for (i = 0; i < n; i++)
		open_conn(&c[i], (int)i);
	child = hand_peers_over(c, n);
	usleep(200000); /* FINs and ACKs settle */
	check_states(c, n);
	for (i = 0; i < n; i++)
		c[i].reuse = get_int(c[i].fd, SOL_SOCKET, SO_REUSEADDR) != 0;
	dummy = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setenv("TCPCP_ACCEL", "bpf,uring", 1);
	stop_n(dummy, n);
	cr_assert(has_ring(), "TCPCP_ACCEL=bpf,uring made no io_uring");
	for (i = 0; i < n; i++)
		expect_stopped(c[i].fd, c[i].reuse);
	a = get_si_n(dummy, "none", n, &na);
	b = get_si_n(dummy, "bpf,uring", n, &nb);
	if (!iterator_loaded()) {
		end_peers(child);
		cr_skip_test("the BPF iterator is not loaded: %s",
			     why_not_loaded());
	}
	expect_same_n(a, na, b, nb, n);
	expect_no_queue(c, n);
	free(a);
	free(b);
	end_peers(child);
}

Test(uring_save, saves_what_syscalls_save)
{
	struct conn c[NCONNS];

	batched_both_ways(c, NCONNS);
}

Test(uring_save, saves_many_in_rounds, .timeout = 240)
{
	struct conn *c = calloc(NMANY, sizeof(*c));

	cr_assert_not_null(c);
	batched_both_ways(c, NMANY);
	free(c);
}

/* --- a batched stop racing disconnects --- */

/* The thread disconnects (connect(AF_UNSPEC): a RST, CLOSE) the odd
 * sockets, from the last one down, only while a stop(ALL) runs, which
 * walks them upwards: some go between the walk and their stop. */
struct racer {
	const struct conn *c;
	unsigned int n;
	int go;   /* main: a stop is running */
	int idle; /* thread: not between a check of go and its disconnect */
	int done;
};

static void *disconnect_some(void *arg)
{
	struct racer *r = arg;
	struct sockaddr sa = { .sa_family = AF_UNSPEC };
	unsigned int i = r->n;

	while (i > 0) {
		__atomic_store_n(&r->idle, 1, __ATOMIC_SEQ_CST);
		while (!__atomic_load_n(&r->go, __ATOMIC_SEQ_CST) &&
		       !__atomic_load_n(&r->done, __ATOMIC_SEQ_CST))
			; /* a spin: a sleep would wake after the call */
		if (__atomic_load_n(&r->done, __ATOMIC_SEQ_CST))
			break;
		__atomic_store_n(&r->idle, 0, __ATOMIC_SEQ_CST);
		if (!__atomic_load_n(&r->go, __ATOMIC_SEQ_CST))
			continue;
		if (--i % 2)
			connect(r->c[i].fd, &sa, sizeof(sa));
		for (volatile int spin = 0; spin < 30000; spin++)
			;
	}
	__atomic_store_n(&r->done, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&r->idle, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static bool closed(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	cr_assert_eq(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len), 0);
	return ti.tcpi_state == TCP_CLOSE;
}

static int index_of(const struct conn *c, unsigned int n, int fd)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (c[i].fd == fd)
			return (int)i;
	cr_assert_fail("fd %d is none of the test's", fd);
	return -1;
}

/* One stop(ALL) with the thread let loose; which sockets it reported,
 * and how (1 stopped, 2 EBUSY: stopped earlier, closed since). */
static void stop_racing(struct racer *r, int dummy, int *res)
{
	struct result_list *rl = NULL;
	unsigned int k;
	int rc;

	memset(res, 0, r->n * sizeof(*res));
	__atomic_store_n(&r->go, 1, __ATOMIC_SEQ_CST);
	rc = tcpcp_stop(dummy, TCPCP_EXEC_ALL, &rl);
	__atomic_store_n(&r->go, 0, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&r->idle, __ATOMIC_SEQ_CST))
		usleep(10);
	cr_assert_eq(rc, TCPCP_RET_OK, "stop: %s (%s)", strerror(errno),
		     tcpcp_strerror_detail());
	for (k = 0; k < rl->fd_all; k++) {
		int i = index_of(r->c, r->n, rl->fdrs[k].fd);

		res[i] = rl->fdrs[k].result == 0 ? 1 :
			 rl->fdrs[k].result == -EBUSY ? 2 : 3;
		cr_expect_neq(res[i], 3, "fd %d: %s", rl->fdrs[k].fd,
			      strerror(-rl->fdrs[k].result));
	}
	free(rl);
}

/* Reported stopped: the block (with SO_REUSEADDR) and repair mode, and
 * if closed, closed in repair mode (tcp_disconnect: ECONNABORTED, where a
 * running socket sends a RST and has ECONNRESET: it was closed before it
 * was stopped, and must not have been reported).  Not reported, and not
 * left stopped by an earlier round: untouched. */
static unsigned int check_round(const struct conn *c, unsigned int n,
				const int *res, bool *dead)
{
	unsigned int i, untouched = 0;

	for (i = 0; i < n; i++) {
		int fd = c[i].fd;

		if (res[i] == 1) {
			expect_stopped(fd, c[i].reuse);
			cr_expect_neq(get_int(fd, SOL_SOCKET, SO_ERROR),
				      ECONNRESET, "fd %d: reported stopped, "
				      "but was reset before", fd);
		}
		if (res[i] == 2)
			cr_expect(dead[i] || closed(fd), "fd %d: EBUSY", fd);
		if (res[i] || dead[i])
			continue;
		untouched++;
		cr_expect(closed(fd), "fd %d: running, not stopped", fd);
		cr_expect_eq(block_flags(fd), -1, "fd %d: not reported, yet "
			     "filtered", fd);
		cr_expect_eq(get_int(fd, IPPROTO_TCP, TCP_REPAIR), 0,
			     "fd %d: not reported, yet in repair mode", fd);
		cr_expect_eq(get_int(fd, SOL_SOCKET, SO_REUSEADDR) != 0,
			     c[i].reuse, "fd %d: SO_REUSEADDR changed", fd);
	}
	return untouched;
}

/* start(ALL); a socket closed while stopped stays as it is (repair mode
 * on a closed socket: not tcpcp's to start). */
static void start_round(const struct conn *c, unsigned int n, int dummy,
			const int *res, bool *dead)
{
	struct result_list *rl = NULL;
	unsigned int i;

	cr_assert_eq(tcpcp_start(dummy, TCPCP_EXEC_ALL, &rl), TCPCP_RET_OK);
	free(rl);
	for (i = 0; i < n; i++)
		if (res[i] && closed(c[i].fd))
			dead[i] = true;
}

Test(uring_save, stop_races_disconnects, .timeout = 240)
{
	struct conn c[NRACE];
	struct racer r = { .c = c, .n = NRACE };
	int res[NRACE] = { 0 };
	bool dead[NRACE] = { false };
	unsigned int i, rounds = 0, untouched = 0;
	pthread_t t;
	pid_t child;
	int dummy;

	skip_without_batch();
	cr_assert(testnet_nofile(4 * NRACE + 64));
	for (i = 0; i < NRACE; i++) {
		uint16_t port;
		int lfd;

		c[i].family = i % 3 ? AF_INET : AF_INET6;
		lfd = tn_listen(c[i].family, &port);
		c[i].peer = tn_connect(c[i].family, port, 0);
		c[i].fd = tn_accept(lfd);
		close(lfd);
		set_int(c[i].fd, SOL_SOCKET, SO_REUSEADDR, i % 4 < 2);
		c[i].reuse = i % 4 < 2;
	}
	child = hand_peers_over(c, NRACE);
	dummy = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setenv("TCPCP_ACCEL", "bpf,uring", 1);
	/* the iterator and the ring are made by the first call: not raced */
	stop_n(dummy, NRACE);
	start_round(c, NRACE, dummy, res, dead);
	cr_assert_eq(pthread_create(&t, NULL, disconnect_some, &r), 0);
	while (!__atomic_load_n(&r.done, __ATOMIC_SEQ_CST) && rounds++ < 5000) {
		stop_racing(&r, dummy, res);
		untouched += check_round(c, NRACE, res, dead);
		start_round(c, NRACE, dummy, res, dead);
	}
	pthread_join(t, NULL);
	cr_expect(has_ring(), "TCPCP_ACCEL=bpf,uring made no io_uring");
	cr_expect_gt(untouched, 0, "no socket was disconnected first");
	end_peers(child);
}
