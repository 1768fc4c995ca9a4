/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * TCPCP_ACCEL: the repair backend's ways around one system call per step.
 *   uring  batch the socket calls of many connections in an io_uring
 *          (setsockopt at any level needs Linux 6.7, bind 6.11);
 *   bpf    read every stopped socket's state in one pass of a BPF
 *          iterator (needs BTF, CAP_BPF and CAP_PERFMON).
 * Either falls back to plain system calls where the kernel or the
 * caller's privileges refuse it; the results are the same.
 *
 * The default is bpf alone.  An io_uring socket command costs more CPU
 * than the system call it replaces (on 6.18: 0.3 us unlinked, 0.5 us in
 * a linked chain, against 0.2 us for a setsockopt()), so uring makes a
 * restore slower wherever system calls are cheap; it is for hosts where
 * they are not (ptrace sandboxes, auditing of every call).
 */
#ifndef TCPCP_ACCEL_H
#define TCPCP_ACCEL_H

#define ACCEL_URING 1u
#define ACCEL_BPF 2u
#define ACCEL_AUTO ACCEL_BPF

/* Which accelerations TCPCP_ACCEL allows: "auto" or unset (bpf), "none",
 * or a comma-separated list of uring and bpf.  0 and the mask, or -ENOSYS
 * with the detail set for a value that is none of these. */
int accel_allowed(unsigned int *ret);

#endif /* TCPCP_ACCEL_H */
