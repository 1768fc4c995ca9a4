// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The kmod backend: ioctls on /dev/tcpcp2.  This build only detects the
 * device; the operations arrive with the module (kmod/), so until then the
 * backend reports ENOSYS with the reason, as the manual asks.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"

#define KMOD_DEVICE "/dev/tcpcp2"

static int kmod_probe(char *why, size_t len)
{
	int fd = open(KMOD_DEVICE, O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		snprintf(why, len, "kmod backend: %s: %s (is tcpcp2.ko loaded?)",
			 KMOD_DEVICE, strerror(errno));
		return -ENOSYS;
	}
	close(fd);
	snprintf(why, len,
		 "kmod backend: %s exists, but this libtcpcp was built "
		 "without kmod support", KMOD_DEVICE);
	return -ENOSYS;
}

const struct tcpcp_backend backend_kmod = {
	.name = "kmod",
	.probe = kmod_probe,
};
