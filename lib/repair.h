/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The repair backend: Linux's upstream TCP_REPAIR, on a stock kernel.
 *
 * stop:    drop filter on the socket (the peer's segments never reach TCP),
 *          then TCP_REPAIR on (a close is silent from now on).
 * save:    for each queue: TCP_REPAIR_QUEUE, TCP_QUEUE_SEQ, its length
 *          (SIOCINQ, SIOCOUTQ, SIOCOUTQNSD) and a MSG_PEEK of exactly that
 *          length; TCP_REPAIR_WINDOW, MSS clamp, TCP_TIMESTAMP, options.
 * restore: drop filter, TCP_REPAIR on, bind(local), TCP_QUEUE_SEQ of both
 *          queues, connect(peer) (no SYN in repair mode),
 *          TCP_REPAIR_OPTIONS, TCP_TIMESTAMP, receive-queue bytes,
 *          sent-but-unacknowledged bytes, unsent bytes (repair off around
 *          them: the window is still 0 so nothing leaves), then
 *          TCP_REPAIR_WINDOW (EINVAL if set before the queues), options.
 * start:   drop filter off, TCP_REPAIR off (the kernel sends the window
 *          probe), SO_REUSEADDR back (repair-off clears it).
 */
#ifndef TCPCP_REPAIR_H
#define TCPCP_REPAIR_H

#include <stdint.h>

#include "si_conn.h"

/* Flags remembered in the drop filter itself, for start. */
#define BLOCK_REUSEADDR 1u

/* skb mark of the segments tcpcp injects; block and hold let them pass. */
#define INJECT_MARK 0x74637033u

enum block_kind {
	BLOCK_NONE,  /* no socket filter */
	BLOCK_OURS,  /* tcpcp's drop filter: stopped */
	BLOCK_OTHER, /* the program's own filter */
};

/* The drop filter; block_read returns an enum block_kind or -errno and,
 * for BLOCK_OURS, the flags it was installed with. */
int block_install(int fd, uint32_t flags);
int block_read(int fd, uint32_t *ret_flags);
int block_remove(int fd);
/* block_install, refused (EBUSY) over a filter of the program's own. */
int block_claim(int fd, uint32_t flags);

int repair_set(int fd, int mode);
/* Queues the hold of a stopped socket's 4-tuple (see hold.c). */
int hold_add(int fd);
int repair_save(int fd, struct tcpcp_conn *ret);
int repair_restore(int fd, const struct tcpcp_conn *c);

/* A segment "from the peer" into a rebuilt socket, through the local
 * stack: tcp_flags are TCP header flags (FIN 0x01, ACK 0x10). */
int inject_segment(const struct tcpcp_conn *c, uint32_t seq, uint32_t ack,
		   uint8_t tcp_flags);

/* Half-closed states: our FIN and the peer's, after the queues. */
int fin_restore(int fd, const struct tcpcp_conn *c);

/* Socket, IP and TCP options of DESIGN section 3. */
int sockopts_save(int fd, struct tcpcp_conn *c);
int sockopts_restore(int fd, const struct tcpcp_conn *c);

#endif /* TCPCP_REPAIR_H */
