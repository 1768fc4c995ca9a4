// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The repair backend on many sockets at once (backend.h's *_many): the
 * same steps in the same order as the one-socket operations, each
 * socket's a chain in a batch (repair_batch.h), so that a call makes a
 * few io_uring_enter()s where it made some thirty system calls per
 * connection.  What a batch cannot do, or what fails in it, goes the
 * plain way, so results, errors and details are those of the plain path.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend.h"
#include "repair.h"
#include "repair_batch.h"

/* Which step of a start failed (batch_step.kind); 0 is a rebuild's. */
enum start_step { STEP_REPAIR_ON = 1, STEP_UNBLOCK, STEP_REPAIR_OFF, STEP_REUSE };

struct job {
	struct sock_ref s;
	unsigned int from, to; /* its steps in the round */
	bool queued;
};

/* --- set_si(ALL): the rebuilds --- */

static void leave(struct job *j)
{
	if (j->s.fd >= 0)
		close(j->s.fd); /* unconnected, or in repair mode: silent */
	j->s.fd = -1;
}

static void take_sockets(struct rebuild_batch *b, struct job *jobs,
			 unsigned int from, unsigned int to)
{
	unsigned int i;

	batch_run(b);
	for (i = from; i < to; i++) {
		int res;

		if (!jobs[i].queued)
			continue;
		res = b->steps[jobs[i].from].res;
		jobs[i].s.fd = res >= 0 ? res : -1;
		jobs[i].queued = false;
	}
	batch_reset(b);
}

/* A socket for each connection the batch can rebuild: ESTABLISHED (the
 * half-closed states wait for the state to move). */
static void make_sockets(struct rebuild_batch *b, const struct tcpcp_conn *c,
			 unsigned int n, struct job *jobs)
{
	unsigned int i, start = 0;

	for (i = 0; i < n; i++) {
		int domain = c[i].ip_version == 4 ? AF_INET : AF_INET6;

		sock_ref_init(&jobs[i].s, -1);
		if (c[i].state != TCP_ESTABLISHED)
			continue;
		if (batch_socket(b, domain, conn_socket_type(&c[i]))) {
			take_sockets(b, jobs, start, i);
			start = i;
			if (batch_socket(b, domain, conn_socket_type(&c[i])))
				continue;
		}
		batch_chain_end(b);
		jobs[i].from = batch_steps(b) - 1;
		jobs[i].queued = true;
	}
	take_sockets(b, jobs, start, n);
}

/* Chains from connection i on, until the ring is full; the first one
 * not queued (n: all were). */
static unsigned int queue_rebuilds(struct rebuild_batch *b,
				   const struct tcpcp_conn *c, struct job *jobs,
				   unsigned int i, unsigned int n)
{
	for (; i < n; i++) {
		struct job *j = &jobs[i];
		struct rebuild r = { .batch = b };
		struct batch_mark m;
		int err;

		if (j->s.fd < 0)
			continue;
		sock_ref_init(&j->s, j->s.fd);
		j->s.fresh = true;
		batch_chain_begin(b, &m);
		err = repair_restore_queue(&r, &j->s, &c[i]);
		if (err)
			batch_chain_drop(b, &m);
		if (err == -ENOSPC && m.steps)
			return i;
		if (err) {
			leave(j);
			continue;
		}
		batch_chain_end(b);
		j->from = m.steps;
		j->to = batch_steps(b);
		j->queued = true;
	}
	return n;
}

/* What repair_restore does after the socket calls (the hold, queued) and
 * set_si's rebuild after it (FD_CLOEXEC). */
static void judge_rebuild(struct rebuild_batch *b, const struct tcpcp_conn *c,
			  struct job *j, int *ret)
{
	int err;

	if (!j->queued)
		return;
	j->queued = false;
	err = batch_failed(b, j->from, j->to) >= 0 ? -EAGAIN : 0;
	if (!err)
		err = hold_add(&j->s);
	if (!err)
		err = conn_fd_finish(j->s.fd, c);
	if (err)
		leave(j); /* rebuilt the plain way, on a new socket */
	else
		*ret = j->s.fd;
}

struct rebuilds {
	const struct tcpcp_conn *c;
	struct job *jobs;
	int *ret;
};

static unsigned int rebuilds_queue(struct rebuild_batch *b, void *ctx,
				   unsigned int i, unsigned int n)
{
	struct rebuilds *r = ctx;

	return queue_rebuilds(b, r->c, r->jobs, i, n);
}

static void rebuilds_judge(struct rebuild_batch *b, void *ctx, unsigned int k)
{
	struct rebuilds *r = ctx;

	judge_rebuild(b, &r->c[k], &r->jobs[k], &r->ret[k]);
}

void repair_rebuild_many(const struct tcpcp_conn *c, unsigned int n, int *ret)
{
	struct rebuild_batch b;
	struct rebuilds r = { c, NULL, ret };
	const struct batch_jobs bj = { rebuilds_queue, rebuilds_judge, &r };
	struct job *jobs;
	unsigned int i;

	for (i = 0; i < n; i++)
		ret[i] = BACKEND_LEFT;
	if (!n || !batch_usable() || !(jobs = calloc(n, sizeof(*jobs))))
		return;
	if (batch_open(&b)) {
		free(jobs);
		return;
	}
	make_sockets(&b, c, n, jobs);
	r.jobs = jobs;
	batch_rounds(&b, n, &bj);
	batch_close(&b);
	free(jobs);
}

/* --- start(ALL): stage's filter reads, then the starts --- */

struct filter_read {
	int step;
	struct sock_filter *prog;
};

static unsigned int queue_reads(struct rebuild_batch *b, struct sock_ref **v,
				struct filter_read *fr, unsigned int i,
				unsigned int n)
{
	for (; i < n; i++) {
		fr[i].step = -1;
		if (v[i]->filter >= 0 || v[i]->snap || walk_connected(v[i]) <= 0)
			continue;
		fr[i].prog = batch_alloc(b, BLOCK_LEN * sizeof(*fr[i].prog));
		if (!fr[i].prog ||
		    batch_get_filter(b, v[i]->fd, fr[i].prog, BLOCK_LEN))
			return i;
		batch_chain_end(b);
		fr[i].step = (int)batch_steps(b) - 1;
	}
	return n;
}

struct reads {
	struct sock_ref **v;
	struct filter_read *fr;
};

static unsigned int reads_queue(struct rebuild_batch *b, void *ctx,
				unsigned int i, unsigned int n)
{
	struct reads *r = ctx;

	return queue_reads(b, r->v, r->fr, i, n);
}

/* An error is left for stage() to meet again by itself. */
static void reads_judge(struct rebuild_batch *b, void *ctx, unsigned int k)
{
	struct reads *r = ctx;
	int kind;

	if (r->fr[k].step < 0)
		return;
	kind = block_parse(b->steps[r->fr[k].step].res, r->fr[k].prog,
			   &r->v[k]->filter_flags);
	if (kind >= 0)
		r->v[k]->filter = kind;
}

void repair_stage_many(struct sock_ref **v, unsigned int n)
{
	struct reads r = { v, NULL };
	const struct batch_jobs bj = { reads_queue, reads_judge, &r };

	if (!n || !batch_usable() || !(r.fr = calloc(n, sizeof(*r.fr))))
		return;
	batch_jobs_run(n, &bj);
	free(r.fr);
}

/* leave_repair's socket calls and repair_start's SO_REUSEADDR. */
static int queue_start(struct rebuild_batch *b, const struct sock_ref *s,
		       bool probe)
{
	int on = TCP_REPAIR_ON, one = 1, none = 0, err = 0;
	int off = probe ? TCP_REPAIR_OFF : TCP_REPAIR_OFF_NO_WP;

	if (!s->repair_ok)
		err = batch_setopt(b, s->fd, IPPROTO_TCP, TCP_REPAIR, &on,
				   sizeof(on), 0, STEP_REPAIR_ON);
	if (!err)
		err = batch_setopt(b, s->fd, SOL_SOCKET, SO_DETACH_FILTER, &none,
				   sizeof(none), 0, STEP_UNBLOCK);
	if (!err)
		err = batch_setopt(b, s->fd, IPPROTO_TCP, TCP_REPAIR, &off,
				   sizeof(off), 0, STEP_REPAIR_OFF);
	if (!err && (s->filter_flags & BLOCK_REUSEADDR))
		err = batch_setopt(b, s->fd, SOL_SOCKET, SO_REUSEADDR, &one,
				   sizeof(one), 0, STEP_REUSE);
	return err;
}

/* Each step's failure as repair_start meets it. */
static int judge_start(const struct rebuild_batch *b, struct sock_ref *s,
		       const struct job *j, bool probe)
{
	int f = batch_failed(b, j->from, j->to), err;

	if (f < 0) {
		s->filter = BLOCK_NONE;
		return 0;
	}
	err = b->steps[f].res;
	switch (b->steps[f].kind) {
	case STEP_UNBLOCK:
		/* block_remove: no filter is no failure; the rest follows */
		if (err == -ENOENT)
			return start_unblocked(s, probe);
		return start_failed(s, err);
	case STEP_REPAIR_OFF:
		s->filter = BLOCK_NONE;
		repair_err(err);
		block_back(s);
		return start_failed(s, err);
	case STEP_REUSE:
		s->filter = BLOCK_NONE;
		return err;
	}
	return start_failed(s, repair_err(err));
}

static unsigned int queue_starts(struct rebuild_batch *b, struct sock_ref **v,
				 struct job *jobs, unsigned int i,
				 unsigned int n, bool probe, int *ret)
{
	for (; i < n; i++) {
		struct batch_mark m;
		int err = start_check(v[i]);

		jobs[i].queued = false;
		if (err) {
			ret[i] = start_failed(v[i], err);
			continue;
		}
		batch_chain_begin(b, &m);
		err = queue_start(b, v[i], probe);
		if (err)
			batch_chain_drop(b, &m);
		if (err && m.steps)
			return i;
		if (err) {
			ret[i] = backend_repair.start(v[i], probe);
			continue;
		}
		batch_chain_end(b);
		jobs[i] = (struct job){ .from = m.steps, .to = batch_steps(b),
					.queued = true };
	}
	return n;
}

struct starts {
	struct sock_ref **v;
	struct job *jobs;
	bool probe;
	int *ret;
};

static unsigned int starts_queue(struct rebuild_batch *b, void *ctx,
				 unsigned int i, unsigned int n)
{
	struct starts *s = ctx;

	return queue_starts(b, s->v, s->jobs, i, n, s->probe, s->ret);
}

static void starts_judge(struct rebuild_batch *b, void *ctx, unsigned int k)
{
	struct starts *s = ctx;

	if (s->jobs[k].queued)
		s->ret[k] = judge_start(b, s->v[k], &s->jobs[k], s->probe);
}

int repair_start_many(struct sock_ref **v, unsigned int n, bool probe,
		      int *ret)
{
	struct starts s = { v, NULL, probe, ret };
	const struct batch_jobs bj = { starts_queue, starts_judge, &s };
	int err;

	if (!batch_usable() || !(s.jobs = calloc(n ? n : 1, sizeof(*s.jobs))))
		return -EOPNOTSUPP;
	err = batch_jobs_run(n, &bj) ? -EOPNOTSUPP : 0;
	free(s.jobs);
	return err;
}
