// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A listener with handed-back connections must look readable to the
 * program's poll, select and epoll, as it would with real clients queued.
 *
 * For epoll the shim remembers how the program registered each such
 * listener (events and its own epoll_data: redis uses data.fd, lighttpd
 * data.ptr) and reports it itself: level-triggered while connections are
 * pending, edge-triggered once per arrival, one-shot until re-armed.  A
 * thread already blocked in epoll_wait must wake up too: while a report
 * is due, an always-readable eventfd of the shim sits in that epoll set;
 * its events are removed before the program sees them.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "../signals/signals.h"
#include "shim.h"

#define REGS_MAX 256
#define WAKE_TAG 0x7463706377616b65ull /* "tcpcwake" */

struct ep_reg {
	int epfd;
	int fd;
	uint32_t events;
	epoll_data_t data;
	bool armed;    /* EPOLLONESHOT: false once reported */
	bool reported; /* EPOLLET: reported since the last arrival */
};

static struct ep_reg regs[REGS_MAX];
static unsigned int n_regs;
static int wake_fd = -1;
static int wake_in[REGS_MAX]; /* epoll sets holding wake_fd */
static unsigned int n_wake_in;
static bool active;
static pthread_mutex_t rd_lock = PTHREAD_MUTEX_INITIALIZER;

static void lock(void)
{
	crit_enter();
	pthread_mutex_lock(&rd_lock);
}

static void unlock(void)
{
	pthread_mutex_unlock(&rd_lock);
	crit_leave();
}

int ready_init(void)
{
	wake_fd = fd_move_high(eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK));
	if (wake_fd < 0)
		return -errno;
	active = true;
	return 0;
}

/* The registrations the shim must answer for are of listeners only, so
 * the common epoll_ctl() (a client socket) costs one table lookup. */

bool ready_active(void)
{
	return active;
}

bool ready_epoll_is_wake(const struct epoll_event *ev)
{
	return ev->data.u64 == WAKE_TAG;
}

static bool reportable(const struct ep_reg *r)
{
	return r->armed && !((r->events & EPOLLET) && r->reported) &&
	       (r->events & EPOLLIN) && handback_pending(r->fd);
}

static bool wake_present(int epfd, unsigned int *ret_i)
{
	unsigned int i;

	for (i = 0; i < n_wake_in; i++)
		if (wake_in[i] == epfd) {
			*ret_i = i;
			return true;
		}
	return false;
}

/* Puts wake_fd into epfd while a report is due, and out after. */
static void sync_wake(int epfd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = WAKE_TAG };
	bool want = false;
	unsigned int i;

	for (i = 0; i < n_regs && !want; i++)
		want = regs[i].epfd == epfd && reportable(&regs[i]);
	if (want && !wake_present(epfd, &i) && n_wake_in < REGS_MAX) {
		if (!real()->epoll_ctl(epfd, EPOLL_CTL_ADD, wake_fd, &ev))
			wake_in[n_wake_in++] = epfd;
	} else if (!want && wake_present(epfd, &i)) {
		real()->epoll_ctl(epfd, EPOLL_CTL_DEL, wake_fd, NULL);
		wake_in[i] = wake_in[--n_wake_in];
	}
}

static struct ep_reg *find(int epfd, int fd)
{
	unsigned int i;

	for (i = 0; i < n_regs; i++)
		if (regs[i].epfd == epfd && regs[i].fd == fd)
			return &regs[i];
	return NULL;
}

static void reg_update(int epfd, int op, int fd, const struct epoll_event *ev)
{
	struct ep_reg *r = find(epfd, fd);

	if (op == EPOLL_CTL_DEL) {
		if (r)
			*r = regs[--n_regs];
		return;
	}
	if (!r) {
		if (op != EPOLL_CTL_ADD || n_regs == REGS_MAX)
			return;
		r = &regs[n_regs++];
	}
	r->epfd = epfd;
	r->fd = fd;
	r->events = ev->events;
	r->data = ev->data;
	r->armed = true;
	r->reported = false;
}

void ready_epoll_ctl(int epfd, int op, int fd, const struct epoll_event *ev)
{
	struct fd_entry e;

	if (!active || (op != EPOLL_CTL_DEL && (!ev || !fdt_get(fd, &e) ||
						e.kind != FD_LISTENER)))
		return;
	lock();
	reg_update(epfd, op, fd, ev);
	sync_wake(epfd);
	unlock();
}

void ready_fd_closed(int fd)
{
	unsigned int i = 0, w;

	/* the common close: no registration to forget, no lock taken */
	if (!__atomic_load_n(&n_regs, __ATOMIC_RELAXED) &&
	    !__atomic_load_n(&n_wake_in, __ATOMIC_RELAXED))
		return;
	lock();
	while (i < n_regs) {
		if (regs[i].epfd == fd || regs[i].fd == fd)
			regs[i] = regs[--n_regs];
		else
			i++;
	}
	if (wake_present(fd, &w))
		wake_in[w] = wake_in[--n_wake_in];
	for (i = 0; i < n_regs; i++)
		sync_wake(regs[i].epfd);
	unlock();
}

/* A hand-back arrived (a new edge for EPOLLET) or was taken. */
void ready_changed(bool arrived)
{
	unsigned int i;

	if (!active)
		return;
	lock();
	for (i = 0; i < n_regs; i++) {
		if (arrived)
			regs[i].reported = false;
		sync_wake(regs[i].epfd);
	}
	unlock();
}

int ready_epoll_take(int epfd, struct epoll_event *evs, int max)
{
	unsigned int i;
	int n = 0;

	if (!active)
		return 0;
	lock();
	for (i = 0; i < n_regs && n < max; i++) {
		struct ep_reg *r = &regs[i];

		if (r->epfd != epfd || !reportable(r))
			continue;
		evs[n].events = EPOLLIN;
		evs[n].data = r->data;
		n++;
		r->reported = true;
		if (r->events & EPOLLONESHOT)
			r->armed = false;
	}
	sync_wake(epfd);
	unlock();
	return n;
}

void ready_after_fork_child(void)
{
	pthread_mutex_init(&rd_lock, NULL);
}
