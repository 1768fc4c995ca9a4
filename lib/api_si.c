// SPDX-License-Identifier: LGPL-2.1-or-later
/* tcpcp_get_si() and tcpcp_set_si(): sockets to TCP-SI and back. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api.h"
#include "si_codec.h"

struct saved {
	struct tcpcp_conn *conns;
	unsigned int n;
	unsigned int cap;
};

static int saved_grow(struct saved *s)
{
	struct tcpcp_conn *n;
	unsigned int cap;

	if (s->n < s->cap)
		return 0;
	cap = s->cap ? s->cap * 2 : 16;
	n = realloc(s->conns, cap * sizeof(*n));
	if (!n)
		return -ENOMEM;
	s->conns = n;
	s->cap = cap;
	return 0;
}

static void saved_free(struct saved *s)
{
	unsigned int i;

	for (i = 0; i < s->n; i++)
		conn_free_queues(&s->conns[i]);
	free(s->conns);
}

/* A live socket is frozen just long enough to be read: a snapshot. */
static int save_op(const struct tcpcp_backend *b, struct sock_ref *s,
		   int stage, void *ctx)
{
	struct saved *sv = ctx;
	int err, err2;

	if (stage == STAGE_UNCONNECTED)
		return not_connected();
	if (stage == STAGE_FOREIGN)
		return -EBUSY;
	err = saved_grow(sv);
	if (err)
		return err;
	if (stage == STAGE_RUNNING) {
		err = b->stop(s);
		if (err)
			return err;
	}
	err = b->save(s, &sv->conns[sv->n]); /* frees its queues on error */
	if (stage == STAGE_RUNNING) {
		err2 = api_resume(b, s, false);
		if (!err && err2) {
			conn_free_queues(&sv->conns[sv->n]);
			err = err2;
		}
	}
	if (err)
		return err;
	sv->n++;
	return 0;
}

static many_fn save_many(const struct tcpcp_backend *b)
{
	return b->save_many;
}

static int encode(const struct saved *s, void **ret_buf, unsigned int *ret_size)
{
	uint64_t total = TCPCP_SI_TOTAL_HDR_LEN;
	uint8_t *buf;
	unsigned int i;

	for (i = 0; i < s->n; i++)
		total += si_conn_size(&s->conns[i]);
	if (s->n > UINT16_MAX || total > UINT_MAX - 3) {
		detail_set("more connections or bytes than one TCP-SI holds");
		return -E2BIG;
	}
	buf = malloc(total);
	if (!buf)
		return -ENOMEM;
	si_encode_total(buf, (uint32_t)total, (uint16_t)s->n);
	total = TCPCP_SI_TOTAL_HDR_LEN;
	for (i = 0; i < s->n; i++) {
		si_encode_conn(buf + total, &s->conns[i]);
		total += si_conn_size(&s->conns[i]);
	}
	*ret_buf = buf;
	*ret_size = (unsigned int)total;
	return 0;
}

static int get_si(int fd, int flag, void **bufptr, unsigned int *size,
		  struct result_list **reslst)
{
	static const struct api_walk walk = { stage_connected, save_op, true,
					      save_many };
	const struct tcpcp_backend *b;
	struct saved s = { 0 };
	int fault = check_writable(bufptr, sizeof(*bufptr)), err;

	if (!fault)
		*bufptr = NULL;
	err = check_writable(size, sizeof(*size));
	if (!err)
		*size = 0;
	fault = fault ? fault : err;
	err = api_begin(fd, flag, reslst, &b);
	if (!err)
		err = fault;
	if (err)
		return err;
	if (b->call) {
		struct backend_call c = { .op = BACKEND_GET_SI, .fd = fd,
					  .flag = flag, .ret_si = bufptr,
					  .ret_si_size = size };

		return api_call(b, &c, reslst);
	}
	err = api_exec(b, fd, flag, &walk, &s, reslst);
	if (!err) {
		err = encode(&s, bufptr, size);
		if (err) {
			free(*reslst);
			*reslst = NULL;
		}
	}
	saved_free(&s);
	return err;
}

TCPCP_EXPORT int tcpcp_get_si(int fd, int flag, void **bufptr,
			      unsigned int *size, struct result_list **reslst)
{
	return api_finish(get_si(fd, flag, bufptr, size, reslst));
}

static int family_of(int ip_version)
{
	return ip_version == 4 ? AF_INET : AF_INET6;
}

/* TCPCP_EXEC_ONE: the caller's own unconnected socket takes the one
 * connection the TCP-SI holds. */
static int set_si_one(const struct tcpcp_backend *b, int fd, const void *buf,
		      unsigned int size, struct result_list **reslst)
{
	struct reslist_builder rb;
	struct tcpcp_conn c;
	struct sock_ref s;
	uint32_t off = TCPCP_SI_TOTAL_HDR_LEN;
	int stage, domain, listening, err;
	socklen_t len = sizeof(int);

	sock_ref_init(&s, fd);
	stage = b->stage(&s);
	if (stage < 0)
		return stage;
	if (stage == STAGE_FOREIGN)
		return -EBUSY;
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len))
		return -errno;
	if (stage != STAGE_UNCONNECTED || listening) {
		detail_set("socket is connected or listening");
		return -EBADFD;
	}
	err = si_decode_conn(buf, size, &off, &c);
	if (err)
		return err;
	len = sizeof(int);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len))
		return -errno;
	if (domain != family_of(c.ip_version)) {
		detail_set("TCP-SI holds an IPv%u connection, the socket is of "
			   "the other family", c.ip_version);
		return -EINVAL;
	}
	err = reslist_init(&rb, 1);
	if (err)
		return err;
	err = b->restore(&s, &c);
	if (err) {
		reslist_discard(&rb);
		return err;
	}
	reslist_add(&rb, (int)c.fd, fd);
	*reslst = reslist_take(&rb);
	return 0;
}

static bool fd_flag(const struct tcpcp_conn *c, uint32_t flag)
{
	return c->has_fd_flags && (c->fd_flags & flag);
}

/* O_NONBLOCK is given to socket() itself (nothing in the restore waits);
 * FD_CLOEXEC is there until the socket is whole, so that a fork and exec
 * in another thread never carries off a half-built socket. */
int conn_socket_type(const struct tcpcp_conn *c)
{
	return SOCK_STREAM | SOCK_CLOEXEC |
	       (fd_flag(c, TCPCP_SIE_FD_NONBLOCK) ? SOCK_NONBLOCK : 0);
}

int conn_fd_finish(int fd, const struct tcpcp_conn *c)
{
	if (!fd_flag(c, TCPCP_SIE_FD_CLOEXEC) && fcntl(fd, F_SETFD, 0))
		return -errno;
	return 0;
}

/* One new socket for one decoded connection: its descriptor, or -errno. */
static int rebuild(const struct tcpcp_backend *b, const struct tcpcp_conn *c)
{
	int fd = socket(family_of(c->ip_version), conn_socket_type(c),
			IPPROTO_TCP);
	struct sock_ref s;
	int err;

	if (fd < 0)
		return -errno;
	sock_ref_init(&s, fd);
	s.fresh = true;
	err = b->restore(&s, c);
	if (!err)
		err = conn_fd_finish(fd, c);
	if (err) {
		close(fd); /* still in repair mode if restored: silent */
		return err;
	}
	return fd;
}

/* Every connection decoded up front, for a backend that rebuilds many
 * at once; what it leaves (all of them, without rebuild_many or the
 * memory for it) is rebuilt here, one at a time, in the TCP-SI's order. */
struct decoded {
	struct tcpcp_conn *c;
	int *ret;
};

static void rebuild_ahead(const struct tcpcp_backend *b, const void *buf,
			  unsigned int size, unsigned int count,
			  struct decoded *d)
{
	uint32_t off = TCPCP_SI_TOTAL_HDR_LEN;
	unsigned int i;

	d->c = NULL;
	d->ret = NULL;
	if (!b->rebuild_many || !count)
		return;
	d->c = malloc(count * sizeof(*d->c));
	d->ret = malloc(count * sizeof(*d->ret));
	for (i = 0; d->c && d->ret && i < count; i++)
		if (si_decode_conn(buf, size, &off, &d->c[i])) /* checked */
			break;
	if (d->c && d->ret && i == count) {
		b->rebuild_many(d->c, count, d->ret);
		return;
	}
	free(d->c);
	free(d->ret);
	d->c = NULL;
	d->ret = NULL;
}

static int set_si_all(const struct tcpcp_backend *b, const void *buf,
		      unsigned int size, unsigned int count,
		      struct result_list **reslst)
{
	struct reslist_builder rb;
	uint32_t off = TCPCP_SI_TOTAL_HDR_LEN;
	struct decoded d = { NULL, NULL };
	unsigned int i;
	int err;

	err = reslist_init(&rb, count);
	if (!err)
		rebuild_ahead(b, buf, size, count, &d);
	for (i = 0; !err && i < count; i++) {
		struct tcpcp_conn c;

		err = si_decode_conn(buf, size, &off, &c); /* checked before */
		if (err)
			break;
		if (d.ret && d.ret[i] != BACKEND_LEFT)
			reslist_add(&rb, (int)c.fd, d.ret[i]);
		else
			reslist_add(&rb, (int)c.fd, rebuild(b, &c));
	}
	for (; err && d.ret && i < count; i++) /* not reported: not kept */
		if (d.ret[i] >= 0)
			close(d.ret[i]);
	free(d.c);
	free(d.ret);
	if (err) {
		reslist_discard(&rb);
		return err;
	}
	*reslst = reslist_take(&rb);
	return 0;
}

static int set_si(int fd, int flag, const void *buf, unsigned int size,
		  struct result_list **reslst)
{
	const struct tcpcp_backend *b;
	unsigned int count;
	int err;

	err = api_begin(fd, flag, reslst, &b);
	if (!err)
		err = check_readable(buf, size);
	if (err)
		return err;
	err = si_check(buf, size, &count);
	if (err) {
		detail_set("the TCP-SI buffer is malformed");
		return err;
	}
	if (flag == TCPCP_EXEC_ONE && count != 1) {
		detail_set("TCP-SI holds %u connections; TCPCP_EXEC_ONE "
			   "takes exactly one", count);
		return -EINVAL;
	}
	if (b->call) {
		struct backend_call c = { .op = BACKEND_SET_SI, .fd = fd,
					  .flag = flag, .si = buf,
					  .si_size = size };

		return api_call(b, &c, reslst);
	}
	pthread_mutex_lock(&api_lock);
	api_begin_call(b);
	if (flag == TCPCP_EXEC_ONE)
		err = set_si_one(b, fd, buf, size, reslst);
	else
		err = set_si_all(b, buf, size, count, reslst);
	if (b->commit)
		b->commit();
	pthread_mutex_unlock(&api_lock);
	return err;
}

TCPCP_EXPORT int tcpcp_set_si(int fd, int flag, void *bufptr,
			      unsigned int size, struct result_list **reslst)
{
	return api_finish(set_si(fd, flag, bufptr, size, reslst));
}
