// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * tcpcp checkpoint PID: sends a process that runs under the shim its
 * control signal and waits for IMAGE.done, the shim's answer.
 *
 * Everything about the process comes from what the shim read at start:
 * whether the shim is there at all (LD_PRELOAD), the signal it listens
 * for (TCPCP_SIGNAL) and where it writes the image (TCPCP_IMAGE).  The
 * shim keeps those in a memfd named "tcpcp-shim", in environ's format,
 * because servers that set their process title (redis, nginx) write over
 * /proc/PID/environ; the environment is only the fallback.  The signal carries nothing, so the done file is the only
 * answer: the stale one is removed first, and one from another pid that
 * shares the image path is not taken for ours.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "image.h"
#include "sig_parse.h"
#include "tool.h"

#define DEFAULT_IMAGE "/tmp/tcpcp-%p.img"
#define DEFAULT_TIMEOUT 30.0
#define MAX_TIMEOUT 3600.0
#define POLL_NS 10000000L /* 10 ms */

/* The shim's memfd, as /proc/PID/fd shows it. */
#define SHIM_MEMFD "/memfd:tcpcp-shim"

struct target {
	pid_t pid;
	char *env; /* /proc/PID/environ: NUL-separated */
	size_t env_len;
	int sig;
	char *image;
};

static int parse_pid(const char *s, pid_t *ret)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 1 || v > INT_MAX)
		return -EINVAL;
	*ret = (pid_t)v;
	return 0;
}

static int parse_timeout(const char *s, double *ret)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v <= 0 ||
	    v > MAX_TIMEOUT)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* The whole file, NUL-terminated; /proc files have no size to ask for. */
static int read_proc(const char *path, char **ret, size_t *ret_len)
{
	size_t len = 0, cap = 4096;
	char *buf, *bigger;
	ssize_t n;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	buf = malloc(cap);
	while (buf) {
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : 0;
			break;
		}
		len += (size_t)n;
		if (len + 1 < cap)
			continue;
		cap *= 2;
		bigger = realloc(buf, cap);
		if (!bigger)
			free(buf);
		buf = bigger;
	}
	close(fd);
	if (!buf)
		return -ENOMEM;
	if (err) {
		free(buf);
		return err;
	}
	buf[len] = '\0';
	*ret = buf;
	*ret_len = len;
	return 0;
}

static const char *env_get(const struct target *t, const char *name)
{
	size_t off, n = strlen(name);

	for (off = 0; off < t->env_len; off += strlen(t->env + off) + 1)
		if (!strncmp(t->env + off, name, n) && t->env[off + n] == '=')
			return t->env + off + n + 1;
	return NULL;
}

/* TCPCP_IMAGE's template, by the shim's rule: %p is the pid, %% a
 * percent sign, and any other % makes the shim refuse the template. */
static char *expand(const char *tmpl, pid_t pid)
{
	char *out = malloc(strlen(tmpl) * 10 + 1), *o = out;

	if (!out)
		return NULL;
	for (; *tmpl; tmpl++) {
		if (*tmpl != '%') {
			*o++ = *tmpl;
		} else if (*++tmpl == 'p') {
			o += sprintf(o, "%d", (int)pid);
		} else if (*tmpl == '%') {
			*o++ = '%';
		} else {
			free(out);
			errno = EINVAL;
			return NULL;
		}
	}
	*o = '\0';
	return out;
}

/* The shim resolves a relative image path in its own current directory. */
static char *in_cwd_of(pid_t pid, char *path)
{
	char link[64], cwd[PATH_MAX], *abs;
	ssize_t n;

	if (!path || path[0] == '/')
		return path;
	snprintf(link, sizeof(link), "/proc/%d/cwd", (int)pid);
	n = readlink(link, cwd, sizeof(cwd) - 1);
	if (n < 0) {
		free(path);
		return NULL;
	}
	cwd[n] = '\0';
	if (asprintf(&abs, "%s/%s", strcmp(cwd, "/") ? cwd : "", path) < 0)
		abs = NULL;
	free(path);
	return abs;
}

/* /proc/PID/fd/N of the shim's memfd, if it has one. */
static bool shim_memfd(pid_t pid, char *ret, size_t len)
{
	char dir[64], link[128];
	struct dirent *d;
	ssize_t n;
	DIR *fds;
	bool found = false;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	fds = opendir(dir);
	if (!fds)
		return false;
	while (!found && (d = readdir(fds))) {
		snprintf(ret, len, "%s/%s", dir, d->d_name);
		n = readlink(ret, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		found = !strncmp(link, SHIM_MEMFD, strlen(SHIM_MEMFD));
	}
	closedir(fds);
	return found;
}

static int read_target(struct target *t)
{
	char path[PATH_MAX];
	int err;

	if (shim_memfd(t->pid, path, sizeof(path)) &&
	    !read_proc(path, &t->env, &t->env_len))
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/environ", (int)t->pid);
	err = read_proc(path, &t->env, &t->env_len);
	if (err == -ENOENT || err == -ESRCH)
		tool_err("no process %d", (int)t->pid);
	else if (err)
		tool_err("cannot read the environment of process %d: %s",
			 (int)t->pid, strerror(-err));
	return err;
}

/* The shim disables itself over a bad value (preload/env.c): no answer
 * would ever come. */
static int refused(const struct target *t, const char *name, const char *val)
{
	tool_err("process %d has %s=\"%s\", which the shim refuses (it "
		 "disabled itself)", (int)t->pid, name, val);
	return -EINVAL;
}

/* What the process's environment says, as the shim read it. */
static int configure(struct target *t, const char *image)
{
	const char *preload = env_get(t, "LD_PRELOAD");
	const char *sig = env_get(t, "TCPCP_SIGNAL");
	const char *tmpl = env_get(t, "TCPCP_IMAGE");

	if (!preload || !strstr(preload, "libtcpcp_shim")) {
		tool_err("process %d does not run under libtcpcp_shim.so",
			 (int)t->pid);
		return -EINVAL;
	}
	t->sig = sig ? sig_parse(sig) : SIGUSR2;
	if (t->sig < 0)
		return refused(t, "TCPCP_SIGNAL", sig);
	if (tmpl && !*tmpl)
		return refused(t, "TCPCP_IMAGE", tmpl);
	if (image)
		t->image = tool_absolute(image);
	else
		t->image = in_cwd_of(t->pid, expand(tmpl ? tmpl : DEFAULT_IMAGE,
						    t->pid));
	if (!t->image && errno == EINVAL)
		return refused(t, "TCPCP_IMAGE", tmpl);
	if (!t->image)
		tool_err("process %d: cannot tell where its image goes: %s",
			 (int)t->pid, strerror(errno));
	return t->image ? 0 : -EINVAL;
}

/* Gone, or a zombie: either way it will not answer. */
static bool process_gone(pid_t pid)
{
	char path[64], *stat, *p;
	size_t len;
	bool gone;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_proc(path, &stat, &len))
		return true;
	p = strrchr(stat, ')'); /* the command name may hold anything */
	gone = !p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X';
	free(stat);
	return gone;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 0 with *d, -ETIMEDOUT, -ESRCH (it died first), or a done file error. */
static int wait_done(const struct target *t, double timeout,
		     struct image_done *d)
{
	const struct timespec tick = { 0, POLL_NS };
	double deadline = now() + timeout;
	bool gone = false;
	int err;

	for (;;) {
		err = image_done_read(t->image, d);
		if (!err && d->pid == (uint32_t)t->pid)
			return 0;
		if (err && err != -ENOENT)
			return err;
		/* checked again after it is seen gone: the shim writes the
		 * done file and then exits */
		if (gone)
			return -ESRCH;
		gone = process_gone(t->pid);
		if (!gone && now() >= deadline)
			return -ETIMEDOUT;
		if (!gone)
			nanosleep(&tick, NULL);
	}
}

static void fmt_size(char *buf, size_t len, uint64_t bytes)
{
	if (bytes < 1024)
		snprintf(buf, len, "%" PRIu64 " bytes", bytes);
	else if (bytes < 1024 * 1024)
		snprintf(buf, len, "%.0f KiB", (double)bytes / 1024);
	else if (bytes < 1024 * 1024 * 1024)
		snprintf(buf, len, "%.1f MiB", (double)bytes / (1024 * 1024));
	else
		snprintf(buf, len, "%.1f GiB",
			 (double)bytes / (1024 * 1024 * 1024));
}

static const char *action_text(const char *action)
{
	if (!strcmp(action, "exit"))
		return "the process exits";
	if (!strcmp(action, "term"))
		return "SIGTERM sent to the process";
	if (!strcmp(action, "continue"))
		return "the process runs on";
	if (!strcmp(action, "stop"))
		return "its connections stay stopped";
	return NULL;
}

static int report(const struct target *t, const struct image_done *d)
{
	char size[32], when[32], failed[48] = "";
	const char *act = action_text(d->action);

	if (!d->ok) {
		tool_err("checkpoint of %d failed: %s", (int)t->pid,
			 d->error[0] ? d->error : "no reason given");
		return 1;
	}
	fmt_size(size, sizeof(size), d->bytes);
	if (d->freeze_us < 1000000)
		snprintf(when, sizeof(when), "%.1f ms", d->freeze_us / 1e3);
	else
		snprintf(when, sizeof(when), "%.2f s", d->freeze_us / 1e6);
	if (d->failed)
		snprintf(failed, sizeof(failed), " (%" PRIu32 " could not be)",
			 d->failed);
	printf("checkpoint of %d: %" PRIu32 " connection%s saved%s to %s (%s) "
	       "in %s; %s%s\n", (int)t->pid, d->connections,
	       d->connections == 1 ? "" : "s", failed, t->image, size, when,
	       act ? act : "action ", act ? "" : d->action);
	return 0;
}

/*
 * The path comes from the process's environment: run as root, tcpcp must
 * not become a way for any user to delete any file named *.done.  So only
 * a regular file of the process's owner (or of ours) is removed.
 */
static int remove_stale(const struct target *t, const char *done)
{
	struct stat st, proc;
	char dir[64];

	if (lstat(done, &st))
		return errno == ENOENT ? 0 : -errno;
	snprintf(dir, sizeof(dir), "/proc/%d", (int)t->pid);
	if (stat(dir, &proc))
		return -errno;
	if (!S_ISREG(st.st_mode) ||
	    (st.st_uid != proc.st_uid && st.st_uid != geteuid()))
		return -EPERM;
	return unlink(done) && errno != ENOENT ? -errno : 0;
}

static int checkpoint(struct target *t, double timeout)
{
	struct image_done d;
	char done[PATH_MAX];
	int err;

	err = image_done_path(t->image, done, sizeof(done));
	if (!err)
		err = remove_stale(t, done);
	if (err == -EPERM) {
		tool_err("%s is not a file of process %d's user; not removing it",
			 done, (int)t->pid);
		return 1;
	}
	if (err) {
		tool_err("cannot remove the stale %s: %s", done, strerror(-err));
		return 1;
	}
	if (kill(t->pid, t->sig)) {
		tool_err("cannot signal process %d: %s", (int)t->pid,
			 strerror(errno));
		return 1;
	}
	err = wait_done(t, timeout, &d);
	if (!err)
		return report(t, &d);
	if (err == -ETIMEDOUT)
		tool_err("no answer from %d within %g s (is the shim's log "
			 "saying why?)", (int)t->pid, timeout);
	else if (err == -ESRCH)
		tool_err("process %d exited without answering (is the shim's "
			 "log saying why?)", (int)t->pid);
	else
		tool_err("%s: %s", done, err == -EINVAL ? "malformed" :
			 strerror(-err));
	return 1;
}

/* 0, -1 after --help, or EXIT_USAGE. */
static int parse(int argc, char **argv, double *timeout, const char **image)
{
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "image", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int opt;

	while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (opt == 'h') {
			fputs(cmd_checkpoint.help, stdout);
			return -1;
		}
		if (opt == 't' && parse_timeout(optarg, timeout))
			return tool_usage("checkpoint", "--timeout takes seconds, "
					  "more than 0 and at most %g",
					  MAX_TIMEOUT);
		if (opt == 'i' && !*optarg)
			return tool_usage("checkpoint", "--image takes a path");
		if (opt == 'i')
			*image = optarg;
		else if (opt != 't')
			return tool_bad_option("checkpoint", argv, opt);
	}
	if (optind != argc - 1)
		return tool_usage("checkpoint", "checkpoint takes one PID");
	return 0;
}

static int run(int argc, char **argv)
{
	struct target t = { 0 };
	double timeout = DEFAULT_TIMEOUT;
	const char *image = NULL;
	int ret;

	ret = parse(argc, argv, &timeout, &image);
	if (ret)
		return ret < 0 ? 0 : ret;
	if (parse_pid(argv[optind], &t.pid))
		return tool_usage("checkpoint", "%s is not a process id",
				  argv[optind]);
	ret = 1;
	if (!read_target(&t) && !configure(&t, image))
		ret = checkpoint(&t, timeout);
	free(t.env);
	free(t.image);
	return ret;
}

const struct tool_cmd cmd_checkpoint = {
	.name = "checkpoint",
	.run = run,
	.help =
	"usage: tcpcp checkpoint PID [--timeout SECONDS] [--image PATH]\n"
	"\n"
	"Checkpoints the TCP connections of process PID, which must run under\n"
	"the shim (tcpcp run, or LD_PRELOAD naming libtcpcp_shim.so).  Reads\n"
	"the process's environment for its control signal (TCPCP_SIGNAL,\n"
	"default SIGUSR2) and its image path (TCPCP_IMAGE, %p standing for\n"
	"the pid and %% for %, default /tmp/tcpcp-%p.img; a relative path is\n"
	"taken in the process's current directory), removes a stale\n"
	"IMAGE.done, sends the signal and waits for the shim to write\n"
	"IMAGE.done.  Then prints how many connections were saved, how big\n"
	"the image is, how long the connections were frozen and what the\n"
	"process does next (TCPCP_ON_CHECKPOINT).\n"
	"\n"
	"Exit status 1, with one line on stderr, when the process does not\n"
	"run under the shim, the checkpoint failed, the process exited\n"
	"without answering, or no answer came in time.\n"
	"\n"
	"Options:\n"
	"  --timeout SECONDS  how long to wait for the answer (default 30,\n"
	"                     at most 3600; fractions allowed)\n"
	"  --image PATH       where the process writes its image, when its\n"
	"                     environment does not say it any more\n"
	"  -h, --help         this text\n",
};
