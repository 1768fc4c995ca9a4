/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What <linux/io_uring.h> of older distributions (Debian 12: 6.1) lacks,
 * checked against the kernel's include/uapi/linux/io_uring.h and
 * io_uring/net.c, io_uring/cmd_net.c:
 *   - the socket commands of IORING_OP_URING_CMD (cmd_op, 6.6/6.7):
 *     SIOCINQ 0, SIOCOUTQ 1, GETSOCKOPT 2, SETSOCKOPT 3;
 *   - their operands, overlaid on the SQE: level and optname on addr
 *     (offsets 16 and 20), optlen on file_index (44), optval on addr3
 *     (48); cmd_op on the low half of off (8);
 *   - IORING_OP_RECV (5.6): 27, after SEND 26; its flags on msg_flags;
 *   - IORING_OP_BIND (6.11): 56, after SENDMSG_ZC 48, READ_MULTISHOT,
 *     WAITID, FUTEX_WAIT, FUTEX_WAKE, FUTEX_WAITV, FIXED_FD_INSTALL and
 *     FTRUNCATE; its address on addr, its length on addr2 (off).
 * The SQE is written through byte offsets, so that one source builds
 * against either header.
 */
#ifndef TCPCP_URING_ABI_H
#define TCPCP_URING_ABI_H

#include <linux/io_uring.h>

#define URING_OP_SOCKET 45
#define URING_OP_URING_CMD 46
#define URING_OP_BIND 56

#define URING_SOCK_GETSOCKOPT 2
#define URING_SOCK_SETSOCKOPT 3

#define SQE_OFF_CMD_OP 8
#define SQE_OFF_LEVEL 16
#define SQE_OFF_OPTNAME 20
#define SQE_OFF_OPTLEN 44
#define SQE_OFF_OPTVAL 48

#ifndef IORING_SETUP_SUBMIT_ALL
#define IORING_SETUP_SUBMIT_ALL (1U << 7)
#endif

_Static_assert(sizeof(struct io_uring_sqe) == 64, "a 64-byte SQE");
_Static_assert(IORING_OP_SOCKET == URING_OP_SOCKET, "IORING_OP_SOCKET");
_Static_assert(IORING_OP_URING_CMD == URING_OP_URING_CMD, "IORING_OP_URING_CMD");
_Static_assert(IORING_OP_RECV == 27, "IORING_OP_RECV");

#endif /* TCPCP_URING_ABI_H */
