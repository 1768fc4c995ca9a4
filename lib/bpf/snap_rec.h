/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The record the socket iterator (snap.bpf.c) writes for each TCP socket
 * of the calling process, and libtcpcp reads (sock_snap.c).  Every value
 * is the one the named getsockopt, ioctl or fcntl would return, except
 * the *_jiffies fields, which the reader divides by HZ (a BPF program
 * cannot know CONFIG_HZ without the kernel's config file).
 */
#ifndef TCPCP_SNAP_REC_H
#define TCPCP_SNAP_REC_H

/* flags */
#define SNAP_EXACT 0x01      /* connected: everything below was read */
#define SNAP_ASK_IPOPT 0x02  /* IP options are set: ask IP_OPTIONS */
#define SNAP_ASK_HOPS 0x04   /* hop limit from the route: ask */
#define SNAP_USEC_TS 0x08    /* TCP_TIMESTAMP counts microseconds */

/* filter_state: what SO_GET_FILTER would find */
#define SNAP_FILTER_NONE 0
#define SNAP_FILTER_CLASSIC 1 /* filter_len instructions, the first 6 */
#define SNAP_FILTER_EBPF 2    /* no original program: EACCES */

#define SNAP_FILTER_INSNS 6

struct snap_insn {
	__u16 code;
	__u8 jt;
	__u8 jf;
	__u32 k;
};

struct snap_rec {
	__u32 fd;
	__u32 flags;
	__u64 ino;
	__u32 f_flags;     /* F_GETFL */
	__u8 cloexec;      /* F_GETFD */
	__u8 family;       /* AF_INET or AF_INET6 */
	__u8 state;        /* TCP_INFO tcpi_state */
	__u8 repair;       /* TCP_REPAIR */

	__u8 local[16];    /* getsockname; IPv4: the first 4 bytes */
	__u8 peer[16];     /* getpeername */
	__u16 lport;       /* network order */
	__u16 pport;
	__u32 bound_dev_if;

	__u8 reuse;        /* SO_REUSEADDR */
	__u8 keepalive;    /* SO_KEEPALIVE */
	__u8 linger_on;    /* SO_LINGER l_onoff */
	__u8 buf_lock;     /* SO_BUF_LOCK */
	__u32 priority;
	__u32 sndbuf;
	__u32 rcvbuf;
	__u32 mark;
	__u64 linger_jiffies;

	__u8 filter_state; /* SNAP_FILTER_* */
	__u8 pad1;
	__u16 filter_len;
	struct snap_insn filter[SNAP_FILTER_INSNS];

	/* TCP_INFO */
	__u8 options;
	__u8 snd_wscale;
	__u8 rcv_wscale;
	__u8 pad2;
	__u32 snd_mss;
	__u32 rcv_mss;

	/* the queues: TCP_QUEUE_SEQ, SIOCINQ, SIOCOUTQ, SIOCOUTQNSD */
	__u32 write_seq;
	__u32 rcv_nxt;
	__u32 inq;
	__u32 outq;
	__u32 notsent;

	/* TCP_REPAIR_WINDOW */
	__u32 snd_wl1;
	__u32 snd_wnd;
	__u32 max_window;
	__u32 rcv_wnd;
	__u32 rcv_wup;

	__u32 maxseg;      /* TCP_MAXSEG */
	__u32 timestamp;   /* TCP_TIMESTAMP */
	__u8 nodelay;
	__u8 cork;
	__u8 keepcnt;
	__u8 pad3;
	__u32 keepidle_jiffies;
	__u32 keepintvl_jiffies;
	__u32 user_timeout;
	__u32 notsent_lowat;
	char cong[16];     /* TCP_CONGESTION */

	/* IP_TTL or IPV6_UNICAST_HOPS, IP_TOS or IPV6_TCLASS,
	 * IP_MTU_DISCOVER or IPV6_MTU_DISCOVER */
	__s32 ttl;
	__u32 tos;
	__u32 pmtudisc;
};

#endif /* TCPCP_SNAP_REC_H */
