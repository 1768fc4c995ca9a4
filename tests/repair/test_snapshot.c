// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The BPF socket iterator (TCPCP_ACCEL=bpf) must save exactly what the
 * system calls save (TCPCP_ACCEL=none): the connections of snapconns.h
 * are saved once each way and the TCP-SI compared byte for byte.  And the
 * iterator's descriptors, taken by the program, are made again.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "accel_probe.h"
#include "snapconns.h"
#include "tcpcp.h"
#include "testnet.h"

TestSuite(snapshot, .init = testnet_enter, .timeout = 120);

Test(snapshot, bpf_saves_what_syscalls_save)
{
	struct conn c[NCONNS];
	unsigned int i, na, nb;
	void *a, *b;
	pid_t child;
	int dummy;

	cr_assert(testnet_nofile(4 * NCONNS + 64));
	for (i = 0; i < NCONNS; i++)
		open_conn(&c[i], (int)i);
	child = hand_peers_over(c, NCONNS);
	usleep(200000); /* FINs and ACKs settle */
	check_states(c, NCONNS);
	dummy = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setenv("TCPCP_ACCEL", "bpf", 1);
	stop_all(dummy);
	a = get_si_all(dummy, "none", &na);
	b = get_si_all(dummy, "bpf", &nb);
	if (!iterator_loaded()) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		cr_skip_test("the BPF iterator is not loaded: %s",
			     why_not_loaded());
	}
	expect_same(a, na, b, nb);
	free(a);
	free(b);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
}

/* A daemon's closefrom() takes the library's descriptors and the numbers
 * go to other files: the next call notices, makes its link again and
 * saves the same.  The descriptors sit high, out of TCPCP_RESTORE_FD's way. */
Test(snapshot, survives_its_descriptor_taken)
{
	struct conn c[NCONNS];
	unsigned int i, na, nb;
	void *a, *b;
	pid_t child;
	int dummy, link, null;

	cr_assert(testnet_nofile(4 * NCONNS + 64));
	for (i = 0; i < NCONNS; i++)
		open_conn(&c[i], (int)i);
	child = hand_peers_over(c, NCONNS);
	usleep(200000);
	dummy = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setenv("TCPCP_ACCEL", "bpf", 1);
	stop_all(dummy);
	a = get_si_all(dummy, "none", &na);
	free(get_si_all(dummy, "bpf", &nb));
	link = link_fd();
	if (link < 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		cr_skip_test("the BPF iterator is not loaded: %s",
			     why_not_loaded());
	}
	cr_expect_geq(link, 4 * NCONNS + 64 - 128, "the link is at %d, not "
		      "near the top of the range", link);
	null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	cr_assert_eq(dup2(null, link), link);
	close(null);
	b = get_si_all(dummy, "bpf", &nb);
	expect_same(a, na, b, nb);
	cr_expect(iterator_loaded(), "the link was made again");
	free(a);
	free(b);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
}

/* --- TCPCP_ACCEL=auto: the io_uring batches --- */
