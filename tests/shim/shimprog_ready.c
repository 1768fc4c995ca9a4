// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * shimprog's readiness commands: poll, select and epoll on a listener, as
 * servers wait for clients, to see the restored connections announced.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <unistd.h>

#include "shimprog.h"

/* poll FD MS: "revents=0x.." or "timeout" */
int cmd_poll(int argc, char **argv, char *out, size_t len)
{
	struct pollfd p = { .fd = (int)arg_long(argv[1]), .events = POLLIN };
	int rc = poll(&p, 1, argc > 2 ? (int)arg_long(argv[2]) : 0);

	if (rc < 0) {
		snprintf(out, len, "poll: %m");
		return -1;
	}
	snprintf(out, len, rc ? "revents=%#x" : "timeout", p.revents);
	return 0;
}

/* select FD MS: "readable" or "timeout" */
int cmd_select(int argc, char **argv, char *out, size_t len)
{
	int fd = (int)arg_long(argv[1]), rc;
	long ms = argc > 2 ? arg_long(argv[2]) : 0;
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	fd_set rd;

	FD_ZERO(&rd);
	FD_SET(fd, &rd);
	rc = select(fd + 1, &rd, NULL, NULL, &tv);
	if (rc < 0) {
		snprintf(out, len, "select: %m");
		return -1;
	}
	snprintf(out, len, "%s", rc && FD_ISSET(fd, &rd) ? "readable" :
			    "timeout");
	return 0;
}

int cmd_epoll_new(int argc, char **argv, char *out, size_t len)
{
	int fd = epoll_create1(EPOLL_CLOEXEC);

	(void)argc;
	(void)argv;
	if (fd < 0) {
		snprintf(out, len, "epoll_create1: %m");
		return -1;
	}
	snprintf(out, len, "%d", fd);
	return 0;
}

/* epoll-add EPFD FD DATA [et] [oneshot], or epoll-mod with the same */
int cmd_epoll_ctl(int argc, char **argv, char *out, size_t len)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int i, op = strcmp(argv[0], "epoll-mod") ? EPOLL_CTL_ADD :
						   EPOLL_CTL_MOD;

	ev.data.u64 = (uint64_t)arg_long(argv[3]);
	for (i = 4; i < argc; i++)
		ev.events |= !strcmp(argv[i], "et") ? EPOLLET :
			     !strcmp(argv[i], "oneshot") ? EPOLLONESHOT : 0;
	if (epoll_ctl((int)arg_long(argv[1]), op, (int)arg_long(argv[2]),
		      &ev)) {
		snprintf(out, len, "epoll_ctl: %m");
		return -1;
	}
	snprintf(out, len, "done");
	return 0;
}

static int epoll_result(int rc, const struct epoll_event *evs, char *out,
			size_t len)
{
	size_t o;
	int i;

	if (rc < 0) {
		snprintf(out, len, "epoll_wait: %m");
		return -1;
	}
	o = (size_t)snprintf(out, len, "n=%d", rc);
	for (i = 0; i < rc && o < len; i++)
		o += (size_t)snprintf(out + o, len - o, " data=%llu",
				      (unsigned long long)evs[i].data.u64);
	return 0;
}

/* epoll-wait EPFD MS: "n=K data=X ..." */
int cmd_epoll_wait(int argc, char **argv, char *out, size_t len)
{
	struct epoll_event evs[8];
	int rc = epoll_wait((int)arg_long(argv[1]), evs, 8,
			    argc > 2 ? (int)arg_long(argv[2]) : 0);

	return epoll_result(rc, evs, out, len);
}

/* ---- one thread already blocked in epoll_wait(-1) ---- */

static struct {
	int epfd;
	int rc;
	int err;
	struct epoll_event evs[8];
	atomic_bool done;
	pthread_t t;
} bg;

static void *bg_main(void *arg)
{
	(void)arg;
	do
		bg.rc = epoll_wait(bg.epfd, bg.evs, 8, -1);
	while (bg.rc < 0 && errno == EINTR);
	bg.err = errno;
	atomic_store(&bg.done, true);
	return NULL;
}

/* epoll-wait-bg EPFD: a thread waits on it with no timeout. */
int cmd_epoll_wait_bg(int argc, char **argv, char *out, size_t len)
{
	(void)argc;
	bg.epfd = (int)arg_long(argv[1]);
	atomic_store(&bg.done, false);
	if (pthread_create(&bg.t, NULL, bg_main, NULL)) {
		snprintf(out, len, "pthread_create failed");
		return -1;
	}
	usleep(50000); /* it is blocked before the reply */
	snprintf(out, len, "waiting");
	return 0;
}

/* epoll-bg-result MS: what that thread got, or "waiting" after MS. */
int cmd_epoll_bg_result(int argc, char **argv, char *out, size_t len)
{
	long ms = argc > 1 ? arg_long(argv[1]) : 0;

	while (!atomic_load(&bg.done) && ms > 0) {
		usleep(10000);
		ms -= 10;
	}
	if (!atomic_load(&bg.done)) {
		snprintf(out, len, "waiting");
		return 0;
	}
	pthread_join(bg.t, NULL);
	errno = bg.err;
	return epoll_result(bg.rc, bg.evs, out, len);
}
