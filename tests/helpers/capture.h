/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A packet capture on an interface of the test's namespace: what the wire
 * saw, independent of what the sockets report. */
#ifndef TCPCP_CAPTURE_H
#define TCPCP_CAPTURE_H

/* Starts capturing every packet on ifname (e.g. "lo"). */
int cap_open(const char *ifname);
/* Reads what was captured so far; returns how many TCP segments had RST. */
int cap_count_rst(int cap);

#endif /* TCPCP_CAPTURE_H */
