// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The shim's whole configuration, read once at start.  A bad value is one
 * line and the shim stays out of the way: a typo must never take the
 * program down, nor silently do something else than asked.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../signals/sig_parse.h"
#include "shim.h"

#define CLAIM_DEFAULT 60u
#define CLAIM_MAX 86400u

static const char *const action_names[] = {
	[ACTION_EXIT] = "exit",
	[ACTION_TERM] = "term",
	[ACTION_CONTINUE] = "continue",
	[ACTION_STOP] = "stop",
};

const char *shim_action_name(enum shim_action a)
{
	return action_names[a];
}

static int bad(char *why, size_t len, const char *name, const char *val,
	       const char *expected)
{
	snprintf(why, len, "%s=\"%.64s\" is not valid: %s", name, val,
		 expected);
	return -EINVAL;
}

static int parse_path(const char *name, const char *val, char *dst,
		      size_t dst_len, char *why, size_t len)
{
	if (!*val)
		return bad(why, len, name, val, "expected a path");
	if (strlen(val) >= dst_len)
		return bad(why, len, name, val, "path too long");
	strcpy(dst, val);
	return 0;
}

static int parse_action(const char *val, enum shim_action *ret, char *why,
			size_t len)
{
	unsigned int i;

	for (i = 0; i < sizeof(action_names) / sizeof(action_names[0]); i++)
		if (!strcmp(val, action_names[i])) {
			*ret = (enum shim_action)i;
			return 0;
		}
	return bad(why, len, "TCPCP_ON_CHECKPOINT", val,
		   "expected exit, term, continue or stop");
}

static int parse_claim(const char *val, unsigned int *ret, char *why,
		       size_t len)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(val, &end, 10);
	if (*val < '0' || *val > '9' || *end || errno || v > CLAIM_MAX)
		return bad(why, len, "TCPCP_CLAIM_SECONDS", val,
			   "expected whole seconds, 0 to 86400");
	*ret = (unsigned int)v;
	return 0;
}

static int parse_bool(const char *name, const char *val, bool *ret,
		      char *why, size_t len)
{
	if (strcmp(val, "0") && strcmp(val, "1"))
		return bad(why, len, name, val, "expected 0 or 1");
	*ret = val[0] == '1';
	return 0;
}

static int parse_log(const char *val, char *dst, size_t dst_len, char *why,
		     size_t len)
{
	if (!strcmp(val, "stderr")) {
		dst[0] = '\0';
		return 0;
	}
	if (val[0] != '/')
		return bad(why, len, "TCPCP_LOG", val,
			   "expected stderr or an absolute path");
	return parse_path("TCPCP_LOG", val, dst, dst_len, why, len);
}

/* Checks the template expands (no stray %) before it is ever needed. */
static int parse_image(const char *val, char *dst, size_t dst_len,
		       char *why, size_t len)
{
	char probe[4096];
	int err = parse_path("TCPCP_IMAGE", val, dst, dst_len, why, len);

	if (err)
		return err;
	err = shim_image_path(val, 4194304, probe, sizeof(probe));
	if (err)
		return bad(why, len, "TCPCP_IMAGE", val,
			   err == -ENAMETOOLONG ? "path too long" :
			   "% must be followed by p (pid) or %");
	return 0;
}

/* libtcpcp reads it at each stop; checked here so that a typo is one
 * line at start, not a failed checkpoint. */
static int parse_hold(const char *val, char *why, size_t len)
{
	unsigned int v;

	if (parse_claim(val, &v, why, len))
		return bad(why, len, "TCPCP_HOLD_SECONDS", val,
			   "expected whole seconds, 0 to 86400");
	return 0;
}

static int parse_backend(const char *val, char *why, size_t len)
{
	if (strcmp(val, "auto") && strcmp(val, "kmod") && strcmp(val, "repair"))
		return bad(why, len, "TCPCP_BACKEND", val,
			   "expected auto, kmod or repair");
	return 0;
}

/* One variable: 0 when absent or valid, else -EINVAL. */
static int parse_one(const char *name, const char *val,
		     struct shim_config *c, char *why, size_t len)
{
	int sig;

	if (!strcmp(name, "TCPCP_IMAGE"))
		return parse_image(val, c->image, sizeof(c->image), why, len);
	if (!strcmp(name, "TCPCP_RESTORE"))
		return parse_path(name, val, c->restore, sizeof(c->restore),
				  why, len);
	if (!strcmp(name, "TCPCP_LOG"))
		return parse_log(val, c->log, sizeof(c->log), why, len);
	if (!strcmp(name, "TCPCP_ON_CHECKPOINT"))
		return parse_action(val, &c->action, why, len);
	if (!strcmp(name, "TCPCP_CLAIM_SECONDS"))
		return parse_claim(val, &c->claim_seconds, why, len);
	if (!strcmp(name, "TCPCP_RESTORE_FD"))
		return parse_bool(name, val, &c->restore_fd, why, len);
	if (!strcmp(name, "TCPCP_HOLD_SECONDS"))
		return parse_hold(val, why, len);
	if (!strcmp(name, "TCPCP_BACKEND"))
		return parse_backend(val, why, len);
	sig = sig_parse(val);
	if (sig < 0)
		return bad(why, len, name, val,
			   "expected a signal such as USR2 or RTMIN+3 that "
			   "can be blocked (not KILL, STOP, CHLD, CONT or a "
			   "fault signal)");
	c->signal = sig;
	return 0;
}

int shim_config_parse(const char *(*get)(const char *name),
		      struct shim_config *ret, char *why, size_t why_len)
{
	static const char *const names[] = {
		"TCPCP_IMAGE",	       "TCPCP_RESTORE",	      "TCPCP_LOG",
		"TCPCP_ON_CHECKPOINT", "TCPCP_CLAIM_SECONDS", "TCPCP_RESTORE_FD",
		"TCPCP_HOLD_SECONDS",  "TCPCP_BACKEND",	      "TCPCP_SIGNAL",
	};
	struct shim_config c;
	unsigned int i;
	int err;

	memset(&c, 0, sizeof(c));
	strcpy(c.image, SHIM_DEFAULT_IMAGE);
	c.signal = SIGUSR2;
	c.action = ACTION_EXIT;
	c.claim_seconds = CLAIM_DEFAULT;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const char *val = get(names[i]);

		if (!val)
			continue;
		err = parse_one(names[i], val, &c, why, why_len);
		if (err)
			return err;
	}
	*ret = c;
	return 0;
}

int shim_image_path(const char *tmpl, pid_t pid, char *ret, size_t len)
{
	size_t o = 0;
	int n;

	for (; *tmpl; tmpl++) {
		if (*tmpl != '%') {
			if (o + 1 >= len)
				return -ENAMETOOLONG;
			ret[o++] = *tmpl;
			continue;
		}
		tmpl++;
		if (*tmpl == '%') {
			if (o + 1 >= len)
				return -ENAMETOOLONG;
			ret[o++] = '%';
		} else if (*tmpl == 'p') {
			n = snprintf(ret + o, len - o, "%d", (int)pid);
			if (n < 0 || (size_t)n >= len - o)
				return -ENAMETOOLONG;
			o += (size_t)n;
		} else {
			return -EINVAL;
		}
	}
	ret[o] = '\0';
	return 0;
}
