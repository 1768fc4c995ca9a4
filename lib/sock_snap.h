/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The calling process's TCP sockets as one pass of a BPF socket iterator
 * sees them (lib/bpf/snap.bpf.c): descriptors, and for each socket what a
 * save would otherwise read with some thirty system calls.  Loaded once
 * per process; needs BTF and CAP_BPF with CAP_PERFMON (or CAP_SYS_ADMIN),
 * and TCPCP_ACCEL allowing bpf.  Where any of these is missing, every
 * caller goes the way of system calls, which give the same values.
 */
#ifndef TCPCP_SOCK_SNAP_H
#define TCPCP_SOCK_SNAP_H

#include <errno.h>
#include <stdbool.h>
#include <linux/types.h>
#include <stdint.h>
#include <sys/socket.h>

#include "bpf/snap_rec.h"

#ifdef TCPCP_HAVE_BPF
/* A malloc'ed array of records, one per descriptor, or -errno (-ENOSYS:
 * not here, not allowed, or failed to load). */
int snap_take(struct snap_rec **ret, unsigned int *ret_n);
/* The iterator is loaded and working in this process. */
bool snap_loaded(void);
/* Loads the iterator now, if TCPCP_ACCEL allows it: the first snap_take
 * then costs no more than the others. */
void snap_prepare(void);
#else
static inline int snap_take(struct snap_rec **ret, unsigned int *ret_n)
{
	(void)ret;
	(void)ret_n;
	return -ENOSYS;
}

static inline bool snap_loaded(void)
{
	return false;
}

static inline void snap_prepare(void)
{
}
#endif

/* The value getsockopt(level, name) would return: 0, or 1 if the record
 * does not have it (ask the socket). */
int snap_int(const struct snap_rec *r, int level, int name, int *ret);
int snap_linger(const struct snap_rec *r, struct linger *ret);

/* The record's values are those of a connected socket. */
static inline int snap_exact(const struct snap_rec *r)
{
	return r && (r->flags & SNAP_EXACT);
}

#endif /* TCPCP_SOCK_SNAP_H */
