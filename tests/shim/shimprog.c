// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * shimprog (see shimprog.h): the main loop and the commands that make,
 * copy, close and inspect descriptors.  Every socket call goes through
 * libc, so the shim sees it, except the "raw" commands, which use
 * syscall(2) to do what the shim cannot see.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shimprog.h"
#include "testnet.h"

#define IO_TIMEOUT_MS 10000

void say(const char *line)
{
	char buf[REPLY_MAX + 2];
	size_t n = strnlen(line, REPLY_MAX);

	memcpy(buf, line, n);
	buf[n++] = '\n';
	if (write(1, buf, n) != (ssize_t)n)
		_exit(3); /* the test is gone */
}

long arg_long(const char *s)
{
	return strtol(s, NULL, 0);
}

static bool has_word(int argc, char **argv, const char *w)
{
	int i;

	for (i = 1; i < argc; i++)
		if (!strcmp(argv[i], w))
			return true;
	return false;
}

static int fail(char *out, size_t len, const char *what)
{
	snprintf(out, len, "%s: %s", what, strerror(errno));
	return -1;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

static void loopback(struct sockaddr_in *sa, long port, bool any)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	sa->sin_addr.s_addr = htonl(any ? INADDR_ANY : INADDR_LOOPBACK);
}

static int fd_flags(int fd, int *nb, int *cx)
{
	int fl = fcntl(fd, F_GETFL), fdfl = fcntl(fd, F_GETFD);

	if (fl < 0 || fdfl < 0)
		return -1;
	*nb = !!(fl & O_NONBLOCK);
	*cx = !!(fdfl & FD_CLOEXEC);
	return 0;
}

static int cmd_ping(int argc, char **argv, char *out, size_t len)
{
	(void)argc;
	(void)argv;
	snprintf(out, len, "pid=%d", (int)getpid());
	return 0;
}

/* The address for "v6" (::1), "any6" (::, dual stack), "any" (0.0.0.0)
 * or loopback 127.0.0.1, with port; its length. */
static socklen_t address(int argc, char **argv, long port,
			 struct sockaddr_in6 *sa)
{
	bool any6 = has_word(argc, argv, "any6");

	memset(sa, 0, sizeof(*sa));
	if (!any6 && !has_word(argc, argv, "v6")) {
		loopback((struct sockaddr_in *)sa, port,
			 has_word(argc, argv, "any"));
		return sizeof(struct sockaddr_in);
	}
	sa->sin6_family = AF_INET6;
	sa->sin6_port = htons((uint16_t)port);
	sa->sin6_addr = any6 ? in6addr_any : in6addr_loopback;
	return sizeof(*sa);
}

/* listen PORT [nb] [any|v6|any6]: socket, SO_REUSEADDR, bind, listen. */
static int cmd_listen(int argc, char **argv, char *out, size_t len)
{
	bool nb = has_word(argc, argv, "nb");
	struct sockaddr_in6 sa;
	socklen_t sl = address(argc, argv, arg_long(argv[1]), &sa);
	int fd, one = 1;

	fd = socket(sa.sin6_family, SOCK_STREAM | (nb ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0)
		return fail(out, len, "socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sl))
		return fail(out, len, "bind");
	if (listen(fd, 128))
		return fail(out, len, "listen");
	getsockname(fd, (struct sockaddr *)&sa, &sl);
	snprintf(out, len, "%d %u", fd, ntohs(sa.sin6_port));
	return 0;
}

/*
 * accept LFD MODE [ADDRLEN|null]: MODE is accept (plain accept), 0, nb,
 * cx or nbcx (accept4 with those flags).  The address buffer is filled
 * with 0xAA first: "tail=1" says nothing past ADDRLEN was written.
 */
static int cmd_accept(int argc, char **argv, char *out, size_t len)
{
	unsigned char buf[sizeof(struct sockaddr_storage)];
	const char *mode = argc > 2 ? argv[2] : "accept";
	socklen_t alen = sizeof(buf), given;
	bool null = argc > 3 && !strcmp(argv[3], "null");
	int fd, flags = 0, nb, cx, tail = 1;
	unsigned int i;

	if (argc > 3 && !null)
		alen = (socklen_t)arg_long(argv[3]);
	given = alen;
	memset(buf, 0xAA, sizeof(buf));
	if (strstr(mode, "nb"))
		flags |= SOCK_NONBLOCK;
	if (strstr(mode, "cx"))
		flags |= SOCK_CLOEXEC;
	if (!strcmp(mode, "accept"))
		fd = accept((int)arg_long(argv[1]),
			    null ? NULL : (struct sockaddr *)buf,
			    null ? NULL : &alen);
	else
		fd = accept4((int)arg_long(argv[1]),
			     null ? NULL : (struct sockaddr *)buf,
			     null ? NULL : &alen, flags);
	if (fd < 0)
		return fail(out, len, "accept");
	if (fd_flags(fd, &nb, &cx))
		return fail(out, len, "fcntl");
	for (i = given; i < sizeof(buf); i++)
		tail &= buf[i] == 0xAA;
	if (null) {
		struct sockaddr_in6 p;
		socklen_t pl = sizeof(p);

		getpeername(fd, (struct sockaddr *)&p, &pl);
		snprintf(out, len, "%d nb=%d cx=%d len=null port=%u", fd, nb,
			 cx, ntohs(p.sin6_port));
		return 0;
	}
	snprintf(out, len, "%d nb=%d cx=%d len=%u family=%d port=%u tail=%d",
		 fd, nb, cx, alen,
		 given >= 2 ? ((struct sockaddr *)buf)->sa_family : -1,
		 given >= 4 ? ntohs(((struct sockaddr_in *)buf)->sin_port) : 0,
		 tail);
	return 0;
}

/* socket [nb] [cx] [v6] */
static int cmd_socket(int argc, char **argv, char *out, size_t len)
{
	int type = SOCK_STREAM, fd;

	if (has_word(argc, argv, "nb"))
		type |= SOCK_NONBLOCK;
	if (has_word(argc, argv, "cx"))
		type |= SOCK_CLOEXEC;
	fd = socket(has_word(argc, argv, "v6") ? AF_INET6 : AF_INET, type, 0);
	if (fd < 0)
		return fail(out, len, "socket");
	snprintf(out, len, "%d", fd);
	return 0;
}

/* connectfd FD PORT [v6]: the connect() call's own result, not waited
 * for. */
static int cmd_connectfd(int argc, char **argv, char *out, size_t len)
{
	struct sockaddr_in6 sa;
	socklen_t sl = address(argc, argv, arg_long(argv[2]), &sa);
	int rc, err;

	rc = connect((int)arg_long(argv[1]), (struct sockaddr *)&sa, sl);
	err = rc ? errno : 0;
	snprintf(out, len, "rc=%d errno=%s", rc,
		 err ? strerrorname_np(err) : "0");
	return 0;
}

/* Waits for a non-blocking connect to finish. */
static int wait_connected(int fd, char *out, size_t len)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	socklen_t sl = sizeof(int);
	int err = 0;

	if (poll(&p, 1, IO_TIMEOUT_MS) != 1)
		return fail(out, len, "connect: not connected in time");
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl);
	if (err) {
		errno = err;
		return fail(out, len, "connect");
	}
	return 0;
}

/* connect PORT [nb] [cx] [v6]: a new socket connected to loopback:PORT. */
static int cmd_connect(int argc, char **argv, char *out, size_t len)
{
	bool nb = has_word(argc, argv, "nb");
	struct sockaddr_in6 sa;
	socklen_t sl = address(argc, argv, arg_long(argv[1]), &sa);
	int fd, type = SOCK_STREAM;

	if (nb)
		type |= SOCK_NONBLOCK;
	if (has_word(argc, argv, "cx"))
		type |= SOCK_CLOEXEC;
	fd = socket(sa.sin6_family, type, 0);
	if (fd < 0)
		return fail(out, len, "socket");
	if (connect(fd, (struct sockaddr *)&sa, sl) &&
	    !(nb && errno == EINPROGRESS))
		return fail(out, len, "connect");
	if (nb && wait_connected(fd, out, len))
		return -1;
	snprintf(out, len, "%d", fd);
	return 0;
}

static int wait_io(int fd, short ev, long deadline)
{
	struct pollfd p = { .fd = fd, .events = ev };
	long left = deadline - now_ms();

	if (left <= 0)
		return -1;
	return poll(&p, 1, (int)left) == 1 ? 0 : -1;
}

/*
 * send FD SEED OFF LEN [some]: pattern bytes [OFF, OFF+LEN), all of them;
 * with "some", only what the socket takes until it has had no room for
 * 300 ms (to fill a send queue).  Replies "sent=N".
 */
static int cmd_send(int argc, char **argv, char *out, size_t len)
{
	int fd = (int)arg_long(argv[1]);
	uint32_t seed = (uint32_t)arg_long(argv[2]);
	uint64_t off = (uint64_t)arg_long(argv[3]), start = off;
	uint64_t end = off + (uint64_t)arg_long(argv[4]);
	bool some = has_word(argc, argv, "some");
	long deadline = now_ms() + IO_TIMEOUT_MS;
	uint8_t buf[16384];
	ssize_t w;

	while (off < end) {
		size_t n = end - off < sizeof(buf) ? end - off : sizeof(buf);

		pattern_fill(buf, n, seed, off);
		w = send(fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (wait_io(fd, POLLOUT,
				    some ? now_ms() + 300 : deadline)) {
				if (some)
					break;
				return fail(out, len, "send: no room in time");
			}
			continue;
		}
		if (w < 0)
			return fail(out, len, "send");
		off += (uint64_t)w;
	}
	snprintf(out, len, "sent=%llu", (unsigned long long)(off - start));
	return 0;
}

/* recv FD SEED OFF LEN [eof]: exactly those pattern bytes, checked; with
 * "eof", then the end of the stream too. */
static int cmd_recv(int argc, char **argv, char *out, size_t len)
{
	int fd = (int)arg_long(argv[1]);
	uint32_t seed = (uint32_t)arg_long(argv[2]);
	uint64_t off = (uint64_t)arg_long(argv[3]), start = off;
	uint64_t end = off + (uint64_t)arg_long(argv[4]);
	long deadline = now_ms() + IO_TIMEOUT_MS;
	uint8_t buf[16384];
	ssize_t r, i;

	while (off < end || (argc > 5 && !strcmp(argv[5], "eof"))) {
		size_t n = end - off < sizeof(buf) ? end - off : sizeof(buf);

		r = recv(fd, buf, n ? n : 1, MSG_DONTWAIT);
		if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (wait_io(fd, POLLIN, deadline)) {
				snprintf(out, len, "recv: %llu of %llu "
					 "bytes in time",
					 (unsigned long long)off - start,
					 (unsigned long long)end - start);
				return -1;
			}
			continue;
		}
		if (r < 0)
			return fail(out, len, "recv");
		if (r == 0 && off == end)
			break;
		if (r == 0) {
			snprintf(out, len, "recv: EOF at byte %llu",
				 (unsigned long long)off);
			return -1;
		}
		if (off == end) {
			snprintf(out, len, "recv: %zd bytes after the end", r);
			return -1;
		}
		for (i = 0; i < r; i++)
			if (buf[i] != pattern_byte(seed, off + (uint64_t)i)) {
				snprintf(out, len, "recv: byte %llu is wrong",
					 (unsigned long long)off + (size_t)i);
				return -1;
			}
		off += (uint64_t)r;
	}
	snprintf(out, len, "received");
	return 0;
}

/* queues FD: what the kernel holds in each direction. */
static int cmd_queues(int argc, char **argv, char *out, size_t len)
{
	int fd = (int)arg_long(argv[1]), in = -1, outq = -1;

	(void)argc;
	if (ioctl(fd, SIOCINQ, &in) || ioctl(fd, SIOCOUTQ, &outq))
		return fail(out, len, "ioctl");
	snprintf(out, len, "inq=%d outq=%d", in, outq);
	return 0;
}

static int reply_fd(int fd, char *out, size_t len, const char *what)
{
	if (fd < 0)
		return fail(out, len, what);
	snprintf(out, len, "%d", fd);
	return 0;
}

static int cmd_dup(int argc, char **argv, char *out, size_t len)
{
	(void)argc;
	return reply_fd(dup((int)arg_long(argv[1])), out, len, "dup");
}

static int cmd_dup2(int argc, char **argv, char *out, size_t len)
{
	(void)argc;
	return reply_fd(dup2((int)arg_long(argv[1]), (int)arg_long(argv[2])),
			out, len, "dup2");
}

static int cmd_dup3(int argc, char **argv, char *out, size_t len)
{
	return reply_fd(dup3((int)arg_long(argv[1]), (int)arg_long(argv[2]),
			     has_word(argc, argv, "cx") ? O_CLOEXEC : 0),
			out, len, "dup3");
}

/* dupfd FD MIN [cx]: fcntl F_DUPFD or F_DUPFD_CLOEXEC */
static int cmd_dupfd(int argc, char **argv, char *out, size_t len)
{
	int cmd = has_word(argc, argv, "cx") ? F_DUPFD_CLOEXEC : F_DUPFD;

	return reply_fd(fcntl((int)arg_long(argv[1]), cmd,
			      (int)arg_long(argv[2])),
			out, len, "fcntl F_DUPFD");
}

static int cmd_close(int argc, char **argv, char *out, size_t len)
{
	int i;

	for (i = 1; i < argc; i++)
		if (close((int)arg_long(argv[i])))
			return fail(out, len, "close");
	snprintf(out, len, "closed");
	return 0;
}

/* rawclose FD: a close the shim cannot see. */
static int cmd_rawclose(int argc, char **argv, char *out, size_t len)
{
	(void)argc;
	if (syscall(SYS_close, (int)arg_long(argv[1])))
		return fail(out, len, "close");
	snprintf(out, len, "closed");
	return 0;
}

/* close_range LO HI [cloexec] */
static int cmd_close_range(int argc, char **argv, char *out, size_t len)
{
	int flags = has_word(argc, argv, "cloexec") ? CLOSE_RANGE_CLOEXEC : 0;

	if (close_range((unsigned int)arg_long(argv[1]),
			(unsigned int)arg_long(argv[2]), flags))
		return fail(out, len, "close_range");
	snprintf(out, len, "closed");
	return 0;
}

static int cmd_closefrom(int argc, char **argv, char *out, size_t len)
{
	(void)argc;
	closefrom((int)arg_long(argv[1]));
	snprintf(out, len, "closed");
	return 0;
}

/* Descriptors the shim does not track: udp, eventfd, pipe (read end). */
static int cmd_other(int argc, char **argv, char *out, size_t len)
{
	int p[2];

	(void)argc;
	if (!strcmp(argv[0], "udp"))
		return reply_fd(socket(AF_INET, SOCK_DGRAM, 0), out, len,
				"socket");
	if (!strcmp(argv[0], "eventfd"))
		return reply_fd(eventfd(0, 0), out, len, "eventfd");
	if (pipe(p))
		return fail(out, len, "pipe");
	close(p[1]);
	return reply_fd(p[0], out, len, "pipe");
}

/* rawsocket / rawaccept LFD: TCP sockets made behind the shim's back. */
static int cmd_raw_tcp(int argc, char **argv, char *out, size_t len)
{
	(void)argc;
	if (!strcmp(argv[0], "rawsocket"))
		return reply_fd((int)syscall(SYS_socket, AF_INET, SOCK_STREAM,
					     0),
				out, len, "socket");
	return reply_fd((int)syscall(SYS_accept4, (int)arg_long(argv[1]), NULL,
				     NULL, 0),
			out, len, "accept4");
}

/* fdinfo FD: what the descriptor is now. */
static int cmd_fdinfo(int argc, char **argv, char *out, size_t len)
{
	int fd = (int)arg_long(argv[1]), acc = 0, nb = -1, cx = -1, proto = 0;
	struct sockaddr_in6 l = { 0 }, p = { 0 };
	socklen_t sl = sizeof(int), al = sizeof(l), pl = sizeof(p);
	struct stat st;

	(void)argc;
	if (fstat(fd, &st)) {
		snprintf(out, len, "closed");
		return 0;
	}
	fd_flags(fd, &nb, &cx);
	if (!S_ISSOCK(st.st_mode) ||
	    getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &sl) ||
	    proto != IPPROTO_TCP) {
		snprintf(out, len, "other nb=%d cx=%d", nb, cx);
		return 0;
	}
	sl = sizeof(int);
	getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &sl);
	getsockname(fd, (struct sockaddr *)&l, &al);
	if (getpeername(fd, (struct sockaddr *)&p, &pl))
		p.sin6_port = 0;
	snprintf(out, len, "tcp listening=%d local=%u peer=%u nb=%d cx=%d "
		 "family=%d", acc, ntohs(l.sin6_port), ntohs(p.sin6_port), nb,
		 cx, l.sin6_family);
	return 0;
}

/* In a child: closes every TCP socket except keep, through libc. */
static void close_tcp_except(int keep)
{
	char path[64];
	int fd;

	for (fd = 3; fd < 1024; fd++) {
		struct stat st;
		int proto = 0;
		socklen_t sl = sizeof(proto);

		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		if (fd == keep || fstat(fd, &st) || !S_ISSOCK(st.st_mode) ||
		    getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &sl) ||
		    proto != IPPROTO_TCP)
			continue;
		close(fd);
	}
}

/*
 * fork FD: the child keeps connection FD (and closes every other TCP
 * socket), stops talking to the test and waits for its signal; the parent
 * closes its copy of FD.  Replies the child's pid.
 */
static int cmd_fork(int argc, char **argv, char *out, size_t len)
{
	int fd = (int)arg_long(argv[1]), null;
	pid_t pid;

	(void)argc;
	pid = fork();
	if (pid < 0)
		return fail(out, len, "fork");
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close_tcp_except(fd);
		null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(null, 1);
		for (;;)
			pause();
	}
	close(fd);
	snprintf(out, len, "%d", (int)pid);
	return 0;
}

/* reap PID MS: its wait status, or "running" after MS. */
static int cmd_reap(int argc, char **argv, char *out, size_t len)
{
	pid_t pid = (pid_t)arg_long(argv[1]);
	long deadline = now_ms() + (argc > 2 ? arg_long(argv[2]) : 0);
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r < 0)
			return fail(out, len, "waitpid");
		if (r == pid)
			break;
		if (now_ms() >= deadline) {
			snprintf(out, len, "running");
			return 0;
		}
		usleep(10000);
	}
	if (WIFEXITED(st))
		snprintf(out, len, "exited=%d", WEXITSTATUS(st));
	else
		snprintf(out, len, "signal=%d", WTERMSIG(st));
	return 0;
}

/* exec FD...: the listed descriptors survive exec (everything else that
 * is close-on-exec does not); the new image answers "ok ready". */
static int cmd_exec(int argc, char **argv, char *out, size_t len)
{
	char *args[] = { "shimprog", "--after-exec", NULL };
	int i;

	for (i = 1; i < argc; i++)
		fcntl((int)arg_long(argv[i]), F_SETFD, 0);
	execv("/proc/self/exe", args);
	return fail(out, len, "execv");
}

static int cmd_getenv(int argc, char **argv, char *out, size_t len)
{
	const char *v = getenv(argv[1]);

	(void)argc;
	snprintf(out, len, "%s", v ? v : "(unset)");
	return 0;
}

static int cmd_sleep(int argc, char **argv, char *out, size_t len)
{
	(void)argc;
	usleep((useconds_t)arg_long(argv[1]) * 1000);
	snprintf(out, len, "slept");
	return 0;
}

static int cmd_exit(int argc, char **argv, char *out, size_t len)
{
	(void)argc;
	(void)out;
	(void)len;
	exit((int)arg_long(argv[1]));
}

static const struct cmd cmds[] = {
	{ "ping", 0, cmd_ping },
	{ "listen", 1, cmd_listen },
	{ "accept", 1, cmd_accept },
	{ "socket", 0, cmd_socket },
	{ "connectfd", 2, cmd_connectfd },
	{ "connect", 1, cmd_connect },
	{ "send", 4, cmd_send },
	{ "recv", 4, cmd_recv },
	{ "queues", 1, cmd_queues },
	{ "dup", 1, cmd_dup },
	{ "dup2", 2, cmd_dup2 },
	{ "dup3", 2, cmd_dup3 },
	{ "dupfd", 2, cmd_dupfd },
	{ "close", 1, cmd_close },
	{ "rawclose", 1, cmd_rawclose },
	{ "close_range", 2, cmd_close_range },
	{ "closefrom", 1, cmd_closefrom },
	{ "udp", 0, cmd_other },
	{ "eventfd", 0, cmd_other },
	{ "pipe", 0, cmd_other },
	{ "rawsocket", 0, cmd_raw_tcp },
	{ "rawaccept", 1, cmd_raw_tcp },
	{ "fdinfo", 1, cmd_fdinfo },
	{ "fork", 1, cmd_fork },
	{ "reap", 1, cmd_reap },
	{ "exec", 0, cmd_exec },
	{ "getenv", 1, cmd_getenv },
	{ "sleep", 1, cmd_sleep },
	{ "exit", 1, cmd_exit },
	{ "stream", 7, cmd_stream },
	{ "streams-wait", 0, cmd_streams_wait },
	{ "streams-status", 0, cmd_streams_status },
	{ "churn", 4, cmd_churn },
	{ "waiter", 1, cmd_waiter },
	{ "waiters-wake", 0, cmd_waiters_wake },
	{ "waiters-report", 0, cmd_waiters_report },
	{ "malloc", 1, cmd_malloc },
	{ "poll", 1, cmd_poll },
	{ "select", 1, cmd_select },
	{ "epoll-new", 0, cmd_epoll_new },
	{ "epoll-add", 3, cmd_epoll_ctl },
	{ "epoll-mod", 3, cmd_epoll_ctl },
	{ "epoll-wait", 1, cmd_epoll_wait },
	{ "epoll-wait-bg", 1, cmd_epoll_wait_bg },
	{ "epoll-bg-result", 0, cmd_epoll_bg_result },
	{ "sig-install", 2, cmd_sig_install },
	{ "sig-query", 1, cmd_sig_query },
	{ "sig-count", 1, cmd_sig_count },
	{ "mask", 1, cmd_mask },
	{ "sigblk", 0, cmd_sigblk },
	{ "term-handler", 0, cmd_term_handler },
};

static void run(char *line)
{
	char *argv[32], *save = NULL, *w, out[REPLY_MAX - 8];
	char reply[REPLY_MAX];
	int argc = 0, rc = -1;
	size_t i;

	for (w = strtok_r(line, " \t", &save); w && argc < 31;
	     w = strtok_r(NULL, " \t", &save))
		argv[argc++] = w;
	argv[argc] = NULL;
	if (!argc)
		return;
	snprintf(out, sizeof(out), "unknown command or too few arguments");
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(cmds[i].name, argv[0]) &&
		    argc > cmds[i].min_args) {
			rc = cmds[i].fn(argc, argv, out, sizeof(out));
			break;
		}
	snprintf(reply, sizeof(reply), "%s %s", rc ? "err" : "ok", out);
	say(reply);
}

int main(int argc, char **argv)
{
	static char buf[REPLY_MAX];
	char hello[64];
	size_t have = 0;
	ssize_t n;

	signal(SIGPIPE, SIG_IGN);
	snprintf(hello, sizeof(hello), "ok ready pid=%d exec=%d",
		 (int)getpid(), argc > 1 && !strcmp(argv[1], "--after-exec"));
	say(hello);
	for (;;) {
		char *nl = memchr(buf, '\n', have);

		if (nl) {
			*nl = '\0';
			run(buf);
			have -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, have);
			continue;
		}
		if (have == sizeof(buf))
			return 2;
		n = read(0, buf + have, sizeof(buf) - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0; /* the test is gone */
		have += (size_t)n;
	}
}
