/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The TCP Socket Information (TCP-SI) wire format, tcpcp-si(5).
 *
 * Shared by libtcpcp and tcpcp2.ko, so it includes nothing a kernel build
 * lacks.  The layout is TCPCP2's: a total header, then per connection a
 * header followed by elements.  Every multi-byte field is in network byte
 * order; every element starts on a 4-byte boundary.  Never cast a buffer of
 * unknown provenance to these structures: the codec copies them out first.
 */
#ifndef TCPCP_SI_H
#define TCPCP_SI_H

#ifdef __KERNEL__
#include <linux/types.h>
#include <linux/in6.h>
#else
#include <stdint.h>
#include <netinet/in.h>
#endif

#define TCPCP_SI_MAJOR 1 /* incompatible revisions */
#define TCPCP_SI_MINOR 0 /* compatible extensions (new element types) */

/* Element: a segment of the send or the receive queue. */
struct tcpcp_si_skb {
	uint8_t type;      /* TCPCP_SIE_BUF_SND or TCPCP_SIE_BUF_RCV */
	uint8_t __pad1;
	uint16_t length;   /* data bytes that follow this header */
	uint8_t flags;     /* TCP header flags */
	uint8_t sacked;    /* SACK state (informational) */
	uint8_t __pad2[2];
	uint16_t tso_segs;
	uint16_t tso_size;
	uint32_t seq;      /* sequence number of the first data byte */
	uint8_t data[];    /* padded to a multiple of 4 bytes */
};

enum {
	TCPCP_SIE_BUF_SND = 1,
	TCPCP_SIE_BUF_RCV = 2,
};

struct tcpcp_sie_id4 {
	uint32_t ip_src;
	uint32_t ip_dst;
};

struct tcpcp_sie_id6 {
	struct in6_addr ip_src;
	struct in6_addr ip_dst;
	uint32_t scope_id;
};

/* Connection id: "src" is the local end, "dst" the peer. */
struct tcpcp_sie_id {
	uint8_t ip_version; /* 4 or 6 */
	uint8_t __pad[3];
	union {
		struct tcpcp_sie_id4 v4;
		struct tcpcp_sie_id6 v6;
	} ip;
	uint16_t tcp_sport;
	uint16_t tcp_dport;
};

struct tcpcp_sie_fixgen {
	uint8_t tcp_flags;  /* TCPI_OPT_TIMESTAMPS | _SACK | _WSCALE | _ECN */
	uint8_t snd_wscale;
	uint8_t rcv_wscale;
	uint8_t __pad;
	uint16_t snd_mss;
	uint16_t rcv_mss;
};

struct tcpcp_sie_vargen {
	uint8_t state;      /* TCP_ESTABLISHED ... TCP_CLOSING, linux/tcp.h */
	uint8_t __pad[3];
	uint32_t snd_nxt;
	uint32_t rcv_nxt;
	uint32_t snd_wnd;
	uint32_t rcv_wnd;
	uint32_t ts_recent; /* 0 when unknown */
	uint32_t ts_gen;    /* the connection's current TSval clock */
};

struct tcpcp_sie_sk_sockopt {
	uint8_t flags;      /* TCPCP_SIE_SOCK_* */
	uint8_t userlocks;  /* SOCK_SNDBUF_LOCK 1 | SOCK_RCVBUF_LOCK 2 */
	uint8_t __pad[2];
	uint32_t priority;
	uint32_t sndbuf;
	uint32_t rcvbuf;
	uint32_t l_linger;
};

enum {
	TCPCP_SIE_SOCK_REUSEADDR = 1,
	TCPCP_SIE_SOCK_KEEPOPEN = 2,
	TCPCP_SIE_SOCK_LINGER = 4,
};

struct tcpcp_sie_ipv4_sockopt {
	uint8_t flags;
	uint8_t uc_ttl;
	uint8_t pmtudisc;
	uint8_t tos;
	uint8_t opt_len;
	uint8_t __pad[3];
	uint8_t opt_data[40];
};

enum {
	TCPCP_SIE_IP_DEFAULT_TTL = 1,
};

struct tcpcp_sie_ipv6_sockopt {
	uint8_t flags;
	uint8_t hop_limit;
	uint8_t pmtudisc;
	uint8_t __pad;
};

enum {
	TCPCP_SIE_IPV6_DEFAULT_HOPLIMIT = 1,
};

struct tcpcp_sie_tcp_sockopt {
	uint8_t nonagle;
	uint8_t keepcnt;
	uint8_t __pad[2];
	uint16_t keepidle;
	uint16_t keepintvl;
};

struct tcpcp_sie_sockopt {
	struct tcpcp_sie_sk_sockopt sk;
	union {
		struct tcpcp_sie_ipv4_sockopt v4;
		struct tcpcp_sie_ipv6_sockopt v6;
	} ip;
	struct tcpcp_sie_tcp_sockopt tcp;
};

/* Per-connection header; elements follow up to si_length * 4 bytes. */
struct tcpcp_si_hdr {
	uint32_t si_length; /* this connection's TCP-SI, in 4-byte units */
	uint32_t fd;        /* descriptor it had when it was saved */
	struct tcpcp_sie_id id;
	struct tcpcp_sie_fixgen fixgen;
	struct tcpcp_sie_vargen vargen;
	struct tcpcp_sie_sockopt sockopt;
#ifndef __CHECKER__
	/* TCPCP2's layout, for reading only: elements vary in size.  Sparse
	 * (the kernel build's checker) rejects arrays of structures that end
	 * in a flexible array; it never sees them. */
	struct tcpcp_si_skb si_skb[];
#endif
};

struct tcpcp_total_si_hdr {
	uint32_t total_si_length; /* whole buffer, in 4-byte units */
	uint8_t major;
	uint8_t minor;
	uint16_t si_cnt;
#ifndef __CHECKER__
	struct tcpcp_si_hdr si_hdr[]; /* idem: connections vary in size */
#endif
};

/*
 * Extension elements (type >= 16): what modern kernels need and TCPCP2 did
 * not carry.  Readers skip types they do not know; "length" counts the
 * payload bytes after this 4-byte header, padded on the wire to 4.
 */
struct tcpcp_sie_ext {
	uint8_t type;
	uint8_t __pad;
	uint16_t length;
	uint8_t data[];
};

enum {
	TCPCP_SIE_EXT_MIN = 16,
	TCPCP_SIE_EXT_WINDOW = 16,  /* struct tcpcp_sie_window */
	TCPCP_SIE_EXT_SNDQ = 17,    /* struct tcpcp_sie_sndq */
	TCPCP_SIE_EXT_MSS = 18,     /* uint32_t: MSS clamp */
	TCPCP_SIE_EXT_FIN = 19,     /* struct tcpcp_sie_fin */
	TCPCP_SIE_EXT_SOCKOPT = 20, /* struct tcpcp_sie_xopt + value */
	TCPCP_SIE_EXT_FDFLAGS = 21, /* uint32_t: TCPCP_SIE_FD_* */
	TCPCP_SIE_EXT_IFNAME = 22,  /* char[16]: device of scope_id */
};

/* The whole TCP_REPAIR_WINDOW. */
struct tcpcp_sie_window {
	uint32_t snd_wl1;
	uint32_t snd_wnd;
	uint32_t max_window;
	uint32_t rcv_wnd;
	uint32_t rcv_wup;
};

/* The last "unsent" bytes of the send queue were never transmitted. */
struct tcpcp_sie_sndq {
	uint32_t unsent;
};

struct tcpcp_sie_fin {
	uint8_t flags; /* TCPCP_SIE_FIN_* */
	uint8_t __pad[3];
};

enum {
	TCPCP_SIE_FIN_QUEUED = 1, /* our FIN follows the send queue, unacked */
	TCPCP_SIE_FIN_RCVD = 2,   /* the peer's FIN was received */
	TCPCP_SIE_FIN_SENT = 4,   /* with QUEUED: it was transmitted */
};

/* One socket option, identified by Linux's level and name numbers. */
struct tcpcp_sie_xopt {
	uint16_t level;
	uint16_t name;
	uint8_t value[]; /* integers are 4 bytes; strings unterminated */
};

enum {
	TCPCP_SIE_FD_NONBLOCK = 1,
	TCPCP_SIE_FD_CLOEXEC = 2,
};

#define TCPCP_SI_TOTAL_HDR_LEN 8u
#define TCPCP_SI_HDR_LEN 164u
#define TCPCP_SI_SKB_HDR_LEN 16u
#define TCPCP_SI_EXT_HDR_LEN 4u

#ifdef __KERNEL__
#define TCPCP_SI_ASSERT(c, m) static_assert(c, m)
#else
#define TCPCP_SI_ASSERT(c, m) _Static_assert(c, m)
#endif
TCPCP_SI_ASSERT(sizeof(struct tcpcp_total_si_hdr) == TCPCP_SI_TOTAL_HDR_LEN,
		"total header layout");
TCPCP_SI_ASSERT(sizeof(struct tcpcp_si_hdr) == TCPCP_SI_HDR_LEN,
		"connection header layout");
TCPCP_SI_ASSERT(sizeof(struct tcpcp_si_skb) == TCPCP_SI_SKB_HDR_LEN,
		"segment element layout");
TCPCP_SI_ASSERT(sizeof(struct tcpcp_sie_ext) == TCPCP_SI_EXT_HDR_LEN,
		"extension element layout");

#endif /* TCPCP_SI_H */
