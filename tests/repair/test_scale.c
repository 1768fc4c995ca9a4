// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * TCPCP_EXEC_ALL over many connections at once, each with bytes queued both
 * ways (unread here, unacknowledged towards a peer that drops our segments),
 * all verified byte for byte after the restore.
 */
#include <criterion/criterion.h>
#include <sys/socket.h>

#include "server.h"
#include "tcpcp.h"
#include "testnet.h"

static void many(int family, unsigned int n)
{
	struct peer_cfg cfg = {
		.family = family,
		.nconns = n,
		.to_server = 1000,
		.from_server = 1500,
		.after = 100,
		.block = true,
	};
	struct side s;

	if (!testnet_nofile(2 * n + 64))
		cr_skip_test("RLIMIT_NOFILE cannot be raised to %u here", 2 * n + 64);
	side_open(&s, &cfg, 0);
	cr_assert_eq(tn_outq(s.fds[n - 1]), 1500, "bytes wait in our send queue");
	checkpoint_all(&s);
	side_verify(&s);
}

TestSuite(scale, .init = testnet_enter, .timeout = 240);

Test(scale, ipv4_1000_connections)
{
	many(AF_INET, 1000);
}

Test(scale, ipv6_1000_connections)
{
	many(AF_INET6, 1000);
}
