// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The hold's set elements, sent as nf_tables netlink batches (libmnl,
 * libnftnl) rather than through libnftables: libnftables waits on its
 * socket with select(), which aborts a process whose descriptor numbers
 * reach FD_SETSIZE (a server with over 1023 connections), and it parses
 * text.  Here the socket is read with a plain blocking recv.
 *
 * Each element changes at most once per batch, in three steps that never
 * fail for an element that exists or not: add (timeout T, or 1 s for one
 * that goes), delete, add again (only those that stay).
 */
#define _GNU_SOURCE
#include <netinet/in.h> /* before the kernel headers: libc-compat */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/set.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <linux/netlink.h>
#include <unistd.h>

#include "hold.h"
#include "internal.h"

#define CHUNK 256             /* elements per batch */
#define BATCH_BYTES (512 << 10)
#define ACK_TIMEOUT_S 5

static struct {
	pid_t pid;
	ino_t netns;
	struct mnl_socket *nl;
	uint32_t seq;
} nl;

static ino_t current_netns(void)
{
	struct stat st;

	return stat("/proc/self/ns/net", &st) ? 0 : st.st_ino;
}

/* One socket per process and network namespace. */
static int nl_socket(void)
{
	struct timeval tv = { .tv_sec = ACK_TIMEOUT_S };
	ino_t ns = current_netns();
	int one = 1;

	if (nl.nl && nl.pid == getpid() && nl.netns == ns)
		return 0;
	if (nl.nl && nl.pid == getpid())
		mnl_socket_close(nl.nl);
	nl.nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!nl.nl)
		return -errno;
	if (mnl_socket_bind(nl.nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		int err = -errno;

		mnl_socket_close(nl.nl);
		nl.nl = NULL;
		return err;
	}
	setsockopt(mnl_socket_get_fd(nl.nl), SOL_SOCKET, SO_RCVTIMEO, &tv,
		   sizeof(tv));
	/* errors need not echo the whole request back */
	setsockopt(mnl_socket_get_fd(nl.nl), SOL_NETLINK, NETLINK_CAP_ACK, &one,
		   sizeof(one));
	nl.pid = getpid();
	nl.netns = ns;
	nl.seq = (uint32_t)time(NULL);
	return 0;
}

/* The set's key: local . lport . peer . pport, each field padded to 4. */
static uint32_t make_key(const struct hold_tuple *t, uint8_t *key)
{
	uint32_t alen = t->family == AF_INET ? 4 : 16, off = 0;
	uint16_t lport = htons(t->lport), pport = htons(t->pport);

	memset(key, 0, 40);
	memcpy(key + off, t->local, alen);
	off += alen;
	memcpy(key + off, &lport, 2);
	off += 4;
	memcpy(key + off, t->peer, alen);
	off += alen;
	memcpy(key + off, &pport, 2);
	return off + 4;
}

enum step { STEP_ADD, STEP_DEL, STEP_READD };

static int add_elem(struct nftnl_set *s, const struct hold_change *c,
		    enum step step)
{
	struct nftnl_set_elem *e = nftnl_set_elem_alloc();
	uint8_t key[40];

	if (!e)
		return -ENOMEM;
	nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, make_key(&c->t, key));
	if (step != STEP_DEL)
		nftnl_set_elem_set_u64(e, NFTNL_SET_ELEM_TIMEOUT,
				       c->present ? c->seconds * 1000ull : 1000);
	nftnl_set_elem_add(s, e);
	return 0;
}

/* One message: a step for the elements of one family; 1 if written. */
static int put_step(struct mnl_nlmsg_batch *b, const struct hold_change *c,
		    unsigned int n, int family, enum step step)
{
	struct nftnl_set *s = nftnl_set_alloc();
	struct nlmsghdr *nlh;
	unsigned int i, used = 0;
	int err = s ? 0 : -ENOMEM;

	for (i = 0; !err && i < n; i++) {
		if (c[i].t.family != family || (step == STEP_READD && !c[i].present))
			continue;
		err = add_elem(s, &c[i], step);
		used++;
	}
	if (err || !used) {
		if (s)
			nftnl_set_free(s);
		return err;
	}
	nftnl_set_set_str(s, NFTNL_SET_TABLE, "tcpcp2");
	nftnl_set_set_str(s, NFTNL_SET_NAME, family == AF_INET ? "hold4" : "hold6");
	nlh = nftnl_nlmsg_build_hdr(mnl_nlmsg_batch_current(b),
				    step == STEP_DEL ? NFT_MSG_DELSETELEM :
						       NFT_MSG_NEWSETELEM,
				    NFPROTO_INET,
				    (step == STEP_DEL ? 0 : NLM_F_CREATE) | NLM_F_ACK,
				    nl.seq++);
	nftnl_set_elems_nlmsg_build_payload(nlh, s);
	nftnl_set_free(s);
	mnl_nlmsg_batch_next(b);
	return 1;
}

static int build(struct mnl_nlmsg_batch *b, const struct hold_change *c,
		 unsigned int n, unsigned int *ret_msgs)
{
	static const int families[] = { AF_INET, AF_INET6 };
	unsigned int step, f;
	int r;

	nftnl_batch_begin(mnl_nlmsg_batch_current(b), nl.seq++);
	mnl_nlmsg_batch_next(b);
	*ret_msgs = 0;
	for (step = STEP_ADD; step <= STEP_READD; step++) {
		for (f = 0; f < 2; f++) {
			r = put_step(b, c, n, families[f], step);
			if (r < 0)
				return r;
			*ret_msgs += (unsigned int)r;
		}
	}
	nftnl_batch_end(mnl_nlmsg_batch_current(b), nl.seq++);
	mnl_nlmsg_batch_next(b);
	return 0;
}

/* Every message asked for an ACK; the first error aborts the batch. */
static int await_acks(uint32_t first_seq, unsigned int msgs)
{
	char buf[16384];
	unsigned int acks = 0;

	while (acks < msgs) {
		ssize_t n = mnl_socket_recvfrom(nl.nl, buf, sizeof(buf));
		const struct nlmsghdr *h = (const void *)buf;
		int len = (int)n;

		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		for (; mnl_nlmsg_ok(h, len); h = mnl_nlmsg_next(h, &len)) {
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(h);

			if (h->nlmsg_type != NLMSG_ERROR || h->nlmsg_seq < first_seq)
				continue;
			if (e->error)
				return e->error;
			acks++;
		}
	}
	return 0;
}

static int send_chunk(const struct hold_change *c, unsigned int n, char *buf)
{
	struct mnl_nlmsg_batch *b = mnl_nlmsg_batch_start(buf, BATCH_BYTES);
	uint32_t first = nl.seq;
	unsigned int msgs;
	int err = b ? build(b, c, n, &msgs) : -ENOMEM;

	if (!err && msgs &&
	    mnl_socket_sendto(nl.nl, mnl_nlmsg_batch_head(b),
			      mnl_nlmsg_batch_size(b)) < 0)
		err = -errno;
	if (!err && msgs)
		err = await_acks(first, msgs);
	if (b)
		mnl_nlmsg_batch_stop(b);
	return err;
}

int hold_nl_commit(const struct hold_change *c, unsigned int n)
{
	char *buf;
	unsigned int i;
	int err = nl_socket();

	if (err)
		return err;
	buf = malloc(BATCH_BYTES);
	if (!buf)
		return -ENOMEM;
	for (i = 0; !err && i < n; i += CHUNK)
		err = send_chunk(c + i, n - i < CHUNK ? n - i : CHUNK, buf);
	free(buf);
	return err;
}
