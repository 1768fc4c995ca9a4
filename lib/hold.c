// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The hold of the repair backend: the stop outlives the socket.
 *
 * A socket closed in repair mode vanishes silently, and the kernel answers
 * the peer's next segment with a RST.  So every stopped connection's
 * 4-tuple also goes into an nftables set with a timeout, in a table owned
 * by tcpcp2; its chains drop the tuple's segments both ways (prerouting and
 * output, priority raw) until the tuple is started again or the timeout
 * (TCPCP_HOLD_SECONDS) expires.
 *
 * Elements are queued as text and sent in one transaction per call.  nft
 * 1.0.6 has no "destroy element", and one failed command fails the whole
 * transaction, so a delete is written as add + delete (the add makes sure
 * there is something to delete) and a refresh as add + delete + add.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <nftables/libnftables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hold.h"
#include "internal.h"

#define HOLD_TABLE "inet tcpcp2"
#define HOLD_DEFAULT_SECONDS 120
#define HOLD_MAX_SECONDS 86400

static const char table_def[] =
	"table " HOLD_TABLE " {\n"
	" set hold4 { type ipv4_addr . inet_service . ipv4_addr . inet_service;"
	" flags timeout; }\n"
	" set hold6 { type ipv6_addr . inet_service . ipv6_addr . inet_service;"
	" flags timeout; }\n"
	" chain in { type filter hook prerouting priority -300; policy accept;\n"
	"  meta mark 0x74637033 accept\n"
	"  ip daddr . tcp dport . ip saddr . tcp sport @hold4 drop\n"
	"  ip6 daddr . tcp dport . ip6 saddr . tcp sport @hold6 drop\n"
	" }\n"
	" chain out { type filter hook output priority -300; policy accept;\n"
	"  ip saddr . tcp sport . ip daddr . tcp dport @hold4 drop\n"
	"  ip6 saddr . tcp sport . ip6 daddr . tcp dport @hold6 drop\n"
	" }\n"
	"}\n";

/* Per process (a forked child gets its own netlink socket). */
static struct {
	pid_t pid;
	struct nft_ctx *ctx;
	bool ready;
	char *batch;
	size_t len, cap;
} hold;

int hold_seconds(unsigned int *ret)
{
	const char *v = getenv("TCPCP_HOLD_SECONDS");
	char *end;
	long n;

	*ret = HOLD_DEFAULT_SECONDS;
	if (!v || !*v)
		return 0;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || *end || n < 0 || n > HOLD_MAX_SECONDS) {
		detail_set("TCPCP_HOLD_SECONDS=%.20s: expected 0 to %d", v,
			   HOLD_MAX_SECONDS);
		return -EINVAL;
	}
	*ret = (unsigned int)n;
	return 0;
}

int hold_tuple_of(int fd, struct hold_tuple *t)
{
	struct sockaddr_in6 l, p;
	socklen_t ll = sizeof(l), pl = sizeof(p);

	if (getsockname(fd, (struct sockaddr *)&l, &ll) ||
	    getpeername(fd, (struct sockaddr *)&p, &pl))
		return -errno;
	memset(t, 0, sizeof(*t));
	if (l.sin6_family == AF_INET) {
		const struct sockaddr_in *l4 = (void *)&l, *p4 = (void *)&p;

		t->family = AF_INET;
		memcpy(t->local, &l4->sin_addr, 4);
		memcpy(t->peer, &p4->sin_addr, 4);
		t->lport = ntohs(l4->sin_port);
		t->pport = ntohs(p4->sin_port);
	} else if (IN6_IS_ADDR_V4MAPPED(&l.sin6_addr)) {
		/* a dual-stack socket's IPv4 connection travels as IPv4 */
		t->family = AF_INET;
		memcpy(t->local, &l.sin6_addr.s6_addr[12], 4);
		memcpy(t->peer, &p.sin6_addr.s6_addr[12], 4);
	} else {
		t->family = AF_INET6;
		memcpy(t->local, &l.sin6_addr, 16);
		memcpy(t->peer, &p.sin6_addr, 16);
	}
	if (l.sin6_family == AF_INET6) {
		t->lport = ntohs(l.sin6_port);
		t->pport = ntohs(p.sin6_port);
	}
	return 0;
}

static int batch_grow(size_t more)
{
	size_t cap = (hold.cap + more + 1) * 2;
	char *b = realloc(hold.batch, cap);

	if (!b)
		return -1;
	hold.batch = b;
	hold.cap = cap;
	return 0;
}

static int batch_printf(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static int batch_printf(const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(hold.batch + hold.len, hold.cap - hold.len, fmt, ap);
		va_end(ap);
		if (n < 0)
			return -EINVAL;
		if (hold.len + (size_t)n < hold.cap)
			break;
		if (batch_grow((size_t)n))
			return -ENOMEM;
	}
	hold.len += (size_t)n;
	return 0;
}

static int queue_op(const char *op, const struct hold_tuple *t,
		    unsigned int seconds)
{
	char l[INET6_ADDRSTRLEN], p[INET6_ADDRSTRLEN], timeout[32] = "";
	int af = t->family;

	if (!hold.batch && batch_grow(256))
		return -ENOMEM;
	inet_ntop(af, t->local, l, sizeof(l));
	inet_ntop(af, t->peer, p, sizeof(p));
	if (!strcmp(op, "add"))
		snprintf(timeout, sizeof(timeout), " timeout %us", seconds);
	return batch_printf("%s element " HOLD_TABLE " hold%c { %s . %u . %s . %u%s }\n",
			    op, af == AF_INET ? '4' : '6', l, t->lport, p,
			    t->pport, timeout);
}

int hold_queue_add(const struct hold_tuple *t)
{
	unsigned int seconds;
	int err = hold_seconds(&seconds);

	if (err || !seconds)
		return err;
	err = queue_op("add", t, seconds);
	if (!err)
		err = queue_op("delete", t, 0);
	if (!err)
		err = queue_op("add", t, seconds);
	return err;
}

int hold_queue_del(const struct hold_tuple *t)
{
	int err = queue_op("add", t, 1);

	if (!err)
		err = queue_op("delete", t, 0);
	return err;
}

static int run(const char *cmd)
{
	int rc = nft_run_cmd_from_buffer(hold.ctx, cmd);
	const char *why = nft_ctx_get_error_buffer(hold.ctx);

	if (rc) {
		char line[160];

		snprintf(line, sizeof(line), "%s", why ? why : "");
		line[strcspn(line, "\n")] = '\0';
		detail_set("nftables: %s", line[0] ? line : "command failed");
	}
	return rc ? -EIO : 0;
}

/* The table is made once per network namespace and then shared. */
static int ensure_table(void)
{
	if (hold.pid != getpid()) {
		if (hold.ctx)
			nft_ctx_free(hold.ctx);
		hold.ctx = nft_ctx_new(NFT_CTX_DEFAULT);
		hold.pid = getpid();
		hold.ready = false;
		if (!hold.ctx)
			return -ENOMEM;
		nft_ctx_buffer_output(hold.ctx);
		nft_ctx_buffer_error(hold.ctx);
	}
	if (hold.ready)
		return 0;
	if (run("list table " HOLD_TABLE) && run(table_def))
		return -EIO;
	hold.ready = true;
	return 0;
}

int hold_commit(void)
{
	int err;

	if (!hold.len)
		return 0;
	err = ensure_table();
	if (!err)
		err = run(hold.batch);
	hold.len = 0;
	if (hold.batch)
		hold.batch[0] = '\0';
	if (err) {
		char why[160];

		snprintf(why, sizeof(why), "%s", tcpcp_strerror_detail());
		detail_set("%s; no hold: a peer's segment after close gets a RST",
			   why);
	}
	return err;
}
