// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The program's signal calls, kept off the shim's two signals.  nginx and
 * dnsmasq use SIGUSR2 themselves: such a program's handler is recorded and
 * reported once (TCPCP_SIGNAL moves the control signal elsewhere), never
 * installed, and sigaction() reports back what the program set.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../preload/shim.h"
#include "sig_parse.h"
#include "signals.h"

int ctl_signal;
int park_signal;

/* What the program asked for; only ever read back to the program. */
static struct sigaction recorded[2];
static bool reported[2];
static pthread_mutex_t guard_lock = PTHREAD_MUTEX_INITIALIZER;

void park_handler(int sig);

bool signals_reserved(int sig)
{
	return shim_active && sig > 0 && (sig == ctl_signal || sig == park_signal);
}

int signals_init(int ctl)
{
	struct sigaction sa;
	sigset_t set;

	ctl_signal = ctl;
	park_signal = SIGRTMAX - 1;
	if (park_signal == ctl_signal)
		park_signal--;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = park_handler;
	sa.sa_flags = SA_RESTART;
	sigfillset(&sa.sa_mask);
	if (real()->sigaction(park_signal, &sa, NULL))
		return -errno;
	sigemptyset(&set);
	sigaddset(&set, ctl_signal);
	return -real()->pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int ctl_signalfd(void)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, ctl_signal);
	fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	return fd < 0 ? -errno : fd;
}

const sigset_t *guard_mask(int how, const sigset_t *set, sigset_t *copy)
{
	if (!shim_active || !set)
		return set;
	*copy = *set;
	switch (how) {
	case SIG_BLOCK:
		sigdelset(copy, park_signal);
		break;
	case SIG_UNBLOCK:
		sigdelset(copy, ctl_signal);
		break;
	default: /* SIG_SETMASK, and the masks of ppoll and friends */
		sigaddset(copy, ctl_signal);
		sigdelset(copy, park_signal);
	}
	return copy;
}

static int record(int sig, const struct sigaction *act, struct sigaction *old)
{
	int i = sig == ctl_signal ? 0 : 1;
	char name[32];

	pthread_mutex_lock(&guard_lock);
	if (old)
		*old = recorded[i];
	if (act) {
		recorded[i] = *act;
		if (!reported[i] && act->sa_handler != SIG_DFL) {
			reported[i] = true;
			shim_log("the program's own handler for %s is not "
				 "installed: tcpcp uses that signal (TCPCP_SIGNAL "
				 "chooses another)",
				 sig_name(sig, name, sizeof(name)));
		}
	}
	pthread_mutex_unlock(&guard_lock);
	return 0;
}

SHIM_EXPORT int sigaction(int sig, const struct sigaction *act,
			  struct sigaction *old)
{
	const struct real_fns *r;

	if (signals_reserved(sig))
		return record(sig, act, old);
	r = real();
	if (!r) {
		errno = EAGAIN;
		return -1;
	}
	return r->sigaction(sig, act, old);
}

/* signal() and its aliases: BSD semantics, as glibc's signal() has. */
static __sighandler_t set_handler(int sig, __sighandler_t h, int flags)
{
	struct sigaction sa, old;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = h;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	if (h != SIG_IGN && h != SIG_DFL)
		sigaddset(&sa.sa_mask, sig);
	if (sigaction(sig, &sa, &old))
		return SIG_ERR;
	return old.sa_handler;
}

SHIM_EXPORT __sighandler_t signal(int sig, __sighandler_t h)
{
	return set_handler(sig, h, SA_RESTART);
}

__sighandler_t bsd_signal(int sig, __sighandler_t h);
SHIM_EXPORT __sighandler_t bsd_signal(int sig, __sighandler_t h)
{
	return set_handler(sig, h, SA_RESTART);
}

SHIM_EXPORT __sighandler_t sysv_signal(int sig, __sighandler_t h)
{
	return set_handler(sig, h, (int)(SA_RESETHAND | SA_NODEFER));
}

SHIM_EXPORT __sighandler_t __sysv_signal(int sig, __sighandler_t h)
{
	return sysv_signal(sig, h);
}

SHIM_EXPORT int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
	const struct real_fns *r = real();
	sigset_t copy;

	set = guard_mask(how, set, &copy);
	if (!r)
		return syscall(SYS_rt_sigprocmask, how, set, old, _NSIG / 8) ?
			       -1 : 0;
	return r->sigprocmask(how, set, old);
}

SHIM_EXPORT int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
	const struct real_fns *r = real();
	sigset_t copy;

	set = guard_mask(how, set, &copy);
	if (!r)
		return syscall(SYS_rt_sigprocmask, how, set, old, _NSIG / 8) ?
			       errno : 0;
	return r->pthread_sigmask(how, set, old);
}

SHIM_EXPORT int sigsuspend(const sigset_t *set)
{
	sigset_t copy;

	set = guard_mask(SIG_SETMASK, set, &copy);
	return (int)syscall(SYS_rt_sigsuspend, set, _NSIG / 8);
}

void guard_after_fork_child(void)
{
	pthread_mutex_init(&guard_lock, NULL);
}
