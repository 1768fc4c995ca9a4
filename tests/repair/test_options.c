// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Socket options the program set must still be in force on the socket that
 * tcpcp_set_si() builds: a restored connection that quietly loses its
 * keepalive, its mark or its buffer locks behaves differently from then on,
 * and nothing else would notice.  Each test sets non-default values on a
 * connection with bytes queued both ways, moves it, reads every option
 * back, and checks that the connection still talks.  Each runs twice:
 * with TCPCP_EXEC_ONE, and with TCPCP_EXEC_ALL, whose save reads most
 * options from sock_diag and whose restore, onto sockets it makes itself,
 * leaves out the options a new socket already has.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <net/if.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server.h"
#include "tcpcp.h"
#include "testnet.h"

#ifndef SO_BUF_LOCK
#define SO_BUF_LOCK 72 /* Linux 5.14; older libc headers lack it */
#endif

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_OPTS      4
#define SHOW_MAX      64
#define NAME_MAX_LEN  32 /* >= IFNAMSIZ, which SO_BINDTODEVICE insists on */
#define CA_LIST	      "/proc/sys/net/ipv4/tcp_available_congestion_control"

enum kind {
	INT,
	NAME, /* a string: a congestion algorithm, a device */
	LINGER, /* struct linger */
};

enum role {
	SET, /* the program's value; a new socket has another */
	SET_TO_DEFAULT, /* the program's last word, a new socket's value too */
	SET_EARLIER, /* overridden by a later entry: set, not checked */
	DERIVED, /* not set: the kernel reports .i (e.g. lock bits) */
};

struct opt {
	const char *label;
	int level, name;
	enum kind kind;
	enum role role;
	int i;
	const char *s;
	struct linger l;
};

/* clang-format off */
#define INT_OPT(lvl, nm, r, v) { #nm, lvl, nm, INT, r, .i = (v) }
/* clang-format on */

/*
 * Bytes queued both ways through the move (64 KiB unread here, 4 KiB sent
 * but unacknowledged while the peer drops our segments), so the options
 * are restored around real queues, as they would be in use.
 */
static struct peer_cfg queued(int family)
{
	return (struct peer_cfg){
		.family = family,
		.nconns = 1,
		.to_server = 65536,
		.from_server = 4096,
		.after = 4096,
		.block = true,
	};
}

static void opt_set(int fd, const struct opt *o)
{
	const void *val = &o->i;
	socklen_t len = sizeof(o->i);

	if (o->kind == NAME) {
		val = o->s;
		len = (socklen_t)strlen(o->s);
	} else if (o->kind == LINGER) {
		val = &o->l;
		len = sizeof(o->l);
	}
	cr_assert_eq(setsockopt(fd, o->level, o->name, val, len), 0,
		     "setting %s: %s", o->label, strerror(errno));
}

/* The option's value as text, so that every kind compares and prints
 * the same way in the assertions. */
static void opt_show(int fd, const struct opt *o, char *buf, size_t size)
{
	union {
		int i;
		char s[NAME_MAX_LEN];
		struct linger l;
	} v;
	socklen_t len = sizeof(v);

	memset(&v, 0, sizeof(v));
	cr_assert_eq(getsockopt(fd, o->level, o->name, &v, &len), 0,
		     "reading %s: %s", o->label, strerror(errno));
	if (o->kind == NAME)
		snprintf(buf, size, "\"%.*s\"", (int)len, v.s);
	else if (o->kind == LINGER)
		snprintf(buf, size, "{l_onoff %d, l_linger %d}", v.l.l_onoff,
			 v.l.l_linger);
	else
		snprintf(buf, size, "%d", v.i);
}

static void show_on_new_socket(int family, const struct opt *o, char *buf,
			       size_t size)
{
	int fd = socket(family, SOCK_STREAM, 0);

	cr_assert_geq(fd, 0);
	opt_show(fd, o, buf, size);
	close(fd);
}

/* What the test claims to set up really is there; above all, a SET value
 * differs from a new socket's, or a restore that forgot it would pass. */
static void check_premise(int family, const struct opt *o, const char *now)
{
	char other[SHOW_MAX];

	if (o->role == SET) {
		show_on_new_socket(family, o, other, sizeof(other));
		cr_assert_str_neq(now, other,
				  "%s: %s is a new socket's value too: a "
				  "missing restore would not show",
				  o->label, now);
	} else if (o->role == DERIVED) {
		snprintf(other, sizeof(other), "%d", o->i);
		cr_assert_str_eq(now, other, "%s before the move: %s, not %s",
				 o->label, now, other);
	}
}

static void expect_carried(int fd, const struct opt *o, const char *before)
{
	char after[SHOW_MAX];

	if (o->role == SET_EARLIER)
		return;
	opt_show(fd, o, after, sizeof(after));
	cr_expect_str_eq(after, before,
			 "%s: %s before the move, %s after the restore",
			 o->label, before, after);
}

static void carry(int family, const struct opt *opts, unsigned int n,
		  void (*checkpoint)(struct side *s))
{
	struct peer_cfg cfg = queued(family);
	char before[MAX_OPTS][SHOW_MAX];
	struct side s;
	unsigned int i;

	cr_assert_leq(n, MAX_OPTS);
	side_open(&s, &cfg, 0); /* 0: our buffers stay autotuned */
	for (i = 0; i < n; i++)
		if (opts[i].role != DERIVED)
			opt_set(s.fds[0], &opts[i]);
	for (i = 0; i < n; i++) {
		opt_show(s.fds[0], &opts[i], before[i], SHOW_MAX);
		check_premise(family, &opts[i], before[i]);
	}
	checkpoint(&s);
	for (i = 0; i < n; i++)
		expect_carried(s.fds[0], &opts[i], before[i]);
	side_verify(&s);
}

TestSuite(options, .init = testnet_enter, .timeout = 60);

/* Options that mean the same in both families run in both: the save and
 * the restore take separate paths for IPv4 and IPv6 around them. */
#define ONE_FAMILY(test, family, opts)                                         \
	Test(options, test)                                                    \
	{                                                                      \
		carry(family, opts, ARRAY_SIZE(opts), checkpoint_one);         \
	}                                                                      \
	Test(options, test##_all)                                              \
	{                                                                      \
		carry(family, opts, ARRAY_SIZE(opts), checkpoint_all);         \
	}

#define BOTH_FAMILIES(test, opts)                                              \
	ONE_FAMILY(test##_ipv4, AF_INET, opts)                                 \
	ONE_FAMILY(test##_ipv6, AF_INET6, opts)

static const struct opt keepalive[] = {
	INT_OPT(SOL_SOCKET, SO_KEEPALIVE, SET, 1),
	INT_OPT(IPPROTO_TCP, TCP_KEEPIDLE, SET, 77),
	INT_OPT(IPPROTO_TCP, TCP_KEEPINTVL, SET, 13),
	INT_OPT(IPPROTO_TCP, TCP_KEEPCNT, SET, 4),
};
BOTH_FAMILIES(keepalive, keepalive)

static const struct opt nodelay_on[] = {
	INT_OPT(IPPROTO_TCP, TCP_NODELAY, SET, 1),
};
BOTH_FAMILIES(nodelay_on, nodelay_on)

/* Switched off again: the kernel keeps TCP_NAGLE_PUSH in tp->nonagle, so a
 * restore that copied "nonagle != 0" would switch Nagle off for good. */
static const struct opt nodelay_off[] = {
	INT_OPT(IPPROTO_TCP, TCP_NODELAY, SET_EARLIER, 1),
	INT_OPT(IPPROTO_TCP, TCP_NODELAY, SET_TO_DEFAULT, 0),
};
BOTH_FAMILIES(nodelay_off, nodelay_off)

static const struct opt cork[] = {
	INT_OPT(IPPROTO_TCP, TCP_CORK, SET, 1),
};
BOTH_FAMILIES(cork, cork)

static const struct opt linger[] = {
	{"SO_LINGER", SOL_SOCKET, SO_LINGER, LINGER, SET,
	 .l = {.l_onoff = 1, .l_linger = 9}},
};
BOTH_FAMILIES(linger, linger)

static const struct opt priority[] = {
	INT_OPT(SOL_SOCKET, SO_PRIORITY, SET, 5),
};
BOTH_FAMILIES(priority, priority)

static const struct opt tos[] = {
	INT_OPT(IPPROTO_IP, IP_TOS, SET, IPTOS_LOWDELAY),
};
ONE_FAMILY(tos_ipv4, AF_INET, tos)

static const struct opt tclass[] = {
	INT_OPT(IPPROTO_IPV6, IPV6_TCLASS, SET, 0x28),
};
ONE_FAMILY(tclass_ipv6, AF_INET6, tclass)

/* Setting IP_TOS also sets sk_priority from the TOS (rt_tos2priority), so
 * a program that wants its own priority sets it after the TOS; the
 * restore must leave it with the program's priority, not the derived one. */
static const struct opt priority_after_tos[] = {
	INT_OPT(IPPROTO_IP, IP_TOS, SET, IPTOS_LOWDELAY),
	INT_OPT(SOL_SOCKET, SO_PRIORITY, SET, 3),
};
ONE_FAMILY(priority_after_tos_ipv4, AF_INET, priority_after_tos)

static const struct opt ttl[] = {
	INT_OPT(IPPROTO_IP, IP_TTL, SET, 42),
};
ONE_FAMILY(ttl_ipv4, AF_INET, ttl)

static const struct opt hops[] = {
	INT_OPT(IPPROTO_IPV6, IPV6_UNICAST_HOPS, SET, 42),
};
ONE_FAMILY(unicast_hops_ipv6, AF_INET6, hops)

static const struct opt mark[] = {
	INT_OPT(SOL_SOCKET, SO_MARK, SET, 0x2a5),
};
BOTH_FAMILIES(mark, mark)

/* Long enough that the blocked peer of the test never trips it. */
static const struct opt user_timeout[] = {
	INT_OPT(IPPROTO_TCP, TCP_USER_TIMEOUT, SET, 45000),
};
BOTH_FAMILIES(user_timeout, user_timeout)

static const struct opt notsent_lowat[] = {
	INT_OPT(IPPROTO_TCP, TCP_NOTSENT_LOWAT, SET, 16384),
};
BOTH_FAMILIES(notsent_lowat, notsent_lowat)

static const struct opt bindtodevice[] = {
	{"SO_BINDTODEVICE", SOL_SOCKET, SO_BINDTODEVICE, NAME, SET, .s = "lo"},
};
BOTH_FAMILIES(bindtodevice, bindtodevice)

/* Sizes the program set are locked (SOCK_SNDBUF_LOCK = 1, RCVBUF = 2). */
static const struct opt buffers_locked[] = {
	INT_OPT(SOL_SOCKET, SO_SNDBUF, SET, 100000),
	INT_OPT(SOL_SOCKET, SO_RCVBUF, SET, 90000),
	INT_OPT(SOL_SOCKET, SO_BUF_LOCK, DERIVED, 3),
};
BOTH_FAMILIES(buffers_locked, buffers_locked)

static const struct opt sndbuf_locked[] = {
	INT_OPT(SOL_SOCKET, SO_SNDBUF, SET, 100000),
	INT_OPT(SOL_SOCKET, SO_BUF_LOCK, DERIVED, 1),
};
BOTH_FAMILIES(sndbuf_locked, sndbuf_locked)

static const struct opt rcvbuf_locked[] = {
	INT_OPT(SOL_SOCKET, SO_RCVBUF, SET, 90000),
	INT_OPT(SOL_SOCKET, SO_BUF_LOCK, DERIVED, 2),
};
BOTH_FAMILIES(rcvbuf_locked, rcvbuf_locked)

/* Sizes the program never set stay autotuned (CRIU #912), even though the
 * restore forces both buffers up to fit the queues it refills. */
static const struct opt buffers_autotuned[] = {
	INT_OPT(SOL_SOCKET, SO_BUF_LOCK, DERIVED, 0),
};
BOTH_FAMILIES(buffers_autotuned, buffers_autotuned)

/* An algorithm this kernel has, other than the one a new socket gets. */
static bool other_congestion(int family, char *ret, size_t len)
{
	struct opt probe = {
		"TCP_CONGESTION", IPPROTO_TCP, TCP_CONGESTION, NAME, SET,
		.s = ""};
	char dflt[SHOW_MAX], name[NAME_MAX_LEN], quoted[SHOW_MAX];
	FILE *f = fopen(CA_LIST, "r");
	bool found = false;

	cr_assert_not_null(f, "%s: %s", CA_LIST, strerror(errno));
	show_on_new_socket(family, &probe, dflt, sizeof(dflt));
	while (!found && fscanf(f, "%31s", name) == 1) {
		snprintf(quoted, sizeof(quoted), "\"%s\"", name);
		found = strcmp(quoted, dflt) != 0;
	}
	fclose(f);
	if (found)
		snprintf(ret, len, "%s", name);
	return found;
}

static void congestion(int family, void (*checkpoint)(struct side *s))
{
	char algo[NAME_MAX_LEN];
	struct opt cc = {
		"TCP_CONGESTION", IPPROTO_TCP, TCP_CONGESTION, NAME, SET,
		.s = algo};

	if (!other_congestion(family, algo, sizeof(algo)))
		cr_skip_test("only one congestion control algorithm is "
			     "available (%s): none to switch to",
			     CA_LIST);
	carry(family, &cc, 1, checkpoint);
}

Test(options, congestion_ipv4)
{
	congestion(AF_INET, checkpoint_one);
}

Test(options, congestion_ipv6)
{
	congestion(AF_INET6, checkpoint_one);
}

Test(options, congestion_ipv4_all)
{
	congestion(AF_INET, checkpoint_all);
}

Test(options, congestion_ipv6_all)
{
	congestion(AF_INET6, checkpoint_all);
}
