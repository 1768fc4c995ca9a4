// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The BPF socket iterator (TCPCP_ACCEL=bpf) must save exactly what the
 * system calls save (TCPCP_ACCEL=none): many stopped connections with a
 * wide spread of socket, IP and TCP options, descriptor flags, data
 * queued both ways (unread, unacknowledged, unsent) and half-closed
 * states are saved once each way and the TCP-SI compared byte for byte.
 *
 * The same with TCPCP_ACCEL=auto (the iterator, and the queues peeked
 * for every socket in one io_uring), after a stop batched in an io_uring
 * too, whose every socket is checked (block, flags, repair mode); and a
 * batched stop(ALL) racing a thread that disconnects sockets under it:
 * every socket it reports is stopped, every other one untouched.
 *
 * One field is compared with a tolerance: ts_gen, the connection's
 * TCP_TIMESTAMP clock, which runs (1 kHz, or 1 MHz for a connection with
 * microsecond timestamps) between the two reads; the second read must
 * not be behind the first, nor more than a few seconds ahead.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "accel_probe.h"
#include "si_codec.h"
#include "tcpcp.h"
#include "tcpcp_si.h"
#include "testnet.h"
#include "uring.h"
#include "uring_abi.h"

#define NCONNS 48
#define NMANY 480 /* more than one round of the ring (five steps each) */
#define NRACE 400
#define BLOCK_MAGIC 0x74637032u /* lib/repair_block.c */
#define US_SEED 5
#define PEER_SEED 6
#define TS_SLACK_MS 5000u
#define OFF_TS_GEN                                                             \
	(offsetof(struct tcpcp_si_hdr, vargen) +                               \
	 offsetof(struct tcpcp_sie_vargen, ts_gen))

struct conn {
	int fd;   /* ours: saved */
	int peer; /* held by the child */
	int family;
	bool reuse; /* SO_REUSEADDR before the stop (batched_*) */
};

static void set_int(int fd, int level, int name, int v)
{
	cr_assert_eq(setsockopt(fd, level, name, &v, sizeof(v)), 0,
		     "setsockopt %d/%d = %d: %s", level, name, v,
		     strerror(errno));
}

static void set_ip_options(const struct conn *c, int i)
{
	bool v6 = c->family == AF_INET6;

	if (i % 4 == 2)
		set_int(c->fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP,
			v6 ? IPV6_UNICAST_HOPS : IP_TTL, 40 + i % 200);
	if (i % 4 == 3)
		set_int(c->fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP,
			v6 ? IPV6_TCLASS : IP_TOS, v6 ? 0x28 : IPTOS_LOWDELAY);
	if (i % 5 == 4)
		set_int(c->fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP,
			v6 ? IPV6_MTU_DISCOVER : IP_MTU_DISCOVER,
			v6 ? IPV6_PMTUDISC_DONT : IP_PMTUDISC_DONT);
}

static void set_tcp_options(const struct conn *c, int i)
{
	if ((i >> 1) & 1)
		set_int(c->fd, IPPROTO_TCP, TCP_NODELAY, 1);
	if (i % 6 == 1) /* on and off again: TCP_NAGLE_PUSH stays behind */
		set_int(c->fd, IPPROTO_TCP, TCP_NODELAY, 0);
	if ((i >> 2) & 1)
		set_int(c->fd, IPPROTO_TCP, TCP_CORK, 1);
	if ((i >> 3) & 1) {
		set_int(c->fd, SOL_SOCKET, SO_KEEPALIVE, 1);
		set_int(c->fd, IPPROTO_TCP, TCP_KEEPIDLE, 60 + i);
		set_int(c->fd, IPPROTO_TCP, TCP_KEEPINTVL, 5 + i);
		set_int(c->fd, IPPROTO_TCP, TCP_KEEPCNT, 3 + i % 5);
	} else if (i % 3 == 0) {
		set_int(c->fd, IPPROTO_TCP, TCP_KEEPIDLE, 7200 + i);
	}
	if (i % 4 == 1)
		set_int(c->fd, IPPROTO_TCP, TCP_USER_TIMEOUT, 30000 + i);
	if (i % 5 == 2)
		set_int(c->fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, 8192 + i);
}

static void set_socket_options(const struct conn *c, int i)
{
	struct linger lg = { .l_onoff = 1, .l_linger = i % 7 };

	if (i % 3 == 1)
		cr_assert_eq(setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg,
					sizeof(lg)), 0);
	if (i % 2 == 0)
		set_int(c->fd, SOL_SOCKET, SO_REUSEADDR, 1);
	if (i % 6 == 3)
		set_int(c->fd, SOL_SOCKET, SO_SNDBUF, 100000 + i);
	if (i % 6 == 4)
		set_int(c->fd, SOL_SOCKET, SO_RCVBUF, 90000 + i);
	if (i % 7 == 5)
		set_int(c->fd, SOL_SOCKET, SO_PRIORITY, 3);
	if (i % 7 == 6)
		set_int(c->fd, SOL_SOCKET, SO_MARK, 0x42 + i);
	if (i % 3 == 2)
		tn_set_nonblock(c->fd, true);
	if (i % 2 == 1) /* tn_accept gives FD_CLOEXEC */
		cr_assert_eq(fcntl(c->fd, F_SETFD, 0), 0);
}

/* Unread bytes from the peer; ours unacknowledged (the peer drops them)
 * or unsent (its small window is full); FINs either way. */
static void load(const struct conn *c, int i)
{
	static uint8_t buf[65536];
	size_t out = i % 4 == 0 ? sizeof(buf) : 2000 + 53 * (size_t)i;

	tn_write_pattern(c->peer, PEER_SEED, 0, 1000 + 37 * (size_t)i);
	if (i % 3 == 0)
		tn_block(c->peer);
	/* as much as the socket takes: the stream is not checked here */
	pattern_fill(buf, out, US_SEED, 0);
	cr_assert_gt(send(c->fd, buf, out, MSG_DONTWAIT), 0);
	if (i % 8 == 5)
		shutdown(c->fd, SHUT_WR); /* FIN_WAIT1 or FIN_WAIT2 */
	if (i % 8 == 6 || i % 8 == 7)
		shutdown(c->peer, SHUT_WR); /* CLOSE_WAIT */
	if (i % 8 == 7) {
		usleep(20000);
		if (i % 3 != 0)
			tn_block(c->peer);
		shutdown(c->fd, SHUT_WR); /* LAST_ACK */
	}
}

static void open_conn(struct conn *c, int i)
{
	uint16_t port;
	int lfd;

	c->family = i % 2 ? AF_INET6 : AF_INET;
	lfd = tn_listen(c->family, &port);
	c->peer = tn_connect(c->family, port, i % 4 == 0 ? 4096 : 0);
	c->fd = tn_accept(lfd);
	close(lfd);
	set_socket_options(c, i);
	set_ip_options(c, i);
	set_tcp_options(c, i);
	load(c, i);
}

/* The peers live on in a child, so that TCPCP_EXEC_ALL here sees only
 * our ends. */
static pid_t hand_peers_over(struct conn *c, unsigned int n)
{
	int hold[2];
	unsigned int i;
	pid_t pid;
	char x;

	cr_assert_eq(pipe(hold), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		for (i = 0; i < n; i++)
			close(c[i].fd);
		close(hold[1]);
		while (read(hold[0], &x, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	for (i = 0; i < n; i++)
		close(c[i].peer);
	close(hold[0]);
	return pid;
}

static void *get_si_n(int dummy, const char *accel, unsigned int n,
		      unsigned int *size)
{
	struct result_list *rl = NULL;
	void *si = NULL;
	unsigned int i;

	setenv("TCPCP_ACCEL", accel, 1);
	cr_assert_eq(tcpcp_get_si(dummy, TCPCP_EXEC_ALL, &si, size, &rl),
		     TCPCP_RET_OK, "get_si, TCPCP_ACCEL=%s: %s (%s)", accel,
		     strerror(errno), tcpcp_strerror_detail());
	cr_assert_eq(rl->fd_all, n, "TCPCP_ACCEL=%s: %u sockets", accel,
		     rl->fd_all);
	for (i = 0; i < rl->fd_all; i++)
		cr_assert_eq(rl->fdrs[i].result, 0, "TCPCP_ACCEL=%s: fd %d: %s",
			     accel, rl->fdrs[i].fd,
			     strerror(-rl->fdrs[i].result));
	free(rl);
	return si;
}

static void *get_si_all(int dummy, const char *accel, unsigned int *size)
{
	return get_si_n(dummy, accel, NCONNS, size);
}

static void stop_n(int dummy, unsigned int n)
{
	struct result_list *rl = NULL;

	cr_assert_eq(tcpcp_stop(dummy, TCPCP_EXEC_ALL, &rl), TCPCP_RET_OK,
		     "stop: %s (%s)", strerror(errno), tcpcp_strerror_detail());
	cr_assert_eq(rl->fd_all, n);
	cr_assert_eq(rl->fd_ng, 0);
	free(rl);
}

static void stop_all(int dummy)
{
	stop_n(dummy, NCONNS);
}

/* The iterator is loaded once per process and holds a link: its
 * descriptor, or -1. */
static int link_fd(void)
{
	return accel_fd_linked_to("anon_inode:bpf_link");
}

static bool iterator_loaded(void)
{
	return link_fd() >= 0;
}

static const char *why_not_loaded(void)
{
#ifndef TCPCP_HAVE_BPF
	return "libtcpcp was built without BPF (-Dbpf, clang, libbpf)";
#else
	if (access("/sys/kernel/btf/vmlinux", R_OK))
		return "the kernel has no BTF (/sys/kernel/btf/vmlinux)";
	if (geteuid())
		return "not root: loading needs CAP_BPF and CAP_PERFMON";
	return "the kernel refused the program (CO-RE relocation or "
	       "verifier): the system calls serve";
#endif
}

static void expect_same_conn(const struct tcpcp_conn *a,
			     const struct tcpcp_conn *b, unsigned int i)
{
	uint8_t *copy = malloc(b->raw_len);
	uint32_t d = b->ts_gen - a->ts_gen;
	uint32_t slack = TS_SLACK_MS * ((b->ts_gen & 1) ? 1000 : 1);
	unsigned int k;

	cr_assert_not_null(copy);
	cr_assert_eq(a->raw_len, b->raw_len, "connection %u (fd %u): %u bytes "
		     "without BPF, %u with", i, a->fd, a->raw_len, b->raw_len);
	cr_expect((int32_t)d >= 0 && d <= slack, "connection %u (fd %u): "
		  "ts_gen %u without BPF, %u with", i, a->fd, a->ts_gen,
		  b->ts_gen);
	memcpy(copy, b->raw, b->raw_len);
	memcpy(copy + OFF_TS_GEN, a->raw + OFF_TS_GEN, 4);
	for (k = 0; k < a->raw_len && copy[k] == a->raw[k]; k++)
		;
	cr_expect_eq(k, a->raw_len, "connection %u (fd %u, IPv%u, state %u): "
		     "byte %u differs: 0x%02x without BPF, 0x%02x with", i,
		     a->fd, a->ip_version, a->state, k, a->raw[k], copy[k]);
	free(copy);
}

static void expect_same_n(const void *a, unsigned int na, const void *b,
			  unsigned int nb, unsigned int n)
{
	uint32_t oa = TCPCP_SI_TOTAL_HDR_LEN, ob = oa;
	unsigned int i, count;

	cr_assert_eq(na, nb, "TCP-SI of %u bytes without BPF, %u with", na, nb);
	cr_assert_eq(si_check(a, na, &count), 0);
	cr_assert_eq(count, n);
	cr_assert_eq(memcmp(a, b, TCPCP_SI_TOTAL_HDR_LEN), 0);
	for (i = 0; i < count; i++) {
		struct tcpcp_conn ca, cb;

		cr_assert_eq(si_decode_conn(a, na, &oa, &ca), 0);
		cr_assert_eq(si_decode_conn(b, nb, &ob, &cb), 0);
		expect_same_conn(&ca, &cb, i);
	}
}

static void expect_same(const void *a, unsigned int na, const void *b,
			unsigned int nb)
{
	expect_same_n(a, na, b, nb, NCONNS);
}

/* Every state the test claims is there. */
static void check_states(const struct conn *c, unsigned int n)
{
	unsigned int seen = 0, i;

	for (i = 0; i < n; i++) {
		struct tcp_info ti;
		socklen_t len = sizeof(ti);

		cr_assert_eq(getsockopt(c[i].fd, IPPROTO_TCP, TCP_INFO, &ti,
					&len), 0);
		seen |= 1u << ti.tcpi_state;
	}
	cr_assert(seen & (1u << TCP_ESTABLISHED));
	cr_assert(seen & ((1u << TCP_FIN_WAIT1) | (1u << TCP_FIN_WAIT2)));
	cr_assert(seen & (1u << TCP_CLOSE_WAIT));
	cr_assert(seen & (1u << TCP_LAST_ACK), "no LAST_ACK: 0x%x", seen);
}

TestSuite(snapshot, .init = testnet_enter, .timeout = 120);

Test(snapshot, bpf_saves_what_syscalls_save)
{
	struct conn c[NCONNS];
	unsigned int i, na, nb;
	void *a, *b;
	pid_t child;
	int dummy;

	cr_assert(testnet_nofile(4 * NCONNS + 64));
	for (i = 0; i < NCONNS; i++)
		open_conn(&c[i], (int)i);
	child = hand_peers_over(c, NCONNS);
	usleep(200000); /* FINs and ACKs settle */
	check_states(c, NCONNS);
	dummy = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setenv("TCPCP_ACCEL", "bpf", 1);
	stop_all(dummy);
	a = get_si_all(dummy, "none", &na);
	b = get_si_all(dummy, "bpf", &nb);
	if (!iterator_loaded()) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		cr_skip_test("the BPF iterator is not loaded: %s",
			     why_not_loaded());
	}
	expect_same(a, na, b, nb);
	free(a);
	free(b);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
}

/* A daemon's closefrom() takes the library's descriptors and the numbers
 * go to other files: the next call notices, makes its link again and
 * saves the same.  The descriptors sit high, out of TCPCP_RESTORE_FD's way. */
Test(snapshot, survives_its_descriptor_taken)
{
	struct conn c[NCONNS];
	unsigned int i, na, nb;
	void *a, *b;
	pid_t child;
	int dummy, link, null;

	cr_assert(testnet_nofile(4 * NCONNS + 64));
	for (i = 0; i < NCONNS; i++)
		open_conn(&c[i], (int)i);
	child = hand_peers_over(c, NCONNS);
	usleep(200000);
	dummy = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setenv("TCPCP_ACCEL", "bpf", 1);
	stop_all(dummy);
	a = get_si_all(dummy, "none", &na);
	free(get_si_all(dummy, "bpf", &nb));
	link = link_fd();
	if (link < 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		cr_skip_test("the BPF iterator is not loaded: %s",
			     why_not_loaded());
	}
	cr_expect_geq(link, 4 * NCONNS + 64 - 128, "the link is at %d, not "
		      "near the top of the range", link);
	null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	cr_assert_eq(dup2(null, link), link);
	close(null);
	b = get_si_all(dummy, "bpf", &nb);
	expect_same(a, na, b, nb);
	cr_expect(iterator_loaded(), "the link was made again");
	free(a);
	free(b);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
}

/* --- TCPCP_ACCEL=auto: the io_uring batches --- */

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

static void end_peers(pid_t child)
{
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
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

Test(snapshot, uring_saves_what_syscalls_save)
{
	struct conn c[NCONNS];

	batched_both_ways(c, NCONNS);
}

Test(snapshot, uring_saves_many_in_rounds, .timeout = 240)
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

Test(snapshot, batched_stop_races_disconnects, .timeout = 240)
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
