// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Queues at their limits.  4 MiB queued each way on one connection (unread
 * here; sent but unacknowledged and never sent towards a peer that drops
 * our segments); a zero window on our side and on the peer's; a peer
 * streaming at full speed while the stop happens; TCPCP_EXEC_ALL over
 * 10 000 connections.  After every restore each byte arrives exactly once.
 * A queue that moves while it is read must make the call fail with an
 * errno: it is never saved torn.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <linux/tcp.h> /* tcpi_snd_wnd: glibc's struct tcp_info lacks it */
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "server.h"
#include "tcpcp.h"
#include "testnet.h"

#define MIB4 (4u << 20)
#define BIG_BUF (12 << 20) /* room for 4 MiB and the kernel's overhead */
#define WAIT_MS 20000
#define FOREVER UINT64_MAX

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void set_int(int fd, int level, int name, int v)
{
	cr_assert_eq(setsockopt(fd, level, name, &v, sizeof(v)), 0,
		     "setsockopt %d/%d: %s", level, name, strerror(errno));
}

/* SO_SNDBUF/SO_RCVBUF stop at net.core.[wr]mem_max (4 MiB on Debian);
 * past it only the FORCE variants (root) go.  The kernel doubles either. */
static void raise_buf(int fd, int name, int force, int bytes)
{
	int got = 0;
	socklen_t len = sizeof(got);

	set_int(fd, SOL_SOCKET, name, bytes);
	cr_assert_eq(getsockopt(fd, SOL_SOCKET, name, &got, &len), 0);
	if (got < 2 * bytes)
		set_int(fd, SOL_SOCKET, force, bytes);
}

/* checkpoint_all() and checkpoint_one() work on a side; a lone socket
 * with a peer of this file's own is one too. */
static int move_fd(void (*checkpoint)(struct side *), int fd)
{
	struct side s = { .cfg = { .nconns = 1 }, .fds = &fd };

	checkpoint(&s);
	return fd;
}

/* 1. 4 MiB queued each way. */

/* side_open() with room for 4 MiB each way.  The accepted socket inherits
 * the listener's receive buffer, and the window it may ever offer is
 * fixed from it at the handshake: it is set before the peer connects. */
static void open_big(struct side *s, const struct peer_cfg *cfg)
{
	uint16_t port;
	int fd;

	s->cfg = *cfg;
	s->lfd = tn_listen(cfg->family, &port);
	s->cfg.port = port;
	raise_buf(s->lfd, SO_RCVBUF, SO_RCVBUFFORCE, BIG_BUF);
	s->fds = calloc(1, sizeof(int));
	cr_assert_not_null(s->fds);
	peer_spawn(&s->cfg, &s->peer);
	fd = s->fds[0] = tn_accept(s->lfd);
	peer_wait_ready(&s->peer);
	cr_assert(tn_wait_q(fd, tn_inq, (int)cfg->to_server, WAIT_MS),
		  "peer's 4 MiB never arrived (%d queued)", tn_inq(fd));
	raise_buf(fd, SO_SNDBUF, SO_SNDBUFFORCE, BIG_BUF);
	tn_write_pattern(fd, PEER_RX_SEED(tn_peer_port(fd)), 0,
			 cfg->from_server);
}

static void big(int family, void (*checkpoint)(struct side *))
{
	struct peer_cfg cfg = {
		.family = family,
		.nconns = 1,
		.to_server = MIB4,
		.from_server = MIB4,
		.after = 65536,
		.rcvbuf = 16384, /* a small window: most of ours stays unsent */
		.block = true,
	};
	struct side s;
	int fd, outq, unsent;
	double t0;

	open_big(&s, &cfg);
	fd = s.fds[0];
	outq = tn_outq(fd);
	unsent = tn_outq_unsent(fd);
	cr_assert_eq(tn_inq(fd), (int)MIB4, "receive queue");
	cr_assert_eq(outq, (int)MIB4, "send queue");
	cr_assert_gt(unsent, 0, "no unsent bytes");
	cr_assert_gt(outq - unsent, 0, "no unacknowledged bytes");
	cr_log_info("4 MiB each way: %d unacknowledged, %d unsent",
		    outq - unsent, unsent);
	t0 = now_s();
	checkpoint(&s);
	cr_log_info("checkpoint of 8 MiB queued: %.3f s", now_s() - t0);
	t0 = now_s();
	side_verify(&s);
	cr_log_info("verify of 8 MiB + 128 KiB: %.3f s", now_s() - t0);
}

TestSuite(queues, .init = testnet_enter, .timeout = 120);

Test(queues, big_ipv4_all)
{
	big(AF_INET, checkpoint_all);
}

Test(queues, big_ipv4_one)
{
	big(AF_INET, checkpoint_one);
}

Test(queues, big_ipv6_all)
{
	big(AF_INET6, checkpoint_all);
}

Test(queues, big_ipv6_one)
{
	big(AF_INET6, checkpoint_one);
}

/*
 * A peer of this file's own.  The helper's peer sends a fixed amount,
 * waits for all of it to be acknowledged and only then says it is ready:
 * it can neither stream nor sit behind a zero window.  This one runs a
 * poll loop on its connection and on a control socket: 'G' lifts its read
 * gate, 'S' ends its stream (it answers with the byte count), 'Q' lets it
 * go; it says "R" when ready, then "OK" or "FAIL: why".
 */

struct stream_cfg {
	int family;
	uint16_t port;
	int rcvbuf;        /* the peer's SO_RCVBUF, 0: default */
	uint64_t tx_total; /* bytes it sends us; FOREVER: until 'S' */
	uint64_t rx_total; /* bytes it expects from us */
	bool gate;         /* reads nothing until 'G' */
	bool zero_wnd;     /* ready once it sees our window 0 and probes */
};

struct streamer {
	int ctl;
	struct xfer x;
	bool gate_open, ready;
};

/* Child side.  Messages are SOCK_SEQPACKET: one read, one message. */
static void child_say(int ctl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void child_say(int ctl, const char *fmt, ...)
{
	char msg[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (send(ctl, msg, strlen(msg) + 1, MSG_NOSIGNAL) < 0)
		_exit(3);
}

static void child_fail(struct streamer *s, const char *why)
{
	child_say(s->ctl, "FAIL: %s (sent %llu, received %llu)", why,
		  (unsigned long long)s->x.tx_off,
		  (unsigned long long)s->x.rx_off);
	_exit(1);
}

static bool sees_zero_window(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) ||
	    len < offsetof(struct tcp_info, tcpi_snd_wnd) + 4)
		return false;
	/* backoff counts the zero-window probes sent (an ACK that still
	 * shows a zero window does not reset it) */
	return ti.tcpi_snd_wnd == 0 && ti.tcpi_backoff > 0 && tn_outq(fd) > 0;
}

static void child_ctl(struct streamer *s)
{
	char c;
	ssize_t r = recv(s->ctl, &c, 1, MSG_DONTWAIT);

	if (r == 0)
		_exit(5); /* the test is gone */
	if (r < 0)
		return;
	if (c == 'G') {
		s->gate_open = true;
	} else if (c == 'S') {
		s->x.tx_end = s->x.tx_off;
		child_say(s->ctl, "T %llu", (unsigned long long)s->x.tx_off);
	}
}

static void child_tx(struct streamer *s)
{
	static uint8_t buf[65536];
	uint64_t left = s->x.tx_end - s->x.tx_off;
	size_t n = left < sizeof(buf) ? (size_t)left : sizeof(buf);
	ssize_t w;

	pattern_fill(buf, n, s->x.tx_seed, s->x.tx_off);
	w = send(s->x.fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (w < 0 && errno != EAGAIN)
		child_fail(s, strerror(errno));
	if (w > 0)
		s->x.tx_off += (uint64_t)w;
}

static void child_rx(struct streamer *s)
{
	uint8_t buf[65536];
	uint64_t left = s->x.rx_end - s->x.rx_off;
	size_t n = left < sizeof(buf) ? (size_t)left : sizeof(buf);
	ssize_t r = recv(s->x.fd, buf, n, MSG_DONTWAIT), i;

	if (r < 0 && errno == EAGAIN)
		return;
	if (r <= 0)
		child_fail(s, r ? strerror(errno) : "EOF");
	for (i = 0; i < r; i++)
		if (buf[i] != pattern_byte(s->x.rx_seed, s->x.rx_off + i))
			child_fail(s, "a byte from the test is wrong");
	s->x.rx_off += (uint64_t)r;
}

static void child_step(struct streamer *s)
{
	bool tx = s->x.tx_off < s->x.tx_end;
	bool rx = s->gate_open && s->x.rx_off < s->x.rx_end;
	struct pollfd p[2] = {
		{ .fd = s->ctl, .events = POLLIN },
		{ .fd = s->x.fd,
		  .events = (short)((tx ? POLLOUT : 0) | (rx ? POLLIN : 0)) },
	};

	if (poll(p, 2, 10) < 0)
		child_fail(s, "poll");
	if (p[0].revents)
		child_ctl(s);
	if (p[1].revents & (POLLERR | POLLHUP)) {
		int err = 0;
		socklen_t len = sizeof(err);

		getsockopt(s->x.fd, SOL_SOCKET, SO_ERROR, &err, &len);
		child_fail(s, err ? strerror(err) : "hang-up");
	}
	if (tx && (p[1].revents & POLLOUT))
		child_tx(s);
	if (rx && (p[1].revents & POLLIN))
		child_rx(s);
	if (!s->ready && sees_zero_window(s->x.fd)) {
		s->ready = true;
		child_say(s->ctl, "R");
	}
}

static bool child_done(const struct streamer *s)
{
	return s->ready && s->x.tx_off == s->x.tx_end &&
	       s->x.rx_off == s->x.rx_end;
}

static void child_main(const struct stream_cfg *cfg, int ctl)
{
	struct streamer s = { .ctl = ctl, .gate_open = !cfg->gate };
	long end = now_ms() + 60000;
	char err[200];
	uint16_t port;
	char c;

	/* the test's sockets must not live on in a copy held here */
	close_range(3, (unsigned int)ctl - 1, 0);
	close_range((unsigned int)ctl + 1, ~0u, 0);
	s.x.fd = tn_connect(cfg->family, cfg->port, cfg->rcvbuf);
	tn_set_nonblock(s.x.fd, true);
	port = tn_local_port(s.x.fd);
	s.x.tx_seed = PEER_TX_SEED(port);
	s.x.rx_seed = PEER_RX_SEED(port);
	s.x.tx_end = cfg->tx_total;
	s.x.rx_end = cfg->rx_total;
	if (!cfg->zero_wnd) {
		s.ready = true;
		child_say(ctl, "R");
	}
	while (!child_done(&s)) {
		if (now_ms() > end)
			child_fail(&s, "unfinished after 60 s");
		child_step(&s);
	}
	if (xfer_quiet(&s.x, 1, err, sizeof(err)))
		child_fail(&s, err);
	child_say(ctl, "OK");
	if (recv(ctl, &c, 1, 0) < 0) /* keep the connection until told */
		_exit(4);
	_exit(0);
}

/* Test side. */
static void stream_spawn(const struct stream_cfg *cfg, struct peer *ret)
{
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv),
		     0);
	ret->pid = fork();
	cr_assert_geq(ret->pid, 0);
	if (ret->pid == 0) {
		close(sv[0]);
		child_main(cfg, sv[1]);
	}
	close(sv[1]);
	ret->ctl = sv[0];
}

/* The peer's next message; a FAIL, silence or death fails the test. */
static void stream_msg(struct peer *p, char *msg, size_t len, int ms)
{
	struct pollfd pfd = { .fd = p->ctl, .events = POLLIN };
	ssize_t n;

	cr_assert_eq(poll(&pfd, 1, ms), 1, "peer silent for %d ms", ms);
	n = recv(p->ctl, msg, len - 1, 0);
	cr_assert_gt(n, 0, "peer died without a word");
	msg[n] = '\0';
	cr_assert(strncmp(msg, "FAIL", 4), "peer: %s", msg);
}

static void stream_cmd(struct peer *p, char c)
{
	cr_assert_eq(send(p->ctl, &c, 1, MSG_NOSIGNAL), 1);
}

/* Stops the peer's stream: how many bytes it sent in all. */
static uint64_t stream_stop_tx(struct peer *p)
{
	unsigned long long n;
	char msg[300];

	stream_cmd(p, 'S');
	stream_msg(p, msg, sizeof(msg), WAIT_MS);
	cr_assert_eq(sscanf(msg, "T %llu", &n), 1, "peer said: %s", msg);
	return n;
}

static void stream_finish(struct peer *p)
{
	char msg[300];
	int status;

	stream_msg(p, msg, sizeof(msg), WAIT_MS);
	cr_assert_str_eq(msg, "OK");
	stream_cmd(p, 'Q');
	close(p->ctl);
	waitpid(p->pid, &status, 0);
}

/* Moves x's streams to their ends, then nothing more may come. */
static void stream_verify(struct xfer *x, struct peer *p)
{
	char err[300], perr[300] = "";
	struct pollfd pfd = { .fd = p->ctl, .events = POLLIN };

	if (!xfer_pump(x, 1, 30000, err, sizeof(err)) &&
	    !xfer_quiet(x, 1, err, sizeof(err))) {
		stream_finish(p);
		return;
	}
	if (poll(&pfd, 1, 1000) == 1 &&
	    recv(p->ctl, perr, sizeof(perr) - 1, 0) < 0)
		perr[0] = '\0';
	cr_assert_fail("our side: %s (peer: %s)", err, perr);
}

/* A connection from a new peer of ours; x set up for its streams. */
static int stream_open(struct stream_cfg *cfg, struct peer *p,
		       struct xfer *x, int lfd_family, int *ret_lfd)
{
	uint16_t port;
	int lfd = tn_listen(lfd_family, &port), fd;

	cfg->family = lfd_family;
	cfg->port = port;
	stream_spawn(cfg, p);
	fd = tn_accept(lfd);
	port = tn_peer_port(fd);
	*x = (struct xfer){
		.fd = fd,
		.tx_seed = PEER_RX_SEED(port),
		.rx_seed = PEER_TX_SEED(port),
		.tx_end = cfg->rx_total,
		.rx_end = cfg->tx_total,
	};
	*ret_lfd = lfd;
	return fd;
}

/* 2. Zero windows. */

/* We never read: the peer fills our receive buffer, sees a zero window
 * and probes it.  The probes are dropped while we are stopped; after the
 * start our first read must reopen the window on the new socket. */
static void zero_window_ours(int family, void (*checkpoint)(struct side *))
{
	struct stream_cfg cfg = {
		.tx_total = 2u << 20,
		.rx_total = 8192,
		.zero_wnd = true,
	};
	struct peer p;
	struct xfer x;
	char msg[300];
	int lfd, fd, inq;

	fd = stream_open(&cfg, &p, &x, family, &lfd);
	tn_write_pattern(fd, x.tx_seed, 0, 4096);
	x.tx_off = 4096;
	stream_msg(&p, msg, sizeof(msg), WAIT_MS);
	cr_assert_str_eq(msg, "R", "peer never saw a zero window");
	inq = tn_inq(fd);
	cr_assert_gt(inq, 0);
	cr_assert_lt(inq, (int)cfg.tx_total, "the window never closed");
	cr_log_info("zero window here: %d bytes unread, the peer probing", inq);
	x.fd = move_fd(checkpoint, fd);
	tn_set_nonblock(x.fd, true);
	stream_verify(&x, &p);
	close(x.fd);
	close(lfd);
}

/* Ours sees the peer's zero window and probes it: sent (and acknowledged)
 * up to the window, the rest unsent, snd_wnd 0. */
static bool we_probe_zero_window(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	cr_assert_eq(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len), 0);
	cr_assert_geq(len, offsetof(struct tcp_info, tcpi_snd_wnd) + 4,
		      "kernel without tcpi_snd_wnd");
	return ti.tcpi_snd_wnd == 0 && ti.tcpi_backoff > 0;
}

static void wait_probing(int fd)
{
	long end = now_ms() + WAIT_MS;

	while (!we_probe_zero_window(fd)) {
		cr_assert_lt(now_ms(), end, "we never probed a zero window "
			     "(send queue %d, unsent %d)", tn_outq(fd),
			     tn_outq_unsent(fd));
		usleep(10000);
	}
}

/* The peer never reads until released: its receive buffer is full and
 * our send queue backed up behind its zero window. */
static void zero_window_peer(int family, void (*checkpoint)(struct side *))
{
	struct stream_cfg cfg = {
		.tx_total = 65536,
		.rx_total = (1u << 20) + 4096,
		.rcvbuf = 4096,
		.gate = true,
	};
	struct peer p;
	struct xfer x;
	char msg[300];
	int lfd, fd;

	fd = stream_open(&cfg, &p, &x, family, &lfd);
	stream_msg(&p, msg, sizeof(msg), WAIT_MS);
	cr_assert_str_eq(msg, "R");
	cr_assert(tn_wait_q(fd, tn_inq, (int)cfg.tx_total, WAIT_MS));
	raise_buf(fd, SO_SNDBUF, SO_SNDBUFFORCE, BIG_BUF);
	tn_write_pattern(fd, x.tx_seed, 0, 1u << 20);
	x.tx_off = 1u << 20;
	wait_probing(fd);
	cr_assert_gt(tn_outq_unsent(fd), 0);
	cr_log_info("zero window at the peer: %d bytes queued here, %d unsent",
		    tn_outq(fd), tn_outq_unsent(fd));
	x.fd = move_fd(checkpoint, fd);
	stream_cmd(&p, 'G');
	tn_set_nonblock(x.fd, true);
	stream_verify(&x, &p);
	close(x.fd);
	close(lfd);
}

Test(queues, zero_window_ours_ipv4_all)
{
	zero_window_ours(AF_INET, checkpoint_all);
}

Test(queues, zero_window_ours_ipv6_one)
{
	zero_window_ours(AF_INET6, checkpoint_one);
}

Test(queues, zero_window_peer_ipv4_one)
{
	zero_window_peer(AF_INET, checkpoint_one);
}

Test(queues, zero_window_peer_ipv6_all)
{
	zero_window_peer(AF_INET6, checkpoint_all);
}

/* 3. The peer streaming at full speed while the stop happens. */

#define STREAM_ROUNDS 20

static void check_stream(struct xfer *x, const uint8_t *buf, ssize_t r)
{
	ssize_t i;

	for (i = 0; i < r; i++)
		cr_assert_eq(buf[i], pattern_byte(x->rx_seed, x->rx_off + i),
			     "byte %llu of the stream is wrong",
			     (unsigned long long)(x->rx_off + i));
	x->rx_off += (uint64_t)r;
}

static uint8_t rx_buf[1 << 18];

/* Reads and checks the stream for ms: it has no end yet. */
static void read_for(struct xfer *x, int ms)
{
	long end = now_ms() + ms;

	while (now_ms() < end) {
		struct pollfd p = { .fd = x->fd, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, 5) <= 0)
			continue;
		r = recv(x->fd, rx_buf, sizeof(rx_buf), MSG_DONTWAIT);
		if (r < 0 && errno == EAGAIN)
			continue;
		cr_assert_gt(r, 0, "recv at byte %llu: %s",
			     (unsigned long long)x->rx_off,
			     r ? strerror(errno) : "EOF");
		check_stream(x, rx_buf, r);
	}
}

static void spin_us(int us)
{
	double end = now_s() + us / 1e6;

	while (now_s() < end)
		;
}

static uint8_t drained[32 << 20];

/* Empties our receive queue into drained[], to be checked once the stop
 * has run: the window opens wide and the peer, woken by the update, is
 * sending into it while the stop runs. */
static size_t drain(int fd)
{
	size_t n = 0;
	ssize_t r;
	int i;

	for (i = 0; i < 1000 && n < sizeof(drained); i++) {
		r = recv(fd, drained + n, sizeof(drained) - n, MSG_DONTWAIT);
		if (r < 0 && errno == EAGAIN)
			break;
		cr_assert_gt(r, 0, "recv: %s", r ? strerror(errno) : "EOF");
		n += (size_t)r;
	}
	return n;
}

/* One call of a move: refused (0 and why) or done (1); ALL reports a
 * socket's failure in the list, ONE in the return value. */
static int call_ok(int rc, struct result_list *rl, const char *what,
		   char *why, size_t len)
{
	int err = rc ? errno : 0;

	if (!err && rl)
		cr_assert_eq(rl->fd_all, 1, "%s: %u sockets processed", what,
			     rl->fd_all);
	if (!err && rl && rl->fd_ng)
		err = -rl->fdrs[0].result;
	free(rl);
	if (!err)
		return 1;
	snprintf(why, len, "%s: %s (%s)", what, strerror(err),
		 tcpcp_strerror_detail());
	return 0;
}

static void must(int rc, struct result_list *rl, const char *what)
{
	char why[300];

	cr_assert(call_ok(rc, rl, what, why, sizeof(why)), "%s", why);
}

/* stop and get_si may refuse a moving queue; what follows may not fail.
 * Returns the socket to go on with: the restored one, or the old one
 * started again after a refusal (*why says which call refused).  The
 * connections here are IPv4. */
static int move_or_refuse(int fd, int flag, char *why, size_t len)
{
	int target =
		flag == TCPCP_EXEC_ALL ? socket(AF_INET, SOCK_STREAM, 0) : fd;
	struct result_list *rl = NULL;
	unsigned int size = 0;
	void *buf = NULL;
	int nfd;

	why[0] = '\0';
	cr_assert_geq(target, 0);
	if (!call_ok(tcpcp_stop(target, flag, &rl), rl, "stop", why, len))
		goto out; /* still live: stop unwinds */
	rl = NULL;
	if (!call_ok(tcpcp_get_si(target, flag, &buf, &size, &rl), rl, "get_si",
		     why, len)) {
		rl = NULL;
		must(tcpcp_start(target, flag, &rl), rl, "start after refusal");
		goto out;
	}
	rl = NULL;
	must(tcpcp_close(target, &rl), rl, "close");
	nfd = flag == TCPCP_EXEC_ALL ? target : socket(AF_INET, SOCK_STREAM, 0);
	rl = NULL;
	cr_assert_eq(tcpcp_set_si(nfd, flag, buf, size, &rl), TCPCP_RET_OK,
		     "set_si: %s (%s)", strerror(errno),
		     tcpcp_strerror_detail());
	cr_assert_eq(rl->fd_ng, 0, "set_si: %d", rl->fdrs[0].result);
	fd = rl->fdrs[0].result;
	free(rl);
	rl = NULL;
	must(tcpcp_start(flag == TCPCP_EXEC_ALL ? target : fd, flag, &rl), rl,
	     "start");
out:
	free(buf);
	if (flag == TCPCP_EXEC_ALL)
		close(target);
	return fd;
}

/* One round: a fresh connection, the peer streaming, stop mid-stream. */
static bool stream_round(int round, char *why, size_t len)
{
	struct stream_cfg cfg = {
		.tx_total = FOREVER,
		.rx_total = 1000 + 4096, /* ours, before the stop and after */
	};
	int flag = round % 2 ? TCPCP_EXEC_ALL : TCPCP_EXEC_ONE;
	struct peer p;
	struct xfer x;
	char msg[300];
	int lfd, fd;
	size_t n;

	fd = stream_open(&cfg, &p, &x, AF_INET, &lfd);
	close(lfd);
	stream_msg(&p, msg, sizeof(msg), WAIT_MS);
	cr_assert_str_eq(msg, "R");
	tn_write_pattern(fd, x.tx_seed, 0, 1000);
	x.tx_off = 1000;
	tn_set_nonblock(fd, true);
	read_for(&x, 30 + 5 * round);
	n = drain(fd);
	spin_us(10 * (round / 2 % 10)); /* the burst lands at a new point */
	fd = move_or_refuse(fd, flag, why, len);
	check_stream(&x, drained, (ssize_t)n);
	x.fd = fd;
	tn_set_nonblock(fd, true);
	read_for(&x, 50);
	x.rx_end = stream_stop_tx(&p);
	stream_verify(&x, &p);
	close(fd);
	return !why[0];
}

Test(queues, streaming_during_stop)
{
	unsigned int moved = 0, refused = 0;
	long end = now_ms() + 100000;
	char why[300];
	int i;

	for (i = 0; i < STREAM_ROUNDS && now_ms() < end; i++) {
		if (stream_round(i, why, sizeof(why))) {
			moved++;
			continue;
		}
		refused++;
		cr_log_info("round %d (%s): refused, %s", i,
			    i % 2 ? "ALL" : "ONE", why);
	}
	cr_log_info("streaming: %u rounds moved, %u refused loudly, in %d "
		    "rounds", moved, refused, i);
	cr_expect_eq(i, STREAM_ROUNDS, "rounds ran out of time");
	cr_expect_gt(moved, 0, "every stop under load was refused");
}

/* 4. Scale: TCPCP_EXEC_ALL over 10 000 connections. */

#define SCALE_N 10000

static void timed(int rc, struct result_list *rl, const char *what,
		  double t0, double *ret)
{
	*ret = now_s() - t0;
	cr_assert_eq(rc, TCPCP_RET_OK, "%s: %s (%s)", what, strerror(errno),
		     tcpcp_strerror_detail());
	cr_assert_eq(rl->fd_all, SCALE_N, "%s: %u processed", what, rl->fd_all);
	cr_assert_eq(rl->fd_ng, 0, "%s: %u failed, first %d", what, rl->fd_ng,
		     rl->fdrs[0].result);
}

/* checkpoint_all(), each phase timed. */
static void checkpoint_all_timed(struct side *s, double t[5])
{
	int dummy = socket(AF_INET, SOCK_STREAM, 0), rc;
	struct result_list *rl = NULL;
	unsigned int size = 0, i;
	void *buf = NULL;
	double t0;

	cr_assert_geq(dummy, 0);
	t0 = now_s();
	rc = tcpcp_stop(dummy, TCPCP_EXEC_ALL, &rl);
	timed(rc, rl, "stop", t0, &t[0]);
	free(rl);
	t0 = now_s();
	rc = tcpcp_get_si(dummy, TCPCP_EXEC_ALL, &buf, &size, &rl);
	timed(rc, rl, "get_si", t0, &t[1]);
	free(rl);
	t0 = now_s();
	rc = tcpcp_close(dummy, &rl);
	timed(rc, rl, "close", t0, &t[2]);
	free(rl);
	t0 = now_s();
	rc = tcpcp_set_si(dummy, TCPCP_EXEC_ALL, buf, size, &rl);
	timed(rc, rl, "set_si", t0, &t[3]);
	for (i = 0; i < SCALE_N; i++)
		s->fds[i] = rl->fdrs[i].result;
	free(rl);
	free(buf);
	t0 = now_s();
	rc = tcpcp_start(dummy, TCPCP_EXEC_ALL, &rl);
	timed(rc, rl, "start", t0, &t[4]);
	free(rl);
	close(dummy);
	cr_log_info("TCP-SI of %u bytes", size);
}

Test(queues, scale_ipv4_10000, .timeout = 120)
{
	struct peer_cfg cfg = {
		.family = AF_INET,
		.nconns = SCALE_N,
		.to_server = 100,
		.from_server = 150,
		.after = 10,
		.block = true,
	};
	double t[5], t0, open_s, total;
	struct side s;

	/* each process holds n sockets at most (set_si runs after close),
	 * and hard limits of 20 000 without CAP_SYS_RESOURCE are common */
	if (!testnet_nofile(SCALE_N + 256))
		cr_skip_test("RLIMIT_NOFILE cannot be raised to %u here",
			     SCALE_N + 256);
	t0 = now_s();
	side_open(&s, &cfg, 0);
	open_s = now_s() - t0;
	cr_assert_eq(tn_inq(s.fds[SCALE_N - 1]), 100);
	cr_assert_eq(tn_outq(s.fds[SCALE_N - 1]), 150);
	checkpoint_all_timed(&s, t);
	total = t[0] + t[1] + t[2] + t[3] + t[4];
	cr_log_info("%d connections: stop %.2f s, get_si %.2f s, "
		    "close %.2f s, set_si %.2f s, start %.2f s; "
		    "all five %.2f s (setup %.2f s)", SCALE_N, t[0], t[1],
		    t[2], t[3], t[4], total, open_s);
	t0 = now_s();
	side_verify(&s);
	cr_log_info("verify: %.2f s", now_s() - t0);
}
