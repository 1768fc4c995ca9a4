/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The test process's side of the connections: accepted from a peer
 * process, loaded with data both ways, checkpointed with the API, then
 * verified byte for byte against the peer.
 */
#ifndef TCPCP_SERVER_H
#define TCPCP_SERVER_H

#include "peer.h"

struct side {
	struct peer_cfg cfg;
	struct peer peer;
	int lfd;
	int *fds; /* cfg.nconns accepted sockets, replaced after restore */
};

/* Accepts cfg->nconns connections from a new peer and queues data: the
 * peer's bytes wait unread in our receive queues, ours in our send queues
 * (sndbuf > 0 raises SO_SNDBUF first so they fit). */
void side_open(struct side *s, const struct peer_cfg *cfg, int sndbuf);

/* The API sequences under test; they replace s->fds with the restored
 * sockets.  Criterion assertions fail the test on any error. */
void checkpoint_all(struct side *s);
void checkpoint_one(struct side *s);

/* Releases the peer; both ends check every byte exactly once and keep
 * talking; no reset, no EOF. */
void side_verify(struct side *s);

#endif /* TCPCP_SERVER_H */
