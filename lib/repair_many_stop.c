// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * stop(ALL) of the repair backend in a batch (backend.h's stop_many):
 * each running socket's block and repair mode as one chain, then the
 * state of all of them in one more pass of the socket iterator.
 *
 * One by one, stage() reads a running socket's state again just before
 * stop() (it may have been reset since the walk), which costs a TCP_INFO
 * per socket.  Here the state is read after the stop instead: the block
 * and repair mode hold it still, so a socket found connected then was
 * connected when it was stopped, which is all the re-read proved.  A
 * socket found not connected is put back as it was (the block off,
 * repair mode off, SO_REUSEADDR back), as if never touched: one by one,
 * it would not have been picked.  stage() and stop() take the outcome in
 * the call's order (repair_ops.c), so results and details are theirs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "backend.h"
#include "repair.h"
#include "repair_batch.h"
#include "sock_snap.h"

enum stop_step { STEP_BLOCK = 1, STEP_REPAIR };

struct stop_job {
	unsigned int from, to; /* its steps in the round */
	bool queued;
	bool reuse;
};

/* What stage() would find without asking the socket anything but its
 * state again, and stop() act on without asking: running, no filter,
 * not in repair mode, SO_REUSEADDR known. */
static bool stop_candidate(struct sock_ref *s, bool *ret_reuse)
{
	int repair = 1, reuse = 0;

	if (!snap_exact(s->snap) || walk_connected(s) != 1 ||
	    block_known(s) != BLOCK_NONE)
		return false;
	if (snap_int(s->snap, IPPROTO_TCP, TCP_REPAIR, &repair) || repair ||
	    snap_int(s->snap, SOL_SOCKET, SO_REUSEADDR, &reuse))
		return false;
	*ret_reuse = reuse != 0;
	return true;
}

/* block_claim's filter and repair_on, chained: no repair mode without
 * the block. */
static int queue_stop(struct rebuild_batch *b, const struct sock_ref *s,
		      bool reuse)
{
	struct sock_filter *prog = batch_alloc(b, BLOCK_LEN * sizeof(*prog));
	struct sock_fprog fprog = { .len = BLOCK_LEN, .filter = prog };
	int on = TCP_REPAIR_ON, err;

	if (!prog)
		return -ENOSPC;
	block_prog(reuse ? BLOCK_REUSEADDR : 0, prog);
	err = batch_setopt(b, s->fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog,
			   sizeof(fprog), 0, STEP_BLOCK);
	if (!err)
		err = batch_setopt(b, s->fd, IPPROTO_TCP, TCP_REPAIR, &on,
				   sizeof(on), 0, STEP_REPAIR);
	return err;
}

static unsigned int queue_stops(struct rebuild_batch *b, struct sock_ref **v,
				struct stop_job *jobs, unsigned int i,
				unsigned int n)
{
	for (; i < n; i++) {
		struct batch_mark m;
		bool reuse;
		int err;

		jobs[i].queued = false;
		if (!stop_candidate(v[i], &reuse))
			continue;
		batch_chain_begin(b, &m);
		err = queue_stop(b, v[i], reuse);
		if (err)
			batch_chain_drop(b, &m);
		if (err && m.steps)
			return i;
		if (err)
			continue; /* left to stage() and stop() */
		batch_chain_end(b);
		jobs[i] = (struct stop_job){ m.steps, batch_steps(b), true,
					     reuse };
	}
	return n;
}

/* The chain's outcome, kept for stop(); after is read later.  A step
 * that never ran (the ring failed: -ECANCELED at its head) leaves the
 * socket as it was, to stop() itself. */
static void judge_stop(const struct rebuild_batch *b, struct sock_ref *s,
		       const struct stop_job *j)
{
	int f = batch_failed(b, j->from, j->to), err;

	if (f < 0) {
		s->ahead = AHEAD_STOPPED;
		s->ahead_err = 0;
	} else {
		err = b->steps[f].res;
		if (err == -ECANCELED && b->steps[f].kind == STEP_REPAIR)
			block_remove(s->fd);
		if (err == -ECANCELED)
			return;
		s->ahead = b->steps[f].kind == STEP_BLOCK ? AHEAD_NO_BLOCK :
							    AHEAD_NO_REPAIR;
		s->ahead_err = err;
	}
	if (s->ahead != AHEAD_NO_BLOCK)
		s->filter_flags = j->reuse ? BLOCK_REUSEADDR : 0;
}

static int by_fd(const void *a, const void *b)
{
	const struct snap_rec *x = a, *y = b;

	return (x->fd > y->fd) - (x->fd < y->fd);
}

/* The state now, from the pass (the same socket under the same number)
 * or, failing that, from the socket. */
static int state_after(const struct sock_ref *s, const struct snap_rec *r,
		       unsigned int n)
{
	struct snap_rec key = { .fd = (uint32_t)s->fd };
	const struct snap_rec *f = r ? bsearch(&key, r, n, sizeof(*r),
					       by_fd) : NULL;

	if (f && f->ino == s->snap->ino)
		return state_connected(f->state);
	return connected_now(s->fd);
}

/* Undone without a word (no detail): one by one, the socket would not
 * have been touched.  Repair mode on and off clears SO_REUSEADDR. */
static void put_back(struct sock_ref *s, bool reuse)
{
	int off = TCP_REPAIR_OFF_NO_WP, one = 1;

	if (s->ahead == AHEAD_STOPPED) {
		setsockopt(s->fd, IPPROTO_TCP, TCP_REPAIR, &off, sizeof(off));
		if (reuse)
			setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one,
				   sizeof(one));
	}
	if (s->ahead != AHEAD_NO_BLOCK)
		block_remove(s->fd);
	s->ahead = AHEAD_GONE;
}

/* One pass of the iterator for every socket stopped ahead. */
static void read_after(struct sock_ref **v, const struct stop_job *jobs,
		       unsigned int n)
{
	struct snap_rec *r = NULL;
	unsigned int i, nr = 0;

	if (snap_take(&r, &nr))
		r = NULL;
	else
		qsort(r, nr, sizeof(*r), by_fd);
	for (i = 0; i < n; i++) {
		if (v[i]->ahead == AHEAD_NONE)
			continue;
		v[i]->after = state_after(v[i], r, nr);
		if (v[i]->after != 1)
			put_back(v[i], jobs[i].reuse);
	}
	free(r);
}

struct stops {
	struct sock_ref **v;
	struct stop_job *jobs;
};

static unsigned int stops_queue(struct rebuild_batch *b, void *ctx,
				unsigned int i, unsigned int n)
{
	struct stops *s = ctx;

	return queue_stops(b, s->v, s->jobs, i, n);
}

static void stops_judge(struct rebuild_batch *b, void *ctx, unsigned int k)
{
	struct stops *s = ctx;

	if (s->jobs[k].queued)
		judge_stop(b, s->v[k], &s->jobs[k]);
}

void repair_stop_many(struct sock_ref **v, unsigned int n)
{
	struct stops s = { v, NULL };
	const struct batch_jobs bj = { stops_queue, stops_judge, &s };

	if (!n || !batch_usable() || !(s.jobs = calloc(n, sizeof(*s.jobs))))
		return;
	if (!batch_jobs_run(n, &bj))
		read_after(v, s.jobs, n);
	free(s.jobs);
}
