// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The stop block of the repair backend: a classic BPF socket filter that
 * drops every segment before TCP processes it (tcp_filter runs ahead of
 * the socket lock and the backlog), so nothing is ACKed after the state was
 * read.  It needs no privilege and takes effect at once.
 *
 * The filter also marks the socket as stopped by tcpcp: its first two
 * instructions load a magic number and the flags start needs, which
 * SO_GET_FILTER reads back.  Repair mode without this filter is someone
 * else's (EBUSY).
 */
#include <errno.h>
#include <linux/filter.h>
#include <string.h>
#include <sys/socket.h>

#include "internal.h"
#include "repair.h"
#include "sock_snap.h"

#define BLOCK_MAGIC 0x74637032u /* "tcp2" */

/* Segments that tcpcp itself injects (a peer's FIN that must be replayed
 * into a rebuilt socket, repair_inject.c) carry INJECT_MARK and pass. */
void block_prog(uint32_t flags, struct sock_filter prog[BLOCK_LEN])
{
	const struct sock_filter p[BLOCK_LEN] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_IMM, BLOCK_MAGIC),
		BPF_STMT(BPF_LD | BPF_W | BPF_IMM, flags),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_MARK),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, INJECT_MARK, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, 0xffffffffu),
		BPF_STMT(BPF_RET | BPF_K, 0),
	};

	memcpy(prog, p, sizeof(p));
}

int block_install(int fd, uint32_t flags)
{
	struct sock_filter prog[BLOCK_LEN];
	struct sock_fprog fprog = { .len = BLOCK_LEN, .filter = prog };

	block_prog(flags, prog);

	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof(fprog)))
		return -errno;
	return 0;
}

/* A filter of len instructions (at most BLOCK_LEN of them read). */
static int block_kind(const struct sock_filter *prog, unsigned int len,
		      uint32_t *ret_flags)
{
	if (len == 0)
		return BLOCK_NONE;
	if (len != BLOCK_LEN || prog[0].code != (BPF_LD | BPF_W | BPF_IMM) ||
	    prog[0].k != BLOCK_MAGIC || prog[5].code != (BPF_RET | BPF_K))
		return BLOCK_OTHER;
	*ret_flags = prog[1].k;
	return BLOCK_OURS;
}

int block_parse(int res, const struct sock_filter *prog, uint32_t *ret_flags)
{
	/* EINVAL: longer than ours; EACCES: an eBPF program */
	if (res == -EINVAL || res == -EACCES)
		return BLOCK_OTHER;
	if (res < 0)
		return res;
	return block_kind(prog, (unsigned int)res, ret_flags);
}

int block_read(int fd, uint32_t *ret_flags)
{
	struct sock_filter prog[BLOCK_LEN];
	socklen_t len = BLOCK_LEN; /* counted in instructions, not bytes */

	if (getsockopt(fd, SOL_SOCKET, SO_GET_FILTER, prog, &len))
		return block_parse(-errno, prog, ret_flags);
	return block_parse((int)len, prog, ret_flags);
}

/* What block_read would have found when the iterator read the socket. */
static int block_of_snap(const struct snap_rec *r, uint32_t *ret_flags)
{
	struct sock_filter prog[BLOCK_LEN];
	unsigned int i;

	_Static_assert(SNAP_FILTER_INSNS == BLOCK_LEN, "iterator's filter");
	if (r->filter_state == SNAP_FILTER_NONE)
		return BLOCK_NONE;
	if (r->filter_state != SNAP_FILTER_CLASSIC || r->filter_len > BLOCK_LEN)
		return BLOCK_OTHER;
	for (i = 0; i < BLOCK_LEN; i++)
		prog[i] = (struct sock_filter){ r->filter[i].code,
						r->filter[i].jt,
						r->filter[i].jf,
						r->filter[i].k };
	return block_kind(prog, r->filter_len, ret_flags);
}

int block_remove(int fd)
{
	int dummy = 0;

	if (setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &dummy, sizeof(dummy)) &&
	    errno != ENOENT)
		return -errno;
	return 0;
}

/* The filter is the program's or tcpcp's doing, never the network's:
 * what the call's walk saw of it still holds. */
int block_known(struct sock_ref *s)
{
	if (s->filter < 0 && s->snap)
		s->filter = block_of_snap(s->snap, &s->filter_flags);
	if (s->filter < 0)
		s->filter = block_read(s->fd, &s->filter_flags);
	return s->filter;
}

/* Installs the block unless the program has a filter of its own, which
 * the block would silently replace (EBUSY: the socket is not ours to lock). */
int block_claim(struct sock_ref *s, uint32_t flags)
{
	int kind = block_known(s), err;

	if (kind < 0)
		return kind;
	if (kind == BLOCK_OTHER) {
		detail_set("socket has a filter of its own; tcpcp would "
			   "replace it");
		return -EBUSY;
	}
	err = block_install(s->fd, flags);
	if (!err) {
		s->filter = BLOCK_OURS;
		s->filter_flags = flags;
	}
	return err;
}
