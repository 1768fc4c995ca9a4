// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * tcpcp hold IMAGE [--seconds N]: on the host a server moves to, before
 * the service address arrives, so that a client's segment that gets
 * there before the restarted server meets the hold, not a RST.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "tcpcp.h"
#include "tool.h"

#define SECONDS_MAX 86400

static int hold_image(const char *path)
{
	struct image img;
	char why[256];
	int err;

	memset(&img, 0, sizeof(img));
	err = image_read(path, &img, why, sizeof(why));
	if (err) {
		tool_err("%s: %s", path, why[0] ? why : strerror(-err));
		return 1;
	}
	if (tcpcp_hold(img.si, img.si_len) != TCPCP_RET_OK) {
		err = errno;
		tool_err("hold: %s%s%s", strerror(err),
			 *tcpcp_strerror_detail() ? ": " : "",
			 tcpcp_strerror_detail());
		image_free(&img);
		return 1;
	}
	printf("holding the peers of %u connection%s from %s\n", img.n_conns,
	       img.n_conns == 1 ? "" : "s", path);
	image_free(&img);
	return 0;
}

static int run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "seconds", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	unsigned long v;
	char *end;
	int opt;

	while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (opt == 'h') {
			fputs(cmd_hold.help, stdout);
			return 0;
		}
		if (opt != 's')
			return tool_bad_option("hold", argv, opt);
		errno = 0;
		v = strtoul(optarg, &end, 10);
		if (*optarg < '0' || *optarg > '9' || *end || errno ||
		    v == 0 || v > SECONDS_MAX)
			return tool_usage("hold", "hold: --seconds takes whole "
					  "seconds, 1 to %d", SECONDS_MAX);
		setenv("TCPCP_HOLD_SECONDS", optarg, 1);
	}
	if (optind != argc - 1)
		return tool_usage("hold", "hold takes one IMAGE");
	return hold_image(argv[optind]);
}

const struct tool_cmd cmd_hold = {
	.name = "hold",
	.run = run,
	.help =
	"usage: tcpcp hold IMAGE [--seconds N]\n"
	"\n"
	"Holds off, on this host, the peers of the connections an image holds:\n"
	"their segments are dropped instead of answered with a reset, until a\n"
	"process restores the connections here (tcpcp run --restore IMAGE) or\n"
	"the hold expires.  For a move to another host, run it there before\n"
	"the service address arrives; a peer that retransmits in between then\n"
	"waits instead of losing its connection.\n"
	"\n"
	"  --seconds N  how long the hold lasts (1 to 86400; sets\n"
	"               TCPCP_HOLD_SECONDS, whose default is 120)\n"
	"\n"
	"Needs CAP_NET_ADMIN (an nftables table, inet tcpcp2).\n",
};
