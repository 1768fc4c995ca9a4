// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * TCPCP_RESTORE: the restarted process gets its connections back when it
 * claims them.  The constructor only reads and checks the image; the hold
 * keeps the peers from seeing a RST meanwhile.
 *
 *  - accepted: the program's bind() to the address their listener had
 *    rebuilds them (set_si, start), gives each SO_REUSEADDR (repair-off
 *    cleared it) and the program's listener too, so its bind succeeds;
 *    accept() then returns them first (handback.c);
 *  - connected: the program's connect() to the same peer makes its socket
 *    the restored connection;
 *  - TCPCP_RESTORE_FD=1: everything at its old descriptor, at start;
 *  - what nobody claims in TCPCP_CLAIM_SECONDS is started and closed
 *    gracefully (FIN), never abandoned.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "../lib/image.h"
#include "../lib/si_codec.h"
#include "../signals/signals.h"
#include "shim.h"
#include "tcpcp.h"

enum claim_state { UNCLAIMED, CLAIMED, FAILED };

struct claim {
	const uint8_t *raw; /* the connection's TCP-SI bytes in img.si */
	uint32_t raw_len;
	struct sockaddr_in6 local, peer;
	struct image_conn rec;
	enum claim_state state;
};

static struct image img;
static struct claim *claims;
static unsigned int n_claims;
static unsigned int n_left; /* UNCLAIMED */
static unsigned int n_rebuilding; /* claimed, being rebuilt */
static uint64_t deadline_ms;
/* Set while this thread is inside libtcpcp: the library's own bind() and
 * connect() of a rebuilt socket come through the shim's interposers and
 * must not claim anything (it would wait on the library's lock, held). */
static __thread int in_lib __attribute__((tls_model("initial-exec")));
static pthread_mutex_t restore_lock = PTHREAD_MUTEX_INITIALIZER;


bool restore_pending(void)
{
	return __atomic_load_n(&n_left, __ATOMIC_RELAXED) > 0 && !in_lib;
}

bool restore_settled(void)
{
	return !__atomic_load_n(&n_left, __ATOMIC_RELAXED) &&
	       !__atomic_load_n(&n_rebuilding, __ATOMIC_RELAXED) &&
	       !handback_total();
}

static void conn_addr(const struct tcpcp_conn *c, bool local,
		      struct sockaddr_in6 *sa)
{
	memset(sa, 0, sizeof(*sa));
	if (c->ip_version == 4) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)sa;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(local ? c->local_port : c->peer_port);
		memcpy(&s4->sin_addr, local ? c->local_addr : c->peer_addr, 4);
		return;
	}
	sa->sin6_family = AF_INET6;
	sa->sin6_port = htons(local ? c->local_port : c->peer_port);
	memcpy(&sa->sin6_addr, local ? c->local_addr : c->peer_addr, 16);
	sa->sin6_scope_id = c->scope_id;
}

static int index_claims(void)
{
	uint32_t off = TCPCP_SI_TOTAL_HDR_LEN;
	struct tcpcp_conn c;
	unsigned int i;
	int err;

	claims = calloc(img.n_conns ? img.n_conns : 1, sizeof(*claims));
	if (!claims)
		return -ENOMEM;
	for (i = 0; i < img.n_conns; i++) {
		err = si_decode_conn(img.si, img.si_len, &off, &c);
		if (err)
			return err; /* image_read checked it: cannot happen */
		claims[i].raw = c.raw;
		claims[i].raw_len = c.raw_len;
		conn_addr(&c, true, &claims[i].local);
		conn_addr(&c, false, &claims[i].peer);
		claims[i].rec = img.conns[i];
		claims[i].state = UNCLAIMED;
	}
	n_claims = img.n_conns;
	return 0;
}

/*
 * An image describes its connections only until they run again.  Once a
 * process has started one of them, restoring the same image a second
 * time (a restart after a checkpoint that was killed before its rename
 * left the old image in place) would rebuild sockets whose sequence
 * numbers the peers have left behind: each end ignores the other's
 * segments, the peer until its retransmissions give up (tcp_retries2,
 * about 15 minutes), the server's side for ever.  So the first start
 * leaves IMAGE.restored beside the image, naming the image by its
 * creation time, and a restore of that same image says why it does not
 * restore.
 */
#define USED_SUFFIX ".restored"

static void used_path(char *buf, size_t len)
{
	snprintf(buf, len, "%s" USED_SUFFIX, shim_cfg.restore);
}

static void mark_used(void)
{
	static int marked;
	char path[sizeof(shim_cfg.restore) + sizeof(USED_SUFFIX)], text[96];
	struct iovec iov;
	int n, err;

	if (__atomic_exchange_n(&marked, 1, __ATOMIC_RELAXED))
		return;
	n = snprintf(text, sizeof(text), "created_ns=%llu\npid=%d\n",
		     (unsigned long long)img.created_ns, (int)getpid());
	used_path(path, sizeof(path));
	iov = (struct iovec){ text, (size_t)n };
	err = image_file_write(path, &iov, 1, IMAGE_DURABLE, NULL, 0);
	if (err)
		shim_log("cannot write %s (%s): a second restore of %s would "
			 "not know that its connections have run on",
			 path, strerror(-err), shim_cfg.restore);
}

/* The pid that restored this very image already, or 0. */
static int used_by(void)
{
	char path[sizeof(shim_cfg.restore) + sizeof(USED_SUFFIX)], text[96];
	unsigned long long created = 0;
	ssize_t n;
	int fd, pid = 0;

	used_path(path, sizeof(path));
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return 0;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	text[n] = '\0';
	if (sscanf(text, "created_ns=%llu\npid=%d", &created, &pid) != 2 ||
	    created != img.created_ns)
		return 0;
	return pid > 0 ? pid : 1;
}

void restore_load(void)
{
	char why[256];
	int err, pid;

	if (!shim_cfg.restore[0])
		return;
	/* consumed here: a child or an exec'd program must not claim again */
	unsetenv("TCPCP_RESTORE");
	err = image_read(shim_cfg.restore, &img, why, sizeof(why));
	if (!err && (pid = used_by())) {
		snprintf(why, sizeof(why), "pid %d restored this image "
			 "already; its connections have run on since and no "
			 "longer match their peers (who get a reset when their "
			 "hold expires)", pid);
		err = -ESTALE;
	}
	if (!err)
		err = index_claims();
	if (err) {
		shim_log("not restoring from %s: %s; the program starts "
			 "without its connections", shim_cfg.restore,
			 why[0] ? why : strerror(-err));
		image_free(&img);
		n_claims = 0;
		return;
	}
	deadline_ms = shim_now_ns() / 1000000 +
		      shim_cfg.claim_seconds * 1000ull;
	/* the hold from here on, not from the program's bind(): a peer's
	 * segment meanwhile would otherwise meet no socket (a RST) */
	if (n_claims && tcpcp_hold(img.si, img.si_len) != TCPCP_RET_OK)
		shim_log("no hold before the connections are claimed: %s",
			 tcpcp_strerror_detail());
	__atomic_store_n(&n_left, n_claims, __ATOMIC_RELAXED);
	shim_log("restoring %u connections from %s (pid %u on %s); they come "
		 "back when the program binds their listener or connects to "
		 "their peer, within %u s",
		 n_claims, shim_cfg.restore, img.pid, img.host,
		 shim_cfg.claim_seconds);
}

/* One TCP-SI holding the chosen connections, for tcpcp_set_si(). */
static void *subset_si(const unsigned int *idx, unsigned int n,
		       uint32_t *ret_size)
{
	uint32_t size = TCPCP_SI_TOTAL_HDR_LEN, off;
	unsigned int i;
	uint8_t *buf;

	for (i = 0; i < n; i++)
		size += claims[idx[i]].raw_len;
	buf = malloc(size);
	if (!buf)
		return NULL;
	si_encode_total(buf, size, (uint16_t)n);
	off = TCPCP_SI_TOTAL_HDR_LEN;
	for (i = 0; i < n; i++) {
		memcpy(buf + off, claims[idx[i]].raw, claims[idx[i]].raw_len);
		off += claims[idx[i]].raw_len;
	}
	*ret_size = size;
	return buf;
}

static void log_failed(const struct claim *c, int err, const char *detail)
{
	char l[64], p[64];

	shim_log("restoring %s <-> %s failed: %s%s%s%s",
		 sa_str((const struct sockaddr *)&c->local, l, sizeof(l)),
		 sa_str((const struct sockaddr *)&c->peer, p, sizeof(p)),
		 strerror(err), detail && *detail ? ": " : "",
		 detail ? detail : "",
		 err == EADDRNOTAVAIL ? " (the address is not on this host: "
					"move it here first)" : "");
}

/*
 * Rebuilds and starts claims idx[0..n); ret_fds[i] is the live descriptor
 * or -1 (logged, state FAILED).  In a shim critical section: the library's
 * lock must never be held by a parked thread.
 */
/* The result start(ALL) gave fd; -ENOENT if it did not list it. */
static int start_result(const struct result_list *sl, int fd)
{
	unsigned int i;

	for (i = 0; sl && i < sl->fd_all; i++)
		if (sl->fdrs[i].fd == fd)
			return sl->fdrs[i].result;
	return -ENOENT;
}

/* Starts what set_si rebuilt, all in one call (one hold transaction,
 * not one per connection): ret_fds[i] for each success.  start(ALL) takes
 * every stopped socket of the process, and at a claim those are the ones
 * just rebuilt. */
static void start_rebuilt(int dummy, const struct result_list *rl,
			  const unsigned int *idx, unsigned int n, int *ret_fds)
{
	struct result_list *sl = NULL;
	unsigned int i;
	int err = 0;

	if (tcpcp_start(dummy, TCPCP_EXEC_ALL, &sl) != TCPCP_RET_OK)
		err = -errno;
	for (i = 0; i < n && i < rl->fd_all; i++) {
		int fd = rl->fdrs[i].result, r;

		if (fd < 0) {
			log_failed(&claims[idx[i]], -fd, tcpcp_strerror_detail());
			continue;
		}
		r = err ? err : start_result(sl, fd);
		if (r) {
			log_failed(&claims[idx[i]], -r, tcpcp_strerror_detail());
			close(fd);
			continue;
		}
		ret_fds[i] = fd;
	}
	free(sl);
}

static void rebuild(const unsigned int *idx, unsigned int n, int *ret_fds)
{
	struct result_list *rl = NULL;
	uint32_t size = 0;
	unsigned int i;
	void *si;
	int dummy;

	for (i = 0; i < n; i++)
		ret_fds[i] = -1;
	crit_enter();
	in_lib++;
	si = subset_si(idx, n, &size);
	dummy = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (si && dummy >= 0 &&
	    tcpcp_set_si(dummy, TCPCP_EXEC_ALL, si, size, &rl) == TCPCP_RET_OK)
		start_rebuilt(dummy, rl, idx, n, ret_fds);
	else
		for (i = 0; i < n; i++)
			log_failed(&claims[idx[i]], si ? errno : ENOMEM,
				   tcpcp_strerror_detail());
	free(rl);
	free(si);
	if (dummy >= 0)
		close(dummy);
	in_lib--;
	crit_leave();
	for (i = 0; i < n; i++) {
		claims[idx[i]].state = ret_fds[i] >= 0 ? CLAIMED : FAILED;
		if (ret_fds[i] >= 0)
			mark_used();
	}
	__atomic_sub_fetch(&n_rebuilding, n, __ATOMIC_RELAXED);
}

/* Marks and collects the unclaimed claims that match; how many. */
static unsigned int pick(bool (*match)(const struct claim *, const void *),
			 const void *arg, unsigned int *idx, unsigned int max)
{
	unsigned int i, n = 0;

	for (i = 0; i < n_claims && n < max; i++)
		if (claims[i].state == UNCLAIMED && match(&claims[i], arg)) {
			idx[n++] = i;
			claims[i].state = CLAIMED;
			/* rebuilding before unclaimed: never both 0 between */
			__atomic_add_fetch(&n_rebuilding, 1, __ATOMIC_RELAXED);
			__atomic_sub_fetch(&n_left, 1, __ATOMIC_RELAXED);
		}
	return n;
}

static bool listener_is(const struct claim *c, const void *sa)
{
	return c->rec.kind == IMAGE_KIND_ACCEPTED &&
	       sa_equal((const struct sockaddr *)&c->rec.listener, sa);
}

static void set_reuse(int fd)
{
	int one = 1;

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
}

void restore_on_bind(int fd, const struct sockaddr *sa, socklen_t len)
{
	unsigned int *idx, n, i, ok = 0;
	uint64_t t0 = shim_now_ns() / 1000;
	struct sockaddr_in6 bound;
	struct fd_entry l;
	int *fds;
	char a[64];

	idx = calloc(n_claims, sizeof(*idx));
	fds = calloc(n_claims, sizeof(*fds));
	if (!idx || !fds || !fdt_get(fd, &l))
		goto out;
	pthread_mutex_lock(&restore_lock);
	n = pick(listener_is, sa, idx, n_claims);
	pthread_mutex_unlock(&restore_lock);
	if (!n)
		goto out;
	rebuild(idx, n, fds);
	set_reuse(fd);
	sa_copy(&bound, sa, len);
	for (i = 0; i < n; i++) {
		if (fds[i] < 0)
			continue;
		set_reuse(fds[i]);
		fdt_track(fds[i], FD_ACCEPTED, &bound);
		handback_add(l.ino, fds[i]);
		ok++;
	}
	if (ok)
		shim_log("bind %s: %u of %u connections restored in %llu us, "
			 "waiting for accept()", sa_str(sa, a, sizeof(a)), ok,
			 n, (unsigned long long)(shim_now_ns() / 1000 - t0));
	else
		shim_log("bind %s: none of its %u connections could be "
			 "restored (see above)", sa_str(sa, a, sizeof(a)), n);
out:
	free(idx);
	free(fds);
}

static bool peer_is(const struct claim *c, const void *sa)
{
	return c->rec.kind == IMAGE_KIND_CONNECTED &&
	       sa_equal((const struct sockaddr *)&c->peer, sa);
}

/* The restored socket takes the program's descriptor number, keeping the
 * program's O_NONBLOCK and FD_CLOEXEC. */
static int take_place(int fd, int restored)
{
	int fl = fcntl(fd, F_GETFL), fdfl = fcntl(fd, F_GETFD);

	if (fl < 0 || fdfl < 0 ||
	    fcntl(restored, F_SETFL, fl & O_NONBLOCK) ||
	    dup3(restored, fd, (fdfl & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0)
		return -errno;
	close(restored);
	return 0;
}

bool restore_on_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	unsigned int idx;
	int restored, err;
	char a[64];

	(void)len;
	pthread_mutex_lock(&restore_lock);
	if (!pick(peer_is, sa, &idx, 1)) {
		pthread_mutex_unlock(&restore_lock);
		return false;
	}
	pthread_mutex_unlock(&restore_lock);
	rebuild(&idx, 1, &restored);
	if (restored < 0)
		return false;
	err = take_place(fd, restored);
	if (err) {
		shim_log("connect %s: restored connection not placed on fd %d: "
			 "%s; closed", sa_str(sa, a, sizeof(a)), fd,
			 strerror(-err));
		close(restored);
		return false;
	}
	fdt_track(fd, FD_CONNECTED, NULL);
	shim_log("connect %s: restored on fd %d", sa_str(sa, a, sizeof(a)), fd);
	return true;
}

static bool any(const struct claim *c, const void *arg)
{
	(void)c;
	(void)arg;
	return true;
}

/* Claims everything still unclaimed; the descriptors in *ret_fds. */
static unsigned int claim_rest(unsigned int **ret_idx, int **ret_fds)
{
	unsigned int *idx = calloc(n_claims ? n_claims : 1, sizeof(*idx));
	int *fds = calloc(n_claims ? n_claims : 1, sizeof(*fds));
	unsigned int n = 0;

	if (idx && fds) {
		pthread_mutex_lock(&restore_lock);
		n = pick(any, NULL, idx, n_claims);
		pthread_mutex_unlock(&restore_lock);
		rebuild(idx, n, fds);
	}
	*ret_idx = idx;
	*ret_fds = fds;
	return n;
}

/* TCPCP_RESTORE_FD=1: every connection at the descriptor it had. */
void restore_at_start(void)
{
	unsigned int *idx, n, i, moved = 0;
	int *fds;

	n = claim_rest(&idx, &fds);
	for (i = 0; i < n; i++) {
		const struct claim *c = &claims[idx[i]];
		int want = c->rec.fd, fdfl;

		if (fds[i] < 0)
			continue;
		if (want != fds[i] && fcntl(want, F_GETFD) >= 0) {
			shim_log("fd %d is taken: connection restored on fd %d "
				 "instead", want, fds[i]);
		} else if (want != fds[i]) {
			fdfl = fcntl(fds[i], F_GETFD);
			if (dup3(fds[i], want, fdfl & FD_CLOEXEC ? O_CLOEXEC : 0) ==
			    want) {
				close(fds[i]);
				fds[i] = want;
			}
		}
		fdt_track(fds[i], c->rec.kind == IMAGE_KIND_ACCEPTED ?
			  FD_ACCEPTED : FD_CONNECTED,
			  c->rec.kind == IMAGE_KIND_ACCEPTED ?
			  (const struct sockaddr_in6 *)&c->rec.listener : NULL);
		moved += fds[i] == want;
	}
	shim_log("restored %u connections at start, %u at their old "
		 "descriptor", n, moved);
	free(idx);
	free(fds);
}

/* Closing a socket with unread bytes sends RST, not FIN (RFC 2525,
 * 2.17), and the RST throws away what was still queued for the peer. */
static void discard_unread(int fd)
{
	char sink[4096];

	while (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0)
		;
}

int restore_expire(void)
{
	unsigned int *idx, n, i, closed = 0;
	uint64_t now;
	int *fds;

	if (!restore_pending())
		return -1;
	now = shim_now_ns() / 1000000;
	if (now < deadline_ms)
		return (int)(deadline_ms - now);
	n = claim_rest(&idx, &fds);
	for (i = 0; i < n; i++)
		if (fds[i] >= 0) {
			discard_unread(fds[i]);
			shutdown(fds[i], SHUT_WR);
			close(fds[i]);
			closed++;
		}
	if (n)
		shim_log("%u connections nobody claimed within %u s were "
			 "closed (FIN)", closed, shim_cfg.claim_seconds);
	free(idx);
	free(fds);
	return -1;
}

/* A child of fork leaves the claims to its parent. */
void restore_after_fork_child(void)
{
	pthread_mutex_init(&restore_lock, NULL);
	__atomic_store_n(&n_left, 0, __ATOMIC_RELAXED);
}
