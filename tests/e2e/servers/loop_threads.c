// SPDX-License-Identifier: LGPL-2.1-or-later
/* --mode accept: blocking accept() in the main thread, one thread per
 * connection doing blocking I/O, as many small servers do. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>

#include "testsrv.h"

static void *serve_thread(void *arg)
{
	struct ts_conn *c = arg;
	struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };

	for (;;) {
		c->want = proto_serve(c, -1);
		if (c->want == WANT_CLOSE)
			break;
		if (c->want == WANT_IN)
			proto_wait_line(c);
		else if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
			break;
	}
	ts_conn_free(c);
	return NULL;
}

static void spawn(int fd)
{
	pthread_attr_t attr;
	pthread_t t;
	int err;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	err = pthread_create(&t, &attr, serve_thread, ts_conn_new(fd, false));
	if (err) {
		errno = err;
		ts_fatal("pthread_create");
	}
	pthread_attr_destroy(&attr);
}

void loop_threads(int lfd, const int *out, int nout)
{
	int fd, i;

	for (i = 0; i < nout; i++)
		spawn(out[i]);
	for (;;) {
		fd = ts_accept(lfd, false);
		if (fd >= 0)
			spawn(fd);
		else if (errno != EINTR && errno != ECONNABORTED &&
			 errno != EAGAIN)
			ts_fatal("accept");
	}
}
