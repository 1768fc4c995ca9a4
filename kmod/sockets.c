// SPDX-License-Identifier: GPL-2.0-only
/*
 * The caller's sockets: a descriptor checked in the manual's terms, the
 * stage of a socket, and every TCP socket of the process for the ALL calls.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/fdtable.h>
#include <linux/file.h>
#include <linux/sort.h>
#include <net/inet_connection_sock.h>
#include <net/tcp.h>

#include "tcpcp2.h"

/*
 * The manual's order: ENOTSOCK, EPFNOSUPPORT, ESOCKTNOSUPPORT,
 * EPROTONOSUPPORT (lib/args.c check_tcp_fd does the same).
 */
int tcpcp_sock_of(struct file *file, struct socket **ret)
{
	struct socket *sock = sock_from_file(file);
	struct sock *sk;

	if (!sock)
		return -ENOTSOCK;
	sk = sock->sk;
	if (!sk)
		return -EBADF; /* being released */
	if (sk->sk_family != AF_INET && sk->sk_family != AF_INET6)
		return -EPFNOSUPPORT;
	if (sk->sk_type != SOCK_STREAM)
		return -ESOCKTNOSUPPORT;
	if (sk->sk_protocol != IPPROTO_TCP)
		return -EPROTONOSUPPORT;
	*ret = sock;
	return 0;
}

bool tcpcp_state_connected(int state)
{
	switch (state) {
	case TCP_ESTABLISHED:
	case TCP_FIN_WAIT1:
	case TCP_FIN_WAIT2:
	case TCP_CLOSE_WAIT:
	case TCP_LAST_ACK:
	case TCP_CLOSING:
		return true;
	}
	return false;
}

/*
 * Repair mode is never left on by this module between calls, so it is
 * someone else's (CRIU, the repair backend); an upper-layer protocol (kTLS)
 * owns the byte stream, which TCP's queues alone cannot rebuild.
 */
int tcpcp_stage(struct sock *sk)
{
	if (tcp_sk(sk)->repair || inet_csk(sk)->icsk_ulp_ops)
		return TCPCP_FOREIGN;
	if (!tcpcp_state_connected(READ_ONCE(sk->sk_state)))
		return TCPCP_UNCONNECTED;
	return tcpcp_hold_owned(sk, NULL) ? TCPCP_STOPPED : TCPCP_RUNNING;
}

bool tcpcp_net_admin(const struct net *net)
{
	return ns_capable(net->user_ns, CAP_NET_ADMIN);
}

bool tcpcp_fd_cloexec(unsigned int fd)
{
	struct files_struct *files = current->files;
	struct fdtable *fdt;
	bool on;

	spin_lock(&files->file_lock);
	fdt = files_fdtable(files);
	on = fd < fdt->max_fds && close_on_exec(fd, fdt);
	spin_unlock(&files->file_lock);
	return on;
}

struct collector {
	struct tcpcp_fds *l;
	unsigned int *stopped_at;
};

/* Under files->file_lock (a spinlock): references only, no socket work. */
static int collect_one(const void *p, struct file *file, unsigned int fd)
{
	const struct collector *c = p;
	struct tcpcp_fds *l = c->l;
	struct socket *sock;

	if (tcpcp_sock_of(file, &sock))
		return 0;
	if (l->n == l->cap) {
		*c->stopped_at = fd;
		return 1;
	}
	l->v[l->n++] = (struct tcpcp_fd){
		.file = get_file(file),
		.fd = fd,
		.cloexec = close_on_exec(fd, files_fdtable(current->files)),
	};
	return 0;
}

static int grow(struct tcpcp_fds *l)
{
	unsigned int cap = l->cap ? l->cap * 2 : 64;
	struct tcpcp_fd *v;

	if (l->cap >= TCPCP_IOC_RESULTS_MAX)
		return -E2BIG;
	cap = min(cap, TCPCP_IOC_RESULTS_MAX);
	v = kvmalloc_array(cap, sizeof(*v), GFP_KERNEL_ACCOUNT);
	if (!v)
		return -ENOMEM;
	if (l->n)
		memcpy(v, l->v, l->n * sizeof(*v));
	kvfree(l->v);
	l->v = v;
	l->cap = cap;
	return 0;
}

static int by_file_then_fd(const void *a, const void *b)
{
	const struct tcpcp_fd *x = a, *y = b;

	if (x->file != y->file)
		return x->file < y->file ? -1 : 1;
	return (x->fd > y->fd) - (x->fd < y->fd);
}

static int by_fd(const void *a, const void *b)
{
	const struct tcpcp_fd *x = a, *y = b;

	return (x->fd > y->fd) - (x->fd < y->fd);
}

/* A socket has one file, which dup() shares: the file is the socket. */
static void mark_first(struct tcpcp_fds *l)
{
	unsigned int i;

	sort(l->v, l->n, sizeof(*l->v), by_file_then_fd, NULL);
	for (i = 0; i < l->n; i++)
		l->v[i].first = !i || l->v[i - 1].file != l->v[i].file;
	sort(l->v, l->n, sizeof(*l->v), by_fd, NULL);
}

int tcpcp_fds_collect(struct tcpcp_fds *ret)
{
	struct tcpcp_fds l = { 0 };
	unsigned int from = 0;
	struct collector c = { &l, &from };
	int err;

	do {
		err = grow(&l);
		if (err) {
			tcpcp_fds_release(&l);
			return err;
		}
		/* resumes at the descriptor that did not fit */
	} while (iterate_fd(current->files, from, collect_one, &c));
	mark_first(&l);
	*ret = l;
	return 0;
}

void tcpcp_fds_release(struct tcpcp_fds *l)
{
	unsigned int i;

	for (i = 0; i < l->n; i++)
		fput(l->v[i].file);
	kvfree(l->v);
	l->v = NULL;
	l->n = 0;
	l->cap = 0;
}
