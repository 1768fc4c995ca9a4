/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Connections of every kind for the TCPCP_ACCEL tests: a wide spread of
 * socket, IP and TCP options and descriptor flags, data queued both ways
 * (unread, unacknowledged, unsent) and half-closed states; their peers in
 * a child; saves of all of them with a given TCPCP_ACCEL, and the TCP-SI
 * compared byte for byte.
 *
 * One field is compared with a tolerance: ts_gen, the connection's
 * TCP_TIMESTAMP clock, which runs (1 kHz, or 1 MHz for a connection with
 * microsecond timestamps) between the two reads; the second read must
 * not be behind the first, nor more than a few seconds ahead.
 */
#ifndef TCPCP_TEST_SNAPCONNS_H
#define TCPCP_TEST_SNAPCONNS_H

#include <stdbool.h>
#include <sys/types.h>

#define NCONNS 48

struct conn {
	int fd;   /* ours: saved */
	int peer; /* held by the child */
	int family;
	bool reuse; /* SO_REUSEADDR before the stop (batched_*) */
};

void set_int(int fd, int level, int name, int v);
/* Connection i, of the kind i picks. */
void open_conn(struct conn *c, int i);
/* A child takes the peers' ends; its pid. */
pid_t hand_peers_over(struct conn *c, unsigned int n);
void end_peers(pid_t child);
/* Every state the fixture claims is there. */
void check_states(const struct conn *c, unsigned int n);
void stop_n(int dummy, unsigned int n);
void stop_all(int dummy);
/* get_si(ALL) with TCPCP_ACCEL=accel: the TCP-SI of n connections. */
void *get_si_n(int dummy, const char *accel, unsigned int n,
	       unsigned int *size);
void *get_si_all(int dummy, const char *accel, unsigned int *size);
void expect_same_n(const void *a, unsigned int na, const void *b,
		   unsigned int nb, unsigned int n);
void expect_same(const void *a, unsigned int na, const void *b,
		 unsigned int nb);
/* The iterator's link in this process, or -1; loaded or not, and why. */
int link_fd(void);
bool iterator_loaded(void);
const char *why_not_loaded(void);

#endif
