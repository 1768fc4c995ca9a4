// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The calling process's TCP sockets, for TCPCP_EXEC_ALL.  A socket that
 * was dup'ed appears once per descriptor; "first" marks one descriptor per
 * socket so that each socket is processed once.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>

#include "internal.h"

static bool is_tcp_socket(int fd, ino_t *ret_ino)
{
	struct stat st;
	int type, proto;
	socklen_t len = sizeof(int);

	if (fstat(fd, &st) || !S_ISSOCK(st.st_mode))
		return false;
	/* IPPROTO_TCP + SOCK_STREAM is only ever AF_INET or AF_INET6 */
	if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) ||
	    proto != IPPROTO_TCP)
		return false;
	len = sizeof(int);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) ||
	    type != SOCK_STREAM)
		return false;
	*ret_ino = st.st_ino;
	return true;
}

static int list_add(struct tcp_fd_list *l, unsigned int *cap, int fd,
		    ino_t ino)
{
	if (l->n == *cap) {
		unsigned int ncap = *cap ? *cap * 2 : 64;
		struct tcp_fd *n = realloc(l->fds, ncap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		l->fds = n;
		*cap = ncap;
	}
	l->fds[l->n++] = (struct tcp_fd){ .fd = fd, .ino = ino };
	return 0;
}

/* Without /proc, every possible descriptor number is tried. */
static int scan_numbers(struct tcp_fd_list *l, unsigned int *cap)
{
	struct rlimit rl;
	rlim_t fd, max = 65536;
	ino_t ino;
	int err;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < max)
		max = rl.rlim_cur;
	for (fd = 0; fd < max; fd++) {
		if (!is_tcp_socket((int)fd, &ino))
			continue;
		err = list_add(l, cap, (int)fd, ino);
		if (err)
			return err;
	}
	return 0;
}

static int scan_proc(DIR *d, struct tcp_fd_list *l, unsigned int *cap)
{
	struct dirent *de;
	ino_t ino;
	int err;

	while ((de = readdir(d))) {
		char *end;
		long fd = strtol(de->d_name, &end, 10);

		if (*end || end == de->d_name || fd == dirfd(d))
			continue;
		if (!is_tcp_socket((int)fd, &ino))
			continue;
		err = list_add(l, cap, (int)fd, ino);
		if (err)
			return err;
	}
	return 0;
}

static int by_ino_then_fd(const void *a, const void *b)
{
	const struct tcp_fd *x = a, *y = b;

	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return (x->fd > y->fd) - (x->fd < y->fd);
}

static int by_fd(const void *a, const void *b)
{
	const struct tcp_fd *x = a, *y = b;

	return (x->fd > y->fd) - (x->fd < y->fd);
}

static void mark_first(struct tcp_fd_list *l)
{
	unsigned int i;

	qsort(l->fds, l->n, sizeof(*l->fds), by_ino_then_fd);
	for (i = 0; i < l->n; i++)
		l->fds[i].first = i == 0 || l->fds[i - 1].ino != l->fds[i].ino;
	qsort(l->fds, l->n, sizeof(*l->fds), by_fd);
}

int tcp_fds_list(struct tcp_fd_list *ret)
{
	struct tcp_fd_list l = { 0 };
	unsigned int cap = 0;
	DIR *d = opendir("/proc/self/fd");
	int err;

	if (d) {
		err = scan_proc(d, &l, &cap);
		closedir(d);
	} else {
		err = scan_numbers(&l, &cap);
	}
	if (err) {
		tcp_fds_free(&l);
		return err;
	}
	mark_first(&l);
	*ret = l;
	return 0;
}

void tcp_fds_free(struct tcp_fd_list *l)
{
	if (!l)
		return;
	free(l->fds);
	l->fds = NULL;
	l->n = 0;
}
