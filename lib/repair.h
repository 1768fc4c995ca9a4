/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The repair backend: Linux's upstream TCP_REPAIR, on a stock kernel.
 *
 * stop:    drop filter on the socket (the peer's segments never reach TCP),
 *          then TCP_REPAIR on (a close is silent from now on).
 * save:    for each queue: TCP_REPAIR_QUEUE, TCP_QUEUE_SEQ, its length
 *          (sock_diag's, for a socket stopped before the call; else
 *          SIOCINQ, SIOCOUTQ, SIOCOUTQNSD) and a MSG_PEEK of exactly that
 *          length; TCP_REPAIR_WINDOW, MSS clamp, TCP_TIMESTAMP, options
 *          (those sock_diag reports from its answer).
 * restore: drop filter, TCP_REPAIR on, bind(local), TCP_QUEUE_SEQ of both
 *          queues (the receive queue's last), connect(peer) (no SYN in
 *          repair mode), TCP_REPAIR_OPTIONS, TCP_TIMESTAMP, receive-queue
 *          bytes, sent-but-unacknowledged bytes, unsent bytes (repair off
 *          around them: the window is still 0 so nothing leaves), then
 *          TCP_REPAIR_WINDOW (EINVAL if set before the queues), options
 *          (on a socket the call made, those a new socket lacks).
 * start:   drop filter off, TCP_REPAIR off (the kernel sends the window
 *          probe), SO_REUSEADDR back (repair-off clears it).
 */
#ifndef TCPCP_REPAIR_H
#define TCPCP_REPAIR_H

#include <linux/filter.h>
#include <stdint.h>
#include <sys/socket.h>

#include "backend.h"
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

/* The drop filter's length in instructions, and its program (for a
 * caller that attaches it itself: a batch). */
#define BLOCK_LEN 6
void block_prog(uint32_t flags, struct sock_filter prog[BLOCK_LEN]);
/* What SO_GET_FILTER's answer means: res is its length (or -errno),
 * prog what it read; an enum block_kind or -errno, as block_read. */
int block_parse(int res, const struct sock_filter *prog, uint32_t *ret_flags);

/* The drop filter; block_read returns an enum block_kind or -errno and,
 * for BLOCK_OURS, the flags it was installed with. */
int block_install(int fd, uint32_t flags);
int block_read(int fd, uint32_t *ret_flags);
int block_remove(int fd);
/* block_read once per call: s->filter and s->filter_flags. */
int block_known(struct sock_ref *s);
/* block_install, refused (EBUSY) over a filter of the program's own. */
int block_claim(struct sock_ref *s, uint32_t flags);

int repair_set(int fd, int mode);
/* err of TCP_REPAIR, with the detail that EPERM deserves. */
int repair_err(int err);
/* repair_set(TCP_REPAIR_ON), remembered (s->repair_ok): it proves
 * CAP_NET_ADMIN for the socket. */
int repair_on(struct sock_ref *s);
/* Queues the hold of a stopped socket's 4-tuple (see hold.c). */
int hold_add(struct sock_ref *s);
int repair_save(struct sock_ref *s, struct tcpcp_conn *ret);
int repair_restore(struct sock_ref *s, const struct tcpcp_conn *c);

/* start, in the pieces a batch of starts (repair_many.c) shares:
 * what comes before any socket call (the block known, the device
 * there); the failure that puts the hold back; everything from the
 * block's removal on; the block back on when repair-off failed. */
int start_check(struct sock_ref *s);
int start_failed(struct sock_ref *s, int err);
int start_unblocked(struct sock_ref *s, bool probe);
void block_back(struct sock_ref *s);
int reuse_back(struct sock_ref *s);
/* stage()'s notion of connected, from what the walk read (-errno, 0, 1;
 * 1 also where only asking would tell). */
int walk_connected(const struct sock_ref *s);
/* A TCP state that counts as connected; the socket's state now (1, 0 or
 * -errno), asked with TCP_INFO. */
bool state_connected(int state);
int connected_now(int fd);

/* stop_many (repair_many_stop.c): the sockets stage() would find running
 * and stop() would stop are stopped in a batch, then their state is read
 * once for all (the block and repair mode hold it still).  One found
 * connected is taken by stop(); one that is not, or could not be asked,
 * was put back as it was, and stage() says so (s->after). */
enum stop_ahead {
	AHEAD_NONE,     /* stage() and stop() ask and act themselves */
	AHEAD_GONE,     /* put back: stage() takes s->after */
	AHEAD_STOPPED,  /* block and repair mode on: stop() adds the hold */
	AHEAD_NO_BLOCK, /* the block failed (ahead_err), nothing else ran */
	AHEAD_NO_REPAIR, /* repair mode failed (ahead_err): the block is on */
};

/* repair_save's first try with the queues a batch peeked (save_many):
 * 0 and the lengths to peek, exactly, for a socket whose iterator record
 * still describes it; else -EOPNOTSUPP (save() asks the socket). */
int save_peek_lens(const struct sock_ref *s, uint32_t *ret_rcv,
		   uint32_t *ret_snd);

struct rebuild_batch;

/* A socket being rebuilt: which repair queue is selected, so that none is
 * selected twice (TCP_REPAIR_ON selects none again). */
struct rebuild {
	int fd;
	int queue;
	bool forced;   /* buffers grown with SO_*BUFFORCE, which locks them */
	bool snd_room; /* the send buffer was looked at */
	const struct sockopt_defaults *def; /* NULL: not a fresh socket */
	/* NULL: each step is a system call; else each is queued as one
	 * linked SQE of the socket's chain, judged when the batch has run */
	struct rebuild_batch *batch;
};

/* ok of rebuild_setopt: every error of the step is ignored. */
#define REBUILD_ANY_ERR 1

/* One socket option of a rebuild: setsockopt now, or queued (r->batch).
 * ok: 0, an -errno that is no failure, or REBUILD_ANY_ERR. */
int rebuild_setopt(const struct rebuild *r, int level, int name,
		   const void *val, socklen_t len, int ok);

/* What a fresh socket has; see sockopts.c. */
struct sockopt_defaults {
	bool valid;
	struct linger lg;
	int keepalive, priority, buf_lock, rcvbuf;
	int ttl, pmtu, tos;
	int nodelay, keepcnt, keepidle, keepintvl;
};

int rebuild_queue(struct rebuild *r, int q);
int rebuild_repair(struct rebuild *r, int mode);

/* repair_restore's steps queued in r->batch (set up by the caller) for
 * a socket this call made: 0, or -EOPNOTSUPP where a step must see an
 * answer first (half-closed states, a receive buffer to grow), or
 * -ENOSPC; the caller then takes the chain back and rebuilds the
 * connection the plain way.  s->local and s->peer are filled. */
int repair_restore_queue(struct rebuild *r, struct sock_ref *s,
			 const struct tcpcp_conn *c);

/* A segment "from the peer" into a rebuilt socket, through the local
 * stack: tcp_flags are TCP header flags (FIN 0x01, ACK 0x10). */
int inject_segment(const struct tcpcp_conn *c, uint32_t seq, uint32_t ack,
		   uint8_t tcp_flags);

/* Half-closed states: our FIN and the peer's, after the queues. */
int fin_restore(struct rebuild *r, const struct tcpcp_conn *c);

/* Socket, IP and TCP options of DESIGN section 3.  Saving, d is
 * sock_diag's answer and r the socket iterator's record if they still
 * describe the socket, else NULL; reuse is SO_REUSEADDR as the stop block
 * recorded it (repair mode hides it). */
struct snap_rec;
int sockopts_save(int fd, struct tcpcp_conn *c, const struct tcp_diag *d,
		  const struct snap_rec *r, bool reuse);
int sockopts_restore(const struct rebuild *r, const struct tcpcp_conn *c);

/* What a socket has before any option is set, read from the first fresh
 * socket of each family in a call; NULL if it cannot be read. */
const struct sockopt_defaults *sockopts_defaults(int fd, int family);
void sockopts_forget_defaults(void);

#endif /* TCPCP_REPAIR_H */
