// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The calls that end or copy a descriptor.  An entry is cleared before
 * the real close: once the number is free another thread may get it
 * back from socket() or accept() and record it.
 */
/* Both fcntl and fcntl64 are defined here: without this, fcntl.h would
 * rename the first to the second. */
#undef _FILE_OFFSET_BITS
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <stdarg.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim.h"

static void forget(int fd)
{
	int saved = errno;

	fdt_clear(fd);
	if (ready_active())
		ready_fd_closed(fd);
	errno = saved;
}

static void copied(int from, int to)
{
	int saved = errno;

	fdt_copy(from, to);
	errno = saved;
}

SHIM_EXPORT int close(int fd)
{
	const struct real_fns *r = real();

	if (shim_active && fd_is_own(fd))
		return 0; /* the program never had it: as if closed */
	if (shim_active)
		forget(fd);
	return r ? r->close(fd) : (int)syscall(SYS_close, fd);
}

static int real_close_range(unsigned int lo, unsigned int hi, int flags)
{
	const struct real_fns *r = real();

	if (r && r->close_range)
		return r->close_range(lo, hi, flags);
	return (int)syscall(SYS_close_range, lo, hi, flags);
}

/* [lo, hi] less the shim's own descriptors, one piece at a time. */
static int close_around_own(unsigned int lo, unsigned int hi, int flags)
{
	int mine[8];
	unsigned int n = shim_active ? fd_own_sorted(mine, 8) : 0, i;
	unsigned int from = lo;
	int rc = 0;

	for (i = 0; i < n; i++) {
		unsigned int fd = (unsigned int)mine[i];

		if (fd < from || fd > hi)
			continue;
		if (fd > from && real_close_range(from, fd - 1, flags))
			rc = -1;
		from = fd + 1;
	}
	if (from <= hi &&
	    real_close_range(from, hi, flags))
		rc = -1;
	return rc;
}

SHIM_EXPORT int close_range(unsigned int lo, unsigned int hi, int flags)
{
	int saved = errno;

	if (shim_active && !(flags & CLOSE_RANGE_CLOEXEC)) {
		fdt_clear_range(lo, hi);
		errno = saved;
	}
	if (lo > hi)
		return real_close_range(lo, hi, flags);
	return close_around_own(lo, hi, flags);
}

SHIM_EXPORT void closefrom(int lo)
{
	if (lo < 0)
		return;
	if (shim_active)
		fdt_clear_range((unsigned int)lo, ~0u);
	close_around_own((unsigned int)lo, ~0u, 0);
}

SHIM_EXPORT int dup(int fd)
{
	const struct real_fns *r = real();
	int nfd = r ? r->dup(fd) : (int)syscall(SYS_dup, fd);

	if (nfd >= 0 && shim_active)
		copied(fd, nfd);
	return nfd;
}

SHIM_EXPORT int dup3(int fd, int to, int flags)
{
	const struct real_fns *r = real();
	int rc;

	rc = r ? r->dup3(fd, to, flags) : (int)syscall(SYS_dup3, fd, to, flags);
	if (rc >= 0 && shim_active)
		copied(fd, to);
	return rc;
}

SHIM_EXPORT int dup2(int fd, int to)
{
	const struct real_fns *r = real();
	int rc;

	if (fd == to || !r)
		return r ? r->dup2(fd, to) : (int)syscall(SYS_dup2, fd, to);
	rc = r->dup2(fd, to);
	if (rc >= 0 && shim_active)
		copied(fd, to);
	return rc;
}

static int fcntl_common(int (*fn)(int, int, ...), int fd, int cmd,
			void *arg)
{
	int rc = fn ? fn(fd, cmd, arg) : (int)syscall(SYS_fcntl, fd, cmd, arg);

	if (rc >= 0 && shim_active && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC))
		copied(fd, rc);
	return rc;
}

/* Every fcntl argument is an int or a pointer; glibc reads it as a
 * pointer too. */
SHIM_EXPORT int fcntl(int fd, int cmd, ...)
{
	const struct real_fns *r = real();
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return fcntl_common(r ? r->fcntl : NULL, fd, cmd, arg);
}

SHIM_EXPORT int fcntl64(int fd, int cmd, ...)
{
	const struct real_fns *r = real();
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return fcntl_common(r ? r->fcntl64 : NULL, fd, cmd, arg);
}
