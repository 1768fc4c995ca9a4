/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A minimal io_uring: set up, fill SQEs (linked into chains), submit
 * them all and wait for every completion, walk the CQEs.  Nothing more:
 * no registered files or buffers, no polling thread.  Functions return 0
 * or -errno.
 */
#ifndef TCPCP_URING_H
#define TCPCP_URING_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

struct io_uring_sqe;
struct io_uring_cqe;

struct uring {
	int fd;
	unsigned int sq_entries;
	unsigned int *sq_head, *sq_tail, *sq_mask, *sq_array;
	struct io_uring_sqe *sqes;
	unsigned int *cq_head, *cq_tail, *cq_mask;
	struct io_uring_cqe *cqes;
	unsigned int tail;    /* next SQE to fill */
	unsigned int pending; /* filled, not yet submitted */
	dev_t dev; /* the ring's inode, to know it by */
	ino_t ino;
	void *rings, *sqe_map;
	size_t rings_len, sqe_len;
};

/* entries is rounded up to a power of two by the kernel; the completion
 * queue holds twice as many. */
int uring_open(struct uring *u, unsigned int entries);
/* Accepts a ring that was never opened (fd -1) or already closed; the
 * descriptor is closed only if it is still the ring's. */
void uring_close(struct uring *u);
/* The descriptor is still the ring (a program may have closed it). */
bool uring_owned(const struct uring *u);

/* 0 when the kernel knows every opcode of ops[0..n). */
int uring_has_ops(struct uring *u, const uint8_t *ops, unsigned int n);

/* A zeroed SQE, or NULL when the queue is full. */
struct io_uring_sqe *uring_sqe(struct uring *u);
/* SQEs filled since, and taken back (before submission only). */
unsigned int uring_mark(const struct uring *u);
void uring_rollback(struct uring *u, unsigned int mark);
/* Chains the next SQE after this one; hard: even if this one fails. */
void uring_link(struct io_uring_sqe *sqe, bool hard);
void uring_unlink(struct io_uring_sqe *sqe);

/* Submits every filled SQE and waits until each has completed, calling
 * done(ctx, user_data, res) for every CQE. */
int uring_run(struct uring *u, void (*done)(void *ctx, uint64_t data, int res),
	      void *ctx);

void uring_prep_socket(struct io_uring_sqe *sqe, int domain, int type,
		       int protocol);
void uring_prep_setsockopt(struct io_uring_sqe *sqe, int fd, int level,
			   int name, const void *val, socklen_t len);
void uring_prep_getsockopt(struct io_uring_sqe *sqe, int fd, int level,
			   int name, void *val, socklen_t len);
void uring_prep_bind(struct io_uring_sqe *sqe, int fd,
		     const struct sockaddr *sa, socklen_t len);
void uring_prep_connect(struct io_uring_sqe *sqe, int fd,
			const struct sockaddr *sa, socklen_t len);
void uring_prep_send(struct io_uring_sqe *sqe, int fd, const void *buf,
		     uint32_t len, int flags);
void uring_prep_recv(struct io_uring_sqe *sqe, int fd, void *buf, uint32_t len,
		     int flags);
void uring_set_data(struct io_uring_sqe *sqe, uint64_t data);

#endif /* TCPCP_URING_H */
