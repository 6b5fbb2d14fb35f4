/* SPDX-License-Identifier: MIT */
/*
 * Logging for programs (never for libraries, which return errors instead): one line per
 * event on stderr, prefixed with the program name, coloured by level on a TTY when NO_COLOR
 * is unset. Levels are syslog's: LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG. The default
 * maximum level is LOG_INFO.
 *
 * Every macro checks the level before it evaluates its format arguments. In a format, %m
 * stands for strerror() of the error passed to the _errno variants (of errno otherwise).
 *
 * All functions are thread-safe: each event is written with a single fprintf().
 */
#ifndef COMMON_LOG_H
#define COMMON_LOG_H

#include <stdbool.h>
#include <syslog.h>

#include "common/macro.h"

/* The most verbose level that is printed; events with a larger level are dropped. */
int log_get_max_level(void);
void log_set_max_level(int level);

/*
 * Parse "error" (or "err"), "warning" (or "warn"), "info", "debug", or a syslog number
 * 0..7. Returns the level or -EINVAL.
 */
int log_level_from_string(const char *s);

/* "error", "warning", "info", "debug" (and "emerg", "alert", "crit", "notice"); NULL if
 * out of range. */
const char *log_level_to_string(int level);

/*
 * Set the maximum level from the environment variable envvar (e.g. "PSYNE_LOG_LEVEL").
 * Returns 1 when it was set, 0 when the variable is unset or empty, and -EINVAL when its
 * value is invalid, which is logged as a warning and otherwise ignored.
 */
int log_setup_from_env(const char *envvar);

/*
 * For --log-level=LEVEL: parse value and set the maximum level. Returns 0, or -EINVAL
 * after logging one error line naming the bad value.
 */
int log_parse_argv_level(const char *value);

/* Force colour on (1), off (0), or back to automatic (-1: TTY and NO_COLOR unset). */
void log_set_color(int mode);

/*
 * Write one event. error is an errno value (either sign, 0 for none); it is what %m prints.
 * Returns -abs(error), or 0 when error is 0, so that callers can write
 * `return log_error_errno(r, "...: %m");`.
 */
int log_internal(int level, int error, const char *file, int line, const char *func,
		 const char *format, ...) _printf_(6, 7);

#define log_full_errno(level, error, ...)                                                          \
	__extension__({                                                                            \
		int _log_level_ = (level), _log_error_ = (error);                                  \
		(log_get_max_level() >= _log_level_) ?                                             \
			log_internal(_log_level_, _log_error_, __FILE__, __LINE__, __func__,       \
				     __VA_ARGS__) :                                                \
			(_log_error_ < 0 ? _log_error_ : -_log_error_);                            \
	})

#define log_full(level, ...) ((void)log_full_errno((level), 0, __VA_ARGS__))

#define log_error(...) log_full(LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_full(LOG_DEBUG, __VA_ARGS__)

#define log_error_errno(error, ...) log_full_errno(LOG_ERR, (error), __VA_ARGS__)
#define log_warning_errno(error, ...) log_full_errno(LOG_WARNING, (error), __VA_ARGS__)
#define log_notice_errno(error, ...) log_full_errno(LOG_NOTICE, (error), __VA_ARGS__)
#define log_info_errno(error, ...) log_full_errno(LOG_INFO, (error), __VA_ARGS__)
#define log_debug_errno(error, ...) log_full_errno(LOG_DEBUG, (error), __VA_ARGS__)

/* Return -ENOMEM after logging it, for allocation failures. */
#define log_oom() log_error_errno(ENOMEM, "Out of memory.")

#endif
