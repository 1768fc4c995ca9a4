// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * get_si(ALL) of the repair backend on stopped sockets, in a batch
 * (backend.h's save_many): what is left of a save once the socket
 * iterator has described a socket is its queues' bytes, and those are
 * peeked here, every socket's in one io_uring, as repair_save's first
 * try would: select the receive queue, peek the iterator's length of it
 * plus one byte (a queue that moved shows), the same for the send queue,
 * select none again.  save() then takes the bytes (repair_save.c).
 *
 * Only an exact answer is kept: every selection done and each peek
 * giving exactly the length.  Anything else (urgent data, a queue that
 * moved, a step that failed) leaves the socket to save(), which asks it
 * all again and retries as it always does.
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

enum save_step { STEP_SELECT = 1, STEP_PEEK };

struct save_job {
	unsigned int from, to; /* its steps in the round */
	uint32_t rcv_len, snd_len;
	int rcv_step, snd_step; /* each peek's step, -1 for an empty queue */
	uint8_t *rcvq, *sndq;
	bool queued;
};

/* A stopped socket (stage() asks nothing of it), stopped before the
 * call, that its iterator record describes. */
static bool save_candidate(struct sock_ref *s, struct save_job *j)
{
	if (s->stopped_here || !s->snap || walk_connected(s) != 1 ||
	    block_known(s) != BLOCK_OURS)
		return false;
	return !save_peek_lens(s, &j->rcv_len, &j->snd_len);
}

static void job_free(struct save_job *j)
{
	free(j->rcvq);
	free(j->sndq);
	j->rcvq = j->sndq = NULL;
}

static int queue_select(struct rebuild_batch *b, int fd, int q)
{
	return batch_setopt(b, fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q),
			    REBUILD_ANY_ERR, STEP_SELECT);
}

/* One byte more than the queue should hold, as peek_queue asks. */
static int queue_peek(struct rebuild_batch *b, int fd, uint8_t **buf,
		      uint32_t len, int *ret_step)
{
	*ret_step = -1;
	if (!len)
		return 0;
	*buf = malloc((size_t)len + 1);
	if (!*buf)
		return -ENOSPC;
	*ret_step = (int)batch_steps(b);
	return batch_peek(b, fd, *buf, len + 1, STEP_PEEK);
}

/* Every step is hard-linked to the next, so the last one, which selects
 * no queue again, runs whatever went before: a queue left selected
 * would turn the program's send() into bytes in its own receive queue. */
static int queue_save(struct rebuild_batch *b, int fd, struct save_job *j)
{
	int err = queue_select(b, fd, TCP_RECV_QUEUE);

	if (!err)
		err = queue_peek(b, fd, &j->rcvq, j->rcv_len, &j->rcv_step);
	if (!err)
		err = queue_select(b, fd, TCP_SEND_QUEUE);
	if (!err)
		err = queue_peek(b, fd, &j->sndq, j->snd_len, &j->snd_step);
	if (!err)
		err = queue_select(b, fd, TCP_NO_QUEUE);
	return err;
}

static unsigned int queue_saves(struct rebuild_batch *b, struct sock_ref **v,
				struct save_job *jobs, unsigned int i,
				unsigned int n)
{
	for (; i < n; i++) {
		struct save_job *j = &jobs[i];
		struct batch_mark m;
		int err;

		j->queued = false;
		if (!save_candidate(v[i], j))
			continue;
		batch_chain_begin(b, &m);
		err = queue_save(b, v[i]->fd, j);
		if (err) {
			batch_chain_drop(b, &m);
			job_free(j);
		}
		if (err && m.steps)
			return i;
		if (err)
			continue; /* left to save() */
		batch_chain_end(b);
		j->from = m.steps;
		j->to = batch_steps(b);
		j->queued = true;
	}
	return n;
}

static bool peeked_all(const struct rebuild_batch *b, int step, uint32_t len)
{
	return step < 0 || b->steps[step].res == (int)len;
}

/* Selections done, peeks of exactly the lengths: the bytes go to the
 * socket's sock_ref; else they are dropped. */
static void judge_save(const struct rebuild_batch *b, struct sock_ref *s,
		       struct save_job *j)
{
	unsigned int i;

	for (i = j->from; i < j->to; i++)
		if (b->steps[i].kind == STEP_SELECT && b->steps[i].res != 0)
			break;
	if (i < j->to || !peeked_all(b, j->rcv_step, j->rcv_len) ||
	    !peeked_all(b, j->snd_step, j->snd_len)) {
		job_free(j);
		return;
	}
	s->peeked = true;
	s->peek_rcvq = j->rcvq;
	s->peek_sndq = j->sndq;
	j->rcvq = j->sndq = NULL;
}

struct saves {
	struct sock_ref **v;
	struct save_job *jobs;
};

static unsigned int saves_queue(struct rebuild_batch *b, void *ctx,
				unsigned int i, unsigned int n)
{
	struct saves *s = ctx;

	return queue_saves(b, s->v, s->jobs, i, n);
}

static void saves_judge(struct rebuild_batch *b, void *ctx, unsigned int k)
{
	struct saves *s = ctx;

	if (s->jobs[k].queued)
		judge_save(b, s->v[k], &s->jobs[k]);
}

void repair_save_many(struct sock_ref **v, unsigned int n)
{
	struct saves s = { v, NULL };
	const struct batch_jobs bj = { saves_queue, saves_judge, &s };

	if (!n || !batch_usable() || !(s.jobs = calloc(n, sizeof(*s.jobs))))
		return;
	batch_jobs_run(n, &bj);
	free(s.jobs);
}
