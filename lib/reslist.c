// SPDX-License-Identifier: LGPL-2.1-or-later
/* Result lists (struct result_list): malloc'ed, released with free(). */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

int reslist_init(struct reslist_builder *b, unsigned int cap)
{
	b->rl = malloc(sizeof(*b->rl) + (size_t)cap * sizeof(struct fdr));
	if (!b->rl)
		return -ENOMEM;
	b->rl->fd_all = 0;
	b->rl->fd_ng = 0;
	b->cap = cap;
	return 0;
}

void reslist_add(struct reslist_builder *b, int fd, int result)
{
	struct fdr *r;

	if (b->rl->fd_all == b->cap)
		return; /* cannot happen: callers size the list up front */
	r = &b->rl->fdrs[b->rl->fd_all++];
	r->fd = fd;
	r->result = result;
	if (result < 0)
		b->rl->fd_ng++;
}

struct result_list *reslist_take(struct reslist_builder *b)
{
	struct result_list *rl = b->rl;

	b->rl = NULL;
	return rl;
}

void reslist_discard(struct reslist_builder *b)
{
	free(b->rl);
	b->rl = NULL;
}
