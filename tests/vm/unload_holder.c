// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * unload-holder DIR: leaves the module with work in flight, for init.sh's
 * unload checks.
 *
 * In a network namespace of its own it accepts two connections from a
 * peer process and stops both with the kmod backend: A is closed at once
 * (only its held 4-tuple remains), B stays open and stopped.  The peer then
 * sends on both, so its retransmissions keep hitting the module's hooks.
 * DIR/ready appears; the caller tries rmmod (the module may refuse while
 * this process uses it) and creates DIR/go; B is then closed as a program
 * would close it and this process exits, leaving the peer, which never
 * touched /dev/tcpcp2, retransmitting into the held tuples for a while
 * longer: the caller's second rmmod happens under that traffic.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctlmsg.h"
#include "tcpcp.h"
#include "testnet.h"

#define PEER_LINGER_S 12

static void die(const char *what)
{
	fprintf(stderr, "unload-holder: %s: %s (%s)\n", what, strerror(errno),
		tcpcp_strerror_detail());
	exit(1);
}

/* Forked before this process opens /dev/tcpcp2, so it holds no reference
 * to the module. */
static void peer_main(int ctl, uint16_t port)
{
	char buf[4096];
	int a = tn_connect(AF_INET, port, 0), b = tn_connect(AF_INET, port, 0);

	ctlmsg_send(ctl, "R");
	if (ctlmsg_get(ctl) != 'S')
		_exit(4);
	memset(buf, 'x', sizeof(buf));
	if (send(a, buf, sizeof(buf), MSG_NOSIGNAL) != sizeof(buf) ||
	    send(b, buf, sizeof(buf), MSG_NOSIGNAL) != sizeof(buf))
		_exit(5);
	sleep(PEER_LINGER_S); /* the kernel retransmits meanwhile */
	_exit(0);
}

static void stop(int fd, const char *what)
{
	struct result_list *rl = NULL;

	if (tcpcp_stop(fd, TCPCP_EXEC_ONE, &rl) != TCPCP_RET_OK || rl->fd_ng)
		die(what);
	free(rl);
}

static void touch(const char *dir, const char *name)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die(path);
	close(fd);
}

static void wait_for(const char *dir, const char *name, int seconds)
{
	char path[512];
	struct stat st;
	int i;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	for (i = 0; i < seconds * 20; i++) {
		if (!stat(path, &st))
			return;
		usleep(50 * 1000);
	}
	errno = ETIMEDOUT;
	die(path);
}

int main(int argc, char **argv)
{
	struct result_list *rl = NULL;
	char msg[300];
	uint16_t port;
	int lfd, ctl, a, b;

	if (argc != 2) {
		fprintf(stderr, "usage: unload-holder DIR\n");
		return 2;
	}
	setenv("TCPCP_BACKEND", "kmod", 1);
	testnet_enter();
	lfd = tn_listen(AF_INET, &port);
	if (ctlmsg_fork(&ctl) == 0)
		peer_main(ctl, port);
	a = tn_accept(lfd);
	b = tn_accept(lfd);
	if (ctlmsg_expect(ctl, "R", msg, sizeof(msg))) {
		fprintf(stderr, "unload-holder: peer: %s\n", msg);
		return 1;
	}
	stop(a, "stop A");
	stop(b, "stop B");
	if (tcpcp_close(a, &rl) != TCPCP_RET_OK || rl->fd_ng)
		die("close A");
	free(rl);
	if (write(ctl, "S", 1) != 1)
		die("peer");
	printf("A closed (its tuple held), B stopped and open, peer sending\n");
	fflush(stdout);
	touch(argv[1], "ready");
	wait_for(argv[1], "go", 60);
	close(b); /* a stopped socket closed the plain way */
	close(lfd);
	printf("B closed; exiting with the peer still retransmitting\n");
	return 0;
}
