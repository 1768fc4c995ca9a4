/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the shim tests share.  Each Criterion test runs in a network
 * namespace and a temporary directory of its own; it starts shimprog
 * (shimprog.h) under LD_PRELOAD=libtcpcp_shim.so with TCPCP_BACKEND=repair
 * and TCPCP_LOG in that directory, plays the peers itself, and reads the
 * shim's log, the image and IMAGE.done.  Every process a test starts is
 * SIGKILLed when the test ends, however it ends.
 */
#ifndef TCPCP_SHIMTEST_H
#define TCPCP_SHIMTEST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "image.h"
#include "si_conn.h"
#include "testnet.h"

struct prog {
	pid_t pid;
	int ctl;
	char name[32];
	char stderr_path[160];
	char buf[8192]; /* unread bytes from the program */
	size_t have;
	char reply[4096];
	char events[4096]; /* every "event ..." line so far */
	int status;        /* wait status, once reaped */
	bool reaped;
};

struct shimtest {
	char dir[64];
	char log[128];
	char image_tmpl[128]; /* TCPCP_IMAGE for every program */
};

extern struct shimtest st;

/* Criterion .init and .fini of every shim test. */
void st_setup(void);
void st_teardown(void);

/*
 * Starts shimprog.  env: "NAME=value" entries added to the defaults or
 * replacing them, "NAME" alone removes one (LD_PRELOAD included); NULL
 * ends the list.  Waits for its "ready" line.  cap_drop: without
 * CAP_NET_ADMIN (dropped from the bounding set before exec).
 */
void prog_start(struct prog *p, const char *name, const char *const *env);
void prog_start_nocap(struct prog *p, const char *name,
		      const char *const *env);

/* Sends one command, returns the reply after "ok "; fails the test on
 * "err" or silence (30 s). */
const char *prog_cmd(struct prog *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The whole reply ("ok ...", "err ..."), or "dead" if the program ended. */
const char *prog_try(struct prog *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The reply's first number (descriptors, pids). */
int prog_cmd_int(struct prog *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The next event line containing what, within ms; false if none. */
bool prog_event(struct prog *p, const char *what, int ms);
/* Reaps it within ms: true and p->status, or false (still running). */
bool prog_wait(struct prog *p, int ms);
/* Asserts it exits with status 0 within ms. */
void prog_expect_exit0(struct prog *p, int ms);
void prog_kill(struct prog *p, int sig);

/* listen PORT OPTS in the program: its descriptor; *ret_port (if not
 * NULL) the port it got. */
int prog_listen(struct prog *p, uint16_t port, const char *opts,
		uint16_t *ret_port);
/* TCPCP_RESTORE=<p's image> as an env entry (a static buffer). */
const char *restore_env(const struct prog *p);

/* "key=N" in a reply, or -1. */
long reply_num(const char *reply, const char *key);

/* The image path for a program's pid; its IMAGE.done, waited for up to ms
 * (0 on success, -1 if none came). */
const char *st_image(pid_t pid);
int st_wait_done(pid_t pid, struct image_done *ret, int ms);
/* Removes the image and its .done. */
void st_forget_image(pid_t pid);
/* The image, read as the shim will (image_read); asserts it reads. */
void st_read_image(pid_t pid, struct image *ret);
/* The image's connection between these ports. */
const struct image_conn *image_find(const struct image *img,
				    uint16_t local_port, uint16_t peer_port,
				    struct tcpcp_conn *ret);

/* Lines of file holding what; every line of it to stderr for the record. */
int file_count(const char *path, const char *what);
int log_count(const char *what);
void log_show(const char *title);
/* Waits up to ms for a log line holding what. */
bool log_wait(const char *what, int ms);

/* The peer side */
int peer_connect(uint16_t port, int rcvbuf);
/* Before any byte moves: the sequence number of byte 0 of each stream of
 * the test's socket (TCP_REPAIR, briefly). */
void peer_isn(int fd, uint32_t *ret_snd1, uint32_t *ret_rcv1);
/* Reads exactly len pattern bytes within ms (asserts). */
void peer_recv(int fd, uint32_t seed, uint64_t off, size_t len, int ms);
void peer_send(int fd, uint32_t seed, uint64_t off, size_t len);
/* What became of a connection whose other end is gone: "EOF", "RST",
 * or "nothing" after ms; sends one byte every 200 ms meanwhile if poke. */
const char *peer_fate(int fd, int ms, bool poke);

long now_ms(void);

/*
 * A connection between the test (peer) and shimprog (fd), with pattern
 * streams both ways: c2s from the test, s2c from the program.
 */
struct qconn {
	int peer;
	int fd;
	uint16_t tport; /* the test's local port */
	uint16_t pport; /* the program's local port */
	uint32_t c2s, s2c;
	uint64_t c2s_sent, s2c_sent;   /* written so far */
	uint64_t c2s_read, s2c_read;   /* checked so far by the reader */
};

/* Fills in ports and seeds for q->peer. */
void qconn_init(struct qconn *q, int peer);
/* The image's record of q (asserts it is there). */
const struct image_conn *qconn_find(const struct image *img,
				    const struct qconn *q,
				    struct tcpcp_conn *ret);
/* Which of q[0..n) has the program's end at these ports (asserts). */
struct qconn *qconn_by_ports(struct qconn *q, unsigned int n,
			     long local, long peer);

/* The test connects to the program's listener lfd (port lport); the
 * program accepts (accept4, no flags).  rcvbuf as tn_connect. */
void qconn_accept(struct prog *p, int lfd, uint16_t lport, int rcvbuf,
		  struct qconn *ret);
/* The program connects (options "nb", "cx") to the test's listener. */
void qconn_connect(struct prog *p, int plfd, uint16_t pport,
		   const char *opts, struct qconn *ret);
/* Queues data both ways: to_srv bytes wait unread in the program's
 * receive queue, up to from_srv bytes in its send queue and beyond. */
void qconn_load(struct prog *p, struct qconn *q, size_t to_srv,
		size_t from_srv);
/* The program (on fd) reads what is queued, the test too, and each side
 * sends `after` more that the other checks; no EOF, no reset. */
void qconn_verify(struct prog *p, struct qconn *q, int fd, size_t after);

/* kill(sig) and IMAGE.done: asserts outcome ok with n connections, and
 * (action exit) that the program exits 0. */
void checkpoint(struct prog *p, int sig, unsigned int n,
		struct image_done *ret);

#endif /* TCPCP_SHIMTEST_H */
