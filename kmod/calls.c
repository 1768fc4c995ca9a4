// SPDX-License-Identifier: GPL-2.0-only
/*
 * The five calls, each for one socket or for every TCP socket of the
 * calling process, with the manual's errors.  An ALL call first takes
 * references to the caller's sockets (sockets.c), decides which ones it
 * will process and checks that the caller left room for their results;
 * only then does anything change.  What lib/api.c does in user space for
 * the repair backend is done here in one call: the same sockets picked, the
 * same results.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fdtable.h>
#include <linux/file.h>
#include <linux/nsproxy.h>
#include <linux/uaccess.h>
#include <net/tcp.h>

#include "tcpcp2.h"

struct results {
	struct tcpcp_ioc_result *v;
	unsigned int n;
	unsigned int ng;
};

/* Room for need entries, or -ENOSPC with the count the caller needs. */
static int results_init(struct results *r, struct tcpcp_ioc_call *a,
			unsigned int need)
{
	r->n = 0;
	r->ng = 0;
	if (need > a->results_cap) {
		a->results_count = need;
		return -ENOSPC;
	}
	r->v = kvcalloc(need ? need : 1, sizeof(*r->v), GFP_KERNEL_ACCOUNT);
	return r->v ? 0 : -ENOMEM;
}

static void results_add(struct results *r, unsigned int fd, int result)
{
	r->v[r->n++] = (struct tcpcp_ioc_result){ fd, result };
	if (result < 0)
		r->ng++;
}

static int results_put(struct results *r, struct tcpcp_ioc_call *a)
{
	int err = 0;

	if (r->n && copy_to_user(u64_to_user_ptr(a->results), r->v,
				 r->n * sizeof(*r->v)))
		err = -EFAULT;
	a->results_count = r->n;
	a->results_ng = r->ng;
	kvfree(r->v);
	r->v = NULL;
	return err;
}

static void results_drop(struct results *r)
{
	kvfree(r->v);
	r->v = NULL;
}

/*
 * The socket of a descriptor, checked as the manual says; *ret_file holds
 * the reference.
 */
static int one_socket(int fd, struct file **ret_file, struct socket **ret)
{
	struct file *file = fget(fd);
	int err;

	if (!file)
		return -EBADF;
	err = tcpcp_sock_of(file, ret);
	if (err) {
		fput(file);
		return err;
	}
	*ret_file = file;
	return 0;
}

/*
 * ALL: the caller's sockets and the dummy's file (which is left out).  Only
 * the first descriptor of each socket is processed, as lib/api.c does.
 */
static int all_sockets(int dummy, struct tcpcp_fds *l, struct file **ret_dummy)
{
	struct socket *sock;
	int err = one_socket(dummy, ret_dummy, &sock);

	if (err)
		return err;
	err = tcpcp_fds_collect(l);
	if (err)
		fput(*ret_dummy);
	return err;
}

static void all_release(struct tcpcp_fds *l, struct file *dummy)
{
	tcpcp_fds_release(l);
	fput(dummy);
}

static struct sock *sk_of(struct file *file)
{
	return ((struct socket *)file->private_data)->sk;
}

/*
 * The caller's hold: up to TCPCP_IOC_HOLD_MAX with CAP_NET_ADMIN, else no
 * longer than the module's default (an unprivileged stop must not keep a
 * 4-tuple from others for long after its socket is gone).
 */
static unsigned int hold_for(struct sock *sk, const struct tcpcp_ioc_call *a)
{
	bool given = a->flags & TCPCP_IOC_F_HOLD;
	unsigned int secs = tcpcp_hold_secs(given, a->hold_seconds);

	if (given && !tcpcp_net_admin(sock_net(sk)))
		secs = min(secs, tcpcp_hold_secs(false, 0));
	return secs;
}

/* STOP */

static long stop_one(struct tcpcp_ioc_call *a)
{
	struct results r = { 0 };
	struct socket *sock;
	struct file *file;
	int err;

	err = one_socket(a->fd, &file, &sock);
	if (err)
		return err;
	err = results_init(&r, a, 1);
	if (!err)
		err = tcpcp_stop_sk(sock->sk, hold_for(sock->sk, a));
	if (!err) {
		tcpcp_wait_in_flight();
		tcpcp_settle(sock->sk);
		results_add(&r, a->fd, 0);
		err = results_put(&r, a);
	} else {
		results_drop(&r);
	}
	fput(file);
	return err;
}

/* Which sockets an ALL call processes; returns how many. */
static unsigned int pick(struct tcpcp_fds *l, struct file *dummy,
			 bool (*want)(int stage), int *stages)
{
	unsigned int i, n = 0;

	for (i = 0; i < l->n; i++) {
		struct tcpcp_fd *f = &l->v[i];

		stages[i] = -1;
		if (!f->first || f->file == dummy)
			continue;
		stages[i] = tcpcp_stage(sk_of(f->file));
		if (want(stages[i]))
			n++;
		else
			stages[i] = -1;
	}
	return n;
}

static bool want_connected(int stage)
{
	return stage != TCPCP_UNCONNECTED;
}

static bool want_stopped(int stage)
{
	return stage == TCPCP_STOPPED;
}

static int *stages_alloc(const struct tcpcp_fds *l)
{
	return kvcalloc(l->n ? l->n : 1, sizeof(int), GFP_KERNEL_ACCOUNT);
}

static void stop_each(struct tcpcp_fds *l, int *stages,
		      const struct tcpcp_ioc_call *a, struct results *r)
{
	bool stopped = false;
	unsigned int i;
	int err;

	for (i = 0; i < l->n; i++) {
		struct sock *sk = sk_of(l->v[i].file);

		if (stages[i] < 0)
			continue;
		err = stages[i] == TCPCP_FOREIGN ? -EBUSY :
		      tcpcp_stop_sk(sk, hold_for(sk, a));
		results_add(r, l->v[i].fd, err);
		stopped |= !err && stages[i] == TCPCP_RUNNING;
	}
	if (!stopped)
		return;
	/* once for every socket stopped (ops.c tcpcp_settle) */
	tcpcp_wait_in_flight();
	for (i = 0; i < l->n; i++)
		if (stages[i] == TCPCP_RUNNING)
			tcpcp_settle(sk_of(l->v[i].file));
}

static long stop_all(struct tcpcp_ioc_call *a)
{
	struct file *dummy;
	struct tcpcp_fds l;
	struct results r = { 0 };
	int err, *stages;

	err = all_sockets(a->fd, &l, &dummy);
	if (err)
		return err;
	stages = stages_alloc(&l);
	err = stages ? 0 : -ENOMEM;
	if (!err)
		err = results_init(&r, a, pick(&l, dummy, want_connected, stages));
	if (!err) {
		stop_each(&l, stages, a, &r);
		err = results_put(&r, a);
	}
	kvfree(stages);
	all_release(&l, dummy);
	return err;
}

/*
 * GET_SI: connections are encoded one by one straight into the caller's
 * buffer; once it is full only their sizes are counted, for ENOSPC.
 */

struct si_out {
	u8 __user *base;
	u64 room;
	u64 used;
	unsigned int count;
};

static int si_out_conn(struct si_out *o, const struct tcpcp_conn *c,
		       bool sizes_only)
{
	u32 len = si_conn_size(c);
	int err = 0;
	u8 *buf;

	if (len > TCPCP_IOC_CONN_MAX)
		return -E2BIG;
	if (!sizes_only && o->used + len <= o->room) {
		buf = kvmalloc(len, GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
		if (!buf)
			return -ENOMEM;
		si_encode_conn(buf, c);
		if (copy_to_user(o->base + o->used, buf, len))
			err = -EFAULT;
		kvfree(buf);
	}
	if (!err) {
		o->used += len;
		o->count++;
	}
	return err;
}

/*
 * The total header, once the connections are in; -ENOSPC with the size
 * needed when they did not all fit.
 */
static int si_out_finish(struct si_out *o, struct tcpcp_ioc_call *a)
{
	u8 hdr[TCPCP_SI_TOTAL_HDR_LEN];

	if (o->count > U16_MAX || o->used > U32_MAX - 3)
		return -E2BIG;
	a->si_len = o->used;
	if (o->used > o->room)
		return -ENOSPC;
	si_encode_total(hdr, o->used, o->count);
	return copy_to_user(o->base, hdr, sizeof(hdr)) ? -EFAULT : 0;
}

static int save_one(struct si_out *o, struct file *file, unsigned int fd,
		    bool cloexec)
{
	struct tcpcp_conn *c = kzalloc(sizeof(*c), GFP_KERNEL_ACCOUNT);
	bool sizes_only = o->used > o->room;
	int err;

	if (!c)
		return -ENOMEM;
	err = tcpcp_save(sk_of(file), file, cloexec, c, sizes_only);
	if (!err) {
		c->fd = fd;
		err = si_out_conn(o, c, sizes_only);
		tcpcp_conn_free_queues(c);
	}
	kfree(c);
	return err;
}

static long get_si_one(struct tcpcp_ioc_call *a)
{
	struct si_out o = { u64_to_user_ptr(a->si), a->si_size,
			    TCPCP_SI_TOTAL_HDR_LEN, 0 };
	struct socket *sock;
	struct results r = { 0 };
	struct file *file;
	int err;

	err = one_socket(a->fd, &file, &sock);
	if (err)
		return err;
	err = results_init(&r, a, 1);
	if (!err)
		err = save_one(&o, file, a->fd, tcpcp_fd_cloexec(a->fd));
	if (!err)
		err = si_out_finish(&o, a);
	if (!err) {
		results_add(&r, a->fd, 0);
		err = results_put(&r, a);
	} else {
		results_drop(&r);
	}
	fput(file);
	return err;
}

static long get_si_all(struct tcpcp_ioc_call *a)
{
	struct si_out o = { u64_to_user_ptr(a->si), a->si_size,
			    TCPCP_SI_TOTAL_HDR_LEN, 0 };
	struct file *dummy;
	struct tcpcp_fds l;
	struct results r = { 0 };
	int err, *stages;
	unsigned int i;

	err = all_sockets(a->fd, &l, &dummy);
	if (err)
		return err;
	stages = stages_alloc(&l);
	err = stages ? 0 : -ENOMEM;
	if (!err)
		err = results_init(&r, a, pick(&l, dummy, want_connected, stages));
	for (i = 0; !err && i < l.n; i++) {
		int res = -EBUSY;

		if (stages[i] < 0)
			continue;
		if (stages[i] != TCPCP_FOREIGN)
			res = save_one(&o, l.v[i].file, l.v[i].fd,
				       l.v[i].cloexec);
		if (res == -EFAULT)
			err = res;
		results_add(&r, l.v[i].fd, res);
	}
	if (!err)
		err = si_out_finish(&o, a);
	if (!err)
		err = results_put(&r, a);
	else
		results_drop(&r);
	kvfree(stages);
	all_release(&l, dummy);
	return err;
}

/*
 * SET_SI: every connection is copied in, decoded and checked before any
 * socket is touched; each is copied and checked again when it is rebuilt,
 * so what is rebuilt is exactly what was checked.
 */

static int read_conn(const struct tcpcp_ioc_call *a, u32 *off, u8 **ret_buf,
		     struct tcpcp_conn *c)
{
	const u8 __user *si = u64_to_user_ptr(a->si);
	u32 size = a->si_size, units, o = 0;
	__be32 be;
	u8 *buf;
	int err;

	*ret_buf = NULL;
	if (*off > size || size - *off < TCPCP_SI_HDR_LEN)
		return -EINVAL;
	if (copy_from_user(&be, si + *off, sizeof(be)))
		return -EFAULT;
	units = be32_to_cpu(be);
	if ((u64)units * 4 < TCPCP_SI_HDR_LEN ||
	    (u64)units * 4 > size - *off || units * 4 > TCPCP_IOC_CONN_MAX)
		return -EINVAL;
	buf = kvmalloc(units * 4, GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	if (!buf)
		return -ENOMEM;
	err = copy_from_user(buf, si + *off, units * 4) ? -EFAULT : 0;
	if (!err)
		err = si_decode_conn(buf, units * 4, &o, c);
	if (!err && o != units * 4)
		err = -EINVAL;
	if (err) {
		kvfree(buf);
		return err;
	}
	*off += units * 4;
	*ret_buf = buf;
	return 0;
}

/* The total header, then every connection; *ret_count connections. */
static int check_si(const struct tcpcp_ioc_call *a, struct tcpcp_conn *c,
		    unsigned int *ret_count)
{
	u8 hdr[TCPCP_SI_TOTAL_HDR_LEN];
	u32 off = TCPCP_SI_TOTAL_HDR_LEN;
	unsigned int i, count;
	u8 *buf;
	int err;

	if (a->si_size < sizeof(hdr))
		return -EINVAL;
	if (copy_from_user(hdr, u64_to_user_ptr(a->si), sizeof(hdr)))
		return -EFAULT;
	/* reads the 8 header bytes only; the size is the whole buffer's */
	err = si_check_total(hdr, a->si_size, &count);
	for (i = 0; !err && i < count; i++) {
		err = read_conn(a, &off, &buf, c);
		if (!err)
			err = tcpcp_conn_sane(c);
		kvfree(buf);
	}
	if (!err && off != a->si_size)
		err = -EINVAL;
	*ret_count = count;
	return err;
}

static int family_of(const struct tcpcp_conn *c)
{
	return c->ip_version == 4 ? AF_INET : AF_INET6;
}

static int set_si_one(struct tcpcp_ioc_call *a, struct tcpcp_conn *c)
{
	u32 off = TCPCP_SI_TOTAL_HDR_LEN;
	struct socket *sock;
	struct file *file;
	struct results r = { 0 };
	u8 *buf = NULL;
	int stage, err;

	err = one_socket(a->fd, &file, &sock);
	if (err)
		return err;
	stage = tcpcp_stage(sock->sk);
	if (stage == TCPCP_FOREIGN)
		err = -EBUSY;
	else if (stage != TCPCP_UNCONNECTED ||
		 READ_ONCE(sock->sk->sk_state) == TCP_LISTEN)
		err = -EBADFD;
	if (!err)
		err = read_conn(a, &off, &buf, c);
	if (!err && sock->sk->sk_family != family_of(c))
		err = -EINVAL;
	if (!err && !tcpcp_net_admin(sock_net(sock->sk)))
		err = -EPERM;
	if (!err)
		err = results_init(&r, a, 1);
	if (!err) {
		err = tcpcp_restore(sock, c, hold_for(sock->sk, a));
		if (!err) {
			results_add(&r, c->fd, a->fd);
			err = results_put(&r, a);
		} else {
			results_drop(&r);
		}
	}
	kvfree(buf);
	fput(file);
	return err;
}

/*
 * A new socket for one connection, installed as a new descriptor only
 * once it is rebuilt: the descriptor, or -errno.
 */
static int rebuild(const struct tcpcp_conn *c, const struct tcpcp_ioc_call *a)
{
	bool nonblock = c->has_fd_flags && (c->fd_flags & TCPCP_SIE_FD_NONBLOCK);
	bool cloexec = c->has_fd_flags && (c->fd_flags & TCPCP_SIE_FD_CLOEXEC);
	struct socket *sock;
	struct file *file;
	int fd, err;

	err = sock_create(family_of(c), SOCK_STREAM, IPPROTO_TCP, &sock);
	if (err)
		return err;
	fd = get_unused_fd_flags(cloexec ? O_CLOEXEC : 0);
	if (fd < 0) {
		sock_release(sock);
		return fd;
	}
	file = sock_alloc_file(sock, nonblock ? O_NONBLOCK : 0, NULL);
	if (IS_ERR(file)) {
		put_unused_fd(fd);
		return PTR_ERR(file); /* the socket went with it */
	}
	err = tcpcp_restore(sock, c, hold_for(sock->sk, a));
	if (err) {
		put_unused_fd(fd);
		fput(file); /* unconnected again: closes silently */
		return err;
	}
	fd_install(fd, file);
	return fd;
}

static int set_si_all(struct tcpcp_ioc_call *a, struct tcpcp_conn *c,
		      unsigned int count)
{
	u32 off = TCPCP_SI_TOTAL_HDR_LEN;
	struct file *dummy;
	struct socket *sock;
	struct results r = { 0 };
	unsigned int i;
	u8 *buf;
	int err;

	err = one_socket(a->fd, &dummy, &sock);
	if (err)
		return err;
	fput(dummy);
	if (!tcpcp_net_admin(current->nsproxy->net_ns))
		return -EPERM;
	err = results_init(&r, a, count);
	for (i = 0; !err && i < count; i++) {
		int res = read_conn(a, &off, &buf, c);

		/* the buffer changed since it was checked */
		if (res == -EINVAL || res == -EFAULT) {
			err = res;
			break;
		}
		if (!res)
			res = rebuild(c, a);
		results_add(&r, c->fd, res);
		kvfree(buf);
	}
	if (!err)
		return results_put(&r, a);
	results_drop(&r);
	return err;
}

static long set_si(struct tcpcp_ioc_call *a)
{
	struct tcpcp_conn *c = kzalloc(sizeof(*c), GFP_KERNEL_ACCOUNT);
	unsigned int count;
	struct socket *sock;
	struct file *file;
	int err;

	if (!c)
		return -ENOMEM;
	/* the descriptor's errors come first, as in lib/api.c */
	err = one_socket(a->fd, &file, &sock);
	if (!err) {
		fput(file);
		err = check_si(a, c, &count);
	}
	if (!err && !(a->flags & TCPCP_IOC_F_ALL) && count != 1)
		err = -EINVAL;
	if (!err && (a->flags & TCPCP_IOC_F_ALL))
		err = set_si_all(a, c, count);
	else if (!err)
		err = set_si_one(a, c);
	kfree(c);
	return err;
}

/* START */

static long start_one(struct tcpcp_ioc_call *a)
{
	bool probe = !(a->flags & TCPCP_IOC_F_NOPROBE);
	struct socket *sock;
	struct file *file;
	struct results r = { 0 };
	int err;

	err = one_socket(a->fd, &file, &sock);
	if (err)
		return err;
	err = results_init(&r, a, 1);
	if (!err) {
		err = tcpcp_start_sk(sock->sk, probe);
		if (!err) {
			results_add(&r, a->fd, 0);
			err = results_put(&r, a);
		} else {
			results_drop(&r);
		}
	}
	fput(file);
	return err;
}

static long start_all(struct tcpcp_ioc_call *a)
{
	bool probe = !(a->flags & TCPCP_IOC_F_NOPROBE);
	struct file *dummy;
	struct tcpcp_fds l;
	struct results r = { 0 };
	int err, *stages;
	unsigned int i;

	err = all_sockets(a->fd, &l, &dummy);
	if (err)
		return err;
	stages = stages_alloc(&l);
	err = stages ? 0 : -ENOMEM;
	if (!err)
		err = results_init(&r, a, pick(&l, dummy, want_stopped, stages));
	if (!err) {
		for (i = 0; i < l.n; i++)
			if (stages[i] >= 0)
				results_add(&r, l.v[i].fd,
					    tcpcp_start_sk(sk_of(l.v[i].file),
							   probe));
		err = results_put(&r, a);
	}
	kvfree(stages);
	all_release(&l, dummy);
	return err;
}

/* CLOSE */

/* Only if the descriptor still is the socket the call looked at. */
static int close_same(unsigned int fd, struct file *file)
{
	struct file *now = fget(fd);

	if (now)
		fput(now);
	return now == file ? close_fd(fd) : -EBADF;
}

static long close_all_stopped(struct tcpcp_ioc_call *a, struct file *dummy)
{
	struct tcpcp_fds l;
	struct results r = { 0 };
	unsigned int i, n = 0;
	bool *stopped;
	int err;

	err = tcpcp_fds_collect(&l);
	if (err)
		return err;
	stopped = kvcalloc(l.n ? l.n : 1, sizeof(*stopped), GFP_KERNEL_ACCOUNT);
	err = stopped ? 0 : -ENOMEM;
	for (i = 0; !err && i < l.n; i++) {
		stopped[i] = l.v[i].file != dummy &&
			     tcpcp_stage(sk_of(l.v[i].file)) == TCPCP_STOPPED;
		n += stopped[i];
	}
	if (!err)
		err = results_init(&r, a, n);
	if (!err) {
		for (i = 0; i < l.n; i++)
			if (stopped[i])
				results_add(&r, l.v[i].fd,
					    close_same(l.v[i].fd, l.v[i].file));
		err = results_put(&r, a);
	}
	kvfree(stopped);
	tcpcp_fds_release(&l);
	return err;
}

/*
 * tcpcp_close(): a stopped socket's descriptor goes (its forced linger makes
 * the last close an abort, whose RST the hold drops); an unconnected one
 * means every descriptor of every stopped socket.
 */
static long close_call(struct tcpcp_ioc_call *a)
{
	struct socket *sock;
	struct file *file;
	struct results r = { 0 };
	int err;

	err = one_socket(a->fd, &file, &sock);
	if (err)
		return err;
	switch (tcpcp_stage(sock->sk)) {
	case TCPCP_STOPPED:
		err = results_init(&r, a, 1);
		if (err)
			break;
		err = close_same(a->fd, file);
		if (!err) {
			results_add(&r, a->fd, 0);
			err = results_put(&r, a);
		} else {
			results_drop(&r);
		}
		break;
	case TCPCP_UNCONNECTED:
		err = close_all_stopped(a, file);
		break;
	case TCPCP_RUNNING:
		err = -EBADFD;
		break;
	default:
		err = -EBUSY;
	}
	fput(file);
	return err;
}

/* HOLD: every tuple of the TCP-SI, once all of it was checked. */
static long hold_call(struct tcpcp_ioc_call *a)
{
	struct net *net = current->nsproxy->net_ns;
	struct tcpcp_conn *c = kzalloc(sizeof(*c), GFP_KERNEL_ACCOUNT);
	bool given = a->flags & TCPCP_IOC_F_HOLD;
	unsigned int i, count, secs = tcpcp_hold_secs(given, a->hold_seconds);
	u32 off = TCPCP_SI_TOTAL_HDR_LEN;
	struct tcpcp_tuple t;
	u8 *buf;
	int err;

	if (!c)
		return -ENOMEM;
	err = check_si(a, c, &count);
	if (!err && !tcpcp_net_admin(net))
		err = -EPERM;
	for (i = 0; !err && secs && i < count; i++) {
		err = read_conn(a, &off, &buf, c);
		kvfree(buf);
		if (err)
			break;
		tcpcp_tuple_of_conn(c, &t);
		err = tcpcp_hold_add(net, &t, secs);
	}
	kfree(c);
	return err;
}

long tcpcp_call(unsigned int cmd, struct tcpcp_ioc_call *a)
{
	bool all = a->flags & TCPCP_IOC_F_ALL;

	switch (cmd) {
	case TCPCP_IOC_STOP:
		return all ? stop_all(a) : stop_one(a);
	case TCPCP_IOC_GET_SI:
		return all ? get_si_all(a) : get_si_one(a);
	case TCPCP_IOC_SET_SI:
		return set_si(a);
	case TCPCP_IOC_START:
		return all ? start_all(a) : start_one(a);
	case TCPCP_IOC_CLOSE:
		return close_call(a);
	case TCPCP_IOC_HOLD:
		return hold_call(a);
	}
	return -ENOTTY;
}
