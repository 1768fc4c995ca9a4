// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The kmod backend: each public call is one ioctl on /dev/tcpcp2
 * (include/tcpcp_ioctl.h), for one socket or for every TCP socket of the
 * process; tcpcp2.ko walks the descriptor table itself.  Without the
 * device, or with a module of another ABI, the backend reports ENOSYS with
 * the reason, as the manual asks.
 *
 * The module says how much room its answer needs (ENOSPC) without doing
 * anything, so a call that did not fit is simply made again with more.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "backend.h"
#include "hold.h"
#include "internal.h"
#include "si_codec.h"
#include "tcpcp_ioctl.h"

/* Answers that need more room are retried this often: a running socket's
 * queues may grow between two tries of get_si. */
#define TRIES 8
#define FIRST_RESULTS 64u
#define FIRST_SI (64u * 1024)

static int kmod_probe(char *why, size_t len)
{
	struct tcpcp_ioc_version v = { .size = sizeof(v) };
	int fd = open(TCPCP_DEVICE, O_RDWR | O_CLOEXEC), err = 0;

	if (fd < 0) {
		snprintf(why, len, "kmod backend: %s: %s (is tcpcp2.ko loaded?)",
			 TCPCP_DEVICE, strerror(errno));
		return -ENOSYS;
	}
	if (ioctl(fd, TCPCP_IOC_VERSION, &v)) {
		snprintf(why, len, "kmod backend: %s does not answer: %s",
			 TCPCP_DEVICE, strerror(errno));
		err = -ENOSYS;
	} else if (v.version != TCPCP_IOCTL_VERSION ||
		   v.si_major != TCPCP_SI_MAJOR) {
		snprintf(why, len,
			 "kmod backend: tcpcp2.ko speaks ioctl ABI %u and TCP-SI "
			 "%u, this libtcpcp %u and %u", v.version, v.si_major,
			 TCPCP_IOCTL_VERSION, TCPCP_SI_MAJOR);
		err = -ENOSYS;
	}
	close(fd);
	return err;
}

static const unsigned long cmd_of[] = {
	[BACKEND_STOP] = TCPCP_IOC_STOP,
	[BACKEND_GET_SI] = TCPCP_IOC_GET_SI,
	[BACKEND_SET_SI] = TCPCP_IOC_SET_SI,
	[BACKEND_START] = TCPCP_IOC_START,
	[BACKEND_CLOSE] = TCPCP_IOC_CLOSE,
	[BACKEND_HOLD] = TCPCP_IOC_HOLD,
};

/* What the caller's buffers hold between tries. */
struct room {
	struct tcpcp_ioc_result *res;
	uint32_t res_cap;
	uint8_t *si;
	uint32_t si_cap;
};

static void room_free(struct room *r)
{
	free(r->res);
	free(r->si);
}

static int room_grow(struct room *r, uint32_t res_cap, uint32_t si_cap)
{
	void *p;

	if (res_cap > r->res_cap || !r->res) {
		p = realloc(r->res, (res_cap ? res_cap : 1) * sizeof(*r->res));
		if (!p)
			return -ENOMEM;
		r->res = p;
		r->res_cap = res_cap;
	}
	if (si_cap > r->si_cap) {
		p = realloc(r->si, si_cap);
		if (!p)
			return -ENOMEM;
		r->si = p;
		r->si_cap = si_cap;
	}
	return 0;
}

/* TCPCP_HOLD_SECONDS, when it is set, over the module's default. */
static void set_hold(const struct backend_call *c, struct tcpcp_ioc_call *a)
{
	const char *env = getenv("TCPCP_HOLD_SECONDS");
	unsigned int secs;

	if ((c->op != BACKEND_STOP && c->op != BACKEND_SET_SI &&
	     c->op != BACKEND_HOLD) || !env ||
	    !*env || hold_seconds(&secs))
		return;
	a->flags |= TCPCP_IOC_F_HOLD;
	a->hold_seconds = secs;
}

static void fill(const struct backend_call *c, const struct room *r,
		 struct tcpcp_ioc_call *a)
{
	memset(a, 0, sizeof(*a));
	a->size = sizeof(*a);
	a->version = TCPCP_IOCTL_VERSION;
	a->fd = c->fd;
	if (c->flag == TCPCP_EXEC_ALL && c->op != BACKEND_CLOSE)
		a->flags |= TCPCP_IOC_F_ALL;
	set_hold(c, a);
	a->results = (uintptr_t)r->res;
	a->results_cap = r->res_cap;
	if (c->op == BACKEND_GET_SI) {
		a->si = (uintptr_t)r->si;
		a->si_size = r->si_cap;
	} else if (c->op == BACKEND_SET_SI || c->op == BACKEND_HOLD) {
		a->si = (uintptr_t)c->si;
		a->si_size = c->si_size;
	}
	if (c->op == BACKEND_HOLD) {
		a->fd = -1;
		a->results = 0;
		a->results_cap = 0;
	}
}

/* The ioctl, made again with more room as long as the module asks. */
static int ioctl_fitting(int dev, const struct backend_call *c, struct room *r,
			 struct tcpcp_ioc_call *a)
{
	uint32_t res_cap = c->flag == TCPCP_EXEC_ALL ? FIRST_RESULTS : 1;
	uint32_t si_cap = c->op == BACKEND_GET_SI ? FIRST_SI : 0;
	unsigned int count;
	int tries, err = 0;

	/* set_si: one result per connection, and the buffer says how many */
	if (c->op == BACKEND_SET_SI && c->flag == TCPCP_EXEC_ALL &&
	    !si_check_total(c->si, c->si_size, &count))
		res_cap = count;
	for (tries = 0; tries < TRIES; tries++) {
		err = room_grow(r, res_cap, si_cap);
		if (err)
			return err;
		fill(c, r, a);
		if (!ioctl(dev, cmd_of[c->op], a))
			return 0;
		err = -errno;
		if (err != -ENOSPC)
			return err;
		if (a->results_count > res_cap)
			res_cap = a->results_count + 16;
		if (a->si_len > si_cap)
			si_cap = a->si_len + a->si_len / 8 + FIRST_SI;
		if (res_cap > TCPCP_IOC_RESULTS_MAX)
			return -E2BIG;
	}
	detail_set("the sockets' queues kept growing while they were read");
	return -EBUSY;
}

static void explain(int err, const struct backend_call *c)
{
	if (err == -EPERM)
		detail_set("set_si and start need CAP_NET_ADMIN in the socket's "
			   "network namespace");
	else if (err == -EADDRNOTAVAIL || err == -EADDRINUSE)
		detail_set("a socket with this connection's addresses and ports "
			   "still exists");
	else if (err == -EBADFD && c->op == BACKEND_CLOSE)
		detail_set("socket is live; tcpcp_stop() it first");
	else if (err == -EBADFD)
		detail_set(c->op == BACKEND_SET_SI ?
				   "socket is connected or listening" :
				   "socket is not connected");
	else if (err == -EBUSY)
		detail_set("socket is in TCP_REPAIR mode, but not by tcpcp");
}

static int take_results(const struct tcpcp_ioc_call *a, const struct room *r,
			struct result_list **reslst)
{
	struct reslist_builder rb;
	uint32_t i;
	int err = reslist_init(&rb, a->results_count);

	if (err)
		return err;
	for (i = 0; i < a->results_count && i < r->res_cap; i++)
		reslist_add(&rb, r->res[i].fd, r->res[i].result);
	*reslst = reslist_take(&rb);
	return 0;
}

static int take_si(const struct tcpcp_ioc_call *a, struct room *r,
		   const struct backend_call *c)
{
	uint8_t *buf = realloc(r->si, a->si_len ? a->si_len : 1);

	if (!buf)
		return -ENOMEM;
	r->si = NULL;
	r->si_cap = 0;
	*c->ret_si = buf;
	*c->ret_si_size = a->si_len;
	return 0;
}

static int kmod_call(const struct backend_call *c, struct result_list **reslst)
{
	struct room r = { 0 };
	struct tcpcp_ioc_call a;
	int dev, err;

	dev = open(TCPCP_DEVICE, O_RDWR | O_CLOEXEC);
	if (dev < 0) {
		detail_set("kmod backend: %s: %s (was tcpcp2.ko unloaded?)",
			   TCPCP_DEVICE, strerror(errno));
		return -ENOSYS;
	}
	err = ioctl_fitting(dev, c, &r, &a);
	close(dev);
	if (!err && reslst)
		err = take_results(&a, &r, reslst);
	if (!err && c->op == BACKEND_GET_SI) {
		err = take_si(&a, &r, c);
		if (err) {
			free(*reslst);
			*reslst = NULL;
		}
	}
	if (err)
		explain(err, c);
	room_free(&r);
	return err;
}

const struct tcpcp_backend backend_kmod = {
	.name = "kmod",
	.probe = kmod_probe,
	.call = kmod_call,
};
