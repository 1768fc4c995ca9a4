/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The control channel between a test (or the benchmark) and its peer
 * process: NUL-terminated messages over a socketpair.  The peer side exits
 * when the channel breaks, since its parent is gone.
 */
#ifndef TCPCP_CTLMSG_H
#define TCPCP_CTLMSG_H

#include <stddef.h>
#include <sys/types.h>

/* A child on the other end of a new channel: returns 0 in the child and
 * its pid in the parent, *ret_ctl being each side's end.  Aborts if the
 * channel or the child cannot be made. */
pid_t ctlmsg_fork(int *ret_ctl);

/* Peer side: sends msg, or _exit(3). */
void ctlmsg_send(int ctl, const char *msg);
/* Peer side: the next byte of a one-letter command, or _exit(4). */
char ctlmsg_get(int ctl);
/* Peer side: "FAIL: why" to the parent, then _exit(1). */
void ctlmsg_fail(int ctl, const char *why) __attribute__((noreturn));
/* Parent side: one message into msg; -1 (with a reason in msg) if the peer
 * died without one. */
int ctlmsg_read(int ctl, char *msg, size_t len);
/* Parent side: 0 if the next message is want; else -1, what came in msg. */
int ctlmsg_expect(int ctl, const char *want, char *msg, size_t len);

#endif /* TCPCP_CTLMSG_H */
