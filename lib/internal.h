/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared by libtcpcp's sources; nothing here is exported. */
#ifndef TCPCP_INTERNAL_H
#define TCPCP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "tcp_diag.h"

struct snap_rec;
#include "tcpcp.h"

#define TCPCP_EXPORT __attribute__((visibility("default")))

/* The one-line reason behind the last failure, per thread. */
void detail_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void detail_clear(void);

/* Argument checks, in the manual's terms; 0 or -errno. */
int check_tcp_fd(int fd);
int check_writable(void *p, size_t len);
int check_readable(const void *p, size_t len);

/* The caller's TCP sockets, for TCPCP_EXEC_ALL. */
struct tcp_fd {
	int fd;
	ino_t ino;
	bool first; /* first descriptor of its socket */
	int state;  /* the TCP state the walk read, or -1 */
	const struct tcp_diag *diag; /* sock_diag's answer, or NULL */
	const struct snap_rec *snap; /* the socket iterator's, or NULL */
};

struct tcp_fd_list {
	struct tcp_fd *fds;
	unsigned int n;
	struct tcp_diag *diag; /* the answers the fds point at */
	struct snap_rec *snap; /* the iterator's records they point at */
};

/* describe: sock_diag's description of each connected socket too.  It
 * takes the kernel some 2 us per socket, where a getsockopt() takes 0.3:
 * it pays for a save, which it spares a dozen calls, not for the others.
 * Where the socket iterator works (sock_snap.h) it makes the whole list,
 * each socket described, in one pass: describe is not needed then. */
int tcp_fds_list(struct tcp_fd_list *ret, bool describe);
void tcp_fds_free(struct tcp_fd_list *l);

/* A descriptor the library keeps between calls, moved near the top of
 * RLIMIT_NOFILE (the original closed), or fd itself where there is no
 * room; a negative fd is passed through. */
int fd_move_high(int fd);

/* Result lists: sized up front, so adding never fails. */
struct reslist_builder {
	struct result_list *rl;
	unsigned int cap;
};

int reslist_init(struct reslist_builder *b, unsigned int cap);
void reslist_add(struct reslist_builder *b, int fd, int result);
struct result_list *reslist_take(struct reslist_builder *b);
void reslist_discard(struct reslist_builder *b);

#endif /* TCPCP_INTERNAL_H */
