// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * tcpcp_hold(): the hold, for connections that have no socket here yet.
 *
 * Moving a server to another host, the service address arrives there
 * before the restarted process has rebuilt its connections; a peer's
 * segment in between would meet no socket and be answered with a RST.
 * Holding the TCP-SI's 4-tuples on the new host first closes that
 * window: their segments are dropped until set_si and start take over
 * (start lifts the hold) or the hold expires.
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>

#include "api.h"
#include "backend.h"
#include "hold.h"
#include "si_codec.h"

static void tuple_of(const struct tcpcp_conn *c, struct hold_tuple *t)
{
	memset(t, 0, sizeof(*t));
	t->lport = c->local_port;
	t->pport = c->peer_port;
	if (c->ip_version == 4 ||
	    IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)c->local_addr)) {
		/* a dual-stack socket's IPv4 connection travels as IPv4 */
		unsigned int off = c->ip_version == 4 ? 0 : 12;

		t->family = AF_INET;
		memcpy(t->local, c->local_addr + off, 4);
		memcpy(t->peer, c->peer_addr + off, 4);
		return;
	}
	t->family = AF_INET6;
	memcpy(t->local, c->local_addr, 16);
	memcpy(t->peer, c->peer_addr, 16);
}

static int hold_all(const void *buf, unsigned int size, unsigned int count)
{
	uint32_t off = TCPCP_SI_TOTAL_HDR_LEN;
	struct hold_tuple t;
	struct tcpcp_conn c;
	unsigned int i;
	int err = 0;

	for (i = 0; !err && i < count; i++) {
		err = si_decode_conn(buf, size, &off, &c); /* checked before */
		if (!err) {
			tuple_of(&c, &t);
			err = hold_queue_add(&t);
		}
	}
	if (!err)
		err = hold_commit();
	return err;
}

static int hold(const void *buf, unsigned int size)
{
	const struct tcpcp_backend *b;
	unsigned int count, seconds;
	int err;

	detail_clear();
	err = hold_seconds(&seconds);
	if (!err)
		err = backend_select(&b);
	if (!err && b->call) {
		/* the module keeps its own hold table */
		struct backend_call c = { .op = BACKEND_HOLD, .si = buf,
					  .si_size = size };

		err = check_readable(buf, size);
		if (!err)
			err = api_call(b, &c, NULL);
		if (err == -EINVAL)
			detail_set("the TCP-SI buffer is malformed");
		return err;
	}
	if (!err && b != &backend_repair) {
		/* start() of another backend would not lift this hold */
		detail_set("%s backend: no hold before a restore", b->name);
		err = -ENOSYS;
	}
	if (!err)
		err = check_readable(buf, size);
	if (err)
		return err;
	err = si_check(buf, size, &count);
	if (err) {
		detail_set("the TCP-SI buffer is malformed");
		return err;
	}
	if (!seconds) {
		detail_set("TCPCP_HOLD_SECONDS=0: the hold is off");
		return 0;
	}
	pthread_mutex_lock(&api_lock);
	err = hold_all(buf, size, count);
	pthread_mutex_unlock(&api_lock);
	return err == -EIO ? -ENOSYS : err;
}

TCPCP_EXPORT int tcpcp_hold(const void *bufptr, unsigned int size)
{
	return api_finish(hold(bufptr, size));
}
