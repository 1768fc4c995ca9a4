/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The shim's two signals.
 *
 * The control signal (TCPCP_SIGNAL, default SIGUSR2) is blocked in every
 * thread and read only by the worker through a signalfd, so the program's
 * own threads never see it and never get EINTR from it.  The program
 * cannot take it over: its sigaction() and signal() for it are recorded,
 * not installed, and its masks never unblock it (guard.c).
 *
 * The park signal, a real-time signal of the shim's own, stops the world
 * during a checkpoint: its handler waits on a futex until the worker
 * releases it (park.c), preferably at a safe point (a wait).  A thread
 * inside a shim critical section (holding a shim lock) parks when it
 * leaves the section instead, so the worker never waits on a lock a
 * parked thread holds.
 */
#ifndef TCPCP_SIGNALS_H
#define TCPCP_SIGNALS_H

#include <signal.h>
#include <stdbool.h>

extern int ctl_signal;
extern int park_signal;

/* Constructor: blocks the control signal in this thread (every thread
 * made later inherits it), installs the park handler.  0 or -errno. */
int signals_init(int ctl);
/* A signalfd that reads the control signal; -errno. */
int ctl_signalfd(void);
bool signals_reserved(int sig);
/* The program's mask with the control signal kept blocked and the park
 * signal kept open; returns set itself when nothing needs changing. */
const sigset_t *guard_mask(int how, const sigset_t *set, sigset_t *copy);

/* Parks every other thread of the process; the number parked, or -errno
 * (-ETIMEDOUT: a thread did not stop, everything released again). */
int park_others(int timeout_ms);
void park_release(void);

/* A thread that releases the world if a checkpoint hangs (a parked
 * thread holding a lock the worker needs): started with the worker,
 * armed around each checkpoint; park_aborted() says it fired. */
int park_watchdog_start(void);
void park_watchdog(bool arm);
bool park_aborted(void);

/* True once after this thread was parked: an EINTR the program's wait
 * got from the park is the shim's, and the wait is resumed. */
bool park_interrupted(void);

/* Shim critical sections: a park arriving inside waits for the end. */
void crit_enter(void);
void crit_leave(void);

/* Around the program's waits (epoll_wait, poll, select, accept): the
 * safe points where a thread holds no half-answered request. */
void wait_enter(void);
void wait_leave(void);

/* The program's recorded handlers are reported once in the log. */
void guard_after_fork_child(void);

#endif /* TCPCP_SIGNALS_H */
