// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * xbackend SAVE RESTORE [4|6]: a connection checkpointed on one "host" with
 * one backend is restored on another host with the other, through an image
 * file, and both ends check every byte.
 *
 * Hosts are network namespaces, each held by a process of its own:
 *
 *	client   198.18.0.2 (2001:db8::2) on veth xbc
 *	saver    198.18.0.1 (2001:db8::1) on veth xbs, TCPCP_BACKEND=SAVE
 *	restorer gets xbs (and so the service address) after the saver is
 *	         done, TCPCP_BACKEND=RESTORE
 *
 * Moving the address between namespaces is what a migration does, and it
 * keeps the two backends' holds (the repair backend's nftables set, the
 * module's table) apart: each lives in the saver's namespace, which dies
 * with the saver, so the module's cleanup of a dying namespace is
 * exercised too.  The addresses are RFC 2544 / RFC 3849 test ranges on a
 * veth pair that exists only inside this process tree.
 *
 * 64 KiB wait each way when the checkpoint is taken: unread in the saver's
 * receive queue, and in its send queue partly sent-unacknowledged and partly
 * unsent (the client drops what arrives and has a small window).  After the
 * restore a further 64 KiB goes each way.  Exit 0 and "ok: ..." on success;
 * exit 1 and the reason otherwise.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctlmsg.h"
#include "image.h"
#include "tcpcp.h"
#include "testnet.h"

#define PORT	    7000
#define QUEUED	    65536
#define AFTER	    65536
#define CLIENT_SEED 11 /* client -> server */
#define SERVER_SEED 22 /* server -> client */
#define WAIT_MS	    30000

static const char *save_backend, *restore_backend, *image_path;
static int family = AF_INET;

static const char *addr(int host)
{
	if (family == AF_INET)
		return host == 1 ? "198.18.0.1" : "198.18.0.2";
	return host == 1 ? "2001:db8::1" : "2001:db8::2";
}

static void fail(int ctl, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 2, 3)));

static void fail(int ctl, const char *fmt, ...)
{
	char why[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	ctlmsg_fail(ctl, why);
}

static void sh(int ctl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void sh(int ctl, const char *fmt, ...)
{
	char cmd[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd))
		fail(ctl, "'%s' failed (iproute2's ip is needed)", cmd);
}

/* The veth end dev, just moved into this namespace, gets this host's
 * address. */
static void addr_up(int ctl, const char *dev, int host)
{
	if (family == AF_INET)
		sh(ctl, "ip addr add %s/24 dev %s && ip link set %s up",
		   addr(host), dev, dev);
	else
		sh(ctl,
		   "ip -6 addr add %s/64 dev %s nodad && ip link set %s up",
		   addr(host), dev, dev);
}

static socklen_t sockaddr_of(int host, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(PORT);
		inet_pton(AF_INET, addr(host), &s4->sin_addr);
		return sizeof(*s4);
	}
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons(PORT);
	inet_pton(AF_INET6, addr(host), &s6->sin6_addr);
	return sizeof(*s6);
}

/* rc and *rl as the call left them: take the call's result first, then
 * the list (an argument list would not order the two). */
static void expect_ok(int ctl, int rc, struct result_list *rl, const char *what)
{
	if (rc != TCPCP_RET_OK)
		fail(ctl, "%s: %s (%s)", what, strerror(errno),
		     tcpcp_strerror_detail());
	if (!rl || rl->fd_all != 1 || rl->fd_ng != 0)
		fail(ctl, "%s: %u sockets processed, %u failed, result %d",
		     what, rl ? rl->fd_all : 0, rl ? rl->fd_ng : 0,
		     rl && rl->fd_all ? rl->fdrs[0].result : 0);
}

/* Both directions to their end, verified; then nothing more may come. */
static void finish(int ctl, int fd, uint32_t tx_seed, uint64_t tx_off,
		   uint32_t rx_seed, uint64_t rx_off)
{
	struct xfer x = {
		.fd = fd,
		.tx_seed = tx_seed,
		.rx_seed = rx_seed,
		.tx_off = tx_off,
		.tx_end = QUEUED + AFTER,
		.rx_off = rx_off,
		.rx_end = QUEUED + AFTER,
	};
	char err[300];

	tn_set_nonblock(fd, true);
	if (xfer_pump(&x, 1, WAIT_MS, err, sizeof(err)) ||
	    xfer_quiet(&x, 1, err, sizeof(err)))
		fail(ctl, "%s", err);
	ctlmsg_send(ctl, "OK");
}

static void client_main(int ctl)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, small = 4096;

	if (ctlmsg_get(ctl) != 'C')
		_exit(4);
	addr_up(ctl, "xbc", 2);
	len = sockaddr_of(1, &ss);
	fd = socket(family, SOCK_STREAM, 0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)))
		fail(ctl, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&ss, len))
		fail(ctl, "connect to %s: %s", addr(1), strerror(errno));
	tn_write_pattern(fd, CLIENT_SEED, 0, QUEUED);
	if (!tn_wait_q(fd, tn_outq, 0, WAIT_MS))
		fail(ctl, "the saver never acknowledged our bytes");
	tn_block(fd); /* what the saver sends now stays in its send queue */
	ctlmsg_send(ctl, "R");
	if (ctlmsg_get(ctl) != 'G')
		_exit(4);
	tn_unblock(fd);
	finish(ctl, fd, CLIENT_SEED, QUEUED, SERVER_SEED, 0);
	if (ctlmsg_get(ctl) != 'Q')
		_exit(4);
	_exit(0);
}

static int accept_loaded(int ctl, int lfd)
{
	int fd = accept(lfd, NULL, NULL), big = 1 << 20;

	if (fd < 0)
		fail(ctl, "accept: %s", strerror(errno));
	if (!tn_wait_q(fd, tn_inq, QUEUED, WAIT_MS))
		fail(ctl, "the client's bytes never arrived");
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big)))
		fail(ctl, "SO_SNDBUF: %s", strerror(errno));
	tn_write_pattern(fd, SERVER_SEED, 0, QUEUED);
	/* some of it leaves (and is dropped by the client), most cannot */
	usleep(200 * 1000);
	if (tn_inq(fd) != QUEUED || tn_outq(fd) != QUEUED ||
	    tn_outq_unsent(fd) == 0 || tn_outq_unsent(fd) == QUEUED)
		fail(ctl, "queues not as wanted: in %d out %d unsent %d",
		     tn_inq(fd), tn_outq(fd), tn_outq_unsent(fd));
	return fd;
}

static void save_image(int ctl, int fd, void *si, unsigned int size)
{
	struct image_conn conn = {.fd = fd, .kind = IMAGE_KIND_ACCEPTED};
	struct image img = {
		.pid = (uint32_t)getpid(),
		.si = si,
		.si_len = size,
		.n_conns = 1,
		.conns = &conn,
	};
	char why[300];
	int err;

	conn.listener_len = sockaddr_of(1, &conn.listener);
	snprintf(img.backend, sizeof(img.backend), "%s", tcpcp_backend_name());
	snprintf(img.host, sizeof(img.host), "saver");
	err = image_write(image_path, &img, why, sizeof(why));
	if (err)
		fail(ctl, "%s: %s", image_path, why);
}

static void saver_main(int ctl, pid_t restorer)
{
	struct sockaddr_storage ss;
	struct result_list *rl = NULL;
	socklen_t len = sockaddr_of(1, &ss);
	int lfd, fd, dummy, rc, one = 1;
	unsigned int size = 0;
	void *si = NULL;

	setenv("TCPCP_BACKEND", save_backend, 1);
	if (ctlmsg_get(ctl) != 'L')
		_exit(4);
	addr_up(ctl, "xbs", 1);
	lfd = socket(family, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&ss, len) || listen(lfd, 1))
		fail(ctl, "bind/listen %s: %s", addr(1), strerror(errno));
	ctlmsg_send(ctl, "R");
	if (ctlmsg_get(ctl) != 'S')
		_exit(4);
	fd = accept_loaded(ctl, lfd);
	dummy = socket(AF_INET, SOCK_STREAM, 0);
	rc = tcpcp_stop(dummy, TCPCP_EXEC_ALL, &rl);
	expect_ok(ctl, rc, rl, "stop(ALL)");
	free(rl);
	rc = tcpcp_get_si(dummy, TCPCP_EXEC_ALL, &si, &size, &rl);
	expect_ok(ctl, rc, rl, "get_si(ALL)");
	free(rl);
	save_image(ctl, fd, si, size);
	rc = tcpcp_close(dummy, &rl);
	expect_ok(ctl, rc, rl, "close(ALL)");
	free(rl);
	free(si);
	/* the service address moves to the restorer's host */
	sh(ctl, "ip link set xbs netns %d", (int)restorer);
	ctlmsg_send(ctl, "S");
	if (ctlmsg_get(ctl) != 'Q')
		_exit(4);
	_exit(0);
}

static int restore_image(int ctl)
{
	struct result_list *rl = NULL;
	struct image img;
	char why[300];
	int dummy = socket(AF_INET, SOCK_STREAM, 0), fd, err, rc;

	err = image_read(image_path, &img, why, sizeof(why));
	if (err)
		fail(ctl, "%s: %s", image_path, why);
	if (strcmp(img.backend, save_backend))
		fail(ctl, "the image says backend '%s', it was made with '%s'",
		     img.backend, save_backend);
	rc = tcpcp_set_si(dummy, TCPCP_EXEC_ALL, img.si, img.si_len, &rl);
	expect_ok(ctl, rc, rl, "set_si(ALL)");
	fd = rl->fdrs[0].result;
	if (rl->fdrs[0].fd != img.conns[0].fd)
		fail(ctl, "set_si: recorded fd %d, the saver's was %d",
		     rl->fdrs[0].fd, img.conns[0].fd);
	free(rl);
	image_free(&img);
	rc = tcpcp_start(dummy, TCPCP_EXEC_ALL, &rl);
	expect_ok(ctl, rc, rl, "start(ALL)");
	free(rl);
	close(dummy);
	return fd;
}

static void restorer_main(int ctl)
{
	int fd;

	setenv("TCPCP_BACKEND", restore_backend, 1);
	if (ctlmsg_get(ctl) != 'T')
		_exit(4);
	addr_up(ctl, "xbs", 1);
	fd = restore_image(ctl);
	ctlmsg_send(ctl, "R");
	if (ctlmsg_get(ctl) != 'G')
		_exit(4);
	finish(ctl, fd, SERVER_SEED, QUEUED, CLIENT_SEED, 0);
	if (ctlmsg_get(ctl) != 'Q')
		_exit(4);
	_exit(0);
}

struct host {
	const char *name;
	pid_t pid;
	int ctl;
};

static struct host hosts[3] = {
	{.name = "client"}, {.name = "restorer"}, {.name = "saver"}};

/* Each host is a child in a network namespace of its own. */
static void spawn(struct host *h, int which)
{
	h->pid = ctlmsg_fork(&h->ctl);
	if (h->pid)
		return;
	testnet_enter();
	if (which == 0)
		client_main(h->ctl);
	else if (which == 1)
		restorer_main(h->ctl);
	saver_main(h->ctl, hosts[1].pid);
}

static void cmd(struct host *h, char c)
{
	if (write(h->ctl, &c, 1) != 1) {
		fprintf(stderr, "xbackend: %s: control channel broken\n",
			h->name);
		exit(1);
	}
}

static void expect(struct host *h, const char *want)
{
	char msg[400];

	if (ctlmsg_expect(h->ctl, want, msg, sizeof(msg))) {
		fprintf(stderr, "xbackend %s->%s IPv%d: %s: %s\n", save_backend,
			restore_backend, family == AF_INET ? 4 : 6, h->name,
			msg);
		exit(1);
	}
}

static void run_shell(const char *cmdline)
{
	if (system(cmdline)) {
		fprintf(stderr, "xbackend: '%s' failed\n", cmdline);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	struct host *client = &hosts[0], *restorer = &hosts[1],
		    *saver = &hosts[2];
	char line[200];
	int i;

	if (argc < 3 || argc > 4 ||
	    (argc == 4 && strcmp(argv[3], "4") && strcmp(argv[3], "6"))) {
		fprintf(stderr, "usage: xbackend SAVE-BACKEND RESTORE-BACKEND "
				"[4|6]\n");
		return 2;
	}
	save_backend = argv[1];
	restore_backend = argv[2];
	family = argc == 4 && !strcmp(argv[3], "6") ? AF_INET6 : AF_INET;
	image_path = getenv("XBACKEND_IMAGE");
	if (!image_path)
		image_path = "/tmp/xbackend.img";
	unlink(image_path);
	testnet_enter(); /* the veth pair is born in a namespace of our own */
	run_shell("ip link add xbc type veth peer name xbs");
	for (i = 0; i < 3; i++)
		spawn(&hosts[i], i);
	snprintf(line, sizeof(line),
		 "ip link set xbc netns %d && "
		 "ip link set xbs netns %d",
		 (int)client->pid, (int)saver->pid);
	run_shell(line);
	cmd(saver, 'L');
	expect(saver, "R");
	cmd(client, 'C');
	expect(client, "R");
	cmd(saver, 'S');
	expect(saver, "S");
	cmd(saver, 'Q'); /* its namespace, and the holds in it, go away */
	waitpid(saver->pid, NULL, 0);
	cmd(restorer, 'T');
	expect(restorer, "R");
	cmd(restorer, 'G');
	cmd(client, 'G');
	expect(restorer, "OK");
	expect(client, "OK");
	cmd(restorer, 'Q');
	cmd(client, 'Q');
	waitpid(restorer->pid, NULL, 0);
	waitpid(client->pid, NULL, 0);
	unlink(image_path);
	printf("ok: %s -> %s, IPv%d: %d KiB queued each way when saved, "
	       "%d KiB more after the restore, every byte checked\n",
	       save_backend, restore_backend, family == AF_INET ? 4 : 6,
	       QUEUED / 1024, AFTER / 1024);
	return 0;
}
