// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libc's own functions, bound once with dlsym(RTLD_NEXT) on first use,
 * which may come before the shim's constructor (jemalloc in redis calls
 * into libc that early).  Should dlsym itself come back into an
 * interposer on the binding thread, that call gets NULL and the
 * interposer falls back to the system call.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>

#include "shim.h"

static struct real_fns fns;
static pthread_once_t bound = PTHREAD_ONCE_INIT;
static __thread int binding __attribute__((tls_model("initial-exec")));

#define BIND(name) (*(void **)&fns.name = dlsym(RTLD_NEXT, #name))

static void bind_all(void)
{
	binding = 1;
	BIND(socket);
	BIND(bind);
	BIND(listen);
	BIND(connect);
	BIND(accept);
	BIND(accept4);
	BIND(close);
	BIND(close_range);
	BIND(closefrom);
	BIND(dup);
	BIND(dup2);
	BIND(dup3);
	BIND(fcntl);
	BIND(fcntl64);
	BIND(sigaction);
	BIND(sigprocmask);
	BIND(pthread_sigmask);
	BIND(poll);
	BIND(ppoll);
	BIND(select);
	BIND(pselect);
	BIND(epoll_ctl);
	BIND(epoll_wait);
	BIND(epoll_pwait);
	BIND(epoll_pwait2);
	if (!fns.fcntl64)
		fns.fcntl64 = fns.fcntl;
	binding = 0;
}

const struct real_fns *real(void)
{
	if (binding)
		return NULL;
	pthread_once(&bound, bind_all);
	return &fns;
}
