// SPDX-License-Identifier: LGPL-2.1-or-later
/* TCPCP_BACKEND=auto|kmod|repair: which backend serves the calls. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "accel.h"
#include "backend.h"
#include "sock_snap.h"
#include "internal.h"

/* A probe costs syscalls and its answer does not change: ask once. */
struct probe_cache {
	pthread_once_t once;
	int result;
	char why[200];
};

static struct probe_cache kmod_cache = { PTHREAD_ONCE_INIT, 0, "" };
static struct probe_cache repair_cache = { PTHREAD_ONCE_INIT, 0, "" };

static void probe_kmod(void)
{
	kmod_cache.result = backend_kmod.probe(kmod_cache.why,
					       sizeof(kmod_cache.why));
}

static void probe_repair(void)
{
	repair_cache.result = backend_repair.probe(repair_cache.why,
						   sizeof(repair_cache.why));
}

static int probed(const struct tcpcp_backend *b)
{
	struct probe_cache *c = b == &backend_kmod ? &kmod_cache : &repair_cache;

	pthread_once(&c->once, b == &backend_kmod ? probe_kmod : probe_repair);
	if (c->result)
		detail_set("%s", c->why);
	return c->result;
}

int backend_select(const struct tcpcp_backend **ret)
{
	const char *want = getenv("TCPCP_BACKEND");
	const struct tcpcp_backend *b;
	unsigned int accel;

	if (accel_allowed(&accel))
		return -ENOSYS;
	if (!want || !*want || !strcmp(want, "auto")) {
		b = probed(&backend_kmod) ? &backend_repair : &backend_kmod;
	} else if (!strcmp(want, "kmod")) {
		b = &backend_kmod;
	} else if (!strcmp(want, "repair")) {
		b = &backend_repair;
	} else {
		detail_set("TCPCP_BACKEND=%.40s: expected auto, kmod or repair",
			   want);
		return -ENOSYS;
	}
	if (probed(b))
		return -ENOSYS;
	detail_clear();
	*ret = b;
	return 0;
}

void conn_free_queues(struct tcpcp_conn *c)
{
	free((void *)c->sndq);
	free((void *)c->rcvq);
	c->sndq = NULL;
	c->rcvq = NULL;
}

TCPCP_EXPORT const char *tcpcp_backend_name(void)
{
	const struct tcpcp_backend *b;
	int err = backend_select(&b);

	if (err) {
		errno = -err;
		return NULL;
	}
	return b->name;
}

TCPCP_EXPORT int tcpcp_prepare(void)
{
	const struct tcpcp_backend *b;
	int err = backend_select(&b);

	if (err) {
		errno = -err;
		return TCPCP_RET_NG;
	}
	if (b == &backend_repair)
		snap_prepare();
	return TCPCP_RET_OK;
}
