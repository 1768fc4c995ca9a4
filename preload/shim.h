/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libtcpcp_shim.so: the LD_PRELOAD interposer (DESIGN section 4).
 *
 *	shim.c        constructor, fork handlers, the worker thread
 *	env.c         TCPCP_* variables, validated once
 *	log.c         one line per event, write(2) only
 *	real.c        libc's own symbols, bound once
 *	fdtable.c     what each descriptor is (listener, accepted, ...)
 *	wrap_*.c      the interposers
 *	checkpoint.c  control signal -> image -> TCPCP_ON_CHECKPOINT
 *	restore.c     TCPCP_RESTORE: claims on bind() and connect()
 *	handback.c    restored connections returned by accept()
 *	readiness.c   ... and reported by poll, select and epoll
 *	../signals/   control signal, parking, the program's signal calls
 */
#ifndef TCPCP_SHIM_H
#define TCPCP_SHIM_H

#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>

#define SHIM_EXPORT __attribute__((visibility("default")))

/* ---- configuration (env.c) ---- */

enum shim_action {
	ACTION_EXIT,
	ACTION_TERM,
	ACTION_CONTINUE,
	ACTION_STOP,
};

struct shim_config {
	char image[4096];   /* template, %p not yet expanded */
	char restore[4096]; /* "" when not restoring */
	char log[4096];     /* "" = stderr */
	int signal;
	enum shim_action action;
	unsigned int claim_seconds;
	bool restore_fd;
};

#define SHIM_DEFAULT_IMAGE "/tmp/tcpcp-%p.img"

/* Reads TCPCP_* through get (getenv in the shim, a table in the fuzzer).
 * 0, or -EINVAL with the one line to print in why. */
int shim_config_parse(const char *(*get)(const char *name),
		      struct shim_config *ret, char *why, size_t why_len);
const char *shim_action_name(enum shim_action a);
/* The image template with %p = pid and %% = %; -ENAMETOOLONG. */
int shim_image_path(const char *tmpl, pid_t pid, char *ret, size_t len);

extern struct shim_config shim_cfg;

/* The shim's own descriptors live near the top of the range, out of the
 * way of numbers a program (or TCPCP_RESTORE_FD) expects; fd or a copy. */
int fd_move_high(int fd);
/* fd is one of the shim's own (fd_move_high made it). */
bool fd_is_own(int fd);
/* The shim's own descriptors, ascending, into ret; how many. */
unsigned int fd_own_sorted(int *ret, unsigned int max);
extern bool shim_active; /* false: every interposer passes straight through */
extern uint64_t shim_start_us; /* CLOCK_MONOTONIC at the constructor */

/* CLOCK_MONOTONIC in nanoseconds: every timeout and measure of the shim. */
uint64_t shim_now_ns(void);

/* ---- log.c ---- */

void shim_log_open(const char *dest);
void shim_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- real.c: libc's symbols ---- */

struct real_fns {
	int (*socket)(int, int, int);
	int (*bind)(int, const struct sockaddr *, socklen_t);
	int (*listen)(int, int);
	int (*connect)(int, const struct sockaddr *, socklen_t);
	int (*accept)(int, struct sockaddr *, socklen_t *);
	int (*accept4)(int, struct sockaddr *, socklen_t *, int);
	int (*close)(int);
	int (*close_range)(unsigned int, unsigned int, int);
	void (*closefrom)(int);
	int (*dup)(int);
	int (*dup2)(int, int);
	int (*dup3)(int, int, int);
	int (*fcntl)(int, int, ...);
	int (*fcntl64)(int, int, ...);
	int (*sigaction)(int, const struct sigaction *, struct sigaction *);
	int (*sigprocmask)(int, const sigset_t *, sigset_t *);
	int (*pthread_sigmask)(int, const sigset_t *, sigset_t *);
	int (*poll)(struct pollfd *, nfds_t, int);
	int (*ppoll)(struct pollfd *, nfds_t, const struct timespec *,
		     const sigset_t *);
	int (*select)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
	int (*pselect)(int, fd_set *, fd_set *, fd_set *,
		       const struct timespec *, const sigset_t *);
	int (*epoll_ctl)(int, int, int, struct epoll_event *);
	int (*epoll_wait)(int, struct epoll_event *, int, int);
	int (*epoll_pwait)(int, struct epoll_event *, int, int,
			   const sigset_t *);
	int (*epoll_pwait2)(int, struct epoll_event *, int,
			    const struct timespec *, const sigset_t *);
};

/* NULL only while this very thread is binding them (a malloc in dlsym
 * that comes back into an interposer): callers then use the syscall. */
const struct real_fns *real(void);

/* ---- fdtable.c ---- */

enum fd_kind {
	FD_NONE,
	FD_TCP,       /* a TCP socket, role not known yet */
	FD_LISTENER,
	FD_ACCEPTED,
	FD_CONNECTED,
};

struct fd_entry {
	uint8_t kind;
	ino_t ino;                 /* to catch closes the shim did not see */
	struct sockaddr_in6 addr;  /* listener: its own; accepted: its listener's */
};

void fdt_set(int fd, const struct fd_entry *e);
/* Records fd as kind, with its inode now; addr for listener or accepted. */
void fdt_track(int fd, int kind, const struct sockaddr_in6 *addr);
bool fdt_get(int fd, struct fd_entry *ret);
void fdt_clear(int fd);
void fdt_clear_range(unsigned int lo, unsigned int hi);
void fdt_copy(int from, int to);
/* Calls fn for every entry of a kind (FD_NONE: every entry). */
void fdt_each(int kind, void (*fn)(int fd, const struct fd_entry *e, void *),
	      void *ctx);
/* An entry for fd as it is now: kind, inode and (listener) address.
 * false if fd is not a TCP socket. */
bool fdt_probe(int fd, struct fd_entry *ret);
/* fd's entry, only if it still describes the same socket. */
bool fdt_valid(int fd, struct fd_entry *ret);
/* Fills the table from /proc/self/fd (after exec, or a late preload). */
void fdt_scan(void);

/* ---- addresses ---- */

bool sa_equal(const struct sockaddr *a, const struct sockaddr *b);
bool sa_is_wildcard(const struct sockaddr *a);
uint16_t sa_port(const struct sockaddr *a);
void sa_copy(struct sockaddr_in6 *dst, const struct sockaddr *src,
	     socklen_t len);
socklen_t sa_len(const struct sockaddr *a);
const char *sa_str(const struct sockaddr *a, char *buf, size_t len);

/* ---- checkpoint.c ---- */

void checkpoint_run(uint64_t signal_ns);

/* ---- restore.c ---- */

void restore_load(void);       /* constructor: read and check the image */
void restore_at_start(void);   /* constructor, TCPCP_RESTORE_FD=1 */
bool restore_pending(void); /* connections not yet claimed */
/* every connection of the image claimed and rebuilt (or given up), and
 * every rebuilt one accepted by the program */
bool restore_settled(void);
/* bind(): restores the connections of a listener at sa */
void restore_on_bind(int fd, const struct sockaddr *sa, socklen_t len);
/* connect(): true if fd became the restored connection to sa */
bool restore_on_connect(int fd, const struct sockaddr *sa, socklen_t len);
/* worker: closes what nobody claimed in time; ms until next check or -1 */
int restore_expire(void);
void restore_after_fork_child(void);

/* ---- handback.c ---- */

/* A connection for the program's accept() on the listener with inode
 * listener_ino (restored, or taken from its queue at a checkpoint). */
void handback_add(ino_t listener_ino, int fd);
/* accept()/accept4() on a listener with handed-back connections: the fd,
 * or -1 if there is none (then the real accept runs). */
int handback_take(int listener_fd, struct sockaddr *addr, socklen_t *len,
		  int flags);
bool handback_pending(int listener_fd);
unsigned int handback_total(void);
void handback_after_fork_child(void);

/* ---- readiness.c: poll/select/epoll while hand-backs are pending ---- */

int ready_init(void); /* restore mode: the wake-up eventfd */
void ready_epoll_ctl(int epfd, int op, int fd, const struct epoll_event *ev);
void ready_fd_closed(int fd);
void ready_changed(bool arrived); /* hand-backs appeared or were taken */
bool ready_active(void);
void ready_after_fork_child(void);
/* Fills up to max synthesized events for epfd; how many. */
int ready_epoll_take(int epfd, struct epoll_event *evs, int max);
bool ready_epoll_is_wake(const struct epoll_event *ev);

#endif /* TCPCP_SHIM_H */
