// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * TCPCP_ON_CHECKPOINT (DESIGN section 4): exit (the default: image
 * durable, then exit status 0), term (the program's own SIGTERM handler
 * runs), continue (a snapshot: the program and its connections go on),
 * stop (the connections stay stopped while the program runs).  And
 * IMAGE.done says so.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "capture.h"
#include "shimtest.h"

#define K64 65536

TestSuite(action, .init = st_setup, .fini = st_teardown, .timeout = 60);

static void two_conns(struct prog *p, struct qconn *q, uint16_t *ret_port)
{
	int lfd = prog_listen(p, 0, NULL, ret_port), i;

	for (i = 0; i < 2; i++) {
		qconn_accept(p, lfd, *ret_port, 4096, &q[i]);
		qconn_load(p, &q[i], 20000 * (i + 1), K64);
	}
}

static void restore_two(struct prog *old, uint16_t port, struct qconn *q)
{
	struct prog b;
	const char *r;
	int lfd, i;

	prog_start(&b, "new", (const char *const[]){ restore_env(old), NULL });
	lfd = prog_listen(&b, port, NULL, NULL);
	for (i = 0; i < 2; i++) {
		r = prog_cmd(&b, "accept %d", lfd);
		qconn_verify(&b, qconn_by_ports(q, 2, port,
						reply_num(r, "port")),
			     atoi(r), 10000);
	}
}

/* The default: the image, IMAGE.done with every field, exit status 0. */
Test(action, exit_is_default)
{
	struct prog a;
	struct qconn q[2];
	struct image_done d;
	struct stat sb;
	uint16_t port;
	int cap = cap_open("lo");

	prog_start(&a, "old", NULL);
	two_conns(&a, q, &port);
	checkpoint(&a, SIGUSR2, 2, &d);
	cr_assert_str_eq(d.action, "exit");
	cr_assert_eq(d.failed, 0);
	cr_assert_str_eq(d.image, st_image(a.pid));
	cr_assert_eq(stat(st_image(a.pid), &sb), 0);
	cr_assert_eq(d.bytes, (uint64_t)sb.st_size);
	cr_assert_eq(sb.st_mode & 07777, 0600, "image mode %o", sb.st_mode);
	cr_assert_gt(d.freeze_us, 0);
	cr_assert_eq(log_count("checkpoint: 2 connections saved"), 1);
	usleep(300000);
	cr_assert_eq(cap_count_rst(cap), 0, "the exit reset a connection");
	restore_two(&a, port, q);
}

/* Nothing to save is still a checkpoint. */
Test(action, exit_without_connections)
{
	struct prog a;
	struct image img;

	prog_start(&a, "old", NULL);
	prog_listen(&a, 0, NULL, NULL);
	checkpoint(&a, SIGUSR2, 0, NULL);
	st_read_image(a.pid, &img);
	cr_assert_eq(img.n_conns, 0);
	image_free(&img);
}

/*
 * continue: a snapshot.  The program and its connections go on (bytes
 * queued before it and sent after it all arrive), the image is valid (and
 * `tcpcp show` reads it), a second snapshot replaces the first.
 */
Test(action, continue_snapshot)
{
	const char *env[] = { "TCPCP_ON_CHECKPOINT=continue", NULL };
	const char *tool = getenv("TCPCP_TOOL");
	struct prog a;
	struct qconn q[2];
	struct image_done d;
	struct image img;
	uint16_t port;
	int i;

	prog_start(&a, "prog", env);
	two_conns(&a, q, &port);
	for (i = 0; i < 2; i++) {
		checkpoint(&a, SIGUSR2, 2, &d);
		cr_assert_str_eq(d.action, "continue");
		st_read_image(a.pid, &img);
		cr_assert_eq(img.n_conns, 2);
		cr_assert_eq(img.pid, (uint32_t)a.pid);
		image_free(&img);
		qconn_verify(&a, &q[0], q[0].fd, 5000);
	}
	prog_cmd(&a, "ping");
	qconn_verify(&a, &q[1], q[1].fd, 50000);
	if (tool && !access(tool, X_OK)) {
		char cmd[512];

		snprintf(cmd, sizeof(cmd), "%s show %s | grep -q "
			 "'^connections: *2$'", tool, st_image(a.pid));
		cr_assert_eq(system(cmd), 0, "tcpcp show does not say 2 "
			     "connections");
	}
}

/* term: the program's SIGTERM handler runs (it exits 0 itself); the
 * connections, left stopped, come back in the next process. */
Test(action, term_runs_program_handler)
{
	const char *env[] = { "TCPCP_ON_CHECKPOINT=term", NULL };
	struct prog a;
	struct qconn q[2];
	struct image_done d;
	uint16_t port;

	prog_start(&a, "old", env);
	prog_cmd(&a, "term-handler");
	two_conns(&a, q, &port);
	checkpoint(&a, SIGUSR2, 2, &d);
	cr_assert_str_eq(d.action, "term");
	cr_assert(prog_event(&a, "SIGTERM", 5000), "the program's SIGTERM "
		  "handler did not run");
	prog_expect_exit0(&a, 5000);
	restore_two(&a, port, q);
}

/* Whatever the peer has, checked: how many bytes. */
static uint64_t drain(const struct qconn *q)
{
	uint8_t buf[65536];
	uint64_t n = 0;
	ssize_t r, i;

	while ((r = recv(q->peer, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		for (i = 0; i < r; i++)
			cr_assert_eq(buf[i], pattern_byte(q->s2c, q->s2c_read +
							  n + (uint64_t)i));
		n += (uint64_t)r;
	}
	return n;
}

/*
 * stop: the program runs on, its connections do not: what the peer sends
 * is not taken, what the program had queued does not leave, and the
 * peer sees no reset even when the program is then killed.  The image
 * brings them back, with what the peer sent meanwhile.
 */
Test(action, stop_leaves_connections_stopped)
{
	const char *env[] = { "TCPCP_ON_CHECKPOINT=stop", NULL };
	struct prog a;
	struct qconn q[2];
	struct image_done d;
	uint16_t port;
	const char *r;
	char buf[16];
	long inq;
	int cap = cap_open("lo"), i;

	prog_start(&a, "old", env);
	two_conns(&a, q, &port);
	checkpoint(&a, SIGUSR2, 2, &d);
	cr_assert_str_eq(d.action, "stop");
	prog_cmd(&a, "ping");

	inq = reply_num(prog_cmd(&a, "queues %d", q[0].fd), "inq");
	for (i = 0; i < 2; i++) {
		/* the peer takes what it had, which opens its window */
		q[i].s2c_read += drain(&q[i]);
		peer_send(q[i].peer, q[i].c2s, q[i].c2s_sent, 3000);
		q[i].c2s_sent += 3000;
	}
	usleep(500000);
	r = prog_cmd(&a, "queues %d", q[0].fd);
	cr_assert_eq(reply_num(r, "inq"), inq, "bytes got in: %s", r);
	cr_assert_lt(q[0].s2c_read, q[0].s2c_sent, "nothing was left to send");
	cr_assert_eq(recv(q[0].peer, buf, sizeof(buf), MSG_DONTWAIT), -1,
		     "the program's queued bytes left while stopped");
	/* what the program sees of a stopped connection: reported only */
	cr_log_info("stopped: recv -> %s", prog_try(&a, "recv %d %u %llu 1",
			q[0].fd, q[0].c2s,
			(unsigned long long)q[0].c2s_read));
	cr_log_info("stopped: send -> %s", prog_try(&a, "send %d 1 0 1 some",
			q[0].fd));

	prog_kill(&a, SIGKILL);
	cr_assert(prog_wait(&a, 5000));
	cr_assert_str_eq(peer_fate(q[0].peer, 1000, false), "nothing");
	cr_assert_eq(cap_count_rst(cap), 0, "a reset went over lo");
	restore_two(&a, port, q);
}
