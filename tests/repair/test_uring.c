// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The repair backend's restore batched in an io_uring (TCPCP_ACCEL=uring,
 * the default where the kernel can) against the plain system calls
 * (TCPCP_ACCEL=none): many connections with bytes queued both ways,
 * unacknowledged and unsent, verified byte for byte; and a restore where
 * one connection's 4-tuple is still taken, which must fail that one
 * connection with the same error and detail either way.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "accel_probe.h"
#include "server.h"
#include "tcpcp.h"
#include "testnet.h"
#include "uring.h"
#include "uring_abi.h"

static void skip_without_uring(void)
{
	char why[200];

	if (!accel_uring_usable(why, sizeof(why)))
		cr_skip_test("the batched restore cannot run here: %s", why);
}

/* The library's ring is the process's, kept open once it was made. */
static int ring_fd(void)
{
	return accel_fd_linked_to("io_uring");
}

static bool has_ring(void)
{
	return ring_fd() >= 0;
}

static void many(int family, unsigned int n, const char *accel)
{
	struct peer_cfg cfg = {
		.family = family,
		.nconns = n,
		.to_server = 3000,
		.from_server = 24000,
		.after = 500,
		.rcvbuf = 4096, /* a small window: some of ours stays unsent */
		.block = true,
	};
	struct side s;

	setenv("TCPCP_ACCEL", accel, 1);
	if (!testnet_nofile(2 * n + 64))
		cr_skip_test("RLIMIT_NOFILE cannot be raised to %u here", 2 * n + 64);
	side_open(&s, &cfg, 0);
	cr_assert_gt(tn_outq_unsent(s.fds[n - 1]), 0, "no unsent bytes");
	cr_assert_gt(tn_outq(s.fds[n - 1]) - tn_outq_unsent(s.fds[n - 1]), 0,
		     "no unacknowledged bytes");
	checkpoint_all(&s);
	/* the default (auto) leaves uring out: it costs more than it saves
	 * where system calls are cheap (accel.h) */
	cr_assert_eq(has_ring(), strstr(accel, "uring") != NULL,
		     "TCPCP_ACCEL=%s and the library's io_uring", accel);
	side_verify(&s);
}

TestSuite(uring, .init = testnet_enter, .timeout = 240);

Test(uring, plain_ipv4_200)
{
	many(AF_INET, 200, "none");
}

Test(uring, batched_ipv4_200)
{
	skip_without_uring();
	many(AF_INET, 200, "bpf,uring");
}

Test(uring, default_is_plain)
{
	many(AF_INET, 50, "auto");
}

Test(uring, batched_ipv6_200)
{
	skip_without_uring();
	many(AF_INET6, 200, "uring");
}

/* A daemon's closefrom() takes the ring's descriptor and the number goes
 * to another file: the next restore makes a ring of its own, and never
 * touches that file.  The ring sits high, out of TCPCP_RESTORE_FD's way. */
Test(uring, ring_taken_by_the_program)
{
	struct stat before, after;
	int ring, null;

	skip_without_uring();
	many(AF_INET, 50, "uring");
	ring = ring_fd();
	cr_assert_geq(ring, 2 * 50 + 64 - 128, "the ring is at %d", ring);
	null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	cr_assert_eq(dup2(null, ring), ring);
	close(null);
	cr_assert_eq(fstat(ring, &before), 0);
	many(AF_INET, 50, "uring");
	cr_assert_eq(fstat(ring, &after), 0, "the program's file was closed");
	cr_expect(before.st_ino == after.st_ino && before.st_dev == after.st_dev,
		  "the program's file was replaced");
}

/* What a restore reported, for comparing the two ways. */
struct outcome {
	unsigned int fd_all, fd_ng;
	int failed_at; /* index into s->fds */
	int err;
	char detail[300];
};

static int index_of(const struct side *s, int fd)
{
	unsigned int i;

	for (i = 0; i < s->cfg.nconns; i++)
		if (s->fds[i] == fd)
			return (int)i;
	cr_assert_fail("fd %d is none of ours", fd);
	return -1;
}

/* Every connection but `kept` is closed before set_si(ALL): kept's
 * 4-tuple is still taken, so its rebuild fails at connect(); it is then
 * started as it was, and every byte of every connection checked. */
static void taken_tuple(unsigned int n, unsigned int kept, struct outcome *o)
{
	struct peer_cfg cfg = {
		.family = AF_INET, .nconns = n, .to_server = 2000,
		.from_server = 3000, .after = 100, .block = true,
	};
	int dummy, rc, k;
	struct result_list *rl = NULL;
	unsigned int i, size = 0;
	struct side s;
	void *buf = NULL;

	side_open(&s, &cfg, 0);
	dummy = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(tcpcp_stop(dummy, TCPCP_EXEC_ALL, &rl), TCPCP_RET_OK);
	free(rl);
	cr_assert_eq(tcpcp_get_si(dummy, TCPCP_EXEC_ALL, &buf, &size, &rl),
		     TCPCP_RET_OK);
	free(rl);
	for (i = 0; i < n; i++) {
		if (i == kept)
			continue;
		cr_assert_eq(tcpcp_close(s.fds[i], &rl), TCPCP_RET_OK);
		free(rl);
	}
	rc = tcpcp_set_si(dummy, TCPCP_EXEC_ALL, buf, size, &rl);
	cr_assert_eq(rc, TCPCP_RET_OK, "set_si(ALL): %s", strerror(errno));
	snprintf(o->detail, sizeof(o->detail), "%s", tcpcp_strerror_detail());
	o->fd_all = rl->fd_all;
	o->fd_ng = rl->fd_ng;
	o->failed_at = -1;
	for (i = 0; i < rl->fd_all; i++) {
		k = index_of(&s, rl->fdrs[i].fd);
		if (rl->fdrs[i].result < 0) {
			o->failed_at = k;
			o->err = rl->fdrs[i].result;
		} else {
			s.fds[k] = rl->fdrs[i].result;
		}
	}
	free(rl);
	free(buf);
	rc = tcpcp_start(dummy, TCPCP_EXEC_ALL, &rl);
	cr_assert_eq(rc, TCPCP_RET_OK);
	cr_assert_eq(rl->fd_all, n, "started: %u of %u", rl->fd_all, n);
	cr_assert_eq(rl->fd_ng, 0, "%u failed to start", rl->fd_ng);
	free(rl);
	close(dummy);
	side_verify(&s);
}

Test(uring, taken_tuple_same_result_both_ways)
{
	struct outcome plain, batched;

	skip_without_uring();
	setenv("TCPCP_ACCEL", "none", 1);
	taken_tuple(20, 7, &plain);
	cr_assert_eq(plain.fd_all, 20);
	cr_assert_eq(plain.fd_ng, 1);
	cr_assert_eq(plain.failed_at, 7);
	cr_assert(plain.err == -EADDRNOTAVAIL || plain.err == -EADDRINUSE,
		  "plain: %s", strerror(-plain.err));
	cr_assert_eq(has_ring(), false);
	setenv("TCPCP_ACCEL", "uring", 1);
	taken_tuple(20, 7, &batched);
	cr_assert_eq(has_ring(), true);
	cr_assert_eq(batched.fd_all, plain.fd_all);
	cr_assert_eq(batched.fd_ng, plain.fd_ng);
	cr_assert_eq(batched.failed_at, plain.failed_at);
	cr_assert_eq(batched.err, plain.err, "batched %s, plain %s",
		     strerror(-batched.err), strerror(-plain.err));
	cr_assert_str_eq(batched.detail, plain.detail);
	cr_assert_str_neq(plain.detail, "");
}
