/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * TCPCP_ACCEL: the repair backend's ways around one system call per step.
 *   uring  batch the socket calls of many connections in an io_uring
 *          (setsockopt at any level needs Linux 6.7, bind 6.11);
 *   bpf    read every stopped socket's state in one pass of a BPF
 *          iterator (needs BTF, CAP_BPF and CAP_PERFMON).
 * Either falls back to plain system calls where the kernel or the
 * caller's privileges refuse it; the results are the same.
 */
#ifndef TCPCP_ACCEL_H
#define TCPCP_ACCEL_H

#define ACCEL_URING 1u
#define ACCEL_BPF 2u
#define ACCEL_ALL (ACCEL_URING | ACCEL_BPF)

/* Which accelerations TCPCP_ACCEL allows: "auto" or unset (all), "none",
 * or a comma-separated list of uring and bpf.  0 and the mask, or -ENOSYS
 * with the detail set for a value that is none of these. */
int accel_allowed(unsigned int *ret);

#endif /* TCPCP_ACCEL_H */
