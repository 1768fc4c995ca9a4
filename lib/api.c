// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The five calls of tcpcp.h: the manual's argument errors in the manual's
 * order (EINVAL, ENOSYS, the descriptor's errors, EFAULT), then the work,
 * for one socket or for every TCP socket of the process.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api.h"
#include "hold.h"

/* One call at a time per process: the ALL forms walk every socket. */
pthread_mutex_t api_lock = PTHREAD_MUTEX_INITIALIZER;

int api_finish(int err)
{
	if (!err)
		return TCPCP_RET_OK;
	errno = -err;
	return TCPCP_RET_NG;
}

int api_prologue(int fd, int flag, const struct tcpcp_backend **ret_b)
{
	unsigned int hold;
	int err;

	detail_clear();
	if (flag != TCPCP_EXEC_ONE && flag != TCPCP_EXEC_ALL)
		return -EINVAL;
	err = hold_seconds(&hold);
	if (!err)
		err = backend_select(ret_b);
	if (!err)
		err = check_tcp_fd(fd);
	return err;
}

/* *reslst is NULL after any failure the caller can see it through, so
 * the pointer is probed (and cleared) first and EFAULT reported in its
 * place, after the descriptor's errors. */
int api_take_reslst(struct result_list **reslst)
{
	int err = check_writable(reslst, sizeof(*reslst));

	if (!err)
		*reslst = NULL;
	return err;
}

bool stage_connected(int stage)
{
	return stage != STAGE_UNCONNECTED;
}

void api_begin_call(const struct tcpcp_backend *b)
{
	if (b->begin)
		b->begin();
}

/* TCPCP_EXEC_ALL: op on one descriptor of every socket the predicate
 * picks, each result in the list. */
static void each_socket(const struct tcpcp_backend *b, int dummy,
			const struct api_walk *w, void *ctx,
			struct tcp_fd_list *l, struct reslist_builder *rb)
{
	unsigned int i;

	for (i = 0; i < l->n; i++) {
		struct sock_ref s;
		int stage;

		if (!l->fds[i].first || l->fds[i].fd == dummy)
			continue;
		sock_ref_of(&s, &l->fds[i]);
		stage = b->stage(&s);
		if (stage >= 0 && !w->pick(stage))
			continue;
		reslist_add(rb, s.fd,
			    stage < 0 ? stage : w->op(b, &s, stage, ctx));
	}
}

/* The first descriptor of each socket but the dummy, as pointers: what
 * a backend's many-socket operations take. */
static unsigned int pick_firsts(struct tcp_fd_list *l, int dummy,
				struct sock_ref *refs, struct sock_ref **v)
{
	unsigned int i, n = 0;

	for (i = 0; i < l->n; i++) {
		struct tcp_fd *t = &l->fds[i];

		sock_ref_of(&refs[i], t);
		t->first = t->first && t->fd != dummy;
		if (t->first)
			v[n++] = &refs[i];
	}
	return n;
}

/* The same, after the backend's operation on all of them at once: each
 * socket in the same order, so that results and details are the ones
 * each_socket gives.  false: no memory for it (nothing was done). */
static bool each_socket_many(const struct tcpcp_backend *b, int dummy,
			     const struct api_walk *w, void *ctx,
			     struct tcp_fd_list *l, struct reslist_builder *rb)
{
	many_fn many = w->many ? w->many(b) : NULL;
	struct sock_ref *refs, **v;
	unsigned int i;

	if (!many || !l->n)
		return false;
	refs = calloc(l->n, sizeof(*refs));
	v = refs ? calloc(l->n, sizeof(*v)) : NULL;
	if (!v) {
		free(refs);
		return false;
	}
	many(v, pick_firsts(l, dummy, refs, v));
	for (i = 0; i < l->n; i++) {
		struct sock_ref *s = &refs[i];
		int stage;

		if (!l->fds[i].first)
			continue;
		stage = b->stage(s);
		if (stage < 0 || w->pick(stage))
			reslist_add(rb, s->fd, stage < 0 ? stage :
						 w->op(b, s, stage, ctx));
		sock_ref_release(s);
	}
	free(v);
	free(refs);
	return true;
}

static int for_all(const struct tcpcp_backend *b, int dummy,
		   const struct api_walk *w, void *ctx,
		   struct result_list **reslst)
{
	struct reslist_builder rb;
	struct tcp_fd_list l;
	int err;

	err = tcp_fds_list(&l, w->describe);
	if (err)
		return err;
	err = reslist_init(&rb, l.n);
	if (err) {
		tcp_fds_free(&l);
		return err;
	}
	if (!each_socket_many(b, dummy, w, ctx, &l, &rb))
		each_socket(b, dummy, w, ctx, &l, &rb);
	tcp_fds_free(&l);
	*reslst = reslist_take(&rb);
	return 0;
}

/* TCPCP_EXEC_ONE: the op's error is the call's error. */
static int for_one(const struct tcpcp_backend *b, int fd, op_fn op,
		   void *ctx, struct result_list **reslst)
{
	struct reslist_builder rb;
	struct sock_ref s;
	int stage, err;

	err = reslist_init(&rb, 1);
	if (err)
		return err;
	sock_ref_init(&s, fd);
	stage = b->stage(&s);
	err = stage < 0 ? stage : op(b, &s, stage, ctx);
	if (err) {
		reslist_discard(&rb);
		return err;
	}
	reslist_add(&rb, fd, 0);
	*reslst = reslist_take(&rb);
	return 0;
}

int api_begin(int fd, int flag, struct result_list **reslst,
	      const struct tcpcp_backend **ret_b)
{
	int fault = api_take_reslst(reslst);
	int err = api_prologue(fd, flag, ret_b);

	return err ? err : fault;
}

int api_exec(const struct tcpcp_backend *b, int fd, int flag,
	     const struct api_walk *w, void *ctx, struct result_list **reslst)
{
	int err;

	pthread_mutex_lock(&api_lock);
	api_begin_call(b);
	if (flag == TCPCP_EXEC_ALL)
		err = for_all(b, fd, w, ctx, reslst);
	else
		err = for_one(b, fd, w->op, ctx, reslst);
	if (b->commit)
		b->commit();
	pthread_mutex_unlock(&api_lock);
	return err;
}

int api_call(const struct tcpcp_backend *b, const struct backend_call *c,
	     struct result_list **reslst)
{
	int err;

	pthread_mutex_lock(&api_lock);
	err = b->call(c, reslst);
	pthread_mutex_unlock(&api_lock);
	return err;
}

static int run(int fd, int flag, const struct api_walk *w,
	       struct result_list **reslst)
{
	struct backend_call c = { .op = BACKEND_STOP, .fd = fd, .flag = flag };
	const struct tcpcp_backend *b;
	int err = api_begin(fd, flag, reslst, &b);

	if (!err && b->call)
		return api_call(b, &c, reslst);
	if (!err)
		err = api_exec(b, fd, flag, w, NULL, reslst);
	return err;
}

int not_connected(void)
{
	detail_set("socket is not connected");
	return -EBADFD;
}

static many_fn stop_many(const struct tcpcp_backend *b)
{
	return b->stop_many;
}

static int stop_op(const struct tcpcp_backend *b, struct sock_ref *s,
		   int stage, void *ctx)
{
	(void)ctx;
	switch (stage) {
	case STAGE_UNCONNECTED:
		return not_connected();
	case STAGE_FOREIGN:
		return -EBUSY;
	case STAGE_STOPPED:
		return 0;
	}
	return b->stop(s);
}

TCPCP_EXPORT int tcpcp_stop(int fd, int flag, struct result_list **reslst)
{
	static const struct api_walk w = { stage_connected, stop_op, false,
					   stop_many };

	return api_finish(run(fd, flag, &w, reslst));
}

int api_resume(const struct tcpcp_backend *b, struct sock_ref *s, bool probe)
{
	int err = b->unhold ? b->unhold(s) : 0;

	if (err)
		return err;
	if (b->commit)
		b->commit();
	return b->start(s, probe);
}

static int start_op(const struct tcpcp_backend *b, struct sock_ref *s,
		    int stage, void *ctx)
{
	(void)ctx;
	if (stage == STAGE_FOREIGN)
		return -EBUSY;
	if (stage != STAGE_STOPPED)
		return 0; /* nothing to resume */
	return api_resume(b, s, true);
}

/* The stopped sockets among v, their holds lifted (queued); v keeps
 * those whose hold could be lifted, the others' results are unheld. */
static unsigned int pick_stopped(const struct tcpcp_backend *b,
				 struct sock_ref **v, unsigned int n,
				 struct sock_ref *refs, int *unheld)
{
	unsigned int i, m = 0;

	if (b->stage_many)
		b->stage_many(v, n);
	for (i = 0; i < n; i++) {
		unsigned int k = (unsigned int)(v[i] - refs);

		unheld[k] = INT_MIN;
		if (b->stage(v[i]) != STAGE_STOPPED)
			continue;
		unheld[k] = b->unhold ? b->unhold(v[i]) : 0;
		if (!unheld[k])
			v[m++] = v[i];
	}
	return m;
}

/* start() of v[0..n), results into res[] by index into refs. */
static void start_each(const struct tcpcp_backend *b, struct sock_ref **v,
		       unsigned int n, struct sock_ref *refs, int *res)
{
	int *ret = b->start_many ? malloc((n ? n : 1) * sizeof(*ret)) : NULL;
	unsigned int i;

	if (ret && !b->start_many(v, n, true, ret)) {
		for (i = 0; i < n; i++)
			res[v[i] - refs] = ret[i];
	} else {
		for (i = 0; i < n; i++)
			res[v[i] - refs] = b->start(v[i], true);
	}
	free(ret);
}

/* Every stopped socket's hold is lifted in one transaction, then each
 * socket is started. */
static int start_all(const struct tcpcp_backend *b, int dummy,
		     struct result_list **reslst)
{
	struct reslist_builder rb;
	struct tcp_fd_list l;
	struct sock_ref *refs = NULL, **v = NULL;
	unsigned int i, n = 0;
	int err = tcp_fds_list(&l, false), *res = NULL;

	if (err)
		return err;
	err = reslist_init(&rb, l.n);
	if (!err && (!(res = calloc(l.n ? l.n : 1, sizeof(*res))) ||
		     !(refs = calloc(l.n ? l.n : 1, sizeof(*refs))) ||
		     !(v = calloc(l.n ? l.n : 1, sizeof(*v)))))
		err = -ENOMEM;
	if (!err)
		n = pick_stopped(b, v, pick_firsts(&l, dummy, refs, v), refs,
				 res);
	if (!err && b->commit)
		b->commit();
	if (!err)
		start_each(b, v, n, refs, res);
	for (i = 0; !err && i < l.n; i++)
		if (l.fds[i].first && res[i] != INT_MIN)
			reslist_add(&rb, l.fds[i].fd, res[i]);
	free(v);
	free(refs);
	free(res);
	tcp_fds_free(&l);
	if (err)
		reslist_discard(&rb);
	else
		*reslst = reslist_take(&rb);
	return err;
}

TCPCP_EXPORT int tcpcp_start(int fd, int flag, struct result_list **reslst)
{
	static const struct api_walk one = { NULL, start_op, false, NULL };
	struct backend_call c = { .op = BACKEND_START, .fd = fd, .flag = flag };
	const struct tcpcp_backend *b;
	int err = api_begin(fd, flag, reslst, &b);

	if (!err && b->call)
		return api_finish(api_call(b, &c, reslst));
	if (err || flag == TCPCP_EXEC_ONE)
		return api_finish(err ? err : api_exec(b, fd, flag, &one, NULL,
						       reslst));
	pthread_mutex_lock(&api_lock);
	api_begin_call(b);
	err = start_all(b, fd, reslst);
	if (b->commit)
		b->commit();
	pthread_mutex_unlock(&api_lock);
	return api_finish(err);
}

/* tcpcp_close(): a stopped socket goes silently (repair mode: no FIN, no
 * RST); a dummy socket means every stopped socket, every descriptor. */
static int close_all_stopped(const struct tcpcp_backend *b, int dummy,
			     struct result_list **reslst)
{
	struct reslist_builder rb;
	struct tcp_fd_list l;
	unsigned int i, j;
	int err;

	err = tcp_fds_list(&l, false);
	if (err)
		return err;
	err = reslist_init(&rb, l.n);
	for (i = 0; !err && i < l.n; i++) {
		struct sock_ref s;

		if (!l.fds[i].first || l.fds[i].fd == dummy)
			continue;
		sock_ref_of(&s, &l.fds[i]);
		if (b->stage(&s) != STAGE_STOPPED)
			continue;
		for (j = 0; j < l.n; j++) {
			if (l.fds[j].ino != l.fds[i].ino)
				continue;
			reslist_add(&rb, l.fds[j].fd,
				    close(l.fds[j].fd) ? -errno : 0);
		}
	}
	tcp_fds_free(&l);
	if (!err)
		*reslst = reslist_take(&rb);
	return err;
}

static int close_one(int fd, struct result_list **reslst)
{
	struct reslist_builder rb;
	int err = reslist_init(&rb, 1);

	if (err)
		return err;
	if (close(fd)) {
		reslist_discard(&rb);
		return -errno;
	}
	reslist_add(&rb, fd, 0);
	*reslst = reslist_take(&rb);
	return 0;
}

TCPCP_EXPORT int tcpcp_close(int fd, struct result_list **reslst)
{
	struct backend_call c = { .op = BACKEND_CLOSE, .fd = fd };
	const struct tcpcp_backend *b;
	struct sock_ref s;
	int err = api_begin(fd, TCPCP_EXEC_ONE, reslst, &b), stage;

	if (err)
		return api_finish(err);
	if (b->call)
		return api_finish(api_call(b, &c, reslst));
	pthread_mutex_lock(&api_lock);
	api_begin_call(b);
	sock_ref_init(&s, fd);
	stage = b->stage(&s);
	if (stage == STAGE_STOPPED) {
		err = close_one(fd, reslst);
	} else if (stage == STAGE_UNCONNECTED) {
		err = close_all_stopped(b, fd, reslst);
	} else if (stage == STAGE_RUNNING) {
		detail_set("socket is live; tcpcp_stop() it first");
		err = -EBADFD;
	} else {
		err = stage < 0 ? stage : -EBUSY;
	}
	pthread_mutex_unlock(&api_lock);
	return api_finish(err);
}
