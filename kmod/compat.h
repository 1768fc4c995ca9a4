/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What tcpcp2.ko needs from the kernel, checked once: differences between
 * kernel versions live here and nowhere else.  6.1 (Debian 12) is the
 * oldest kernel the module supports and the one it is tested on.
 */
#ifndef TCPCP2_COMPAT_H
#define TCPCP2_COMPAT_H

#include <linux/version.h>

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 1, 0)
#error "tcpcp2.ko needs Linux 6.1 or newer"
#endif

#if !IS_ENABLED(CONFIG_IPV6) || !IS_ENABLED(CONFIG_NETFILTER)
#error "tcpcp2.ko needs a kernel with IPv6 and netfilter"
#endif

/* 6.1 added one established-socket hash per network namespace. */
#define tcpcp_ehash(net) ((net)->ipv4.tcp_death_row.hashinfo)

#endif /* TCPCP2_COMPAT_H */
