// SPDX-License-Identifier: LGPL-2.1-or-later
/* A minimal io_uring; see uring.h.  The ring's descriptor is O_CLOEXEC
 * (the kernel makes it so). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"
#include "uring.h"
#include "uring_abi.h"

#define PROBE_OPS 256

static int sys_setup(unsigned int entries, struct io_uring_params *p)
{
	long r = syscall(__NR_io_uring_setup, entries, p);

	return r < 0 ? -errno : (int)r;
}

static int sys_enter(int fd, unsigned int submit, unsigned int wait)
{
	long r = syscall(__NR_io_uring_enter, fd, submit, wait,
			 wait ? IORING_ENTER_GETEVENTS : 0, NULL, 0);

	return r < 0 ? -errno : (int)r;
}

static void *map(int fd, size_t len, off_t off)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_POPULATE, fd, off);

	return p == MAP_FAILED ? NULL : p;
}

/* Both rings in one mapping (IORING_FEAT_SINGLE_MMAP, 5.4). */
static int map_rings(struct uring *u, const struct io_uring_params *p)
{
	size_t sq = p->sq_off.array + p->sq_entries * sizeof(unsigned int);
	size_t cq = p->cq_off.cqes + p->cq_entries * sizeof(struct io_uring_cqe);
	char *r;

	if (!(p->features & IORING_FEAT_SINGLE_MMAP))
		return -ENOSYS;
	u->rings_len = sq > cq ? sq : cq;
	u->rings = map(u->fd, u->rings_len, IORING_OFF_SQ_RING);
	u->sqe_len = p->sq_entries * sizeof(struct io_uring_sqe);
	u->sqe_map = map(u->fd, u->sqe_len, IORING_OFF_SQES);
	if (!u->rings || !u->sqe_map)
		return -ENOMEM;
	r = u->rings;
	u->sq_head = (unsigned int *)(r + p->sq_off.head);
	u->sq_tail = (unsigned int *)(r + p->sq_off.tail);
	u->sq_mask = (unsigned int *)(r + p->sq_off.ring_mask);
	u->sq_array = (unsigned int *)(r + p->sq_off.array);
	u->cq_head = (unsigned int *)(r + p->cq_off.head);
	u->cq_tail = (unsigned int *)(r + p->cq_off.tail);
	u->cq_mask = (unsigned int *)(r + p->cq_off.ring_mask);
	u->cqes = (struct io_uring_cqe *)(r + p->cq_off.cqes);
	u->sqes = u->sqe_map;
	u->sq_entries = p->sq_entries;
	u->tail = *u->sq_tail;
	return 0;
}

/* SUBMIT_ALL: an SQE that fails early does not stop the submission of
 * the ones after it, which would otherwise stay in the queue. */
int uring_open(struct uring *u, unsigned int entries)
{
	struct io_uring_params p;
	struct stat st;
	int err;

	memset(u, 0, sizeof(*u));
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CLAMP;
	u->fd = sys_setup(entries, &p);
	if (u->fd < 0)
		return u->fd;
	u->fd = fd_move_high(u->fd);
	if (fstat(u->fd, &st)) {
		err = -errno;
		close(u->fd);
		u->fd = -1;
		return err;
	}
	u->dev = st.st_dev;
	u->ino = st.st_ino;
	err = map_rings(u, &p);
	if (err)
		uring_close(u);
	return err;
}

/* Each ring has an inode of its own: a number that a program's
 * closefrom() took and gave to another file is not the ring. */
bool uring_owned(const struct uring *u)
{
	struct stat st;

	return u->fd >= 0 && !fstat(u->fd, &st) && st.st_dev == u->dev &&
	       st.st_ino == u->ino;
}

void uring_close(struct uring *u)
{
	if (u->rings)
		munmap(u->rings, u->rings_len);
	if (u->sqe_map)
		munmap(u->sqe_map, u->sqe_len);
	if (uring_owned(u))
		close(u->fd);
	u->rings = u->sqe_map = NULL;
	u->fd = -1;
}

int uring_has_ops(struct uring *u, const uint8_t *ops, unsigned int n)
{
	size_t len = sizeof(struct io_uring_probe) +
		     PROBE_OPS * sizeof(struct io_uring_probe_op);
	struct io_uring_probe *p = calloc(1, len);
	unsigned int i;
	int err = 0;

	if (!p)
		return -ENOMEM;
	if (syscall(__NR_io_uring_register, u->fd, IORING_REGISTER_PROBE, p,
		    PROBE_OPS) < 0)
		err = -errno;
	for (i = 0; !err && i < n; i++)
		if (ops[i] >= p->ops_len ||
		    !(p->ops[ops[i]].flags & IO_URING_OP_SUPPORTED))
			err = -EOPNOTSUPP;
	free(p);
	return err;
}

struct io_uring_sqe *uring_sqe(struct uring *u)
{
	unsigned int head = __atomic_load_n(u->sq_head, __ATOMIC_ACQUIRE);
	struct io_uring_sqe *sqe;

	if (u->tail - head >= u->sq_entries)
		return NULL;
	sqe = &u->sqes[u->tail & *u->sq_mask];
	memset(sqe, 0, sizeof(*sqe));
	u->sq_array[u->tail & *u->sq_mask] = u->tail & *u->sq_mask;
	u->tail++;
	u->pending++;
	return sqe;
}

unsigned int uring_mark(const struct uring *u)
{
	return u->pending;
}

void uring_rollback(struct uring *u, unsigned int mark)
{
	u->tail -= u->pending - mark;
	u->pending = mark;
}

void uring_link(struct io_uring_sqe *sqe, bool hard)
{
	sqe->flags |= hard ? IOSQE_IO_HARDLINK : IOSQE_IO_LINK;
}

void uring_unlink(struct io_uring_sqe *sqe)
{
	sqe->flags &= (uint8_t)~(IOSQE_IO_LINK | IOSQE_IO_HARDLINK);
}

static unsigned int reap(struct uring *u,
			 void (*done)(void *ctx, uint64_t data, int res),
			 void *ctx)
{
	unsigned int head = *u->cq_head, n = 0;
	unsigned int tail = __atomic_load_n(u->cq_tail, __ATOMIC_ACQUIRE);

	for (; head != tail; head++, n++) {
		const struct io_uring_cqe *cqe = &u->cqes[head & *u->cq_mask];

		done(ctx, cqe->user_data, cqe->res);
	}
	__atomic_store_n(u->cq_head, head, __ATOMIC_RELEASE);
	return n;
}

/* The CQ holds twice the SQ, so waiting for all of them cannot overflow
 * it. */
int uring_run(struct uring *u, void (*done)(void *ctx, uint64_t data, int res),
	      void *ctx)
{
	unsigned int todo = u->pending, left = u->pending;
	int r;

	__atomic_store_n(u->sq_tail, u->tail, __ATOMIC_RELEASE);
	while (left) {
		r = sys_enter(u->fd, todo, left);
		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY)
			return r;
		if (r > 0)
			todo -= (unsigned int)r > todo ? todo : (unsigned int)r;
		left -= reap(u, done, ctx);
	}
	u->pending = 0;
	return 0;
}

void uring_set_data(struct io_uring_sqe *sqe, uint64_t data)
{
	sqe->user_data = data;
}

void uring_prep_socket(struct io_uring_sqe *sqe, int domain, int type,
		       int protocol)
{
	sqe->opcode = URING_OP_SOCKET;
	sqe->fd = domain;
	sqe->off = (uint64_t)(unsigned int)type;
	sqe->len = (uint32_t)protocol;
}

static void put32(struct io_uring_sqe *sqe, size_t off, uint32_t v)
{
	memcpy((char *)sqe + off, &v, sizeof(v));
}

static void prep_sockopt(struct io_uring_sqe *sqe, uint32_t op, int fd,
			 int level, int name, const void *val, socklen_t len)
{
	uint64_t p = (uint64_t)(uintptr_t)val;

	sqe->opcode = URING_OP_URING_CMD;
	sqe->fd = fd;
	put32(sqe, SQE_OFF_CMD_OP, op);
	put32(sqe, SQE_OFF_LEVEL, (uint32_t)level);
	put32(sqe, SQE_OFF_OPTNAME, (uint32_t)name);
	put32(sqe, SQE_OFF_OPTLEN, len);
	memcpy((char *)sqe + SQE_OFF_OPTVAL, &p, sizeof(p));
}

void uring_prep_setsockopt(struct io_uring_sqe *sqe, int fd, int level,
			   int name, const void *val, socklen_t len)
{
	prep_sockopt(sqe, URING_SOCK_SETSOCKOPT, fd, level, name, val, len);
}

/* The result is the option's length; SOL_SOCKET only. */
void uring_prep_getsockopt(struct io_uring_sqe *sqe, int fd, int level,
			   int name, void *val, socklen_t len)
{
	prep_sockopt(sqe, URING_SOCK_GETSOCKOPT, fd, level, name, val, len);
}

/* bind and connect copy the address at submission. */
void uring_prep_bind(struct io_uring_sqe *sqe, int fd,
		     const struct sockaddr *sa, socklen_t len)
{
	sqe->opcode = URING_OP_BIND;
	sqe->fd = fd;
	sqe->addr = (uint64_t)(uintptr_t)sa;
	sqe->off = len;
}

void uring_prep_connect(struct io_uring_sqe *sqe, int fd,
			const struct sockaddr *sa, socklen_t len)
{
	sqe->opcode = IORING_OP_CONNECT;
	sqe->fd = fd;
	sqe->addr = (uint64_t)(uintptr_t)sa;
	sqe->off = len;
}

/* MSG_DONTWAIT makes the kernel answer EAGAIN rather than wait (it sets
 * REQ_F_NOWAIT); a short send is a success, the caller compares. */
void uring_prep_send(struct io_uring_sqe *sqe, int fd, const void *buf,
		     uint32_t len, int flags)
{
	sqe->opcode = IORING_OP_SEND;
	sqe->fd = fd;
	sqe->addr = (uint64_t)(uintptr_t)buf;
	sqe->len = len;
	sqe->msg_flags = (uint32_t)flags;
}

/* The flags go to sock_recvmsg() as they are (MSG_PEEK included), and a
 * short read is a success: the caller compares (io_uring/net.c, io_recv). */
void uring_prep_recv(struct io_uring_sqe *sqe, int fd, void *buf, uint32_t len,
		     int flags)
{
	sqe->opcode = IORING_OP_RECV;
	sqe->fd = fd;
	sqe->addr = (uint64_t)(uintptr_t)buf;
	sqe->len = len;
	sqe->msg_flags = (uint32_t)flags;
}
