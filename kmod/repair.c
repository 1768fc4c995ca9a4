// SPDX-License-Identifier: GPL-2.0-only
/*
 * Socket options set from the module, with the values in kernel memory.
 * do_tcp_setsockopt() is not exported; tcp_setsockopt() is, and hands other
 * levels (IP, IPv6) to the address family's own setsockopt, as a system
 * call would.  The checks (CAP_NET_ADMIN for TCP_REPAIR among them) are
 * the kernel's own: they apply to the calling process.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/sockptr.h>
#include <net/tcp.h>

#include "tcpcp2.h"

int tcpcp_tcp_set(struct sock *sk, int level, int name, const void *val,
		  unsigned int len)
{
	/* the setsockopt paths only read through a sockptr */
	return tcp_setsockopt(sk, level, name, KERNEL_SOCKPTR((void *)val),
			      len);
}

int tcpcp_tcp_set_int(struct sock *sk, int level, int name, int val)
{
	return tcpcp_tcp_set(sk, level, name, &val, sizeof(val));
}

int tcpcp_sock_set_int(struct socket *sock, int name, int val)
{
	return sock_setsockopt(sock, SOL_SOCKET, name, KERNEL_SOCKPTR(&val),
			       sizeof(val));
}

int tcpcp_repair_set(struct sock *sk, int mode)
{
	return tcpcp_tcp_set_int(sk, SOL_TCP, TCP_REPAIR, mode);
}

int tcpcp_repair_queue(struct sock *sk, int queue)
{
	return tcpcp_tcp_set_int(sk, SOL_TCP, TCP_REPAIR_QUEUE, queue);
}
