// SPDX-License-Identifier: LGPL-2.1-or-later
/* The manual's argument errors, checked before anything is touched. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <unistd.h>

#include "internal.h"

static int sockopt_int(int fd, int name, int *ret)
{
	socklen_t len = sizeof(*ret);

	return getsockopt(fd, SOL_SOCKET, name, ret, &len) ? -errno : 0;
}

int check_tcp_fd(int fd)
{
	struct stat st;
	int v, err;

	if (fd < 0 || fstat(fd, &st))
		return -EBADF;
	if (!S_ISSOCK(st.st_mode))
		return -ENOTSOCK;
	err = sockopt_int(fd, SO_DOMAIN, &v);
	if (err)
		return err;
	if (v != AF_INET && v != AF_INET6)
		return -EPFNOSUPPORT;
	err = sockopt_int(fd, SO_TYPE, &v);
	if (err)
		return err;
	if (v != SOCK_STREAM)
		return -ESOCKTNOSUPPORT;
	err = sockopt_int(fd, SO_PROTOCOL, &v);
	if (err)
		return err;
	if (v != IPPROTO_TCP)
		return -EPROTONOSUPPORT;
	return 0;
}

/*
 * A pointer is checked by letting the kernel touch one byte of every page
 * it spans (process_vm_readv/writev on ourselves fail with EFAULT where a
 * plain access would crash).  Where those calls are not allowed (seccomp),
 * only NULL is caught.
 */
#define PROBE_PAGE 4096u
#define PROBE_IOV 64u

static int probe_range(void *p, size_t len, bool write)
{
	pid_t self = getpid();
	uintptr_t a = (uintptr_t)p, end = a + (len ? len : 1);
	char scratch[PROBE_IOV];

	while (a < end) {
		struct iovec local = { scratch, 0 };
		struct iovec remote[PROBE_IOV];
		unsigned int i;
		ssize_t n;

		/* protection is per page: one byte of each page says it all */
		for (i = 0; i < PROBE_IOV && a < end; i++) {
			remote[i].iov_base = (void *)a;
			remote[i].iov_len = 1;
			a = (a | (PROBE_PAGE - 1)) + 1;
		}
		local.iov_len = i;
		n = process_vm_readv(self, &local, 1, remote, i, 0);
		if (n >= 0 && write)
			n = process_vm_writev(self, &local, 1, remote, i, 0);
		if (n < 0 && errno == EFAULT)
			return -EFAULT;
		if (n < 0)
			return 0; /* not allowed here: NULL was all we could catch */
		if ((size_t)n < i)
			return -EFAULT;
	}
	return 0;
}

int check_writable(void *p, size_t len)
{
	if (!p)
		return -EFAULT;
	return probe_range(p, len, true);
}

int check_readable(const void *p, size_t len)
{
	if (!p)
		return -EFAULT;
	return probe_range((void *)p, len, false);
}
