// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Half-closed states on a rebuilt socket.  It comes out of the repair-mode
 * connect() ESTABLISHED, with its queues; from there each state is reached
 * the way the kernel would reach it:
 *
 *   our FIN:   shutdown(SHUT_WR), in repair mode with the send queue
 *              selected if it was already transmitted (it is then counted as
 *              sent without leaving the host), else with repair off like
 *              the unsent bytes before it (the window is still 0);
 *   our FIN acknowledged (FIN_WAIT2): the peer's ACK, injected;
 *   the peer's FIN: injected (repair_inject.c).
 *
 * CLOSE_WAIT = peer's FIN; FIN_WAIT1 = our FIN; FIN_WAIT2 = our FIN + ACK;
 * LAST_ACK = peer's FIN, then ours; CLOSING = ours, then the peer's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>

#include "internal.h"
#include "repair.h"

#define TH_FIN_ACK 0x11
#define TH_ACK_ONLY 0x10
#define STATE_WAIT_MS 200

static int our_fin(struct rebuild *r, const struct tcpcp_conn *c)
{
	bool sent = (c->fin_flags & TCPCP_SIE_FIN_SENT) ||
		    c->state == TCP_FIN_WAIT2;
	int err;

	if (sent) {
		err = rebuild_queue(r, TCP_SEND_QUEUE);
		return err ? err : shutdown(r->fd, SHUT_WR) ? -errno : 0;
	}
	err = rebuild_repair(r, TCP_REPAIR_OFF_NO_WP);
	if (!err && shutdown(r->fd, SHUT_WR))
		err = -errno;
	if (!err)
		err = rebuild_repair(r, TCP_REPAIR_ON);
	return err;
}

/* The peer's FIN follows the receive queue and acknowledges what the peer
 * had acknowledged: the first byte of our send queue. */
static int peer_fin(const struct tcpcp_conn *c)
{
	return inject_segment(c, c->rcvq_seq + c->rcvq_len, c->sndq_seq,
			      TH_FIN_ACK);
}

static int peer_acks_our_fin(const struct tcpcp_conn *c)
{
	return inject_segment(c, c->rcvq_seq + c->rcvq_len, c->sndq_seq,
			      TH_ACK_ONLY);
}

/* Injected segments arrive through the stack, not necessarily before
 * sendto() returns. */
static int wait_state(int fd, uint8_t want)
{
	struct timespec ms = { 0, 1000000 };
	struct tcp_info ti;
	int i;

	for (i = 0; i < STATE_WAIT_MS; i++) {
		socklen_t len = sizeof(ti);

		if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len))
			return -errno;
		if (ti.tcpi_state == want)
			return 0;
		nanosleep(&ms, NULL);
	}
	detail_set("rebuilding TCP state %u, the socket stayed in state %u",
		   want, ti.tcpi_state);
	return -EPROTO;
}

static int steps(struct rebuild *r, const struct tcpcp_conn *c)
{
	int err;

	switch (c->state) {
	case TCP_CLOSE_WAIT:
		return peer_fin(c);
	case TCP_FIN_WAIT1:
		return our_fin(r, c);
	case TCP_FIN_WAIT2:
		err = our_fin(r, c);
		if (!err)
			err = wait_state(r->fd, TCP_FIN_WAIT1);
		return err ? err : peer_acks_our_fin(c);
	case TCP_LAST_ACK:
		err = peer_fin(c);
		if (!err)
			err = wait_state(r->fd, TCP_CLOSE_WAIT);
		return err ? err : our_fin(r, c);
	case TCP_CLOSING:
		err = our_fin(r, c);
		if (!err)
			err = wait_state(r->fd, TCP_FIN_WAIT1);
		return err ? err : peer_fin(c);
	}
	return 0;
}

int fin_restore(struct rebuild *r, const struct tcpcp_conn *c)
{
	int err;

	if (c->state == TCP_ESTABLISHED)
		return 0;
	err = steps(r, c);
	return err ? err : wait_state(r->fd, c->state);
}
