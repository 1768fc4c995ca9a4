// SPDX-License-Identifier: LGPL-2.1-or-later
/* Many sockets' steps in one io_uring; see repair_batch.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accel.h"
#include "repair.h"
#include "repair_batch.h"
#include "uring_abi.h"

/* about a hundred connections per round */
#define RING_ENTRIES 2048u
#define BLOCK_MIN (64u * 1024)

struct batch_block {
	struct batch_block *next;
	size_t used, size;
	_Alignas(16) unsigned char data[];
};

/*
 * One ring per process, made by the probe and never closed: closing a
 * ring that a thread has submitted to makes the kernel's exit work queue
 * task work on that thread with TWA_SIGNAL, and whatever it blocks in
 * next (the program's epoll_wait) fails with EINTR.  Every use is under
 * the API lock.  A child after fork drops its copy of the parent's
 * mappings (closing its descriptor leaves the parent's ring alone) and
 * makes its own.
 *
 * Refusals come in many forms: no io_uring (ENOSYS), io_uring_disabled
 * or seccomp (EPERM), a kernel before 6.7 (EOPNOTSUPP for TCP-level
 * socket commands) or 6.11 (no IORING_OP_BIND).
 */
static struct {
	pthread_once_t once;
	bool ok;
	bool stale; /* a fork's child: the ring is the parent's */
	struct uring ring;
} proc = { .once = PTHREAD_ONCE_INIT, .ring = { .fd = -1 } };

static void probe_done(void *ctx, uint64_t data, int res)
{
	int *res_of = ctx;

	if (data < 2)
		res_of[data] = res;
}

static bool probe_commands(struct uring *u)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
	struct sock_filter prog[BLOCK_LEN];
	int one = 1, res[2] = { -1, -1 };
	struct io_uring_sqe *sqe;

	if (fd < 0)
		return false;
	sqe = uring_sqe(u);
	uring_prep_setsockopt(sqe, fd, IPPROTO_TCP, TCP_NODELAY, &one,
			      sizeof(one));
	uring_set_data(sqe, 0);
	sqe = uring_sqe(u);
	uring_prep_getsockopt(sqe, fd, SOL_SOCKET, SO_GET_FILTER, prog,
			      BLOCK_LEN);
	uring_set_data(sqe, 1);
	if (uring_run(u, probe_done, res))
		res[0] = -1;
	close(fd);
	return res[0] == 0 && res[1] == 0;
}

static void forked(void)
{
	proc.stale = true;
}

/* A ring that was never submitted to may be closed (no task knows it);
 * one the commands were tried on stays, unused. */
static void probe_kernel(void)
{
	static const uint8_t ops[] = { URING_OP_SOCKET, URING_OP_URING_CMD,
				       URING_OP_BIND, IORING_OP_CONNECT,
				       IORING_OP_SEND, IORING_OP_RECV };

	if (uring_open(&proc.ring, RING_ENTRIES))
		return;
	if (uring_has_ops(&proc.ring, ops, sizeof(ops))) {
		uring_close(&proc.ring);
		return;
	}
	proc.ok = probe_commands(&proc.ring) &&
		  !pthread_atfork(NULL, NULL, forked);
}

bool batch_usable(void)
{
	unsigned int accel;

	if (accel_allowed(&accel) || !(accel & ACCEL_URING))
		return false;
	pthread_once(&proc.once, probe_kernel);
	return proc.ok;
}

int batch_open(struct rebuild_batch *b)
{
	memset(b, 0, sizeof(*b));
	/* after a fork, or a closefrom() in the program that took the ring */
	if (proc.ok && (proc.stale || !uring_owned(&proc.ring))) {
		proc.stale = false;
		uring_close(&proc.ring);
		if (uring_open(&proc.ring, RING_ENTRIES))
			proc.ok = false;
	}
	b->ring = &proc.ring;
	return proc.ok ? 0 : -ENOSYS;
}

void batch_close(struct rebuild_batch *b)
{
	batch_reset(b);
	free(b->steps);
}

void batch_chain_begin(struct rebuild_batch *b, struct batch_mark *m)
{
	b->last = NULL;
	m->sqes = uring_mark(b->ring);
	m->steps = b->nsteps;
}

void batch_chain_end(struct rebuild_batch *b)
{
	b->last = NULL;
}

void batch_chain_drop(struct rebuild_batch *b, const struct batch_mark *m)
{
	uring_rollback(b->ring, m->sqes);
	b->nsteps = m->steps;
	b->last = NULL;
}

unsigned int batch_steps(const struct rebuild_batch *b)
{
	return b->nsteps;
}

void *batch_alloc(struct rebuild_batch *b, size_t len)
{
	struct batch_block *k = b->blocks;
	void *p;

	len = (len + 15) & ~(size_t)15;
	if (!k || k->size - k->used < len) {
		size_t size = len > BLOCK_MIN ? len : BLOCK_MIN;

		k = malloc(sizeof(*k) + size);
		if (!k)
			return NULL;
		k->size = size;
		k->used = 0;
		k->next = b->blocks;
		b->blocks = k;
	}
	p = k->data + k->used;
	k->used += len;
	return p;
}

/* The next SQE of the chain: the one before is linked to it, hard when
 * its failure is to be judged later rather than stop the chain. */
static struct io_uring_sqe *step(struct rebuild_batch *b, int ok,
				 int32_t expect, int kind)
{
	struct io_uring_sqe *sqe;
	struct batch_step *st;

	if (b->nsteps == b->cap) {
		unsigned int cap = b->cap ? 2 * b->cap : 256;

		st = realloc(b->steps, cap * sizeof(*st));
		if (!st)
			return NULL;
		b->steps = st;
		b->cap = cap;
	}
	sqe = uring_sqe(b->ring);
	if (!sqe)
		return NULL;
	if (b->last)
		uring_link(b->last, b->steps[b->nsteps - 1].ok != 0);
	b->last = sqe;
	/* a step that never ran counts as failed */
	b->steps[b->nsteps] = (struct batch_step){ ok, expect, kind, -ECANCELED };
	uring_set_data(sqe, b->nsteps++);
	return sqe;
}

int batch_setopt(struct rebuild_batch *b, int fd, int level, int name,
		 const void *val, socklen_t len, int ok, int kind)
{
	void *copy = batch_alloc(b, len ? len : 1);
	struct io_uring_sqe *sqe = copy ? step(b, ok, -1, kind) : NULL;

	if (!sqe)
		return -ENOSPC;
	memcpy(copy, val, len);
	uring_prep_setsockopt(sqe, fd, level, name, copy, len);
	return 0;
}

/* prog: batch memory of len instructions. */
int batch_get_filter(struct rebuild_batch *b, int fd, void *prog,
		     socklen_t len)
{
	struct io_uring_sqe *sqe = step(b, 0, -1, 0);

	if (!sqe)
		return -ENOSPC;
	uring_prep_getsockopt(sqe, fd, SOL_SOCKET, SO_GET_FILTER, prog, len);
	return 0;
}

int batch_socket(struct rebuild_batch *b, int domain, int type)
{
	struct io_uring_sqe *sqe = step(b, 0, -1, 0);

	if (!sqe)
		return -ENOSPC;
	uring_prep_socket(sqe, domain, type, IPPROTO_TCP);
	return 0;
}

int batch_bind(struct rebuild_batch *b, int fd, const struct sockaddr *sa,
	       socklen_t len)
{
	struct io_uring_sqe *sqe = step(b, 0, -1, 0);

	if (!sqe)
		return -ENOSPC;
	uring_prep_bind(sqe, fd, sa, len);
	return 0;
}

int batch_connect(struct rebuild_batch *b, int fd, const struct sockaddr *sa,
		  socklen_t len)
{
	struct io_uring_sqe *sqe = step(b, 0, -1, 0);

	if (!sqe)
		return -ENOSPC;
	uring_prep_connect(sqe, fd, sa, len);
	return 0;
}

/* p: batch memory.  A short send leaves the queue torn: a failure. */
int batch_send(struct rebuild_batch *b, int fd, const void *p, uint32_t len)
{
	struct io_uring_sqe *sqe = step(b, 0, (int32_t)len, 0);

	if (!sqe)
		return -ENOSPC;
	uring_prep_send(sqe, fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	return 0;
}

int batch_peek(struct rebuild_batch *b, int fd, void *p, uint32_t len,
	       int kind)
{
	struct io_uring_sqe *sqe = step(b, REBUILD_ANY_ERR, -1, kind);

	if (!sqe)
		return -ENOSPC;
	uring_prep_recv(sqe, fd, p, len, MSG_PEEK | MSG_DONTWAIT);
	return 0;
}

static void step_done(void *ctx, uint64_t data, int res)
{
	struct rebuild_batch *b = ctx;

	if (data < b->nsteps)
		b->steps[data].res = res;
}

int batch_run(struct rebuild_batch *b)
{
	b->last = NULL;
	return uring_run(b->ring, step_done, b);
}

static bool step_failed(const struct batch_step *st)
{
	if (st->expect >= 0)
		return st->res != st->expect;
	return st->res < 0 && st->ok != REBUILD_ANY_ERR && st->res != st->ok;
}

int batch_failed(const struct rebuild_batch *b, unsigned int from,
		 unsigned int to)
{
	unsigned int i;

	for (i = from; i < to; i++)
		if (step_failed(&b->steps[i]))
			return (int)i;
	return -1;
}

void batch_reset(struct rebuild_batch *b)
{
	while (b->blocks) {
		struct batch_block *k = b->blocks;

		b->blocks = k->next;
		free(k);
	}
	b->nsteps = 0;
	b->last = NULL;
}

/* A queue() that could not even start a chain in an empty round leaves
 * that job to the plain way, and the next round begins after it. */
void batch_rounds(struct rebuild_batch *b, unsigned int n,
		  const struct batch_jobs *j)
{
	unsigned int i, k, next;

	for (i = 0; i < n; i = next > i ? next : i + 1) {
		next = j->queue(b, j->ctx, i, n);
		batch_run(b);
		for (k = i; k < next && k < n; k++)
			j->judge(b, j->ctx, k);
		batch_reset(b);
	}
}

int batch_jobs_run(unsigned int n, const struct batch_jobs *j)
{
	struct rebuild_batch b;

	if (batch_open(&b))
		return -ENOSYS;
	batch_rounds(&b, n, j);
	batch_close(&b);
	return 0;
}
