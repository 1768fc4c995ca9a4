// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sig_parse.h"

static const struct {
	const char *name;
	int sig;
} names[] = {
	{ "HUP", SIGHUP },   { "INT", SIGINT },     { "QUIT", SIGQUIT },
	{ "ABRT", SIGABRT }, { "USR1", SIGUSR1 },   { "USR2", SIGUSR2 },
	{ "PIPE", SIGPIPE }, { "ALRM", SIGALRM },   { "TERM", SIGTERM },
	{ "XCPU", SIGXCPU }, { "XFSZ", SIGXFSZ },   { "VTALRM", SIGVTALRM },
	{ "PROF", SIGPROF }, { "POLL", SIGPOLL },   { "PWR", SIGPWR },
	{ "STKFLT", SIGSTKFLT },
};

static int usable(int sig)
{
	switch (sig) {
	case SIGKILL: case SIGSTOP: case SIGSEGV: case SIGBUS: case SIGFPE:
	case SIGILL: case SIGTRAP: case SIGSYS: case SIGCHLD: case SIGCONT:
	case SIGTSTP: case SIGTTIN: case SIGTTOU: case SIGWINCH: case SIGURG:
		return -EINVAL;
	}
	if (sig < 1 || sig >= NSIG || (sig > SIGSYS && sig < SIGRTMIN))
		return -EINVAL;
	return sig;
}

/* A decimal number with nothing around it, 0..INT_MAX. */
static int parse_uint(const char *s)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v > INT_MAX)
		return -EINVAL;
	return (int)v;
}

static int parse_rt(const char *s)
{
	int base, off;

	if (!strncasecmp(s, "RTMIN", 5))
		base = SIGRTMIN;
	else if (!strncasecmp(s, "RTMAX", 5))
		base = SIGRTMAX;
	else
		return -EINVAL;
	s += 5;
	if (!*s)
		return base;
	if (*s != '+' && *s != '-')
		return -EINVAL;
	off = parse_uint(s + 1);
	if (off < 0 || off > SIGRTMAX - SIGRTMIN)
		return -EINVAL;
	return *s == '+' ? base + off : base - off;
}

int sig_parse(const char *s)
{
	size_t i;
	int sig;

	if (!s || !*s)
		return -EINVAL;
	if (*s >= '0' && *s <= '9')
		return usable(parse_uint(s));
	if (!strncasecmp(s, "SIG", 3))
		s += 3;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcasecmp(s, names[i].name))
			return usable(names[i].sig);
	sig = parse_rt(s);
	return sig < 0 ? sig : usable(sig);
}

const char *sig_name(int sig, char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].sig == sig) {
			snprintf(buf, len, "SIG%s", names[i].name);
			return buf;
		}
	if (sig >= SIGRTMIN && sig <= SIGRTMAX)
		snprintf(buf, len, "SIGRTMIN+%d", sig - SIGRTMIN);
	else
		snprintf(buf, len, "signal %d", sig);
	return buf;
}
