/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The machinery shared by the public calls (api.c, api_si.c). */
#ifndef TCPCP_API_H
#define TCPCP_API_H

#include <pthread.h>

#include "backend.h"
#include "internal.h"

extern pthread_mutex_t api_lock;

/* An operation on one socket in a given enum sock_stage; 0 or -errno. */
typedef int (*op_fn)(const struct tcpcp_backend *b, struct sock_ref *s,
		     int stage, void *ctx);

/* -errno -> TCPCP_RET_NG with errno; 0 -> TCPCP_RET_OK. */
int api_finish(int err);
/* EINVAL, ENOSYS, then the descriptor's errors. */
int api_prologue(int fd, int flag, const struct tcpcp_backend **ret_b);
/* EFAULT, else *reslst = NULL. */
int api_take_reslst(struct result_list **reslst);
/* api_prologue, then EFAULT for reslst. */
int api_begin(int fd, int flag, struct result_list **reslst,
	      const struct tcpcp_backend **ret_b);
/* A backend's operation on every socket of an EXEC_ALL call at once. */
typedef void (*many_fn)(struct sock_ref **v, unsigned int n);

/* What a call does with each socket. */
struct api_walk {
	bool (*pick)(int stage); /* EXEC_ALL: the stages op is for */
	op_fn op;
	bool describe; /* EXEC_ALL: ask sock_diag about each socket */
	/* EXEC_ALL, optional: the backend's operation that does ahead, for
	 * all sockets, what stage and op will take (NULL: it has none) */
	many_fn (*many)(const struct tcpcp_backend *b);
};

/* w->op on fd, or on every socket w->pick accepts, under the API lock. */
int api_exec(const struct tcpcp_backend *b, int fd, int flag,
	     const struct api_walk *w, void *ctx, struct result_list **reslst);

/* The call handed whole to a backend that has backend->call. */
int api_call(const struct tcpcp_backend *b, const struct backend_call *c,
	     struct result_list **reslst);

/* stopped -> running: lifts the hold (committed at once), then starts. */
int api_resume(const struct tcpcp_backend *b, struct sock_ref *s, bool probe);
/* A call begins, under the API lock. */
void api_begin_call(const struct tcpcp_backend *b);

bool stage_connected(int stage);
int not_connected(void);

#endif /* TCPCP_API_H */
