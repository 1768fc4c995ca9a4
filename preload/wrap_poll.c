// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * poll, ppoll and select while restored connections wait for accept():
 * their listener reports readable (the real call then runs without
 * waiting).  With nothing handed back, each goes straight to libc.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/select.h>
#include <sys/syscall.h>

#include "../signals/signals.h"
#include "shim.h"

void __chk_fail(void) __attribute__((noreturn));
/* glibc's fortified entry points (-D_FORTIFY_SOURCE builds call these) */
int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fds_len);
int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *ts,
		const sigset_t *mask, size_t fds_len);

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
	int rc;

	if (!r)
		return (int)syscall(SYS_poll, fds, n, timeout);
	if (!shim_active || !handback_total() || !poll_pending(fds, n)) {
		wait_enter();
		rc = r->poll(fds, n, timeout);
		wait_leave();
		return rc;
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
	int rc;

	mask = guard_mask(SIG_SETMASK, mask, &copy);
	if (!r)
		return (int)syscall(SYS_ppoll, fds, n, ts, mask, _NSIG / 8);
	if (!shim_active || !handback_total() || !poll_pending(fds, n)) {
		wait_enter();
		rc = r->ppoll(fds, n, ts, mask);
		wait_leave();
		return rc;
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
	int rc;

	if (!r)
		return (int)syscall(SYS_select, nfds, rd, wr, ex, tv);
	if (!shim_active || !handback_total() ||
	    !select_pending(nfds, rd, &pending)) {
		wait_enter();
		rc = r->select(nfds, rd, wr, ex, tv);
		wait_leave();
		return rc;
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
	int rc;

	mask = guard_mask(SIG_SETMASK, mask, &copy);
	if (!r) {
		errno = EAGAIN;
		return -1;
	}
	if (!shim_active || !handback_total() ||
	    !select_pending(nfds, rd, &pending)) {
		wait_enter();
		rc = r->pselect(nfds, rd, wr, ex, ts, mask);
		wait_leave();
		return rc;
	}
	return select_merge(nfds, rd, &pending,
			    r->pselect(nfds, rd, wr, ex, &zero, mask));
}
