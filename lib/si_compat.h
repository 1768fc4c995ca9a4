/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the TCP-SI codec needs from its surroundings, for user space and for
 * a kernel build alike: fixed-width integers, memcpy/memset, errno values and
 * byte-order conversion.  Nothing else may be used by si_codec.c.
 */
#ifndef TCPCP_SI_COMPAT_H
#define TCPCP_SI_COMPAT_H

#ifdef __KERNEL__
#include <linux/types.h>
#include <linux/errno.h>
#include <linux/string.h>
#include <asm/byteorder.h>
#else
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <errno.h>
#include <arpa/inet.h>
#endif

#endif /* TCPCP_SI_COMPAT_H */
