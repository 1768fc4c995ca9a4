// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * kmod-ioctl-test: tcpcp2.ko through its ioctls alone, on loopback
 * connections in a network namespace of its own.  Run as root in the VM
 * with the module loaded; exit 0 when every test passed, 77 without
 * /dev/tcpcp2.  --tap=FILE writes one TAP line per test there.
 *
 * Build: cc -O2 -static -Wall -I include kmod/tests/kmod_ioctl_test.c
 */
#define _GNU_SOURCE
#include <linux/capability.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <signal.h>
#include <sys/wait.h>

#include "kmod_common.h"
#include "tcpcp_si.h"

#define STATE_AT (TCPCP_SI_TOTAL_HDR_LEN + \
		  offsetof(struct tcpcp_si_hdr, vargen.state))

static int dev;

/* ---- argument checking ---- */

static int t_version(void)
{
	struct tcpcp_ioc_version v = { .size = sizeof(v) };

	CHECK(!ioctl(dev, TCPCP_IOC_VERSION, &v), "VERSION: %s", strerror(errno));
	CHECK(v.version == TCPCP_IOCTL_VERSION, "version %u", v.version);
	CHECK(v.si_major == 1, "TCP-SI major %u", v.si_major);
	v.size = 8;
	CHECK(ioctl(dev, TCPCP_IOC_VERSION, &v) && errno == EINVAL,
	      "a wrong size is EINVAL");
	v = (struct tcpcp_ioc_version){ .size = sizeof(v), .reserved = { 1 } };
	CHECK(ioctl(dev, TCPCP_IOC_VERSION, &v) && errno == EINVAL,
	      "reserved bits are EINVAL");
	CHECK(ioctl(dev, _IOWR('T', 0xcf, struct tcpcp_ioc_call), &v) &&
	      errno == ENOTTY, "an unknown ioctl is ENOTTY");
	CHECK(ioctl(dev, TCPCP_IOC_VERSION, NULL) && errno == EFAULT,
	      "a NULL argument is EFAULT");
	return 0;
}

static int raw(unsigned long cmd, struct tcpcp_ioc_call *a)
{
	return ioctl(dev, cmd, a) ? -errno : 0;
}

static void base(struct tcpcp_ioc_call *a, int fd)
{
	memset(a, 0, sizeof(*a));
	a->size = sizeof(*a);
	a->version = TCPCP_IOCTL_VERSION;
	a->fd = fd;
}

static int t_bad_args(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct tcpcp_ioc_call a;
	char buf[64];

	base(&a, fd);
	a.size--;
	CHECK(raw(TCPCP_IOC_STOP, &a) == -EINVAL, "size");
	base(&a, fd);
	a.version = 99;
	CHECK(raw(TCPCP_IOC_STOP, &a) == -EINVAL, "version");
	base(&a, fd);
	a.flags = 0x80;
	CHECK(raw(TCPCP_IOC_STOP, &a) == -EINVAL, "unknown flag");
	base(&a, fd);
	a.flags = TCPCP_IOC_F_NOPROBE;
	CHECK(raw(TCPCP_IOC_STOP, &a) == -EINVAL, "a flag of another call");
	base(&a, fd);
	a.flags = TCPCP_IOC_F_ALL;
	CHECK(raw(TCPCP_IOC_CLOSE, &a) == -EINVAL, "CLOSE takes no flag");
	base(&a, fd);
	a.hold_seconds = 5;
	CHECK(raw(TCPCP_IOC_STOP, &a) == -EINVAL, "hold without its flag");
	base(&a, fd);
	a.flags = TCPCP_IOC_F_HOLD;
	a.hold_seconds = TCPCP_IOC_HOLD_MAX + 1;
	CHECK(raw(TCPCP_IOC_STOP, &a) == -EINVAL, "hold too long");
	base(&a, fd);
	a.reserved[3] = 1;
	CHECK(raw(TCPCP_IOC_START, &a) == -EINVAL, "reserved");
	base(&a, fd);
	a.results_cap = TCPCP_IOC_RESULTS_MAX + 1;
	a.results = (uintptr_t)buf;
	CHECK(raw(TCPCP_IOC_STOP, &a) == -EINVAL, "results_cap too big");
	base(&a, fd);
	a.results_cap = 4;
	CHECK(raw(TCPCP_IOC_STOP, &a) == -EINVAL, "results_cap, no results");
	base(&a, fd);
	a.si = (uintptr_t)buf;
	a.si_size = sizeof(buf);
	CHECK(raw(TCPCP_IOC_STOP, &a) == -EINVAL, "a TCP-SI on STOP");
	base(&a, fd);
	CHECK(raw(TCPCP_IOC_SET_SI, &a) == -EFAULT, "no TCP-SI on SET_SI");
	base(&a, fd);
	a.results_count = 1;
	CHECK(raw(TCPCP_IOC_STOP, &a) == -EINVAL, "output fields set");
	CHECK(ioctl(dev, TCPCP_IOC_STOP, (void *)8) && errno == EFAULT,
	      "a bad argument pointer is EFAULT");
	close(fd);
	return 0;
}

/* ---- the manual's errors ---- */

static int expect_all(int fd, int err, const char *what)
{
	static const unsigned long cmds[] = { TCPCP_IOC_STOP, TCPCP_IOC_GET_SI,
					      TCPCP_IOC_START, TCPCP_IOC_CLOSE };
	char buf[4096];
	struct call c;
	unsigned int i;

	for (i = 0; i < 4; i++) {
		int e = ioc(dev, cmds[i], fd, 0, cmds[i] == TCPCP_IOC_GET_SI ?
			    buf : NULL, cmds[i] == TCPCP_IOC_GET_SI ?
			    sizeof(buf) : 0, &c);

		CHECK(e == -err, "%s: call %u gave %d, not -%d", what, i, e,
		      err);
	}
	return 0;
}

static int t_errno(void)
{
	int p[2], fd, on = 1, cfd, sfd;
	char buf[4096];
	struct call c;

	CHECK(!expect_all(-1, EBADF, "fd -1"), "%s", fail_msg);
	CHECK(!pipe(p), "pipe");
	CHECK(!expect_all(p[0], ENOTSOCK, "a pipe"), "%s", fail_msg);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(!expect_all(fd, EPFNOSUPPORT, "AF_UNIX"), "%s", fail_msg);
	close(fd);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	CHECK(!expect_all(fd, ESOCKTNOSUPPORT, "UDP"), "%s", fail_msg);
	close(fd);
	fd = socket(AF_INET, SOCK_STREAM, 262 /* IPPROTO_MPTCP */);
	if (fd >= 0) {
		CHECK(!expect_all(fd, EPROTONOSUPPORT, "MPTCP"), "%s", fail_msg);
		close(fd);
	}
	/* unconnected: stop and get_si refuse, start has nothing to do */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(ioc(dev, TCPCP_IOC_STOP, fd, 0, NULL, 0, &c) == -EBADFD,
	      "stop of an unconnected socket");
	CHECK(ioc(dev, TCPCP_IOC_GET_SI, fd, 0, buf, sizeof(buf), &c) ==
	      -EBADFD, "get_si of an unconnected socket");
	CHECK(!ioc(dev, TCPCP_IOC_START, fd, 0, NULL, 0, &c),
	      "start of an unconnected socket");
	CHECK(!pair(AF_INET, &cfd, &sfd), "pair");
	CHECK(ioc(dev, TCPCP_IOC_CLOSE, sfd, 0, NULL, 0, &c) == -EBADFD,
	      "close of a live socket");
	CHECK(write(sfd, "x", 1) == 1, "the live socket still works");
	/* someone else's repair mode: busy */
	CHECK(!setsockopt(cfd, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on)),
	      "TCP_REPAIR");
	CHECK(!expect_all(cfd, EBUSY, "repair mode"), "%s", fail_msg);
	close(cfd);
	close(sfd);
	close(fd);
	close(p[0]);
	close(p[1]);
	return 0;
}

/* ---- moving connections ---- */

struct conn {
	int c, s;              /* client (stays), server end (moved) */
	struct stream c2s, s2c; /* what each side wrote */
	struct stream c2s_r, s2c_r; /* what each side read */
};

static int conn_open(int family, struct conn *k, uint8_t salt)
{
	memset(k, 0, sizeof(*k));
	k->c2s.salt = k->c2s_r.salt = salt;
	k->s2c.salt = k->s2c_r.salt = salt ^ 0x5a;
	return pair(family, &k->c, &k->s);
}

/* Data queued everywhere: unread at the server, in flight both ways. */
static int conn_load(struct conn *k, size_t before)
{
	CHECK(stream_write(k->c, &k->c2s, before) > 0, "c write");
	CHECK(stream_write(k->s, &k->s2c, before / 2) > 0, "s write");
	CHECK(!stream_read(k->c, &k->s2c_r, k->s2c.off, 2000), "c read: %s",
	      fail_msg);
	/* unacknowledged at the stop, with luck: sent just before it */
	stream_write(k->s, &k->s2c, 3000);
	return 0;
}

/* After stop: more bytes each way, which the block keeps in the queues. */
static int conn_load_stopped(struct conn *k, size_t n)
{
	CHECK(stream_write(k->s, &k->s2c, n) > 0, "s write while stopped");
	CHECK(stream_write(k->c, &k->c2s, n) > 0, "c write to a stopped peer");
	usleep(50000);
	return 0;
}

/* The moved end reads all the client wrote, the client all it wrote. */
static int conn_verify(struct conn *k)
{
	int err = 0;
	socklen_t len = sizeof(err);

	CHECK(!stream_read(k->s, &k->c2s_r, k->c2s.off - k->c2s_r.off, 5000),
	      "server side: %s", fail_msg);
	CHECK(!stream_read(k->c, &k->s2c_r, k->s2c.off - k->s2c_r.off, 5000),
	      "client side: %s", fail_msg);
	/* and on, both ways, after the move */
	CHECK(stream_write(k->s, &k->s2c, 3000) == 3000, "s write after");
	CHECK(stream_write(k->c, &k->c2s, 3000) == 3000, "c write after");
	CHECK(!stream_read(k->s, &k->c2s_r, 3000, 3000), "after: %s", fail_msg);
	CHECK(!stream_read(k->c, &k->s2c_r, 3000, 3000), "after: %s", fail_msg);
	getsockopt(k->c, SOL_SOCKET, SO_ERROR, &err, &len);
	CHECK(!err, "the client saw %s", strerror(err));
	return 0;
}

static int restore_one(int family, void *si, unsigned int len, int *ret_fd)
{
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct call c;
	int err = ioc(dev, TCPCP_IOC_SET_SI, fd, 0, si, len, &c);

	CHECK(!err, "set_si: %s", strerror(-err));
	CHECK(c.a.results_count == 1 && c.res[0].result == fd,
	      "set_si result %d", c.res[0].result);
	err = ioc(dev, TCPCP_IOC_START, fd, 0, NULL, 0, &c);
	CHECK(!err, "start: %s", strerror(-err));
	*ret_fd = fd;
	return 0;
}

static int move_one(int family)
{
	unsigned int len;
	struct conn k;
	struct call c;
	void *si;
	int err;

	CHECK(!conn_open(family, &k, 1), "pair");
	CHECK(!conn_load(&k, 100000), "%s", fail_msg);
	err = ioc(dev, TCPCP_IOC_STOP, k.s, 0, NULL, 0, &c);
	CHECK(!err && c.a.results_count == 1 && c.res[0].fd == k.s,
	      "stop: %s", strerror(-err));
	CHECK(!ioc(dev, TCPCP_IOC_STOP, k.s, 0, NULL, 0, &c), "stop again");
	CHECK(!conn_load_stopped(&k, 60000), "%s", fail_msg);
	err = get_si(dev, k.s, 0, &si, &len, &c);
	CHECK(!err, "get_si: %s", strerror(-err));
	CHECK(len > 60000, "a TCP-SI of %u bytes cannot hold the queues",
	      len);
	err = ioc(dev, TCPCP_IOC_CLOSE, k.s, 0, NULL, 0, &c);
	CHECK(!err, "close: %s", strerror(-err));
	CHECK(fcntl(k.s, F_GETFD) < 0, "the descriptor is closed");
	usleep(300000); /* the client retransmits into the hold */
	CHECK(!restore_one(family, si, len, &k.s), "%s", fail_msg);
	free(si);
	CHECK(tcp_state(k.s) == TCP_ESTABLISHED, "state %d", tcp_state(k.s));
	err = conn_verify(&k);
	close(k.s);
	close(k.c);
	return err;
}

static int t_move_ipv4(void)
{
	return move_one(AF_INET);
}

static int t_move_ipv6(void)
{
	return move_one(AF_INET6);
}

/* An IPv6 socket talking to an IPv4 peer: its segments travel as IPv4. */
static int t_move_v4mapped(void)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6 };
	struct sockaddr_in la;
	socklen_t len = sizeof(la);
	int l = socket(AF_INET, SOCK_STREAM, 0), fd;
	unsigned int silen;
	struct conn k;
	struct call c;
	void *si;

	memset(&k, 0, sizeof(k));
	k.s2c.salt = k.s2c_r.salt = 9;
	k.c2s.salt = k.c2s_r.salt = 10;
	la = (struct sockaddr_in){ .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	CHECK(!bind(l, (struct sockaddr *)&la, sizeof(la)) && !listen(l, 1),
	      "listen");
	getsockname(l, (struct sockaddr *)&la, &len);
	sa.sin6_port = la.sin_port;
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &sa.sin6_addr);
	k.s = socket(AF_INET6, SOCK_STREAM, 0);
	CHECK(!connect(k.s, (struct sockaddr *)&sa, sizeof(sa)), "connect");
	k.c = accept(l, NULL, NULL);
	close(l);
	CHECK(!conn_load(&k, 20000), "%s", fail_msg);
	CHECK(!ioc(dev, TCPCP_IOC_STOP, k.s, 0, NULL, 0, &c), "stop");
	CHECK(!conn_load_stopped(&k, 5000), "%s", fail_msg);
	CHECK(!get_si(dev, k.s, 0, &si, &silen, &c), "get_si");
	CHECK(!ioc(dev, TCPCP_IOC_CLOSE, k.s, 0, NULL, 0, &c), "close");
	CHECK(!restore_one(AF_INET6, si, silen, &fd), "%s", fail_msg);
	free(si);
	k.s = fd;
	fd = conn_verify(&k);
	close(k.s);
	close(k.c);
	return fd;
}

/* ---- every socket of the process in one call ---- */

#define NALL 6

/* The client ends live in a child, so ALL in this process takes only the
 * server ends.  The child loads and then checks its side. */
static int all_child(int family_mix, uint16_t port4, uint16_t port6,
		     int ctl_in, int ctl_out)
{
	struct conn k[NALL];
	char go;
	int i;

	for (i = 0; i < NALL; i++) {
		int fam = family_mix && (i & 1) ? AF_INET6 : AF_INET;

		memset(&k[i], 0, sizeof(k[i]));
		k[i].c2s.salt = k[i].c2s_r.salt = (uint8_t)(i * 3 + 1);
		k[i].s2c.salt = k[i].s2c_r.salt = (uint8_t)(i * 3 + 2);
		k[i].c = connect_to(fam, fam == AF_INET ? port4 : port6);
		if (k[i].c < 0 || stream_write(k[i].c, &k[i].c2s, 30000 + i) !=
				  30000u + i)
			return 10;
	}
	if (write(ctl_out, "r", 1) != 1 || read(ctl_in, &go, 1) != 1)
		return 11; /* the parent stops everything meanwhile */
	for (i = 0; i < NALL; i++) /* into the held tuples */
		stream_write(k[i].c, &k[i].c2s, 2000);
	if (write(ctl_out, "w", 1) != 1 || read(ctl_in, &go, 1) != 1)
		return 12; /* restored and started */
	for (i = 0; i < NALL; i++) {
		if (stream_read(k[i].c, &k[i].s2c_r, 12000 + i, 5000)) {
			fprintf(stderr, "child %d: %s\n", i, fail_msg);
			return 13;
		}
	}
	if (write(ctl_out, "d", 1) != 1)
		return 14;
	return 0;
}

/* Recorded descriptor -> its new number, from set_si's results. */
static int new_fd(const struct call *c, int old)
{
	unsigned int i;

	for (i = 0; i < c->a.results_count; i++)
		if (c->res[i].fd == old)
			return c->res[i].result;
	return -1;
}

static int all_parent(int *s, uint8_t *salts, int ctl_in, int ctl_out)
{
	int dummy = socket(AF_INET, SOCK_STREAM, 0), i, err;
	struct stream w[NALL], r[NALL];
	unsigned int len;
	struct call c;
	char ack;
	void *si;

	for (i = 0; i < NALL; i++) {
		w[i] = (struct stream){ 0, (uint8_t)(salts[i] + 1) };
		r[i] = (struct stream){ 0, salts[i] };
	}
	err = ioc(dev, TCPCP_IOC_STOP, dummy, TCPCP_IOC_F_ALL, NULL, 0, &c);
	CHECK(!err && c.a.results_count == NALL && !c.a.results_ng,
	      "stop ALL: %s, %u results", strerror(-err), c.a.results_count);
	CHECK(write(ctl_out, "g", 1) == 1 && read(ctl_in, &ack, 1) == 1,
	      "child");
	for (i = 0; i < NALL; i++) /* queued behind the block */
		CHECK(stream_write(s[i], &w[i], 12000 + i) == 12000u + i,
		      "write %d", i);
	err = get_si(dev, dummy, TCPCP_IOC_F_ALL, &si, &len, &c);
	CHECK(!err && c.a.results_count == NALL, "get_si ALL: %s",
	      strerror(-err));
	err = ioc(dev, TCPCP_IOC_CLOSE, dummy, 0, NULL, 0, &c);
	CHECK(!err && c.a.results_count == NALL, "close ALL: %s, %u",
	      strerror(-err), c.a.results_count);
	err = ioc(dev, TCPCP_IOC_SET_SI, dummy, TCPCP_IOC_F_ALL, si, len, &c);
	free(si);
	CHECK(!err && c.a.results_count == NALL && !c.a.results_ng,
	      "set_si ALL: %s, %u failed", strerror(-err), c.a.results_ng);
	for (i = 0; i < NALL; i++) {
		s[i] = new_fd(&c, s[i]);
		CHECK(s[i] >= 0, "no new descriptor for connection %d", i);
	}
	err = ioc(dev, TCPCP_IOC_START, dummy, TCPCP_IOC_F_ALL, NULL, 0, &c);
	CHECK(!err && c.a.results_count == NALL && !c.a.results_ng,
	      "start ALL: %s", strerror(-err));
	CHECK(write(ctl_out, "s", 1) == 1, "child");
	for (i = 0; i < NALL; i++)
		CHECK(!stream_read(s[i], &r[i], 32000 + i, 5000),
		      "connection %d: %s", i, fail_msg);
	CHECK(read(ctl_in, &ack, 1) == 1 && ack == 'd', "the child's side");
	close(dummy);
	return 0;
}

static int t_move_all(void)
{
	int to_child[2], to_parent[2], s[NALL], i, l4, l6, st, err;
	uint16_t p4 = 0, p6 = 0;
	uint8_t salts[NALL];
	pid_t pid;

	l4 = listener(AF_INET, &p4);
	l6 = listener(AF_INET6, &p6);
	CHECK(l4 >= 0 && l6 >= 0, "listeners");
	CHECK(!pipe(to_child) && !pipe(to_parent), "pipes");
	pid = fork();
	if (!pid) {
		close(l4);
		close(l6);
		_exit(all_child(1, p4, p6, to_child[0], to_parent[1]));
	}
	close(to_child[0]);
	close(to_parent[1]);
	for (i = 0; i < NALL; i++) {
		s[i] = accept((i & 1) ? l6 : l4, NULL, NULL);
		salts[i] = (uint8_t)(i * 3 + 1);
	}
	close(l4);
	close(l6);
	CHECK(read(to_parent[0], (char[1]){ 0 }, 1) == 1, "child ready");
	err = all_parent(s, salts, to_parent[0], to_child[1]);
	if (err)
		kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	for (i = 0; i < NALL; i++)
		close(s[i]);
	close(to_child[1]);
	close(to_parent[0]);
	CHECK(!err, "%s", fail_msg);
	CHECK(WIFEXITED(st) && !WEXITSTATUS(st), "the client side: status %d",
	      st);
	return 0;
}

/* ---- ENOSPC: nothing happens, the room needed is said ---- */

static int t_enospc(void)
{
	int dummy = socket(AF_INET, SOCK_STREAM, 0);
	struct tcpcp_ioc_result one;
	struct tcpcp_ioc_call a;
	struct conn k[2];
	char small[64];
	struct call c;
	int i;

	for (i = 0; i < 2; i++)
		CHECK(!conn_open(AF_INET, &k[i], 3), "pair");
	base(&a, dummy);
	a.flags = TCPCP_IOC_F_ALL;
	a.results = (uintptr_t)&one;
	a.results_cap = 1;
	CHECK(raw(TCPCP_IOC_STOP, &a) == -ENOSPC, "stop ALL with room for 1");
	CHECK(a.results_count == 4, "4 sockets need room, not %u",
	      a.results_count);
	CHECK(write(k[0].s, "x", 1) == 1, "not stopped");
	CHECK(ioc(dev, TCPCP_IOC_GET_SI, k[0].s, 0, small, sizeof(small), &c) ==
	      -ENOSPC && c.a.si_len > 164, "get_si into 64 bytes");
	for (i = 0; i < 2; i++) {
		close(k[i].c);
		close(k[i].s);
	}
	close(dummy);
	return 0;
}

/* ---- a running socket is read as it is, and keeps running ---- */

static int t_snapshot(void)
{
	unsigned int len;
	struct conn k;
	struct call c;
	void *si;

	CHECK(!conn_open(AF_INET, &k, 5), "pair");
	CHECK(stream_write(k.c, &k.c2s, 5000) == 5000, "write");
	usleep(20000);
	CHECK(!get_si(dev, k.s, 0, &si, &len, &c), "get_si of a live socket");
	CHECK(len > 5000, "the unread bytes are in it");
	free(si);
	CHECK(!stream_read(k.s, &k.c2s_r, 5000, 2000), "%s", fail_msg);
	CHECK(stream_write(k.s, &k.s2c, 100) == 100, "write");
	CHECK(!stream_read(k.c, &k.s2c_r, 100, 2000), "still live: %s",
	      fail_msg);
	close(k.c);
	close(k.s);
	return 0;
}

/* ---- the hold outlives the socket ---- */

static int reset_within(int fd, int ms)
{
	int err = 0, i;
	socklen_t len;

	for (i = 0; i < ms / 10; i++) {
		len = sizeof(err);
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err == ECONNRESET || tcp_state(fd) == TCP_CLOSE)
			return 1;
		usleep(10000);
	}
	return 0;
}

static int t_hold(void)
{
	struct tcpcp_ioc_call a;
	struct conn k;
	struct call c;

	CHECK(!conn_open(AF_INET, &k, 7), "pair");
	base(&a, k.s);
	a.flags = TCPCP_IOC_F_HOLD;
	a.hold_seconds = 2;
	a.results = (uintptr_t)c.res;
	a.results_cap = 1;
	CHECK(!raw(TCPCP_IOC_STOP, &a), "stop with a 2 s hold: %s",
	      strerror(errno));
	CHECK(!ioc(dev, TCPCP_IOC_CLOSE, k.s, 0, NULL, 0, &c), "close");
	CHECK(stream_write(k.c, &k.c2s, 100) == 100, "write");
	CHECK(!reset_within(k.c, 1200), "reset while the hold lasts");
	CHECK(reset_within(k.c, 10000), "no reset after the hold expired");
	close(k.c);
	/* start lifts the block at once */
	CHECK(!conn_open(AF_INET, &k, 8), "pair");
	CHECK(!ioc(dev, TCPCP_IOC_STOP, k.s, 0, NULL, 0, &c), "stop");
	CHECK(stream_write(k.c, &k.c2s, 100) == 100, "write");
	usleep(100000);
	CHECK(recv(k.s, (char[1]){ 0 }, 1, MSG_DONTWAIT) < 0, "blocked");
	CHECK(!ioc(dev, TCPCP_IOC_START, k.s, 0, NULL, 0, &c), "start");
	CHECK(!stream_read(k.s, &k.c2s_r, 100, 3000), "after start: %s",
	      fail_msg);
	close(k.c);
	close(k.s);
	return 0;
}

/* tcpcp_hold(): the tuples of a TCP-SI held before any socket has them */
static int t_hold_ioctl(void)
{
	struct tcpcp_ioc_call a;
	unsigned int len;
	struct conn k;
	struct call c;
	void *si;
	int fd;

	CHECK(!conn_open(AF_INET6, &k, 19), "pair");
	CHECK(!get_si(dev, k.s, 0, &si, &len, &c), "get_si");
	base(&a, k.s);
	a.si = (uintptr_t)si;
	a.si_size = len;
	CHECK(raw(TCPCP_IOC_HOLD, &a) == -EINVAL, "HOLD takes fd -1");
	a.fd = -1;
	a.flags = TCPCP_IOC_F_HOLD;
	a.hold_seconds = 30;
	CHECK(!raw(TCPCP_IOC_HOLD, &a), "HOLD: %s", strerror(errno));
	/* the tuple is held: even the live socket's segments stay out */
	CHECK(stream_write(k.c, &k.c2s, 100) == 100, "write");
	usleep(200000);
	CHECK(recv(k.s, (char[1]){ 0 }, 1, MSG_DONTWAIT) < 0, "held");
	CHECK(!ioc(dev, TCPCP_IOC_STOP, k.s, 0, NULL, 0, &c), "stop");
	free(si);
	CHECK(!get_si(dev, k.s, 0, &si, &len, &c), "get_si");
	CHECK(!ioc(dev, TCPCP_IOC_CLOSE, k.s, 0, NULL, 0, &c), "close");
	CHECK(!restore_one(AF_INET6, si, len, &fd), "%s", fail_msg);
	free(si);
	k.s = fd;
	fd = conn_verify(&k);
	close(k.s);
	close(k.c);
	return fd;
}

/* ---- half-closed states ---- */

static int half(int state)
{
	unsigned int len;
	struct conn k;
	struct call c;
	char b;
	void *si;
	int fd;

	CHECK(!conn_open(AF_INET, &k, 11), "pair");
	CHECK(stream_write(k.c, &k.c2s, 7000) == 7000, "write");
	if (state == TCP_CLOSE_WAIT || state == TCP_LAST_ACK)
		shutdown(k.c, SHUT_WR);
	if (state == TCP_FIN_WAIT2) {
		shutdown(k.s, SHUT_WR);
		CHECK(recv(k.c, &b, 1, 0) == 0, "the client sees the FIN");
	}
	usleep(50000);
	CHECK(!ioc(dev, TCPCP_IOC_STOP, k.s, 0, NULL, 0, &c), "stop");
	/* our FIN behind the block: queued, not sent */
	if (state == TCP_FIN_WAIT1 || state == TCP_LAST_ACK)
		shutdown(k.s, SHUT_WR);
	CHECK(tcp_state(k.s) == state, "state %d before, not %d",
	      tcp_state(k.s), state);
	CHECK(!get_si(dev, k.s, 0, &si, &len, &c), "get_si");
	CHECK(!ioc(dev, TCPCP_IOC_CLOSE, k.s, 0, NULL, 0, &c), "close");
	CHECK(!restore_one(AF_INET, si, len, &fd), "%s", fail_msg);
	free(si);
	/* once started, our FIN may already be out and acknowledged */
	CHECK(tcp_state(fd) == state || state == TCP_LAST_ACK ||
	      (state == TCP_FIN_WAIT1 && tcp_state(fd) == TCP_FIN_WAIT2),
	      "state %d after, not %d", tcp_state(fd), state);
	CHECK(!stream_read(fd, &k.c2s_r, 7000, 3000), "%s", fail_msg);
	if (state == TCP_CLOSE_WAIT || state == TCP_LAST_ACK)
		CHECK(recv(fd, &b, 1, 0) == 0, "end of file after the bytes");
	if (state == TCP_FIN_WAIT1 || state == TCP_LAST_ACK)
		CHECK(recv(k.c, &b, 1, 0) == 0, "our FIN reaches the client");
	if (state == TCP_CLOSE_WAIT) {
		CHECK(stream_write(fd, &k.s2c, 500) == 500, "write");
		CHECK(!stream_read(k.c, &k.s2c_r, 500, 3000), "%s", fail_msg);
	}
	if (state == TCP_FIN_WAIT2) {
		CHECK(stream_write(k.c, &k.c2s, 500) == 500, "write");
		CHECK(!stream_read(fd, &k.c2s_r, 500, 3000), "%s", fail_msg);
	}
	close(fd);
	close(k.c);
	return 0;
}

static int t_close_wait(void)
{
	return half(TCP_CLOSE_WAIT);
}

static int t_fin_wait1(void)
{
	return half(TCP_FIN_WAIT1);
}

static int t_fin_wait2(void)
{
	return half(TCP_FIN_WAIT2);
}

static int t_last_ack(void)
{
	return half(TCP_LAST_ACK);
}

/* ---- privileges ---- */

static int drop_net_admin(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return -1;
	d[CAP_NET_ADMIN / 32].effective &= ~(1u << (CAP_NET_ADMIN % 32));
	d[CAP_NET_ADMIN / 32].permitted &= ~(1u << (CAP_NET_ADMIN % 32));
	d[CAP_NET_ADMIN / 32].inheritable &= ~(1u << (CAP_NET_ADMIN % 32));
	return syscall(SYS_capset, &h, d) ? -1 : 0;
}

static int unprivileged(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0), on = 1;
	unsigned int len;
	struct conn k;
	struct call c;
	void *si;

	CHECK(!drop_net_admin(), "capset");
	CHECK(setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on)) &&
	      errno == EPERM, "CAP_NET_ADMIN is really gone");
	CHECK(!conn_open(AF_INET, &k, 13), "pair");
	CHECK(stream_write(k.c, &k.c2s, 3000) == 3000, "write");
	usleep(20000);
	CHECK(!ioc(dev, TCPCP_IOC_STOP, k.s, 0, NULL, 0, &c),
	      "stop without privilege");
	CHECK(!get_si(dev, k.s, 0, &si, &len, &c), "get_si without privilege");
	CHECK(setsockopt(k.s, IPPROTO_TCP, TCP_REPAIR_QUEUE, &on, sizeof(on)) &&
	      errno == EPERM, "a stopped socket is not in repair mode");
	CHECK(ioc(dev, TCPCP_IOC_START, k.s, 0, NULL, 0, &c) == -EPERM,
	      "start needs CAP_NET_ADMIN");
	CHECK(ioc(dev, TCPCP_IOC_SET_SI, fd, 0, si, len, &c) == -EPERM,
	      "set_si needs CAP_NET_ADMIN");
	CHECK(ioc(dev, TCPCP_IOC_SET_SI, fd, TCPCP_IOC_F_ALL, si, len, &c) ==
	      -EPERM, "set_si ALL needs CAP_NET_ADMIN");
	CHECK(tcp_state(fd) == TCP_CLOSE, "the socket was not touched");
	CHECK(!ioc(dev, TCPCP_IOC_CLOSE, k.s, 0, NULL, 0, &c),
	      "close without privilege");
	free(si);
	close(k.c);
	close(fd);
	return 0;
}

static int t_unprivileged(void)
{
	pid_t pid = fork();
	int st;

	if (!pid) {
		int err = unprivileged();

		if (err)
			fprintf(stderr, "%s\n", fail_msg);
		_exit(err ? 1 : 0);
	}
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && !WEXITSTATUS(st), "see the child's message");
	return 0;
}

/* ---- the module's TCP-SI is the library's format: hostile copies ---- */

static int t_bad_si(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	unsigned int len, i;
	struct conn k;
	struct call c;
	uint8_t *si;

	CHECK(!conn_open(AF_INET, &k, 17), "pair");
	CHECK(!get_si(dev, k.s, 0, (void **)&si, &len, &c), "get_si");
	si[4] = 9; /* major */
	CHECK(ioc(dev, TCPCP_IOC_SET_SI, fd, 0, si, len, &c) == -EINVAL,
	      "unknown major");
	si[4] = 1;
	CHECK(ioc(dev, TCPCP_IOC_SET_SI, fd, 0, si, len - 4, &c) == -EINVAL,
	      "short buffer");
	si[STATE_AT] ^= 0xff;
	CHECK(ioc(dev, TCPCP_IOC_SET_SI, fd, 0, si, len, &c) == -EINVAL,
	      "bad state");
	si[STATE_AT] ^= 0xff;
	/* the peer's connection still exists: its tuple is taken */
	i = ioc(dev, TCPCP_IOC_SET_SI, fd, 0, si, len, &c);
	CHECK((int)i == -EADDRNOTAVAIL || (int)i == -EADDRINUSE,
	      "restore over a live connection: %d", (int)i);
	CHECK(tcp_state(fd) == TCP_CLOSE, "the socket is left unconnected");
	free(si);
	close(k.c);
	close(k.s);
	close(fd);
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(void);
} tests[] = {
	{ "version", t_version },
	{ "bad_arguments", t_bad_args },
	{ "manual_errors", t_errno },
	{ "move_one_ipv4", t_move_ipv4 },
	{ "move_one_ipv6", t_move_ipv6 },
	{ "move_one_v4mapped", t_move_v4mapped },
	{ "move_all", t_move_all },
	{ "enospc_changes_nothing", t_enospc },
	{ "snapshot_of_a_live_socket", t_snapshot },
	{ "hold_outlives_socket", t_hold },
	{ "hold_before_restore", t_hold_ioctl },
	{ "close_wait", t_close_wait },
	{ "fin_wait1", t_fin_wait1 },
	{ "fin_wait2", t_fin_wait2 },
	{ "last_ack", t_last_ack },
	{ "unprivileged_stop_get_si", t_unprivileged },
	{ "hostile_tcp_si", t_bad_si },
};

int main(int argc, char **argv)
{
	unsigned int i;
	int err;

	tap_open(argc, argv, "tcpcp2.ko through its ioctls; root, module loaded");
	dev = dev_open();
	if (dev < 0) {
		printf("SKIP: %s: %s\n", TCPCP_DEVICE, strerror(errno));
		return 77;
	}
	err = netns_enter();
	if (err) {
		printf("netns: %s\n", strerror(-err));
		return 1;
	}
	for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		fail_msg[0] = '\0';
		tap_result(!tests[i].fn(), tests[i].name, fail_msg);
	}
	return tap_close();
}
