// SPDX-License-Identifier: LGPL-2.1-or-later
/* Socket addresses as the shim compares them: IPv4, IPv6, v4-mapped. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "shim.h"

socklen_t sa_len(const struct sockaddr *a)
{
	switch (a->sa_family) {
	case AF_INET:
		return sizeof(struct sockaddr_in);
	case AF_INET6:
		return sizeof(struct sockaddr_in6);
	}
	return 0;
}

void sa_copy(struct sockaddr_in6 *dst, const struct sockaddr *src,
	     socklen_t len)
{
	memset(dst, 0, sizeof(*dst));
	if (len > sizeof(*dst))
		len = sizeof(*dst);
	memcpy(dst, src, len);
}

uint16_t sa_port(const struct sockaddr *a)
{
	if (a->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)a)->sin_port);
	if (a->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)a)->sin6_port);
	return 0;
}

bool sa_is_wildcard(const struct sockaddr *a)
{
	if (a->sa_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       htonl(INADDR_ANY);
	if (a->sa_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(
			&((const struct sockaddr_in6 *)a)->sin6_addr);
	return false;
}

/* The IPv4 address inside a (possibly v4-mapped) address, or false. */
static bool v4_of(const struct sockaddr *a, struct in_addr *ret)
{
	const struct sockaddr_in6 *s6 = (const void *)a;

	if (a->sa_family == AF_INET) {
		*ret = ((const struct sockaddr_in *)a)->sin_addr;
		return true;
	}
	if (a->sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		memcpy(ret, &s6->sin6_addr.s6_addr[12], 4);
		return true;
	}
	return false;
}

/* Same address and port; an IPv4 address equals its v4-mapped form. */
bool sa_equal(const struct sockaddr *a, const struct sockaddr *b)
{
	const struct sockaddr_in6 *a6 = (const void *)a, *b6 = (const void *)b;
	struct in_addr a4, b4;

	if (sa_port(a) != sa_port(b))
		return false;
	if (v4_of(a, &a4) && v4_of(b, &b4))
		return a4.s_addr == b4.s_addr;
	return a->sa_family == AF_INET6 && b->sa_family == AF_INET6 &&
	       IN6_ARE_ADDR_EQUAL(&a6->sin6_addr, &b6->sin6_addr) &&
	       a6->sin6_scope_id == b6->sin6_scope_id;
}

const char *sa_str(const struct sockaddr *a, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];
	struct in_addr v4;

	/* a dual-stack socket's IPv4 peer reads as the IPv4 address it is */
	if (a->sa_family == AF_INET6 && v4_of(a, &v4)) {
		inet_ntop(AF_INET, &v4, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, sa_port(a));
	} else if (a->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)a)->sin_addr,
			  host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, sa_port(a));
	} else if (a->sa_family == AF_INET6) {
		inet_ntop(AF_INET6,
			  &((const struct sockaddr_in6 *)a)->sin6_addr, host,
			  sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, sa_port(a));
	} else {
		snprintf(buf, len, "(family %d)", a->sa_family);
	}
	return buf;
}
