// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * tcpcp: the command-line side of the shim (DESIGN section 4).  One
 * executable, one file per command; this one finds the command, answers
 * --help and --version, and holds what the commands share.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tool.h"

static const struct tool_cmd *const cmds[] = {
	&cmd_show,
	&cmd_checkpoint,
	&cmd_run,
	&cmd_hold,
};

#define N_CMDS (sizeof(cmds) / sizeof(cmds[0]))

static const char main_help[] =
	"usage: tcpcp COMMAND [ARGS...]\n"
	"\n"
	"Checkpoint and restore the TCP connections of a program that runs\n"
	"under the tcpcp2 shim (libtcpcp_shim.so).\n"
	"\n"
	"Commands:\n"
	"  run [OPTIONS] -- CMD [ARGS...]  run CMD under the shim\n"
	"  checkpoint PID [OPTIONS]        checkpoint a process run that way\n"
	"  show IMAGE [--json]             print what an image holds\n"
	"  hold IMAGE [--seconds N]        hold its peers off here, before\n"
	"                                  the address moves to this host\n"
	"  help [COMMAND]                  this text, or a command's\n"
	"\n"
	"Options:\n"
	"  -h, --help     this text\n"
	"  -V, --version  the version\n"
	"\n"
	"Exit status: 0 success, 1 failure, 2 usage error.\n"
	"See tcpcp(1).\n";

void tool_err(const char *fmt, ...)
{
	va_list ap;

	fputs("tcpcp: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int tool_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fputs("tcpcp: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see tcpcp help%s%s)\n", cmd ? " " : "",
		cmd ? cmd : "");
	return EXIT_USAGE;
}

int tool_bad_option(const char *cmd, char **argv, int opt)
{
	const char *arg = argv[optind - 1];
	int len = (int)strcspn(arg, "=");

	if (opt == ':')
		return tool_usage(cmd, "%s: option %.*s needs a value", cmd,
				  len, arg);
	if (optopt && optopt != '?')
		return tool_usage(cmd, "%s: unknown option -%c", cmd, optopt);
	return tool_usage(cmd, "%s: unknown option %.*s", cmd, len, arg);
}

char *tool_absolute(const char *path)
{
	char *cwd, *abs;

	if (path[0] == '/')
		return strdup(path);
	cwd = getcwd(NULL, 0);
	if (!cwd)
		return NULL;
	if (asprintf(&abs, "%s/%s", strcmp(cwd, "/") ? cwd : "", path) < 0)
		abs = NULL;
	free(cwd);
	return abs;
}

static const struct tool_cmd *find_cmd(const char *name)
{
	size_t i;

	for (i = 0; i < N_CMDS; i++)
		if (!strcmp(cmds[i]->name, name))
			return cmds[i];
	return NULL;
}

static int help(int argc, char **argv)
{
	const struct tool_cmd *c;

	if (argc < 2) {
		fputs(main_help, stdout);
		return 0;
	}
	c = find_cmd(argv[1]);
	if (!c || argc > 2)
		return tool_usage(NULL, "help: no command %s", argv[1]);
	fputs(c->help, stdout);
	return 0;
}

int main(int argc, char **argv)
{
	const struct tool_cmd *c;

	if (argc < 2)
		return tool_usage(NULL, "a command is missing");
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help"))
		return help(argc - 1, argv + 1);
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
		printf("tcpcp (tcpcp2) %s\n", TCPCP_VERSION);
		return 0;
	}
	c = find_cmd(argv[1]);
	if (!c)
		return tool_usage(NULL, "no command %s", argv[1]);
	/* each command parses its own options from its own argv[0] on */
	opterr = 0;
	return c->run(argc - 1, argv + 1);
}
