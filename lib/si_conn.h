/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One connection's TCP-SI, decoded: host byte order, every field checked.
 * This is what backends save from a socket and rebuild a socket from.
 */
#ifndef TCPCP_SI_CONN_H
#define TCPCP_SI_CONN_H

#include "si_compat.h"
#include "tcpcp_si.h"

#define TCPCP_XOPT_MAX 12     /* extension socket options per connection */
#define TCPCP_XOPT_VAL_MAX 16 /* longest value: a device or algorithm name */
#define TCPCP_IFNAME_LEN 16

struct tcpcp_xopt {
	uint16_t level;
	uint16_t name;
	uint8_t len;
	uint8_t val[TCPCP_XOPT_VAL_MAX];
};

struct tcpcp_conn {
	uint32_t fd;
	uint8_t ip_version; /* 4 or 6 */
	uint8_t state;      /* TCP_ESTABLISHED etc., linux/tcp.h numbering */
	/* addresses in network order; IPv4 uses the first 4 bytes */
	uint8_t local_addr[16];
	uint8_t peer_addr[16];
	uint32_t scope_id;
	uint16_t local_port;
	uint16_t peer_port;
	char ifname[TCPCP_IFNAME_LEN]; /* device of scope_id, "" if none */

	uint8_t tcp_opts; /* TCPI_OPT_* */
	uint8_t snd_wscale;
	uint8_t rcv_wscale;
	uint16_t snd_mss;
	uint16_t rcv_mss;
	uint32_t mss_clamp; /* 0: not recorded */

	uint32_t snd_nxt;
	uint32_t rcv_nxt;
	uint32_t snd_wnd;
	uint32_t rcv_wnd;
	uint32_t ts_recent;
	uint32_t ts_gen;

	bool has_window;
	struct tcpcp_sie_window window; /* host order here */
	uint8_t fin_flags;               /* TCPCP_SIE_FIN_* */
	bool has_fd_flags;
	uint32_t fd_flags;               /* TCPCP_SIE_FD_* */

	uint8_t sk_flags; /* TCPCP_SIE_SOCK_* */
	uint8_t userlocks;
	uint32_t priority;
	uint32_t sndbuf;
	uint32_t rcvbuf;
	uint32_t l_linger;
	uint8_t ip_flags;
	uint8_t ttl; /* IPv4 TTL or IPv6 hop limit */
	uint8_t pmtudisc;
	uint8_t tos;
	uint8_t ip_opt_len;
	uint8_t ip_opt[40];
	uint8_t nonagle;
	uint8_t keepcnt;
	uint16_t keepidle;
	uint16_t keepintvl;
	unsigned int nxopts;
	struct tcpcp_xopt xopts[TCPCP_XOPT_MAX];

	/*
	 * The send queue covers [sndq_seq, sndq_seq + sndq_len): first the
	 * bytes sent but not acknowledged, then the last "unsent" bytes.
	 * The receive queue covers [rcvq_seq, rcv_nxt).  When encoding, sndq
	 * and rcvq point at the bytes; after decoding they are NULL and
	 * si_queue_gather() copies the bytes out of the buffer.
	 */
	uint32_t sndq_seq;
	uint32_t sndq_len;
	uint32_t unsent;
	uint32_t rcvq_seq;
	uint32_t rcvq_len;
	const uint8_t *sndq;
	const uint8_t *rcvq;

	/* decoding only: this connection's bytes in the buffer */
	const uint8_t *raw;
	uint32_t raw_len;
};

#endif /* TCPCP_SI_CONN_H */
