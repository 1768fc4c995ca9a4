// SPDX-License-Identifier: LGPL-2.1-or-later
/* Descriptors the library keeps between calls, out of the program's way. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "internal.h"

/* Below the shim's own (64 from the top): both stay clear of the low
 * numbers that TCPCP_RESTORE_FD gives back to restored connections. */
#define FD_FROM_TOP 128

int fd_move_high(int fd)
{
	struct rlimit rl;
	int high;

	if (fd < 0)
		return fd;
	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur < 2 * FD_FROM_TOP)
		return fd;
	high = fcntl(fd, F_DUPFD_CLOEXEC,
		     (int)(rl.rlim_cur > 65536 ? 65536 : rl.rlim_cur) -
			     FD_FROM_TOP);
	if (high < 0)
		return fd;
	close(fd);
	return high;
}
