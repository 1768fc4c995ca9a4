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
 * Changes are queued and sent at the end of each call (hold_nl.c), each
 * tuple once with its last wanted state.  The table itself is made with
 * libnftables, once per network namespace, when a change finds it missing;
 * libnftables waits on its socket with select(), which aborts a process
 * whose descriptor numbers reach FD_SETSIZE, so with that many descriptors
 * open the table is made by "nft -f -" in a child instead.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/select.h>
#include <sys/wait.h>
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

/* What this call wants changed, in order. */
static struct {
	struct hold_change *q;
	unsigned int n, cap;
} pending;

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

void hold_tuple_of_addrs(const struct sockaddr_in6 *l,
			 const struct sockaddr_in6 *p, struct hold_tuple *t)
{
	memset(t, 0, sizeof(*t));
	if (l->sin6_family == AF_INET) {
		const struct sockaddr_in *l4 = (const void *)l;
		const struct sockaddr_in *p4 = (const void *)p;

		t->family = AF_INET;
		memcpy(t->local, &l4->sin_addr, 4);
		memcpy(t->peer, &p4->sin_addr, 4);
		t->lport = ntohs(l4->sin_port);
		t->pport = ntohs(p4->sin_port);
		return;
	}
	if (IN6_IS_ADDR_V4MAPPED(&l->sin6_addr)) {
		/* a dual-stack socket's IPv4 connection travels as IPv4 */
		t->family = AF_INET;
		memcpy(t->local, &l->sin6_addr.s6_addr[12], 4);
		memcpy(t->peer, &p->sin6_addr.s6_addr[12], 4);
	} else {
		t->family = AF_INET6;
		memcpy(t->local, &l->sin6_addr, 16);
		memcpy(t->peer, &p->sin6_addr, 16);
	}
	t->lport = ntohs(l->sin6_port);
	t->pport = ntohs(p->sin6_port);
}

static int queue_change(const struct hold_tuple *t, bool present,
			unsigned int seconds)
{
	if (pending.n == pending.cap) {
		unsigned int cap = pending.cap ? pending.cap * 2 : 64;
		struct hold_change *q = realloc(pending.q, cap * sizeof(*q));

		if (!q)
			return -ENOMEM;
		pending.q = q;
		pending.cap = cap;
	}
	pending.q[pending.n++] = (struct hold_change){ *t, present, seconds };
	return 0;
}

int hold_queue_add(const struct hold_tuple *t)
{
	unsigned int seconds;
	int err = hold_seconds(&seconds);

	if (err || !seconds)
		return err;
	return queue_change(t, true, seconds);
}

int hold_queue_del(const struct hold_tuple *t)
{
	return queue_change(t, false, 0);
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int fail(const char *why)
{
	char line[160];

	snprintf(line, sizeof(line), "%s", why ? why : "");
	line[strcspn(line, "\n")] = '\0';
	detail_set("nftables: %s", line[0] ? line : "command failed");
	return -EIO;
}

/* The caller's environment less LD_PRELOAD: nft need not carry the shim
 * (or anything else preloaded into the caller).  NULL: no memory. */
static char **env_without_preload(void)
{
	size_t n = 0, i, o = 0;
	char **env;

	while (environ[n])
		n++;
	env = calloc(n + 1, sizeof(*env));
	if (!env)
		return NULL;
	for (i = 0; i < n; i++)
		if (strncmp(environ[i], "LD_PRELOAD=", 11))
			env[o++] = environ[i];
	return env;
}

/* nft with a plain signal state: the caller's thread may block every
 * signal (the shim's worker does). */
static void plain_signals(posix_spawnattr_t *attr)
{
	sigset_t none, all;

	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_init(attr);
	posix_spawnattr_setsigmask(attr, &none);
	posix_spawnattr_setsigdefault(attr, &all);
	posix_spawnattr_setflags(attr,
				 POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
}

/* The transaction in a child: nft -f - with the text on its stdin. */
static int run_spawned(const char *cmd)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	char **env;
	char *argv[] = { "nft", "-f", "-", NULL }, why[160] = "";
	int in[2], err[2], status = -1;
	ssize_t n;
	pid_t pid;

	/* a socket, not a pipe, for nft's input: send() can refuse SIGPIPE */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in))
		return fail(strerror(errno));
	if (pipe2(err, O_CLOEXEC)) {
		close(in[0]);
		close(in[1]);
		return fail(strerror(errno));
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, err[1], 2);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	plain_signals(&attr);
	env = env_without_preload();
	if (!env || posix_spawnp(&pid, "nft", &fa, &attr, argv, env))
		pid = -1;
	free(env);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	close(in[0]);
	close(err[1]);
	/* a short write shows as nft's own error about the truncated input */
	if (pid > 0)
		write_all(in[1], cmd, strlen(cmd));
	close(in[1]);
	n = pid > 0 ? read(err[0], why, sizeof(why) - 1) : 0;
	why[n > 0 ? n : 0] = '\0';
	close(err[0]);
	if (pid < 0)
		return fail("cannot run nft(8) with more than 1023 descriptors open");
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) && !WEXITSTATUS(status) ? 0 : fail(why);
}

static bool is_nfnetlink(int fd)
{
	int v = -1;
	socklen_t len = sizeof(v);

	return !getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len) &&
	       v == AF_NETLINK;
}

/* A context whose socket is below FD_SETSIZE, or NULL: the socket takes
 * the lowest free number, which is checked before and after. */
static struct nft_ctx *make_ctx(void)
{
	int slot = open("/dev/null", O_RDONLY | O_CLOEXEC);
	struct nft_ctx *ctx;

	if (slot < 0 || slot >= FD_SETSIZE) {
		if (slot >= 0)
			close(slot);
		return NULL;
	}
	close(slot);
	ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	if (ctx && !is_nfnetlink(slot)) { /* another thread took the slot */
		nft_ctx_free(ctx);
		return NULL;
	}
	if (ctx) {
		nft_ctx_buffer_output(ctx);
		nft_ctx_buffer_error(ctx);
	}
	return ctx;
}

static int make_table(void)
{
	struct nft_ctx *ctx = make_ctx();
	int err;

	if (!ctx)
		return run_spawned(table_def);
	err = nft_run_cmd_from_buffer(ctx, table_def) ?
		      fail(nft_ctx_get_error_buffer(ctx)) : 0;
	nft_ctx_free(ctx);
	return err;
}

/* The last wanted state of each tuple: a tuple may be held and released
 * within one call (a snapshot), and one batch may not change it twice.
 * Sorted by tuple, then by order of arrival; the last of each run wins. */
struct ordered {
	struct hold_change c;
	unsigned int order;
};

static int by_tuple_then_order(const void *a, const void *b)
{
	const struct ordered *x = a, *y = b;
	int d = memcmp(&x->c.t, &y->c.t, sizeof(x->c.t));

	if (d)
		return d;
	return (x->order > y->order) - (x->order < y->order);
}

static int squash(struct hold_change *q, unsigned int *n)
{
	struct ordered *o = malloc((*n ? *n : 1) * sizeof(*o));
	unsigned int i, out = 0;

	if (!o)
		return -ENOMEM;
	for (i = 0; i < *n; i++)
		o[i] = (struct ordered){ q[i], i };
	qsort(o, *n, sizeof(*o), by_tuple_then_order);
	for (i = 0; i < *n; i++)
		if (i + 1 == *n || memcmp(&o[i].c.t, &o[i + 1].c.t,
					  sizeof(o[i].c.t)))
			q[out++] = o[i].c;
	free(o);
	*n = out;
	return 0;
}

int hold_commit(void)
{
	unsigned int n = pending.n;
	int err;

	pending.n = 0;
	if (!n)
		return 0;
	err = squash(pending.q, &n);
	if (!err)
		err = hold_nl_commit(pending.q, n);
	if (err == -ENOENT) { /* no table yet in this network namespace */
		err = make_table();
		if (!err)
			err = hold_nl_commit(pending.q, n);
	}
	if (err) {
		char why[160];

		snprintf(why, sizeof(why), "%s", err == -EIO ?
			 tcpcp_strerror_detail() : strerror(-err));
		detail_set("hold: %s; no hold: a peer's segment after close gets "
			   "a RST", why);
	}
	return err;
}
