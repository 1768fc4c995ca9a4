// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Bad input (DESIGN sections 4-6): an image that is corrupt, truncated,
 * not an image, writable by others, owned by someone else, a symlink or
 * missing, and TCPCP_* values that make no sense.  Each is one clear line
 * (in the log, or on stderr when the shim turns itself off before it
 * knows where its log is), and the program runs normally without its old
 * connections: it binds the same port and serves new clients.  The old
 * connections' peers are not left hanging: once the hold expires
 * (TCPCP_HOLD_SECONDS=2 here) their next segment is answered with a
 * reset.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shimtest.h"

TestSuite(badinput, .init = st_setup, .fini = st_teardown, .timeout = 60);

struct bad {
	void (*mutate)(const char *image); /* NULL: leave it */
	const char *restore;  /* TCPCP_RESTORE, NULL: the image */
	const char *env;      /* one more variable, or NULL */
	bool on_stderr;       /* the line is on stderr, not in the log */
	const char *line;     /* what the one line says */
};

/* An old program checkpointed with a connection; q is that connection. */
static void old_image(struct prog *a, struct qconn *q, uint16_t *ret_port)
{
	const char *env[] = { "TCPCP_HOLD_SECONDS=2", NULL };
	int lfd;

	prog_start(a, "old", env);
	lfd = prog_listen(a, 0, NULL, ret_port);
	qconn_accept(a, lfd, *ret_port, 4096, q);
	qconn_load(a, q, 5000, 5000);
	checkpoint(a, SIGUSR2, 1, NULL);
}

static void refused(const struct bad *b)
{
	struct prog a, n;
	struct qconn q, fresh;
	uint16_t port;
	char restore[300];
	const char *env[3] = { restore, b->env, NULL };
	const char *fate;
	long t0;
	int lfd;

	old_image(&a, &q, &port);
	t0 = now_ms();
	if (b->mutate)
		b->mutate(st_image(a.pid));
	snprintf(restore, sizeof(restore), "TCPCP_RESTORE=%s",
		 b->restore ? b->restore : st_image(a.pid));
	prog_start(&n, "new", env);
	if (b->on_stderr) {
		cr_assert_eq(file_count(n.stderr_path, b->line), 1,
			     "want one line with \"%s\" on stderr", b->line);
		cr_assert_eq(file_count(n.stderr_path, "tcpcp["), 1,
			     "more than one line on stderr");
	} else {
		cr_assert_eq(log_count(b->line), 1,
			     "want one line with \"%s\" in the log", b->line);
		cr_assert_eq(log_count("not restoring"), 1);
	}
	/* the program works: same port, new clients */
	lfd = prog_listen(&n, port, NULL, NULL);
	qconn_accept(&n, lfd, port, 0, &fresh);
	qconn_verify(&n, &fresh, fresh.fd, 100000);
	cr_assert_eq(log_count("restored"), 0);
	/* and the old peer learns its connection is gone */
	fate = peer_fate(q.peer, 20000, true);
	cr_log_info("the old connection's peer: %s %ld ms after the "
		    "checkpoint", fate, now_ms() - t0);
	cr_assert_str_eq(fate, "RST", "the old peer saw %s", fate);
}

static void flip_middle(const char *image)
{
	struct stat sb;
	unsigned char c;
	int fd = open(image, O_RDWR);

	cr_assert(fd >= 0 && !fstat(fd, &sb));
	cr_assert_eq(pread(fd, &c, 1, sb.st_size / 2), 1);
	c ^= 0x10;
	cr_assert_eq(pwrite(fd, &c, 1, sb.st_size / 2), 1);
	close(fd);
}

static void flip_magic(const char *image)
{
	int fd = open(image, O_WRONLY);

	cr_assert(fd >= 0 && pwrite(fd, "X", 1, 0) == 1);
	close(fd);
}

static void cut_in_half(const char *image)
{
	struct stat sb;

	cr_assert(!stat(image, &sb) && !truncate(image, sb.st_size / 2));
}

static void mode_0666(const char *image)
{
	cr_assert_eq(chmod(image, 0666), 0);
}

static void nobody_owns(const char *image)
{
	cr_assert_eq(chown(image, 65534, 65534), 0);
}

Test(badinput, corrupt_byte)
{
	refused(&(struct bad){ .mutate = flip_middle, .line = "bad CRC" });
}

Test(badinput, wrong_magic)
{
	refused(&(struct bad){ .mutate = flip_magic,
			       .line = "not a tcpcp image (wrong magic)" });
}

Test(badinput, truncated)
{
	refused(&(struct bad){ .mutate = cut_in_half, .line = "truncated" });
}

Test(badinput, mode_0666)
{
	refused(&(struct bad){ .mutate = mode_0666,
			       .line = "writable by group or others (mode "
				       "0666)" });
}

Test(badinput, owned_by_another_uid)
{
	refused(&(struct bad){ .mutate = nobody_owns,
			       .line = "owned by uid 65534" });
}

Test(badinput, nonexistent)
{
	refused(&(struct bad){ .restore = "/nonexistent/tcpcp.img",
			       .line = "No such file or directory" });
}

static char link_path[200];

static void behind_a_symlink(const char *image)
{
	cr_assert_eq(symlink(image, link_path), 0, "symlink: %m");
}

/* A good image behind a symlink: O_NOFOLLOW refuses it. */
Test(badinput, symlink)
{
	snprintf(link_path, sizeof(link_path), "%s/link.img", st.dir);
	refused(&(struct bad){ .mutate = behind_a_symlink,
			       .restore = link_path,
			       .line = "a symbolic link (refused)" });
}

Test(badinput, claim_seconds_not_a_number)
{
	refused(&(struct bad){ .env = "TCPCP_CLAIM_SECONDS=soon",
			       .on_stderr = true,
			       .line = "TCPCP_CLAIM_SECONDS=\"soon\" is not "
				       "valid" });
}

Test(badinput, claim_seconds_negative)
{
	refused(&(struct bad){ .env = "TCPCP_CLAIM_SECONDS=-1",
			       .on_stderr = true,
			       .line = "TCPCP_CLAIM_SECONDS=\"-1\" is not "
				       "valid" });
}

Test(badinput, on_checkpoint_unknown)
{
	refused(&(struct bad){ .env = "TCPCP_ON_CHECKPOINT=sometimes",
			       .on_stderr = true,
			       .line = "TCPCP_ON_CHECKPOINT=\"sometimes\" is "
				       "not valid" });
}

Test(badinput, log_relative_path)
{
	refused(&(struct bad){ .env = "TCPCP_LOG=shim.log",
			       .on_stderr = true,
			       .line = "TCPCP_LOG=\"shim.log\" is not valid" });
}

Test(badinput, restore_fd_not_boolean)
{
	refused(&(struct bad){ .env = "TCPCP_RESTORE_FD=yes",
			       .on_stderr = true,
			       .line = "TCPCP_RESTORE_FD=\"yes\" is not "
				       "valid" });
}

Test(badinput, image_template_bad_percent)
{
	refused(&(struct bad){ .env = "TCPCP_IMAGE=/tmp/x-%d.img",
			       .on_stderr = true,
			       .line = "TCPCP_IMAGE=\"/tmp/x-%d.img\" is not "
				       "valid" });
}

/*
 * TCPCP_HOLD_SECONDS is read by libtcpcp when it stops connections, but
 * DESIGN section 5 wants it, like every TCPCP_* value, checked at start
 * with one line (and the shim off).  Where it is not, a bad value must at
 * least not cost a connection: the checkpoint fails and every connection
 * runs on.
 */
Test(badinput, hold_seconds_not_a_number)
{
	const char *env[] = { "TCPCP_HOLD_SECONDS=abc", NULL };
	struct prog a;
	struct qconn q;
	struct image_done d;
	uint16_t port;
	int lfd, lines;

	prog_start(&a, "prog", env);
	lines = file_count(a.stderr_path, "TCPCP_HOLD_SECONDS=\"abc\" is not "
			   "valid") + log_count("TCPCP_HOLD_SECONDS=\"abc\"");
	lfd = prog_listen(&a, 0, NULL, &port);
	qconn_accept(&a, lfd, port, 0, &q);
	qconn_load(&a, &q, 1000, 1000);
	if (lines) {
		cr_assert_eq(lines, 1);
		qconn_verify(&a, &q, q.fd, 10000);
		return;
	}
	cr_expect_fail("no line about TCPCP_HOLD_SECONDS=abc at start");
	prog_kill(&a, SIGUSR2);
	cr_assert_eq(st_wait_done(a.pid, &d, 10000), 0);
	cr_assert(!d.ok, "a checkpoint with a bad hold time succeeded");
	cr_assert(strstr(d.error, "TCPCP_HOLD_SECONDS"), "error: %s", d.error);
	qconn_verify(&a, &q, q.fd, 10000);
	cr_expect_eq(log_count("start after checkpoint"), 0,
		     "a failed stop is followed by a misleading \"start after "
		     "checkpoint: 0 of 0 connections did not start\" line");
}

/* A backend that cannot work here (no tcpcp2 module): said at start;
 * the claimed connections cannot come back, and say so. */
Test(badinput, backend_kmod_without_module)
{
	struct prog a, n;
	struct qconn q, fresh;
	uint16_t port;
	const char *env[3] = { NULL, "TCPCP_BACKEND=kmod", NULL };
	int lfd;

	if (!access("/dev/tcpcp2", F_OK))
		cr_skip_test("the tcpcp2 module is loaded here");
	old_image(&a, &q, &port);
	env[0] = restore_env(&a);
	prog_start(&n, "new", env);
	cr_assert_eq(log_count("no backend"), 1);
	lfd = prog_listen(&n, port, NULL, NULL);
	cr_assert_eq(log_count("failed"), 1, "want one line for the one "
		     "connection that cannot be restored");
	qconn_accept(&n, lfd, port, 0, &fresh);
	qconn_verify(&n, &fresh, fresh.fd, 1000);
	cr_assert_str_eq(peer_fate(q.peer, 20000, true), "RST");
}
