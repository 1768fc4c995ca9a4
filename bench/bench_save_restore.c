// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * bench_save_restore: what a checkpoint costs per connection.
 *
 * For 1 to 10 000 established loopback connections, with nothing or 4 KiB
 * queued each way (unread in our receive queue; sent but unacknowledged,
 * because the peer drops our segments), it times save (stop + get_si) and
 * restore (set_si + start), with the close a real checkpoint does in
 * between, for TCPCP_EXEC_ALL on a dummy socket and for a loop of
 * TCPCP_EXEC_ONE calls; and it weighs the TCP-SI.  Every run starts from
 * fresh connections: a restored socket is not provably the same as one the
 * kernel built itself (its queues were rebuilt in repair mode), so it is
 * never measured twice.  A figure of a broken path is worthless, so every
 * call's result is checked, the queues are checked after every restore,
 * and after the last run of each configuration both ends read every
 * queued byte.  Runs as root, in a network namespace of its own; prints
 * one table.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench_peer.h"
#include "tcpcp.h"
#include "testnet.h"

#define Q_MAX 4096
#define MAX_CONFIGS 8
#define MAX_RUNS 50
#define WAIT_MS 20000
#define VERIFY_MS 60000
#define RESEND_BATCH 64
#define NOTE_LEN 96
#define MAX_ACCELS 4

enum mode { MODE_ALL, MODE_ONE };

static const char *mode_name(enum mode m);

struct opts {
	unsigned int conns[MAX_CONFIGS], nconns;
	unsigned int runs;
	double budget; /* seconds per configuration */
	bool strace_one;
	bool verbose; /* each run's phases on stderr */
	int only_mode; /* -1: both */
	/* TCPCP_ACCEL values, each configuration run with each in turn (the
	 * first is the baseline of the ratio column); none: as set */
	char *accels[MAX_ACCELS];
	unsigned int naccels;
};

/* One set of connections: ours in fds[], the peer's in a child. */
struct conns {
	unsigned int n;
	size_t q;
	int lfd;
	int *fds;
	struct bpeer peer;
};

struct sample {
	double save, close, restore; /* seconds, all connections */
	unsigned long si_bytes;
};

struct row {
	unsigned int n;
	size_t q;
	enum mode mode;
	const char *accel; /* NULL: TCPCP_ACCEL as the caller set it */
	const struct row *base; /* the same configuration, first accel */
	struct sample s[MAX_RUNS];
	unsigned int runs;
	char note[NOTE_LEN];
};

static __attribute__((format(printf, 1, 2), noreturn)) void
die(const char *fmt, ...)
{
	va_list ap;

	fputs("bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* strace's log shows these writes; bench/strace-one counts between them. */
static void mark(const struct opts *o, const char *what)
{
	char line[64];
	int len;

	if (!o->strace_one)
		return;
	len = snprintf(line, sizeof(line), "tcpcp-bench: MARK %s\n", what);
	if (write(STDERR_FILENO, line, (size_t)len) < 0)
		die("write: %s", strerror(errno));
}

/* Our bytes go out after the peer has blocked: they are sent, and stay
 * unacknowledged. */
static void queue_ours(const struct conns *c)
{
	unsigned int i;

	for (i = 0; i < c->n; i++) {
		int fd = c->fds[i];

		if (!tn_wait_q(fd, tn_inq, (int)c->q, WAIT_MS))
			die("the peer's %zu bytes never arrived", c->q);
		tn_write_pattern(fd, BPEER_RX_SEED(tn_peer_port(fd)), 0, c->q);
	}
	for (i = 0; i < c->n; i++) {
		if (!tn_wait_q(c->fds[i], tn_outq_unsent, 0, WAIT_MS) ||
		    tn_outq(c->fds[i]) != (int)c->q)
			die("our %zu bytes are not in flight", c->q);
	}
}

static void conns_open(struct conns *c, unsigned int n, size_t q)
{
	uint16_t port;
	unsigned int i;

	c->n = n;
	c->q = q;
	c->lfd = tn_listen(AF_INET, &port);
	c->fds = calloc(n, sizeof(*c->fds));
	if (!c->fds)
		die("calloc");
	bpeer_spawn(port, n, q, &c->peer);
	for (i = 0; i < n; i++)
		c->fds[i] = tn_accept(c->lfd);
	bpeer_wait_ready(&c->peer);
	queue_ours(c);
}

/* The restored queues hold what the saved ones held. */
static void conns_check(const struct conns *c, const char *mode)
{
	unsigned int i;

	for (i = 0; i < c->n; i++) {
		int fd = c->fds[i], in = tn_inq(fd), out = tn_outq(fd);

		if (in != (int)c->q || out != (int)c->q)
			die("%s: connection %u restored with %d bytes unread "
			    "and %d unacknowledged, not %zu", mode, i, in, out,
			    c->q);
	}
}

/* One extra byte per connection, a few connections at a time, each batch
 * acknowledged before the next: see bench_peer.h for why it is sent, and
 * a burst of thousands would overflow loopback's backlog in turn. */
static void hurry_resend(const struct conns *c)
{
	unsigned int i, j;

	for (i = 0; i < c->n; i += RESEND_BATCH) {
		unsigned int end = i + RESEND_BATCH < c->n ? i + RESEND_BATCH :
							     c->n;

		for (j = i; j < end; j++)
			tn_write_pattern(c->fds[j],
					 BPEER_RX_SEED(tn_peer_port(c->fds[j])),
					 c->q, BPEER_EXTRA);
		for (j = i; j < end; j++)
			if (!tn_wait_q(c->fds[j], tn_outq, 0, VERIFY_MS))
				die("after restore, connection %u: our bytes "
				    "were never acknowledged", j);
	}
}

/* Both ends read every queued byte: the peer ours, we the peer's. */
static void conns_verify(struct conns *c)
{
	struct xfer *x = calloc(c->n, sizeof(*x));
	char err[300], perr[300];
	unsigned int i;

	if (!x)
		die("calloc");
	bpeer_verify_begin(&c->peer);
	hurry_resend(c);
	for (i = 0; i < c->n; i++) {
		tn_set_nonblock(c->fds[i], true);
		x[i] = (struct xfer){
			.fd = c->fds[i],
			.rx_seed = BPEER_TX_SEED(tn_peer_port(c->fds[i])),
			.rx_end = c->q,
		};
	}
	if (xfer_pump(x, c->n, VERIFY_MS, err, sizeof(err)) ||
	    xfer_quiet(x, c->n, err, sizeof(err)))
		die("after restore, our side: %s", err);
	if (bpeer_verdict(&c->peer, perr, sizeof(perr)))
		die("after restore, the peer: %s", perr);
	free(x);
}

static void conns_close(struct conns *c)
{
	unsigned int i;

	bpeer_kill(&c->peer); /* its resets first: we then leave no FIN */
	for (i = 0; i < c->n; i++)
		close(c->fds[i]);
	close(c->lfd);
	free(c->fds);
}

/* A call's result list must name every socket, none failed; it is
 * freed here, so the next call can fill in the same pointer. */
static void expect(int rc, struct result_list **rlp, const char *what,
		   unsigned int n)
{
	struct result_list *rl = *rlp;

	*rlp = NULL;
	if (rc != TCPCP_RET_OK)
		die("%s: %s (%s)", what, strerror(errno),
		    tcpcp_strerror_detail());
	if (!rl || rl->fd_ng || rl->fd_all != n)
		die("%s: %u of %u sockets failed, %u expected", what,
		    rl ? rl->fd_ng : 0, rl ? rl->fd_all : 0, n);
	free(rl);
}

static void take_fds(struct conns *c, struct result_list *rl)
{
	unsigned int i;

	for (i = 0; rl && i < rl->fd_all && i < c->n; i++)
		c->fds[i] = rl->fdrs[i].result;
}

static void measure_all(struct conns *c, const struct opts *o,
			struct sample *s)
{
	int dummy = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), rc;
	struct result_list *rl = NULL;
	unsigned int size = 0;
	void *buf = NULL;
	double t0, t1, t2;

	if (dummy < 0)
		die("socket: %s", strerror(errno));
	mark(o, "save");
	t0 = now_s();
	rc = tcpcp_stop(dummy, TCPCP_EXEC_ALL, &rl);
	expect(rc, &rl, "stop(ALL)", c->n);
	rc = tcpcp_get_si(dummy, TCPCP_EXEC_ALL, &buf, &size, &rl);
	expect(rc, &rl, "get_si(ALL)", c->n);
	mark(o, "close");
	t1 = now_s();
	rc = tcpcp_close(dummy, &rl);
	expect(rc, &rl, "close(ALL)", c->n);
	mark(o, "restore");
	t2 = now_s();
	rc = tcpcp_set_si(dummy, TCPCP_EXEC_ALL, buf, size, &rl);
	take_fds(c, rl);
	expect(rc, &rl, "set_si(ALL)", c->n);
	rc = tcpcp_start(dummy, TCPCP_EXEC_ALL, &rl);
	expect(rc, &rl, "start(ALL)", c->n);
	*s = (struct sample){ t1 - t0, t2 - t1, now_s() - t2, size };
	mark(o, "end");
	free(buf);
	close(dummy);
}

static double save_one(struct conns *c, void **bufs, unsigned int *sizes)
{
	struct result_list *rl = NULL;
	double t0 = now_s();
	unsigned int i;
	int rc;

	for (i = 0; i < c->n; i++) {
		rc = tcpcp_stop(c->fds[i], TCPCP_EXEC_ONE, &rl);
		expect(rc, &rl, "stop(ONE)", 1);
	}
	for (i = 0; i < c->n; i++) {
		rc = tcpcp_get_si(c->fds[i], TCPCP_EXEC_ONE, &bufs[i],
				  &sizes[i], &rl);
		expect(rc, &rl, "get_si(ONE)", 1);
	}
	return now_s() - t0;
}

/* The fresh socket a program makes for each connection is part of the
 * restore's cost; EXEC_ALL makes its own inside set_si. */
static double restore_one(struct conns *c, void **bufs, unsigned int *sizes)
{
	struct result_list *rl = NULL;
	double t0 = now_s();
	unsigned int i;
	int rc;

	for (i = 0; i < c->n; i++) {
		c->fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c->fds[i] < 0)
			die("socket: %s", strerror(errno));
		rc = tcpcp_set_si(c->fds[i], TCPCP_EXEC_ONE, bufs[i], sizes[i],
				  &rl);
		expect(rc, &rl, "set_si(ONE)", 1);
	}
	for (i = 0; i < c->n; i++) {
		rc = tcpcp_start(c->fds[i], TCPCP_EXEC_ONE, &rl);
		expect(rc, &rl, "start(ONE)", 1);
	}
	return now_s() - t0;
}

static void measure_one(struct conns *c, struct sample *s)
{
	void **bufs = calloc(c->n, sizeof(*bufs));
	unsigned int *sizes = calloc(c->n, sizeof(*sizes)), i;
	struct result_list *rl = NULL;
	double t0;

	if (!bufs || !sizes)
		die("calloc");
	s->save = save_one(c, bufs, sizes);
	t0 = now_s();
	for (i = 0; i < c->n; i++) {
		int rc = tcpcp_close(c->fds[i], &rl);

		expect(rc, &rl, "close(ONE)", 1);
	}
	s->close = now_s() - t0;
	s->restore = restore_one(c, bufs, sizes);
	s->si_bytes = 0;
	for (i = 0; i < c->n; i++) {
		s->si_bytes += sizes[i];
		free(bufs[i]);
	}
	free(bufs);
	free(sizes);
}

/* One run on fresh connections; the last of a configuration also has
 * both ends read every queued byte. */
static void run_once(struct row *r, const struct opts *o, bool last)
{
	double t[5];
	struct conns c;

	t[0] = now_s();
	conns_open(&c, r->n, r->q);
	t[1] = now_s();
	if (r->mode == MODE_ALL)
		measure_all(&c, o, &r->s[r->runs]);
	else
		measure_one(&c, &r->s[r->runs]);
	conns_check(&c, mode_name(r->mode));
	t[2] = now_s();
	if (last)
		conns_verify(&c);
	t[3] = now_s();
	conns_close(&c);
	t[4] = now_s();
	r->runs++;
	if (o->verbose)
		fprintf(stderr, "bench: run: open %.2f s, measure %.2f s, "
			"verify %.2f s, close %.2f s\n", t[1] - t[0],
			t[2] - t[1], t[3] - t[2], t[4] - t[3]);
}

/* Runs until o->runs, or until another would overrun the budget; the
 * last one (known in advance, since it verifies) stays within it. */
static void run_config(struct row *r, const struct opts *o)
{
	double begin = now_s(), per_run = 0;
	bool last = false;

	while (!last) {
		double elapsed = now_s() - begin;

		last = r->runs + 1 == o->runs ||
		       (r->runs && elapsed + 2 * per_run > o->budget);
		run_once(r, o, last);
		per_run = (now_s() - begin) / r->runs;
	}
	if (r->runs < o->runs)
		snprintf(r->note, sizeof(r->note),
			 "%u runs only: %g s budget", r->runs, o->budget);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* One field of every run, sorted, in µs per connection; the median. */
static double stat_sorted(const struct row *r, size_t field, double *v)
{
	unsigned int i, k = r->runs;

	for (i = 0; i < k; i++)
		v[i] = *(const double *)((const char *)&r->s[i] + field) * 1e6 /
		       r->n;
	qsort(v, k, sizeof(*v), cmp_double);
	return k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
}

/* Median [min–max] of one field, in µs per connection. */
static void stat_cell(const struct row *r, size_t field, char *out,
		      size_t len)
{
	double v[MAX_RUNS], med = stat_sorted(r, field, v);

	snprintf(out, len, "%.1f [%.1f–%.1f]", med, v[0], v[r->runs - 1]);
}

/* Save and restore against the baseline's: ratios of the medians. */
static void ratio_cell(const struct row *r, char *out, size_t len)
{
	double v[MAX_RUNS], s, rs, bs, brs;

	if (!r->base || r->base == r) {
		snprintf(out, len, "%s", r->base ? "1×, 1×" : "–");
		return;
	}
	s = stat_sorted(r, offsetof(struct sample, save), v);
	rs = stat_sorted(r, offsetof(struct sample, restore), v);
	bs = stat_sorted(r->base, offsetof(struct sample, save), v);
	brs = stat_sorted(r->base, offsetof(struct sample, restore), v);
	snprintf(out, len, "%.2f×, %.2f×", s / bs, rs / brs);
}

enum {
	COL_N, COL_Q, COL_MODE, COL_ACCEL, COL_SAVE, COL_RESTORE, COL_CLOSE,
	COL_RATIO, COL_SI, COL_RUNS, NCOLS
};

static const char *const heads[NCOLS] = {
	"connections", "queued each way", "mode", "accel",
	"save µs/conn", "restore µs/conn", "close µs/conn",
	"save, restore vs first accel", "TCP-SI bytes/conn", "runs",
};

static void row_cells(const struct row *r, char cells[NCOLS][64])
{
	snprintf(cells[COL_N], 64, "%u", r->n);
	snprintf(cells[COL_Q], 64, "%zu B", r->q);
	snprintf(cells[COL_MODE], 64, "%s",
		 r->mode == MODE_ALL ? "EXEC_ALL" : "EXEC_ONE loop");
	snprintf(cells[COL_ACCEL], 64, "%s", r->accel ? r->accel :
		 getenv("TCPCP_ACCEL") && *getenv("TCPCP_ACCEL") ?
		 getenv("TCPCP_ACCEL") : "auto");
	ratio_cell(r, cells[COL_RATIO], 64);
	stat_cell(r, offsetof(struct sample, save), cells[COL_SAVE], 64);
	stat_cell(r, offsetof(struct sample, restore), cells[COL_RESTORE], 64);
	stat_cell(r, offsetof(struct sample, close), cells[COL_CLOSE], 64);
	snprintf(cells[COL_SI], 64, "%lu", r->s[0].si_bytes / r->n);
	snprintf(cells[COL_RUNS], 64, "%u%s", r->runs, r->note[0] ? " *" : "");
}

/* printf pads bytes, not characters: µ and – are two and three. */
static size_t width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

static void print_line(char cells[NCOLS][64], const size_t *w)
{
	int i;

	for (i = 0; i < NCOLS; i++) {
		size_t pad = w[i] - width(cells[i]);

		/* numbers right-aligned, words left */
		bool left = i == COL_MODE || i == COL_ACCEL;

		printf("| %*s%s%*s ", left ? 0 : (int)pad, "", cells[i],
		       left ? (int)pad : 0, "");
	}
	printf("|\n");
}

static void print_rule(const size_t *w)
{
	int i;
	size_t k;

	for (i = 0; i < NCOLS; i++) {
		bool left = i == COL_MODE || i == COL_ACCEL;

		printf(left ? "|:" : "|-");
		for (k = 0; k < w[i]; k++)
			putchar('-');
		printf(left ? "-" : ":");
	}
	printf("|\n");
}

static void print_footer(const struct row *rows, unsigned int nrows);

static void print_table(const struct row *rows, unsigned int nrows)
{
	char (*cells)[NCOLS][64] = calloc(nrows + 1, sizeof(*cells));
	size_t w[NCOLS] = { 0 };
	unsigned int i;
	int j;

	if (!cells)
		die("calloc");
	for (j = 0; j < NCOLS; j++)
		snprintf(cells[0][j], 64, "%s", heads[j]);
	for (i = 0; i < nrows; i++)
		row_cells(&rows[i], cells[i + 1]);
	for (i = 0; i <= nrows; i++)
		for (j = 0; j < NCOLS; j++)
			if (width(cells[i][j]) > w[j])
				w[j] = width(cells[i][j]);
	print_line(cells[0], w);
	print_rule(w);
	for (i = 1; i <= nrows; i++)
		print_line(cells[i], w);
	free(cells);
	print_footer(rows, nrows);
}

static void print_footer(const struct row *rows, unsigned int nrows)
{
	const char *hold = getenv("TCPCP_HOLD_SECONDS");
	struct utsname u;
	unsigned int i;

	for (i = 0; i < nrows; i++)
		if (rows[i].note[0])
			printf("* %u connections, %zu B, %s: %s\n", rows[i].n,
			       rows[i].q, mode_name(rows[i].mode),
			       rows[i].note);
	if (!hold || !*hold)
		hold = "120";
	printf("\nsave = stop + get_si; restore = set_si + start (EXEC_ONE: "
	       "and socket()); close = tcpcp_close, between them.  Median "
	       "[min–max] over runs, fresh connections each run, the hold %s "
	       "(nftables, TCPCP_HOLD_SECONDS=%s).\n",
	       strcmp(hold, "0") ? "on" : "off", hold);
	uname(&u);
	printf("Reproduce: bench/run  (kernel %s, backend %s)\n", u.release,
	       tcpcp_backend_name());
}

static void usage(void)
{
	fprintf(stderr,
		"usage: bench_save_restore [--quick] [--runs N] [--budget S]\n"
		"         [--conns N[,N...]] [--mode all|one] [--strace-one]\n"
		"         [--accel A]... [--verbose]\n"
		"--accel, repeated: each configuration with each TCPCP_ACCEL value\n"
		"in turn (--accel none --accel bpf,uring), the first the baseline\n"
		"of the ratios\n");
	exit(2);
}

static void parse_conns(struct opts *o, char *list)
{
	char *tok, *save = NULL;

	o->nconns = 0;
	for (tok = strtok_r(list, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		long v = strtol(tok, NULL, 10);

		if (v < 1 || v > 20000 || o->nconns == MAX_CONFIGS)
			usage();
		o->conns[o->nconns++] = (unsigned int)v;
	}
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "runs", required_argument, NULL, 'r' },
		{ "budget", required_argument, NULL, 'b' },
		{ "conns", required_argument, NULL, 'c' },
		{ "strace-one", no_argument, NULL, 's' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "mode", required_argument, NULL, 'm' },
		{ "accel", required_argument, NULL, 'a' },
		{ 0 },
	};
	char list[] = "1,100,1000,10000", quick[] = "1,100";
	int c;

	*o = (struct opts){ .runs = 7, .budget = 90, .only_mode = -1 };
	parse_conns(o, list);
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (c == 'q') {
			parse_conns(o, quick);
			o->runs = 3;
		} else if (c == 'r') {
			o->runs = (unsigned int)strtoul(optarg, NULL, 10);
		} else if (c == 'b') {
			o->budget = strtod(optarg, NULL);
		} else if (c == 'c') {
			parse_conns(o, optarg);
		} else if (c == 's') {
			o->strace_one = true;
		} else if (c == 'v') {
			o->verbose = true;
		} else if (c == 'a' && o->naccels < MAX_ACCELS) {
			o->accels[o->naccels++] = optarg;
		} else if (c == 'm' && !strcmp(optarg, "all")) {
			o->only_mode = MODE_ALL;
		} else if (c == 'm' && !strcmp(optarg, "one")) {
			o->only_mode = MODE_ONE;
		} else {
			usage();
		}
	}
	if (optind != argc || o->runs < 1 || o->runs > MAX_RUNS)
		usage();
}

static unsigned int max_conns(const struct opts *o)
{
	unsigned int i, m = 0;

	for (i = 0; i < o->nconns; i++)
		if (o->conns[i] > m)
			m = o->conns[i];
	return m;
}

/* The first call in a namespace creates the hold's nftables table and
 * probes the backend: a cost no later checkpoint pays, kept out of the
 * figures. */
static void setup(const struct opts *o)
{
	struct opts quiet = *o;
	struct row warm = { .n = 1, .q = Q_MAX, .mode = MODE_ALL };

	signal(SIGPIPE, SIG_IGN);
	if (geteuid())
		die("run as root: TCP_REPAIR and a network namespace need it");
	testnet_enter();
	if (!testnet_nofile(max_conns(o) + 256))
		die("RLIMIT_NOFILE cannot reach %u (hard limit too low)",
		    max_conns(o) + 256);
	if (!tcpcp_backend_name())
		die("no backend: %s", tcpcp_strerror_detail());
	quiet.strace_one = false;
	run_once(&warm, &quiet, true);
}

/* One EXEC_ALL save and restore, between marks, for bench/strace-one. */
static int strace_one(const struct opts *o)
{
	struct row r = { .n = o->conns[0], .q = Q_MAX, .mode = MODE_ALL };

	run_once(&r, o, true);
	fprintf(stderr, "tcpcp-bench: %u connections, %zu B each way: "
		"restored and verified\n", r.n, r.q);
	return 0;
}

static const char *mode_name(enum mode m)
{
	return m == MODE_ALL ? "EXEC_ALL" : "EXEC_ONE";
}

/* One configuration with each accel in turn (the first is the base). */
static unsigned int run_accels(const struct opts *o, struct row *rows,
			       const struct row *proto)
{
	unsigned int a, n = o->naccels ? o->naccels : 1;

	for (a = 0; a < n; a++) {
		struct row *r = &rows[a];
		double t0 = now_s();

		*r = *proto;
		if (o->naccels) {
			r->accel = o->accels[a];
			r->base = &rows[0];
			setenv("TCPCP_ACCEL", r->accel, 1);
		}
		run_config(r, o);
		fprintf(stderr, "bench: %u connections, %zu B, %s%s%s: %u runs "
			"in %.1f s\n", r->n, r->q, mode_name(r->mode),
			r->accel ? ", accel " : "", r->accel ? r->accel : "",
			r->runs, now_s() - t0);
	}
	return n;
}

/* Every configuration, smallest first; returns how many rows. */
static unsigned int run_all(const struct opts *o, struct row *rows)
{
	static const size_t qs[] = { 0, Q_MAX };
	unsigned int i, j, k = 0;
	int m;

	for (i = 0; i < o->nconns; i++)
		for (j = 0; j < 2; j++)
			for (m = MODE_ALL; m <= MODE_ONE; m++) {
				struct row proto = { .n = o->conns[i],
						     .q = qs[j],
						     .mode = (enum mode)m };

				if (o->only_mode >= 0 && m != o->only_mode)
					continue;
				k += run_accels(o, &rows[k], &proto);
			}
	return k;
}

int main(int argc, char **argv)
{
	static struct row rows[MAX_CONFIGS * 4 * MAX_ACCELS];
	unsigned int nrows;
	struct opts o;

	parse_opts(argc, argv, &o);
	setup(&o);
	if (o.strace_one)
		return strace_one(&o);
	nrows = run_all(&o, rows);
	print_table(rows, nrows);
	return 0;
}
