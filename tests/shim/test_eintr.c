// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What a checkpoint does to the program's threads that are blocked in a
 * call (TCPCP_ON_CHECKPOINT=continue).  The control signal never reaches
 * them (DESIGN section 4), but the park signal does.  Its handler has
 * SA_RESTART, so calls the kernel restarts (accept, read, recv) go on
 * unnoticed; the waits the kernel never restarts (the epoll waits, poll,
 * ppoll, select, pselect) are resumed by the shim's own wrappers, so none
 * of those may see EINTR.  nanosleep, which the shim does not wrap, may
 * return EINTR once.  The test reports what the program saw (on stderr,
 * "# ..." lines).
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shimtest.h"

TestSuite(eintr, .init = st_setup, .fini = st_teardown, .timeout = 60);

static const char *const kinds[] = {
	"epoll", "epoll_pwait", "poll", "ppoll", "select", "pselect",
	"accept", "read", "recv", "nanosleep",
};
#define N_KINDS (sizeof(kinds) / sizeof(kinds[0]))

static void start_waiters(struct prog *p)
{
	unsigned int i;

	for (i = 0; i < N_KINDS; i++)
		prog_cmd(p, "waiter %s", kinds[i]);
	usleep(200000); /* all of them blocked */
}

/* Every waiter came back woken; what each saw, into the test's log. */
static void report(struct prog *p, const char *title)
{
	char copy[4096], *save = NULL, *w;

	prog_cmd(p, "waiters-wake");
	snprintf(copy, sizeof(copy), "%s", prog_cmd(p, "waiters-report"));
	cr_log_info("%s: %s", title, copy);
	fprintf(stderr, "# %s: %s\n", title, copy);
	for (w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		cr_expect(strstr(w, ":woken"), "%s: %s did not come back "
			  "properly", title, w);
		cr_expect(!strncmp(w, "nanosleep:", 10) ||
				  strstr(w, ":eintr=0:"),
			  "%s: %s saw the shim's EINTR", title, w);
	}
}

/* Without a checkpoint nothing interrupts them (the baseline). */
Test(eintr, baseline_without_checkpoint)
{
	struct prog a;

	prog_start(&a, "prog", (const char *const[]){
		   "TCPCP_ON_CHECKPOINT=continue", NULL });
	start_waiters(&a);
	report(&a, "no checkpoint");
	cr_assert_eq(strstr(prog_cmd(&a, "waiters-report"), "eintr=1") !=
			     NULL, 0, "EINTR without a checkpoint");
}

Test(eintr, blocked_calls_during_continue)
{
	struct prog a;
	struct image_done d;

	prog_start(&a, "prog", (const char *const[]){
		   "TCPCP_ON_CHECKPOINT=continue", NULL });
	start_waiters(&a);
	/* the recv waiter's connection has both ends in the program */
	checkpoint(&a, SIGUSR2, 2, &d);
	report(&a, "after a checkpoint with continue");
	prog_cmd(&a, "ping");
}
