// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The shim's table of descriptors (DESIGN section 4, "Tracking"): right
 * across dup, dup2, dup3, F_DUPFD, close_range, closefrom, fork and exec,
 * and never trusted at a checkpoint: a close the shim did not see leaves
 * a stale entry that the checkpoint must recognise by its inode.  And the
 * shim's own descriptors survive a daemon that closes everything above 2.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shimtest.h"

#define K64 65536

TestSuite(fdtable, .init = st_setup, .fini = st_teardown, .timeout = 90);

/* The new program binds port and accepts n connections: ours. */
static void restore_accepted(struct prog *old, uint16_t port, struct qconn *q,
			     unsigned int n)
{
	struct prog b;
	unsigned int i;
	const char *r;
	int lfd;

	prog_start(&b, "new", (const char *const[]){ restore_env(old), NULL });
	lfd = prog_listen(&b, port, NULL, NULL);
	for (i = 0; i < n; i++) {
		r = prog_cmd(&b, "accept %d", lfd);
		qconn_verify(&b, qconn_by_ports(q, n, port,
						reply_num(r, "port")),
			     atoi(r), 10000);
	}
}

static void expect_record(const struct image *img, const struct qconn *q,
			  int fd, uint8_t kind, uint16_t listener_port)
{
	struct tcpcp_conn c;
	const struct image_conn *rec = qconn_find(img, q, &c);

	cr_assert_eq(rec->kind, kind, "%u <-> %u: kind %u, want %u", q->pport,
		     q->tport, rec->kind, kind);
	if (fd >= 0)
		cr_assert_eq(rec->fd, fd, "recorded fd %d, want %d", rec->fd,
			     fd);
	if (kind == IMAGE_KIND_ACCEPTED)
		cr_assert_eq(ntohs(((const struct sockaddr_in *)&rec->listener)
					   ->sin_port),
			     listener_port, "accepted from the wrong listener");
}

/* dup, dup2 to 50, F_DUPFD from 60, then the original and the copies
 * closed: the last copy is checkpointed, once, and comes back. */
Test(fdtable, dup_chain_original_closed)
{
	struct prog a;
	struct qconn q;
	struct image img;
	uint16_t port;
	int lfd, b, c;

	prog_start(&a, "old", NULL);
	lfd = prog_listen(&a, 0, NULL, &port);
	qconn_accept(&a, lfd, port, 4096, &q);
	b = prog_cmd_int(&a, "dup %d", q.fd);
	cr_assert_eq(prog_cmd_int(&a, "dup2 %d 50", b), 50);
	c = prog_cmd_int(&a, "dupfd 50 60");
	cr_assert_geq(c, 60);
	prog_cmd(&a, "close %d %d 50", q.fd, b);
	q.fd = c;
	qconn_load(&a, &q, K64, K64);
	checkpoint(&a, SIGUSR2, 1, NULL);
	st_read_image(a.pid, &img);
	cr_assert_eq(img.n_conns, 1);
	expect_record(&img, &q, c, IMAGE_KIND_ACCEPTED, port);
	image_free(&img);
	restore_accepted(&a, port, &q, 1);
}

/* Five descriptors for one connection (dup, dup2, dup3 O_CLOEXEC,
 * F_DUPFD_CLOEXEC): one connection in the image.  A sixth number that
 * held a copy is taken over by an eventfd through dup2. */
Test(fdtable, many_copies_one_connection)
{
	struct prog a;
	struct qconn q;
	struct image img;
	uint16_t port;
	int lfd, ev;

	prog_start(&a, "old", NULL);
	lfd = prog_listen(&a, 0, NULL, &port);
	qconn_accept(&a, lfd, port, 4096, &q);
	prog_cmd(&a, "dup %d", q.fd);
	prog_cmd(&a, "dup2 %d 50", q.fd);
	prog_cmd(&a, "dup3 %d 51 cx", q.fd);
	prog_cmd(&a, "dupfd %d 60 cx", q.fd);
	prog_cmd(&a, "dup2 %d 52", q.fd);
	ev = prog_cmd_int(&a, "eventfd");
	prog_cmd(&a, "dup2 %d 52", ev);
	cr_assert(!strncmp(prog_cmd(&a, "fdinfo 52"), "other", 5));
	qconn_load(&a, &q, 1000, K64);
	checkpoint(&a, SIGUSR2, 1, NULL);
	st_read_image(a.pid, &img);
	cr_assert_eq(img.n_conns, 1);
	expect_record(&img, &q, -1, IMAGE_KIND_ACCEPTED, port);
	image_free(&img);
	restore_accepted(&a, port, &q, 1);
}

/*
 * close_range() over three tracked connections, then two new accepted
 * connections and an outgoing one reuse the same numbers: the image
 * holds the new three with the right kinds, and the closed ones' peers
 * saw a FIN.
 */
static void range_then_reuse(const char *how)
{
	struct prog a;
	struct qconn old[3], q[3];
	struct image img;
	uint16_t port, pport;
	int plfd = tn_listen(AF_INET, &pport), lfd, i;

	prog_start(&a, "old", NULL);
	lfd = prog_listen(&a, 0, NULL, &port);
	for (i = 0; i < 3; i++)
		qconn_accept(&a, lfd, port, 0, &old[i]);
	cr_assert_eq(old[2].fd, old[0].fd + 2, "numbers not consecutive");
	if (!strcmp(how, "close_range"))
		prog_cmd(&a, "close_range %d %d", old[0].fd, old[2].fd);
	else
		prog_cmd(&a, "closefrom %d", old[0].fd);
	for (i = 0; i < 3; i++)
		cr_assert_str_eq(peer_fate(old[i].peer, 3000, false), "EOF");
	qconn_accept(&a, lfd, port, 0, &q[0]);
	qconn_connect(&a, plfd, pport, NULL, &q[1]);
	qconn_accept(&a, lfd, port, 0, &q[2]);
	for (i = 0; i < 3; i++) {
		cr_assert_eq(q[i].fd, old[i].fd, "number %d not reused",
			     old[i].fd);
		qconn_load(&a, &q[i], 5000, 5000);
	}
	checkpoint(&a, SIGUSR2, 3, NULL);
	st_read_image(a.pid, &img);
	expect_record(&img, &q[0], q[0].fd, IMAGE_KIND_ACCEPTED, port);
	expect_record(&img, &q[1], q[1].fd, IMAGE_KIND_CONNECTED, 0);
	expect_record(&img, &q[2], q[2].fd, IMAGE_KIND_ACCEPTED, port);
	image_free(&img);
	{
		struct prog b;
		struct qconn acc[2] = { q[0], q[2] };
		const char *r;
		int fd;

		prog_start(&b, "new", (const char *const[]){ restore_env(&a),
			   NULL });
		lfd = prog_listen(&b, port, NULL, NULL);
		for (i = 0; i < 2; i++) {
			r = prog_cmd(&b, "accept %d", lfd);
			qconn_verify(&b, qconn_by_ports(acc, 2, port,
							reply_num(r, "port")),
				     atoi(r), 5000);
		}
		fd = prog_cmd_int(&b, "socket");
		cr_assert_str_eq(prog_cmd(&b, "connectfd %d %u", fd, pport),
				 "rc=0 errno=0");
		qconn_verify(&b, &q[1], fd, 5000);
	}
}

Test(fdtable, close_range_then_numbers_reused)
{
	range_then_reuse("close_range");
}

Test(fdtable, closefrom_then_numbers_reused)
{
	range_then_reuse("closefrom");
}

/* close_range(CLOSE_RANGE_CLOEXEC) closes nothing: the connections stay
 * tracked (accepted, from their listener). */
Test(fdtable, close_range_cloexec_keeps_entries)
{
	struct prog a;
	struct qconn q[2];
	struct image img;
	uint16_t port;
	int lfd, i;

	prog_start(&a, "old", NULL);
	lfd = prog_listen(&a, 0, NULL, &port);
	for (i = 0; i < 2; i++)
		qconn_accept(&a, lfd, port, 0, &q[i]);
	prog_cmd(&a, "close_range %d %d cloexec", q[0].fd, q[1].fd);
	for (i = 0; i < 2; i++)
		qconn_load(&a, &q[i], 1000, 1000);
	checkpoint(&a, SIGUSR2, 2, NULL);
	st_read_image(a.pid, &img);
	for (i = 0; i < 2; i++)
		expect_record(&img, &q[i], q[i].fd, IMAGE_KIND_ACCEPTED, port);
	image_free(&img);
	restore_accepted(&a, port, q, 2);
}

/*
 * Closes the shim cannot see (syscall(SYS_close)): an accepted
 * connection's number is reused by a connection accepted behind the
 * shim's back from another listener, another's by an eventfd, and the
 * first listener's by a UDP socket.  The checkpoint takes the live
 * connections for what they are now (re-validated by inode): the reused
 * number belongs to the second listener.
 */
Test(fdtable, raw_close_numbers_reused)
{
	struct prog a, b;
	struct qconn gone[2], q[2];
	struct image img;
	uint16_t port1, port2;
	int l1, l2, fd, i;
	const char *r;

	prog_start(&a, "old", NULL);
	l1 = prog_listen(&a, 0, NULL, &port1);
	l2 = prog_listen(&a, 0, NULL, &port2);
	qconn_accept(&a, l1, port1, 0, &gone[0]);
	qconn_accept(&a, l1, port1, 0, &gone[1]);
	qconn_accept(&a, l1, port1, 4096, &q[0]); /* tracked, stays */

	prog_cmd(&a, "rawclose %d", gone[0].fd);
	qconn_init(&q[1], peer_connect(port2, 4096));
	fd = prog_cmd_int(&a, "rawaccept %d", l2);
	cr_assert_eq(fd, gone[0].fd, "raw accept took %d, not %d", fd,
		     gone[0].fd);
	q[1].fd = fd;
	prog_cmd(&a, "rawclose %d", gone[1].fd);
	cr_assert_eq(prog_cmd_int(&a, "eventfd"), gone[1].fd);
	prog_cmd(&a, "rawclose %d", l1);
	cr_assert_eq(prog_cmd_int(&a, "udp"), l1);
	for (i = 0; i < 2; i++) {
		cr_assert_str_eq(peer_fate(gone[i].peer, 3000, false), "EOF");
		qconn_load(&a, &q[i], 20000, K64);
	}
	checkpoint(&a, SIGUSR2, 2, NULL);
	st_read_image(a.pid, &img);
	expect_record(&img, &q[0], q[0].fd, IMAGE_KIND_ACCEPTED, port1);
	expect_record(&img, &q[1], q[1].fd, IMAGE_KIND_ACCEPTED, port2);
	image_free(&img);

	prog_start(&b, "new", (const char *const[]){ restore_env(&a), NULL });
	for (i = 0; i < 2; i++) {
		int lfd = prog_listen(&b, i ? port2 : port1, NULL, NULL);

		r = prog_cmd(&b, "accept %d", lfd);
		cr_assert_eq(reply_num(r, "port"), q[i].tport, "%s", r);
		qconn_verify(&b, &q[i], atoi(r), 10000);
	}
}

/*
 * fork(): the child keeps one connection (the parent closes its copy),
 * and checkpoints it on its own signal into its own image; the parent
 * runs on with its other connection.  The child's connection comes back
 * in a third process.
 */
Test(fdtable, fork_child_checkpoints_its_connection)
{
	struct prog a;
	struct qconn q[2];
	struct image_done d;
	struct image img;
	uint16_t port;
	int lfd, i;
	pid_t kid;

	prog_start(&a, "parent", NULL);
	lfd = prog_listen(&a, 0, NULL, &port);
	for (i = 0; i < 2; i++) {
		qconn_accept(&a, lfd, port, 4096, &q[i]);
		qconn_load(&a, &q[i], 10000, K64);
	}
	kid = prog_cmd_int(&a, "fork %d", q[0].fd);
	cr_assert_gt(kid, 0);
	usleep(100000); /* the child's worker is up */
	cr_assert_eq(kill(kid, SIGUSR2), 0);
	cr_assert_eq(st_wait_done(kid, &d, 10000), 0, "no image from the "
		     "child %d", kid);
	cr_assert(d.ok, "child's checkpoint: %s", d.error);
	cr_assert_eq(d.connections, 1);
	cr_assert_eq(d.pid, (uint32_t)kid);
	cr_assert_str_eq(prog_cmd(&a, "reap %d 5000", kid), "exited=0");
	cr_assert_eq(access(st_image(a.pid), F_OK), -1, "the parent wrote an "
		     "image too");

	/* the parent is untouched: its connection and listener work */
	qconn_verify(&a, &q[1], q[1].fd, 10000);
	{
		struct qconn late;

		qconn_accept(&a, lfd, port, 0, &late);
		qconn_verify(&a, &late, late.fd, 1000);
	}

	st_read_image(kid, &img);
	cr_assert_eq(img.n_conns, 1);
	expect_record(&img, &q[0], -1, IMAGE_KIND_ACCEPTED, port);
	image_free(&img);
	/* the parent's listener holds the address: it goes first */
	prog_try(&a, "exit 0");
	prog_expect_exit0(&a, 5000);
	{
		struct prog child = { .pid = kid };

		restore_accepted(&child, port, &q[0], 1);
	}
}

/*
 * exec(): the program execs itself keeping its listener, an accepted
 * connection and an outgoing one.  The new image's shim finds them in
 * /proc/self/fd; at its checkpoint the accepted one is known for what it
 * is by the listener on its local port, the other is outgoing.
 */
Test(fdtable, exec_keeps_connections)
{
	struct prog a, b;
	struct qconn q[2];
	struct image img;
	uint16_t port, pport;
	int plfd = tn_listen(AF_INET, &pport), lfd, fd, i;
	const char *r;

	prog_start(&a, "old", NULL);
	lfd = prog_listen(&a, 0, NULL, &port);
	qconn_accept(&a, lfd, port, 4096, &q[0]);
	qconn_connect(&a, plfd, pport, "cx", &q[1]);
	r = prog_cmd(&a, "exec %d %d %d", lfd, q[0].fd, q[1].fd);
	cr_assert(strstr(r, "exec=1"), "exec: %s", r);
	cr_assert_eq(reply_num(r, "pid"), a.pid);
	for (i = 0; i < 2; i++) {
		r = prog_cmd(&a, "fdinfo %d", q[i].fd);
		cr_assert_eq(reply_num(r, "peer"), q[i].tport, "%s", r);
		qconn_load(&a, &q[i], 20000, K64);
	}
	checkpoint(&a, SIGUSR2, 2, NULL);
	st_read_image(a.pid, &img);
	expect_record(&img, &q[0], q[0].fd, IMAGE_KIND_ACCEPTED, port);
	expect_record(&img, &q[1], q[1].fd, IMAGE_KIND_CONNECTED, 0);
	image_free(&img);

	prog_start(&b, "new", (const char *const[]){ restore_env(&a), NULL });
	lfd = prog_listen(&b, port, NULL, NULL);
	r = prog_cmd(&b, "accept %d", lfd);
	qconn_verify(&b, &q[0], atoi(r), 10000);
	fd = prog_cmd_int(&b, "socket");
	cr_assert_str_eq(prog_cmd(&b, "connectfd %d %u", fd, pport),
			 "rc=0 errno=0");
	qconn_verify(&b, &q[1], fd, 10000);
}

/*
 * A daemon closes every descriptor above 2 when it starts (closefrom(3),
 * or a close() loop), then opens its listener and accepts.  The shim's
 * own descriptors (its log, its signalfd, its eventfd) must survive that,
 * or the checkpoint never happens, or the shim's log lines are written
 * into whatever connection got the log's number.
 */
static void daemon_closes_everything(const char *how)
{
	struct prog a;
	struct qconn q;
	uint16_t port;
	int lfd;

	prog_start(&a, "daemon", NULL);
	if (!strcmp(how, "closefrom"))
		prog_cmd(&a, "closefrom 3");
	else
		prog_cmd(&a, "close_range 3 1023");
	lfd = prog_listen(&a, 0, NULL, &port);
	qconn_accept(&a, lfd, port, 4096, &q);
	qconn_load(&a, &q, 1000, 1000);
	checkpoint(&a, SIGUSR2, 1, NULL);
	cr_assert_eq(log_count("checkpoint: 1 connections saved"), 1,
		     "the shim's log line is not in its log");
	restore_accepted(&a, port, &q, 1);
}

Test(fdtable, daemon_closefrom_3)
{
	daemon_closes_everything("closefrom");
}

Test(fdtable, daemon_close_range_3)
{
	daemon_closes_everything("close_range");
}

/* The same daemon's first connection is outgoing and gets descriptor 3,
 * the first number closefrom() freed: a line the shim logs then (the
 * program installs a SIGUSR2 handler) must not reach the peer, wherever
 * the shim's log was. */
Test(fdtable, daemon_closefrom_3_log_stays_out_of_connection)
{
	struct prog a;
	struct qconn q;
	uint16_t pport;
	int plfd = tn_listen(AF_INET, &pport);

	prog_start(&a, "daemon", NULL);
	prog_cmd(&a, "closefrom 3");
	qconn_connect(&a, plfd, pport, NULL, &q);
	cr_assert_eq(q.fd, 3);
	prog_cmd(&a, "sig-install USR2 sigaction");
	qconn_verify(&a, &q, q.fd, 1000);
}
