// SPDX-License-Identifier: LGPL-2.1-or-later
/* See server.h. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server.h"
#include "tcpcp.h"
#include "testnet.h"

#define WAIT_MS 20000

void side_open(struct side *s, const struct peer_cfg *cfg, int sndbuf)
{
	uint16_t port;
	unsigned int i;

	s->cfg = *cfg;
	s->lfd = tn_listen(cfg->family, &port);
	s->cfg.port = port;
	s->fds = calloc(cfg->nconns, sizeof(int));
	cr_assert_not_null(s->fds);
	peer_spawn(&s->cfg, &s->peer);
	for (i = 0; i < cfg->nconns; i++)
		s->fds[i] = tn_accept(s->lfd);
	peer_wait_ready(&s->peer);
	for (i = 0; i < cfg->nconns; i++) {
		int fd = s->fds[i];

		cr_assert(tn_wait_q(fd, tn_inq, (int)cfg->to_server, WAIT_MS),
			  "peer's bytes never arrived");
		if (sndbuf > 0)
			cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf,
						sizeof(sndbuf)), 0);
		tn_write_pattern(fd, PEER_RX_SEED(tn_peer_port(fd)), 0,
				 cfg->from_server);
	}
}

static void take_fds(struct side *s, const struct result_list *rl)
{
	unsigned int i;

	cr_assert_eq(rl->fd_ng, 0, "%u of %u sockets failed to restore",
		     rl->fd_ng, rl->fd_all);
	cr_assert_eq(rl->fd_all, s->cfg.nconns);
	for (i = 0; i < rl->fd_all; i++) {
		cr_assert_geq(rl->fdrs[i].result, 0);
		s->fds[i] = rl->fdrs[i].result;
	}
}

static void expect_ok(int rc, struct result_list *rl, const char *what,
		      unsigned int n)
{
	cr_assert_eq(rc, TCPCP_RET_OK, "%s: %s (%s)", what, strerror(errno),
		     tcpcp_strerror_detail());
	cr_assert_not_null(rl);
	cr_assert_eq(rl->fd_ng, 0, "%s: %u failed, first result %d", what,
		     rl->fd_ng, rl->fd_all ? rl->fdrs[0].result : 0);
	cr_assert_eq(rl->fd_all, n, "%s: %u processed, %u expected", what,
		     rl->fd_all, n);
}

void checkpoint_all(struct side *s)
{
	int dummy = socket(AF_INET, SOCK_STREAM, 0), rc;
	unsigned int n = s->cfg.nconns, size = 0;
	struct result_list *rl = NULL;
	void *buf = NULL;

	cr_assert_geq(dummy, 0);
	rc = tcpcp_stop(dummy, TCPCP_EXEC_ALL, &rl);
	expect_ok(rc, rl, "stop(ALL)", n);
	free(rl);
	rc = tcpcp_get_si(dummy, TCPCP_EXEC_ALL, &buf, &size, &rl);
	expect_ok(rc, rl, "get_si(ALL)", n);
	free(rl);
	rc = tcpcp_close(dummy, &rl);
	expect_ok(rc, rl, "close(ALL)", n);
	free(rl);
	rc = tcpcp_set_si(dummy, TCPCP_EXEC_ALL, buf, size, &rl);
	expect_ok(rc, rl, "set_si(ALL)", n);
	take_fds(s, rl);
	free(rl);
	free(buf);
	rc = tcpcp_start(dummy, TCPCP_EXEC_ALL, &rl);
	expect_ok(rc, rl, "start(ALL)", n);
	free(rl);
	close(dummy);
}

static int move_one(int fd)
{
	struct result_list *rl = NULL;
	unsigned int size = 0;
	void *buf = NULL;
	int nfd, rc, family = AF_INET;
	socklen_t len = sizeof(family);

	getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &len);
	rc = tcpcp_stop(fd, TCPCP_EXEC_ONE, &rl);
	expect_ok(rc, rl, "stop", 1);
	free(rl);
	rc = tcpcp_get_si(fd, TCPCP_EXEC_ONE, &buf, &size, &rl);
	expect_ok(rc, rl, "get_si", 1);
	free(rl);
	rc = tcpcp_close(fd, &rl);
	expect_ok(rc, rl, "close", 1);
	free(rl);
	nfd = socket(family, SOCK_STREAM, 0);
	cr_assert_geq(nfd, 0);
	rc = tcpcp_set_si(nfd, TCPCP_EXEC_ONE, buf, size, &rl);
	expect_ok(rc, rl, "set_si", 1);
	cr_assert_eq(rl->fdrs[0].fd, fd, "TCP-SI records the old descriptor");
	cr_assert_eq(rl->fdrs[0].result, nfd);
	free(rl);
	free(buf);
	rc = tcpcp_start(nfd, TCPCP_EXEC_ONE, &rl);
	expect_ok(rc, rl, "start", 1);
	free(rl);
	return nfd;
}

void checkpoint_one(struct side *s)
{
	unsigned int i;

	for (i = 0; i < s->cfg.nconns; i++)
		s->fds[i] = move_one(s->fds[i]);
}

void side_verify(struct side *s)
{
	unsigned int i, n = s->cfg.nconns;
	struct xfer *x = calloc(n, sizeof(*x));
	char err[300], perr[300];

	cr_assert_not_null(x);
	peer_release(&s->peer);
	for (i = 0; i < n; i++) {
		uint16_t port = tn_peer_port(s->fds[i]);

		tn_set_nonblock(s->fds[i], true);
		x[i] = (struct xfer){
			.fd = s->fds[i],
			.tx_seed = PEER_RX_SEED(port),
			.rx_seed = PEER_TX_SEED(port),
			.tx_off = s->cfg.from_server,
			.tx_end = s->cfg.from_server + s->cfg.after,
			.rx_end = s->cfg.to_server + s->cfg.after,
		};
	}
	if (xfer_pump(x, n, 60000, err, sizeof(err)) ||
	    xfer_quiet(x, n, err, sizeof(err))) {
		peer_finish(&s->peer, perr, sizeof(perr));
		cr_assert_fail("our side: %s (peer: %s)", err, perr);
	}
	cr_assert_eq(peer_finish(&s->peer, perr, sizeof(perr)), 0, "peer: %s",
		     perr);
	for (i = 0; i < n; i++)
		close(s->fds[i]);
	close(s->lfd);
	free(x);
	free(s->fds);
}
