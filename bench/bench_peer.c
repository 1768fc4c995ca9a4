// SPDX-License-Identifier: LGPL-2.1-or-later
/* The benchmark's peer process; see bench_peer.h.  It reuses the tests'
 * socket plumbing (testnet.c), which aborts on any failed step. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_peer.h"
#include "ctlmsg.h"
#include "testnet.h"

#define PEER_MS 60000

static void peer_connect(struct xfer *x, unsigned int n, uint16_t port,
			 size_t q)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		uint16_t lport;

		x[i].fd = tn_connect(AF_INET, port, 0);
		lport = tn_local_port(x[i].fd);
		tn_set_nonblock(x[i].fd, true);
		x[i].tx_seed = BPEER_TX_SEED(lport);
		x[i].rx_seed = BPEER_RX_SEED(lport);
		x[i].tx_end = q;
	}
}

/* Our bytes must be acknowledged before the filter goes on: otherwise
 * they would be stuck in our send queue, not in the other end's. */
static void peer_send_and_block(struct xfer *x, unsigned int n, int ctl)
{
	char err[200];
	unsigned int i;

	if (xfer_pump(x, n, PEER_MS, err, sizeof(err)))
		ctlmsg_fail(ctl, err);
	for (i = 0; i < n; i++) {
		if (!tn_wait_q(x[i].fd, tn_outq, 0, PEER_MS))
			ctlmsg_fail(ctl, "our bytes were never acknowledged");
		tn_block(x[i].fd);
	}
}

/* "U" once every filter is off: the other end's extra byte must not be
 * dropped, or it would not hurry the retransmission (bench_peer.h). */
static void peer_verify(struct xfer *x, unsigned int n, size_t q, int ctl)
{
	char err[200];
	unsigned int i;

	for (i = 0; i < n; i++) {
		tn_unblock(x[i].fd);
		x[i].rx_end = q + BPEER_EXTRA;
	}
	ctlmsg_send(ctl, "U");
	if (xfer_pump(x, n, PEER_MS, err, sizeof(err)) ||
	    xfer_quiet(x, n, err, sizeof(err)))
		ctlmsg_fail(ctl, err);
	ctlmsg_send(ctl, "OK");
}

/* A reset, not a FIN: no TIME_WAIT or orphan is left behind, and the
 * filter (which would drop the FIN's answer) does not matter. */
static void peer_reset_all(struct xfer *x, unsigned int n)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	unsigned int i;

	for (i = 0; i < n; i++) {
		setsockopt(x[i].fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(x[i].fd);
	}
}

static void peer_main(uint16_t port, unsigned int n, size_t q, int ctl)
{
	struct xfer *x = calloc(n, sizeof(*x));
	char c;

	if (!x)
		ctlmsg_fail(ctl, "calloc");
	peer_connect(x, n, port, q);
	peer_send_and_block(x, n, ctl);
	ctlmsg_send(ctl, "R");
	while ((c = ctlmsg_get(ctl)) == 'V')
		peer_verify(x, n, q, ctl);
	peer_reset_all(x, n);
	_exit(0);
}

void bpeer_spawn(uint16_t port, unsigned int n, size_t q, struct bpeer *ret)
{
	int ctl;
	pid_t pid = ctlmsg_fork(&ctl);

	if (pid == 0)
		peer_main(port, n, q, ctl);
	ret->pid = pid;
	ret->ctl = ctl;
}

void bpeer_wait_ready(struct bpeer *p)
{
	char msg[300];

	if (ctlmsg_expect(p->ctl, "R", msg, sizeof(msg))) {
		fprintf(stderr, "bench: peer: %s\n", msg);
		exit(1);
	}
}

void bpeer_verify_begin(struct bpeer *p)
{
	char msg[300];

	if (write(p->ctl, "V", 1) != 1)
		abort();
	if (ctlmsg_expect(p->ctl, "U", msg, sizeof(msg))) {
		fprintf(stderr, "bench: peer: %s\n", msg);
		exit(1);
	}
}

int bpeer_verdict(struct bpeer *p, char *msg, size_t len)
{
	if (ctlmsg_read(p->ctl, msg, len))
		return -1;
	return strcmp(msg, "OK") ? -1 : 0;
}

void bpeer_kill(struct bpeer *p)
{
	int status;

	if (write(p->ctl, "K", 1) != 1)
		kill(p->pid, SIGKILL);
	close(p->ctl);
	waitpid(p->pid, &status, 0);
}
