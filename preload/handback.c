// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Restored connections wait here for the program's accept() on the
 * listener they came from, and are returned before any new client, as if
 * they had just arrived: with the flags accept4() asks for (plain accept()
 * gives a blocking descriptor) and the peer's address cut to the caller's
 * length.  Keyed by the listener's inode, so a dup'ed listener works too.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../signals/signals.h"
#include "shim.h"

struct handback {
	ino_t listener;
	int fd;
};

static struct handback *queue;
static unsigned int n_queued, cap;
static pthread_mutex_t hb_lock = PTHREAD_MUTEX_INITIALIZER;

static void lock(void)
{
	crit_enter();
	pthread_mutex_lock(&hb_lock);
}

static void unlock(void)
{
	pthread_mutex_unlock(&hb_lock);
	crit_leave();
}

unsigned int handback_total(void)
{
	return __atomic_load_n(&n_queued, __ATOMIC_RELAXED);
}

void handback_add(ino_t listener_ino, int fd)
{
	struct handback *q;

	lock();
	if (n_queued == cap) {
		q = realloc(queue, (cap ? cap * 2 : 16) * sizeof(*q));
		if (!q) {
			unlock();
			shim_log("out of memory: connection on fd %d is not "
				 "handed to accept(); it stays open", fd);
			return;
		}
		queue = q;
		cap = cap ? cap * 2 : 16;
	}
	queue[n_queued].listener = listener_ino;
	queue[n_queued].fd = fd;
	__atomic_store_n(&n_queued, n_queued + 1, __ATOMIC_RELAXED);
	unlock();
	ready_changed(true);
}

/* The first connection queued for the listener, removed; -1 if none. */
static int pop(ino_t listener)
{
	unsigned int i;
	int fd = -1;

	lock();
	for (i = 0; i < n_queued; i++)
		if (queue[i].listener == listener)
			break;
	if (i < n_queued) {
		fd = queue[i].fd;
		memmove(&queue[i], &queue[i + 1],
			(n_queued - i - 1) * sizeof(*queue));
		__atomic_store_n(&n_queued, n_queued - 1, __ATOMIC_RELAXED);
	}
	unlock();
	return fd;
}

bool handback_pending(int listener_fd)
{
	struct fd_entry e;
	unsigned int i;
	bool found = false;

	if (!handback_total() || !fdt_get(listener_fd, &e) ||
	    e.kind != FD_LISTENER)
		return false;
	lock();
	for (i = 0; i < n_queued && !found; i++)
		found = queue[i].listener == e.ino;
	unlock();
	return found;
}

static void give_flags(int fd, int flags)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0)
		fcntl(fd, F_SETFL, (flags & SOCK_NONBLOCK) ? fl | O_NONBLOCK :
							   fl & ~O_NONBLOCK);
	fcntl(fd, F_SETFD, (flags & SOCK_CLOEXEC) ? FD_CLOEXEC : 0);
}

static void give_peer(int fd, struct sockaddr *sa, socklen_t *len)
{
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);

	if (!sa || !len)
		return;
	if (getpeername(fd, (struct sockaddr *)&peer, &plen))
		plen = 0;
	memcpy(sa, &peer, plen < *len ? plen : *len);
	*len = plen;
}

int handback_take(int listener_fd, struct sockaddr *sa, socklen_t *len,
		  int flags)
{
	struct fd_entry l, e;
	int saved = errno, fd;

	if (!fdt_get(listener_fd, &l) || l.kind != FD_LISTENER)
		return -1;
	fd = pop(l.ino);
	if (fd < 0)
		return -1;
	give_flags(fd, flags);
	give_peer(fd, sa, len);
	if (!fdt_get(fd, &e))
		memset(&e, 0, sizeof(e));
	e.kind = FD_ACCEPTED;
	e.addr = l.addr;
	fdt_set(fd, &e);
	ready_changed(false);
	if (!handback_total())
		shim_log("every restored connection is back with the program, "
			 "%llu us after start",
			 (unsigned long long)(shim_now_ns() / 1000 -
					      shim_start_us));
	errno = saved;
	return fd;
}

/* The child of a fork does not accept its parent's restored connections;
 * its copies of them are closed, or a connection the parent ends would
 * live on in the child. */
void handback_after_fork_child(void)
{
	unsigned int i;

	pthread_mutex_init(&hb_lock, NULL);
	for (i = 0; i < n_queued; i++) {
		fdt_clear(queue[i].fd);
		real()->close(queue[i].fd);
	}
	n_queued = 0;
}
