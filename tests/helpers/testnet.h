/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the integration tests share: a private network namespace per test,
 * loopback sockets, a checkable byte pattern, and a pump that moves and
 * verifies streams on many sockets at once.
 */
#ifndef TCPCP_TESTNET_H
#define TCPCP_TESTNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Criterion .init: unshare the network namespace and bring lo up. */
void testnet_enter(void);

/* Raises RLIMIT_NOFILE to at least n; false if the hard limit is lower
 * and cannot be raised (no CAP_SYS_RESOURCE): the test should skip. */
bool testnet_nofile(unsigned int n);

int tn_listen(int family, uint16_t *ret_port);
/* Connects to loopback:port; rcvbuf > 0 is set before connecting. */
int tn_connect(int family, uint16_t port, int rcvbuf);
int tn_accept(int lfd);
void tn_set_nonblock(int fd, bool on);
uint16_t tn_peer_port(int fd);
uint16_t tn_local_port(int fd);

/* Drop filter on a peer socket: its side stops ACKing, so what the other
 * end sends stays unacknowledged. */
void tn_block(int fd);
void tn_unblock(int fd);

int tn_inq(int fd);
int tn_outq(int fd);
int tn_outq_unsent(int fd);
/* Waits until pred(fd) == want, up to ms; true if reached. */
bool tn_wait_q(int fd, int (*q)(int), int want, int ms);

/* Byte o of the stream with the given seed. */
uint8_t pattern_byte(uint32_t seed, uint64_t o);
void pattern_fill(uint8_t *buf, size_t len, uint32_t seed, uint64_t off);

/* Writes len pattern bytes from offset off; all must be taken at once
 * (the socket's buffer must have room). */
void tn_write_pattern(int fd, uint32_t seed, uint64_t off, size_t len);

/* One stream per socket, both directions, verified as it arrives. */
struct xfer {
	int fd;
	uint32_t tx_seed, rx_seed;
	uint64_t tx_off, tx_end;
	uint64_t rx_off, rx_end;
};

/* Moves every stream to its end within ms; 0, or -1 with why in err. */
int xfer_pump(struct xfer *x, unsigned int n, int ms, char *err, size_t len);

/* After the streams: nothing more may arrive and no error may be pending
 * (no reset, no EOF). 0, or -1 with why in err. */
int xfer_quiet(struct xfer *x, unsigned int n, char *err, size_t len);

#endif /* TCPCP_TESTNET_H */
