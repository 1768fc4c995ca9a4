// SPDX-License-Identifier: LGPL-2.1-or-later
/* The repair backend's stop, start and bookkeeping; see repair.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend.h"
#include "hold.h"
#include "internal.h"
#include "repair.h"

/* The hold outlives the socket; it is sent at the end of the call. */
int hold_add(int fd)
{
	struct hold_tuple t;
	int err = hold_tuple_of(fd, &t);

	return err ? err : hold_queue_add(&t);
}

static int repair_unhold(int fd)
{
	struct hold_tuple t;
	int err = hold_tuple_of(fd, &t);

	return err ? err : hold_queue_del(&t);
}

int repair_set(int fd, int mode)
{
	if (!setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &mode, sizeof(mode)))
		return 0;
	if (errno == EPERM)
		detail_set("TCP_REPAIR needs CAP_NET_ADMIN in the socket's "
			   "network namespace");
	return -errno;
}

static int repair_probe(char *why, size_t len)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int on = 1, err = 0;

	if (fd < 0) {
		snprintf(why, len, "repair backend: no TCP sockets here");
		return -ENOSYS;
	}
	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on)) &&
	    errno == ENOPROTOOPT) {
		snprintf(why, len, "repair backend: this kernel has no TCP_REPAIR");
		err = -ENOSYS;
	}
	/* EPERM still means the kernel has it: each call reports EPERM */
	close(fd);
	return err;
}

static bool state_connected(int state)
{
	switch (state) {
	case TCP_ESTABLISHED:
	case TCP_FIN_WAIT1:
	case TCP_FIN_WAIT2:
	case TCP_CLOSE_WAIT:
	case TCP_LAST_ACK:
	case TCP_CLOSING:
		return true;
	}
	return false;
}

static int repair_stage(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	uint32_t flags;
	int repair, kind;
	bool connected;

	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len))
		return -errno;
	connected = state_connected(ti.tcpi_state);
	len = sizeof(repair);
	if (getsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &repair, &len))
		return -errno;
	if (!repair)
		return connected ? STAGE_RUNNING : STAGE_UNCONNECTED;
	kind = block_read(fd, &flags);
	if (kind < 0)
		return kind;
	if (kind == BLOCK_OURS && connected)
		return STAGE_STOPPED;
	detail_set("socket is in TCP_REPAIR mode, but not by tcpcp");
	return STAGE_FOREIGN;
}

static int repair_stop(int fd)
{
	socklen_t len = sizeof(int);
	int reuse, err;

	if (getsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, &len))
		return -errno;
	err = block_claim(fd, reuse ? BLOCK_REUSEADDR : 0);
	if (err)
		return err;
	err = repair_set(fd, TCP_REPAIR_ON);
	if (!err)
		err = hold_add(fd);
	if (err) {
		repair_set(fd, TCP_REPAIR_OFF_NO_WP);
		block_remove(fd);
	}
	return err;
}

/* The manual's ENODEV: a link-local IPv6 connection whose device is gone. */
static int check_device(int fd)
{
	struct sockaddr_in6 sa;
	socklen_t len = sizeof(sa);
	char name[IF_NAMESIZE];

	if (getsockname(fd, (struct sockaddr *)&sa, &len))
		return -errno;
	if (sa.sin6_family != AF_INET6 ||
	    !IN6_IS_ADDR_LINKLOCAL(&sa.sin6_addr) || !sa.sin6_scope_id)
		return 0;
	if (!if_indextoname(sa.sin6_scope_id, name)) {
		detail_set("link-local connection: device %u no longer exists",
			   sa.sin6_scope_id);
		return -ENODEV;
	}
	return 0;
}

static int leave_repair(int fd, bool probe, uint32_t *flags)
{
	int kind, err;

	kind = block_read(fd, flags);
	if (kind < 0)
		return kind;
	err = check_device(fd);
	/* Leaving repair mode needs CAP_NET_ADMIN; turning it on again is a
	 * no-op that asks for the same, so a start that cannot finish fails
	 * here, with the socket still stopped, not half-way. */
	if (!err)
		err = repair_set(fd, TCP_REPAIR_ON);
	/* the block goes before repair-off, so that the probe's answer gets in */
	if (!err)
		err = block_remove(fd);
	if (err)
		return err;
	err = repair_set(fd, probe ? TCP_REPAIR_OFF : TCP_REPAIR_OFF_NO_WP);
	if (err)
		block_install(fd, *flags);
	return err;
}

/* The hold was lifted before this call; a start that fails puts it back
 * (sent with the call's commit), so the socket stays fully stopped. */
static int repair_start(int fd, bool probe)
{
	uint32_t flags = 0;
	int err = leave_repair(fd, probe, &flags), one = 1;

	if (err) {
		hold_add(fd);
		return err;
	}
	if ((flags & BLOCK_REUSEADDR) &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)))
		return -errno;
	return 0;
}

static void repair_commit(void)
{
	hold_commit();
}

const struct tcpcp_backend backend_repair = {
	.name = "repair",
	.probe = repair_probe,
	.stage = repair_stage,
	.stop = repair_stop,
	.unhold = repair_unhold,
	.start = repair_start,
	.save = repair_save,
	.restore = repair_restore,
	.commit = repair_commit,
};
