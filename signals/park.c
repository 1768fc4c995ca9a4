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
 * Where a thread parks matters too: one parked between reading a request
 * and writing its answer takes the request with it when the process
 * exits.  So a thread parks at once only where it holds no request: in
 * one of the shim's waits (epoll_wait, poll, select, accept), or asleep
 * in the kernel (a blocking recv, a lock).  A thread running the
 * program's own code parks at its next wait; one that takes longer than
 * PARK_GRACE_MS is parked where it is.  A thread inside a shim lock
 * always finishes its critical section first.
 *
 * Nothing here allocates: tasks are read with getdents64 into the stack.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "signals.h"

#define TASKS_MAX 4096
#define PARK_GRACE_MS 500
#define WATCHDOG_S 20

#define TLS __thread __attribute__((tls_model("initial-exec")))

static atomic_int park_wanted;
static atomic_int force_all;
static atomic_int force_tid;
static atomic_uint parked;
static atomic_uint generation; /* the futex word: bumped on release */
static atomic_int parked_tids[TASKS_MAX]; /* who parked, this round */
static atomic_uint n_parked_tids;

static atomic_int watchdog_tid;
static atomic_int aborted;

static TLS int crit_depth;
static TLS int in_wait;
static TLS int defer_crit; /* park when the critical section ends */
static TLS int defer_wait; /* park at the next wait */
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
	unsigned int gen, i;

	defer_crit = defer_wait = 0;
	if (!atomic_load(&park_wanted))
		return;
	gen = atomic_load(&generation);
	i = atomic_fetch_add(&n_parked_tids, 1);
	if (i < TASKS_MAX)
		atomic_store(&parked_tids[i], (int)syscall(SYS_gettid));
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

static bool forced(void)
{
	return atomic_load(&force_all) ||
	       atomic_load(&force_tid) == (int)syscall(SYS_gettid);
}

void park_handler(int sig);
void park_handler(int sig)
{
	int saved = errno;

	(void)sig;
	if (crit_depth > 0)
		defer_crit = 1;
	else if (in_wait || forced())
		park_here();
	else
		defer_wait = 1;
	errno = saved;
}

void crit_enter(void)
{
	crit_depth++;
}

void crit_leave(void)
{
	if (--crit_depth == 0 && defer_crit)
		park_here();
}

void wait_enter(void)
{
	if (defer_wait && crit_depth == 0)
		park_here();
	in_wait = 1;
}

void wait_leave(void)
{
	in_wait = 0;
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
			if (tid <= 0 || tid == self || task_known(s, tid) ||
			    tid == atomic_load(&watchdog_tid))
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

static bool is_parked(pid_t tid)
{
	unsigned int i, n = atomic_load(&n_parked_tids);

	for (i = 0; i < n && i < TASKS_MAX; i++)
		if (atomic_load(&parked_tids[i]) == tid)
			return true;
	return false;
}

/* A thread asleep in the kernel holds no request half done: it waits
 * for one, for room to write, or for a lock.  'R' is running code. */
static bool asleep(pid_t tid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && (p[2] == 'S' || p[2] == 'D');
}

/* Parks one thread where it is; it may be asleep in a system call the
 * park signal restarted, or running past its grace. */
static void force(pid_t tid)
{
	unsigned int before = atomic_load(&parked);
	struct timespec pause = { 0, 50000 };
	int i;

	atomic_store(&force_tid, tid);
	if (syscall(SYS_tgkill, getpid(), tid, park_signal))
		return;
	for (i = 0; i < 200 && atomic_load(&parked) == before; i++)
		nanosleep(&pause, NULL);
}

/* Signalled tasks that still exist and have not parked. */
static unsigned int unparked(struct task_set *s, pid_t *ret)
{
	unsigned int i, n = 0;

	for (i = 0; i < s->n; i++) {
		if (is_parked(s->tid[i]))
			continue;
		/* a thread on its way out never parks */
		if (syscall(SYS_tgkill, getpid(), s->tid[i], 0))
			continue;
		ret[n++] = s->tid[i];
	}
	return n;
}

/* Waits until every signalled thread is parked; false at the deadline. */
static bool wait_parked(struct task_set *s, uint64_t grace, uint64_t deadline)
{
	static pid_t left[TASKS_MAX];
	struct timespec pause = { 0, 200000 };
	unsigned int n, i;

	for (;;) {
		n = unparked(s, left);
		if (!n)
			return true;
		if (now_ms() > deadline)
			return false;
		if (now_ms() > grace && !atomic_load(&force_all)) {
			atomic_store(&force_all, 1);
			for (i = 0; i < n; i++)
				syscall(SYS_tgkill, getpid(), left[i],
					park_signal);
		}
		for (i = 0; i < n; i++)
			if (asleep(left[i]))
				force(left[i]);
		nanosleep(&pause, NULL);
	}
}

int park_others(int timeout_ms)
{
	static struct task_set set; /* the worker is the only caller */
	uint64_t start = now_ms();
	pid_t self = (pid_t)syscall(SYS_gettid);
	int fresh;

	set.n = 0;
	atomic_store(&aborted, 0);
	atomic_store(&n_parked_tids, 0);
	atomic_store(&force_all, 0);
	atomic_store(&force_tid, 0);
	atomic_store(&park_wanted, 1);
	do {
		fresh = signal_new_tasks(&set, self);
		if (fresh < 0 || !wait_parked(&set, start + PARK_GRACE_MS,
					      start + (uint64_t)timeout_ms)) {
			park_release();
			return fresh < 0 ? fresh : -ETIMEDOUT;
		}
	} while (fresh > 0);
	return (int)set.n;
}

void park_release(void)
{
	atomic_store(&park_wanted, 0);
	atomic_store(&force_all, 0);
	atomic_store(&force_tid, 0);
	atomic_fetch_add(&generation, 1);
	futex_wake_all(&generation);
}

/*
 * The watchdog.  The worker allocates while the program's threads are
 * parked, and a thread parked inside malloc holds its arena's lock: with
 * one arena (MALLOC_ARENA_MAX=1) the worker would wait for it forever,
 * and the whole process with it.  So a thread of its own releases the
 * world if a checkpoint takes longer than WATCHDOG_S, and the checkpoint
 * is then abandoned (park_aborted).
 */
static pthread_mutex_t wd_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wd_cond;
static unsigned int wd_gen;
static bool wd_armed;

static void *watchdog(void *arg)
{
	struct timespec deadline;
	unsigned int gen;
	sigset_t all;

	(void)arg;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, NULL);
	atomic_store(&watchdog_tid, (int)syscall(SYS_gettid));
	pthread_mutex_lock(&wd_lock);
	for (;;) {
		while (!wd_armed)
			pthread_cond_wait(&wd_cond, &wd_lock);
		gen = wd_gen;
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += WATCHDOG_S;
		while (wd_armed && wd_gen == gen &&
		       pthread_cond_timedwait(&wd_cond, &wd_lock, &deadline) !=
			       ETIMEDOUT)
			;
		if (wd_armed && wd_gen == gen) {
			atomic_store(&aborted, 1);
			park_release();
			wd_armed = false;
		}
	}
	return NULL;
}

int park_watchdog_start(void)
{
	pthread_condattr_t ca;
	pthread_attr_t attr;
	pthread_t t;
	int err;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&wd_cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&wd_lock, NULL);
	wd_armed = false;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	err = pthread_create(&t, &attr, watchdog, NULL);
	pthread_attr_destroy(&attr);
	return -err;
}

void park_watchdog(bool arm)
{
	pthread_mutex_lock(&wd_lock);
	wd_armed = arm;
	wd_gen++;
	pthread_cond_signal(&wd_cond);
	pthread_mutex_unlock(&wd_lock);
}

bool park_aborted(void)
{
	return atomic_load(&aborted);
}
