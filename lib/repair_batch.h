/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The socket calls of many sockets in one io_uring (TCPCP_ACCEL=uring).
 * Each socket's steps are one chain of linked SQEs: a failing step's
 * completion has its error and the rest of the chain -ECANCELED, so a
 * failure belongs to exactly one socket and one step.  A batch runs in
 * rounds: steps are queued until the ring is full, then run together;
 * their values and buffers live in the batch until the round is judged.
 */
#ifndef TCPCP_REPAIR_BATCH_H
#define TCPCP_REPAIR_BATCH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "uring.h"

struct batch_step {
	int ok;         /* an error that is none, or REBUILD_ANY_ERR */
	int32_t expect; /* the result a send must have, or -1 */
	int kind;       /* the caller's name for the step */
	int res;
};

struct batch_block;

struct rebuild_batch {
	struct uring *ring; /* the process's */
	struct batch_step *steps;
	unsigned int nsteps, cap;
	struct batch_block *blocks;
	struct io_uring_sqe *last; /* the chain's latest SQE */
};

/* Where a chain began: to take it back before the round runs. */
struct batch_mark {
	unsigned int sqes, steps;
};

/* TCPCP_ACCEL allows uring, and this kernel and process can do it all:
 * socket commands at every level, SO_GET_FILTER, bind (probed once). */
bool batch_usable(void);

/* A batch on the process's ring (after batch_usable()). */
int batch_open(struct rebuild_batch *b);
void batch_close(struct rebuild_batch *b);

void batch_chain_begin(struct rebuild_batch *b, struct batch_mark *m);
void batch_chain_end(struct rebuild_batch *b);
void batch_chain_drop(struct rebuild_batch *b, const struct batch_mark *m);
/* Steps queued in this round. */
unsigned int batch_steps(const struct rebuild_batch *b);

/* Memory that lives until the round has been judged; NULL: none. */
void *batch_alloc(struct rebuild_batch *b, size_t len);

/* The steps; 0, or -ENOSPC (ring or memory full).  setopt copies val. */
int batch_setopt(struct rebuild_batch *b, int fd, int level, int name,
		 const void *val, socklen_t len, int ok, int kind);
int batch_get_filter(struct rebuild_batch *b, int fd, void *prog,
		     socklen_t len);
int batch_socket(struct rebuild_batch *b, int domain, int type);
int batch_bind(struct rebuild_batch *b, int fd, const struct sockaddr *sa,
	       socklen_t len);
int batch_connect(struct rebuild_batch *b, int fd, const struct sockaddr *sa,
		  socklen_t len);
int batch_send(struct rebuild_batch *b, int fd, const void *p, uint32_t len);
/* recv(MSG_PEEK | MSG_DONTWAIT) of up to len bytes into p (batch memory
 * or the caller's, alive until the round is judged); the step after it
 * runs whatever its result, which the caller judges. */
int batch_peek(struct rebuild_batch *b, int fd, void *p, uint32_t len,
	       int kind);

/* Runs the round: every step's result is in b->steps[].res. */
int batch_run(struct rebuild_batch *b);
/* The first step of [from, to) that failed, or -1. */
int batch_failed(const struct rebuild_batch *b, unsigned int from,
		 unsigned int to);
/* The round is judged: its steps and memory go. */
void batch_reset(struct rebuild_batch *b);

/* n jobs in as many rounds as the ring needs: queue() queues jobs from i
 * on and returns the first it left for the next round (n: none); once a
 * round has run, judge() gets each of its jobs, queued or not. */
struct batch_jobs {
	unsigned int (*queue)(struct rebuild_batch *b, void *ctx,
			      unsigned int i, unsigned int n);
	void (*judge)(struct rebuild_batch *b, void *ctx, unsigned int k);
	void *ctx;
};

void batch_rounds(struct rebuild_batch *b, unsigned int n,
		  const struct batch_jobs *j);
/* batch_rounds on a batch of its own; -ENOSYS where none can be opened
 * (nothing was done). */
int batch_jobs_run(unsigned int n, const struct batch_jobs *j);

#endif /* TCPCP_REPAIR_BATCH_H */
