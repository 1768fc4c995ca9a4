// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The shim's start: configuration, signals, the table of descriptors the
 * program inherited, the image to restore from, and the worker thread
 * that waits for the control signal and for the claim deadline.
 */
#include <errno.h>
#include <linux/capability.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../signals/signals.h"
#include "shim.h"
#include "tcpcp.h"

struct shim_config shim_cfg;
bool shim_active;
uint64_t shim_start_us;

uint64_t shim_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * What the first checkpoint would load on its way (the BPF iterator, some
 * 60 ms) is loaded ahead.  A fresh start loads it in the constructor,
 * before main(): not in a freeze, and not beside the program's threads,
 * whose descriptor numbers the loader's passing descriptors would push
 * up.  A restart that restores connections must not make its clients
 * wait for it: there the worker loads it once every connection is back
 * or given up.
 */
static bool prepared;

static void prepare(void)
{
	if (!prepared && restore_settled()) {
		tcpcp_prepare();
		prepared = true;
	}
}

/* How long the worker may wait: until the next claim deadline, and while
 * the restore holds the preparation back, a tenth of a second. */
static int worker_timeout(void)
{
	int timeout = restore_expire();

	if (!prepared && (timeout < 0 || timeout > 100))
		timeout = 100;
	return timeout;
}

static void *worker(void *arg)
{
	struct signalfd_siginfo si;
	struct pollfd p;
	sigset_t all;
	int timeout;

	(void)arg;
	/* the program's signals are for the program's threads */
	sigfillset(&all);
	real()->pthread_sigmask(SIG_SETMASK, &all, NULL);
	/* a malloc arena of its own before any thread is ever parked */
	free(malloc(64));
	p.fd = fd_move_high(ctl_signalfd());
	p.events = POLLIN;
	if (p.fd < 0) {
		shim_log("no signalfd (%s): checkpoints are off",
			 strerror(-p.fd));
		return NULL;
	}
	for (;;) {
		prepare();
		timeout = worker_timeout();
		if (real()->poll(&p, 1, timeout) <= 0)
			continue;
		if (p.revents & POLLNVAL) {
			/* closed behind the shim's back (a raw close) */
			shim_log("the control signal's descriptor was closed: "
				 "checkpoints are off");
			return NULL;
		}
		if (read(p.fd, &si, sizeof(si)) == sizeof(si))
			checkpoint_run(shim_now_ns());
	}
	return NULL;
}

static void start_worker(void)
{
	pthread_attr_t attr;
	pthread_t t;
	int err;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	err = pthread_create(&t, &attr, worker, NULL);
	pthread_attr_destroy(&attr);
	if (err)
		shim_log("no worker thread (%s): checkpoints are off",
			 strerror(err));
	else if ((err = park_watchdog_start()))
		shim_log("no watchdog thread (%s): a checkpoint that hangs "
			 "hangs the program", strerror(-err));
}

static void after_fork_child(void)
{
	if (!shim_active)
		return;
	guard_after_fork_child();
	ready_after_fork_child();
	handback_after_fork_child();
	restore_after_fork_child();
	start_worker();
}

/* Servers that drop root lose CAP_NET_ADMIN: say it now, not at the
 * first checkpoint. */
static void check_privilege(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return;
	if (!(d[CAP_NET_ADMIN / 32].effective & (1u << (CAP_NET_ADMIN % 32))))
		shim_log("no CAP_NET_ADMIN: checkpoints and restores will fail "
			 "with EPERM (run as root, or with ambient "
			 "CAP_NET_ADMIN)");
}

static void check_backend(void)
{
	if (!tcpcp_backend_name())
		shim_log("no backend: %s", tcpcp_strerror_detail());
}

/* The shim's own descriptors: the program's close(), close_range() and
 * closefrom() leave them alone (a daemon's closefrom(3) would take the
 * worker's signalfd and the log with it). */
#define OWN_MAX 8
static int own[OWN_MAX];
static unsigned int n_own;

static void own_add(int fd)
{
	if (fd >= 0 && n_own < OWN_MAX)
		__atomic_store_n(&own[n_own++], fd + 1, __ATOMIC_RELEASE);
}

unsigned int fd_own_sorted(int *ret, unsigned int max)
{
	unsigned int i, j, n = 0;
	int fd;

	for (i = 0; i < __atomic_load_n(&n_own, __ATOMIC_ACQUIRE) && n < max;
	     i++) {
		fd = __atomic_load_n(&own[i], __ATOMIC_ACQUIRE) - 1;
		for (j = n++; j > 0 && ret[j - 1] > fd; j--)
			ret[j] = ret[j - 1];
		ret[j] = fd;
	}
	return n;
}

bool fd_is_own(int fd)
{
	unsigned int i;

	for (i = 0; i < __atomic_load_n(&n_own, __ATOMIC_ACQUIRE); i++)
		if (__atomic_load_n(&own[i], __ATOMIC_ACQUIRE) == fd + 1)
			return true;
	return false;
}

int fd_move_high(int fd)
{
	struct rlimit rl;
	int high;

	if (fd < 0 || getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur < 256) {
		own_add(fd);
		return fd;
	}
	high = real()->fcntl(fd, F_DUPFD_CLOEXEC,
			     (int)(rl.rlim_cur > 65536 ? 65536 : rl.rlim_cur) -
				     64);
	if (high < 0) {
		own_add(fd);
		return fd;
	}
	real()->close(fd);
	own_add(high);
	return high;
}

/*
 * What `tcpcp checkpoint PID` needs to know, in environ's format, in a
 * memfd it finds in /proc/PID/fd: servers that set their process title
 * (redis, nginx) write over the environment /proc/PID/environ shows.
 */
static void publish_config(void)
{
	char buf[4200];
	int fd, n;

	n = snprintf(buf, sizeof(buf),
		     "LD_PRELOAD=libtcpcp_shim.so%cTCPCP_SIGNAL=%d%c"
		     "TCPCP_IMAGE=%s%c", 0, shim_cfg.signal, 0, shim_cfg.image,
		     0);
	fd = memfd_create("tcpcp-shim", MFD_CLOEXEC);
	if (fd < 0 || n <= 0 || (size_t)n >= sizeof(buf) ||
	    write(fd, buf, (size_t)n) != n) {
		if (fd >= 0)
			real()->close(fd);
		return;
	}
	fd_move_high(fd);
}

static const char *env(const char *name)
{
	return getenv(name);
}

__attribute__((constructor)) static void shim_init(void)
{
	char why[300];

	shim_start_us = shim_now_ns() / 1000;
	real();
	if (shim_config_parse(env, &shim_cfg, why, sizeof(why))) {
		shim_log("%s; tcpcp is off for this process", why);
		return;
	}
	shim_log_open(shim_cfg.log);
	if (signals_init(shim_cfg.signal)) {
		shim_log("cannot set up its signals (%m); tcpcp is off");
		return;
	}
	shim_active = true;
	fdt_scan();
	publish_config();
	pthread_atfork(NULL, NULL, after_fork_child);
	if (ready_init())
		shim_log("no eventfd (%m): a thread already waiting in "
			 "epoll_wait misses restored connections");
	check_privilege();
	check_backend();
	restore_load();
	prepare();
	if (shim_cfg.restore_fd && restore_pending())
		restore_at_start();
	start_worker();
}
