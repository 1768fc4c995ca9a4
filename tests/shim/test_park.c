// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Parking (DESIGN section 4, "stop the world"): the program's threads keep
 * sending and receiving on their connections, or keep being created and
 * ending, while checkpoints happen.  With TCPCP_ON_CHECKPOINT=continue the
 * same process goes on; with exit a new one takes over from exactly where
 * the image says each stream stood.  Either way the peer gets every byte
 * exactly once and in order, the program too, and nothing the program
 * sent lands in its own receive queue.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shimtest.h"
#include "si_codec.h"
#include "tcpcp_si.h"

#define CONNS_MAX 8
#define PUMP_MS 180000

TestSuite(park, .init = st_setup, .fini = st_teardown, .timeout = 240);

struct park_cfg {
	unsigned int n;     /* connections */
	uint64_t total;     /* bytes each way on each */
	bool churn;         /* the program sends from short-lived threads */
	bool exit;          /* the last checkpoint exits; else continue */
	unsigned int snaps; /* checkpoints with continue (not with exit) */
};

struct pump {
	struct xfer x[CONNS_MAX];
	unsigned int n;
	int rc;
	char err[256];
	pthread_t t;
};

static void *pump_main(void *arg)
{
	struct pump *p = arg;

	p->rc = xfer_pump(p->x, p->n, PUMP_MS, p->err, sizeof(p->err));
	return NULL;
}

/* Every stream has moved at least `at` bytes each way. */
static void wait_progress(struct pump *p, uint64_t at)
{
	long end = now_ms() + 60000;
	unsigned int i;

	for (i = 0; i < p->n; i++)
		while (__atomic_load_n(&p->x[i].rx_off, __ATOMIC_RELAXED) <
			       at ||
		       __atomic_load_n(&p->x[i].tx_off, __ATOMIC_RELAXED) <
			       at) {
			cr_assert_lt(now_ms(), end, "stream %u stalled before "
				     "the checkpoint", i);
			usleep(2000);
		}
}

static void start_streams(struct prog *p, const struct qconn *q,
			  const struct park_cfg *cfg, const uint64_t *tx,
			  const uint64_t *rx)
{
	unsigned int i;

	for (i = 0; i < cfg->n; i++) {
		/* rx delay: the program reads a little slower than the peer
		 * writes, so its receive queue is rarely empty */
		if (cfg->churn) {
			prog_cmd(p, "churn %d %u %llu %llu", q[i].fd, q[i].s2c,
				 (unsigned long long)tx[i],
				 (unsigned long long)cfg->total);
			prog_cmd(p, "stream %d 0 0 0 %u %llu %llu 100", q[i].fd,
				 q[i].c2s, (unsigned long long)rx[i],
				 (unsigned long long)cfg->total);
		} else {
			prog_cmd(p, "stream %d %u %llu %llu %u %llu %llu 100",
				 q[i].fd, q[i].s2c, (unsigned long long)tx[i],
				 (unsigned long long)cfg->total, q[i].c2s,
				 (unsigned long long)rx[i],
				 (unsigned long long)cfg->total);
		}
	}
}

/*
 * From the image, where the old program's streams stood: tx[i] is how
 * many bytes it had written (its send queue ends there), rx[i] how many
 * it had read (its receive queue starts there).  The sequence numbers of
 * byte 0 each way were read from the test's sockets before any byte
 * moved.  The queues' bytes must be the right part of the right stream.
 */
static void where_they_stood(const struct image *img, const struct qconn *q,
			     const uint32_t (*isn)[2], unsigned int n,
			     uint64_t *tx, uint64_t *rx)
{
	struct tcpcp_conn c;
	unsigned int i, k;
	uint8_t *buf;

	for (i = 0; i < n; i++) {
		qconn_find(img, &q[i], &c);
		tx[i] = (uint32_t)(c.sndq_seq + c.sndq_len - isn[i][1]);
		rx[i] = (uint32_t)(c.rcvq_seq - isn[i][0]);
		cr_log_info("connection %u: send queue %u bytes ending at "
			    "%llu, receive queue %u bytes from %llu", i,
			    c.sndq_len,
			    (unsigned long long)tx[i], c.rcvq_len,
			    (unsigned long long)rx[i]);
		buf = malloc(c.sndq_len + c.rcvq_len + 1);
		cr_assert_not_null(buf);
		si_queue_gather(&c, TCPCP_SIE_BUF_SND, buf);
		for (k = 0; k < c.sndq_len; k++) {
			uint64_t at = tx[i] - c.sndq_len + k;

			cr_assert_eq(buf[k], pattern_byte(q[i].s2c, at),
				     "connection %u: send queue byte %u is not "
				     "the program's byte %llu", i, k,
				     (unsigned long long)at);
		}
		si_queue_gather(&c, TCPCP_SIE_BUF_RCV, buf);
		for (k = 0; k < c.rcvq_len; k++)
			cr_assert_eq(buf[k], pattern_byte(q[i].c2s, rx[i] + k),
				     "connection %u: receive queue byte %u is "
				     "not the peer's byte %llu", i, k,
				     (unsigned long long)(rx[i] + k));
		free(buf);
	}
}

static void park_run(const struct park_cfg *cfg)
{
	const char *env[] = { cfg->exit ? "TCPCP_ON_CHECKPOINT=exit" :
					  "TCPCP_ON_CHECKPOINT=continue",
			      NULL };
	struct prog a, b, *cur = &a;
	struct qconn q[CONNS_MAX];
	uint32_t isn[CONNS_MAX][2];
	uint64_t tx[CONNS_MAX] = { 0 }, rx[CONNS_MAX] = { 0 };
	struct pump pump = { .n = cfg->n };
	struct image_done d;
	unsigned int i, k;
	uint16_t port;
	int lfd;

	prog_start(&a, "old", env);
	lfd = prog_listen(&a, 0, NULL, &port);
	for (i = 0; i < cfg->n; i++) {
		qconn_accept(&a, lfd, port, 0, &q[i]);
		peer_isn(q[i].peer, &isn[i][0], &isn[i][1]);
		pump.x[i] = (struct xfer){ .fd = q[i].peer,
					   .tx_seed = q[i].c2s,
					   .rx_seed = q[i].s2c,
					   .tx_end = cfg->total,
					   .rx_end = cfg->total };
		tn_set_nonblock(q[i].peer, true);
	}
	start_streams(&a, q, cfg, tx, rx);
	cr_assert_eq(pthread_create(&pump.t, NULL, pump_main, &pump), 0);
	wait_progress(&pump, cfg->total / 16);
	for (k = 0; k < cfg->snaps + cfg->exit; k++) {
		bool last = cfg->exit && k == cfg->snaps;

		cr_log_info("before checkpoint %u: %s", k,
			    prog_cmd(&a, "streams-status"));
		st_forget_image(a.pid);
		if (last) {
			/* exit: the image then tells where to go on */
			prog_kill(&a, SIGUSR2);
		} else {
			checkpoint(&a, SIGUSR2, cfg->n, &d);
			cr_log_info("checkpoint %u: %llu us", k,
				    (unsigned long long)d.freeze_us);
			usleep(100000);
			continue;
		}
		cr_assert_eq(st_wait_done(a.pid, &d, 15000), 0);
		cr_assert(d.ok, "checkpoint: %s", d.error);
		cr_assert_eq(d.connections, cfg->n);
		prog_expect_exit0(&a, 10000);
	}
	if (cfg->exit) {
		struct image img;
		const char *r;

		st_read_image(a.pid, &img);
		where_they_stood(&img, q, isn, cfg->n, tx, rx);
		image_free(&img);
		prog_start(&b, "new", (const char *const[]){ restore_env(&a),
			   NULL });
		cur = &b;
		lfd = prog_listen(&b, port, NULL, NULL);
		{
			struct qconn sorted[CONNS_MAX];
			uint64_t stx[CONNS_MAX], srx[CONNS_MAX];

			for (i = 0; i < cfg->n; i++) {
				struct qconn *c;

				r = prog_cmd(&b, "accept %d", lfd);
				c = qconn_by_ports(q, cfg->n, port,
						   reply_num(r, "port"));
				sorted[i] = *c;
				sorted[i].fd = atoi(r);
				stx[i] = tx[c - q];
				srx[i] = rx[c - q];
			}
			start_streams(&b, sorted, cfg, stx, srx);
		}
	}
	cr_assert_eq(pthread_join(pump.t, NULL), 0);
	cr_assert_eq(pump.rc, 0, "peer: %s", pump.err);
	cr_log_info("program: %s", prog_cmd(cur, "streams-wait 60"));
	{
		char err[256];

		cr_assert_eq(xfer_quiet(pump.x, cfg->n, err, sizeof(err)), 0,
			     "peer: %s", err);
	}
}

/* Four connections, a sender and a receiver thread on each, three
 * snapshots in mid-stream. */
Test(park, busy_threads_continue)
{
	struct park_cfg cfg = { .n = 4, .total = 24 << 20, .snaps = 3 };

	park_run(&cfg);
}

/* The same with exit: a new process takes every stream over. */
Test(park, busy_threads_exit_and_restore)
{
	struct park_cfg cfg = { .n = 4, .total = 24 << 20, .exit = true };

	park_run(&cfg);
}

/* Each chunk sent by a thread of its own, several alive at once: threads
 * are born and die while the shim parks them. */
Test(park, thread_churn_continue)
{
	struct park_cfg cfg = { .n = 2, .total = 8 << 20, .churn = true,
				.snaps = 5 };

	park_run(&cfg);
}

Test(park, thread_churn_exit_and_restore)
{
	struct park_cfg cfg = { .n = 2, .total = 8 << 20, .churn = true,
				.exit = true };

	park_run(&cfg);
}

/*
 * Threads that live inside malloc() are parked there, holding their
 * arena's lock, while the worker allocates: with glibc's per-thread
 * arenas (the default) the worker has its own and every checkpoint ends.
 * (With MALLOC_ARENA_MAX=1 it would wait forever: libtcpcp_shim(8),
 * BUGS.)
 */
Test(park, threads_inside_malloc)
{
	struct prog a;
	struct qconn q;
	struct image_done d;
	uint16_t port;
	int lfd, k;

	prog_start(&a, "prog", (const char *const[]){
		   "TCPCP_ON_CHECKPOINT=continue", NULL });
	lfd = prog_listen(&a, 0, NULL, &port);
	qconn_accept(&a, lfd, port, 0, &q);
	qconn_load(&a, &q, 1000, 1000);
	prog_cmd(&a, "malloc 4");
	for (k = 0; k < 10; k++) {
		st_forget_image(a.pid);
		checkpoint(&a, SIGUSR2, 1, &d);
		cr_log_info("checkpoint %d with malloc busy: %llu us", k,
			    (unsigned long long)d.freeze_us);
	}
	qconn_verify(&a, &q, q.fd, 10000);
}

/*
 * The same with one malloc arena for everyone: a thread parked inside
 * malloc holds the lock the worker then waits for.  The watchdog must
 * release the world and abandon that checkpoint, saying why, instead of
 * the process hanging forever; the connection runs on unharmed.
 */
Test(park, one_malloc_arena_never_hangs, .timeout = 120)
{
	struct prog a;
	struct qconn q;
	struct image_done d;
	uint16_t port;
	int lfd, k, abandoned = 0;

	prog_start(&a, "prog", (const char *const[]){
		   "TCPCP_ON_CHECKPOINT=continue", "MALLOC_ARENA_MAX=1",
		   NULL });
	lfd = prog_listen(&a, 0, NULL, &port);
	qconn_accept(&a, lfd, port, 0, &q);
	qconn_load(&a, &q, 1000, 1000);
	prog_cmd(&a, "malloc 4");
	for (k = 0; k < 6 && !abandoned; k++) {
		st_forget_image(a.pid);
		prog_kill(&a, SIGUSR2);
		cr_assert_eq(st_wait_done(a.pid, &d, 40000), 0,
			     "checkpoint %d: no answer within 40 s: hung", k);
		if (!d.ok) {
			cr_assert(strstr(d.error, "watchdog"),
				  "checkpoint %d failed: %s", k, d.error);
			abandoned++;
		}
	}
	cr_log_info("%d checkpoints, %d abandoned by the watchdog", k,
		    abandoned);
	qconn_verify(&a, &q, q.fd, 10000);
}
