// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Every error the manual lists, for every call that lists it, produced where
 * the manual says; and a failed call changes nothing (the socket keeps
 * working, the result list pointer is NULL).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <linux/filter.h>

#define BLOCK_PROBE_LEN 8
#include <arpa/inet.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tcpcp.h"
#include "testnet.h"

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

enum op { OP_STOP, OP_GET_SI, OP_SET_SI, OP_START, OP_CLOSE, OP_COUNT };

static const char *const op_name[] = { "stop", "get_si", "set_si", "start",
				       "close" };

/* A well-formed one-connection TCP-SI, for set_si's argument checks. */
static void *valid_si;
static unsigned int valid_si_size;

static int call(enum op op, int fd, int flag, struct result_list **rl)
{
	void *buf = NULL;
	unsigned int size = 0;
	int rc;

	switch (op) {
	case OP_STOP:
		return tcpcp_stop(fd, flag, rl);
	case OP_GET_SI:
		rc = tcpcp_get_si(fd, flag, &buf, &size, rl);
		free(buf);
		return rc;
	case OP_SET_SI:
		return tcpcp_set_si(fd, flag, valid_si, valid_si_size, rl);
	case OP_START:
		return tcpcp_start(fd, flag, rl);
	default:
		return tcpcp_close(fd, rl);
	}
}

static void expect_errno(enum op op, int fd, int flag, int want)
{
	struct result_list *rl = (void *)1; /* must come back NULL */
	int rc;

	errno = 0;
	rc = call(op, fd, flag, &rl);
	cr_expect_eq(rc, TCPCP_RET_NG, "%s: succeeded, expected %s",
		     op_name[op], strerrorname_np(want));
	cr_expect_eq(errno, want, "%s: errno %s, expected %s", op_name[op],
		     strerrorname_np(errno), strerrorname_np(want));
	cr_expect_null(rl, "%s: *reslst not NULL after failure", op_name[op]);
}

static void expect_all_ops(int fd, int want)
{
	int op;

	for (op = 0; op < OP_COUNT; op++)
		expect_errno(op, fd, TCPCP_EXEC_ONE, want);
}

/* A connected pair on loopback: *ret_peer is the accepted end. */
static int connected(int family, int *ret_peer)
{
	uint16_t port;
	int lfd = tn_listen(family, &port);
	int fd = tn_connect(family, port, 0);

	*ret_peer = tn_accept(lfd);
	close(lfd);
	return fd;
}

static void make_valid_si(void)
{
	struct result_list *rl = NULL;
	int peer, fd = connected(AF_INET, &peer);

	cr_assert_eq(tcpcp_get_si(fd, TCPCP_EXEC_ONE, &valid_si, &valid_si_size,
				  &rl), TCPCP_RET_OK, "%s",
		     tcpcp_strerror_detail());
	free(rl);
	close(fd);
	close(peer);
}

static void setup(void)
{
	testnet_enter();
	setenv("TCPCP_BACKEND", "repair", 1);
	make_valid_si();
}

TestSuite(errors, .init = setup, .timeout = 30);

Test(errors, einval_bad_flag)
{
	int op, fd = socket(AF_INET, SOCK_STREAM, 0);

	for (op = 0; op < OP_CLOSE; op++) {
		expect_errno(op, fd, 2, EINVAL);
		expect_errno(op, fd, -1, EINVAL);
	}
}

Test(errors, enosys_kmod_without_module)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	setenv("TCPCP_BACKEND", "kmod", 1);
	expect_all_ops(fd, ENOSYS);
	cr_expect_neq(tcpcp_strerror_detail()[0], '\0', "ENOSYS says why");
	cr_expect_null(tcpcp_backend_name());
}

Test(errors, enosys_unknown_backend)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	setenv("TCPCP_BACKEND", "bogus", 1);
	expect_all_ops(fd, ENOSYS);
}

Test(errors, enosys_bad_accel)
{
	static const char *const bad[] = { "all", "uring,", ",bpf", "bpf,,uring",
					   "URING", "uring bpf" };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	unsigned int i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("TCPCP_ACCEL", bad[i], 1);
		expect_all_ops(fd, ENOSYS);
		cr_expect(strstr(tcpcp_strerror_detail(), "TCPCP_ACCEL"),
			  "TCPCP_ACCEL=%s: the detail names the variable", bad[i]);
	}
	unsetenv("TCPCP_ACCEL");
}

Test(errors, good_accel_values)
{
	static const char *const good[] = { "", "auto", "none", "uring", "bpf",
					    "bpf,uring", "uring,bpf" };
	unsigned int i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		setenv("TCPCP_ACCEL", good[i], 1);
		cr_expect_str_eq(tcpcp_backend_name(), "repair",
				 "TCPCP_ACCEL=%s is accepted", good[i]);
	}
	unsetenv("TCPCP_ACCEL");
}

Test(errors, auto_backend_falls_back_to_repair)
{
	setenv("TCPCP_BACKEND", "auto", 1);
	cr_expect_str_eq(tcpcp_backend_name(), "repair");
}

Test(errors, ebadf)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	close(fd);
	expect_all_ops(-1, EBADF);
	expect_all_ops(fd, EBADF);
}

Test(errors, enotsock)
{
	expect_all_ops(open("/dev/null", O_RDONLY), ENOTSOCK);
}

Test(errors, epfnosupport_unix_stream)
{
	expect_all_ops(socket(AF_UNIX, SOCK_STREAM, 0), EPFNOSUPPORT);
}

Test(errors, esocktnosupport_udp)
{
	expect_all_ops(socket(AF_INET, SOCK_DGRAM, 0), ESOCKTNOSUPPORT);
}

Test(errors, eprotonosupport_mptcp)
{
	int fd = socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP);

	if (fd < 0)
		cr_skip_test("this kernel has no MPTCP: %s", strerror(errno));
	expect_all_ops(fd, EPROTONOSUPPORT);
}

/* The dummy of an ALL call is checked the same way, but not for being
 * connected. */
Test(errors, dummy_checked_but_not_for_connection)
{
	struct result_list *rl = NULL;
	int op, peer, fd = connected(AF_INET, &peer);

	for (op = 0; op < OP_CLOSE; op++) {
		expect_errno(op, socket(AF_INET, SOCK_DGRAM, 0), TCPCP_EXEC_ALL,
			     ESOCKTNOSUPPORT);
		expect_errno(op, -1, TCPCP_EXEC_ALL, EBADF);
	}
	cr_expect_eq(tcpcp_start(fd, TCPCP_EXEC_ALL, &rl), TCPCP_RET_OK);
	free(rl);
}

Test(errors, ebadfd_not_connected)
{
	int fd = socket(AF_INET6, SOCK_STREAM, 0);

	expect_errno(OP_STOP, fd, TCPCP_EXEC_ONE, EBADFD);
	expect_errno(OP_GET_SI, fd, TCPCP_EXEC_ONE, EBADFD);
}

Test(errors, ebadfd_set_si_on_connected_or_listening)
{
	uint16_t port;
	int peer, fd = connected(AF_INET, &peer);

	expect_errno(OP_SET_SI, fd, TCPCP_EXEC_ONE, EBADFD);
	expect_errno(OP_SET_SI, tn_listen(AF_INET, &port), TCPCP_EXEC_ONE,
		     EBADFD);
}

Test(errors, ebadfd_close_of_live_socket)
{
	int peer, fd = connected(AF_INET, &peer);

	expect_errno(OP_CLOSE, fd, TCPCP_EXEC_ONE, EBADFD);
	cr_expect_eq(write(fd, "x", 1), 1, "the socket still works");
}

/* Repair mode that tcpcp did not set: someone else holds the socket. */
Test(errors, ebusy_foreign_repair)
{
	int on = 1, peer, fd = connected(AF_INET, &peer);
	int lone = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert_eq(setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on)), 0);
	cr_assert_eq(setsockopt(lone, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on)),
		     0);
	expect_errno(OP_STOP, fd, TCPCP_EXEC_ONE, EBUSY);
	expect_errno(OP_GET_SI, fd, TCPCP_EXEC_ONE, EBUSY);
	expect_errno(OP_START, fd, TCPCP_EXEC_ONE, EBUSY);
	expect_errno(OP_CLOSE, fd, TCPCP_EXEC_ONE, EBUSY);
	expect_errno(OP_SET_SI, lone, TCPCP_EXEC_ONE, EBUSY);
}

Test(errors, ebusy_in_result_list_of_all)
{
	struct result_list *rl = NULL;
	int on = 1, peer, fd = connected(AF_INET, &peer);
	int dummy = socket(AF_INET, SOCK_STREAM, 0);
	unsigned int i, busy = 0;

	cr_assert_eq(setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on)), 0);
	cr_assert_eq(tcpcp_stop(dummy, TCPCP_EXEC_ALL, &rl), TCPCP_RET_OK);
	cr_assert_eq(rl->fd_all, 2, "both ends were processed");
	cr_expect_eq(rl->fd_ng, 1);
	for (i = 0; i < rl->fd_all; i++)
		if (rl->fdrs[i].fd == fd && rl->fdrs[i].result == -EBUSY)
			busy++;
	cr_expect_eq(busy, 1, "the locked socket reports -EBUSY");
	free(rl);
}

static void *unmapped(void)
{
	void *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	cr_assert_neq(p, MAP_FAILED);
	munmap(p, 4096);
	return p;
}

Test(errors, efault_reslst)
{
	int op, peer, fd = connected(AF_INET, &peer);
	void *bad = unmapped();
	void *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	cr_expect_eq(tcpcp_stop(fd, TCPCP_EXEC_ONE, NULL), TCPCP_RET_NG);
	cr_expect_eq(errno, EFAULT);
	cr_expect_eq(tcpcp_stop(fd, TCPCP_EXEC_ONE, bad), TCPCP_RET_NG);
	cr_expect_eq(errno, EFAULT);
	cr_expect_eq(tcpcp_start(fd, TCPCP_EXEC_ONE, ro), TCPCP_RET_NG);
	cr_expect_eq(errno, EFAULT, "a read-only reslst is not writable");
	cr_expect_eq(tcpcp_close(fd, NULL), TCPCP_RET_NG);
	cr_expect_eq(errno, EFAULT);
	for (op = 0; op < OP_COUNT; op++) {
		errno = 0;
		cr_expect_eq(call(op, fd, TCPCP_EXEC_ONE, NULL), TCPCP_RET_NG);
		cr_expect_eq(errno, EFAULT, "%s", op_name[op]);
	}
	cr_expect_eq(write(fd, "x", 1), 1, "nothing was stopped");
}

Test(errors, efault_get_si_buffers)
{
	struct result_list *rl = NULL;
	unsigned int size;
	void *buf;
	int peer, fd = connected(AF_INET, &peer);

	cr_expect_eq(tcpcp_get_si(fd, TCPCP_EXEC_ONE, NULL, &size, &rl),
		     TCPCP_RET_NG);
	cr_expect_eq(errno, EFAULT);
	cr_expect_eq(tcpcp_get_si(fd, TCPCP_EXEC_ONE, &buf, NULL, &rl),
		     TCPCP_RET_NG);
	cr_expect_eq(errno, EFAULT);
	cr_expect_eq(tcpcp_get_si(fd, TCPCP_EXEC_ONE, unmapped(), &size, &rl),
		     TCPCP_RET_NG);
	cr_expect_eq(errno, EFAULT);
}

Test(errors, efault_set_si_buffer)
{
	struct result_list *rl = NULL;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_expect_eq(tcpcp_set_si(fd, TCPCP_EXEC_ONE, NULL, 64, &rl),
		     TCPCP_RET_NG);
	cr_expect_eq(errno, EFAULT);
	cr_expect_eq(tcpcp_set_si(fd, TCPCP_EXEC_ALL, unmapped(), 64, &rl),
		     TCPCP_RET_NG);
	cr_expect_eq(errno, EFAULT);
}

/* A malformed TCP-SI is EINVAL and the socket is left as it was. */
Test(errors, einval_malformed_si_changes_nothing)
{
	struct result_list *rl = NULL;
	int fd = socket(AF_INET, SOCK_STREAM, 0), repair = -1;
	socklen_t len = sizeof(repair);
	unsigned char *bad = malloc(valid_si_size);

	memcpy(bad, valid_si, valid_si_size);
	bad[4] = 99; /* unknown major */
	cr_expect_eq(tcpcp_set_si(fd, TCPCP_EXEC_ONE, bad, valid_si_size, &rl),
		     TCPCP_RET_NG);
	cr_expect_eq(errno, EINVAL);
	cr_expect_eq(tcpcp_set_si(fd, TCPCP_EXEC_ALL, valid_si,
				  valid_si_size - 4, &rl), TCPCP_RET_NG);
	cr_expect_eq(errno, EINVAL);
	getsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &repair, &len);
	cr_expect_eq(repair, 0, "socket untouched");
	free(bad);
}

Test(errors, einval_set_si_family_mismatch)
{
	expect_errno(OP_SET_SI, socket(AF_INET6, SOCK_STREAM, 0),
		     TCPCP_EXEC_ONE, EINVAL);
}

/* Address space capped just above what the process uses: the big buffers
 * of get_si and set_si cannot be had. */
static void cap_address_space(struct rlimit *saved)
{
	struct rlimit rl;
	long pages = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	cr_assert_not_null(f);
	cr_assert_eq(fscanf(f, "%ld", &pages), 1);
	fclose(f);
	getrlimit(RLIMIT_AS, saved);
	rl = *saved;
	rl.rlim_cur = (rlim_t)pages * 4096 + (256 << 10);
	cr_assert_eq(setrlimit(RLIMIT_AS, &rl), 0);
}

Test(errors, enomem)
{
	struct result_list *rl = NULL;
	struct rlimit saved;
	unsigned int size = 0;
	void *buf = NULL;
	int peer, fd = connected(AF_INET, &peer), rc, err, rcvbuf = 8 << 20;
	size_t big = 4 << 20;

#ifdef __SANITIZE_ADDRESS__
	cr_skip_test("AddressSanitizer reserves the address space this test caps");
#endif
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
	tn_set_nonblock(peer, true);
	setsockopt(peer, SOL_SOCKET, SO_SNDBUFFORCE, &rcvbuf, sizeof(rcvbuf));
	tn_write_pattern(peer, 1, 0, big);
	cr_assert(tn_wait_q(fd, tn_inq, (int)big, 10000));
	cap_address_space(&saved);
	rc = tcpcp_get_si(fd, TCPCP_EXEC_ONE, &buf, &size, &rl);
	err = errno;
	setrlimit(RLIMIT_AS, &saved);
	cr_expect_eq(rc, TCPCP_RET_NG);
	cr_expect_eq(err, ENOMEM, "got %s", strerrorname_np(err));
	cr_expect_eq(tn_inq(fd), (int)big, "the connection lost nothing");
	cr_expect_eq(write(fd, "x", 1), 1, "and runs on");
}

/* A link-local IPv6 connection whose device vanished between set_si and
 * start: ENODEV, and the socket stays stopped.  With the device present,
 * the same sequence works. */
static void linklocal_setup(void)
{
	cr_assert_eq(system("ip link add tcv0 type veth peer name tcv1 && "
			    "ip link set tcv0 up && ip link set tcv1 up && "
			    "ip -6 addr add fe80::1/64 dev tcv0 nodad && "
			    "ip -6 addr add fe80::2/64 dev tcv0 nodad"), 0,
		     "ip(8) from iproute2 is needed");
}

static int linklocal_moved(int *ret_peer)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6 }, b;
	struct result_list *rl = NULL;
	socklen_t len = sizeof(a);
	int lfd = socket(AF_INET6, SOCK_STREAM, 0);
	int fd = socket(AF_INET6, SOCK_STREAM, 0), nfd;
	unsigned int size;
	void *buf;

	inet_pton(AF_INET6, "fe80::2", &a.sin6_addr);
	a.sin6_scope_id = if_nametoindex("tcv0");
	cr_assert_eq(bind(lfd, (void *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(lfd, 1), 0);
	getsockname(lfd, (void *)&a, &len);
	b = a;
	b.sin6_port = 0;
	inet_pton(AF_INET6, "fe80::1", &b.sin6_addr);
	cr_assert_eq(bind(fd, (void *)&b, sizeof(b)), 0);
	cr_assert_eq(connect(fd, (void *)&a, sizeof(a)), 0, "%m");
	*ret_peer = tn_accept(lfd);
	cr_assert_eq(tcpcp_stop(fd, TCPCP_EXEC_ONE, &rl), 0);
	free(rl);
	cr_assert_eq(tcpcp_get_si(fd, TCPCP_EXEC_ONE, &buf, &size, &rl), 0);
	free(rl);
	cr_assert_eq(tcpcp_close(fd, &rl), 0);
	free(rl);
	nfd = socket(AF_INET6, SOCK_STREAM, 0);
	cr_assert_eq(tcpcp_set_si(nfd, TCPCP_EXEC_ONE, buf, size, &rl), 0,
		     "%s", tcpcp_strerror_detail());
	free(rl);
	free(buf);
	return nfd;
}

Test(errors, enodev_linklocal_device_gone)
{
	struct result_list *rl = NULL;
	int peer, fd;

	linklocal_setup();
	fd = linklocal_moved(&peer);
	cr_assert_eq(system("ip link del tcv0"), 0);
	expect_errno(OP_START, fd, TCPCP_EXEC_ONE, ENODEV);
	cr_expect_eq(tcpcp_close(fd, &rl), TCPCP_RET_OK, "still stopped");
	free(rl);
}

Test(errors, linklocal_with_device_works)
{
	struct result_list *rl = NULL;
	char c = 0;
	int peer, fd;

	linklocal_setup();
	fd = linklocal_moved(&peer);
	cr_assert_eq(tcpcp_start(fd, TCPCP_EXEC_ONE, &rl), TCPCP_RET_OK, "%s",
		     tcpcp_strerror_detail());
	cr_expect_eq(write(fd, "a", 1), 1);
	cr_expect_eq(read(peer, &c, 1), 1);
	cr_expect_eq(c, 'a');
	cr_expect_eq(write(peer, "b", 1), 1);
	cr_expect_eq(read(fd, &c, 1), 1);
	cr_expect_eq(c, 'b');
	free(rl);
}

/* A socket filter the program attached itself would be replaced by the
 * stop block: the socket is not tcpcp's to lock, and stays as it was. */
Test(errors, ebusy_program_filter)
{
	struct sock_filter prog[BLOCK_PROBE_LEN];
	socklen_t len = BLOCK_PROBE_LEN;
	int peer, fd = connected(AF_INET, &peer);
	int lone = socket(AF_INET, SOCK_STREAM, 0);

	tn_block(fd);
	tn_block(lone);
	expect_errno(OP_STOP, fd, TCPCP_EXEC_ONE, EBUSY);
	expect_errno(OP_SET_SI, lone, TCPCP_EXEC_ONE, EBUSY);
	cr_assert_eq(getsockopt(fd, SOL_SOCKET, SO_GET_FILTER, prog, &len), 0);
	cr_expect_eq(len, 1, "the program's one-instruction filter is intact");
}
