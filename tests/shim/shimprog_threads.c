// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * shimprog's threads: the ones a checkpoint must park.
 *
 *  - stream: one thread sends pattern bytes, another receives and checks
 *    them, on the same connection, as fast as the connection allows;
 *  - churn: a stream sent by a crowd of short-lived threads, each taking
 *    the next chunk in turn, so threads keep being born and dying while
 *    the shim parks them;
 *  - waiter: a thread blocked in one call (epoll_wait, poll, accept, ...)
 *    that reports what the checkpoint did to it (EINTR or nothing).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "shimprog.h"
#include "testnet.h"

#define STREAMS_MAX 64
#define CHUNK 65536
#define CHURN_CHUNK 4096
#define CHURN_ALIVE 4

enum stream_kind { TX, RX, CHURN };

struct stream {
	enum stream_kind kind;
	int fd;
	uint32_t seed;
	_Atomic uint64_t off;
	uint64_t end;
	unsigned int delay_us;
	atomic_uint eintr;
	atomic_uint threads; /* churn: threads made */
	char err[200];
	atomic_bool done;
	pthread_t t;
};

static struct stream streams[STREAMS_MAX];
static int n_streams;

static void stream_fail(struct stream *s, const char *what, int err)
{
	snprintf(s->err, sizeof(s->err), "fd %d %s at byte %llu: %s", s->fd,
		 what, (unsigned long long)atomic_load(&s->off),
		 err ? strerror(err) : "EOF");
}

static bool wait_ready(int fd, short ev)
{
	struct pollfd p = { .fd = fd, .events = ev };

	return poll(&p, 1, 30000) == 1;
}

/* Sends [off, end) with plain send(): a blocking descriptor blocks. */
static int send_range(struct stream *s, uint8_t *buf, uint64_t end)
{
	uint64_t off = atomic_load(&s->off);
	ssize_t w;

	while (off < end) {
		size_t n = end - off < CHUNK ? end - off : CHUNK;

		pattern_fill(buf, n, s->seed, off);
		w = send(s->fd, buf, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR) {
			atomic_fetch_add(&s->eintr, 1);
			continue;
		}
		if (w < 0 && errno == EAGAIN && wait_ready(s->fd, POLLOUT))
			continue;
		if (w < 0) {
			stream_fail(s, "send", errno);
			return -1;
		}
		off += (uint64_t)w;
		atomic_store(&s->off, off);
	}
	return 0;
}

static void *tx_main(void *arg)
{
	struct stream *s = arg;
	uint8_t *buf = malloc(CHUNK);

	if (buf)
		send_range(s, buf, s->end);
	else
		stream_fail(s, "malloc", ENOMEM);
	free(buf);
	atomic_store(&s->done, true);
	return NULL;
}

static void *rx_main(void *arg)
{
	struct stream *s = arg;
	uint8_t *buf = malloc(CHUNK);
	uint64_t off = atomic_load(&s->off);
	ssize_t r, i;

	while (buf && off < s->end) {
		size_t n = s->end - off < CHUNK ? s->end - off : CHUNK;

		r = recv(s->fd, buf, n, 0);
		if (r < 0 && errno == EINTR) {
			atomic_fetch_add(&s->eintr, 1);
			continue;
		}
		if (r < 0 && errno == EAGAIN && wait_ready(s->fd, POLLIN))
			continue;
		if (r <= 0) {
			stream_fail(s, "recv", r ? errno : 0);
			break;
		}
		for (i = 0; i < r; i++)
			if (buf[i] != pattern_byte(s->seed, off + (uint64_t)i))
				break;
		if (i < r) {
			snprintf(s->err, sizeof(s->err), "fd %d recv: byte "
				 "%llu is wrong", s->fd,
				 (unsigned long long)(off + (uint64_t)i));
			break;
		}
		off += (uint64_t)r;
		atomic_store(&s->off, off);
		if (s->delay_us)
			usleep(s->delay_us);
	}
	free(buf);
	atomic_store(&s->done, true);
	return NULL;
}

static struct stream *stream_new(enum stream_kind kind, int fd, char **a)
{
	struct stream *s;

	if (n_streams == STREAMS_MAX)
		return NULL;
	s = &streams[n_streams++];
	memset(s, 0, sizeof(*s));
	s->kind = kind;
	s->fd = fd;
	s->seed = (uint32_t)arg_long(a[0]);
	atomic_store(&s->off, (uint64_t)arg_long(a[1]));
	s->end = (uint64_t)arg_long(a[2]);
	return s;
}

/*
 * stream FD TXSEED TXOFF TXEND RXSEED RXOFF RXEND [RXDELAY_US]: a sending
 * and a receiving thread on FD (a direction with OFF == END gets none).
 * RXDELAY_US between reads keeps the receive queue from running dry.
 */
int cmd_stream(int argc, char **argv, char *out, size_t len)
{
	int fd = (int)arg_long(argv[1]), err;
	struct stream *tx, *rx;

	tx = stream_new(TX, fd, argv + 2);
	rx = stream_new(RX, fd, argv + 5);
	if (!tx || !rx) {
		snprintf(out, len, "too many streams");
		return -1;
	}
	rx->delay_us = argc > 8 ? (unsigned int)arg_long(argv[8]) : 0;
	err = pthread_create(&tx->t, NULL, tx_main, tx);
	if (!err)
		err = pthread_create(&rx->t, NULL, rx_main, rx);
	if (err) {
		errno = err;
		snprintf(out, len, "pthread_create: %m");
		return -1;
	}
	snprintf(out, len, "started");
	return 0;
}

/* churn: one chunk per thread, in order, several threads alive at once */
static pthread_mutex_t churn_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int churn_alive;

static void *churn_one(void *arg)
{
	struct stream *s = arg;
	uint8_t buf[CHURN_CHUNK];
	uint64_t off;

	pthread_mutex_lock(&churn_lock);
	off = atomic_load(&s->off);
	if (off < s->end && !s->err[0])
		send_range(s, buf, off + CHURN_CHUNK < s->end ?
			   off + CHURN_CHUNK : s->end);
	pthread_mutex_unlock(&churn_lock);
	atomic_fetch_sub(&churn_alive, 1);
	return NULL;
}

static void *churn_main(void *arg)
{
	struct stream *s = arg;
	pthread_attr_t attr;
	pthread_t t;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	while (atomic_load(&s->off) < s->end && !s->err[0]) {
		if (atomic_load(&churn_alive) >= CHURN_ALIVE) {
			sched_yield();
			continue;
		}
		atomic_fetch_add(&churn_alive, 1);
		if (pthread_create(&t, &attr, churn_one, s)) {
			atomic_fetch_sub(&churn_alive, 1);
			usleep(1000);
			continue;
		}
		atomic_fetch_add(&s->threads, 1);
	}
	while (atomic_load(&churn_alive) > 0)
		usleep(1000);
	pthread_attr_destroy(&attr);
	atomic_store(&s->done, true);
	return NULL;
}

/* churn FD SEED OFF END */
int cmd_churn(int argc, char **argv, char *out, size_t len)
{
	struct stream *s = stream_new(CHURN, (int)arg_long(argv[1]), argv + 2);

	(void)argc;
	if (!s || pthread_create(&s->t, NULL, churn_main, s)) {
		snprintf(out, len, "cannot start");
		return -1;
	}
	snprintf(out, len, "started");
	return 0;
}

static const char *kind_name(enum stream_kind k)
{
	return k == TX ? "tx" : k == RX ? "rx" : "churn";
}

/* What each stream has done: "fd:kind:offset:eintr[:threads]". */
int cmd_streams_status(int argc, char **argv, char *out, size_t len)
{
	size_t o = 0;
	int i;

	(void)argc;
	(void)argv;
	out[0] = '\0';
	for (i = 0; i < n_streams && o < len; i++) {
		struct stream *s = &streams[i];

		o += (size_t)snprintf(out + o, len - o, "%s%d:%s:%llu:%u:%u",
				      i ? " " : "", s->fd, kind_name(s->kind),
				      (unsigned long long)atomic_load(&s->off),
				      atomic_load(&s->eintr),
				      atomic_load(&s->threads));
	}
	return 0;
}

/* streams-wait [SECONDS]: every stream finished; then they are forgotten. */
int cmd_streams_wait(int argc, char **argv, char *out, size_t len)
{
	struct timespec end;
	int i, err;

	clock_gettime(CLOCK_REALTIME, &end);
	end.tv_sec += argc > 1 ? arg_long(argv[1]) : 60;
	for (i = 0; i < n_streams; i++) {
		err = pthread_timedjoin_np(streams[i].t, NULL, &end);
		if (err) {
			snprintf(out, len, "fd %d %s stream not done: %s",
				 streams[i].fd, kind_name(streams[i].kind),
				 strerror(err));
			return -1;
		}
	}
	for (i = 0; i < n_streams; i++)
		if (streams[i].err[0]) {
			snprintf(out, len, "%s", streams[i].err);
			return -1;
		}
	cmd_streams_status(argc, argv, out, len);
	n_streams = 0;
	return 0;
}

/* ---- waiters: what a checkpoint does to a thread blocked in a call ---- */

#define WAITERS_MAX 16

struct waiter {
	char kind[16];
	int fd;      /* what the call waits on */
	int wake;    /* what waiters-wake writes to or connects to */
	uint16_t port;
	atomic_uint eintr;
	atomic_int result; /* 1 woken, 0 still waiting, -errno */
	pthread_t t;
};

static struct waiter waiters[WAITERS_MAX];
static int n_waiters;

static int waiter_call(struct waiter *w)
{
	struct epoll_event ev;
	struct pollfd p = { .fd = w->fd, .events = POLLIN };
	sigset_t none;
	fd_set rd;
	char c;

	sigemptyset(&none);
	FD_ZERO(&rd);
	FD_SET(w->fd, &rd);
	if (!strcmp(w->kind, "epoll"))
		return epoll_wait(w->wake, &ev, 1, -1);
	if (!strcmp(w->kind, "epoll_pwait"))
		return epoll_pwait(w->wake, &ev, 1, -1, &none);
	if (!strcmp(w->kind, "poll"))
		return poll(&p, 1, -1);
	if (!strcmp(w->kind, "ppoll"))
		return ppoll(&p, 1, NULL, &none);
	if (!strcmp(w->kind, "select"))
		return select(w->fd + 1, &rd, NULL, NULL, NULL);
	if (!strcmp(w->kind, "pselect"))
		return pselect(w->fd + 1, &rd, NULL, NULL, NULL, &none);
	if (!strcmp(w->kind, "accept")) {
		int c2 = accept(w->fd, NULL, NULL);

		if (c2 >= 0)
			close(c2);
		return c2 < 0 ? -1 : 1;
	}
	if (!strcmp(w->kind, "read") || !strcmp(w->kind, "recv"))
		return (int)read(w->fd, &c, 1);
	if (!strcmp(w->kind, "nanosleep")) {
		struct timespec ts = { 2, 0 }, rem;

		/* not woken by the test: done after 2 s, or early on EINTR */
		if (nanosleep(&ts, &rem))
			return -1;
		return 1;
	}
	errno = EINVAL;
	return -1;
}

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;
	int rc;

	for (;;) {
		rc = waiter_call(w);
		if (rc >= 0) {
			atomic_store(&w->result, 1);
			break;
		}
		if (errno != EINTR) {
			atomic_store(&w->result, -errno);
			break;
		}
		atomic_fetch_add(&w->eintr, 1);
		if (!strcmp(w->kind, "nanosleep")) {
			atomic_store(&w->result, 1);
			break; /* a real program would sleep less than asked */
		}
	}
	return NULL;
}

/* A TCP connection inside the process: *ret_a reads, *ret_b writes. */
static int tcp_pair(int *ret_a, int *ret_b)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM, 0), b;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(l, 1) || getsockname(l, (struct sockaddr *)&sa, &sl))
		return -1;
	b = socket(AF_INET, SOCK_STREAM, 0);
	if (b < 0 || connect(b, (struct sockaddr *)&sa, sizeof(sa)))
		return -1;
	*ret_a = accept(l, NULL, NULL);
	*ret_b = b;
	close(l);
	return *ret_a < 0 ? -1 : 0;
}

static int waiter_setup(struct waiter *w)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct epoll_event ev = { .events = EPOLLIN };
	socklen_t sl = sizeof(sa);
	int p[2];

	if (!strcmp(w->kind, "accept")) {
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		w->fd = socket(AF_INET, SOCK_STREAM, 0);
		if (w->fd < 0 ||
		    bind(w->fd, (struct sockaddr *)&sa, sizeof(sa)) ||
		    listen(w->fd, 4) ||
		    getsockname(w->fd, (struct sockaddr *)&sa, &sl))
			return -1;
		w->port = ntohs(sa.sin_port);
		w->wake = -1;
		return 0;
	}
	if (!strcmp(w->kind, "recv"))
		return tcp_pair(&w->fd, &w->wake);
	if (!strcmp(w->kind, "read")) {
		if (pipe(p))
			return -1;
		w->fd = p[0];
		w->wake = p[1];
		return 0;
	}
	w->fd = eventfd(0, 0);
	w->wake = w->fd;
	if (w->fd >= 0 && !strncmp(w->kind, "epoll", 5)) {
		/* the call waits on the epoll set */
		w->wake = epoll_create1(0);
		ev.data.fd = w->fd;
		if (w->wake < 0 ||
		    epoll_ctl(w->wake, EPOLL_CTL_ADD, w->fd, &ev))
			return -1;
	}
	return w->fd < 0 ? -1 : 0;
}

/* waiter KIND: a thread blocked in that call until waiters-wake. */
int cmd_waiter(int argc, char **argv, char *out, size_t len)
{
	struct waiter *w;

	(void)argc;
	if (n_waiters == WAITERS_MAX) {
		snprintf(out, len, "too many waiters");
		return -1;
	}
	w = &waiters[n_waiters];
	memset(w, 0, sizeof(*w));
	snprintf(w->kind, sizeof(w->kind), "%s", argv[1]);
	if (waiter_setup(w)) {
		snprintf(out, len, "%s: setup: %m", w->kind);
		return -1;
	}
	if (pthread_create(&w->t, NULL, waiter_main, w)) {
		snprintf(out, len, "pthread_create failed");
		return -1;
	}
	n_waiters++;
	snprintf(out, len, "started");
	return 0;
}

static void wake_one(struct waiter *w)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	uint64_t one = 1;
	int c;

	if (!strcmp(w->kind, "nanosleep"))
		return;
	if (!strcmp(w->kind, "accept")) {
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sa.sin_port = htons(w->port);
		c = socket(AF_INET, SOCK_STREAM, 0);
		/* the client end stays open: the program ends soon */
		if (c >= 0)
			connect(c, (struct sockaddr *)&sa, sizeof(sa));
		return;
	}
	/* a failed write shows as "waiting" in the report */
	if (!strcmp(w->kind, "read") || !strcmp(w->kind, "recv")) {
		if (write(w->wake, "x", 1) != 1)
			return;
	} else if (write(w->fd, &one, sizeof(one)) != sizeof(one)) {
		return; /* the eventfd every other kind waits on */
	}
}

/* waiters-wake: wakes each one and gives them 5 s to return. */
int cmd_waiters_wake(int argc, char **argv, char *out, size_t len)
{
	struct timespec end;
	int i;

	(void)argc;
	(void)argv;
	for (i = 0; i < n_waiters; i++)
		if (!atomic_load(&waiters[i].result))
			wake_one(&waiters[i]);
	clock_gettime(CLOCK_REALTIME, &end);
	end.tv_sec += 5;
	for (i = 0; i < n_waiters; i++)
		pthread_timedjoin_np(waiters[i].t, NULL, &end);
	snprintf(out, len, "woken");
	return 0;
}

/* "KIND:eintr=N:RESULT ..." where RESULT is woken, waiting or an errno */
int cmd_waiters_report(int argc, char **argv, char *out, size_t len)
{
	size_t o = 0;
	int i, r;

	(void)argc;
	(void)argv;
	out[0] = '\0';
	for (i = 0; i < n_waiters && o < len; i++) {
		r = atomic_load(&waiters[i].result);
		o += (size_t)snprintf(out + o, len - o, "%s%s:eintr=%u:%s",
				      i ? " " : "", waiters[i].kind,
				      atomic_load(&waiters[i].eintr),
				      r > 0 ? "woken" : r == 0 ? "waiting" :
				      strerrorname_np(-r));
	}
	return 0;
}

/* ---- malloc: threads that live inside the allocator ---- */

static void *malloc_main(void *arg)
{
	void *keep[64] = { 0 };
	unsigned int i = 0;

	(void)arg;
	for (;;) {
		free(keep[i % 64]);
		keep[i % 64] = malloc(16 + (i * 37) % 4000);
		i++;
	}
	return NULL;
}

/* malloc N: N threads that do nothing but malloc and free. */
int cmd_malloc(int argc, char **argv, char *out, size_t len)
{
	long i, n = arg_long(argv[1]);
	pthread_t t;

	(void)argc;
	for (i = 0; i < n; i++)
		if (pthread_create(&t, NULL, malloc_main, NULL)) {
			snprintf(out, len, "pthread_create failed");
			return -1;
		}
	snprintf(out, len, "started");
	return 0;
}
