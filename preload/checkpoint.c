// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The control signal's work, in the worker thread: park the program's
 * threads, take the connections its listeners hold but it has not
 * accepted yet, stop(ALL), get_si(ALL), write the image, then do what
 * TCPCP_ON_CHECKPOINT says.  If anything fails before the image is
 * durable, every connection is started again and the program runs on.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../lib/image.h"
#include "../lib/si_codec.h"
#include "../signals/signals.h"
#include "shim.h"
#include "tcpcp.h"

#define PARK_TIMEOUT_MS 2000
#define DRAIN_MAX 65536

struct ckpt {
	char path[4096];
	int dummy;
	void *si;
	unsigned int si_size;
	struct image img;
	struct image_done done;
	char why[256];
};

/* Connections a listener completed but the program has not accepted
 * would be reset when the process exits: take them into the image, and
 * hand them to the program's accept() if it runs on. */
static void drain_one(int fd, const struct fd_entry *e, void *ctx)
{
	struct fd_entry now;
	unsigned int n = 0;
	int c;

	(void)e;
	(void)ctx;
	if (!fdt_valid(fd, &now) || now.kind != FD_LISTENER)
		return;
	while (n++ < DRAIN_MAX) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		/* the listener may be blocking: accept only what is there */
		if (real()->poll(&p, 1, 0) != 1)
			break;
		c = real()->accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (c < 0)
			break;
		fdt_track(c, FD_ACCEPTED, &now.addr);
		handback_add(now.ino, c);
	}
}

struct listener_match {
	const struct tcpcp_conn *conn;
	struct image_conn *rec;
};

static void match_listener(int fd, const struct fd_entry *e, void *ctx)
{
	struct listener_match *m = ctx;
	const struct sockaddr *l = (const struct sockaddr *)&e->addr;
	struct sockaddr_in6 local;
	struct fd_entry now;

	if (m->rec->kind || !fdt_valid(fd, &now) ||
	    sa_port(l) != m->conn->local_port)
		return;
	memset(&local, 0, sizeof(local));
	local.sin6_family = AF_INET6;
	local.sin6_port = htons(m->conn->local_port);
	if (m->conn->ip_version == 4) {
		struct sockaddr_in *l4 = (struct sockaddr_in *)&local;

		l4->sin_family = AF_INET;
		memcpy(&l4->sin_addr, m->conn->local_addr, 4);
	} else {
		memcpy(&local.sin6_addr, m->conn->local_addr, 16);
	}
	if (!sa_is_wildcard(l) && !sa_equal(l, (struct sockaddr *)&local))
		return;
	m->rec->kind = IMAGE_KIND_ACCEPTED;
	sa_copy((struct sockaddr_in6 *)&m->rec->listener, l, sa_len(l));
	m->rec->listener_len = sa_len(l);
}

/* What the shim knows of a connection; an entry that is stale or says
 * nothing is replaced by a listener of the process on its local port. */
static void describe(const struct tcpcp_conn *c, struct image_conn *rec)
{
	struct listener_match m = { c, rec };
	struct fd_entry e;
	bool valid;

	memset(rec, 0, sizeof(*rec));
	rec->fd = (int32_t)c->fd;
	valid = fdt_valid((int)c->fd, &e);
	if (valid && e.kind == FD_CONNECTED) {
		rec->kind = IMAGE_KIND_CONNECTED;
		return;
	}
	if (valid && e.kind == FD_ACCEPTED && e.addr.sin6_family) {
		rec->kind = IMAGE_KIND_ACCEPTED;
		rec->listener_len = sa_len((struct sockaddr *)&e.addr);
		memcpy(&rec->listener, &e.addr, rec->listener_len);
		return;
	}
	fdt_each(FD_LISTENER, match_listener, &m);
	if (!rec->kind)
		rec->kind = IMAGE_KIND_CONNECTED;
}

static int fill_image(struct ckpt *k)
{
	uint32_t off = TCPCP_SI_TOTAL_HDR_LEN;
	struct tcpcp_conn c;
	unsigned int n, i;
	const char *backend = tcpcp_backend_name();
	int err = si_check(k->si, k->si_size, &n);

	if (err)
		return err;
	k->img.conns = calloc(n ? n : 1, sizeof(*k->img.conns));
	if (!k->img.conns)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		si_decode_conn(k->si, k->si_size, &off, &c);
		describe(&c, &k->img.conns[i]);
	}
	k->img.n_conns = n;
	k->done.connections = n;
	k->img.si = k->si;
	k->img.si_len = k->si_size;
	k->img.pid = (uint32_t)getpid();
	gethostname(k->img.host, IMAGE_HOST_MAX);
	strncpy(k->img.backend, backend ? backend : "?", IMAGE_BACKEND_MAX);
	{
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		k->img.created_ns = (uint64_t)ts.tv_sec * 1000000000ull +
				    (uint64_t)ts.tv_nsec;
	}
	return 0;
}

/* stop(ALL) then get_si(ALL); any connection that fails fails it all:
 * with TCPCP_ON_CHECKPOINT=exit it would be lost. */
static int save(struct ckpt *k)
{
	struct result_list *rl = NULL;
	int err = 0;

	if (tcpcp_stop(k->dummy, TCPCP_EXEC_ALL, &rl) != TCPCP_RET_OK)
		err = -errno;
	else if (rl->fd_ng)
		err = -EIO;
	if (err) {
		snprintf(k->why, sizeof(k->why), "stop: %s%s%s",
			 err == -EIO ? "a connection could not be stopped" :
				       strerror(-err),
			 *tcpcp_strerror_detail() ? ": " : "",
			 tcpcp_strerror_detail());
		free(rl);
		return err;
	}
	k->done.connections = rl->fd_all;
	free(rl);
	rl = NULL;
	if (tcpcp_get_si(k->dummy, TCPCP_EXEC_ALL, &k->si, &k->si_size, &rl) !=
	    TCPCP_RET_OK || rl->fd_ng) {
		err = rl ? -EIO : -errno;
		snprintf(k->why, sizeof(k->why), "get_si: %s",
			 *tcpcp_strerror_detail() ? tcpcp_strerror_detail() :
						    strerror(-err));
	}
	free(rl);
	return err;
}

static void start_all(struct ckpt *k)
{
	struct result_list *rl = NULL;

	/* a stop that failed as a whole stopped nothing */
	if (tcpcp_start(k->dummy, TCPCP_EXEC_ALL, &rl) != TCPCP_RET_OK ?
		    k->done.connections : rl->fd_ng)
		shim_log("start after checkpoint: %u of %u connections did not "
			 "start: %s", rl ? rl->fd_ng : 0, rl ? rl->fd_all : 0,
			 tcpcp_strerror_detail());
	free(rl);
}

static int image_size(const char *path, uint64_t *ret)
{
	struct stat st;

	if (stat(path, &st))
		return -errno;
	*ret = (uint64_t)st.st_size;
	return 0;
}

static int write_out(struct ckpt *k)
{
	int err = fill_image(k);

	if (err) {
		snprintf(k->why, sizeof(k->why), "the TCP-SI is malformed");
		return err;
	}
	err = image_write(k->path, &k->img, k->why, sizeof(k->why));
	if (!err)
		image_size(k->path, &k->done.bytes);
	return err;
}

static void report(struct ckpt *k, int err, uint64_t signal_ns)
{
	k->done.ok = !err;
	k->done.pid = (uint32_t)getpid();
	k->done.freeze_us = (shim_now_ns() - signal_ns) / 1000;
	snprintf(k->done.action, sizeof(k->done.action), "%s",
		 err ? "continue" : shim_action_name(shim_cfg.action));
	snprintf(k->done.image, sizeof(k->done.image), "%s", k->path);
	snprintf(k->done.error, sizeof(k->done.error), "%s", k->why);
	if (err)
		shim_log("checkpoint failed, every connection runs on: %s",
			 k->why);
	else
		shim_log("checkpoint: %u connections saved to %s (%llu bytes) "
			 "in %llu us; then %s", k->done.connections, k->path,
			 (unsigned long long)k->done.bytes,
			 (unsigned long long)k->done.freeze_us, k->done.action);
	if (image_done_write(k->path, &k->done))
		shim_log("cannot write %s.done: %m", k->path);
}

/* After IMAGE.done: the process goes, or runs on. */
static void act(int err)
{
	if (!err && shim_cfg.action == ACTION_EXIT)
		_exit(0); /* stopped sockets close silently; the hold stays */
	park_release();
	if (!err && shim_cfg.action == ACTION_TERM)
		kill(getpid(), SIGTERM);
}

void checkpoint_run(uint64_t signal_ns)
{
	static struct ckpt k;
	int parked, err;

	memset(&k, 0, sizeof(k));
	if (shim_image_path(shim_cfg.image, getpid(), k.path, sizeof(k.path)))
		return; /* checked at start */
	parked = park_others(PARK_TIMEOUT_MS);
	if (parked < 0) {
		snprintf(k.why, sizeof(k.why), "the program's threads did not "
			 "stop within %d ms", PARK_TIMEOUT_MS);
		report(&k, parked, signal_ns);
		return;
	}
	park_watchdog(true);
	fdt_each(FD_LISTENER, drain_one, NULL);
	k.dummy = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	err = k.dummy < 0 ? -errno : save(&k);
	if (!err && !park_aborted())
		err = write_out(&k);
	if (park_aborted()) {
		snprintf(k.why, sizeof(k.why), "abandoned after its watchdog "
			 "released the program's threads (a parked thread "
			 "held a lock the checkpoint needed: MALLOC_ARENA_MAX?)");
		err = -ETIMEDOUT;
	}
	/* started before IMAGE.done says so: whoever waits for it may use
	 * the connections at once */
	if (err || shim_cfg.action == ACTION_CONTINUE)
		start_all(&k);
	report(&k, err, signal_ns);
	/* start_all and report allocate too, threads still parked */
	park_watchdog(false);
	act(err);
	if (k.dummy >= 0)
		close(k.dummy);
	free(k.si);
	free(k.img.conns);
}
