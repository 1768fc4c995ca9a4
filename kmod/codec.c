// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The TCP-SI codec of libtcpcp, compiled into the module unchanged (its
 * si_compat.h switches to kernel headers), so that both sides parse and
 * write exactly the same format, and the parser the kernel runs on user
 * input is the one fuzzed in user space (fuzz/).
 */
#include "../lib/si_codec.c"
