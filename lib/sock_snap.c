// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The socket iterator (sock_snap.h): loaded from the object built into
 * the library (snap_bpf_obj.c, generated from bpf/snap.bpf.c), relocated
 * by libbpf against the running kernel's BTF, attached once per process
 * with its link limited to the process; each call then makes one
 * iterator and reads it to the end.
 *
 * libbpf prints its warnings on stderr unless told otherwise, and a
 * library must not print: around its own calls into libbpf, tcpcp sets
 * libbpf's print function to one that says nothing, then puts back the
 * one it found.  That setting is global to the process: a thread of the
 * program that uses libbpf at the same moment is silenced too.
 */
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "accel.h"
#include "internal.h"
#include "sock_snap.h"

#define READ_CHUNK (64u * 1024)

extern const unsigned char snap_bpf_obj[];
extern const size_t snap_bpf_obj_len;
extern unsigned int snap_hz;

/*
 * What the library keeps between calls: two descriptors, moved up near
 * the top of the range (a program restored with TCPCP_RESTORE_FD needs
 * its low numbers back, and the shim's own sit just above ours), and the
 * link's id, which tells whether a descriptor that a program's
 * closefrom() or dup2() took is still the link.  libbpf's object is
 * closed once the program is loaded: the program lives on in these.
 */
static struct {
	pthread_once_t once;
	bool loaded; /* load() is over, and it worked */
	int err;
	int prog_fd;
	int link_fd;
	uint32_t link_id;
	pid_t pid; /* the process the link iterates */
} ld = { .once = PTHREAD_ONCE_INIT, .prog_fd = -1, .link_fd = -1 };

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
	return 0;
}

static int link_id(int fd, uint32_t *ret)
{
	struct bpf_link_info info;
	uint32_t len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	*ret = info.id;
	return 0;
}

/* A fork's child inherits the link, which iterates the parent. */
static int attach(void)
{
	union bpf_iter_link_info info;
	LIBBPF_OPTS(bpf_link_create_opts, opts, .iter_info = &info,
		    .iter_info_len = sizeof(info));
	pid_t pid = getpid();
	uint32_t id = 0;
	int fd, err;

	memset(&info, 0, sizeof(info));
	info.task.pid = (__u32)pid;
	fd = fd_move_high(bpf_link_create(ld.prog_fd, 0, BPF_TRACE_ITER, &opts));
	if (fd < 0)
		return -errno;
	err = link_id(fd, &id);
	if (err) {
		close(fd);
		return err;
	}
	if (ld.link_fd >= 0)
		close(ld.link_fd);
	ld.link_fd = fd;
	ld.link_id = id;
	ld.pid = pid;
	return 0;
}

static int read_all(int fd, uint8_t **ret, size_t *ret_len)
{
	size_t cap = 0, len = 0;
	uint8_t *buf = NULL, *n;
	ssize_t k;

	for (;;) {
		if (cap - len < READ_CHUNK) {
			cap = cap ? cap * 2 : 2 * READ_CHUNK;
			n = realloc(buf, cap);
			if (!n) {
				free(buf);
				return -ENOMEM;
			}
			buf = n;
		}
		k = read(fd, buf + len, cap - len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		len += (size_t)k;
	}
	if (k < 0) {
		free(buf);
		return -errno;
	}
	*ret = buf;
	*ret_len = len;
	return 0;
}

/* One pass of the iterator. */
static int snap_read(struct snap_rec **ret, unsigned int *ret_n)
{
	int fd = bpf_iter_create(ld.link_fd), err;
	uint8_t *buf = NULL;
	size_t len = 0;

	if (fd < 0)
		return -errno;
	err = read_all(fd, &buf, &len);
	close(fd);
	if (err)
		return err;
	if (len % sizeof(**ret)) {
		free(buf);
		return -EIO;
	}
	*ret = (struct snap_rec *)buf;
	*ret_n = (unsigned int)(len / sizeof(**ret));
	return 0;
}

/* SO_LINGER's time is kept in jiffies: a socket lingering 1 s has HZ. */
static int measure_hz(void)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 1 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), err;
	struct snap_rec *r = NULL;
	unsigned int i, n = 0;

	if (fd < 0)
		return -errno;
	err = setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) ? -errno :
								       0;
	if (!err)
		err = snap_read(&r, &n);
	for (i = 0; !err && i < n; i++)
		if (r[i].fd == (uint32_t)fd)
			break;
	if (!err && (i == n || r[i].linger_jiffies < 100 ||
		     r[i].linger_jiffies > 1000))
		err = -EIO; /* the program does not see what it should */
	if (!err)
		snap_hz = (unsigned int)r[i].linger_jiffies;
	free(r);
	close(fd);
	return err;
}

static int open_and_load(void)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = "tcpcp_snap");
	struct bpf_program *prog;
	struct bpf_object *obj;
	int err;

	obj = bpf_object__open_mem(snap_bpf_obj, snap_bpf_obj_len, &opts);
	if (!obj)
		return -errno;
	err = bpf_object__load(obj);
	prog = err ? NULL : bpf_object__find_program_by_name(obj, "snap_sockets");
	if (!err && !prog)
		err = -ENOENT;
	if (!err) {
		ld.prog_fd = fd_move_high(fcntl(bpf_program__fd(prog),
						F_DUPFD_CLOEXEC, 0));
		err = ld.prog_fd < 0 ? -errno : 0;
	}
	bpf_object__close(obj);
	return err;
}

static void unload(void)
{
	if (ld.link_fd >= 0)
		close(ld.link_fd);
	if (ld.prog_fd >= 0)
		close(ld.prog_fd);
	ld.link_fd = -1;
	ld.prog_fd = -1;
}

static void load(void)
{
	libbpf_print_fn_t was = libbpf_set_print(quiet);
	int err = open_and_load();

	if (!err)
		err = attach();
	if (!err)
		err = measure_hz();
	if (err) {
		unload();
		ld.err = -ENOSYS;
	}
	__atomic_store_n(&ld.loaded, !err, __ATOMIC_RELEASE);
	libbpf_set_print(was);
}

/* The link still ours and iterating this process; else made again, or
 * -errno (this call then goes the way of system calls). */
static int link_check(void)
{
	uint32_t id = 0;

	if (link_id(ld.link_fd, &id) || id != ld.link_id) {
		ld.link_fd = -1; /* the number is someone else's now */
		ld.pid = 0;
	}
	if (ld.pid == getpid())
		return 0;
	return attach();
}

int snap_take(struct snap_rec **ret, unsigned int *ret_n)
{
	unsigned int accel;
	int err;

	if (accel_allowed(&accel) || !(accel & ACCEL_BPF))
		return -ENOSYS;
	pthread_once(&ld.once, load);
	if (ld.err)
		return ld.err;
	err = link_check();
	if (err)
		return err;
	return snap_read(ret, ret_n);
}

void snap_prepare(void)
{
	unsigned int accel;

	if (!accel_allowed(&accel) && (accel & ACCEL_BPF))
		pthread_once(&ld.once, load);
}

bool snap_loaded(void)
{
	return __atomic_load_n(&ld.loaded, __ATOMIC_ACQUIRE);
}
