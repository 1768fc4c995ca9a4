/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * tcpcp2.ko: the calls of tcpcp.h in the kernel, one ioctl per call.
 *
 * A stopped connection here is not in TCP_REPAIR mode: stop needs no
 * privilege, and repair mode would hand its powers (binding over any port,
 * connecting without a SYN) to whoever holds the socket.  Stopped means:
 *
 *   - its 4-tuple is in the hold table, so the module's netfilter hooks drop
 *     its segments both ways (hold.c); the entry outlives the socket by the
 *     hold time, and names the socket as its owner while it lives;
 *   - SO_LINGER is forced to {1, 0}, so that a close (or the process's exit)
 *     aborts the connection at once instead of leaving an orphan that keeps
 *     the 4-tuple; the RST that abort makes is dropped by the same hooks.
 *     The program's own linger is kept in the entry, reported by get_si and
 *     put back by start.
 *
 * Set_si (privileged) uses the kernel's TCP_REPAIR machinery, as lib/'s
 * repair backend does, and leaves repair mode with the socket stopped as
 * above.  A socket in repair mode is therefore always someone else's.
 */
#ifndef TCPCP2_H
#define TCPCP2_H

#include "compat.h"

#include <linux/fs.h>
#include <linux/net.h>
#include <linux/types.h>
#include <net/sock.h>

#include "tcpcp_ioctl.h"

/*
 * net/sock.h defines sk_flags as a macro, and struct tcpcp_conn (shared with
 * libtcpcp) has a field of that name: the struct and its accessors are read
 * with the macro out of the way.
 */
#pragma push_macro("sk_flags")
#undef sk_flags
#include "si_codec.h" /* and si_conn.h */

static inline u8 tcpcp_conn_sock_flags(const struct tcpcp_conn *c)
{
	return c->sk_flags;
}

static inline void tcpcp_conn_add_sock_flags(struct tcpcp_conn *c, u8 flags)
{
	c->sk_flags |= flags;
}

#pragma pop_macro("sk_flags")

/* module parameters (main.c), read with READ_ONCE and bounded at use */
extern unsigned int tcpcp_hold_seconds;
extern unsigned int tcpcp_max_holds;

/* Where a socket stands, as lib/backend.h's enum sock_stage. */
enum tcpcp_stage {
	TCPCP_UNCONNECTED,
	TCPCP_RUNNING,
	TCPCP_STOPPED,
	TCPCP_FOREIGN,
};

/*
 * A connection as its segments travel: an IPv6 socket talking to an IPv4
 * peer (v4-mapped addresses) sends IPv4.
 */
struct tcpcp_tuple {
	struct in6_addr local; /* IPv4: s6_addr32[0] */
	struct in6_addr peer;
	__be16 lport;
	__be16 pport;
	u8 family; /* AF_INET or AF_INET6 */
	u8 pad[3];
};

struct tcpcp_linger {
	bool on;
	unsigned long time; /* jiffies, as sk_lingertime */
};

/* hold.c */
int tcpcp_hold_init(void);
void tcpcp_hold_exit(void);
void tcpcp_tuple_of_sk(const struct sock *sk, struct tcpcp_tuple *t);
void tcpcp_tuple_of_conn(const struct tcpcp_conn *c, struct tcpcp_tuple *t);
/*
 * Under lock_sock: sk becomes the owner of its tuple's entry (made if
 * missing), its linger is saved there and forced to {1, 0}.
 */
int tcpcp_hold_stop(struct sock *sk, unsigned int secs);
/* Whether sk owns an entry; if so, the linger it had. */
bool tcpcp_hold_owned(const struct sock *sk, struct tcpcp_linger *ret);
/* Under lock_sock: linger back, entry gone (-ENOENT if sk owns none). */
int tcpcp_hold_release(struct sock *sk);
/*
 * The block for a socket being rebuilt; *ret_created says whether the
 * entry is new (unclaim removes only what claim made).
 */
int tcpcp_hold_claim(struct net *net, const struct tcpcp_tuple *t,
		     bool *ret_created);
void tcpcp_hold_unclaim(struct net *net, const struct tcpcp_tuple *t);
/* tcpcp_hold(): t held for secs, with no socket yet. */
int tcpcp_hold_add(struct net *net, const struct tcpcp_tuple *t,
		   unsigned int secs);
/* The hold time a caller may ask for (the module's default otherwise). */
unsigned int tcpcp_hold_secs(bool given, unsigned int secs);

/* sockets.c */
int tcpcp_sock_of(struct file *file, struct socket **ret);
int tcpcp_stage(struct sock *sk);
bool tcpcp_state_connected(int state);
bool tcpcp_fd_cloexec(unsigned int fd);
bool tcpcp_net_admin(const struct net *net);

struct tcpcp_fd {
	struct file *file; /* referenced */
	unsigned int fd;
	bool cloexec;
	bool first; /* the lowest descriptor of its socket */
};

struct tcpcp_fds {
	struct tcpcp_fd *v;
	unsigned int n;
	unsigned int cap;
};

/* Every TCP socket descriptor of the calling process, by number. */
int tcpcp_fds_collect(struct tcpcp_fds *ret);
void tcpcp_fds_release(struct tcpcp_fds *l);

/*
 * save.c: sk's state into *c (zeroed by the caller); queues kvmalloc'ed,
 * or only their lengths (enough for si_conn_size()) when sizes_only
 */
int tcpcp_save(struct sock *sk, struct file *file, bool cloexec,
	       struct tcpcp_conn *c, bool sizes_only);
void tcpcp_conn_free_queues(struct tcpcp_conn *c);

/* sockopts.c, under lock_sock for save */
void tcpcp_sockopts_save(struct sock *sk, struct tcpcp_conn *c);
int tcpcp_sockopts_restore(struct socket *sock, const struct tcpcp_conn *c);

/* restore.c: c onto an unconnected socket, left stopped */
int tcpcp_conn_sane(const struct tcpcp_conn *c);
int tcpcp_restore(struct socket *sock, const struct tcpcp_conn *c,
		  unsigned int hold_secs);

/* fin.c: the half-closed states, after the queues */
int tcpcp_fin_restore(struct socket *sock, const struct tcpcp_conn *c);

/* repair.c: the kernel's TCP_REPAIR options, in kernel memory */
int tcpcp_tcp_set(struct sock *sk, int level, int name, const void *val,
		  unsigned int len);
int tcpcp_tcp_set_int(struct sock *sk, int level, int name, int val);
int tcpcp_sock_set_int(struct socket *sock, int name, int val);
int tcpcp_repair_set(struct sock *sk, int mode);
int tcpcp_repair_queue(struct sock *sk, int queue);

/* start (ops.c) and the per-socket steps of the calls */
int tcpcp_stop_sk(struct sock *sk, unsigned int hold_secs);
void tcpcp_settle(struct sock *sk);
void tcpcp_wait_in_flight(void);
int tcpcp_start_sk(struct sock *sk, bool probe);

/* calls.c */
struct tcpcp_ioc_call;
long tcpcp_call(unsigned int cmd, struct tcpcp_ioc_call *a);

#endif /* TCPCP2_H */
