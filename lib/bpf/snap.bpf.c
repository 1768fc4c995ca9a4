// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The socket iterator: one pass over the calling process's descriptors
 * (iter/task_file, its link limited to the process) writes a struct
 * snap_rec for each TCP socket, holding what libtcpcp would otherwise
 * ask with some thirty system calls per socket.  Each value is computed
 * as the kernel's getsockopt/ioctl/fcntl computes it (6.1 and later; the
 * differences are noted where they matter).
 *
 * No vmlinux.h: the structures below declare only the fields read, and
 * CO-RE moves every access to where the running kernel's BTF has it.
 *
 * Speed: each bpf_probe_read_kernel() is a helper call, with its checks,
 * and reading a socket that way took some ninety.  So the program reads
 * through pointers the verifier knows the BTF type of (the iterator's
 * task and file, and what bpf_sock_from_file(), bpf_skc_to_tcp_sock()
 * and the pointer fields of these lead to) with plain loads, which the
 * verifier turns into loads guarded by an exception table entry, a few
 * instructions each.  Scalars go through BPF_CORE_READ_BITFIELD, which
 * loads with the kernel's size and then shifts with its sign and bit
 * position, so that a field that is a bitfield on one kernel and a byte
 * on another (sk_userlocks, ipv6 pmtudisc) reads the same.  What has no
 * BTF type to load through (the close-on-exec bitmap, a filter's
 * instructions) is still copied with bpf_probe_read_kernel().
 */
typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed char __s8;
typedef short __s16;
typedef int __s32;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include "snap_rec.h"

#define CORE __attribute__((preserve_access_index))
#define RD(p, f) BPF_CORE_READ_BITFIELD(p, f)

#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define IPPROTO_TCP 6

/* include/net/tcp_states.h: a uapi-stable numbering */
enum {
	TCP_ESTABLISHED = 1,
	TCP_SYN_SENT,
	TCP_SYN_RECV,
	TCP_FIN_WAIT1,
	TCP_FIN_WAIT2,
	TCP_TIME_WAIT,
	TCP_CLOSE,
	TCP_CLOSE_WAIT,
	TCP_LAST_ACK,
	TCP_LISTEN,
	TCP_CLOSING,
};

#define CONNECTED ((1 << TCP_ESTABLISHED) | (1 << TCP_FIN_WAIT1) |       \
		   (1 << TCP_FIN_WAIT2) | (1 << TCP_CLOSE_WAIT) |       \
		   (1 << TCP_LAST_ACK) | (1 << TCP_CLOSING))

/* tcp_info's options */
#define TCPI_OPT_TIMESTAMPS 1
#define TCPI_OPT_SACK 2
#define TCPI_OPT_WSCALE 4
#define TCPI_OPT_ECN 8

/* ecn_flags: TCP_ECN_OK (6.1), TCP_ECN_MODE_ANY (AccECN kernels, where
 * bit 0 is RFC 3168 mode and bit 4 AccECN mode; 6.1 never sets bit 4) */
#define ECN_MODE_ANY 0x11
#define TCP_NAGLE_OFF 1
#define TCP_NAGLE_CORK 2
#define SOCK_BUF_LOCK_MASK 3
#define IPV6_ADDR_V4 0

enum sock_flags {
	SOCK_DEAD,
	SOCK_DONE,
	SOCK_URGINLINE,
	SOCK_KEEPOPEN,
	SOCK_LINGER,
};

/* only its address is taken: the 16 bytes are loaded as two words */
struct in6_addr {
	__u8 s6_addr[16];
} CORE;

struct netns_ipv4 {
	__u8 sysctl_ip_default_ttl;
	int sysctl_tcp_keepalive_time;
	int sysctl_tcp_keepalive_intvl;
	__u8 sysctl_tcp_keepalive_probes;
} CORE;

struct net {
	struct netns_ipv4 ipv4;
} CORE;

struct sock_fprog_kern {
	__u16 len;
	struct snap_insn *filter;
} CORE;

struct bpf_prog {
	struct sock_fprog_kern *orig_prog;
} CORE;

struct sk_filter {
	struct bpf_prog *prog;
} CORE;

typedef struct {
	struct net *net;
} possible_net_t;

struct sock_common {
	__be32 skc_daddr;
	__be32 skc_rcv_saddr;
	__be16 skc_dport;
	unsigned short skc_family;
	unsigned char skc_state;
	unsigned char skc_reuse;
	int skc_bound_dev_if;
	possible_net_t skc_net;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
	unsigned long skc_flags;
} CORE;

struct sock {
	struct sock_common __sk_common;
	unsigned char sk_userlocks;
	int sk_rcvbuf;
	int sk_sndbuf;
	struct sk_filter *sk_filter;
	__u32 sk_priority;
	__u32 sk_mark;
	__u16 sk_type;
	__u16 sk_protocol;
	long sk_lingertime;
} CORE;

struct ipv6_pinfo {
	__s16 hop_limit;
	__u8 pmtudisc;
	__u8 tclass;
} CORE;

struct inet_sock {
	struct sock sk;
	struct ipv6_pinfo *pinet6;
	__be16 inet_sport;
	__s16 uc_ttl;
	void *inet_opt;
	__u8 tos;
	__u8 pmtudisc;
} CORE;

struct tcp_congestion_ops {
	char name[16];
} CORE;

struct inet_connection_sock {
	struct tcp_congestion_ops *icsk_ca_ops;
	struct {
		__u16 rcv_mss;
	} icsk_ack;
	__u32 icsk_user_timeout;
} CORE;

struct tcp_options_received {
	__u16 tstamp_ok;
	__u16 wscale_ok;
	__u16 sack_ok;
	__u16 snd_wscale;
	__u16 rcv_wscale;
	__u16 user_mss;
	__u16 mss_clamp;
} CORE;

struct tcp_sock {
	__u32 rcv_nxt;
	__u32 copied_seq;
	__u32 rcv_wup;
	__u32 snd_nxt;
	__u32 snd_una;
	__u32 snd_wl1;
	__u32 snd_wnd;
	__u32 max_window;
	__u32 mss_cache;
	__u32 rcv_wnd;
	__u32 write_seq;
	__u32 notsent_lowat;
	__u32 tsoffset;
	__u32 urg_seq;
	__u16 urg_data;
	__u8 nonagle;
	__u8 repair;
	__u8 tcp_usec_ts; /* 6.7 and later */
	__u8 ecn_flags;
	__u8 keepalive_probes;
	__u32 keepalive_time;
	__u32 keepalive_intvl;
	struct tcp_options_received rx_opt;
} CORE;

struct inode {
	unsigned long i_ino;
} CORE;

struct file {
	struct inode *f_inode;
	unsigned int f_flags;
} CORE;

struct socket {
	struct sock *sk;
} CORE;

struct fdtable {
	unsigned long *close_on_exec;
} CORE;

struct files_struct {
	struct fdtable *fdt;
} CORE;

struct task_struct {
	struct files_struct *files;
} CORE;

struct seq_file;

struct bpf_iter_meta {
	struct seq_file *seq;
} CORE;

struct bpf_iter__task_file {
	struct bpf_iter_meta *meta;
	struct task_struct *task;
	__u32 fd;
	struct file *file;
} CORE;

/* bpf_probe_read_kernel(), bpf_get_current_task_btf() */
char LICENSE[] SEC("license") = "GPL";

static __always_inline int before(__u32 a, __u32 b)
{
	return (__s32)(a - b) < 0;
}

static __always_inline int sk_flag(struct sock *sk, int bit)
{
	unsigned long f = sk->__sk_common.skc_flags;

	return (f >> bit) & 1;
}

/*
 * 16 bytes from a kernel array of bytes (an address, a name): the
 * verifier allows a word load anywhere inside an array of scalars.
 */
static __always_inline void copy16(void *dst, const void *src)
{
	const __u64 *s = src;
	__u64 w[2];

	w[0] = s[0];
	w[1] = s[1];
	__builtin_memcpy(dst, w, sizeof(w));
}

/*
 * FD_CLOEXEC: the bit in the descriptor table of the task iterated.  The
 * bitmap is an unsigned long *, which the verifier loads as a number, not
 * as a pointer it lets the program load through: the word is copied.
 */
static __always_inline __u8 fd_cloexec(struct task_struct *task, __u32 fd)
{
	unsigned long *bits = task->files->fdt->close_on_exec;
	unsigned long word = 0;

	bpf_probe_read_kernel(&word, sizeof(word), bits + fd / 64);
	return (word >> (fd % 64)) & 1;
}

static __always_inline void read_addrs(struct sock *sk, struct snap_rec *r)
{
	struct inet_sock *inet = (void *)sk;

	r->bound_dev_if = RD(sk, __sk_common.skc_bound_dev_if);
	r->lport = RD(inet, inet_sport);
	r->pport = RD(sk, __sk_common.skc_dport);
	if (r->family == AF_INET) {
		__be32 a = sk->__sk_common.skc_rcv_saddr;
		__be32 p = sk->__sk_common.skc_daddr;

		__builtin_memcpy(r->local, &a, sizeof(a));
		__builtin_memcpy(r->peer, &p, sizeof(p));
		return;
	}
	copy16(r->local, &sk->__sk_common.skc_v6_rcv_saddr);
	copy16(r->peer, &sk->__sk_common.skc_v6_daddr);
}

/*
 * sk_get_filter(): the program as it was attached, if it was classic.
 * BTF types fp->filter as one struct sock_filter, so the verifier would
 * refuse loads past the first: the six are copied.
 */
static __always_inline void read_filter(struct sock *sk, struct snap_rec *r)
{
	struct sk_filter *f = sk->sk_filter;
	struct sock_fprog_kern *fp;

	if (!f)
		return;
	fp = f->prog->orig_prog;
	r->filter_state = fp ? SNAP_FILTER_CLASSIC : SNAP_FILTER_EBPF;
	if (!fp)
		return;
	r->filter_len = RD(fp, len);
	if (r->filter_len == SNAP_FILTER_INSNS)
		bpf_probe_read_kernel(r->filter, sizeof(r->filter),
				      fp->filter);
}

/* sk_getsockopt() */
static __always_inline void read_socket(struct sock *sk, struct snap_rec *r)
{
	r->reuse = RD(sk, __sk_common.skc_reuse);
	r->keepalive = sk_flag(sk, bpf_core_enum_value(enum sock_flags,
						       SOCK_KEEPOPEN));
	r->linger_on = sk_flag(sk, bpf_core_enum_value(enum sock_flags,
						       SOCK_LINGER));
	r->linger_jiffies = RD(sk, sk_lingertime);
	r->buf_lock = RD(sk, sk_userlocks) & SOCK_BUF_LOCK_MASK;
	r->priority = RD(sk, sk_priority);
	r->sndbuf = RD(sk, sk_sndbuf);
	r->rcvbuf = RD(sk, sk_rcvbuf);
	r->mark = RD(sk, sk_mark);
	read_filter(sk, r);
}

/* do_ip_getsockopt(), do_ipv6_getsockopt() */
static __always_inline void read_ip(struct sock *sk, struct net *net,
				    struct snap_rec *r)
{
	struct inet_sock *inet = (void *)sk;
	struct ipv6_pinfo *np;
	int ttl;

	if (r->family == AF_INET) {
		ttl = (__s64)RD(inet, uc_ttl);
		if (ttl < 0)
			ttl = RD(net, ipv4.sysctl_ip_default_ttl);
		r->ttl = ttl;
		r->tos = RD(inet, tos);
		r->pmtudisc = RD(inet, pmtudisc);
		if (inet->inet_opt)
			r->flags |= SNAP_ASK_IPOPT;
		return;
	}
	np = inet->pinet6;
	if (!np) {
		r->flags &= ~SNAP_EXACT;
		return;
	}
	/* -1: the route's hop limit, then the device's: asked */
	r->ttl = (__s64)RD(np, hop_limit);
	if (r->ttl < 0)
		r->flags |= SNAP_ASK_HOPS;
	r->tos = RD(np, tclass);
	r->pmtudisc = RD(np, pmtudisc);
}

/* tcp_get_info()'s options */
static __always_inline void read_info(struct tcp_sock *tp, struct snap_rec *r)
{
	struct inet_connection_sock *icsk = (void *)tp;

	if (RD(tp, rx_opt.tstamp_ok))
		r->options |= TCPI_OPT_TIMESTAMPS;
	if (RD(tp, rx_opt.sack_ok))
		r->options |= TCPI_OPT_SACK;
	if (RD(tp, rx_opt.wscale_ok)) {
		r->options |= TCPI_OPT_WSCALE;
		r->snd_wscale = RD(tp, rx_opt.snd_wscale);
		r->rcv_wscale = RD(tp, rx_opt.rcv_wscale);
	}
	if (RD(tp, ecn_flags) & ECN_MODE_ANY)
		r->options |= TCPI_OPT_ECN;
	r->snd_mss = RD(tp, mss_cache);
	r->rcv_mss = RD(icsk, icsk_ack.rcv_mss);
}

/* tcp_inq() and tcp_ioctl(), for the connected states */
static __always_inline void read_queues(struct sock *sk, struct tcp_sock *tp,
					struct snap_rec *r)
{
	__u32 copied = RD(tp, copied_seq), urg_seq = RD(tp, urg_seq);
	int urg_inline = sk_flag(sk, bpf_core_enum_value(enum sock_flags,
							 SOCK_URGINLINE));
	int done = sk_flag(sk, bpf_core_enum_value(enum sock_flags, SOCK_DONE));

	r->write_seq = RD(tp, write_seq);
	r->rcv_nxt = RD(tp, rcv_nxt);
	if (urg_inline || !RD(tp, urg_data) || before(urg_seq, copied) ||
	    !before(urg_seq, r->rcv_nxt)) {
		r->inq = r->rcv_nxt - copied;
		if (r->inq && done)
			r->inq--;
	} else {
		r->inq = urg_seq - copied;
	}
	r->outq = r->write_seq - RD(tp, snd_una);
	r->notsent = r->write_seq - RD(tp, snd_nxt);
	r->snd_wl1 = RD(tp, snd_wl1);
	r->snd_wnd = RD(tp, snd_wnd);
	r->max_window = RD(tp, max_window);
	r->rcv_wnd = RD(tp, rcv_wnd);
	r->rcv_wup = RD(tp, rcv_wup);
}

/* TCP_TIMESTAMP: tcp_time_stamp_raw() (ms) + tsoffset on 6.1; from 6.7
 * the clock of the connection (us or ms), its low bit saying which. */
static __always_inline void read_timestamp(struct tcp_sock *tp,
					   struct snap_rec *r)
{
	__u64 ns = bpf_ktime_get_ns();
	__u32 off = RD(tp, tsoffset);

	if (!bpf_core_field_exists(tp->tcp_usec_ts)) {
		r->timestamp = (__u32)(ns / 1000000) + off;
		return;
	}
	if (RD(tp, tcp_usec_ts)) {
		r->timestamp = ((__u32)(ns / 1000) + off) | 1;
		r->flags |= SNAP_USEC_TS;
	} else {
		r->timestamp = ((__u32)(ns / 1000000) + off) & ~1u;
	}
}

/* do_tcp_getsockopt(); keep-alive times default to the namespace's */
static __always_inline void read_tcp(struct sock *sk, struct net *net,
				     struct snap_rec *r)
{
	struct tcp_sock *tp = (void *)sk;
	struct inet_connection_sock *icsk = (void *)sk;
	struct tcp_congestion_ops *ca = icsk->icsk_ca_ops;
	__u32 nonagle = RD(tp, nonagle);

	r->maxseg = RD(tp, mss_cache);
	if (r->repair) /* user_mss counts only in CLOSE and LISTEN */
		r->maxseg = RD(tp, rx_opt.mss_clamp);
	r->nodelay = !!(nonagle & TCP_NAGLE_OFF);
	r->cork = !!(nonagle & TCP_NAGLE_CORK);
	r->keepidle_jiffies = RD(tp, keepalive_time);
	if (!r->keepidle_jiffies)
		r->keepidle_jiffies = RD(net, ipv4.sysctl_tcp_keepalive_time);
	r->keepintvl_jiffies = RD(tp, keepalive_intvl);
	if (!r->keepintvl_jiffies)
		r->keepintvl_jiffies = RD(net, ipv4.sysctl_tcp_keepalive_intvl);
	r->keepcnt = RD(tp, keepalive_probes);
	if (!r->keepcnt)
		r->keepcnt = RD(net, ipv4.sysctl_tcp_keepalive_probes);
	r->user_timeout = RD(icsk, icsk_user_timeout);
	r->notsent_lowat = RD(tp, notsent_lowat);
	if (ca) /* as the copy of a NULL's name did: zeros */
		copy16(r->cong, ca->name);
	read_info(tp, r);
	read_queues(sk, tp, r);
	read_timestamp(tp, r);
}

/*
 * A socket, of TCP (what answers TCP_INFO and says IPPROTO_TCP to
 * SO_PROTOCOL), or NULL.  bpf_sock_from_file() knows a socket by its
 * file operations; bpf_skc_to_tcp_sock() then gives the verifier the
 * type that lets the tcp_sock's fields (past struct sock) be loaded.
 */
static __always_inline struct tcp_sock *tcp_of(struct file *file)
{
	struct socket *sock = bpf_sock_from_file(file);
	struct sock *sk;
	__u16 family;

	if (!sock)
		return 0;
	sk = sock->sk;
	if (!sk)
		return 0;
	family = RD(sk, __sk_common.skc_family);
	if ((family != AF_INET && family != AF_INET6) ||
	    RD(sk, sk_type) != SOCK_STREAM || RD(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	return bpf_skc_to_tcp_sock(sk);
}

SEC("iter/task_file")
int snap_sockets(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct tcp_sock *tp;
	struct snap_rec r;
	struct net *net;
	struct sock *sk;

	if (!task || !file)
		return 0;
	/* only the descriptors the caller's own numbers refer to */
	if (task->files != bpf_get_current_task_btf()->files)
		return 0;
	tp = tcp_of(file);
	if (!tp)
		return 0;
	/*
	 * The verifier types the register by what bpf_skc_to_tcp_sock()
	 * returned, whatever the C cast: through it, the loads of sock,
	 * inet_sock and tcp_sock fields alike are within the type.
	 */
	sk = (struct sock *)tp;
	__builtin_memset(&r, 0, sizeof(r));
	r.fd = ctx->fd;
	r.ino = file->f_inode->i_ino;
	r.f_flags = file->f_flags;
	r.cloexec = fd_cloexec(task, r.fd);
	r.family = RD(sk, __sk_common.skc_family);
	r.state = RD(sk, __sk_common.skc_state);
	r.repair = RD(tp, repair);
	read_addrs(sk, &r);
	read_socket(sk, &r);
	if ((1 << r.state) & CONNECTED) {
		r.flags |= SNAP_EXACT;
		net = sk->__sk_common.skc_net.net;
		read_ip(sk, net, &r);
		read_tcp(sk, net, &r);
	}
	bpf_seq_write(ctx->meta->seq, &r, sizeof(r));
	return 0;
}
