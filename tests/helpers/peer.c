// SPDX-License-Identifier: LGPL-2.1-or-later
/* The peer process; see peer.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctlmsg.h"
#include "peer.h"
#include "testnet.h"

#define PEER_MS 60000

static void send_initial(const struct peer_cfg *cfg, struct xfer *x, int ctl)
{
	char err[200];
	unsigned int i;

	for (i = 0; i < cfg->nconns; i++) {
		x[i].tx_end = cfg->to_server;
		x[i].rx_end = 0;
	}
	if (xfer_pump(x, cfg->nconns, PEER_MS, err, sizeof(err)))
		ctlmsg_fail(ctl, err);
	for (i = 0; i < cfg->nconns; i++) {
		if (!tn_wait_q(x[i].fd, tn_outq, 0, PEER_MS))
			ctlmsg_fail(ctl, "server never acknowledged our bytes");
		if (cfg->block)
			tn_block(x[i].fd);
	}
}

static void peer_main(const struct peer_cfg *cfg, int ctl)
{
	struct xfer *x = calloc(cfg->nconns, sizeof(*x));
	char err[200];
	unsigned int i;

	if (!x)
		ctlmsg_fail(ctl, "calloc");
	for (i = 0; i < cfg->nconns; i++) {
		uint16_t port;

		x[i].fd = tn_connect(cfg->family, cfg->port, cfg->rcvbuf);
		port = tn_local_port(x[i].fd);
		tn_set_nonblock(x[i].fd, true);
		x[i].tx_seed = PEER_TX_SEED(port);
		x[i].rx_seed = PEER_RX_SEED(port);
	}
	send_initial(cfg, x, ctl);
	ctlmsg_send(ctl, "R");
	if (ctlmsg_get(ctl) != 'G')
		_exit(4);
	for (i = 0; cfg->block && i < cfg->nconns; i++)
		tn_unblock(x[i].fd);
	for (i = 0; i < cfg->nconns; i++) {
		x[i].tx_end = cfg->to_server + cfg->after;
		x[i].rx_end = cfg->from_server + cfg->after;
	}
	if (xfer_pump(x, cfg->nconns, PEER_MS, err, sizeof(err)) ||
	    xfer_quiet(x, cfg->nconns, err, sizeof(err)))
		ctlmsg_fail(ctl, err);
	ctlmsg_send(ctl, "OK");
	/* keep the connections open until told */
	if (ctlmsg_get(ctl) != 'Q')
		_exit(4);
	_exit(0);
}

void peer_spawn(const struct peer_cfg *cfg, struct peer *ret)
{
	int ctl;
	pid_t pid = ctlmsg_fork(&ctl);

	if (pid == 0)
		peer_main(cfg, ctl);
	ret->pid = pid;
	ret->ctl = ctl;
}

void peer_wait_ready(struct peer *p)
{
	char msg[300];

	if (ctlmsg_expect(p->ctl, "R", msg, sizeof(msg))) {
		fprintf(stderr, "peer: %s\n", msg);
		abort();
	}
}

void peer_release(struct peer *p)
{
	if (write(p->ctl, "G", 1) != 1)
		abort();
}

int peer_finish(struct peer *p, char *msg, size_t len)
{
	int rc = ctlmsg_read(p->ctl, msg, len), status;

	if (!rc && strcmp(msg, "OK"))
		rc = -1;
	if (write(p->ctl, "Q", 1) != 1)
		kill(p->pid, SIGKILL);
	close(p->ctl);
	waitpid(p->pid, &status, 0);
	return rc;
}
