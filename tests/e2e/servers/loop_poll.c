// SPDX-License-Identifier: LGPL-2.1-or-later
/* --mode poll|ppoll|select|pselect: one thread, every wait without a
 * timeout (a waiter blocked for good must still be woken by a restore),
 * one accept per wakeup (the listener must stay readable until drained). */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/select.h>

#include "testsrv.h"

/* Requests answered per wakeup before the next connection's turn. */
#define BUDGET 8

struct set {
	struct ts_conn **c;
	int n, cap;
};

static void set_add(struct set *s, int fd)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 16;
		s->c = realloc(s->c, (size_t)s->cap * sizeof(*s->c));
		if (!s->c)
			ts_fatal("realloc");
	}
	s->c[s->n++] = ts_conn_new(fd, false);
}

/* Drops the connections that were closed during a round. */
static void set_compact(struct set *s)
{
	int i, j = 0;

	for (i = 0; i < s->n; i++) {
		if (s->c[i]->want == WANT_CLOSE)
			ts_conn_free(s->c[i]);
		else
			s->c[j++] = s->c[i];
	}
	s->n = j;
}

static void accept_one(struct set *s, int lfd)
{
	int fd = ts_accept(lfd, true);

	if (fd >= 0)
		set_add(s, fd);
	else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
		ts_fatal("accept");
}

static void init_set(struct set *s, const int *out, int nout)
{
	int i;

	for (i = 0; i < nout; i++)
		set_add(s, out[i]);
}

static void loop_poll_once(struct set *s, int lfd, struct pollfd **pfd,
			   int *cap)
{
	sigset_t empty;
	int i, n;

	if (*cap < s->n + 1) {
		*cap = 2 * (s->n + 1);
		*pfd = realloc(*pfd, (size_t)*cap * sizeof(**pfd));
		if (!*pfd)
			ts_fatal("realloc");
	}
	(*pfd)[0] = (struct pollfd){ .fd = lfd, .events = POLLIN };
	for (i = 0; i < s->n; i++)
		(*pfd)[i + 1] = (struct pollfd){
			.fd = s->c[i]->fd,
			.events = s->c[i]->want == WANT_IN ? POLLIN : POLLOUT,
		};
	sigemptyset(&empty);
	n = s->n;
	if (ts->mode == MODE_PPOLL)
		i = ppoll(*pfd, (nfds_t)n + 1, NULL, &empty);
	else
		i = poll(*pfd, (nfds_t)n + 1, -1);
	if (i < 0 && errno == EINTR)
		return;
	if (i < 0)
		ts_fatal("poll");
	for (i = 0; i < n; i++)
		if ((*pfd)[i + 1].revents)
			s->c[i]->want = proto_serve(s->c[i], BUDGET);
	if ((*pfd)[0].revents)
		accept_one(s, lfd);
	set_compact(s);
}

void loop_poll(int lfd, const int *out, int nout)
{
	struct set s = { 0 };
	struct pollfd *pfd = NULL;
	int cap = 0;

	init_set(&s, out, nout);
	for (;;)
		loop_poll_once(&s, lfd, &pfd, &cap);
}

static void loop_select_once(struct set *s, int lfd)
{
	fd_set rd, wr;
	sigset_t empty;
	int i, n, maxfd = lfd;

	FD_ZERO(&rd);
	FD_ZERO(&wr);
	FD_SET(lfd, &rd);
	for (i = 0; i < s->n; i++) {
		if (s->c[i]->fd >= FD_SETSIZE) {
			errno = EMFILE;
			ts_fatal("select: descriptor past FD_SETSIZE");
		}
		FD_SET(s->c[i]->fd, s->c[i]->want == WANT_IN ? &rd : &wr);
		if (s->c[i]->fd > maxfd)
			maxfd = s->c[i]->fd;
	}
	sigemptyset(&empty);
	if (ts->mode == MODE_PSELECT)
		i = pselect(maxfd + 1, &rd, &wr, NULL, NULL, &empty);
	else
		i = select(maxfd + 1, &rd, &wr, NULL, NULL);
	if (i < 0 && errno == EINTR)
		return;
	if (i < 0)
		ts_fatal("select");
	n = s->n;
	for (i = 0; i < n; i++)
		if (FD_ISSET(s->c[i]->fd, &rd) || FD_ISSET(s->c[i]->fd, &wr))
			s->c[i]->want = proto_serve(s->c[i], BUDGET);
	if (FD_ISSET(lfd, &rd))
		accept_one(s, lfd);
	set_compact(s);
}

void loop_select(int lfd, const int *out, int nout)
{
	struct set s = { 0 };

	init_set(&s, out, nout);
	for (;;)
		loop_select_once(&s, lfd);
}
