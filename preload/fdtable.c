// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What each descriptor is.  Pages of entries are mmap'ed on first use, so
 * the table works before the constructor and never calls malloc.  An
 * entry may go stale through closes the shim cannot see (a raw close
 * system call, closefrom via syscall()); fdt_valid() re-checks the inode.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../signals/signals.h"
#include "shim.h"

#define PAGE_FDS 1024u
#define PAGES 1024u /* descriptors 0 .. 1 048 575 are tracked */

static struct fd_entry *pages[PAGES];
static pthread_mutex_t fdt_lock = PTHREAD_MUTEX_INITIALIZER;

static void lock(void)
{
	crit_enter();
	pthread_mutex_lock(&fdt_lock);
}

static void unlock(void)
{
	pthread_mutex_unlock(&fdt_lock);
	crit_leave();
}

/* The entry's slot, made if make; NULL if out of range or no memory. */
static struct fd_entry *slot(int fd, bool make)
{
	unsigned int p;
	void *m;

	if (fd < 0 || (unsigned int)fd >= PAGE_FDS * PAGES)
		return NULL;
	p = (unsigned int)fd / PAGE_FDS;
	if (!pages[p] && make) {
		m = mmap(NULL, PAGE_FDS * sizeof(struct fd_entry),
			 PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);
		if (m == MAP_FAILED)
			return NULL;
		pages[p] = m;
	}
	return pages[p] ? &pages[p][(unsigned int)fd % PAGE_FDS] : NULL;
}

void fdt_set(int fd, const struct fd_entry *e)
{
	struct fd_entry *s;

	lock();
	s = slot(fd, true);
	if (s)
		*s = *e;
	unlock();
}

void fdt_track(int fd, int kind, const struct sockaddr_in6 *addr)
{
	struct fd_entry e;
	struct stat st;

	if (fstat(fd, &st))
		return;
	memset(&e, 0, sizeof(e));
	e.kind = (uint8_t)kind;
	e.ino = st.st_ino;
	if (addr)
		e.addr = *addr;
	fdt_set(fd, &e);
}

bool fdt_get(int fd, struct fd_entry *ret)
{
	struct fd_entry *s;
	bool found;

	lock();
	s = slot(fd, false);
	found = s && s->kind != FD_NONE;
	if (found)
		*ret = *s;
	unlock();
	return found;
}

void fdt_clear(int fd)
{
	struct fd_entry *s;

	lock();
	s = slot(fd, false);
	if (s)
		s->kind = FD_NONE;
	unlock();
}

void fdt_clear_range(unsigned int lo, unsigned int hi)
{
	unsigned int p;

	lock();
	for (p = lo / PAGE_FDS; p < PAGES && p <= hi / PAGE_FDS; p++) {
		unsigned int i, first = p * PAGE_FDS;

		if (!pages[p])
			continue;
		for (i = 0; i < PAGE_FDS; i++)
			if (first + i >= lo && first + i <= hi)
				pages[p][i].kind = FD_NONE;
	}
	unlock();
}

void fdt_copy(int from, int to)
{
	struct fd_entry e;

	if (fdt_get(from, &e))
		fdt_set(to, &e);
	else
		fdt_clear(to);
}

void fdt_each(int kind, void (*fn)(int fd, const struct fd_entry *e, void *),
	      void *ctx)
{
	unsigned int p, i;
	struct fd_entry e;

	for (p = 0; p < PAGES; p++) {
		for (i = 0; pages[p] && i < PAGE_FDS; i++) {
			lock();
			e = pages[p][i];
			unlock();
			if (e.kind != FD_NONE && (!kind || e.kind == kind))
				fn((int)(p * PAGE_FDS + i), &e, ctx);
		}
	}
}

bool fdt_probe(int fd, struct fd_entry *ret)
{
	int type, acc, proto;
	socklen_t len = sizeof(int);
	struct stat st;

	memset(ret, 0, sizeof(*ret));
	if (fstat(fd, &st) || !S_ISSOCK(st.st_mode) ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) ||
	    type != SOCK_STREAM ||
	    getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) ||
	    proto != IPPROTO_TCP)
		return false;
	ret->ino = st.st_ino;
	ret->kind = FD_TCP;
	len = sizeof(acc);
	if (!getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) && acc) {
		socklen_t alen = sizeof(ret->addr);

		ret->kind = FD_LISTENER;
		getsockname(fd, (struct sockaddr *)&ret->addr, &alen);
	}
	return true;
}

bool fdt_valid(int fd, struct fd_entry *ret)
{
	struct stat st;

	if (!fdt_get(fd, ret))
		return false;
	return !fstat(fd, &st) && st.st_ino == ret->ino;
}

void fdt_scan(void)
{
	char buf[4096];
	struct fd_entry e;
	long n;
	int dir;

	dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return;
	while ((n = syscall(SYS_getdents64, dir, buf, sizeof(buf))) > 0) {
		long off = 0;

		while (off < n) {
			struct dirent64 *d = (struct dirent64 *)(buf + off);
			int fd = atoi(d->d_name);

			off += d->d_reclen;
			if (d->d_name[0] != '.' && fd != dir && fdt_probe(fd, &e))
				fdt_set(fd, &e);
		}
	}
	close(dir);
}
