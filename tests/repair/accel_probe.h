/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the TCPCP_ACCEL tests ask: can the library batch here, and which
 * of its descriptors are open. */
#ifndef TCPCP_TEST_ACCEL_PROBE_H
#define TCPCP_TEST_ACCEL_PROBE_H

#include <stdbool.h>
#include <stddef.h>

/* The kernel knows what the library's batches need (repair_batch.c): the
 * opcodes, and a TCP-level socket command that works; else why not. */
bool accel_uring_usable(char *why, size_t len);

/* The first descriptor whose /proc/self/fd link contains what
 * ("io_uring", "anon_inode:bpf_link"), or -1. */
int accel_fd_linked_to(const char *what);

#endif
