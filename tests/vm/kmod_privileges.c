// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Who may do what with the kmod backend (DESIGN section 6), run in the VM
 * with the module loaded:
 *
 *  - a process without privilege may stop its own connections and read
 *    their TCP-SI: it could read that data anyway;
 *  - set_si and start claim a 4-tuple, so they need CAP_NET_ADMIN in the
 *    socket's network namespace: refused (EPERM) without it;
 *  - that capability counts in a user namespace that owns the network
 *    namespace, as it does for TCP_REPAIR.
 *
 * Each test makes its connection as root in a fresh network namespace and
 * then drops to nobody (uid and gid 65534), keeping the descriptors.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tcpcp.h"
#include "testnet.h"

#define NOBODY 65534

struct conn {
	int lfd, client, server;
};

static struct conn conn_open(void)
{
	struct conn c;
	uint16_t port;

	c.lfd = tn_listen(AF_INET, &port);
	c.client = tn_connect(AF_INET, port, 0);
	c.server = tn_accept(c.lfd);
	cr_assert_eq(send(c.client, "hello", 5, 0), 5);
	cr_assert(tn_wait_q(c.server, tn_inq, 5, 5000));
	return c;
}

static void drop_privileges(void)
{
	cr_assert_eq(setgroups(0, NULL), 0, "%m");
	cr_assert_eq(setresgid(NOBODY, NOBODY, NOBODY), 0, "%m");
	cr_assert_eq(setresuid(NOBODY, NOBODY, NOBODY), 0, "%m");
}

static void setup(void)
{
	testnet_enter();
	setenv("TCPCP_BACKEND", "kmod", 1);
}

TestSuite(privileges, .init = setup, .timeout = 30);

static void expect_ok(int rc, struct result_list *rl, const char *what)
{
	cr_assert_eq(rc, TCPCP_RET_OK, "%s: %s (%s)", what, strerror(errno),
		     tcpcp_strerror_detail());
	cr_assert_not_null(rl);
	cr_assert_eq(rl->fd_ng, 0, "%s: %u of %u failed, first result %d", what,
		     rl->fd_ng, rl->fd_all,
		     rl->fd_all ? rl->fdrs[0].result : 0);
}

Test(privileges, unprivileged_stop_and_get_si_one)
{
	struct conn c = conn_open();
	struct result_list *rl = NULL;
	unsigned int size = 0;
	void *si = NULL;
	int rc;

	drop_privileges();
	rc = tcpcp_stop(c.server, TCPCP_EXEC_ONE, &rl);
	expect_ok(rc, rl, "stop");
	free(rl);
	rc = tcpcp_get_si(c.server, TCPCP_EXEC_ONE, &si, &size, &rl);
	expect_ok(rc, rl, "get_si");
	cr_expect_gt(size, 5, "the TCP-SI holds the unread bytes");
	free(rl);
	free(si);
}

Test(privileges, unprivileged_stop_and_get_si_all)
{
	struct conn c = conn_open();
	struct result_list *rl = NULL;
	unsigned int size = 0;
	void *si = NULL;
	int dummy, rc;

	drop_privileges();
	dummy = socket(AF_INET, SOCK_STREAM, 0);
	rc = tcpcp_stop(dummy, TCPCP_EXEC_ALL, &rl);
	expect_ok(rc, rl, "stop(ALL)");
	cr_expect_eq(rl->fd_all, 2, "both ends are ours");
	free(rl);
	rc = tcpcp_get_si(dummy, TCPCP_EXEC_ALL, &si, &size, &rl);
	expect_ok(rc, rl, "get_si(ALL)");
	free(rl);
	free(si);
	(void)c;
}

/* The saved TCP-SI is fine; only the privilege is missing. */
Test(privileges, set_si_needs_cap_net_admin)
{
	struct conn c = conn_open();
	struct result_list *rl = NULL;
	unsigned int size = 0;
	void *si = NULL;
	int rc, fd;

	rc = tcpcp_stop(c.server, TCPCP_EXEC_ONE, &rl);
	expect_ok(rc, rl, "stop");
	free(rl);
	rc = tcpcp_get_si(c.server, TCPCP_EXEC_ONE, &si, &size, &rl);
	expect_ok(rc, rl, "get_si");
	free(rl);
	rc = tcpcp_close(c.server, &rl);
	expect_ok(rc, rl, "close");
	free(rl);
	drop_privileges();
	fd = socket(AF_INET, SOCK_STREAM, 0);
	rl = NULL;
	errno = 0;
	rc = tcpcp_set_si(fd, TCPCP_EXEC_ONE, si, size, &rl);
	cr_expect_eq(rc, TCPCP_RET_NG, "set_si without CAP_NET_ADMIN worked");
	cr_expect_eq(errno, EPERM, "errno %d (%s), not EPERM", errno,
		     strerror(errno));
	free(rl);
	free(si);
}

Test(privileges, start_needs_cap_net_admin)
{
	struct conn c = conn_open();
	struct result_list *rl = NULL;
	int rc;

	rc = tcpcp_stop(c.server, TCPCP_EXEC_ONE, &rl);
	expect_ok(rc, rl, "stop");
	free(rl);
	drop_privileges();
	rl = NULL;
	errno = 0;
	rc = tcpcp_start(c.server, TCPCP_EXEC_ONE, &rl);
	cr_expect_eq(rc, TCPCP_RET_NG, "start without CAP_NET_ADMIN worked");
	cr_expect_eq(errno, EPERM, "errno %d (%s), not EPERM", errno,
		     strerror(errno));
	free(rl);
}

/* In a user namespace just made: root inside is uid and gid outside.
 * 0, or -1 with why. */
static int map_self(uid_t uid, gid_t gid, char *why, size_t len)
{
	static const char *const files[] = {"/proc/self/setgroups",
					    "/proc/self/uid_map",
					    "/proc/self/gid_map"};
	char line[3][32];
	int i;

	snprintf(line[0], sizeof(line[0]), "deny");
	snprintf(line[1], sizeof(line[1]), "0 %u 1", (unsigned int)uid);
	snprintf(line[2], sizeof(line[2]), "0 %u 1", (unsigned int)gid);
	for (i = 0; i < 3; i++) {
		int fd = open(files[i], O_WRONLY);
		ssize_t n = fd < 0 ? -1 : write(fd, line[i], strlen(line[i]));

		if (fd >= 0)
			close(fd);
		if (n != (ssize_t)strlen(line[i])) {
			snprintf(why, len, "%s: %s", files[i], strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* One call's outcome in the child: 0, or -1 with why. */
static int step(int rc, struct result_list **rl, const char *what, char *why,
		size_t len)
{
	int bad = rc != TCPCP_RET_OK || !*rl || (*rl)->fd_ng;

	if (bad)
		snprintf(why, len, "%s: %s (%s)", what, strerror(errno),
			 tcpcp_strerror_detail());
	free(*rl);
	*rl = NULL;
	return bad ? -1 : 0;
}

/* The user-namespace part, in a child: unshare(CLONE_NEWUSER) refuses a
 * multithreaded caller, and Criterion's test process has threads. */
static int in_own_userns(char *why, size_t len)
{
	struct result_list *rl = NULL;
	unsigned int size = 0;
	char buf[8] = "";
	struct conn c;
	void *si = NULL;
	int fd;

	if (map_self(NOBODY, NOBODY, why, len))
		return -1;
	testnet_enter();
	c = conn_open();
	if (step(tcpcp_stop(c.server, TCPCP_EXEC_ONE, &rl), &rl, "stop", why,
		 len) ||
	    step(tcpcp_get_si(c.server, TCPCP_EXEC_ONE, &si, &size, &rl), &rl,
		 "get_si", why, len) ||
	    step(tcpcp_close(c.server, &rl), &rl, "close", why, len))
		return -1;
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (step(tcpcp_set_si(fd, TCPCP_EXEC_ONE, si, size, &rl), &rl, "set_si",
		 why, len) ||
	    step(tcpcp_start(fd, TCPCP_EXEC_ONE, &rl), &rl, "start", why, len))
		return -1;
	free(si);
	if (!tn_wait_q(fd, tn_inq, 5, 5000) ||
	    recv(fd, buf, sizeof(buf), 0) != 5 || strcmp(buf, "hello")) {
		snprintf(why, len, "the unread bytes did not come back");
		return -1;
	}
	return 0;
}

/* nobody makes a user namespace and a network namespace it owns: there it
 * has CAP_NET_ADMIN, and a connection it checkpoints there comes back. */
Test(privileges, cap_net_admin_of_a_user_namespace_counts)
{
	char why[300] = "";
	int pipefd[2], status;
	ssize_t n;
	pid_t pid;

	cr_assert_eq(pipe(pipefd), 0);
	drop_privileges();
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int rc = 0;

		close(pipefd[0]);
		/* changing uid made us undumpable: /proc/self would stay
		 * root's, and the maps unwritable */
		prctl(PR_SET_DUMPABLE, 1);
		if (unshare(CLONE_NEWUSER)) {
			snprintf(why, sizeof(why),
				 "SKIP unshare(CLONE_NEWUSER): %s",
				 strerror(errno));
			rc = 2;
		} else if (in_own_userns(why, sizeof(why))) {
			rc = 1;
		}
		if (write(pipefd[1], why, strlen(why)) < 0)
			rc = 3;
		_exit(rc);
	}
	close(pipefd[1]);
	n = read(pipefd[0], why, sizeof(why) - 1);
	why[n > 0 ? n : 0] = '\0';
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 2)
		cr_skip_test("no unprivileged user namespaces here: %s", why);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s", why);
}
