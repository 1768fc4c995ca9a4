/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The small interface behind the API: one backend per way of freezing and
 * rebuilding a socket.  All functions return 0 or -errno and act on one
 * descriptor; the API layer handles TCPCP_EXEC_ALL, result lists and the
 * manual's argument errors.  A backend that does whole calls itself (kmod:
 * one ioctl, for one socket or all of them) has a call function instead.
 */
#ifndef TCPCP_BACKEND_H
#define TCPCP_BACKEND_H

#include <limits.h>
#include <netinet/in.h>
#include <stdbool.h>

#include "si_conn.h"
#include "tcp_diag.h"

/* Where a TCP socket stands, as far as tcpcp is concerned. */
enum sock_stage {
	STAGE_UNCONNECTED, /* never connected, closed, or listening */
	STAGE_RUNNING,     /* connected and live */
	STAGE_STOPPED,     /* connected and frozen by tcpcp */
	STAGE_FOREIGN,     /* frozen by someone else (repair mode): locked */
};

struct result_list;

/*
 * One socket as a call sees it.  The API layer fills in what its walk of
 * the process's sockets learned; the backend adds what it reads on the
 * way (stage() reads what stop, save and start need next), so that within
 * one call the kernel is asked nothing twice.
 */
struct sock_ref {
	int fd;
	int state; /* TCP state as the walk read it, or -1 */
	const struct tcp_diag *diag; /* sock_diag's answer this call, or NULL */
	const struct snap_rec *snap; /* the socket iterator's, or NULL */
	bool fresh; /* restore: made by this call, every option at default */
	bool stopped_here; /* by this call: diag, snap describe it running */
	bool repair_ok;    /* TCP_REPAIR was set on it in this call */
	bool has_addrs;
	struct sockaddr_in6 local; /* a sockaddr_in for an AF_INET socket */
	struct sockaddr_in6 peer;
	int filter; /* repair backend: enum block_kind, -1 until read */
	uint32_t filter_flags;
	/* repair backend, stop_many: a stop made ahead of the call's loop
	 * (enum stop_ahead, repair.h), its error, and the socket's state
	 * read once it was made (1 connected, 0 not, or -errno) */
	int ahead;
	int ahead_err;
	int after;
	/* repair backend, save_many: both queues peeked ahead, for save()
	 * to take (malloc'ed, NULL when empty) */
	bool peeked;
	uint8_t *peek_rcvq, *peek_sndq;
};

struct tcp_fd;

void sock_ref_init(struct sock_ref *s, int fd);
/* What a backend read ahead for the socket and no operation took. */
void sock_ref_release(struct sock_ref *s);
/* What the walk of TCPCP_EXEC_ALL learned of a socket. */
void sock_ref_of(struct sock_ref *s, const struct tcp_fd *t);
/* s->local and s->peer, from diag or getsockname/getpeername once. */
int sock_ref_addrs(struct sock_ref *s);

/* One public call, its arguments already checked (for backend->call). */
enum backend_op {
	BACKEND_STOP,
	BACKEND_GET_SI,
	BACKEND_SET_SI,
	BACKEND_START,
	BACKEND_CLOSE, /* tcpcp_close(): no flag */
	BACKEND_HOLD,  /* tcpcp_hold(): no descriptor, no result list */
};

struct backend_call {
	enum backend_op op;
	int fd;
	int flag;                   /* TCPCP_EXEC_ONE or TCPCP_EXEC_ALL */
	const void *si;             /* SET_SI: the TCP-SI, si_check()ed */
	unsigned int si_size;
	void **ret_si;              /* GET_SI: malloc'ed, as tcpcp_get_si() */
	unsigned int *ret_si_size;
};

struct tcpcp_backend {
	const char *name;
	/* 0 when the backend can work here, else -ENOSYS and why */
	int (*probe)(char *why, size_t len);
	/* optional: a call begins; what the backend remembered of the last
	 * one is forgotten */
	void (*begin)(void);
	/* an enum sock_stage, or -errno */
	int (*stage)(struct sock_ref *s);
	/* running -> stopped: the peer's segments are dropped from now on */
	int (*stop)(struct sock_ref *s);
	/* queues the lifting of what holds a stopped socket's peer off
	 * beyond the socket itself; sent by commit, which must come before
	 * start (the window probe and its answer must get through) */
	int (*unhold)(struct sock_ref *s);
	/* stopped -> running; probe: send a window probe so the peer
	 * retransmits at once (off for a snapshot of a live socket) */
	int (*start)(struct sock_ref *s, bool probe);
	/* fills *ret from a stopped socket; ret->sndq and ret->rcvq are
	 * malloc'ed, release them with conn_free_queues() */
	int (*save)(struct sock_ref *s, struct tcpcp_conn *ret);
	/* rebuilds a decoded connection on an unconnected socket of the right
	 * family, leaving it stopped */
	int (*restore)(struct sock_ref *s, const struct tcpcp_conn *c);
	/* sends what the calls above queued (the repair backend's hold);
	 * a failure is a warning in the detail, never the call's error */
	void (*commit)(void);
	/* optional, TCPCP_EXEC_ALL: for many sockets at once.  Each one
	 * does what the one-socket operations above would, with the same
	 * results, errors and details; where it cannot, it leaves the work
	 * to them.  stage_many reads ahead what stage() will ask (kept in
	 * each sock_ref); start_many is start() of each (results in ret),
	 * or -errno when it did nothing; rebuild_many is set_si's rebuild
	 * of each connection onto a new socket it makes: ret[i] is the
	 * descriptor, -errno, or BACKEND_LEFT for the one-socket way.
	 * stop_many stops ahead the sockets stage() would find running and
	 * stop() would stop (stage() and stop() then take what it did, in
	 * the call's order); save_many reads ahead what save() of a stopped
	 * socket will ask (sock_ref_release() frees what none took). */
	void (*stage_many)(struct sock_ref **s, unsigned int n);
	void (*stop_many)(struct sock_ref **s, unsigned int n);
	void (*save_many)(struct sock_ref **s, unsigned int n);
	int (*start_many)(struct sock_ref **s, unsigned int n, bool probe,
			  int *ret);
	void (*rebuild_many)(const struct tcpcp_conn *c, unsigned int n,
			     int *ret);
	/* optional: the whole call, result list included (reslst is NULL for
	 * BACKEND_HOLD); when present the operations above are not used */
	int (*call)(const struct backend_call *c, struct result_list **reslst);
};

#define BACKEND_LEFT INT_MIN

/* set_si's new socket for a connection: its type flags (SOCK_NONBLOCK as
 * the TCP-SI says, SOCK_CLOEXEC until it is whole), and FD_CLOEXEC as
 * the TCP-SI says once it is (0 or -errno). */
int conn_socket_type(const struct tcpcp_conn *c);
int conn_fd_finish(int fd, const struct tcpcp_conn *c);

/* The repair backend's operations on many sockets (repair_many.c). */
void repair_stage_many(struct sock_ref **s, unsigned int n);
void repair_stop_many(struct sock_ref **s, unsigned int n);
void repair_save_many(struct sock_ref **s, unsigned int n);
int repair_start_many(struct sock_ref **s, unsigned int n, bool probe,
		      int *ret);
void repair_rebuild_many(const struct tcpcp_conn *c, unsigned int n,
			 int *ret);

extern const struct tcpcp_backend backend_repair;
extern const struct tcpcp_backend backend_kmod;

/* The backend TCPCP_BACKEND asks for, if it can work; else -errno. */
int backend_select(const struct tcpcp_backend **ret);

void conn_free_queues(struct tcpcp_conn *c);

#endif /* TCPCP_BACKEND_H */
