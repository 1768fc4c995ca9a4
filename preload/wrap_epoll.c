// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * epoll while restored connections wait for accept() (see readiness.c).
 * The program sees its own registrations' events only: the shim's
 * wake-up events are taken out, and a wait that woke for nothing else
 * waits again for the rest of its time.
 */
#include <errno.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <time.h>

#include "../signals/signals.h"
#include "shim.h"

SHIM_EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	const struct real_fns *r = real();
	int rc, saved;

	rc = r ? r->epoll_ctl(epfd, op, fd, ev) :
		 (int)syscall(SYS_epoll_ctl, epfd, op, fd, ev);
	if (rc == 0 && shim_active && ready_active()) {
		saved = errno;
		ready_epoll_ctl(epfd, op, fd, ev);
		errno = saved;
	}
	return rc;
}

/* One real wait: timeout_ms < 0 waits forever; ts is for epoll_pwait2. */
struct wait_call {
	int variant; /* 0 epoll_wait, 1 epoll_pwait, 2 epoll_pwait2 */
	const sigset_t *mask;
};

static int real_wait(const struct wait_call *w, int epfd,
		     struct epoll_event *evs, int max, int64_t timeout_ns)
{
	const struct real_fns *r = real();
	struct timespec ts;
	int ms;

	if (w->variant == 2) {
		ts.tv_sec = timeout_ns / 1000000000;
		ts.tv_nsec = timeout_ns % 1000000000;
		return r->epoll_pwait2(epfd, evs, max,
				       timeout_ns < 0 ? NULL : &ts, w->mask);
	}
	ms = timeout_ns < 0 ? -1 : (int)((timeout_ns + 999999) / 1000000);
	if (w->variant == 1)
		return r->epoll_pwait(epfd, evs, max, ms, w->mask);
	return r->epoll_wait(epfd, evs, max, ms);
}

/* A checkpoint that let the program run on interrupted this wait (epoll
 * waits are never restarted after a handler): wait on for the rest of
 * the time, as if nothing happened. */
static int wait_resumed(const struct wait_call *w, int epfd,
			struct epoll_event *evs, int max, int64_t timeout_ns)
{
	int64_t deadline = timeout_ns < 0 ? -1 :
				   (int64_t)shim_now_ns() + timeout_ns;
	int rc;

	for (;;) {
		park_interrupted(); /* a park before this wait is not ours */
		wait_enter();
		rc = real_wait(w, epfd, evs, max, timeout_ns);
		wait_leave();
		if (rc >= 0 || errno != EINTR || !park_interrupted())
			return rc;
		if (deadline >= 0) {
			timeout_ns = deadline - (int64_t)shim_now_ns();
			if (timeout_ns < 0)
				timeout_ns = 0;
		}
	}
}

static int drop_wake(struct epoll_event *evs, int n)
{
	int i, o = 0;

	for (i = 0; i < n; i++)
		if (!ready_epoll_is_wake(&evs[i]))
			evs[o++] = evs[i];
	return o;
}

static int wait_merged(const struct wait_call *w, int epfd,
		       struct epoll_event *evs, int max, int64_t timeout_ns)
{
	int64_t deadline = timeout_ns < 0 ? -1 :
				   (int64_t)shim_now_ns() + timeout_ns;
	int k, rc;

	if (max <= 0 || !shim_active || !ready_active())
		return wait_resumed(w, epfd, evs, max, timeout_ns);
	for (;;) {
		/* wake-up events are dropped even when nothing is pending:
		 * one may race with the last accept() */
		k = handback_total() ? ready_epoll_take(epfd, evs, max) : 0;
		if (k == max)
			return k;
		rc = wait_resumed(w, epfd, evs + k, max - k, k ? 0 : timeout_ns);
		if (rc < 0)
			return k ? k : rc;
		rc = drop_wake(evs + k, rc);
		if (k + rc > 0 || timeout_ns == 0)
			return k + rc;
		if (deadline >= 0) {
			timeout_ns = deadline - (int64_t)shim_now_ns();
			if (timeout_ns <= 0)
				return 0;
		}
	}
}

SHIM_EXPORT int epoll_wait(int epfd, struct epoll_event *evs, int max,
			   int timeout)
{
	struct wait_call w = { 0, NULL };

	if (!real())
		return (int)syscall(SYS_epoll_wait, epfd, evs, max, timeout);
	return wait_merged(&w, epfd, evs, max,
			   timeout < 0 ? -1 : (int64_t)timeout * 1000000);
}

SHIM_EXPORT int epoll_pwait(int epfd, struct epoll_event *evs, int max,
			    int timeout, const sigset_t *mask)
{
	sigset_t copy;
	struct wait_call w = { 1, guard_mask(SIG_SETMASK, mask, &copy) };

	if (!real())
		return (int)syscall(SYS_epoll_pwait, epfd, evs, max, timeout,
				    w.mask, _NSIG / 8);
	return wait_merged(&w, epfd, evs, max,
			   timeout < 0 ? -1 : (int64_t)timeout * 1000000);
}

SHIM_EXPORT int epoll_pwait2(int epfd, struct epoll_event *evs, int max,
			     const struct timespec *ts, const sigset_t *mask)
{
	sigset_t copy;
	struct wait_call w = { 2, guard_mask(SIG_SETMASK, mask, &copy) };

	if (!real() || !real()->epoll_pwait2)
		return (int)syscall(SYS_epoll_pwait2, epfd, evs, max, ts,
				    w.mask, _NSIG / 8);
	return wait_merged(&w, epfd, evs, max,
			   ts ? (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec :
				-1);
}
