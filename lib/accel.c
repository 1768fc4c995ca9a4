// SPDX-License-Identifier: LGPL-2.1-or-later
/* TCPCP_ACCEL=auto|none|uring,bpf; see accel.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "accel.h"
#include "internal.h"

static int accel_word(const char *w, size_t len, unsigned int *mask)
{
	if (len == 5 && !strncmp(w, "uring", 5))
		*mask |= ACCEL_URING;
	else if (len == 3 && !strncmp(w, "bpf", 3))
		*mask |= ACCEL_BPF;
	else
		return -ENOSYS;
	return 0;
}

int accel_allowed(unsigned int *ret)
{
	const char *v = getenv("TCPCP_ACCEL"), *p;
	unsigned int mask = 0;

	if (!v || !*v || !strcmp(v, "auto")) {
		*ret = ACCEL_AUTO;
		return 0;
	}
	if (!strcmp(v, "none")) {
		*ret = 0;
		return 0;
	}
	for (p = v;; p++) {
		size_t len = strcspn(p, ",");

		if (accel_word(p, len, &mask)) {
			detail_set("TCPCP_ACCEL=%.40s: expected auto, none, or "
				   "uring and bpf separated by commas", v);
			return -ENOSYS;
		}
		p += len;
		if (!*p)
			break;
	}
	*ret = mask;
	return 0;
}
