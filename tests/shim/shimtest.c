// SPDX-License-Identifier: LGPL-2.1-or-later
/* See shimtest.h. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shimtest.h"
#include "si_codec.h"

#define PROGS_MAX 32
#define REPLY_MS 30000

extern char **environ;

struct shimtest st;
static pid_t started[PROGS_MAX];
static unsigned int n_started;

long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

void st_setup(void)
{
	testnet_enter();
	snprintf(st.dir, sizeof(st.dir), "/tmp/tcpcp-shimtest.XXXXXX");
	if (!mkdtemp(st.dir))
		cr_assert_fail("mkdtemp: %m");
	snprintf(st.log, sizeof(st.log), "%s/shim.log", st.dir);
	snprintf(st.image_tmpl, sizeof(st.image_tmpl), "%s/ck-%%p.img", st.dir);
	n_started = 0;
}

static int rm_one(const char *path, const struct stat *sb, int flag,
		  struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void st_teardown(void)
{
	const char *keep;
	unsigned int i;

	/* each program leads a process group: its children go too */
	for (i = 0; i < n_started; i++) {
		kill(-started[i], SIGKILL);
		kill(started[i], SIGKILL);
	}
	for (i = 0; i < n_started; i++)
		while (waitpid(started[i], NULL, 0) < 0 && errno == EINTR)
			;
	n_started = 0;
	log_show("the shim's log");
	keep = getenv("SHIMTEST_KEEP");
	if (st.dir[0] && !(keep && *keep))
		nftw(st.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- starting shimprog ---- */

static bool env_named(const char *entry, const char *name, size_t n)
{
	return !strncmp(entry, name, n) && (entry[n] == '=' || !entry[n]);
}

#define ENV_MAX 512

struct envp {
	char *v[ENV_MAX];
	size_t n;
	char defaults[4][512];
};

/* Sets (NAME=value) or removes (NAME) one entry. */
static void env_apply(struct envp *e, const char *entry)
{
	const char *eq = strchr(entry, '=');
	size_t nl = eq ? (size_t)(eq - entry) : strlen(entry), i, o = 0;

	for (i = 0; i < e->n; i++)
		if (!env_named(e->v[i], entry, nl))
			e->v[o++] = e->v[i];
	e->n = o;
	if (eq && e->n < ENV_MAX - 1)
		e->v[e->n++] = (char *)entry;
	e->v[e->n] = NULL;
}

/* environ without TCPCP_* and LD_PRELOAD, then the defaults, then env. */
static char **build_env(struct envp *e, const char *const *env)
{
	char **v;
	size_t i;

	e->n = 0;
	for (v = environ; *v && e->n < ENV_MAX - 16; v++)
		if (strncmp(*v, "TCPCP_", 6) && strncmp(*v, "LD_PRELOAD=", 11))
			e->v[e->n++] = *v;
	e->v[e->n] = NULL;
	snprintf(e->defaults[0], sizeof(e->defaults[0]), "LD_PRELOAD=%s",
		 getenv("TCPCP_SHIM_SO"));
	snprintf(e->defaults[1], sizeof(e->defaults[1]),
		 "TCPCP_BACKEND=repair");
	snprintf(e->defaults[2], sizeof(e->defaults[2]), "TCPCP_LOG=%s",
		 st.log);
	snprintf(e->defaults[3], sizeof(e->defaults[3]), "TCPCP_IMAGE=%s",
		 st.image_tmpl);
	for (i = 0; i < 4; i++)
		env_apply(e, e->defaults[i]);
	for (i = 0; env && env[i]; i++)
		env_apply(e, env[i]);
	return e->v;
}

static void drop_net_admin(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	/* root's exec gets what the bounding set allows: not CAP_NET_ADMIN */
	if (prctl(PR_CAPBSET_DROP, CAP_NET_ADMIN, 0, 0, 0))
		_exit(126);
	/* and this process, for good measure, before exec */
	if (syscall(SYS_capget, &h, d) == 0) {
		d[0].effective &= ~(1u << CAP_NET_ADMIN);
		d[0].permitted &= ~(1u << CAP_NET_ADMIN);
		d[0].inheritable &= ~(1u << CAP_NET_ADMIN);
		syscall(SYS_capset, &h, d);
	}
}

static void child(int ctl, const char *errpath, char **envp, bool nocap)
{
	char *argv[] = { "shimprog", NULL };
	int err;

	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	err = open(errpath, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
	if (dup2(ctl, 0) < 0 || dup2(ctl, 1) < 0 || err < 0 || dup2(err, 2) < 0)
		_exit(127);
	/* nothing of the test's leaks in: TCP sockets above all */
	close_range(3, ~0u, 0);
	if (nocap)
		drop_net_admin();
	execve(getenv("SHIMPROG"), argv, envp);
	_exit(127);
}

static bool read_line(struct prog *p, int ms, bool want_event);

static void start(struct prog *p, const char *name, const char *const *env,
		  bool nocap)
{
	static unsigned int seq;
	static struct envp e;
	char **envp = build_env(&e, env);
	int sp[2];
	pid_t pid;

	cr_assert(getenv("SHIMPROG") && getenv("TCPCP_SHIM_SO"),
		  "SHIMPROG and TCPCP_SHIM_SO must be set (meson does)");
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(p->stderr_path, sizeof(p->stderr_path), "%s/stderr.%u.%s",
		 st.dir, seq++, name);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	pid = fork();
	cr_assert_geq(pid, 0, "fork: %m");
	if (pid == 0)
		child(sp[1], p->stderr_path, envp, nocap);
	close(sp[1]);
	p->pid = pid;
	p->ctl = sp[0];
	if (n_started < PROGS_MAX)
		started[n_started++] = pid;
	cr_assert(read_line(p, REPLY_MS, false) &&
			  !strncmp(p->reply, "ok ready", 8),
		  "%s did not start (%s); its stderr is %s", name, p->reply,
		  p->stderr_path);
}

void prog_start(struct prog *p, const char *name, const char *const *env)
{
	start(p, name, env, false);
}

void prog_start_nocap(struct prog *p, const char *name,
		      const char *const *env)
{
	start(p, name, env, true);
}

/* ---- talking to it ---- */

/* The next line from the program into p->reply; false at EOF or after
 * ms.  Event lines are kept in p->events, not returned. */
static bool read_line(struct prog *p, int ms, bool want_event)
{
	long end = now_ms() + ms;
	char *nl;
	ssize_t n;

	for (;;) {
		nl = memchr(p->buf, '\n', p->have);
		if (nl) {
			size_t l = (size_t)(nl - p->buf);

			*nl = '\0';
			if (!strncmp(p->buf, "event ", 6)) {
				size_t e = strlen(p->events);

				snprintf(p->events + e, sizeof(p->events) - e,
					 "%s\n", p->buf);
			}
			memcpy(p->reply, p->buf, l < sizeof(p->reply) ? l + 1 :
			       sizeof(p->reply));
			p->reply[sizeof(p->reply) - 1] = '\0';
			p->have -= l + 1;
			memmove(p->buf, nl + 1, p->have);
			if (!strncmp(p->reply, "event ", 6) == want_event)
				return true;
			continue;
		}
		struct pollfd pf = { .fd = p->ctl, .events = POLLIN };
		long left = end - now_ms();

		if (left <= 0 || poll(&pf, 1, (int)left) != 1)
			return false;
		n = read(p->ctl, p->buf + p->have,
			 sizeof(p->buf) - p->have - 1);
		if (n <= 0)
			return false;
		p->have += (size_t)n;
	}
}

static const char *vtry(struct prog *p, const char *fmt, va_list ap)
{
	char line[1024];
	int n;

	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	if (n > 0) {
		line[n++] = '\n';
		if (send(p->ctl, line, (size_t)n, MSG_NOSIGNAL) != n) {
			snprintf(p->reply, sizeof(p->reply), "dead");
			return p->reply;
		}
	}
	if (!read_line(p, REPLY_MS, false))
		snprintf(p->reply, sizeof(p->reply), "dead");
	return p->reply;
}

const char *prog_try(struct prog *p, const char *fmt, ...)
{
	va_list ap;
	const char *r;

	va_start(ap, fmt);
	r = vtry(p, fmt, ap);
	va_end(ap);
	return r;
}

const char *prog_cmd(struct prog *p, const char *fmt, ...)
{
	char what[256];
	va_list ap;
	const char *r;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	va_start(ap, fmt);
	r = vtry(p, fmt, ap);
	va_end(ap);
	cr_assert(!strncmp(r, "ok", 2), "%s: \"%s\" -> %s", p->name, what, r);
	return r[2] ? r + 3 : r + 2;
}

int prog_cmd_int(struct prog *p, const char *fmt, ...)
{
	char line[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	return atoi(prog_cmd(p, "%s", line));
}

bool prog_event(struct prog *p, const char *what, int ms)
{
	long end = now_ms() + ms;

	while (!strstr(p->events, what)) {
		long left = end - now_ms();

		if (left <= 0 || !read_line(p, (int)left, true))
			return strstr(p->events, what) != NULL;
	}
	return true;
}

bool prog_wait(struct prog *p, int ms)
{
	long end = now_ms() + ms;
	pid_t r;

	if (p->reaped)
		return true;
	for (;;) {
		r = waitpid(p->pid, &p->status, WNOHANG);
		if (r == p->pid) {
			p->reaped = true;
			return true;
		}
		if (r < 0 || now_ms() > end)
			return false;
		usleep(5000);
	}
}

void prog_expect_exit0(struct prog *p, int ms)
{
	cr_assert(prog_wait(p, ms), "%s (pid %d) still runs after %d ms",
		  p->name, p->pid, ms);
	cr_assert(WIFEXITED(p->status) && WEXITSTATUS(p->status) == 0,
		  "%s: wait status %#x (exit %d, signal %d)", p->name,
		  p->status, WIFEXITED(p->status) ? WEXITSTATUS(p->status) : -1,
		  WIFSIGNALED(p->status) ? WTERMSIG(p->status) : 0);
}

void prog_kill(struct prog *p, int sig)
{
	cr_assert_eq(kill(p->pid, sig), 0, "kill %s: %m", p->name);
}

int prog_listen(struct prog *p, uint16_t port, const char *opts,
		uint16_t *ret_port)
{
	const char *r = prog_cmd(p, "listen %u %s", port, opts ? opts : "");

	if (ret_port)
		*ret_port = (uint16_t)atoi(strchr(r, ' ') + 1);
	return atoi(r);
}

const char *restore_env(const struct prog *p)
{
	static char env[4][200];
	static unsigned int i;
	char *e = env[i++ % 4];

	snprintf(e, sizeof(env[0]), "TCPCP_RESTORE=%s", st_image(p->pid));
	return e;
}

long reply_num(const char *reply, const char *key)
{
	char k[64];
	const char *at;

	snprintf(k, sizeof(k), "%s=", key);
	at = strstr(reply, k);
	return at ? strtol(at + strlen(k), NULL, 10) : -1;
}

/* ---- images ---- */

const char *st_image(pid_t pid)
{
	static char path[160];
	const char *p = strstr(st.image_tmpl, "%p");

	snprintf(path, sizeof(path), "%.*s%d%s", (int)(p - st.image_tmpl),
		 st.image_tmpl, (int)pid, p + 2);
	return path;
}

int st_wait_done(pid_t pid, struct image_done *ret, int ms)
{
	long end = now_ms() + ms;

	while (image_done_read(st_image(pid), ret)) {
		if (now_ms() > end)
			return -1;
		usleep(5000);
	}
	return 0;
}

void st_forget_image(pid_t pid)
{
	char done[200];

	unlink(st_image(pid));
	snprintf(done, sizeof(done), "%s.done", st_image(pid));
	unlink(done);
}

void st_read_image(pid_t pid, struct image *ret)
{
	char why[256] = "";
	int err = image_read(st_image(pid), ret, why, sizeof(why));

	cr_assert_eq(err, 0, "image %s: %s (%s)", st_image(pid), why,
		     strerror(-err));
}

const struct image_conn *image_find(const struct image *img,
				    uint16_t local_port, uint16_t peer_port,
				    struct tcpcp_conn *ret)
{
	uint32_t off = TCPCP_SI_TOTAL_HDR_LEN;
	unsigned int i;

	for (i = 0; i < img->n_conns; i++) {
		if (si_decode_conn(img->si, img->si_len, &off, ret))
			return NULL;
		if (ret->local_port == local_port &&
		    ret->peer_port == peer_port)
			return &img->conns[i];
	}
	return NULL;
}

/* ---- logs ---- */

int file_count(const char *path, const char *what)
{
	char line[2048];
	FILE *f = fopen(path, "r");
	int n = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, what) != NULL;
	fclose(f);
	return n;
}

int log_count(const char *what)
{
	return file_count(st.log, what);
}

bool log_wait(const char *what, int ms)
{
	long end = now_ms() + ms;

	while (!log_count(what)) {
		if (now_ms() > end)
			return false;
		usleep(10000);
	}
	return true;
}

void log_show(const char *title)
{
	char line[2048];
	FILE *f = fopen(st.log, "r");

	if (!f)
		return;
	fprintf(stderr, "--- %s (%s) ---\n", title, st.log);
	while (fgets(line, sizeof(line), f))
		fprintf(stderr, "  %s", line);
	fclose(f);
}

/* ---- the peer side ---- */

int peer_connect(uint16_t port, int rcvbuf)
{
	int fd = tn_connect(AF_INET, port, rcvbuf), one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

void peer_isn(int fd, uint32_t *ret_snd1, uint32_t *ret_rcv1)
{
	int on = 1, off = -1 /* TCP_REPAIR_OFF_NO_WP */, q;
	socklen_t l = sizeof(*ret_snd1);

	cr_assert_eq(setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on)),
		     0, "TCP_REPAIR: %m");
	q = TCP_SEND_QUEUE;
	setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q));
	cr_assert_eq(getsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, ret_snd1, &l),
		     0, "TCP_QUEUE_SEQ: %m");
	q = TCP_RECV_QUEUE;
	setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q));
	l = sizeof(*ret_rcv1);
	cr_assert_eq(getsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, ret_rcv1, &l),
		     0, "TCP_QUEUE_SEQ: %m");
	cr_assert_eq(setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &off, sizeof(off)),
		     0, "TCP_REPAIR off: %m");
}

void peer_recv(int fd, uint32_t seed, uint64_t off, size_t len, int ms)
{
	struct xfer x = { .fd = fd, .rx_seed = seed, .rx_off = off,
			  .rx_end = off + len };
	char err[256];

	cr_assert_eq(xfer_pump(&x, 1, ms, err, sizeof(err)), 0, "peer: %s",
		     err);
}

void peer_send(int fd, uint32_t seed, uint64_t off, size_t len)
{
	struct xfer x = { .fd = fd, .tx_seed = seed, .tx_off = off,
			  .tx_end = off + len };
	char err[256];

	cr_assert_eq(xfer_pump(&x, 1, 10000, err, sizeof(err)), 0, "peer: %s",
		     err);
}

const char *peer_fate(int fd, int ms, bool poke)
{
	long end = now_ms() + ms, next_poke = 0;
	char buf[4096];
	ssize_t n;

	while (now_ms() < end) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (poke && now_ms() >= next_poke) {
			next_poke = now_ms() + 200;
			if (send(fd, "?", 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 &&
			    (errno == ECONNRESET || errno == EPIPE))
				return "RST";
		}
		if (poll(&p, 1, 50) != 1)
			continue;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0)
			return "EOF";
		if (n < 0 && (errno == ECONNRESET || errno == EPIPE))
			return "RST";
		if (n < 0 && errno == ETIMEDOUT)
			return "ETIMEDOUT";
	}
	return "nothing";
}

/* ---- connections with data queued both ways ---- */

void qconn_init(struct qconn *q, int peer)
{
	memset(q, 0, sizeof(*q));
	q->peer = peer;
	q->fd = -1;
	q->tport = tn_local_port(peer);
	q->pport = tn_peer_port(peer);
	q->c2s = ((uint32_t)q->tport << 16 | q->pport) * 2u + 1u;
	q->s2c = ((uint32_t)q->tport << 16 | q->pport) * 2u + 2u;
}

const struct image_conn *qconn_find(const struct image *img,
				    const struct qconn *q,
				    struct tcpcp_conn *ret)
{
	const struct image_conn *rec = image_find(img, q->pport, q->tport,
						  ret);

	cr_assert_not_null(rec, "no connection %u <-> %u in the image",
			   q->pport, q->tport);
	return rec;
}

struct qconn *qconn_by_ports(struct qconn *q, unsigned int n, long local,
			     long peer)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (q[i].pport == local && q[i].tport == peer)
			return &q[i];
	cr_assert_fail("the program's connection %ld <-> %ld is none of ours",
		       local, peer);
	return NULL;
}

void qconn_accept(struct prog *p, int lfd, uint16_t lport, int rcvbuf,
		  struct qconn *ret)
{
	const char *r;

	qconn_init(ret, peer_connect(lport, rcvbuf));
	r = prog_cmd(p, "accept %d 0", lfd);
	ret->fd = atoi(r);
	cr_assert_eq(reply_num(r, "port"), ret->tport,
		     "accepted someone else: %s", r);
}

void qconn_connect(struct prog *p, int plfd, uint16_t pport,
		   const char *opts, struct qconn *ret)
{
	int fd = prog_cmd_int(p, "connect %u %s", pport, opts ? opts : "");
	int one = 1;

	qconn_init(ret, tn_accept(plfd));
	ret->fd = fd;
	setsockopt(ret->peer, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

void qconn_load(struct prog *p, struct qconn *q, size_t to_srv,
		size_t from_srv)
{
	const char *r;

	peer_send(q->peer, q->c2s, q->c2s_sent, to_srv);
	q->c2s_sent += to_srv;
	r = prog_cmd(p, "send %d %u %llu %zu some", q->fd, q->s2c,
		     (unsigned long long)q->s2c_sent, from_srv);
	q->s2c_sent += (uint64_t)reply_num(r, "sent");
	cr_assert_gt(reply_num(r, "sent"), 0, "the program sent nothing");
	/* the test's bytes are in the program's receive queue */
	{
		long end = now_ms() + 5000;

		while (reply_num(prog_cmd(p, "queues %d", q->fd), "inq") <
		       (long)to_srv) {
			cr_assert_lt(now_ms(), end, "%zu bytes never arrived",
				     to_srv);
			usleep(10000);
		}
	}
}

void qconn_verify(struct prog *p, struct qconn *q, int fd, size_t after)
{
	char err[256];
	struct xfer x = { .fd = q->peer };

	q->fd = fd;
	prog_cmd(p, "recv %d %u %llu %llu", fd, q->c2s,
		 (unsigned long long)q->c2s_read,
		 (unsigned long long)(q->c2s_sent - q->c2s_read));
	q->c2s_read = q->c2s_sent;
	peer_recv(q->peer, q->s2c, q->s2c_read, q->s2c_sent - q->s2c_read,
		  10000);
	q->s2c_read = q->s2c_sent;
	if (after) {
		peer_send(q->peer, q->c2s, q->c2s_sent, after);
		prog_cmd(p, "recv %d %u %llu %zu", fd, q->c2s,
			 (unsigned long long)q->c2s_sent, after);
		q->c2s_sent += after;
		q->c2s_read = q->c2s_sent;
		prog_cmd(p, "send %d %u %llu %zu", fd, q->s2c,
			 (unsigned long long)q->s2c_sent, after);
		peer_recv(q->peer, q->s2c, q->s2c_sent, after, 10000);
		q->s2c_sent += after;
		q->s2c_read = q->s2c_sent;
	}
	cr_assert_eq(xfer_quiet(&x, 1, err, sizeof(err)), 0, "peer: %s", err);
}

void checkpoint(struct prog *p, int sig, unsigned int n,
		struct image_done *ret)
{
	struct image_done d;

	prog_kill(p, sig);
	cr_assert_eq(st_wait_done(p->pid, &d, 15000), 0,
		     "no %s.done within 15 s", st_image(p->pid));
	cr_assert(d.ok, "checkpoint failed: %s", d.error);
	cr_assert_eq(d.connections, n, "checkpoint saved %u connections, "
		     "not %u", d.connections, n);
	cr_assert_eq(d.pid, (uint32_t)p->pid);
	if (!strcmp(d.action, "exit"))
		prog_expect_exit0(p, 10000);
	if (ret)
		*ret = d;
}
