/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared by the tcpcp tool's commands (tcpcp.c dispatches to them). */
#ifndef TCPCP_TOOL_H
#define TCPCP_TOOL_H

#include <stdio.h>

/* Exit statuses: 0 success, 1 failure, 2 usage error (as grep and ls). */
#define EXIT_USAGE 2

struct tool_cmd {
	const char *name;
	int (*run)(int argc, char **argv); /* argv[0] is the command's name */
	const char *help;                 /* the text of "tcpcp help NAME" */
};

extern const struct tool_cmd cmd_show;
extern const struct tool_cmd cmd_checkpoint;
extern const struct tool_cmd cmd_run;
extern const struct tool_cmd cmd_hold;

/* "tcpcp: " and one line on stderr. */
void tool_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The same, then a pointer to the command's help; returns EXIT_USAGE. */
int tool_usage(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* getopt_long()'s complaint about argv[optind - 1], as tool_usage(). */
int tool_bad_option(const char *cmd, char **argv, int opt);

/* path made absolute against the current directory, malloc'ed; NULL when
 * out of memory or the directory is gone (errno says). */
char *tool_absolute(const char *path);

#endif /* TCPCP_TOOL_H */
