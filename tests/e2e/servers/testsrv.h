/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * testsrv: the end-to-end tests' own server, one program with one event loop
 * per way a real server waits for its sockets (blocking accept with a thread
 * per connection, poll, ppoll, select, pselect, epoll with data.fd or
 * data.ptr, level- or edge-triggered, one-shot).
 *
 * Its protocol is stateless so that a checkpoint never finds a byte of it in
 * the server's memory.  A request is one line,
 *
 *	<seq> <len> <resp_len> <payload>\n
 *
 * (payload: len bytes of [A-Za-z0-9], len <= 4096, resp_len <= 65536)
 *
 * and its answer is
 *
 *	<seq> <crc32 of payload, 8 hex> <resp_len>\n<resp_len pattern bytes>\n
 *
 * The server looks for a complete line with recv(MSG_PEEK) and only then
 * reads exactly that line; it reads the next one only when the whole answer
 * fits in the socket's send buffer (see proto.c), and writes each answer in
 * one call, reading and answering with every signal blocked so that no
 * thread is stopped in between.  The one window of user state is an answer
 * the kernel took only in part: the rest is written at once, waiting for
 * room with signals open (write_all() in proto.c).
 */
#ifndef TESTSRV_H
#define TESTSRV_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define TS_MAX_PAYLOAD 4096
#define TS_MAX_RESP 65536
#define TS_MAX_LINE (TS_MAX_PAYLOAD + 64)
/* The send queue's unsent bytes at which poll stops saying POLLOUT is twice
 * this: see backpressured() in proto.c. */
#define TS_NOTSENT_LOWAT (4 * TS_MAX_RESP)
#define TS_MAX_CONNECT 8

enum ts_mode {
	MODE_ACCEPT,
	MODE_POLL,
	MODE_PPOLL,
	MODE_SELECT,
	MODE_PSELECT,
	MODE_EPOLL_FD,
	MODE_EPOLL_PTR,
};

enum ts_wait { WAIT_EPOLL_WAIT, WAIT_EPOLL_PWAIT, WAIT_EPOLL_PWAIT2 };

struct ts_opts {
	enum ts_mode mode;
	enum ts_wait wait;
	bool et;
	bool oneshot;
	bool accept4;
	bool reuseaddr;
	int port;
	const char *bind;
	int nconnect;
	const char *connect[TS_MAX_CONNECT];
};

/* What a connection waits for next. */
enum ts_want { WANT_IN, WANT_OUT, WANT_CLOSE };

struct ts_conn {
	int fd;
	bool listener;
	enum ts_want want;
	/* SO_RCVLOWAT currently set: a partial line waits for one more byte
	 * instead of waking a level-triggered loop over and over. */
	int lowat;
};

extern const struct ts_opts *ts;

/* proto.c */
void proto_init(void);
int proto_setup_conn(int fd);
enum ts_want proto_serve(struct ts_conn *c, int budget);
void proto_wait_line(struct ts_conn *c);

/* testsrv.c */
int ts_accept(int lfd, bool nonblock);
struct ts_conn *ts_conn_new(int fd, bool listener);
void ts_conn_free(struct ts_conn *c);
__attribute__((noreturn)) void ts_fatal(const char *what);

/* One loop per family of modes; each serves the listener and the
 * outgoing connections and never returns. */
void loop_threads(int lfd, const int *out, int nout);
void loop_poll(int lfd, const int *out, int nout);
void loop_select(int lfd, const int *out, int nout);
void loop_epoll(int lfd, const int *out, int nout);

#endif /* TESTSRV_H */
