/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The far end of the connections under test, in a child process (so that
 * TCPCP_EXEC_ALL in the test process does not touch it).  Stream seeds are
 * derived from the peer's port, so each side can check any connection:
 * peer -> server uses PEER_TX_SEED(port), server -> peer PEER_RX_SEED(port).
 */
#ifndef TCPCP_PEER_H
#define TCPCP_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PEER_TX_SEED(port) ((uint32_t)(port) * 2u + 1u)
#define PEER_RX_SEED(port) ((uint32_t)(port) * 2u + 2u)

struct peer_cfg {
	int family;
	uint16_t port;
	unsigned int nconns;
	size_t to_server;   /* each connection sends this before the checkpoint */
	size_t from_server; /* and expects this, queued on the server's side */
	size_t after;       /* then both sides send this much more */
	int rcvbuf;         /* SO_RCVBUF before connect, 0: default */
	bool block;         /* stop ACKing once sent, until released */
};

struct peer {
	pid_t pid;
	int ctl;
};

void peer_spawn(const struct peer_cfg *cfg, struct peer *ret);
/* Returns when every connection has sent and (if asked) blocked. */
void peer_wait_ready(struct peer *p);
/* Lifts the block; the peer then checks every byte and talks on. */
void peer_release(struct peer *p);
/* The peer's verdict: 0, or -1 with its reason in msg. Reaps it. */
int peer_finish(struct peer *p, char *msg, size_t len);

#endif /* TCPCP_PEER_H */
