/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Connected TCP sockets as sock_diag describes them: what would otherwise
 * cost a dozen getsockopt()s and ioctl()s per socket comes for a batch of
 * sockets in one sendmsg() and one recvmmsg().  Each socket is asked for
 * by its addresses: a dump would be simpler, but it walks the whole
 * established hash table however few sockets there are (7 ms for the
 * 256 K buckets of a 24 GiB host).  An answer counts only for the socket
 * of the same inode.
 */
#ifndef TCPCP_TCP_DIAG_H
#define TCPCP_TCP_DIAG_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

/* Which of the optional parts the kernel sent. */
#define DIAG_HAVE_INFO 0x01   /* options .. notsent: struct tcp_info */
#define DIAG_HAVE_CONG 0x02
#define DIAG_HAVE_TOS 0x04
#define DIAG_HAVE_TCLASS 0x08
#define DIAG_HAVE_MARK 0x10   /* only for CAP_NET_ADMIN */
#define DIAG_HAVE_CLASS 0x20
#define DIAG_HAVE_MEM 0x40

struct tcp_diag {
	uint32_t ino;
	uint8_t family; /* the socket's: AF_INET6 for a dual-stack one */
	uint8_t state;
	uint8_t have;   /* DIAG_HAVE_* */
	uint8_t tos;    /* IP_TOS */
	uint8_t tclass; /* IPV6_TCLASS */
	uint8_t options; /* TCPI_OPT_* */
	uint8_t snd_wscale;
	uint8_t rcv_wscale;
	uint16_t snd_mss;
	uint16_t rcv_mss;
	uint16_t lport; /* host order */
	uint16_t pport;
	uint8_t local[16]; /* IPv4: the first 4 bytes */
	uint8_t peer[16];
	uint32_t bound_if; /* SO_BINDTODEVICE's index; a link-local scope */
	uint32_t rqueue;   /* rcv_nxt - copied_seq: a received FIN counts */
	uint32_t wqueue;   /* SIOCOUTQ */
	uint32_t notsent;  /* SIOCOUTQNSD */
	uint32_t mark;     /* SO_MARK */
	uint32_t class_id; /* a net_cls class id, else SO_PRIORITY */
	uint32_t sndbuf;
	uint32_t rcvbuf;
	char cong[16]; /* TCP_CONGESTION */
};

/* One question: a socket's addresses as getsockname and getpeername gave
 * them (a sockaddr_in for an AF_INET socket), and its inode. */
struct tcp_diag_query {
	struct sockaddr_in6 local;
	struct sockaddr_in6 peer;
	uint32_t ino;
};

/* ret[i] describes q[i]'s socket, or has ino 0 when the kernel knows no
 * TCP socket of that inode there (another network namespace, a device
 * bound socket, not TCP).  0 or -errno; either way every ret[i] is set. */
int tcp_diag_lookup(const struct tcp_diag_query *q, unsigned int n,
		    struct tcp_diag *ret);

#endif /* TCPCP_TCP_DIAG_H */
