// SPDX-License-Identifier: LGPL-2.1-or-later
/* See ctlmsg.h. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <string.h>
#include <unistd.h>

#include "ctlmsg.h"

void ctlmsg_send(int ctl, const char *msg)
{
	if (write(ctl, msg, strlen(msg) + 1) < 0)
		_exit(3);
}

char ctlmsg_get(int ctl)
{
	char c = 0;

	if (read(ctl, &c, 1) != 1)
		_exit(4);
	return c;
}

void ctlmsg_fail(int ctl, const char *why)
{
	char msg[300];

	snprintf(msg, sizeof(msg), "FAIL: %s", why);
	ctlmsg_send(ctl, msg);
	_exit(1);
}

int ctlmsg_read(int ctl, char *msg, size_t len)
{
	size_t n = 0;

	while (n + 1 < len) {
		if (read(ctl, msg + n, 1) != 1) {
			snprintf(msg, len, "peer died without a verdict");
			return -1;
		}
		if (msg[n++] == '\0')
			return 0;
	}
	msg[n] = '\0';
	return 0;
}

int ctlmsg_expect(int ctl, const char *want, char *msg, size_t len)
{
	if (ctlmsg_read(ctl, msg, len) || strcmp(msg, want))
		return -1;
	return 0;
}

pid_t ctlmsg_fork(int *ret_ctl)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		abort();
	pid = fork();
	if (pid < 0)
		abort();
	close(sv[pid ? 1 : 0]);
	*ret_ctl = sv[pid ? 0 : 1];
	return pid;
}
