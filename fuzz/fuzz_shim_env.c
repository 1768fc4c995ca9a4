// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libFuzzer target for the shim's environment parsing (preload/env.c).
 *
 * The variables come from whoever starts the server, so they are hostile
 * until checked: a value is either refused with a reason, or it yields a
 * configuration the shim can act on without checking again.  The input is
 * split at NUL bytes into the values of the nine variables, in order; a
 * missing value means the variable is unset.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../preload/shim.h"
#include "../signals/sig_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = {
	"TCPCP_IMAGE",	       "TCPCP_RESTORE",	      "TCPCP_LOG",
	"TCPCP_ON_CHECKPOINT", "TCPCP_CLAIM_SECONDS", "TCPCP_RESTORE_FD",
	"TCPCP_HOLD_SECONDS",  "TCPCP_BACKEND",	      "TCPCP_SIGNAL",
};
#define N_VARS (sizeof(names) / sizeof(names[0]))

static const char *values[N_VARS];

static const char *lookup(const char *name)
{
	unsigned int i;

	for (i = 0; i < N_VARS; i++)
		if (!strcmp(name, names[i]))
			return values[i];
	return NULL;
}

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_shim_env: %s\n", what);
		abort();
	}
}

static void check_config(const struct shim_config *c)
{
	char path[4096];

	check(c->signal > 0 && c->signal < NSIG && c->signal != SIGKILL &&
		      c->signal != SIGSTOP,
	      "an unusable signal was accepted");
	check(sig_parse(values[N_VARS - 1] ? values[N_VARS - 1] : "USR2") ==
		      c->signal,
	      "the signal is not the one asked for");
	check(c->action <= ACTION_STOP, "action out of range");
	check(c->claim_seconds <= 86400, "claim seconds out of range");
	check(c->image[0] != '\0', "empty image template");
	check(!shim_image_path(c->image, 4194304, path, sizeof(path)),
	      "an accepted image template does not expand");
	check(!c->log[0] || c->log[0] == '/', "relative log path accepted");
	check(memchr(c->restore, '\0', sizeof(c->restore)) != NULL,
	      "restore path not terminated");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), *p, why[300];
	struct shim_config c;
	unsigned int i;
	int err;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	p = buf;
	for (i = 0; i < N_VARS; i++) {
		values[i] = p < buf + size ? p : NULL;
		if (p < buf + size)
			p += strlen(p) + 1;
	}
	memset(&c, 0x5a, sizeof(c));
	why[0] = '\0';
	err = shim_config_parse(lookup, &c, why, sizeof(why));
	if (err) {
		check(err == -EINVAL, "error other than EINVAL");
		check(why[0] != '\0', "refused without a reason");
		check(((unsigned char *)&c)[0] == 0x5a, "output changed on error");
	} else {
		check_config(&c);
	}
	free(buf);
	return 0;
}
