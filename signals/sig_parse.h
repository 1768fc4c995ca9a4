/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Signal names as TCPCP_SIGNAL and the tool accept them. */
#ifndef TCPCP_SIG_PARSE_H
#define TCPCP_SIG_PARSE_H

#include <stddef.h>

/*
 * "USR2", "SIGUSR2", "12", "RTMIN+3", "SIGRTMAX-1": the signal number, or
 * -EINVAL for anything else and for signals that cannot serve as a control
 * signal (KILL and STOP cannot be blocked; SEGV, BUS, FPE, ILL, TRAP and
 * SYS are raised by faults; CHLD, CONT, TSTP, TTIN, TTOU, WINCH, URG and
 * the real-time signals glibc keeps for itself change a program's
 * behaviour when blocked).
 */
int sig_parse(const char *s);

/* "SIGUSR2" or "SIGRTMIN+3" into buf. */
const char *sig_name(int sig, char *buf, size_t len);

#endif /* TCPCP_SIG_PARSE_H */
