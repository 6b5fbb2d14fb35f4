/* SPDX-License-Identifier: MIT */
/*
 * The library's diagnostics: every message goes to the function the application set with
 * psyne_set_log_func(), and nowhere when it set none. A message is one line without a
 * newline and without a "psyne: " prefix; it names its subject (an address, a channel).
 *
 * The macros test the level before they evaluate their arguments, so a silent library pays
 * one relaxed load per call site and formats nothing.
 */
#ifndef PSYNE_LOG_H
#define PSYNE_LOG_H

#include <stdatomic.h>
#include <stdbool.h>

#include "common/macro.h"
#include "psyne.h"

/* The most verbose level the application asked for; -1 while no function is set. */
extern _Atomic int psyne__log_max_level;

static inline bool psyne__log_enabled(int level)
{
	return level <= atomic_load_explicit(&psyne__log_max_level, memory_order_relaxed);
}

/* Formats and hands one message to the application's function. */
void psyne__log_internal(int level, const char *format, ...) _printf_(2, 3);

#define psyne__log(level, ...)                                                                     \
	do {                                                                                       \
		if (psyne__log_enabled(level))                                                     \
			psyne__log_internal((level), __VA_ARGS__);                                 \
	} while (0)

#define psyne__log_error(...) psyne__log(PSYNE_LOG_ERR, __VA_ARGS__)
#define psyne__log_warning(...) psyne__log(PSYNE_LOG_WARNING, __VA_ARGS__)
#define psyne__log_info(...) psyne__log(PSYNE_LOG_INFO, __VA_ARGS__)
#define psyne__log_debug(...) psyne__log(PSYNE_LOG_DEBUG, __VA_ARGS__)

#endif
