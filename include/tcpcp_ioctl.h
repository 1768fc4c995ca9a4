/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tcpcp_ioctl.h - the ioctl ABI of /dev/tcpcp2 (kmod/tcpcp2.ko).
 *
 * Shared by libtcpcp's kmod backend and the module.  One ioctl is one API
 * call of tcpcp.h, for one socket or for every TCP socket of the calling
 * process (TCPCP_IOC_F_ALL): the module walks the caller's descriptor table
 * itself.  Every argument struct starts with its own size and the ABI
 * version; the module refuses (EINVAL) a size, version, flag or reserved
 * field it does not expect, so the structs can only grow by a new version.
 * User pointers travel as __u64, so 32-bit and 64-bit callers share one
 * layout.
 *
 * Results come back as an array of struct tcpcp_ioc_result, one per socket
 * processed, like struct fdr of tcpcp.h.  When results_cap (or, for
 * GET_SI, si_size) is too small the call does nothing visible and fails
 * with ENOSPC; results_count (si_len) then says how much room it needs.
 *
 * The ioctl returns 0 when the call ran (an ALL call's per-socket failures
 * are in the results), or -1 with errno when it could not run as a whole.
 * For a single socket the socket's error is the call's error.
 */
#ifndef TCPCP_IOCTL_H
#define TCPCP_IOCTL_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define TCPCP_DEVICE "/dev/tcpcp2"
#define TCPCP_IOCTL_VERSION 1

/* Bounds the module enforces; larger requests are EINVAL. */
#define TCPCP_IOC_RESULTS_MAX (1u << 20)  /* entries in one result array */
#define TCPCP_IOC_CONN_MAX (256u << 20)   /* one connection's TCP-SI, bytes */
#define TCPCP_IOC_HOLD_MAX 86400u         /* seconds a hold may outlive */

struct tcpcp_ioc_version {
	__u32 size;         /* in: sizeof(struct tcpcp_ioc_version) */
	__u32 version;      /* in: TCPCP_IOCTL_VERSION; out: the module's */
	__u32 si_major;     /* out: TCP-SI format the module speaks */
	__u32 si_minor;
	__u32 hold_seconds; /* out: the module's default hold */
	__u32 flags;        /* in: 0 */
	__u64 reserved[2];  /* in: 0 */
};

struct tcpcp_ioc_result {
	__s32 fd;     /* the descriptor (set_si: the one the TCP-SI recorded) */
	__s32 result; /* 0 or -errno (set_si: the new descriptor) */
};

/* flags of struct tcpcp_ioc_call */
#define TCPCP_IOC_F_ALL 0x1u     /* every TCP socket; fd is a dummy socket */
#define TCPCP_IOC_F_NOPROBE 0x2u /* START: no window probe (a snapshot) */
#define TCPCP_IOC_F_HOLD 0x4u    /* STOP, SET_SI, HOLD: hold_seconds given */
#define TCPCP_IOC_F_KNOWN 0x7u

struct tcpcp_ioc_call {
	__u32 size;          /* in: sizeof(struct tcpcp_ioc_call) */
	__u32 version;       /* in: TCPCP_IOCTL_VERSION */
	__s32 fd;            /* in: the socket, or the dummy socket for ALL */
	__u32 flags;         /* in: TCPCP_IOC_F_* */
	__u32 hold_seconds;  /* in: with TCPCP_IOC_F_HOLD; else 0 */
	__u32 results_cap;   /* in: entries at results */
	__u64 results;       /* in: struct tcpcp_ioc_result[results_cap] */
	__u32 results_count; /* out: entries written (ENOSPC: needed) */
	__u32 results_ng;    /* out: entries with result < 0 */
	__u64 si;            /* in: the TCP-SI (SET_SI) or room for it (GET_SI) */
	__u32 si_size;       /* in: bytes at si; 0 for the other calls */
	__u32 si_len;        /* out: GET_SI bytes written (ENOSPC: needed) */
	__u64 reserved[4];   /* in: 0 */
};

/*
 * STOP    running -> stopped: the connection's segments are dropped both
 *         ways from now on, and for hold_seconds after the socket is gone
 *         (the module's default without TCPCP_IOC_F_HOLD).  No privilege.
 * GET_SI  the TCP-SI of connected sockets (a running one is read as it is
 *         at that instant).  No privilege.
 * SET_SI  ONE: the caller's unconnected socket fd becomes the connection;
 *         ALL: new sockets, installed as new descriptors.  Left stopped.
 *         CAP_NET_ADMIN in the socket's network namespace.
 * START   stopped -> running, with a window probe.  CAP_NET_ADMIN.
 * CLOSE   tcpcp_close(): fd stopped: that descriptor is closed; fd an
 *         unconnected socket: every descriptor of every stopped socket.
 *         Nothing reaches the wire.  flags must be 0.  No privilege.
 * HOLD    tcpcp_hold(): the 4-tuples of the connections in the TCP-SI are
 *         held in the caller's network namespace, with no socket yet, until
 *         set_si and start take them over or hold_seconds pass.  fd is -1,
 *         no results.  CAP_NET_ADMIN.
 */
#define TCPCP_IOC_VERSION _IOWR('T', 0xc0, struct tcpcp_ioc_version)
#define TCPCP_IOC_STOP _IOWR('T', 0xc1, struct tcpcp_ioc_call)
#define TCPCP_IOC_GET_SI _IOWR('T', 0xc2, struct tcpcp_ioc_call)
#define TCPCP_IOC_SET_SI _IOWR('T', 0xc3, struct tcpcp_ioc_call)
#define TCPCP_IOC_START _IOWR('T', 0xc4, struct tcpcp_ioc_call)
#define TCPCP_IOC_CLOSE _IOWR('T', 0xc5, struct tcpcp_ioc_call)
#define TCPCP_IOC_HOLD _IOWR('T', 0xc6, struct tcpcp_ioc_call)

#ifdef __KERNEL__
#define TCPCP_IOC_ASSERT(c, m) static_assert(c, m)
#else
#define TCPCP_IOC_ASSERT(c, m) _Static_assert(c, m)
#endif
/* The same on every architecture and word size (no implicit padding). */
TCPCP_IOC_ASSERT(sizeof(struct tcpcp_ioc_version) == 40, "version layout");
TCPCP_IOC_ASSERT(sizeof(struct tcpcp_ioc_result) == 8, "result layout");
TCPCP_IOC_ASSERT(sizeof(struct tcpcp_ioc_call) == 88, "call layout");

#endif /* TCPCP_IOCTL_H */
