// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Readiness (DESIGN section 4): while restored connections wait for
 * accept(), their listener is readable for poll, select and epoll, as if
 * real clients were queued.  epoll returns the program's own epoll_data,
 * repeats a level-triggered report until every connection is taken,
 * reports an edge-triggered or one-shot registration once, and wakes a
 * thread that was already blocked in epoll_wait(-1).
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shimtest.h"

TestSuite(readiness, .init = st_setup, .fini = st_teardown, .timeout = 60);

/* An image of n accepted connections; q holds them, *ret_port their
 * listener's port. */
static void image_of(struct prog *a, unsigned int n, struct qconn *q,
		     uint16_t *ret_port)
{
	unsigned int i;
	int lfd;

	prog_start(a, "old", NULL);
	lfd = prog_listen(a, 0, NULL, ret_port);
	for (i = 0; i < n; i++) {
		qconn_accept(a, lfd, *ret_port, 0, &q[i]);
		qconn_load(a, &q[i], 2000, 2000);
	}
	checkpoint(a, SIGUSR2, n, NULL);
	for (i = 0; i < n; i++)
		q[i].fd = -1;
}

static void take(struct prog *p, int lfd, struct qconn *q, unsigned int n,
		 uint16_t port)
{
	const char *r = prog_cmd(p, "accept %d nb", lfd);
	struct qconn *c = qconn_by_ports(q, n, port, reply_num(r, "port"));

	qconn_verify(p, c, atoi(r), 1000);
}

Test(readiness, poll_and_select)
{
	struct prog a, b;
	struct qconn q[2];
	uint16_t port;
	long t0;
	int lfd;

	image_of(&a, 2, q, &port);
	prog_start(&b, "new", (const char *const[]){ restore_env(&a), NULL });
	lfd = prog_listen(&b, port, "nb", NULL);
	t0 = now_ms();
	cr_assert_str_eq(prog_cmd(&b, "poll %d 5000", lfd), "revents=0x1");
	cr_assert_str_eq(prog_cmd(&b, "select %d 5000", lfd), "readable");
	cr_assert_lt(now_ms() - t0, 1000, "the waits waited");
	take(&b, lfd, q, 2, port);
	cr_assert_str_eq(prog_cmd(&b, "poll %d 0", lfd), "revents=0x1");
	take(&b, lfd, q, 2, port);
	cr_assert_str_eq(prog_cmd(&b, "poll %d 200", lfd), "timeout");
	cr_assert_str_eq(prog_cmd(&b, "select %d 200", lfd), "timeout");
}

Test(readiness, epoll_level_edge_oneshot)
{
	struct prog a, b;
	struct qconn q[2];
	uint16_t port;
	int lfd, lt, et, os;

	image_of(&a, 2, q, &port);
	prog_start(&b, "new", (const char *const[]){ restore_env(&a), NULL });
	lfd = prog_listen(&b, port, "nb", NULL);
	lt = prog_cmd_int(&b, "epoll-new");
	et = prog_cmd_int(&b, "epoll-new");
	os = prog_cmd_int(&b, "epoll-new");
	prog_cmd(&b, "epoll-add %d %d 111", lt, lfd);
	prog_cmd(&b, "epoll-add %d %d 222 et", et, lfd);
	prog_cmd(&b, "epoll-add %d %d 333 oneshot", os, lfd);

	cr_assert_str_eq(prog_cmd(&b, "epoll-wait %d 2000", lt),
			 "n=1 data=111");
	cr_assert_str_eq(prog_cmd(&b, "epoll-wait %d 0", lt), "n=1 data=111",
			 "level-triggered: reported again");
	cr_assert_str_eq(prog_cmd(&b, "epoll-wait %d 2000", et),
			 "n=1 data=222");
	cr_assert_str_eq(prog_cmd(&b, "epoll-wait %d 200", et), "n=0",
			 "edge-triggered: once");
	cr_assert_str_eq(prog_cmd(&b, "epoll-wait %d 2000", os),
			 "n=1 data=333");
	cr_assert_str_eq(prog_cmd(&b, "epoll-wait %d 200", os), "n=0",
			 "one-shot: once");
	prog_cmd(&b, "epoll-mod %d %d 334 oneshot", os, lfd);
	cr_assert_str_eq(prog_cmd(&b, "epoll-wait %d 2000", os), "n=1 data=334",
			 "one-shot: again once re-armed");

	take(&b, lfd, q, 2, port);
	cr_assert_str_eq(prog_cmd(&b, "epoll-wait %d 0", lt), "n=1 data=111");
	take(&b, lfd, q, 2, port);
	cr_assert_str_eq(prog_cmd(&b, "epoll-wait %d 200", lt), "n=0",
			 "reported with nothing left");
	cr_assert_str_eq(prog_cmd(&b, "epoll-wait %d 200", et), "n=0");
}

/* A thread blocked in epoll_wait(-1) before the listener exists is woken
 * when the listener, with restored connections waiting, joins its set. */
Test(readiness, blocked_epoll_waiter_woken)
{
	struct prog a, b;
	struct qconn q[1];
	uint16_t port;
	int lfd, ep;

	image_of(&a, 1, q, &port);
	prog_start(&b, "new", (const char *const[]){ restore_env(&a), NULL });
	ep = prog_cmd_int(&b, "epoll-new");
	prog_cmd(&b, "epoll-wait-bg %d", ep);
	lfd = prog_listen(&b, port, "nb", NULL);
	prog_cmd(&b, "epoll-add %d %d 777", ep, lfd);
	cr_assert_str_eq(prog_cmd(&b, "epoll-bg-result 3000"), "n=1 data=777",
			 "the blocked thread was not told");
	take(&b, lfd, q, 1, port);
}
