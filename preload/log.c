// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The shim's log: "tcpcp[PID]: message" lines, on stderr or appended to
 * TCPCP_LOG (daemons point fd 2 at /dev/null).  write(2) only: the worker
 * logs while the program's threads are parked, and one of them may hold
 * the stdio lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "shim.h"

static int log_fd = 2;

void shim_log_open(const char *dest)
{
	int fd;

	if (!dest || !*dest)
		return;
	fd = open(dest, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0) {
		shim_log("cannot open log %s (%m); logging to stderr", dest);
		return;
	}
	log_fd = fd_move_high(fd);
}

void shim_log(const char *fmt, ...)
{
	char line[1024];
	int saved = errno, n, m;
	va_list ap;

	n = snprintf(line, sizeof(line), "tcpcp[%d]: ", (int)getpid());
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += m;
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(log_fd, line, (size_t)n) < 0) {
		/* nowhere left to say it */
	}
	errno = saved;
}
