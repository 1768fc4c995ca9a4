// SPDX-License-Identifier: LGPL-2.1-or-later
/* See snapconns.h. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "accel_probe.h"
#include "si_codec.h"
#include "snapconns.h"
#include "tcpcp.h"
#include "tcpcp_si.h"
#include "testnet.h"

#define US_SEED 5
#define PEER_SEED 6
#define TS_SLACK_MS 5000u
#define OFF_TS_GEN                                                             \
	(offsetof(struct tcpcp_si_hdr, vargen) +                               \
	 offsetof(struct tcpcp_sie_vargen, ts_gen))

void set_int(int fd, int level, int name, int v)
{
	cr_assert_eq(setsockopt(fd, level, name, &v, sizeof(v)), 0,
		     "setsockopt %d/%d = %d: %s", level, name, v,
		     strerror(errno));
}

static void set_ip_options(const struct conn *c, int i)
{
	bool v6 = c->family == AF_INET6;

	if (i % 4 == 2)
		set_int(c->fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP,
			v6 ? IPV6_UNICAST_HOPS : IP_TTL, 40 + i % 200);
	if (i % 4 == 3)
		set_int(c->fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP,
			v6 ? IPV6_TCLASS : IP_TOS, v6 ? 0x28 : IPTOS_LOWDELAY);
	if (i % 5 == 4)
		set_int(c->fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP,
			v6 ? IPV6_MTU_DISCOVER : IP_MTU_DISCOVER,
			v6 ? IPV6_PMTUDISC_DONT : IP_PMTUDISC_DONT);
}

static void set_tcp_options(const struct conn *c, int i)
{
	if ((i >> 1) & 1)
		set_int(c->fd, IPPROTO_TCP, TCP_NODELAY, 1);
	if (i % 6 == 1) /* on and off again: TCP_NAGLE_PUSH stays behind */
		set_int(c->fd, IPPROTO_TCP, TCP_NODELAY, 0);
	if ((i >> 2) & 1)
		set_int(c->fd, IPPROTO_TCP, TCP_CORK, 1);
	if ((i >> 3) & 1) {
		set_int(c->fd, SOL_SOCKET, SO_KEEPALIVE, 1);
		set_int(c->fd, IPPROTO_TCP, TCP_KEEPIDLE, 60 + i);
		set_int(c->fd, IPPROTO_TCP, TCP_KEEPINTVL, 5 + i);
		set_int(c->fd, IPPROTO_TCP, TCP_KEEPCNT, 3 + i % 5);
	} else if (i % 3 == 0) {
		set_int(c->fd, IPPROTO_TCP, TCP_KEEPIDLE, 7200 + i);
	}
	if (i % 4 == 1)
		set_int(c->fd, IPPROTO_TCP, TCP_USER_TIMEOUT, 30000 + i);
	if (i % 5 == 2)
		set_int(c->fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, 8192 + i);
}

static void set_socket_options(const struct conn *c, int i)
{
	struct linger lg = { .l_onoff = 1, .l_linger = i % 7 };

	if (i % 3 == 1)
		cr_assert_eq(setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg,
					sizeof(lg)), 0);
	if (i % 2 == 0)
		set_int(c->fd, SOL_SOCKET, SO_REUSEADDR, 1);
	if (i % 6 == 3)
		set_int(c->fd, SOL_SOCKET, SO_SNDBUF, 100000 + i);
	if (i % 6 == 4)
		set_int(c->fd, SOL_SOCKET, SO_RCVBUF, 90000 + i);
	if (i % 7 == 5)
		set_int(c->fd, SOL_SOCKET, SO_PRIORITY, 3);
	if (i % 7 == 6)
		set_int(c->fd, SOL_SOCKET, SO_MARK, 0x42 + i);
	if (i % 3 == 2)
		tn_set_nonblock(c->fd, true);
	if (i % 2 == 1) /* tn_accept gives FD_CLOEXEC */
		cr_assert_eq(fcntl(c->fd, F_SETFD, 0), 0);
}

/* Unread bytes from the peer; ours unacknowledged (the peer drops them)
 * or unsent (its small window is full); FINs either way. */
static void load(const struct conn *c, int i)
{
	static uint8_t buf[65536];
	size_t out = i % 4 == 0 ? sizeof(buf) : 2000 + 53 * (size_t)i;

	tn_write_pattern(c->peer, PEER_SEED, 0, 1000 + 37 * (size_t)i);
	if (i % 3 == 0)
		tn_block(c->peer);
	/* as much as the socket takes: the stream is not checked here */
	pattern_fill(buf, out, US_SEED, 0);
	cr_assert_gt(send(c->fd, buf, out, MSG_DONTWAIT), 0);
	if (i % 8 == 5)
		shutdown(c->fd, SHUT_WR); /* FIN_WAIT1 or FIN_WAIT2 */
	if (i % 8 == 6 || i % 8 == 7)
		shutdown(c->peer, SHUT_WR); /* CLOSE_WAIT */
	if (i % 8 == 7) {
		usleep(20000);
		if (i % 3 != 0)
			tn_block(c->peer);
		shutdown(c->fd, SHUT_WR); /* LAST_ACK */
	}
}

void open_conn(struct conn *c, int i)
{
	uint16_t port;
	int lfd;

	c->family = i % 2 ? AF_INET6 : AF_INET;
	lfd = tn_listen(c->family, &port);
	c->peer = tn_connect(c->family, port, i % 4 == 0 ? 4096 : 0);
	c->fd = tn_accept(lfd);
	close(lfd);
	set_socket_options(c, i);
	set_ip_options(c, i);
	set_tcp_options(c, i);
	load(c, i);
}

/* The peers live on in a child, so that TCPCP_EXEC_ALL here sees only
 * our ends. */
pid_t hand_peers_over(struct conn *c, unsigned int n)
{
	int hold[2];
	unsigned int i;
	pid_t pid;
	char x;

	cr_assert_eq(pipe(hold), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		for (i = 0; i < n; i++)
			close(c[i].fd);
		close(hold[1]);
		while (read(hold[0], &x, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	for (i = 0; i < n; i++)
		close(c[i].peer);
	close(hold[0]);
	return pid;
}

void *get_si_n(int dummy, const char *accel, unsigned int n,
		      unsigned int *size)
{
	struct result_list *rl = NULL;
	void *si = NULL;
	unsigned int i;

	setenv("TCPCP_ACCEL", accel, 1);
	cr_assert_eq(tcpcp_get_si(dummy, TCPCP_EXEC_ALL, &si, size, &rl),
		     TCPCP_RET_OK, "get_si, TCPCP_ACCEL=%s: %s (%s)", accel,
		     strerror(errno), tcpcp_strerror_detail());
	cr_assert_eq(rl->fd_all, n, "TCPCP_ACCEL=%s: %u sockets", accel,
		     rl->fd_all);
	for (i = 0; i < rl->fd_all; i++)
		cr_assert_eq(rl->fdrs[i].result, 0, "TCPCP_ACCEL=%s: fd %d: %s",
			     accel, rl->fdrs[i].fd,
			     strerror(-rl->fdrs[i].result));
	free(rl);
	return si;
}

void *get_si_all(int dummy, const char *accel, unsigned int *size)
{
	return get_si_n(dummy, accel, NCONNS, size);
}

void stop_n(int dummy, unsigned int n)
{
	struct result_list *rl = NULL;

	cr_assert_eq(tcpcp_stop(dummy, TCPCP_EXEC_ALL, &rl), TCPCP_RET_OK,
		     "stop: %s (%s)", strerror(errno), tcpcp_strerror_detail());
	cr_assert_eq(rl->fd_all, n);
	cr_assert_eq(rl->fd_ng, 0);
	free(rl);
}

void stop_all(int dummy)
{
	stop_n(dummy, NCONNS);
}

/* The iterator is loaded once per process and holds a link: its
 * descriptor, or -1. */
int link_fd(void)
{
	return accel_fd_linked_to("anon_inode:bpf_link");
}

bool iterator_loaded(void)
{
	return link_fd() >= 0;
}

const char *why_not_loaded(void)
{
#ifndef TCPCP_HAVE_BPF
	return "libtcpcp was built without BPF (-Dbpf, clang, libbpf)";
#else
	if (access("/sys/kernel/btf/vmlinux", R_OK))
		return "the kernel has no BTF (/sys/kernel/btf/vmlinux)";
	if (geteuid())
		return "not root: loading needs CAP_BPF and CAP_PERFMON";
	return "the kernel refused the program (CO-RE relocation or "
	       "verifier): the system calls serve";
#endif
}

static void expect_same_conn(const struct tcpcp_conn *a,
			     const struct tcpcp_conn *b, unsigned int i)
{
	uint8_t *copy = malloc(b->raw_len);
	uint32_t d = b->ts_gen - a->ts_gen;
	uint32_t slack = TS_SLACK_MS * ((b->ts_gen & 1) ? 1000 : 1);
	unsigned int k;

	cr_assert_not_null(copy);
	cr_assert_eq(a->raw_len, b->raw_len, "connection %u (fd %u): %u bytes "
		     "without BPF, %u with", i, a->fd, a->raw_len, b->raw_len);
	cr_expect((int32_t)d >= 0 && d <= slack, "connection %u (fd %u): "
		  "ts_gen %u without BPF, %u with", i, a->fd, a->ts_gen,
		  b->ts_gen);
	memcpy(copy, b->raw, b->raw_len);
	memcpy(copy + OFF_TS_GEN, a->raw + OFF_TS_GEN, 4);
	for (k = 0; k < a->raw_len && copy[k] == a->raw[k]; k++)
		;
	cr_expect_eq(k, a->raw_len, "connection %u (fd %u, IPv%u, state %u): "
		     "byte %u differs: 0x%02x without BPF, 0x%02x with", i,
		     a->fd, a->ip_version, a->state, k, a->raw[k], copy[k]);
	free(copy);
}

void expect_same_n(const void *a, unsigned int na, const void *b,
			  unsigned int nb, unsigned int n)
{
	uint32_t oa = TCPCP_SI_TOTAL_HDR_LEN, ob = oa;
	unsigned int i, count;

	cr_assert_eq(na, nb, "TCP-SI of %u bytes without BPF, %u with", na, nb);
	cr_assert_eq(si_check(a, na, &count), 0);
	cr_assert_eq(count, n);
	cr_assert_eq(memcmp(a, b, TCPCP_SI_TOTAL_HDR_LEN), 0);
	for (i = 0; i < count; i++) {
		struct tcpcp_conn ca, cb;

		cr_assert_eq(si_decode_conn(a, na, &oa, &ca), 0);
		cr_assert_eq(si_decode_conn(b, nb, &ob, &cb), 0);
		expect_same_conn(&ca, &cb, i);
	}
}

void expect_same(const void *a, unsigned int na, const void *b,
			unsigned int nb)
{
	expect_same_n(a, na, b, nb, NCONNS);
}

/* Every state the test claims is there. */
void check_states(const struct conn *c, unsigned int n)
{
	unsigned int seen = 0, i;

	for (i = 0; i < n; i++) {
		struct tcp_info ti;
		socklen_t len = sizeof(ti);

		cr_assert_eq(getsockopt(c[i].fd, IPPROTO_TCP, TCP_INFO, &ti,
					&len), 0);
		seen |= 1u << ti.tcpi_state;
	}
	cr_assert(seen & (1u << TCP_ESTABLISHED));
	cr_assert(seen & ((1u << TCP_FIN_WAIT1) | (1u << TCP_FIN_WAIT2)));
	cr_assert(seen & (1u << TCP_CLOSE_WAIT));
	cr_assert(seen & (1u << TCP_LAST_ACK), "no LAST_ACK: 0x%x", seen);
}


void end_peers(pid_t child)
{
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
}
