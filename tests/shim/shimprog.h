/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * shimprog: the program the shim tests run under LD_PRELOAD.  It does
 * nothing by itself: the test drives it one command line at a time on
 * fd 0 and reads one reply line ("ok ..." or "err ...") on fd 1.  Lines
 * that start with "event " come unasked (a signal handler ran, the
 * program is about to exec).  Stream threads move pattern bytes (see
 * testnet.h) so that both ends can check every byte.
 *
 *	shimprog.c          main loop, descriptors, sockets
 *	shimprog_threads.c  stream threads, thread churn, blocked waiters
 *	shimprog_sig.c      signal handlers and masks
 *	shimprog_ready.c    poll, select and epoll on a listener
 */
#ifndef TCPCP_SHIMPROG_H
#define TCPCP_SHIMPROG_H

#include <stdbool.h>
#include <stddef.h>

#define REPLY_MAX 4096

/* One command: argv[0] is its name.  Writes the reply (without "ok ")
 * into out and returns 0, or an error text and returns -1. */
typedef int (*cmd_fn)(int argc, char **argv, char *out, size_t len);

struct cmd {
	const char *name;
	int min_args;
	cmd_fn fn;
};

/* A whole line to fd 1 in one write(2): safe from signal handlers. */
void say(const char *line);

/* shimprog_threads.c */
int cmd_stream(int argc, char **argv, char *out, size_t len);
int cmd_streams_wait(int argc, char **argv, char *out, size_t len);
int cmd_streams_status(int argc, char **argv, char *out, size_t len);
int cmd_churn(int argc, char **argv, char *out, size_t len);
int cmd_waiter(int argc, char **argv, char *out, size_t len);
int cmd_waiters_wake(int argc, char **argv, char *out, size_t len);
int cmd_waiters_report(int argc, char **argv, char *out, size_t len);
int cmd_malloc(int argc, char **argv, char *out, size_t len);

/* shimprog_ready.c */
int cmd_poll(int argc, char **argv, char *out, size_t len);
int cmd_select(int argc, char **argv, char *out, size_t len);
int cmd_epoll_new(int argc, char **argv, char *out, size_t len);
int cmd_epoll_ctl(int argc, char **argv, char *out, size_t len);
int cmd_epoll_wait(int argc, char **argv, char *out, size_t len);
int cmd_epoll_wait_bg(int argc, char **argv, char *out, size_t len);
int cmd_epoll_bg_result(int argc, char **argv, char *out, size_t len);

/* shimprog_sig.c */
int cmd_sig_install(int argc, char **argv, char *out, size_t len);
int cmd_sig_query(int argc, char **argv, char *out, size_t len);
int cmd_sig_count(int argc, char **argv, char *out, size_t len);
int cmd_mask(int argc, char **argv, char *out, size_t len);
int cmd_sigblk(int argc, char **argv, char *out, size_t len);
int cmd_term_handler(int argc, char **argv, char *out, size_t len);
int sig_by_name(const char *s);

long arg_long(const char *s);

#endif /* TCPCP_SHIMPROG_H */
