// SPDX-License-Identifier: LGPL-2.1-or-later
/* The one-line reason behind a failure: errno alone cannot say that the
 * module is missing or that a queue changed while it was read. */
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

static __thread char detail[256];

void detail_set(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
}

void detail_clear(void)
{
	detail[0] = '\0';
}

TCPCP_EXPORT const char *tcpcp_strerror_detail(void)
{
	return detail;
}
