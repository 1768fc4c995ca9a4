// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Restore paths (DESIGN section 4, "Restore on claim"): accepted
 * connections come back when the restarted program binds their listener
 * and are returned by accept() first, with the flags and the address it
 * asks for; outgoing ones when it connects to the same peer; every one at
 * its old descriptor with TCPCP_RESTORE_FD=1; unclaimed ones are closed
 * with a FIN; connections still in a listener's backlog at the checkpoint
 * come back through accept() too.  Every connection carries bytes queued
 * both ways across the checkpoint, checked on both ends.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture.h"
#include "shimtest.h"

#define K64 65536

TestSuite(restore, .init = st_setup, .fini = st_teardown, .timeout = 90);

static uint8_t kind_of(const struct image *img, const struct qconn *q)
{
	struct tcpcp_conn c;

	return qconn_find(img, q, &c)->kind;
}

/* accept reply -> our connection, each only once */
static struct qconn *accepted(struct qconn *q, unsigned int n,
			      uint16_t lport, const char *r)
{
	struct qconn *c = qconn_by_ports(q, n, lport, reply_num(r, "port"));

	cr_assert_eq(c->fd, -1, "port %u accepted twice", c->tport);
	c->fd = atoi(r);
	return c;
}

/*
 * Six accepted connections (the old program took them non-blocking and
 * close-on-exec); the new program asks for each with other flags and
 * address buffers, then gets a client that connected after the restore.
 */
Test(restore, accept_flags_and_addresses)
{
	static const char *const asks[] = {
		"accept", "nb", "cx", "nbcx", "0 4", "0 null",
	};
	struct prog a, b;
	struct qconn q[6], *c;
	struct image img;
	uint16_t port;
	unsigned int i;
	const char *r;
	int lfd, late;

	prog_start(&a, "old", NULL);
	lfd = prog_listen(&a, 0, NULL, &port);
	for (i = 0; i < 6; i++) {
		qconn_init(&q[i], peer_connect(port, 0));
		r = prog_cmd(&a, "accept %d nbcx", lfd);
		q[i].fd = atoi(r);
		cr_assert_eq(reply_num(r, "port"), q[i].tport);
		qconn_load(&a, &q[i], 4096 * (i + 1), 8192);
	}
	checkpoint(&a, SIGUSR2, 6, NULL);
	st_read_image(a.pid, &img);
	for (i = 0; i < 6; i++) {
		cr_assert_eq(kind_of(&img, &q[i]), IMAGE_KIND_ACCEPTED);
		q[i].fd = -1;
	}
	image_free(&img);

	prog_start(&b, "new", (const char *const[]){ restore_env(&a), NULL });
	lfd = prog_listen(&b, port, NULL, NULL);
	/* a real client, queued before the program accepts anything */
	late = peer_connect(port, 0);
	for (i = 0; i < 6; i++) {
		r = prog_cmd(&b, "accept %d %s", lfd, asks[i]);
		c = accepted(q, 6, port, r);
		cr_assert_eq(reply_num(r, "nb"), strstr(asks[i], "nb") != NULL,
			     "accept %s: %s", asks[i], r);
		cr_assert_eq(reply_num(r, "cx"), strstr(asks[i], "cx") != NULL,
			     "accept %s: %s", asks[i], r);
		if (strstr(asks[i], "null"))
			cr_assert(strstr(r, "len=null"), "%s", r);
		else
			cr_assert(reply_num(r, "len") == 16 &&
					  reply_num(r, "family") == AF_INET &&
					  reply_num(r, "tail") == 1,
				  "accept %s: %s (want the full length 16, "
				  "AF_INET, nothing past the buffer)",
				  asks[i], r);
		qconn_verify(&b, c, c->fd, 10000);
	}
	r = prog_cmd(&b, "accept %d", lfd);
	cr_assert_eq(reply_num(r, "port"), tn_local_port(late),
		     "the 7th accept is the client that came after: %s", r);
	cr_assert_eq(log_count("6 of 6 connections restored"), 1);
	close(late);
}

/*
 * Outgoing connections to n peers (the first non-blocking and
 * close-on-exec, the others blocking; same: all to one peer address) come
 * back on the descriptors of the restarted program's own connect() calls,
 * which return 0; one more connect to a peer is a new connection.
 */
static void outgoing(unsigned int n, bool same)
{
	struct prog a, b;
	struct qconn q[3], *c;
	struct image img;
	uint16_t pport[3];
	int plfd[3], fd, fresh;
	unsigned int i;
	const char *r;
	char want[32];

	for (i = 0; i < n; i++)
		plfd[i] = same && i ? plfd[0] : tn_listen(AF_INET, &pport[i]);
	for (i = 1; same && i < n; i++)
		pport[i] = pport[0];
	prog_start(&a, "old", NULL);
	for (i = 0; i < n; i++) {
		qconn_connect(&a, plfd[i], pport[i], i ? "" : "nb cx", &q[i]);
		qconn_load(&a, &q[i], K64 / (i + 1), K64);
	}
	checkpoint(&a, SIGUSR2, n, NULL);
	st_read_image(a.pid, &img);
	for (i = 0; i < n; i++)
		cr_assert_eq(kind_of(&img, &q[i]), IMAGE_KIND_CONNECTED);
	image_free(&img);

	prog_start(&b, "new", (const char *const[]){ restore_env(&a), NULL });
	for (i = 0; i < n; i++) {
		/* the socket the program makes is the one it gets back */
		fd = prog_cmd_int(&b, "socket %s", i ? "" : "nb cx");
		r = prog_cmd(&b, "connectfd %d %u", fd, pport[i]);
		cr_assert_str_eq(r, "rc=0 errno=0", "connect on a claim: %s",
				 r);
		r = prog_cmd(&b, "fdinfo %d", fd);
		c = qconn_by_ports(q, n, reply_num(r, "local"),
				   reply_num(r, "peer"));
		snprintf(want, sizeof(want), "nb=%d cx=%d", i == 0, i == 0);
		cr_assert(strstr(r, want), "fd %d: %s, want %s (the program's "
			  "own socket flags)", fd, r, want);
		cr_assert_eq(log_count("restored on fd"), (int)i + 1);
		qconn_verify(&b, c, fd, 20000);
	}
	/* nothing left to claim: a real connection */
	fd = prog_cmd_int(&b, "socket");
	r = prog_cmd(&b, "connectfd %d %u", fd, pport[0]);
	cr_assert_str_eq(r, "rc=0 errno=0");
	fresh = tn_accept(plfd[0]);
	r = prog_cmd(&b, "fdinfo %d", fd);
	cr_assert_eq(reply_num(r, "local"), tn_peer_port(fresh), "%s", r);
	close(fresh);
}

Test(restore, outgoing_on_connect)
{
	outgoing(2, false);
}

/* A connection pool: three connections to one server. */
Test(restore, outgoing_three_to_one_peer)
{
	outgoing(3, true);
}

/*
 * TCPCP_RESTORE_FD=1: two accepted connections and an outgoing one, kept
 * at descriptors 100-102 by the old program, are at 100-102 in the new
 * one before it binds or connects anything; its bind then restores
 * nothing more.
 */
Test(restore, restore_fd_numbers)
{
	static const char *const acc[] = { "nb", "cx" };
	struct prog a, b;
	struct qconn q[3];
	uint16_t port, pport;
	int plfd = tn_listen(AF_INET, &pport), lfd, i;
	const char *r;
	char want[64];

	prog_start(&a, "old", NULL);
	lfd = prog_listen(&a, 0, NULL, &port);
	for (i = 0; i < 2; i++) {
		qconn_init(&q[i], peer_connect(port, 0));
		r = prog_cmd(&a, "accept %d %s", lfd, acc[i]);
		q[i].fd = atoi(r);
	}
	qconn_connect(&a, plfd, pport, NULL, &q[2]);
	for (i = 0; i < 3; i++) {
		/* dup3 keeps close-on-exec where the program asked for it */
		prog_cmd(&a, "dup3 %d %d %s", q[i].fd, 100 + i,
			 i == 1 ? "cx" : "");
		prog_cmd(&a, "close %d", q[i].fd);
		q[i].fd = 100 + i;
		qconn_load(&a, &q[i], 10000, 20000);
	}
	checkpoint(&a, SIGUSR2, 3, NULL);

	prog_start(&b, "new", (const char *const[]){ restore_env(&a),
		   "TCPCP_RESTORE_FD=1", NULL });
	cr_assert_eq(log_count("restored 3 connections at start, 3 at their "
			       "old descriptor"), 1);
	for (i = 0; i < 3; i++) {
		r = prog_cmd(&b, "fdinfo %d", 100 + i);
		snprintf(want, sizeof(want), "tcp listening=0 local=%u peer=%u",
			 q[i].pport, q[i].tport);
		cr_assert(!strncmp(r, want, strlen(want)), "fd %d: %s, want %s",
			  100 + i, r, want);
		/* O_NONBLOCK and FD_CLOEXEC travel in the TCP-SI */
		snprintf(want, sizeof(want), "nb=%d cx=%d", i == 0, i == 1);
		cr_assert(strstr(r, want), "fd %d: %s, want %s", 100 + i, r,
			  want);
		qconn_verify(&b, &q[i], 100 + i, 10000);
	}
	lfd = prog_listen(&b, port, "nb", NULL);
	r = prog_try(&b, "accept %d nb", lfd);
	cr_assert(strstr(r, "Resource temporarily unavailable"),
		  "accept after RESTORE_FD: %s (nothing should be pending)", r);
	cr_assert_eq(log_count("waiting for accept"), 0);
}

/*
 * TCPCP_CLAIM_SECONDS=1 and a program that never binds: the peer reads
 * what was queued for it, then EOF within a few seconds; no reset on the
 * wire.  The program had read everything the peer sent.
 */
Test(restore, unclaimed_closed_with_fin)
{
	struct prog a, b;
	struct qconn q;
	uint16_t port;
	int lfd, cap = cap_open("lo");
	const char *fate;
	long t0;

	prog_start(&a, "old", NULL);
	lfd = prog_listen(&a, 0, NULL, &port);
	qconn_accept(&a, lfd, port, 4096, &q);
	qconn_load(&a, &q, 0, K64);
	checkpoint(&a, SIGUSR2, 1, NULL);
	cr_assert_eq(cap_count_rst(cap), 0);

	t0 = now_ms();
	prog_start(&b, "new", (const char *const[]){ restore_env(&a),
		   "TCPCP_CLAIM_SECONDS=1", NULL });
	prog_cmd(&b, "ping");
	peer_recv(q.peer, q.s2c, 0, q.s2c_sent, 10000);
	fate = peer_fate(q.peer, 10000, false);
	cr_assert_str_eq(fate, "EOF", "after the claim time the peer saw %s",
			 fate);
	cr_log_info("unclaimed: EOF %ld ms after the restart", now_ms() - t0);
	cr_assert_lt(now_ms() - t0, 5000);
	cr_assert_eq(log_count("1 connections nobody claimed within 1 s were "
			       "closed (FIN)"), 1);
	cr_assert_eq(cap_count_rst(cap), 0, "a reset went over lo");
	prog_cmd(&b, "ping");
}

/*
 * The same, but bytes the peer sent are still unread in the restored
 * receive queue when the claim time ends.  Closing a socket with unread
 * data makes the kernel send RST, not FIN (RFC 2525 2.17), which also
 * throws away what was queued for the peer: the shim must drain the
 * receive queue before it closes.
 */
Test(restore, unclaimed_with_unread_data_closed_with_fin)
{
	struct prog a, b;
	struct qconn q;
	uint16_t port;
	int lfd, cap = cap_open("lo");
	const char *fate;

	prog_start(&a, "old", NULL);
	lfd = prog_listen(&a, 0, NULL, &port);
	qconn_accept(&a, lfd, port, 4096, &q);
	qconn_load(&a, &q, 5000, K64);
	checkpoint(&a, SIGUSR2, 1, NULL);

	prog_start(&b, "new", (const char *const[]){ restore_env(&a),
		   "TCPCP_CLAIM_SECONDS=1", NULL });
	prog_cmd(&b, "ping");
	peer_recv(q.peer, q.s2c, 0, q.s2c_sent, 10000);
	fate = peer_fate(q.peer, 10000, false);
	cr_expect_eq(cap_count_rst(cap), 0, "a reset went over lo");
	cr_assert_str_eq(fate, "EOF", "after the claim time the peer saw %s",
			 fate);
}

/*
 * Three clients the old program never accepted (completed, in its
 * listener's backlog, their first bytes unread) are in the image and come
 * back through the new program's accept().
 */
Test(restore, backlog_saved)
{
	struct prog a, b;
	struct qconn q[3];
	struct image img;
	uint16_t port;
	int lfd, i;
	const char *r;

	prog_start(&a, "old", NULL);
	lfd = prog_listen(&a, 0, NULL, &port);
	for (i = 0; i < 3; i++) {
		qconn_init(&q[i], peer_connect(port, 0));
		peer_send(q[i].peer, q[i].c2s, 0, 3000 * (i + 1));
		q[i].c2s_sent = 3000 * (i + 1);
	}
	usleep(100000); /* the bytes are in the kernel's hands */
	checkpoint(&a, SIGUSR2, 3, NULL);
	st_read_image(a.pid, &img);
	for (i = 0; i < 3; i++)
		cr_assert_eq(kind_of(&img, &q[i]), IMAGE_KIND_ACCEPTED);
	image_free(&img);

	prog_start(&b, "new", (const char *const[]){ restore_env(&a), NULL });
	lfd = prog_listen(&b, port, NULL, NULL);
	for (i = 0; i < 3; i++) {
		r = prog_cmd(&b, "accept %d", lfd);
		qconn_verify(&b, accepted(q, 3, port, r), atoi(r), 5000);
	}
}

/* With TCPCP_ON_CHECKPOINT=continue the same program gets its backlog
 * back from accept() after the checkpoint. */
Test(restore, backlog_handed_back_after_continue)
{
	struct prog a;
	struct qconn q[2];
	uint16_t port;
	int lfd, i;
	const char *r;

	prog_start(&a, "prog", (const char *const[]){
		   "TCPCP_ON_CHECKPOINT=continue", NULL });
	lfd = prog_listen(&a, 0, NULL, &port);
	for (i = 0; i < 2; i++) {
		qconn_init(&q[i], peer_connect(port, 0));
		peer_send(q[i].peer, q[i].c2s, 0, 1000);
		q[i].c2s_sent = 1000;
	}
	usleep(100000);
	checkpoint(&a, SIGUSR2, 2, NULL);
	for (i = 0; i < 2; i++) {
		r = prog_cmd(&a, "accept %d", lfd);
		cr_assert_eq(reply_num(r, "nb"), 0, "%s", r);
		qconn_verify(&a, accepted(q, 2, port, r), atoi(r), 5000);
	}
}

/* IPv6: an accepted connection on [::1] and an outgoing one to [::1]. */
Test(restore, ipv6_accepted_and_outgoing)
{
	struct prog a, b;
	struct qconn q[2];
	struct image img;
	struct tcpcp_conn c;
	uint16_t port, pport;
	int plfd = tn_listen(AF_INET6, &pport), lfd, fd, i;
	const char *r;

	prog_start(&a, "old", NULL);
	lfd = prog_listen(&a, 0, "v6", &port);
	qconn_init(&q[0], tn_connect(AF_INET6, port, 4096));
	r = prog_cmd(&a, "accept %d", lfd);
	q[0].fd = atoi(r);
	cr_assert_eq(reply_num(r, "family"), AF_INET6, "%s", r);
	qconn_connect(&a, plfd, pport, "v6", &q[1]);
	for (i = 0; i < 2; i++)
		qconn_load(&a, &q[i], 30000, K64);
	checkpoint(&a, SIGUSR2, 2, NULL);
	st_read_image(a.pid, &img);
	for (i = 0; i < 2; i++) {
		cr_assert_eq(qconn_find(&img, &q[i], &c)->kind,
			     i ? IMAGE_KIND_CONNECTED : IMAGE_KIND_ACCEPTED);
		cr_assert_eq(c.ip_version, 6);
	}
	image_free(&img);

	prog_start(&b, "new", (const char *const[]){ restore_env(&a), NULL });
	lfd = prog_listen(&b, port, "v6", NULL);
	r = prog_cmd(&b, "accept %d", lfd);
	cr_assert_eq(reply_num(r, "port"), q[0].tport, "%s", r);
	cr_assert_eq(reply_num(r, "len"), 28, "an IPv6 address: %s", r);
	qconn_verify(&b, &q[0], atoi(r), 10000);
	fd = prog_cmd_int(&b, "socket v6");
	cr_assert_str_eq(prog_cmd(&b, "connectfd %d %u v6", fd, pport),
			 "rc=0 errno=0");
	qconn_verify(&b, &q[1], fd, 10000);
}

/* A dual-stack listener ([::], IPv6 socket) with an IPv4 client: the
 * connection is saved and claimed through the v4-mapped address. */
Test(restore, dual_stack_listener_ipv4_client)
{
	struct prog a, b;
	struct qconn q;
	uint16_t port;
	int lfd;
	const char *r;

	prog_start(&a, "old", NULL);
	lfd = prog_listen(&a, 0, "any6", &port);
	qconn_accept(&a, lfd, port, 4096, &q);
	qconn_load(&a, &q, 30000, K64);
	checkpoint(&a, SIGUSR2, 1, NULL);

	prog_start(&b, "new", (const char *const[]){ restore_env(&a), NULL });
	lfd = prog_listen(&b, port, "any6", NULL);
	r = prog_cmd(&b, "accept %d", lfd);
	cr_assert_eq(reply_num(r, "port"), q.tport, "%s", r);
	cr_assert_eq(reply_num(r, "family"), AF_INET6,
		     "the program's socket is IPv6: %s", r);
	qconn_verify(&b, &q, atoi(r), 10000);
}

/* The peer had finished sending (FIN) when the checkpoint came: the
 * restarted program reads the rest of the stream, then its end, and can
 * still answer. */
Test(restore, peer_half_closed)
{
	struct prog a, b;
	struct qconn q;
	uint16_t port;
	int lfd, fd;
	const char *r;

	prog_start(&a, "old", NULL);
	lfd = prog_listen(&a, 0, NULL, &port);
	qconn_accept(&a, lfd, port, 4096, &q);
	qconn_load(&a, &q, 20000, K64);
	cr_assert_eq(shutdown(q.peer, SHUT_WR), 0);
	usleep(100000);
	checkpoint(&a, SIGUSR2, 1, NULL);

	prog_start(&b, "new", (const char *const[]){ restore_env(&a), NULL });
	lfd = prog_listen(&b, port, NULL, NULL);
	r = prog_cmd(&b, "accept %d", lfd);
	fd = atoi(r);
	prog_cmd(&b, "recv %d %u 0 %llu eof", fd, q.c2s,
		 (unsigned long long)q.c2s_sent);
	peer_recv(q.peer, q.s2c, 0, q.s2c_sent, 10000);
	prog_cmd(&b, "send %d %u %llu 5000", fd, q.s2c,
		 (unsigned long long)q.s2c_sent);
	peer_recv(q.peer, q.s2c, q.s2c_sent, 5000, 10000);
	prog_cmd(&b, "close %d", fd);
	cr_assert_str_eq(peer_fate(q.peer, 3000, false), "EOF");
}

/* Many connections: the descriptor table's pages, the hand-back queue
 * growing, one accept() each. */
Test(restore, many_connections)
{
	enum { N = 300 };
	static struct qconn q[N];
	struct prog a, b;
	uint16_t port;
	unsigned int i;
	const char *r;
	int lfd;

	cr_assert(testnet_nofile(2 * N + 100));
	prog_start(&a, "old", NULL);
	lfd = prog_listen(&a, 0, NULL, &port);
	for (i = 0; i < N; i++) {
		qconn_accept(&a, lfd, port, 0, &q[i]);
		peer_send(q[i].peer, q[i].c2s, 0, 100);
		q[i].c2s_sent = 100;
		prog_cmd(&a, "send %d %u 0 100", q[i].fd, q[i].s2c);
		q[i].s2c_sent = 100;
	}
	checkpoint(&a, SIGUSR2, N, NULL);
	for (i = 0; i < N; i++)
		q[i].fd = -1;

	prog_start(&b, "new", (const char *const[]){ restore_env(&a), NULL });
	lfd = prog_listen(&b, port, NULL, NULL);
	for (i = 0; i < N; i++) {
		r = prog_cmd(&b, "accept %d", lfd);
		qconn_verify(&b, accepted(q, N, port, r), atoi(r), 100);
	}
	r = prog_try(&b, "poll %d 0", lfd);
	cr_assert_str_eq(r, "ok timeout", "still readable after %d", N);
}
