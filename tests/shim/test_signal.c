// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The control signal (DESIGN section 4): blocked in every thread of the
 * program and read only by the shim's worker.  The program's own
 * sigaction()/signal() for it is recorded and reported once, never
 * installed; its masks never unblock it; TCPCP_SIGNAL moves it, and a
 * value that cannot work turns the shim off with one line.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shimtest.h"

TestSuite(signal, .init = st_setup, .fini = st_teardown, .timeout = 60);

static const char *const continue_env[] = { "TCPCP_ON_CHECKPOINT=continue",
					    NULL };

/* A line of /proc/PID/status as a number ("SigCgt", "SigBlk"). */
static unsigned long long status_mask(pid_t pid, const char *key)
{
	char path[64], line[256];
	unsigned long long v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)) &&
		    line[strlen(key)] == ':')
			v = strtoull(line + strlen(key) + 1, NULL, 16);
	fclose(f);
	return v;
}

static unsigned long long bit(int sig)
{
	return 1ull << (sig - 1);
}

/* Every thread of the program has sig blocked. */
static void assert_all_block(struct prog *p, int sig)
{
	char copy[4096], *save = NULL, *w;
	int n = 0;

	snprintf(copy, sizeof(copy), "%s", prog_cmd(p, "sigblk"));
	for (w = strtok_r(copy, " ", &save); w;
	     w = strtok_r(NULL, " ", &save)) {
		char *colon = strchr(w, ':');

		cr_assert_not_null(colon, "sigblk: %s", w);
		cr_assert(strtoull(colon + 1, NULL, 16) & bit(sig),
			  "thread %.*s does not block signal %d: SigBlk %s",
			  (int)(colon - w), w, sig, colon + 1);
		n++;
	}
	cr_assert_geq(n, 2, "the program and the shim's worker at least");
}

/* One checkpoint by sig with TCPCP_ON_CHECKPOINT=continue. */
static void snapshot(struct prog *p, int sig, unsigned int n)
{
	struct image_done d;

	st_forget_image(p->pid);
	checkpoint(p, sig, n, &d);
	cr_assert_str_eq(d.action, "continue");
}

/* A connection with bytes both ways, for the checkpoints to carry. */
static void one_conn(struct prog *p, struct qconn *q)
{
	uint16_t port;
	int lfd = prog_listen(p, 0, NULL, &port);

	qconn_accept(p, lfd, port, 0, q);
	qconn_load(p, q, 1000, 1000);
}

Test(signal, program_handler_recorded_not_installed)
{
	static const char *const how[] = { "sigaction", "signal", "bsd_signal",
					   "sysv_signal" };
	struct prog a;
	struct qconn q;
	unsigned int i;
	const char *r;

	prog_start(&a, "prog", continue_env);
	one_conn(&a, &q);
	for (i = 0; i < 4; i++) {
		r = prog_cmd(&a, "sig-install USR2 %s", how[i]);
		/* what the program set is what it reads back */
		cr_assert_str_eq(r, i ? "old=ours" : "old=dfl", "%s: %s",
				 how[i], r);
	}
	cr_assert_str_eq(prog_cmd(&a, "sig-query USR2"), "handler=ours");
	cr_assert_eq(log_count("the program's own handler for SIGUSR2 is not "
			       "installed"), 1);
	cr_assert_eq(status_mask(a.pid, "SigCgt") & bit(SIGUSR2), 0,
		     "the kernel has a handler for SIGUSR2");
	for (i = 0; i < 3; i++)
		snapshot(&a, SIGUSR2, 1);
	cr_assert_str_eq(prog_cmd(&a, "sig-count USR2"), "0");
	cr_assert_eq(log_count("the program's own handler for SIGUSR2"), 1,
		     "reported more than once");
	qconn_verify(&a, &q, q.fd, 10000);
}

Test(signal, masks_never_unblock_it)
{
	struct prog a;
	struct qconn q;
	int i;

	prog_start(&a, "prog", continue_env);
	one_conn(&a, &q);
	prog_cmd(&a, "sig-install USR2 sigaction");
	prog_cmd(&a, "mask unblock USR2");
	prog_cmd(&a, "mask setmask-empty");
	prog_cmd(&a, "mask thread-unblock USR2");
	prog_cmd(&a, "mask thread-setmask-empty");
	assert_all_block(&a, SIGUSR2);
	for (i = 0; i < 3; i++)
		snapshot(&a, SIGUSR2, 1);
	cr_assert_str_eq(prog_cmd(&a, "sig-count USR2"), "0",
			 "the program's handler ran");
	assert_all_block(&a, SIGUSR2);
	qconn_verify(&a, &q, q.fd, 10000);
}

static void wait_count(struct prog *p, const char *sig, const char *want)
{
	long end = now_ms() + 5000;

	while (strcmp(prog_cmd(p, "sig-count %s", sig), want)) {
		cr_assert_lt(now_ms(), end, "SIG%s caught %s times, want %s",
			     sig, prog_cmd(p, "sig-count %s", sig), want);
		usleep(10000);
	}
}

/* TCPCP_SIGNAL=USR1: SIGUSR2 is the program's again. */
Test(signal, moved_to_usr1)
{
	const char *env[] = { "TCPCP_SIGNAL=USR1",
			      "TCPCP_ON_CHECKPOINT=continue", NULL };
	struct prog a;
	struct qconn q;

	prog_start(&a, "prog", env);
	one_conn(&a, &q);
	cr_assert_str_eq(prog_cmd(&a, "sig-install USR2 sigaction"), "old=dfl");
	cr_assert_str_eq(prog_cmd(&a, "sig-query USR2"), "handler=ours");
	cr_assert_neq(status_mask(a.pid, "SigCgt") & bit(SIGUSR2), 0);
	cr_assert_eq(log_count("own handler"), 0);
	prog_kill(&a, SIGUSR2);
	wait_count(&a, "USR2", "1");
	usleep(200000);
	cr_assert_eq(access(st_image(a.pid), F_OK), -1,
		     "SIGUSR2 made a checkpoint");
	prog_cmd(&a, "sig-install USR1 signal");
	cr_assert_eq(log_count("the program's own handler for SIGUSR1 is not "
			       "installed"), 1);
	assert_all_block(&a, SIGUSR1);
	snapshot(&a, SIGUSR1, 1);
	cr_assert_str_eq(prog_cmd(&a, "sig-count USR1"), "0");
	cr_assert_str_eq(prog_cmd(&a, "sig-count USR2"), "1");
	qconn_verify(&a, &q, q.fd, 10000);
}

/* A real-time control signal, by name with an offset. */
Test(signal, realtime_signal)
{
	const char *env[] = { "TCPCP_SIGNAL=RTMIN+3", NULL };
	struct prog a;
	struct qconn q;

	prog_start(&a, "prog", env);
	one_conn(&a, &q);
	checkpoint(&a, SIGRTMIN + 3, 1, NULL);
}

/*
 * TCPCP_SIGNAL=KILL cannot be blocked: one line says so and the shim is
 * off.  The program runs as if it were not there, and SIGUSR2 keeps its
 * default meaning: it ends the program.
 */
Test(signal, invalid_signal_kill)
{
	const char *env[] = { "TCPCP_SIGNAL=KILL", NULL };
	struct prog a;
	struct qconn q;

	prog_start(&a, "prog", env);
	cr_assert_eq(file_count(a.stderr_path, "TCPCP_SIGNAL=\"KILL\" is not "
				"valid"), 1, "no line on stderr (%s)",
		     a.stderr_path);
	cr_assert_eq(file_count(a.stderr_path, "tcpcp"), 1,
		     "more than one line");
	one_conn(&a, &q);
	qconn_verify(&a, &q, q.fd, 10000);
	cr_assert_str_eq(prog_cmd(&a, "sig-query USR2"), "handler=dfl");
	prog_kill(&a, SIGUSR2);
	cr_assert(prog_wait(&a, 5000), "SIGUSR2 did not end the program");
	cr_assert(WIFSIGNALED(a.status) && WTERMSIG(a.status) == SIGUSR2,
		  "wait status %#x", a.status);
	cr_assert_eq(access(st_image(a.pid), F_OK), -1);
}
