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
#include "sock_snap.h"

/* What a call remembers beyond one socket: a fresh socket's options. */
static void repair_begin(void)
{
	sockopts_forget_defaults();
}

/* The hold outlives the socket; it is sent at the end of the call. */
int hold_add(struct sock_ref *s)
{
	struct hold_tuple t;
	int err = sock_ref_addrs(s);

	if (err)
		return err;
	hold_tuple_of_addrs(&s->local, &s->peer, &t);
	return hold_queue_add(&t);
}

static int repair_unhold(struct sock_ref *s)
{
	struct hold_tuple t;
	int err = sock_ref_addrs(s);

	if (err)
		return err;
	hold_tuple_of_addrs(&s->local, &s->peer, &t);
	return hold_queue_del(&t);
}

int repair_err(int err)
{
	if (err == -EPERM)
		detail_set("TCP_REPAIR needs CAP_NET_ADMIN in the socket's "
			   "network namespace");
	return err;
}

int repair_set(int fd, int mode)
{
	if (!setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &mode, sizeof(mode)))
		return 0;
	return repair_err(-errno);
}

int repair_on(struct sock_ref *s)
{
	int err = repair_set(s->fd, TCP_REPAIR_ON);

	if (!err)
		s->repair_ok = true;
	return err;
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

bool state_connected(int state)
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

int connected_now(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len))
		return -errno;
	return state_connected(ti.tcpi_state);
}

/* reread: not the state the walk read; a running socket moves on.  A
 * stop made ahead read it after the stop (stop_many). */
static int is_connected(const struct sock_ref *s, bool reread)
{
	if (!reread && s->diag)
		return state_connected(s->diag->state);
	if (!reread && s->state >= 0)
		return state_connected(s->state);
	if (s->ahead != AHEAD_NONE)
		return s->after;
	return connected_now(s->fd);
}

int walk_connected(const struct sock_ref *s)
{
	if (!s->diag && s->state < 0)
		return 1;
	return is_connected(s, false);
}

/* Like the filter, repair mode and SO_REUSEADDR change only by the
 * program's or tcpcp's doing: the iterator's values stand for the call. */
static int get_int_once(const struct sock_ref *s, int level, int name,
			int *ret)
{
	socklen_t len = sizeof(*ret);

	if (!snap_int(s->snap, level, name, ret))
		return 0;
	return getsockopt(s->fd, level, name, ret, &len) ? -errno : 0;
}

/* tcpcp's block goes on only with repair mode and comes off before it
 * (leave_repair): a connected socket with the block is stopped, without
 * asking TCP_REPAIR, and has not moved since the walk.  (Were repair mode
 * turned off by hand, the save's first TCP_REPAIR_QUEUE fails with EPERM:
 * nothing torn is saved.)  A running one may have been reset since. */
static int repair_stage(struct sock_ref *s)
{
	int connected = is_connected(s, false), repair = 0, kind, err;

	if (connected < 0)
		return connected;
	if (connected) {
		kind = block_known(s);
		if (kind < 0)
			return kind;
		if (kind == BLOCK_OURS)
			return STAGE_STOPPED;
		if (s->diag || s->state >= 0)
			connected = is_connected(s, true);
		if (connected < 0)
			return connected;
	}
	err = get_int_once(s, IPPROTO_TCP, TCP_REPAIR, &repair);
	if (err)
		return err;
	if (!repair)
		return connected ? STAGE_RUNNING : STAGE_UNCONNECTED;
	detail_set("socket is in TCP_REPAIR mode, but not by tcpcp");
	return STAGE_FOREIGN;
}

/* repair_stop's failure after the block went on */
static int stop_undo(struct sock_ref *s, int err)
{
	repair_set(s->fd, TCP_REPAIR_OFF_NO_WP);
	block_remove(s->fd);
	s->filter = BLOCK_NONE;
	return err;
}

/* What stop_many did, as repair_stop would have done it: the same
 * errors, details and undoing, in the call's order. */
static int stop_taken(struct sock_ref *s)
{
	int err = s->ahead_err;

	switch (s->ahead) {
	case AHEAD_NO_BLOCK:
		return err;
	case AHEAD_NO_REPAIR:
		return stop_undo(s, repair_err(err));
	}
	s->filter = BLOCK_OURS;
	s->repair_ok = true;
	err = hold_add(s);
	if (err)
		return stop_undo(s, err);
	s->stopped_here = true;
	return 0;
}

static int repair_stop(struct sock_ref *s)
{
	int reuse, err;

	if (s->ahead != AHEAD_NONE)
		return stop_taken(s);

	err = get_int_once(s, SOL_SOCKET, SO_REUSEADDR, &reuse);
	if (err)
		return err;
	err = block_claim(s, reuse ? BLOCK_REUSEADDR : 0);
	if (err)
		return err;
	err = repair_on(s);
	if (!err)
		err = hold_add(s);
	if (err)
		return stop_undo(s, err);
	s->stopped_here = true;
	return 0;
}

/* The manual's ENODEV: a link-local IPv6 connection whose device is gone. */
static int check_device(struct sock_ref *s)
{
	const struct sockaddr_in6 *sa = &s->local;
	char name[IF_NAMESIZE];
	int err = sock_ref_addrs(s);

	if (err)
		return err;
	if (sa->sin6_family != AF_INET6 ||
	    !IN6_IS_ADDR_LINKLOCAL(&sa->sin6_addr) || !sa->sin6_scope_id)
		return 0;
	if (!if_indextoname(sa->sin6_scope_id, name)) {
		detail_set("link-local connection: device %u no longer exists",
			   sa->sin6_scope_id);
		return -ENODEV;
	}
	return 0;
}

int start_check(struct sock_ref *s)
{
	int kind = block_known(s);

	return kind < 0 ? kind : check_device(s);
}

void block_back(struct sock_ref *s)
{
	if (!block_install(s->fd, s->filter_flags))
		s->filter = BLOCK_OURS;
}

/* the block is off: repair mode goes, or the block comes back */
static int unblocked_repair_off(struct sock_ref *s, bool probe)
{
	int err;

	s->filter = BLOCK_NONE;
	err = repair_set(s->fd, probe ? TCP_REPAIR_OFF : TCP_REPAIR_OFF_NO_WP);
	if (err)
		block_back(s);
	return err;
}

static int leave_repair(struct sock_ref *s, bool probe)
{
	int err = start_check(s);

	/* Leaving repair mode needs CAP_NET_ADMIN; turning it on again is a
	 * no-op that asks for the same, so a start that cannot finish fails
	 * here, with the socket still stopped, not half-way.  Not twice in a
	 * call: a snapshot's stop has just asked. */
	if (!err && !s->repair_ok)
		err = repair_on(s);
	/* the block goes before repair-off, so that the probe's answer gets in */
	if (!err)
		err = block_remove(s->fd);
	return err ? err : unblocked_repair_off(s, probe);
}

/* The hold was lifted before this call; a start that fails puts it back
 * (sent with the call's commit), so the socket stays fully stopped. */
int start_failed(struct sock_ref *s, int err)
{
	hold_add(s);
	return err;
}

/* the flags of the block just lifted (0 if there was none) */
int reuse_back(struct sock_ref *s)
{
	int one = 1;

	if ((s->filter_flags & BLOCK_REUSEADDR) &&
	    setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)))
		return -errno;
	return 0;
}

static int repair_start(struct sock_ref *s, bool probe)
{
	int err = leave_repair(s, probe);

	return err ? start_failed(s, err) : reuse_back(s);
}

int start_unblocked(struct sock_ref *s, bool probe)
{
	int err = unblocked_repair_off(s, probe);

	return err ? start_failed(s, err) : reuse_back(s);
}

static void repair_commit(void)
{
	hold_commit();
}

const struct tcpcp_backend backend_repair = {
	.name = "repair",
	.probe = repair_probe,
	.begin = repair_begin,
	.stage = repair_stage,
	.stop = repair_stop,
	.unhold = repair_unhold,
	.start = repair_start,
	.save = repair_save,
	.restore = repair_restore,
	.commit = repair_commit,
	.stage_many = repair_stage_many,
	.stop_many = repair_stop_many,
	.save_many = repair_save_many,
	.start_many = repair_start_many,
	.rebuild_many = repair_rebuild_many,
};
