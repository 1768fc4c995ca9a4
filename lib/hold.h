/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The repair backend's hold: an nftables set of stopped 4-tuples; see hold.c. */
#ifndef TCPCP_HOLD_H
#define TCPCP_HOLD_H

#include <stdbool.h>
#include <stdint.h>

struct hold_tuple {
	int family; /* AF_INET or AF_INET6: how the packets travel */
	uint8_t local[16];
	uint8_t peer[16];
	uint16_t lport;
	uint16_t pport;
};

/* TCPCP_HOLD_SECONDS, checked: 0 turns the hold off. */
int hold_seconds(unsigned int *ret);

struct sockaddr_in6;

/* A connected socket's tuple from what getsockname and getpeername say
 * (a sockaddr_in for an AF_INET socket). */
void hold_tuple_of_addrs(const struct sockaddr_in6 *l,
			 const struct sockaddr_in6 *p, struct hold_tuple *t);

/* Queued until hold_commit(); 0 or -errno (-EINVAL: a bad variable). */
int hold_queue_add(const struct hold_tuple *t);
int hold_queue_del(const struct hold_tuple *t);

/* A set element's wanted state, for hold_nl.c. */
struct hold_change {
	struct hold_tuple t;
	bool present;        /* held (for seconds) or released */
	unsigned int seconds;
};

/* Sends changes in nf_tables batches (at most a few hundred each). */
int hold_nl_commit(const struct hold_change *c, unsigned int n);

/* Sends what was queued in one transaction.  When nftables cannot be used
 * the calls still work: this returns -EIO and says why in the detail, and
 * callers report it as a warning, not a failure. */
int hold_commit(void);

#endif /* TCPCP_HOLD_H */
