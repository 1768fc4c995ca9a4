// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * tcpcp run [OPTIONS] -- CMD [ARGS...]: runs CMD under the shim.
 *
 * Nothing here that a user could not do with env(1); the point is that
 * every option is checked by the rules the shim applies, before CMD
 * starts, instead of the shim disabling itself inside a daemon whose
 * stderr nobody reads.  Options not given leave the environment as it is.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sig_parse.h"
#include "tool.h"

#define SHIM_NAME "libtcpcp_shim.so"
#define SECONDS_MAX 86400

/* The environment variables run sets, in the order of its options. */
enum var {
	V_RESTORE, V_IMAGE, V_SIGNAL, V_ON_CHECKPOINT, V_CLAIM, V_HOLD,
	V_RESTORE_FD, V_LOG, V_BACKEND, N_VARS
};

static const char *const var_names[N_VARS] = {
	"TCPCP_RESTORE", "TCPCP_IMAGE", "TCPCP_SIGNAL", "TCPCP_ON_CHECKPOINT",
	"TCPCP_CLAIM_SECONDS", "TCPCP_HOLD_SECONDS", "TCPCP_RESTORE_FD",
	"TCPCP_LOG", "TCPCP_BACKEND",
};

/* getopt_long's value for each option is OPT + its enum var, and opts[v]
 * is the option of var v. */
#define OPT 256

static const struct option opts[] = {
	{ "restore", required_argument, NULL, OPT + V_RESTORE },
	{ "image", required_argument, NULL, OPT + V_IMAGE },
	{ "signal", required_argument, NULL, OPT + V_SIGNAL },
	{ "on-checkpoint", required_argument, NULL, OPT + V_ON_CHECKPOINT },
	{ "claim-seconds", required_argument, NULL, OPT + V_CLAIM },
	{ "hold-seconds", required_argument, NULL, OPT + V_HOLD },
	{ "restore-fd", no_argument, NULL, OPT + V_RESTORE_FD },
	{ "log", required_argument, NULL, OPT + V_LOG },
	{ "backend", required_argument, NULL, OPT + V_BACKEND },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

static bool one_of(const char *s, const char *const *words)
{
	for (; *words; words++)
		if (!strcmp(s, *words))
			return true;
	return false;
}

/* 0..SECONDS_MAX, decimal, nothing around it (hold.c's rule). */
static bool seconds_ok(const char *s)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtol(s, &end, 10);
	return !errno && !*end && v <= SECONDS_MAX;
}

/* preload/env.c's rule: a % is followed by p (the pid) or %. */
static bool template_ok(const char *s)
{
	for (; *s; s++)
		if (*s == '%' && *++s != 'p' && *s != '%')
			return false;
	return true;
}

/* Paths are made absolute: a daemon chdir()s before it checkpoints. */
static int path_value(const char *opt, const char *arg, char **ret)
{
	if (!*arg)
		return tool_usage("run", "--%s takes a path", opt);
	*ret = tool_absolute(arg);
	if (!*ret) {
		tool_err("%s: %s", arg, strerror(errno));
		return 1;
	}
	return 0;
}

static int signal_value(const char *arg, char **ret)
{
	char name[32];
	int sig = sig_parse(arg);

	if (sig < 0)
		return tool_usage("run", "--signal %s: not a signal the shim "
				  "can use", arg);
	*ret = strdup(sig_name(sig, name, sizeof(name)));
	return *ret ? 0 : 1;
}

/* The checked value of option v into vals[v]: 0, 1 or EXIT_USAGE. */
static int take(int v, const char *arg, char **vals)
{
	static const char *const actions[] = { "exit", "term", "continue",
					       "stop", NULL };
	static const char *const backends[] = { "auto", "kmod", "repair",
						NULL };
	const char *name = opts[v].name;

	free(vals[v]);
	vals[v] = NULL;
	if (v == V_IMAGE && !template_ok(arg))
		return tool_usage("run", "--image: %% must be followed by p "
				  "(the pid) or %%");
	if (v == V_RESTORE || v == V_IMAGE)
		return path_value(name, arg, &vals[v]);
	if (v == V_LOG && strcmp(arg, "stderr"))
		return path_value(name, arg, &vals[v]);
	if (v == V_SIGNAL)
		return signal_value(arg, &vals[v]);
	if (v == V_ON_CHECKPOINT && !one_of(arg, actions))
		return tool_usage("run", "--on-checkpoint takes exit, term, "
				  "continue or stop");
	if (v == V_BACKEND && !one_of(arg, backends))
		return tool_usage("run", "--backend takes auto, kmod or repair");
	if ((v == V_CLAIM || v == V_HOLD) && !seconds_ok(arg))
		return tool_usage("run", "--%s takes a whole number of seconds "
				  "from 0 to %d", name, SECONDS_MAX);
	vals[v] = strdup(v == V_RESTORE_FD ? "1" : arg);
	return vals[v] ? 0 : 1;
}

/* "<dir of this executable>/../preload/": a build tree's shim. */
static char *built_shim(void)
{
	char exe[PATH_MAX], *slash, *path;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n < 0)
		return NULL;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (!slash)
		return NULL;
	*slash = '\0';
	if (asprintf(&path, "%s/../preload/" SHIM_NAME, exe) < 0)
		return NULL;
	return path;
}

/* $TCPCP_SHIM, else the build tree's, else the installed one; resolved,
 * since the loader takes LD_PRELOAD's paths from the program's cwd. */
static char *find_shim(void)
{
	const char *env = getenv("TCPCP_SHIM");
	char *built, *shim;

	if (env && *env) {
		shim = realpath(env, NULL);
		if (!shim)
			tool_err("TCPCP_SHIM=%s: %s", env, strerror(errno));
		return shim;
	}
	built = built_shim();
	shim = built ? realpath(built, NULL) : NULL;
	if (!shim)
		shim = realpath(TCPCP_SHIM_INSTALLED, NULL);
	if (!shim)
		tool_err("cannot find " SHIM_NAME " (not in %s, nor at %s); "
			 "set TCPCP_SHIM to its path",
			 built ? built : "the build tree", TCPCP_SHIM_INSTALLED);
	free(built);
	return shim;
}

/* The shim first, so that its socket() and accept() are the ones found. */
static int set_preload(const char *shim)
{
	const char *old = getenv("LD_PRELOAD");
	char *val;
	int err;

	if (strpbrk(shim, ": \t")) {
		tool_err("%s: LD_PRELOAD cannot name a path with ':' or blanks",
			 shim);
		return -EINVAL;
	}
	if (old && strstr(old, shim))
		return 0;
	if (asprintf(&val, "%s%s%s", shim, old && *old ? ":" : "",
		     old ? old : "") < 0)
		return -ENOMEM;
	err = setenv("LD_PRELOAD", val, 1) ? -errno : 0;
	free(val);
	return err;
}

static int set_env(char **vals)
{
	char *shim = find_shim();
	int v, err;

	if (!shim)
		return -ENOENT;
	err = set_preload(shim);
	free(shim);
	for (v = 0; !err && v < N_VARS; v++)
		if (vals[v] && setenv(var_names[v], vals[v], 1))
			err = -errno;
	return err;
}

/* Like a shell: 127 for a command that is not there, 126 for the rest. */
static int exec_cmd(char **argv)
{
	int err;

	execvp(argv[0], argv);
	err = errno;
	tool_err("%s: %s", argv[0], strerror(err));
	return err == ENOENT ? 127 : 126;
}

static int parse(int argc, char **argv, char **vals)
{
	int opt, ret;

	while ((opt = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		if (opt == 'h') {
			fputs(cmd_run.help, stdout);
			return -1;
		}
		if (opt < OPT || opt >= OPT + N_VARS)
			return tool_bad_option("run", argv, opt);
		ret = take(opt - OPT, optarg, vals);
		if (ret)
			return ret;
	}
	if (optind == argc)
		return tool_usage("run", "run needs a command to run");
	if (vals[V_RESTORE_FD] && !vals[V_RESTORE])
		return tool_usage("run", "--restore-fd needs --restore");
	return 0;
}

static int run(int argc, char **argv)
{
	char *vals[N_VARS] = { 0 };
	int v, ret;

	ret = parse(argc, argv, vals);
	if (!ret)
		ret = set_env(vals) ? 1 : exec_cmd(argv + optind);
	for (v = 0; v < N_VARS; v++)
		free(vals[v]);
	return ret < 0 ? 0 : ret;
}

const struct tool_cmd cmd_run = {
	.name = "run",
	.run = run,
	.help =
	"usage: tcpcp run [OPTIONS] [--] CMD [ARGS...]\n"
	"\n"
	"Runs CMD with the shim (" SHIM_NAME ") preloaded, so that\n"
	"`tcpcp checkpoint PID` can save its TCP connections and a later\n"
	"`tcpcp run --restore IMAGE` can give them back.  Each option sets\n"
	"one environment variable, checked here by the shim's own rules; an\n"
	"option not given leaves its variable as it is in the environment.\n"
	"Relative paths are made absolute (daemons change directory).\n"
	"\n"
	"Options:\n"
	"  --restore IMAGE        TCPCP_RESTORE: restore the connections\n"
	"                         saved in IMAGE as the program claims them\n"
	"                         (bind() of the listener, connect() to the\n"
	"                         peer)\n"
	"  --image PATH           TCPCP_IMAGE: where a checkpoint writes the\n"
	"                         image; %p is the pid, %% a percent sign\n"
	"                         (default /tmp/tcpcp-%p.img)\n"
	"  --signal SIG           TCPCP_SIGNAL: the control signal, by name\n"
	"                         (USR1, SIGUSR1, RTMIN+3) or number\n"
	"                         (default SIGUSR2)\n"
	"  --on-checkpoint WHAT   TCPCP_ON_CHECKPOINT: after a checkpoint,\n"
	"                         exit (the default), term (SIGTERM to the\n"
	"                         program), continue (a snapshot) or stop\n"
	"                         (connections stay stopped)\n"
	"  --claim-seconds N      TCPCP_CLAIM_SECONDS: how long restored\n"
	"                         connections wait to be claimed before they\n"
	"                         are closed (0 to 86400, default 60)\n"
	"  --hold-seconds N       TCPCP_HOLD_SECONDS: how long a stopped\n"
	"                         connection's peer is held off (0 to 86400,\n"
	"                         default 120)\n"
	"  --restore-fd           TCPCP_RESTORE_FD=1: rebuild every connection\n"
	"                         at its original descriptor at start (with a\n"
	"                         process-memory checkpointer; needs\n"
	"                         --restore)\n"
	"  --log DEST             TCPCP_LOG: stderr (the default) or a file\n"
	"                         the shim appends its lines to\n"
	"  --backend NAME         TCPCP_BACKEND: auto (the default), kmod or\n"
	"                         repair\n"
	"  -h, --help             this text\n"
	"\n"
	"LD_PRELOAD gets the shim's absolute path in front of what it held.\n"
	"The shim is $TCPCP_SHIM if set, else the build tree's\n"
	"(../preload/" SHIM_NAME " next to this executable), else\n"
	TCPCP_SHIM_INSTALLED ".\n"
	"\n"
	"Exit status: CMD's own, as it replaces tcpcp; 2 for a bad option,\n"
	"1 when the shim cannot be found, 127 when CMD cannot be found.\n",
};
