// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * kmod-ioctl-fuzz [SECONDS [SEED]]: throws random and mutated arguments at
 * /dev/tcpcp2 for a bounded time (default 20 s), as root and, in a child,
 * without CAP_NET_ADMIN.  It passes when it finishes; what it is really
 * checked by is the kernel: the VM boots with panic_on_warn=1 and its log
 * must stay free of oopses, warnings and KASAN-style reports.
 *
 * Inputs: garbage structs and pointers (NULL, unmapped, kernel addresses,
 * short buffers); valid calls with one field mutated; TCP-SIs taken from
 * real connections, mutated as bytes (mostly refused by the codec) and as
 * decoded fields re-encoded with the codec (accepted by it, so the
 * module's own checks and the kernel's TCP_REPAIR paths get them).  Only
 * loopback is ever involved, in a network namespace of its own.
 *
 * Build: cc -O2 -static -Wall -I include -I lib kmod/tests/kmod_ioctl_fuzz.c
 * (the TCP-SI codec is compiled in, below, as tcpcp2.ko compiles it).
 */
#define _GNU_SOURCE
#include <linux/capability.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "kmod_common.h"
#include "si_codec.c" /* lib/: the codec itself, for re-encoding */

#define MAX_SI (1u << 20)
#define MAX_OPEN 400

static int dev;
static uint64_t rng_state;
static void *unmapped;
static unsigned long n_calls, n_ok, n_restored;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static uint32_t below(uint32_t n)
{
	return n ? (uint32_t)(rnd() % n) : 0;
}

static const unsigned long cmds[] = {
	TCPCP_IOC_VERSION, TCPCP_IOC_STOP,  TCPCP_IOC_GET_SI, TCPCP_IOC_SET_SI,
	TCPCP_IOC_START,   TCPCP_IOC_CLOSE, TCPCP_IOC_HOLD,
};
#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

/* Seeds: TCP-SIs of real connections, ESTABLISHED and half-closed. */
static struct {
	uint8_t *buf;
	unsigned int len;
} seeds[8];
static unsigned int nseeds;

static void seed_add(int fd)
{
	struct call c;
	void *si;
	unsigned int len;

	if (nseeds < 8 && !get_si(dev, fd, 0, &si, &len, &c)) {
		seeds[nseeds].buf = si;
		seeds[nseeds++].len = len;
	}
}

/* Live connections to stop, read and close; replenished as they go. */
static void make_pairs(void)
{
	static const int fam[] = { AF_INET, AF_INET6 };
	int i, c, s;

	for (i = 0; i < 4; i++) {
		if (pair(fam[i & 1], &c, &s))
			continue;
		send(c, "hello", 5, MSG_DONTWAIT);
		send(s, "olleh world", 11, MSG_DONTWAIT);
		if (i == 2)
			shutdown(c, SHUT_WR);
		if (i == 3)
			shutdown(s, SHUT_WR);
		fcntl(c, F_SETFL, O_NONBLOCK);
		fcntl(s, F_SETFL, O_NONBLOCK);
		usleep(2000);
		seed_add(s);
	}
}

/* Keeps the descriptor table bounded: closes the newest sockets. */
static void trim_fds(void)
{
	struct rlimit rl;
	int fd, open_n = 0;

	getrlimit(RLIMIT_NOFILE, &rl);
	for (fd = 3; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			open_n++;
	if (open_n < MAX_OPEN)
		return;
	for (fd = 1023; fd > 3 && open_n > MAX_OPEN / 2; fd--) {
		if (fd == dev || fcntl(fd, F_GETFD) < 0)
			continue;
		close(fd);
		open_n--;
	}
}

/* A descriptor worth calling on: often a real socket, sometimes not. */
static int some_fd(void)
{
	static const int odd[] = { -1, 0, 1, 2, 1023, 65535, 0x7fffffff };
	int fd;

	switch (below(8)) {
	case 0:
		return odd[below(7)];
	case 1:
		return dev;
	case 2:
		return socket(below(2) ? AF_INET : AF_INET6, SOCK_STREAM, 0);
	default:
		for (fd = 3 + below(60); fd < 1024; fd++)
			if (fcntl(fd, F_GETFD) >= 0 && fd != dev)
				return fd;
		return 3;
	}
}

static uint64_t some_ptr(void *good, size_t good_len, size_t *len)
{
	static uint8_t tiny[8];

	switch (below(10)) {
	case 0:
		*len = below(64);
		return 0;
	case 1:
		*len = 4096;
		return (uintptr_t)unmapped;
	case 2:
		*len = 4096;
		return 0xffff888000000000ull; /* the kernel's direct map */
	case 3:
		*len = sizeof(tiny) + below(4096);
		return (uintptr_t)tiny;
	case 4:
		*len = rnd();
		return rnd();
	default:
		*len = good_len;
		return (uintptr_t)good;
	}
}

static int do_ioctl(unsigned long cmd, void *arg)
{
	int r = ioctl(dev, cmd, arg);

	n_calls++;
	if (!r)
		n_ok++;
	return r;
}

static void random_struct(void)
{
	uint8_t buf[256];
	unsigned int i;
	unsigned long cmd = cmds[below(NCMDS)];

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)rnd();
	if (below(2)) { /* plausible header, garbage after */
		struct tcpcp_ioc_call *a = (void *)buf;

		a->size = sizeof(*a);
		a->version = TCPCP_IOCTL_VERSION;
	}
	if (below(8) == 0) /* another ioctl number altogether */
		cmd = _IOC(below(4), 'T', below(256), below(512));
	do_ioctl(cmd, below(16) ? (void *)buf : (void *)(uintptr_t)rnd());
}

static struct tcpcp_ioc_result results[1024];
static uint8_t si_room[MAX_SI];

/* A valid call with the odd field changed. */
static void mutated_call(void)
{
	struct tcpcp_ioc_call a = { .size = sizeof(a),
				    .version = TCPCP_IOCTL_VERSION };
	unsigned long cmd = cmds[1 + below(NCMDS - 1)];
	size_t len;

	a.fd = some_fd();
	a.flags = below(3) ? (uint32_t)below(8) : (uint32_t)rnd();
	if (cmd == TCPCP_IOC_CLOSE && below(2))
		a.flags = 0;
	if (a.flags & TCPCP_IOC_F_HOLD)
		a.hold_seconds = below(4) ? below(5) : (uint32_t)rnd();
	a.results = some_ptr(results, sizeof(results) / sizeof(results[0]),
			     &len);
	a.results_cap = below(4) ? (uint32_t)len : (uint32_t)rnd();
	if (cmd == TCPCP_IOC_HOLD && below(2))
		a.fd = -1;
	if (cmd == TCPCP_IOC_GET_SI || cmd == TCPCP_IOC_SET_SI ||
	    cmd == TCPCP_IOC_HOLD) {
		a.si = some_ptr(si_room, sizeof(si_room), &len);
		a.si_size = (uint32_t)len;
		if (cmd != TCPCP_IOC_GET_SI && nseeds && below(2)) {
			unsigned int k = below(nseeds);

			memcpy(si_room, seeds[k].buf, seeds[k].len);
			a.si = (uintptr_t)si_room;
			a.si_size = below(4) ? seeds[k].len : below(MAX_SI);
		}
	}
	switch (below(12)) {
	case 0:
		a.size = (uint32_t)rnd();
		break;
	case 1:
		a.version = below(3);
		break;
	case 2:
		a.reserved[below(4)] = rnd();
		break;
	case 3:
		a.results_count = (uint32_t)rnd();
		break;
	}
	do_ioctl(cmd, &a);
	if (cmd == TCPCP_IOC_SET_SI && !below(4))
		trim_fds();
}

/* Byte-level mutations of a real TCP-SI: the codec's territory. */
static unsigned int mutate_bytes(uint8_t *b, unsigned int len)
{
	static const uint32_t magic[] = { 0, 1, 0x7fffffff, 0x80000000,
					  0xffffffff, 0xffff, 0x10000, 4 };
	unsigned int i, n = 1 + below(6);

	for (i = 0; i < n && len; i++) {
		unsigned int at = below(len);

		switch (below(5)) {
		case 0:
			b[at] ^= (uint8_t)(1u << below(8));
			break;
		case 1:
			b[at] = (uint8_t)rnd();
			break;
		case 2:
			if (at + 4 <= len) {
				uint32_t v = htonl(magic[below(8)]);

				memcpy(b + (at & ~3u), &v, 4);
			}
			break;
		case 3:
			len = below(len + 1) & ~3u;
			break;
		default:
			if (len + 64 <= MAX_SI) {
				memset(b + len, (int)rnd(), 64);
				len += 64;
			}
		}
	}
	return len;
}

/* Field-level mutations, re-encoded: well-formed TCP-SIs that say odd
 * things. */
static void mutate_conn(struct tcpcp_conn *c)
{
	uint32_t d = (uint32_t)rnd();

	switch (below(14)) {
	case 0: /* the whole connection at other sequence numbers */
		c->snd_nxt += d;
		c->sndq_seq += d;
		c->rcv_nxt += d;
		c->rcvq_seq += d;
		c->window.snd_wl1 += d;
		c->window.rcv_wup += d;
		break;
	case 1:
		c->window.snd_wnd = (uint32_t)rnd() >> below(32);
		c->window.max_window = (uint32_t)rnd() >> below(32);
		c->window.rcv_wnd = (uint32_t)rnd() >> below(32);
		break;
	case 2:
		c->snd_wscale = below(15);
		c->rcv_wscale = below(15);
		c->tcp_opts = below(16);
		break;
	case 3:
		c->mss_clamp = below(3) ? below(70000) : 0;
		c->snd_mss = (uint16_t)rnd();
		break;
	case 4:
		c->ts_gen = (uint32_t)rnd();
		c->ts_recent = (uint32_t)rnd();
		break;
	case 5:
		c->local_port = (uint16_t)rnd();
		c->peer_port = (uint16_t)rnd();
		break;
	case 6: /* other loopback addresses, or none we have */
		if (c->ip_version == 4)
			c->peer_addr[3] = (uint8_t)rnd();
		else
			c->peer_addr[below(16)] = (uint8_t)rnd();
		if (!below(4))
			c->local_addr[below(4)] ^= (uint8_t)rnd();
		break;
	case 7:
		c->ttl = (uint8_t)rnd();
		c->tos = (uint8_t)rnd();
		c->pmtudisc = below(8);
		c->priority = (uint32_t)rnd() >> below(32);
		break;
	case 8:
		c->sndbuf = (uint32_t)rnd();
		c->rcvbuf = (uint32_t)rnd();
		c->userlocks = below(4);
		c->l_linger = (uint32_t)rnd();
		c->sk_flags = below(8);
		break;
	case 9:
		c->keepcnt = (uint8_t)rnd();
		c->keepidle = (uint16_t)rnd();
		c->keepintvl = (uint16_t)rnd();
		c->nonagle = (uint8_t)rnd();
		break;
	case 10:
		if (c->nxopts) {
			struct tcpcp_xopt *x = &c->xopts[below(c->nxopts)];

			x->val[below(x->len ? x->len : 1)] = (uint8_t)rnd();
			if (x->len == 4 && below(2))
				memset(x->val, 0xff, 4);
		}
		break;
	case 11:
		c->scope_id = below(8);
		snprintf(c->ifname, sizeof(c->ifname), below(2) ? "lo" : "x%u",
			 below(100));
		break;
	case 12:
		c->has_window = below(2);
		c->fd_flags = below(4);
		break;
	default:
		c->unsent = c->sndq_len ? below(c->sndq_len + 1) : 0;
		c->snd_nxt = c->sndq_seq + c->sndq_len - c->unsent;
	}
}

static unsigned int reencode(const uint8_t *seed, unsigned int len,
			     uint8_t *out)
{
	uint32_t off = TCPCP_SI_TOTAL_HDR_LEN, size;
	static uint8_t q[2][MAX_SI];
	struct tcpcp_conn c;
	unsigned int i, n = 1 + below(3);

	if (si_decode_conn(seed, len, &off, &c))
		return 0;
	si_queue_gather(&c, TCPCP_SIE_BUF_SND, q[0]);
	si_queue_gather(&c, TCPCP_SIE_BUF_RCV, q[1]);
	c.sndq = q[0];
	c.rcvq = q[1];
	for (i = 0; i < n; i++)
		mutate_conn(&c);
	size = si_conn_size(&c);
	if (size + TCPCP_SI_TOTAL_HDR_LEN > MAX_SI)
		return 0;
	si_encode_total(out, size + TCPCP_SI_TOTAL_HDR_LEN, 1);
	si_encode_conn(out + TCPCP_SI_TOTAL_HDR_LEN, &c);
	return size + TCPCP_SI_TOTAL_HDR_LEN;
}

static uint8_t work[MAX_SI];

/* set_si of a mutated TCP-SI; what it rebuilds is started or closed. */
static void mutated_si(void)
{
	unsigned int k, len, flags = below(2) ? TCPCP_IOC_F_ALL : 0, i;
	int fd = socket(below(2) ? AF_INET : AF_INET6, SOCK_STREAM, 0);
	struct call c;

	if (!nseeds || fd < 0) {
		close(fd);
		return;
	}
	k = below(nseeds);
	if (below(2)) {
		len = reencode(seeds[k].buf, seeds[k].len, work);
	} else {
		memcpy(work, seeds[k].buf, seeds[k].len);
		len = mutate_bytes(work, seeds[k].len);
	}
	n_calls++;
	if (ioc(dev, TCPCP_IOC_SET_SI, fd, flags, work, len, &c)) {
		close(fd);
		return;
	}
	n_ok++;
	n_restored++;
	for (i = 0; i < c.a.results_count; i++) {
		int nfd = c.res[i].result;

		if (nfd < 0)
			continue;
		if (below(2))
			ioc(dev, TCPCP_IOC_START, nfd, below(2) ?
			    TCPCP_IOC_F_NOPROBE : 0, NULL, 0, &c);
		if (below(4))
			close(nfd);
	}
	if (flags)
		close(fd);
}

/* Valid calls on real sockets, ONE and ALL, to keep the state moving. */
static void real_calls(void)
{
	static const unsigned long ops[] = { TCPCP_IOC_STOP, TCPCP_IOC_GET_SI,
					     TCPCP_IOC_START, TCPCP_IOC_CLOSE };
	unsigned long cmd = ops[below(4)];
	unsigned int flags = cmd != TCPCP_IOC_CLOSE && below(3) == 0 ?
			     TCPCP_IOC_F_ALL : 0;
	struct call c;
	int fd = some_fd();

	n_calls++;
	if (!ioc(dev, cmd, fd, flags, cmd == TCPCP_IOC_GET_SI ? si_room : NULL,
		 cmd == TCPCP_IOC_GET_SI ? sizeof(si_room) : 0, &c))
		n_ok++;
	if (!below(20))
		make_pairs();
}

static int drop_net_admin(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return -1;
	d[CAP_NET_ADMIN / 32].effective &= ~(1u << (CAP_NET_ADMIN % 32));
	d[CAP_NET_ADMIN / 32].permitted &= ~(1u << (CAP_NET_ADMIN % 32));
	return syscall(SYS_capset, &h, d) ? -1 : 0;
}

static void run(double seconds)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	make_pairs();
	do {
		switch (below(10)) {
		case 0:
		case 1:
			random_struct();
			break;
		case 2:
		case 3:
		case 4:
			mutated_call();
			break;
		case 5:
		case 6:
		case 7:
			mutated_si();
			break;
		default:
			real_calls();
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (t.tv_sec - t0.tv_sec + (t.tv_nsec - t0.tv_nsec) / 1e9 < seconds);
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 20;
	pid_t pid;
	int st;

	if (argc > 1 && !strcmp(argv[1], "--help")) {
		printf("usage: %s [SECONDS [SEED]]\n", argv[0]);
		return 0;
	}
	rng_state = argc > 2 ? strtoull(argv[2], NULL, 0) :
			       (uint64_t)time(NULL) * 2654435761u;
	rng_state |= 1;
	printf("seed %llu, %.0f s\n", (unsigned long long)rng_state, seconds);
	dev = dev_open();
	if (dev < 0) {
		printf("SKIP: %s: %s\n", TCPCP_DEVICE, strerror(errno));
		return 77;
	}
	if (netns_enter()) {
		perror("netns");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	unmapped = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
			-1, 0);
	/* a quarter of the time without CAP_NET_ADMIN, in a child */
	pid = fork();
	if (!pid) {
		rng_state = rng_state * 31 + 7;
		if (drop_net_admin())
			_exit(2);
		run(seconds / 4);
		printf("unprivileged: %lu calls, %lu succeeded\n", n_calls, n_ok);
		_exit(0);
	}
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		printf("the unprivileged child failed: status %d\n", st);
		return 1;
	}
	run(seconds * 3 / 4);
	printf("root: %lu calls, %lu succeeded, %lu set_si rebuilt sockets\n",
	       n_calls, n_ok, n_restored);
	return 0;
}
