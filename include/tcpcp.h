/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tcpcp.h - the TCPCP2 API: checkpoint and restore of live TCP connections.
 *
 * Source-compatible with TCPCP2's header.  Every call returns TCPCP_RET_OK,
 * or TCPCP_RET_NG with errno set; *reslst is a malloc'ed result list that
 * the caller releases with free() (NULL when the call fails).
 *
 * The usual sequence, for every connection of the process:
 *
 *	dummy = socket(AF_INET, SOCK_STREAM, 0);
 *	tcpcp_stop(dummy, TCPCP_EXEC_ALL, &r);          frozen, peers held off
 *	tcpcp_get_si(dummy, TCPCP_EXEC_ALL, &buf, &size, &r);
 *	tcpcp_close(dummy, &r);                          gone, nothing sent
 *	... later, in this or another process ...
 *	tcpcp_set_si(dummy, TCPCP_EXEC_ALL, buf, size, &r);  rebuilt, still frozen
 *	tcpcp_start(dummy, TCPCP_EXEC_ALL, &r);         live again
 */
#ifndef TCPCP_H
#define TCPCP_H

#include <stdint.h>
#include <netinet/in.h>

#include "tcpcp_si.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TCPCP_RET_OK 0
#define TCPCP_RET_NG -1

#define TCPCP_EXEC_ONE 0
#define TCPCP_EXEC_ALL 1

/* One processed socket.  result: 0 or -errno; for tcpcp_set_si() the new
 * descriptor, with fd the descriptor recorded in the TCP-SI. */
struct fdr {
	int fd;
	int result;
};

struct result_list {
	unsigned int fd_all; /* entries in fdrs[]: sockets processed */
	unsigned int fd_ng;  /* how many of them failed */
	struct fdr fdrs[];
};

int tcpcp_stop(int fd, int flag, struct result_list **reslst);
int tcpcp_get_si(int fd, int flag, void **bufptr, unsigned int *size,
		 struct result_list **reslst);
int tcpcp_set_si(int fd, int flag, void *bufptr, unsigned int size,
		 struct result_list **reslst);
int tcpcp_start(int fd, int flag, struct result_list **reslst);
int tcpcp_close(int fd, struct result_list **reslst);

/*
 * Holds off the peers of the connections in a TCP-SI on this host: their
 * segments are dropped, not answered with a RST, until the connections are
 * rebuilt here (tcpcp_set_si) and started, or TCPCP_HOLD_SECONDS pass.
 * For a move to another host: call it there before the service address
 * arrives.  EINVAL: a malformed buffer (or a bad TCPCP_HOLD_SECONDS);
 * EFAULT; EPERM without CAP_NET_ADMIN; ENOSYS when no hold can be set here
 * (tcpcp_strerror_detail() says why).
 */
int tcpcp_hold(const void *bufptr, unsigned int size);

/* Why the last call in this thread failed, in one line ("" if unknown). */
const char *tcpcp_strerror_detail(void);

/* The backend the calls use: "repair" or "kmod"; NULL with errno ENOSYS
 * when none can work here (then tcpcp_strerror_detail() says why). */
const char *tcpcp_backend_name(void);

/* Does now what the first call would do on its way (the backend's probe;
 * the repair backend's BPF iterator, tens of milliseconds): for a program
 * that must stop its connections quickly.  TCPCP_RET_OK, or TCPCP_RET_NG
 * with errno ENOSYS when no backend can work here. */
int tcpcp_prepare(void);

#ifdef __cplusplus
}
#endif

#endif /* TCPCP_H */
