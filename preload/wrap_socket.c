// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * socket, bind, listen, connect, accept, accept4: the calls that tell the
 * shim what each TCP socket is for, and where restored connections are
 * claimed.  At the boundary each behaves exactly as libc's: same result,
 * same errno; the shim's own work never changes either.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../signals/signals.h"
#include "shim.h"

static bool is_tcp(int domain, int type, int protocol)
{
	type &= ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
	return (domain == AF_INET || domain == AF_INET6) &&
	       type == SOCK_STREAM && (protocol == 0 || protocol == IPPROTO_TCP);
}

SHIM_EXPORT int socket(int domain, int type, int protocol)
{
	const struct real_fns *r = real();
	int fd, saved;

	fd = r ? r->socket(domain, type, protocol) :
		 (int)syscall(SYS_socket, domain, type, protocol);
	if (fd >= 0 && shim_active) {
		saved = errno;
		if (is_tcp(domain, type, protocol))
			fdt_track(fd, FD_TCP, NULL);
		else
			fdt_clear(fd);
		errno = saved;
	}
	return fd;
}

SHIM_EXPORT int bind(int fd, const struct sockaddr *sa, socklen_t len)
{
	const struct real_fns *r = real();
	int saved = errno;

	if (shim_active && restore_pending() && sa &&
	    len >= sizeof(struct sockaddr_in)) {
		restore_on_bind(fd, sa, len);
		errno = saved;
	}
	return r ? r->bind(fd, sa, len) : (int)syscall(SYS_bind, fd, sa, len);
}

SHIM_EXPORT int listen(int fd, int backlog)
{
	const struct real_fns *r = real();
	struct fd_entry e;
	int rc, saved;

	rc = r ? r->listen(fd, backlog) : (int)syscall(SYS_listen, fd, backlog);
	if (rc == 0 && shim_active) {
		saved = errno;
		if (fdt_probe(fd, &e))
			fdt_set(fd, &e);
		errno = saved;
	}
	return rc;
}

SHIM_EXPORT int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	const struct real_fns *r = real();
	struct fd_entry e;
	int rc, saved = errno;

	if (shim_active && restore_pending() && sa &&
	    len >= sizeof(struct sockaddr_in) && restore_on_connect(fd, sa, len)) {
		errno = saved;
		return 0;
	}
	rc = r ? r->connect(fd, sa, len) :
		 (int)syscall(SYS_connect, fd, sa, len);
	if (shim_active && (rc == 0 || errno == EINPROGRESS)) {
		saved = errno;
		if (fdt_get(fd, &e) && e.kind == FD_TCP) {
			e.kind = FD_CONNECTED;
			fdt_set(fd, &e);
		}
		errno = saved;
	}
	return rc;
}

/* An accepted socket remembers its listener's address: the restarted
 * program's bind() of that address claims it. */
static void track_accepted(int fd, int listener)
{
	struct sockaddr_in6 addr;
	socklen_t len = sizeof(addr);
	struct fd_entry l;

	if (fdt_get(listener, &l) && l.kind == FD_LISTENER) {
		fdt_track(fd, FD_ACCEPTED, &l.addr);
		return;
	}
	memset(&addr, 0, sizeof(addr));
	if (!getsockname(listener, (struct sockaddr *)&addr, &len))
		fdt_track(fd, FD_ACCEPTED, &addr);
}

static int accept_common(int fd, struct sockaddr *sa, socklen_t *len,
			 int flags, bool four)
{
	const struct real_fns *r = real();
	int nfd, saved;

	if (shim_active && handback_total()) {
		nfd = handback_take(fd, sa, len, flags);
		if (nfd >= 0)
			return nfd;
	}
	wait_enter();
	if (!r)
		nfd = (int)syscall(SYS_accept4, fd, sa, len, flags);
	else if (four)
		nfd = r->accept4(fd, sa, len, flags);
	else
		nfd = r->accept(fd, sa, len);
	wait_leave();
	if (nfd >= 0 && shim_active) {
		saved = errno;
		track_accepted(nfd, fd);
		errno = saved;
	}
	return nfd;
}

SHIM_EXPORT int accept(int fd, struct sockaddr *sa, socklen_t *len)
{
	return accept_common(fd, sa, len, 0, false);
}

SHIM_EXPORT int accept4(int fd, struct sockaddr *sa, socklen_t *len,
			int flags)
{
	return accept_common(fd, sa, len, flags, true);
}
