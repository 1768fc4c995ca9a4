// SPDX-License-Identifier: LGPL-2.1-or-later
/* See capture.h.  AF_PACKET sees packets before netfilter, so a RST the
 * kernel sent is counted even if something dropped it later. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "capture.h"

#define TCP_RST 0x04

int cap_open(const char *ifname)
{
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_ALL),
		.sll_ifindex = (int)if_nametoindex(ifname),
	};
	int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_ALL));
	int big = 8 << 20;

	if (fd < 0 || bind(fd, (struct sockaddr *)&sll, sizeof(sll)))
		abort();
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	return fd;
}

/* TCP flags of an IPv4 or IPv6 packet (no extension headers), or -1. */
static int tcp_flags(const uint8_t *p, ssize_t n)
{
	if (n >= 20 && (p[0] >> 4) == 4 && p[9] == IPPROTO_TCP) {
		ssize_t ihl = (p[0] & 0x0f) * 4;

		return n >= ihl + 14 ? p[ihl + 13] : -1;
	}
	if (n >= 40 + 14 && (p[0] >> 4) == 6 && p[6] == IPPROTO_TCP)
		return p[40 + 13];
	return -1;
}

int cap_count_rst(int cap)
{
	uint8_t buf[256];
	int rst = 0;
	ssize_t n;

	/* only the headers matter: longer packets are truncated */
	while ((n = recv(cap, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		int flags = tcp_flags(buf, n);

		if (flags >= 0 && (flags & TCP_RST))
			rst++;
	}
	return rst;
}
