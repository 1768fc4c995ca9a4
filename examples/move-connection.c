// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * move-connection: moves one live TCP connection, with data queued both
 * ways, from its socket onto a fresh one with the TCPCP2 API, and shows
 * that the peer (another process) loses nothing and notices nothing.
 *
 * It runs in a network namespace of its own (root or CAP_SYS_ADMIN +
 * CAP_NET_ADMIN), so it touches nothing outside.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <tcpcp.h>

#define QUEUED (64 * 1024)
#define LATER 4096

static void die(const char *what)
{
	fprintf(stderr, "move-connection: %s: %s (%s)\n", what, strerror(errno),
		tcpcp_strerror_detail());
	exit(1);
}

static unsigned char byte_at(int dir, size_t i)
{
	return (unsigned char)((i * 7 + (i >> 9) + dir * 101) & 0xff);
}

static void fill(unsigned char *b, size_t n, int dir, size_t off)
{
	for (size_t i = 0; i < n; i++)
		b[i] = byte_at(dir, off + i);
}

static size_t check(const unsigned char *b, size_t n, int dir, size_t off)
{
	for (size_t i = 0; i < n; i++)
		if (b[i] != byte_at(dir, off + i))
			return i;
	return n;
}

static int queued(int fd, unsigned long req)
{
	int v = -1;

	ioctl(fd, req, &v);
	return v;
}

static void lo_up(void)
{
	struct ifreq ifr = { .ifr_name = "lo" };
	int fd;

	if (unshare(CLONE_NEWNET))
		die("unshare(CLONE_NEWNET) (run as root)");
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		die("SIOCGIFFLAGS");
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		die("SIOCSIFFLAGS");
	close(fd);
}

/* Reads exactly n bytes of direction dir starting at off; checks them. */
static void read_checked(int fd, size_t n, int dir, size_t off, const char *who)
{
	unsigned char buf[4096];
	size_t got = 0;

	while (got < n) {
		size_t want = n - got < sizeof(buf) ? n - got : sizeof(buf);
		ssize_t r = read(fd, buf, want);

		if (r <= 0) {
			fprintf(stderr, "%s: read: %s\n", who,
				r ? strerror(errno) : "connection closed");
			exit(1);
		}
		if (check(buf, (size_t)r, dir, off + got) != (size_t)r) {
			fprintf(stderr, "%s: byte %zu is wrong\n", who,
				off + got + check(buf, (size_t)r, dir, off + got));
			exit(1);
		}
		got += (size_t)r;
	}
}

static void write_all(int fd, size_t n, int dir, size_t off)
{
	unsigned char *buf = malloc(n);

	fill(buf, n, dir, off);
	for (size_t done = 0; done < n;) {
		ssize_t w = write(fd, buf + done, n - done);

		if (w < 0)
			die("write");
		done += (size_t)w;
	}
	free(buf);
}

/* The peer: sends 64 KiB, then drops our segments (so what we send stays
 * unacknowledged), waits for the move, checks everything, talks on. */
static void peer(uint16_t port, int ctl)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sock_filter drop = BPF_STMT(BPF_RET | BPF_K, 0);
	struct sock_fprog prog = { 1, &drop };
	int fd = socket(AF_INET, SOCK_STREAM, 0), small = 4096, zero = 0;
	char c;

	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		die("peer connect");
	write_all(fd, QUEUED, 0, 0);
	while (queued(fd, SIOCOUTQ) > 0)
		usleep(1000);
	setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog));
	if (write(ctl, "R", 1) != 1 || read(ctl, &c, 1) != 1)
		die("peer control");
	setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &zero, sizeof(zero));
	read_checked(fd, QUEUED, 1, 0, "peer");
	write_all(fd, LATER, 0, QUEUED);
	read_checked(fd, LATER, 1, QUEUED, "peer");
	printf("  peer: received %d bytes, every one in order, no reset\n",
	       QUEUED + LATER);
	exit(0);
}

static void expect_ok(int rc, struct result_list *rl, const char *what)
{
	if (rc != TCPCP_RET_OK)
		die(what);
	if (rl->fd_ng) {
		fprintf(stderr, "%s: %u of %u failed\n", what, rl->fd_ng,
			rl->fd_all);
		exit(1);
	}
	free(rl);
}

static int move(int fd)
{
	struct result_list *rl;
	unsigned int size;
	void *si;
	int nfd;

	int rc;

	rc = tcpcp_stop(fd, TCPCP_EXEC_ONE, &rl);
	expect_ok(rc, rl, "tcpcp_stop");
	rc = tcpcp_get_si(fd, TCPCP_EXEC_ONE, &si, &size, &rl);
	expect_ok(rc, rl, "tcpcp_get_si");
	printf("  saved the connection: TCP-SI of %u bytes\n", size);
	rc = tcpcp_close(fd, &rl);
	expect_ok(rc, rl, "tcpcp_close");
	printf("  closed the old socket (nothing sent to the peer)\n");
	nfd = socket(AF_INET, SOCK_STREAM, 0);
	rc = tcpcp_set_si(nfd, TCPCP_EXEC_ONE, si, size, &rl);
	expect_ok(rc, rl, "tcpcp_set_si");
	rc = tcpcp_start(nfd, TCPCP_EXEC_ONE, &rl);
	expect_ok(rc, rl, "tcpcp_start");
	printf("  rebuilt it on a fresh socket (fd %d -> fd %d) and started it\n",
	       fd, nfd);
	free(si);
	return nfd;
}

int main(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int lfd, fd, ctl[2], status, big = 1 << 20;
	char c;
	pid_t pid;

	setvbuf(stdout, NULL, _IONBF, 0);
	lo_up();
	alarm(60); /* never hang, whatever goes wrong */
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (bind(lfd, (struct sockaddr *)&sa, len) || listen(lfd, 1) ||
	    getsockname(lfd, (struct sockaddr *)&sa, &len))
		die("listen");
	socketpair(AF_UNIX, SOCK_STREAM, 0, ctl);
	pid = fork();
	if (pid == 0)
		peer(ntohs(sa.sin_port), ctl[1]);
	fd = accept(lfd, NULL, NULL);
	if (fd < 0 || read(ctl[0], &c, 1) != 1)
		die("accept");
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	write_all(fd, QUEUED, 1, 0);
	printf("move-connection (backend: %s)\n", tcpcp_backend_name());
	printf("  live connection 127.0.0.1:%u, queued: %d bytes unread here, "
	       "%d sent but unacknowledged, %d not yet sent\n",
	       ntohs(sa.sin_port), queued(fd, SIOCINQ),
	       queued(fd, SIOCOUTQ) - queued(fd, SIOCOUTQNSD),
	       queued(fd, SIOCOUTQNSD));
	fd = move(fd);
	if (write(ctl[0], "G", 1) != 1)
		die("control");
	read_checked(fd, QUEUED + LATER, 0, 0, "mover");
	write_all(fd, LATER, 1, QUEUED);
	printf("  mover: received %d bytes, every one in order, no reset\n",
	       QUEUED + LATER);
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status)) {
		fprintf(stderr, "move-connection: FAILED (peer)\n");
		return 1;
	}
	printf("move-connection: OK\n");
	return 0;
}
