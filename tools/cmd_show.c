// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * tcpcp show IMAGE [--json]: what a checkpoint image holds, one row per
 * connection in the manner of `ss -tn`, or as one JSON object.
 *
 * The image is read with image_read(), so show refuses exactly what a
 * restore would refuse, with the same reason.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "image.h"
#include "si_codec.h"
#include "tool.h"

/* linux/tcp.h's TCPI_OPT_* */
#define OPT_TIMESTAMPS 1
#define OPT_SACK 2
#define OPT_WSCALE 4
#define OPT_ECN 8

enum col {
	COL_KIND, COL_STATE, COL_RECVQ, COL_SENDQ, COL_UNSENT, COL_LOCAL,
	COL_PEER, COL_FD, COL_SND_NXT, COL_RCV_NXT, COL_OPTS, COL_LISTENER,
	N_COLS
};

static const char *const col_names[N_COLS] = {
	"Kind", "State", "Recv-Q", "Send-Q", "Unsent", "Local Address:Port",
	"Peer Address:Port", "Fd", "Snd-Nxt", "Rcv-Nxt", "Options",
	"Listener",
};

/* An address and its port, with room for an IPv6 scope's device name. */
#define CELL_MAX 96

struct row {
	char cell[N_COLS][CELL_MAX];
};

struct shown {
	const char *path;
	struct image img;
	struct tcpcp_conn *conns;
};

/* The names ss(8) prints. */
static const char *state_name(uint8_t state)
{
	static const char *const names[] = {
		[1] = "ESTAB",       [2] = "SYN-SENT",   [3] = "SYN-RECV",
		[4] = "FIN-WAIT-1",  [5] = "FIN-WAIT-2", [6] = "TIME-WAIT",
		[7] = "UNCONN",      [8] = "CLOSE-WAIT", [9] = "LAST-ACK",
		[10] = "LISTEN",     [11] = "CLOSING",
	};

	if (state < sizeof(names) / sizeof(names[0]) && names[state])
		return names[state];
	return "UNKNOWN";
}

static const char *kind_name(uint8_t kind)
{
	return kind == IMAGE_KIND_ACCEPTED ? "accepted" : "connected";
}

/* "192.0.2.1:80", "[2001:db8::1]:80", "[fe80::1%eth0]:80". */
static void fmt_addr(char *buf, size_t len, int af, const void *addr,
		     uint16_t port, uint32_t scope, const char *ifname)
{
	char a[INET6_ADDRSTRLEN] = "?";

	inet_ntop(af, addr, a, sizeof(a));
	if (af == AF_INET)
		snprintf(buf, len, "%s:%u", a, port);
	else if (ifname && *ifname)
		snprintf(buf, len, "[%s%%%s]:%u", a, ifname, port);
	else if (scope)
		snprintf(buf, len, "[%s%%%" PRIu32 "]:%u", a, scope, port);
	else
		snprintf(buf, len, "[%s]:%u", a, port);
}

static void fmt_listener(char *buf, size_t len, const struct image_conn *r)
{
	const struct sockaddr_in *s4 = (const void *)&r->listener;
	const struct sockaddr_in6 *s6 = (const void *)&r->listener;

	if (r->kind != IMAGE_KIND_ACCEPTED)
		snprintf(buf, len, "-");
	else if (r->listener.ss_family == AF_INET)
		fmt_addr(buf, len, AF_INET, &s4->sin_addr, ntohs(s4->sin_port),
			 0, NULL);
	else
		fmt_addr(buf, len, AF_INET6, &s6->sin6_addr,
			 ntohs(s6->sin6_port), s6->sin6_scope_id, NULL);
}

static void fmt_conn_addrs(struct row *r, const struct tcpcp_conn *c)
{
	int af = c->ip_version == 4 ? AF_INET : AF_INET6;

	fmt_addr(r->cell[COL_LOCAL], CELL_MAX, af, c->local_addr,
		 c->local_port, c->scope_id, c->ifname);
	fmt_addr(r->cell[COL_PEER], CELL_MAX, af, c->peer_addr, c->peer_port,
		 c->scope_id, c->ifname);
}

/* As ss -i words them: "ts sack wscale:7,9 mss:1448". */
static void fmt_opts(char *buf, size_t len, const struct tcpcp_conn *c)
{
	size_t n = 0;

	buf[0] = '\0';
	if (c->tcp_opts & OPT_TIMESTAMPS)
		n += (size_t)snprintf(buf + n, len - n, "ts ");
	if (c->tcp_opts & OPT_SACK)
		n += (size_t)snprintf(buf + n, len - n, "sack ");
	if (c->tcp_opts & OPT_ECN)
		n += (size_t)snprintf(buf + n, len - n, "ecn ");
	if (c->tcp_opts & OPT_WSCALE)
		n += (size_t)snprintf(buf + n, len - n, "wscale:%u,%u ",
				      c->snd_wscale, c->rcv_wscale);
	snprintf(buf + n, len - n, "mss:%u", c->snd_mss);
}

static void fill_row(struct row *r, const struct tcpcp_conn *c,
		     const struct image_conn *rec)
{
	snprintf(r->cell[COL_KIND], CELL_MAX, "%s", kind_name(rec->kind));
	snprintf(r->cell[COL_STATE], CELL_MAX, "%s", state_name(c->state));
	snprintf(r->cell[COL_RECVQ], CELL_MAX, "%" PRIu32, c->rcvq_len);
	snprintf(r->cell[COL_SENDQ], CELL_MAX, "%" PRIu32, c->sndq_len);
	snprintf(r->cell[COL_UNSENT], CELL_MAX, "%" PRIu32, c->unsent);
	fmt_conn_addrs(r, c);
	snprintf(r->cell[COL_FD], CELL_MAX, "%" PRId32, rec->fd);
	snprintf(r->cell[COL_SND_NXT], CELL_MAX, "%" PRIu32, c->snd_nxt);
	snprintf(r->cell[COL_RCV_NXT], CELL_MAX, "%" PRIu32, c->rcv_nxt);
	fmt_opts(r->cell[COL_OPTS], CELL_MAX, c);
	fmt_listener(r->cell[COL_LISTENER], CELL_MAX, rec);
}

/* Control characters from the file must not reach the terminal. */
static void print_clean(const char *label, const char *s)
{
	printf("%-13s", label);
	for (; *s; s++)
		putchar((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s);
	putchar('\n');
}

static void fmt_time(char *buf, size_t len, uint64_t ns)
{
	time_t t = (time_t)(ns / 1000000000u);
	struct tm tm;
	size_t n;

	if (!gmtime_r(&t, &tm) ||
	    !(n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm))) {
		snprintf(buf, len, "?");
		return;
	}
	snprintf(buf + n, len - n, ".%03uZ",
		 (unsigned int)(ns / 1000000u % 1000u));
}

static uint64_t image_bytes(const struct image *img)
{
	return (uint64_t)IMAGE_HDR_LEN + img->si_len +
	       (uint64_t)img->n_conns * IMAGE_REC_LEN + IMAGE_CRC_LEN;
}

static void print_header(const struct shown *s)
{
	const struct image *img = &s->img;
	char when[64];

	fmt_time(when, sizeof(when), img->created_ns);
	print_clean("image:", s->path);
	print_clean("created:", when);
	print_clean("host:", img->host);
	printf("%-13s%" PRIu32 "\n", "pid:", img->pid);
	print_clean("backend:", img->backend);
	printf("%-13s%" PRIu32 "\n", "connections:", img->n_conns);
	printf("%-13s%" PRIu64 " bytes (TCP-SI %" PRIu32 ")\n", "size:",
	       image_bytes(img), img->si_len);
}

static void print_row(const char *const *cells, const size_t *width)
{
	int i;

	for (i = 0; i < N_COLS - 1; i++)
		printf("%-*s  ", (int)width[i], cells[i]);
	printf("%s\n", cells[N_COLS - 1]);
}

static int print_table(const struct shown *s)
{
	const struct image *img = &s->img;
	size_t width[N_COLS];
	const char *cells[N_COLS];
	struct row *rows;
	uint32_t i;
	int k;

	rows = calloc(img->n_conns ? img->n_conns : 1, sizeof(*rows));
	if (!rows)
		return -ENOMEM;
	for (k = 0; k < N_COLS; k++)
		width[k] = strlen(col_names[k]);
	for (i = 0; i < img->n_conns; i++) {
		fill_row(&rows[i], &s->conns[i], &img->conns[i]);
		for (k = 0; k < N_COLS; k++)
			if (strlen(rows[i].cell[k]) > width[k])
				width[k] = strlen(rows[i].cell[k]);
	}
	putchar('\n');
	print_row(col_names, width);
	for (i = 0; i < img->n_conns; i++) {
		for (k = 0; k < N_COLS; k++)
			cells[k] = rows[i].cell[k];
		print_row(cells, width);
	}
	free(rows);
	return 0;
}

/* ---- JSON ---- */

/* Bytes of a well-formed UTF-8 sequence at s, or 0. */
static int utf8_len(const unsigned char *s)
{
	int n, i;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	for (i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/* A JSON string; bytes that are not UTF-8 become U+FFFD, as JSON must be
 * Unicode and an image's names are whatever bytes it holds. */
static void json_str(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	int n;

	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\') {
			printf("\\%c", *s);
		} else if (*s < 0x20 || *s == 0x7f) {
			printf("\\u%04x", *s);
		} else if (*s < 0x80) {
			putchar(*s);
		} else if ((n = utf8_len(s))) {
			fwrite(s, 1, (size_t)n, stdout);
			s += n - 1;
		} else {
			fputs("\\ufffd", stdout);
		}
	}
	putchar('"');
}

static void json_key_str(const char *key, const char *val)
{
	printf("\"%s\": ", key);
	json_str(val);
}

static void json_ip(const char *key, const struct tcpcp_conn *c,
		    const uint8_t *addr)
{
	char a[INET6_ADDRSTRLEN] = "?";

	inet_ntop(c->ip_version == 4 ? AF_INET : AF_INET6, addr, a, sizeof(a));
	json_key_str(key, a);
}

static void json_conn(const struct tcpcp_conn *c, const struct image_conn *rec)
{
	struct row r;

	fill_row(&r, c, rec);
	printf("    {");
	json_key_str("kind", r.cell[COL_KIND]);
	printf(", ");
	json_key_str("state", r.cell[COL_STATE]);
	printf(", \"fd\": %" PRId32 ", ", rec->fd);
	json_key_str("local", r.cell[COL_LOCAL]);
	printf(", ");
	json_key_str("peer", r.cell[COL_PEER]);
	printf(", \"local_port\": %u, \"peer_port\": %u, ", c->local_port,
	       c->peer_port);
	json_key_str("ifname", c->ifname);
	printf(",\n     ");
	json_ip("local_addr", c, c->local_addr);
	printf(", ");
	json_ip("peer_addr", c, c->peer_addr);
	printf(",\n     \"recv_q\": %" PRIu32 ", \"send_q\": %" PRIu32
	       ", \"unsent\": %" PRIu32 ", \"snd_nxt\": %" PRIu32
	       ", \"rcv_nxt\": %" PRIu32 ",\n", c->rcvq_len, c->sndq_len,
	       c->unsent, c->snd_nxt, c->rcv_nxt);
	printf("     \"ts\": %s, \"sack\": %s, \"ecn\": %s, \"wscale\": %s, "
	       "\"snd_wscale\": %u, \"rcv_wscale\": %u, \"snd_mss\": %u, "
	       "\"rcv_mss\": %u,\n     \"listener\": ",
	       c->tcp_opts & OPT_TIMESTAMPS ? "true" : "false",
	       c->tcp_opts & OPT_SACK ? "true" : "false",
	       c->tcp_opts & OPT_ECN ? "true" : "false",
	       c->tcp_opts & OPT_WSCALE ? "true" : "false", c->snd_wscale,
	       c->rcv_wscale, c->snd_mss, c->rcv_mss);
	if (rec->kind == IMAGE_KIND_ACCEPTED)
		json_str(r.cell[COL_LISTENER]);
	else
		printf("null");
	printf("}");
}

static void print_json(const struct shown *s)
{
	const struct image *img = &s->img;
	char when[64];
	uint32_t i;

	fmt_time(when, sizeof(when), img->created_ns);
	printf("{\n  ");
	json_key_str("image", s->path);
	printf(",\n  ");
	json_key_str("created", when);
	printf(",\n  \"created_ns\": %" PRIu64 ",\n  ", img->created_ns);
	json_key_str("host", img->host);
	printf(",\n  \"pid\": %" PRIu32 ",\n  ", img->pid);
	json_key_str("backend", img->backend);
	printf(",\n  \"size\": %" PRIu64 ",\n  \"si_len\": %" PRIu32
	       ",\n  \"connections\": [",
	       image_bytes(img), img->si_len);
	for (i = 0; i < img->n_conns; i++) {
		printf("%s\n", i ? "," : "");
		json_conn(&s->conns[i], &img->conns[i]);
	}
	printf("%s]\n}\n", img->n_conns ? "\n  " : "");
}

/* ---- the command ---- */

/* image_read() ran si_check(), so a failure here is a bug, not a file. */
static int decode_all(struct shown *s)
{
	uint32_t off = TCPCP_SI_TOTAL_HDR_LEN, i;

	s->conns = calloc(s->img.n_conns ? s->img.n_conns : 1,
			  sizeof(*s->conns));
	if (!s->conns)
		return -ENOMEM;
	for (i = 0; i < s->img.n_conns; i++)
		if (si_decode_conn(s->img.si, s->img.si_len, &off,
				   &s->conns[i]))
			return -EINVAL;
	return 0;
}

static int show(const char *path, bool json)
{
	struct shown s = { .path = path };
	char why[256];
	int err;

	err = image_read(path, &s.img, why, sizeof(why));
	if (err) {
		tool_err("%s: %s", path, why);
		return 1;
	}
	err = decode_all(&s);
	if (!err && json)
		print_json(&s);
	else if (!err)
		print_header(&s);
	if (!err && !json && s.img.n_conns)
		err = print_table(&s);
	if (err)
		tool_err("%s: %s", path, strerror(-err));
	free(s.conns);
	image_free(&s.img);
	if (fflush(stdout) && !err) {
		tool_err("standard output: %s", strerror(errno));
		return 1;
	}
	return err ? 1 : 0;
}

static int run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool json = false;
	int opt;

	while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (opt == 'h') {
			fputs(cmd_show.help, stdout);
			return 0;
		}
		if (opt != 'j')
			return tool_bad_option("show", argv, opt);
		json = true;
	}
	if (optind != argc - 1)
		return tool_usage("show", "show takes one IMAGE");
	return show(argv[optind], json);
}

const struct tool_cmd cmd_show = {
	.name = "show",
	.run = run,
	.help =
	"usage: tcpcp show IMAGE [--json]\n"
	"\n"
	"Prints what a checkpoint image holds: when and where it was made, by\n"
	"which process and backend, then one row per connection in the manner\n"
	"of ss -tn: how the process got it (accepted from a listener, or\n"
	"connected), its TCP state, the bytes queued to read (Recv-Q) and to\n"
	"send (Send-Q, of which Unsent were never transmitted), the local and\n"
	"peer addresses, its descriptor in the checkpointed process, the next\n"
	"sequence numbers, the TCP options and, for accepted connections, the\n"
	"address of the listener whose bind() claims it back on restore.\n"
	"\n"
	"The image is checked as a restore checks it (owner, mode, CRC, every\n"
	"length); a bad one is one line on stderr and exit status 1.\n"
	"\n"
	"Options:\n"
	"  --json      one JSON object instead: \"created\", \"host\", \"pid\",\n"
	"              \"backend\", \"size\" and \"connections\", an array with\n"
	"              one object per connection\n"
	"  -h, --help  this text\n",
};
