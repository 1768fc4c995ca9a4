/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The far ends of the benchmark's connections, in a child process: with
 * TCPCP_EXEC_ALL the measuring process checkpoints every TCP socket it
 * holds, so the peers must live elsewhere.  Unlike the tests' peer, this
 * one can also drop its connections at once (RST, no TIME_WAIT), because
 * most runs are torn down unverified and 10 000 lingering sockets per run
 * would slow every later run.
 */
#ifndef TCPCP_BENCH_PEER_H
#define TCPCP_BENCH_PEER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The tests' seeds (peer.h), so that each side can check any stream. */
#define BPEER_TX_SEED(port) ((uint32_t)(port) * 2u + 1u)
#define BPEER_RX_SEED(port) ((uint32_t)(port) * 2u + 2u)

struct bpeer {
	pid_t pid;
	int ctl;
};

/* Connects n sockets to 127.0.0.1:port, sends q pattern bytes on each,
 * waits for them to be acknowledged, then drops every segment it is sent
 * (a BPF filter), so that what the other end sends stays unacknowledged. */
void bpeer_spawn(uint16_t port, unsigned int n, size_t q, struct bpeer *ret);
void bpeer_wait_ready(struct bpeer *p);

/* Lifts the filter and returns once it is off; the peer then expects
 * exactly q + BPEER_EXTRA pattern bytes on every connection, no more, no
 * reset, no EOF.  The extra byte, sent at once by the other end, makes
 * the peer answer with a SACK, so the restored socket resends its queue
 * right away: left to its retransmission timer (3 s on a socket that has
 * no RTT estimate yet), thousands of connections resend in the same timer
 * tick, overflow loopback's backlog (netdev_max_backlog) and back off. */
#define BPEER_EXTRA 1
void bpeer_verify_begin(struct bpeer *p);
/* The peer's verdict: 0, or -1 with its reason in msg. */
int bpeer_verdict(struct bpeer *p, char *msg, size_t len);

/* Resets every connection (SO_LINGER 0) and reaps the peer. */
void bpeer_kill(struct bpeer *p);

#endif /* TCPCP_BENCH_PEER_H */
