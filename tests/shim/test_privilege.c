// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Privileges (DESIGN sections 4 and 6): a program without CAP_NET_ADMIN
 * (here: root with it dropped from the bounding set before exec, as
 * `setpriv --bounding-set=-net_admin` or a server that drops root does)
 * hears about it in one line at start, not at its first checkpoint.  Its
 * checkpoints then fail without costing a connection, and a restore fails
 * without costing the program.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shimtest.h"

TestSuite(privilege, .init = st_setup, .fini = st_teardown, .timeout = 60);

#define NO_CAP "no CAP_NET_ADMIN"

Test(privilege, said_at_start_checkpoint_fails_safely)
{
	struct prog a;
	struct qconn q;
	struct image_done d;
	uint16_t port;
	int lfd;

	prog_start_nocap(&a, "prog", NULL);
	cr_assert_eq(log_count(NO_CAP), 1, "no line at start");
	lfd = prog_listen(&a, 0, NULL, &port);
	qconn_accept(&a, lfd, port, 4096, &q);
	qconn_load(&a, &q, 20000, 20000);
	prog_kill(&a, SIGUSR2);
	cr_assert_eq(st_wait_done(a.pid, &d, 10000), 0);
	cr_assert(!d.ok, "a checkpoint without CAP_NET_ADMIN succeeded");
	cr_log_info("checkpoint without CAP_NET_ADMIN: %s", d.error);
	cr_assert_str_eq(d.action, "continue");
	cr_assert_eq(log_count("checkpoint failed, every connection runs on"),
		     1);
	qconn_verify(&a, &q, q.fd, 10000);
	cr_assert_eq(log_count(NO_CAP), 1);
}

Test(privilege, restore_without_it_fails_safely)
{
	const char *env[] = { "TCPCP_HOLD_SECONDS=2", NULL };
	struct prog a, b;
	struct qconn q, fresh;
	uint16_t port;
	int lfd;

	prog_start(&a, "old", env);
	cr_assert_eq(log_count(NO_CAP), 0, "root has it");
	lfd = prog_listen(&a, 0, NULL, &port);
	qconn_accept(&a, lfd, port, 4096, &q);
	qconn_load(&a, &q, 1000, 1000);
	checkpoint(&a, SIGUSR2, 1, NULL);

	prog_start_nocap(&b, "new", (const char *const[]){ restore_env(&a),
			 NULL });
	cr_assert_eq(log_count(NO_CAP), 1);
	lfd = prog_listen(&b, port, NULL, NULL);
	cr_assert_eq(log_count("failed: Operation not permitted"), 1,
		     "want one line for the connection");
	qconn_accept(&b, lfd, port, 0, &fresh);
	qconn_verify(&b, &fresh, fresh.fd, 1000);
	cr_assert_str_eq(peer_fate(q.peer, 20000, true), "RST");
}
