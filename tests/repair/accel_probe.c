// SPDX-License-Identifier: LGPL-2.1-or-later
/* See accel_probe.h. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "accel_probe.h"
#include "uring.h"
#include "uring_abi.h"

static void got(void *ctx, uint64_t data, int res)
{
	(void)data;
	*(int *)ctx = res;
}

static int set_nodelay(struct uring *u, int fd)
{
	struct io_uring_sqe *sqe = uring_sqe(u);
	int one = 1, res = -EIO, err;

	uring_prep_setsockopt(sqe, fd, IPPROTO_TCP, TCP_NODELAY, &one,
			      sizeof(one));
	err = uring_run(u, got, &res);
	return err ? err : res;
}

bool accel_uring_usable(char *why, size_t len)
{
	static const uint8_t ops[] = { URING_OP_SOCKET, URING_OP_URING_CMD,
				       URING_OP_BIND, IORING_OP_CONNECT,
				       IORING_OP_SEND, IORING_OP_RECV };
	struct uring u;
	int err = uring_open(&u, 4), fd;

	if (err) {
		snprintf(why, len, "io_uring_setup: %s", strerror(-err));
		return false;
	}
	if (uring_has_ops(&u, ops, sizeof(ops))) {
		uring_close(&u);
		snprintf(why, len, "no IORING_OP_BIND or socket opcodes "
				   "(Linux 6.11 needed)");
		return false;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	err = fd < 0 ? -errno : set_nodelay(&u, fd);
	uring_close(&u);
	if (fd >= 0)
		close(fd);
	if (err)
		snprintf(why, len, "TCP-level setsockopt in io_uring: %s "
				   "(Linux 6.7 needed)", strerror(-err));
	return !err;
}

int accel_fd_linked_to(const char *what)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int found = -1;

	cr_assert_not_null(d);
	while (found < 0 && (de = readdir(d))) {
		char path[300], link[64];
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		if (strstr(link, what))
			found = atoi(de->d_name);
	}
	closedir(d);
	return found;
}
