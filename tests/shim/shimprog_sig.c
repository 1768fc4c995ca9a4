// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * shimprog's signal commands: a program that wants the control signal
 * for itself, tries to unblock it, and reports what it really got.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shimprog.h"

/* glibc has it, its headers declare it only for old standards */
extern __sighandler_t bsd_signal(int sig, __sighandler_t h);

static atomic_uint caught[NSIG];

static void count(int sig)
{
	atomic_fetch_add(&caught[sig], 1);
}

int sig_by_name(const char *s)
{
	static const struct {
		const char *name;
		int sig;
	} names[] = {
		{ "USR1", SIGUSR1 }, { "USR2", SIGUSR2 }, { "TERM", SIGTERM },
		{ "HUP", SIGHUP },   { "INT", SIGINT },
	};
	size_t i;

	if (!strncmp(s, "SIG", 3))
		s += 3;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(s, names[i].name))
			return names[i].sig;
	return (int)arg_long(s);
}

static const char *handler_name(void (*h)(int))
{
	if (h == SIG_DFL)
		return "dfl";
	if (h == SIG_IGN)
		return "ign";
	return h == count ? "ours" : "other";
}

/* sig-install SIG sigaction|signal|bsd_signal|sysv_signal: a handler
 * that counts; replies what the call said was there before. */
int cmd_sig_install(int argc, char **argv, char *out, size_t len)
{
	int sig = sig_by_name(argv[1]);
	const char *how = argc > 2 ? argv[2] : "sigaction";
	struct sigaction sa, old;
	void (*prev)(int);

	if (!strcmp(how, "sigaction")) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = count;
		sa.sa_flags = SA_RESTART;
		sigemptyset(&sa.sa_mask);
		if (sigaction(sig, &sa, &old)) {
			snprintf(out, len, "sigaction: %m");
			return -1;
		}
		prev = old.sa_handler;
	} else if (!strcmp(how, "signal")) {
		prev = signal(sig, count);
	} else if (!strcmp(how, "bsd_signal")) {
		prev = bsd_signal(sig, count);
	} else {
		prev = sysv_signal(sig, count);
	}
	if (prev == SIG_ERR) {
		snprintf(out, len, "%s: %m", how);
		return -1;
	}
	snprintf(out, len, "old=%s", handler_name(prev));
	return 0;
}

/* sig-query SIG: what sigaction() says the handler is. */
int cmd_sig_query(int argc, char **argv, char *out, size_t len)
{
	struct sigaction old;

	(void)argc;
	if (sigaction(sig_by_name(argv[1]), NULL, &old)) {
		snprintf(out, len, "sigaction: %m");
		return -1;
	}
	snprintf(out, len, "handler=%s", handler_name(old.sa_handler));
	return 0;
}

int cmd_sig_count(int argc, char **argv, char *out, size_t len)
{
	(void)argc;
	snprintf(out, len, "%u", atomic_load(&caught[sig_by_name(argv[1])]));
	return 0;
}

struct mask_req {
	int how;
	sigset_t set;
};

static void *masked_thread(void *arg)
{
	struct mask_req *m = arg;

	pthread_sigmask(m->how, &m->set, NULL);
	for (;;)
		pause();
	return NULL;
}

/*
 * mask unblock SIG | setmask-empty | thread-unblock SIG |
 * thread-setmask-empty: the program tries to open its mask to the
 * signal, in this thread or in a new thread that then waits forever.
 */
int cmd_mask(int argc, char **argv, char *out, size_t len)
{
	static struct mask_req reqs[8];
	static int n_reqs;
	const char *what = argv[1];
	struct mask_req *m;
	pthread_t t;

	if (n_reqs == 8) {
		snprintf(out, len, "too many");
		return -1;
	}
	m = &reqs[n_reqs++];
	sigemptyset(&m->set);
	m->how = SIG_SETMASK;
	if (strstr(what, "unblock")) {
		if (argc < 3) {
			snprintf(out, len, "which signal?");
			return -1;
		}
		m->how = SIG_UNBLOCK;
		sigaddset(&m->set, sig_by_name(argv[2]));
	}
	if (!strncmp(what, "thread-", 7)) {
		if (pthread_create(&t, NULL, masked_thread, m)) {
			snprintf(out, len, "pthread_create failed");
			return -1;
		}
		usleep(20000); /* its mask is set before the reply */
	} else if (sigprocmask(m->how, &m->set, NULL)) {
		snprintf(out, len, "sigprocmask: %m");
		return -1;
	}
	snprintf(out, len, "done");
	return 0;
}

/* sigblk: "TID:SIGBLK-HEX" for every thread, from /proc/self/task. */
int cmd_sigblk(int argc, char **argv, char *out, size_t len)
{
	char path[300], line[256];
	struct dirent *d;
	size_t o = 0;
	DIR *dir;
	FILE *f;

	(void)argc;
	(void)argv;
	out[0] = '\0';
	dir = opendir("/proc/self/task");
	if (!dir) {
		snprintf(out, len, "opendir: %m");
		return -1;
	}
	while ((d = readdir(dir)) && o < len) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/status",
			 d->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f)) {
			const char *hex = line + 7 + strspn(line + 7, "\t ");

			if (!strncmp(line, "SigBlk:", 7))
				o += (size_t)snprintf(out + o, len - o,
						      "%s%s:%s", o ? " " : "",
						      d->d_name, hex);
		}
		fclose(f);
	}
	closedir(dir);
	/* fgets keeps the newlines */
	for (o = 0; out[o]; o++)
		if (out[o] == '\n')
			out[o] = ' ';
	return 0;
}

static void on_term(int sig)
{
	char line[64];

	(void)sig;
	snprintf(line, sizeof(line), "event SIGTERM pid=%d", (int)getpid());
	say(line);
	_exit(0);
}

/* term-handler: SIGTERM says so on the control line, then exits 0. */
int cmd_term_handler(int argc, char **argv, char *out, size_t len)
{
	struct sigaction sa;

	(void)argc;
	(void)argv;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL)) {
		snprintf(out, len, "sigaction: %m");
		return -1;
	}
	snprintf(out, len, "installed");
	return 0;
}
