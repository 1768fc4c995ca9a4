// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * poll, ppoll and select while restored connections wait for accept():
 * their listener reports readable (the real call then runs without
 * waiting).  With nothing handed back, each goes to libc as a safe point
 * to park at, resumed if a checkpoint interrupted it.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <time.h>

#include "../signals/signals.h"
#include "shim.h"

void __chk_fail(void) __attribute__((noreturn));
/* glibc's fortified entry points (-D_FORTIFY_SOURCE builds call these) */
int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fds_len);
int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *ts,
		const sigset_t *mask, size_t fds_len);

/* What is left of a wait until deadline (< 0: none, wait for ever). */
static int64_t left_ns(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = deadline - (int64_t)shim_now_ns();
	return left > 0 ? left : 0;
}

static struct timespec *as_timespec(int64_t ns, struct timespec *ts)
{
	if (ns < 0)
		return NULL;
	ts->tv_sec = ns / 1000000000;
	ts->tv_nsec = ns % 1000000000;
	return ts;
}

/*
 * The program's wait, as a safe point to park at.  A checkpoint that lets
 * the program run on interrupts it (poll and select are never restarted
 * after a handler): such a wait goes on for the rest of its time, so the
 * program never sees the shim's EINTR.
 */
struct wait_args {
	const struct real_fns *r;
	int kind; /* 0 poll, 1 ppoll, 2 select, 3 pselect */
	struct pollfd *fds;
	nfds_t n;
	int nfds;
	fd_set *rd, *wr, *ex;
	const sigset_t *mask;
};

static int wait_once(const struct wait_args *a, int64_t ns)
{
	struct timespec ts;
	struct timeval tv;

	switch (a->kind) {
	case 0:
		return a->r->poll(a->fds, a->n,
				  ns < 0 ? -1 : (int)((ns + 999999) / 1000000));
	case 1:
		return a->r->ppoll(a->fds, a->n, as_timespec(ns, &ts), a->mask);
	case 2:
		tv.tv_sec = ns / 1000000000;
		tv.tv_usec = (ns % 1000000000) / 1000;
		return a->r->select(a->nfds, a->rd, a->wr, a->ex,
				    ns < 0 ? NULL : &tv);
	}
	return a->r->pselect(a->nfds, a->rd, a->wr, a->ex,
			     as_timespec(ns, &ts), a->mask);
}

static int wait_resumed(const struct wait_args *a, int64_t ns)
{
	int64_t deadline = ns < 0 ? -1 : (int64_t)shim_now_ns() + ns;
	int rc;

	for (;;) {
		park_interrupted(); /* a park before this wait is not ours */
		wait_enter();
		rc = wait_once(a, ns);
		wait_leave();
		if (rc >= 0 || errno != EINTR || !park_interrupted())
			return rc;
		ns = left_ns(deadline);
	}
}

static int64_t ns_of_ts(const struct timespec *ts)
{
	return ts ? (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec : -1;
}

static int64_t ns_of_tv(const struct timeval *tv)
{
	return tv ? (int64_t)tv->tv_sec * 1000000000 + tv->tv_usec * 1000 : -1;
}

static bool poll_pending(const struct pollfd *fds, nfds_t n)
{
	nfds_t i;

	for (i = 0; i < n; i++)
		if ((fds[i].events & POLLIN) && handback_pending(fds[i].fd))
			return true;
	return false;
}

/* Adds POLLIN for the listeners with hand-backs to a real result. */
static int poll_merge(struct pollfd *fds, nfds_t n, int rc)
{
	nfds_t i;

	if (rc < 0)
		return rc;
	for (i = 0; i < n; i++) {
		if (!(fds[i].events & POLLIN) || !handback_pending(fds[i].fd))
			continue;
		if (!fds[i].revents)
			rc++;
		fds[i].revents |= POLLIN;
	}
	return rc;
}

SHIM_EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	const struct real_fns *r = real();

	if (!r)
		return (int)syscall(SYS_poll, fds, n, timeout);
	if (!shim_active || !handback_total() || !poll_pending(fds, n)) {
		struct wait_args a = { .r = r, .kind = 0, .fds = fds, .n = n };

		return wait_resumed(&a, timeout < 0 ? -1 :
					    (int64_t)timeout * 1000000);
	}
	return poll_merge(fds, n, r->poll(fds, n, 0));
}

SHIM_EXPORT int __poll_chk(struct pollfd *fds, nfds_t n, int timeout,
			   size_t fds_len)
{
	if (fds_len / sizeof(*fds) < n)
		__chk_fail();
	return poll(fds, n, timeout);
}

SHIM_EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts,
		      const sigset_t *mask)
{
	static const struct timespec zero;
	const struct real_fns *r = real();
	sigset_t copy;

	mask = guard_mask(SIG_SETMASK, mask, &copy);
	if (!r)
		return (int)syscall(SYS_ppoll, fds, n, ts, mask, _NSIG / 8);
	if (!shim_active || !handback_total() || !poll_pending(fds, n)) {
		struct wait_args a = { .r = r, .kind = 1, .fds = fds, .n = n,
				       .mask = mask };

		return wait_resumed(&a, ns_of_ts(ts));
	}
	return poll_merge(fds, n, r->ppoll(fds, n, &zero, mask));
}

SHIM_EXPORT int __ppoll_chk(struct pollfd *fds, nfds_t n,
			    const struct timespec *ts, const sigset_t *mask,
			    size_t fds_len)
{
	if (fds_len / sizeof(*fds) < n)
		__chk_fail();
	return ppoll(fds, n, ts, mask);
}

/* The listeners in a read set that have hand-backs: a bitmap copy. */
static bool select_pending(int nfds, const fd_set *rd, fd_set *ret)
{
	bool any = false;
	int fd;

	FD_ZERO(ret);
	for (fd = 0; rd && fd < nfds && fd < FD_SETSIZE; fd++)
		if (FD_ISSET(fd, rd) && handback_pending(fd)) {
			FD_SET(fd, ret);
			any = true;
		}
	return any;
}

static int select_merge(int nfds, fd_set *rd, const fd_set *pending, int rc)
{
	int fd;

	if (rc < 0)
		return rc;
	for (fd = 0; fd < nfds && fd < FD_SETSIZE; fd++)
		if (FD_ISSET(fd, pending) && !FD_ISSET(fd, rd)) {
			FD_SET(fd, rd);
			rc++;
		}
	return rc;
}

SHIM_EXPORT int select(int nfds, fd_set *rd, fd_set *wr, fd_set *ex,
		       struct timeval *tv)
{
	const struct real_fns *r = real();
	struct timeval zero = { 0, 0 };
	fd_set pending;

	if (!r)
		return (int)syscall(SYS_select, nfds, rd, wr, ex, tv);
	if (!shim_active || !handback_total() ||
	    !select_pending(nfds, rd, &pending)) {
		struct wait_args a = { .r = r, .kind = 2, .nfds = nfds,
				       .rd = rd, .wr = wr, .ex = ex };

		return wait_resumed(&a, ns_of_tv(tv));
	}
	return select_merge(nfds, rd, &pending,
			    r->select(nfds, rd, wr, ex, &zero));
}

SHIM_EXPORT int pselect(int nfds, fd_set *rd, fd_set *wr, fd_set *ex,
			const struct timespec *ts, const sigset_t *mask)
{
	static const struct timespec zero;
	const struct real_fns *r = real();
	fd_set pending;
	sigset_t copy;

	mask = guard_mask(SIG_SETMASK, mask, &copy);
	if (!r) {
		errno = EAGAIN;
		return -1;
	}
	if (!shim_active || !handback_total() ||
	    !select_pending(nfds, rd, &pending)) {
		struct wait_args a = { .r = r, .kind = 3, .nfds = nfds,
				       .rd = rd, .wr = wr, .ex = ex,
				       .mask = mask };

		return wait_resumed(&a, ns_of_ts(ts));
	}
	return select_merge(nfds, rd, &pending,
			    r->pselect(nfds, rd, wr, ex, &zero, mask));
}
