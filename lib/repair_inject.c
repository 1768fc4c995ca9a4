// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * TCP_REPAIR has no option for "the peer's FIN was received" (nor for "our
 * FIN was acknowledged"), so a rebuilt socket is sent the peer's segment
 * again: a raw IP packet with the peer's addresses, sent to our own
 * address, comes back in through the local stack like any segment.  It is
 * marked so that the stop block and the hold let it through.
 *
 * No TCP options: a timestamp would become ts_recent and could make the
 * peer's real segments fail PAWS; Linux accepts segments without one.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "repair.h"

#define TCP_HDR_LEN 20

struct addrs {
	int family;       /* how the packet travels */
	uint8_t src[16];  /* the peer */
	uint8_t dst[16];  /* us */
	uint32_t scope_id;
};

static void addrs_of(const struct tcpcp_conn *c, struct addrs *a)
{
	const struct in6_addr *l6 = (const void *)c->local_addr;

	memset(a, 0, sizeof(*a));
	if (c->ip_version == 4 || IN6_IS_ADDR_V4MAPPED(l6)) {
		int off = c->ip_version == 4 ? 0 : 12;

		a->family = AF_INET;
		memcpy(a->src, c->peer_addr + off, 4);
		memcpy(a->dst, c->local_addr + off, 4);
		return;
	}
	a->family = AF_INET6;
	memcpy(a->src, c->peer_addr, 16);
	memcpy(a->dst, c->local_addr, 16);
	a->scope_id = c->scope_id;
}

static uint32_t sum16(const uint8_t *p, size_t len, uint32_t sum)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* The TCP checksum over the pseudo header of either family. */
static uint16_t tcp_csum(const struct addrs *a, const uint8_t *tcp)
{
	size_t alen = a->family == AF_INET ? 4 : 16;
	uint32_t sum = sum16(a->src, alen, 0);

	sum = sum16(a->dst, alen, sum);
	sum += IPPROTO_TCP + TCP_HDR_LEN;
	return fold(sum16(tcp, TCP_HDR_LEN, sum));
}

static void build_tcp(uint8_t *t, const struct tcpcp_conn *c, uint32_t seq,
		      uint32_t ack, uint8_t flags)
{
	struct tcphdr th = { 0 };
	uint32_t wnd = c->window.snd_wnd >> c->snd_wscale;

	th.th_sport = htons(c->peer_port);
	th.th_dport = htons(c->local_port);
	th.th_seq = htonl(seq);
	th.th_ack = htonl(ack);
	th.th_off = TCP_HDR_LEN / 4;
	th.th_flags = flags;
	th.th_win = htons(wnd > 0xffff ? 0xffff : (uint16_t)wnd);
	memcpy(t, &th, TCP_HDR_LEN);
}

static int send_v4(int raw, const struct addrs *a, uint8_t *tcp)
{
	uint8_t pkt[sizeof(struct ip) + TCP_HDR_LEN];
	struct ip ip = {
		.ip_v = 4,
		.ip_hl = sizeof(struct ip) / 4,
		.ip_len = htons(sizeof(pkt)),
		.ip_off = htons(IP_DF),
		.ip_ttl = 64,
		.ip_p = IPPROTO_TCP,
	};
	struct sockaddr_in to = { .sin_family = AF_INET };

	memcpy(&ip.ip_src, a->src, 4);
	memcpy(&ip.ip_dst, a->dst, 4);
	memcpy(&to.sin_addr, a->dst, 4);
	memcpy(pkt, &ip, sizeof(ip)); /* the kernel fills the IP checksum */
	memcpy(pkt + sizeof(ip), tcp, TCP_HDR_LEN);
	return sendto(raw, pkt, sizeof(pkt), 0, (struct sockaddr *)&to,
		      sizeof(to)) == (ssize_t)sizeof(pkt) ? 0 : -errno;
}

static int send_v6(int raw, const struct addrs *a, uint8_t *tcp)
{
	uint8_t pkt[sizeof(struct ip6_hdr) + TCP_HDR_LEN];
	struct ip6_hdr ip6 = { 0 };
	struct sockaddr_in6 to = { .sin6_family = AF_INET6 };

	ip6.ip6_flow = htonl(6u << 28);
	ip6.ip6_plen = htons(TCP_HDR_LEN);
	ip6.ip6_nxt = IPPROTO_TCP;
	ip6.ip6_hlim = 64;
	memcpy(&ip6.ip6_src, a->src, 16);
	memcpy(&ip6.ip6_dst, a->dst, 16);
	memcpy(&to.sin6_addr, a->dst, 16);
	to.sin6_scope_id = a->scope_id;
	memcpy(pkt, &ip6, sizeof(ip6));
	memcpy(pkt + sizeof(ip6), tcp, TCP_HDR_LEN);
	return sendto(raw, pkt, sizeof(pkt), 0, (struct sockaddr *)&to,
		      sizeof(to)) == (ssize_t)sizeof(pkt) ? 0 : -errno;
}

int inject_segment(const struct tcpcp_conn *c, uint32_t seq, uint32_t ack,
		   uint8_t tcp_flags)
{
	uint8_t tcp[TCP_HDR_LEN];
	uint32_t mark = INJECT_MARK;
	struct addrs a;
	uint16_t csum;
	int raw, err;

	addrs_of(c, &a);
	build_tcp(tcp, c, seq, ack, tcp_flags);
	csum = tcp_csum(&a, tcp);
	tcp[16] = (uint8_t)(csum >> 8);
	tcp[17] = (uint8_t)(csum & 0xff);
	/* IPPROTO_RAW: we write the IP header ourselves, either family */
	raw = socket(a.family, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	if (raw < 0)
		return -errno;
	if (setsockopt(raw, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)))
		err = -errno;
	else if (a.family == AF_INET)
		err = send_v4(raw, &a, tcp);
	else
		err = send_v6(raw, &a, tcp);
	close(raw);
	return err;
}
