// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Stop the world.  An application thread that keeps running during a
 * checkpoint can send() on a socket in repair mode, and with a repair
 * queue selected the bytes land in that socket's own receive queue
 * (seen on 6.18); one that sees EINVAL may close the connection.  So the
 * worker parks every other thread first: a signal to each task, whose
 * handler waits on a futex.  Threads made while parking are caught by
 * listing the tasks again until no new one shows up.
 *
 * Nothing here allocates: tasks are read with getdents64 into the stack.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "signals.h"

#define TASKS_MAX 4096

#define TLS __thread __attribute__((tls_model("initial-exec")))

static atomic_int park_wanted;
static atomic_uint parked;
static atomic_uint generation; /* the futex word: bumped on release */

static TLS int crit_depth;
static TLS int park_deferred;
static TLS int was_parked;

static void futex_wait(atomic_uint *word, unsigned int val)
{
	syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake_all(atomic_uint *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}

static void park_here(void)
{
	unsigned int gen;

	if (!atomic_load(&park_wanted))
		return;
	gen = atomic_load(&generation);
	atomic_fetch_add(&parked, 1);
	while (atomic_load(&park_wanted) && atomic_load(&generation) == gen)
		futex_wait(&generation, gen);
	atomic_fetch_sub(&parked, 1);
	was_parked = 1;
}

bool park_interrupted(void)
{
	int p = was_parked;

	was_parked = 0;
	return p;
}

void park_handler(int sig);
void park_handler(int sig)
{
	int saved = errno;

	(void)sig;
	if (crit_depth > 0)
		park_deferred = 1;
	else
		park_here();
	errno = saved;
}

void crit_enter(void)
{
	crit_depth++;
}

void crit_leave(void)
{
	if (--crit_depth == 0 && park_deferred) {
		park_deferred = 0;
		park_here();
	}
}

struct task_set {
	pid_t tid[TASKS_MAX];
	unsigned int n;
};

static bool task_known(const struct task_set *s, pid_t tid)
{
	unsigned int i;

	for (i = 0; i < s->n; i++)
		if (s->tid[i] == tid)
			return true;
	return false;
}

/* Signals every task not yet signalled; how many new ones, or -errno. */
static int signal_new_tasks(struct task_set *s, pid_t self)
{
	char buf[4096];
	int dir, fresh = 0;
	long n;

	dir = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return -errno;
	while ((n = syscall(SYS_getdents64, dir, buf, sizeof(buf))) > 0) {
		long off = 0;

		while (off < n) {
			struct dirent64 *d = (struct dirent64 *)(buf + off);
			pid_t tid = (pid_t)atoi(d->d_name);

			off += d->d_reclen;
			if (tid <= 0 || tid == self || task_known(s, tid))
				continue;
			if (s->n == TASKS_MAX) {
				close(dir);
				return -E2BIG;
			}
			if (syscall(SYS_tgkill, getpid(), tid, park_signal))
				continue; /* gone already */
			s->tid[s->n++] = tid;
			fresh++;
		}
	}
	close(dir);
	return n < 0 ? -errno : fresh;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Signalled tasks that still exist: a thread on its way out when the
 * signal came never parks, and must not be waited for. */
static unsigned int alive(struct task_set *s)
{
	unsigned int i, n = 0;

	for (i = 0; i < s->n; i++)
		if (!syscall(SYS_tgkill, getpid(), s->tid[i], 0))
			s->tid[n++] = s->tid[i];
	s->n = n;
	return n;
}

/* Waits until every signalled thread is parked; false at the deadline. */
static bool wait_parked(struct task_set *s, uint64_t deadline)
{
	struct timespec pause = { 0, 100000 };
	unsigned int spins = 0;

	while (atomic_load(&parked) < s->n) {
		if (now_ms() > deadline)
			return false;
		nanosleep(&pause, NULL);
		if (++spins % 100 == 0)
			alive(s);
	}
	return true;
}

int park_others(int timeout_ms)
{
	static struct task_set set; /* the worker is the only caller */
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
	pid_t self = (pid_t)syscall(SYS_gettid);
	int fresh;

	set.n = 0;
	atomic_store(&park_wanted, 1);
	do {
		fresh = signal_new_tasks(&set, self);
		if (fresh < 0 || !wait_parked(&set, deadline)) {
			park_release();
			return fresh < 0 ? fresh : -ETIMEDOUT;
		}
	} while (fresh > 0);
	return (int)set.n;
}

void park_release(void)
{
	atomic_store(&park_wanted, 0);
	atomic_fetch_add(&generation, 1);
	futex_wake_all(&generation);
}
