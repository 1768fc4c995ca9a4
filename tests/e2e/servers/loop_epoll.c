// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * --mode epoll-fd|epoll-ptr: data.fd looked up in a table (redis,
 * memcached) or data.ptr to the connection (lighttpd, nginx); level- or
 * edge-triggered (--et), optionally one-shot re-armed with EPOLL_CTL_MOD
 * (--oneshot); waiting in epoll_wait, epoll_pwait or epoll_pwait2, always
 * without a timeout.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "testsrv.h"

#define BUDGET 8
#define MAX_EVENTS 64

static int epfd;
/* data.fd's table; it grows, for the benchmark's 10 000 connections */
static struct ts_conn **by_fd;
static size_t n_by_fd;

static void make_room(int fd)
{
	size_t n = n_by_fd ? n_by_fd : 1024;
	struct ts_conn **t;

	if ((size_t)fd < n_by_fd)
		return;
	while (n <= (size_t)fd)
		n *= 2;
	t = realloc(by_fd, n * sizeof(*t));
	if (!t)
		ts_fatal("realloc");
	memset(t + n_by_fd, 0, (n - n_by_fd) * sizeof(*t));
	by_fd = t;
	n_by_fd = n;
}

static uint32_t base_events(void)
{
	return (ts->et ? EPOLLET : 0) | (ts->oneshot ? EPOLLONESHOT : 0);
}

static void ctl(int op, struct ts_conn *c)
{
	struct epoll_event ev = { 0 };

	ev.events = base_events() | (c->want == WANT_OUT ? EPOLLOUT : EPOLLIN);
	if (ts->mode == MODE_EPOLL_PTR)
		ev.data.ptr = c;
	else
		ev.data.fd = c->fd;
	if (epoll_ctl(epfd, op, c->fd, op == EPOLL_CTL_DEL ? NULL : &ev))
		ts_fatal("epoll_ctl");
}

static void add(int fd, bool listener)
{
	struct ts_conn *c;

	make_room(fd);
	c = ts_conn_new(fd, listener);
	by_fd[fd] = c;
	ctl(EPOLL_CTL_ADD, c);
}

static void drop(struct ts_conn *c)
{
	ctl(EPOLL_CTL_DEL, c);
	by_fd[c->fd] = NULL;
	ts_conn_free(c);
}

/* Edge-triggered: accept until EAGAIN, or the edge is lost.  Otherwise one
 * per wakeup, as memcached does: the listener must stay readable. */
static void on_listener(struct ts_conn *l)
{
	int fd;

	do {
		fd = ts_accept(l->fd, true);
		if (fd >= 0)
			add(fd, false);
		else if (errno != EAGAIN && errno != EINTR &&
			 errno != ECONNABORTED)
			ts_fatal("accept");
	} while (ts->et && (fd >= 0 || errno == ECONNABORTED));
	if (ts->oneshot)
		ctl(EPOLL_CTL_MOD, l);
}

static void on_conn(struct ts_conn *c)
{
	enum ts_want was = c->want;

	c->want = proto_serve(c, ts->et ? -1 : BUDGET);
	if (c->want == WANT_CLOSE)
		drop(c);
	else if (c->want != was || ts->oneshot ||
		 (ts->et && c->want == WANT_OUT))
		/* An edge for output that did not give room enough is spent:
		 * MOD polls again and re-arms it. */
		ctl(EPOLL_CTL_MOD, c);
}

static int wait_events(struct epoll_event *ev)
{
	sigset_t empty;

	sigemptyset(&empty);
	switch (ts->wait) {
	case WAIT_EPOLL_PWAIT:
		return epoll_pwait(epfd, ev, MAX_EVENTS, -1, &empty);
	case WAIT_EPOLL_PWAIT2:
		return epoll_pwait2(epfd, ev, MAX_EVENTS, NULL, &empty);
	default:
		return epoll_wait(epfd, ev, MAX_EVENTS, -1);
	}
}

static struct ts_conn *conn_of(const struct epoll_event *ev)
{
	struct ts_conn *c;

	if (ts->mode == MODE_EPOLL_PTR)
		return ev->data.ptr;
	c = ev->data.fd >= 0 && (size_t)ev->data.fd < n_by_fd ?
		    by_fd[ev->data.fd] : NULL;
	if (!c)
		fprintf(stderr, "testsrv: event for unknown fd %d\n",
			ev->data.fd);
	return c;
}

void loop_epoll(int lfd, const int *out, int nout)
{
	struct epoll_event ev[MAX_EVENTS];
	struct ts_conn *c;
	int i, n;

	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		ts_fatal("epoll_create1");
	add(lfd, true);
	for (i = 0; i < nout; i++)
		add(out[i], false);
	for (;;) {
		n = wait_events(ev);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			ts_fatal("epoll_wait");
		for (i = 0; i < n; i++) {
			c = conn_of(&ev[i]);
			if (c && c->listener)
				on_listener(c);
			else if (c)
				on_conn(c);
		}
	}
}
