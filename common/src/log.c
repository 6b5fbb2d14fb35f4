/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/string-util.h"

static atomic_int max_level = LOG_INFO;
/* -1: not decided yet; 0: plain; 1: ANSI colour. */
static atomic_int color_mode = -1;
static atomic_int color_forced = -1;

static const char *const level_names[] = {
	[LOG_EMERG] = "emerg", [LOG_ALERT] = "alert",	  [LOG_CRIT] = "crit",
	[LOG_ERR] = "error",   [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
	[LOG_INFO] = "info",   [LOG_DEBUG] = "debug",
};

int log_get_max_level(void)
{
	return atomic_load_explicit(&max_level, memory_order_relaxed);
}

void log_set_max_level(int level)
{
	atomic_store_explicit(&max_level, CLAMP(level, LOG_EMERG, LOG_DEBUG), memory_order_relaxed);
}

int log_level_from_string(const char *s)
{
	int level;

	if (isempty(s))
		return -EINVAL;

	if (streq(s, "err"))
		return LOG_ERR;
	if (streq(s, "warn"))
		return LOG_WARNING;
	for (size_t i = 0; i < ELEMENTSOF(level_names); i++)
		if (streq(s, level_names[i]))
			return (int)i;

	if (safe_atoi(s, &level) < 0 || level < LOG_EMERG || level > LOG_DEBUG)
		return -EINVAL;
	return level;
}

const char *log_level_to_string(int level)
{
	if (level < 0 || (size_t)level >= ELEMENTSOF(level_names))
		return NULL;
	return level_names[level];
}

int log_setup_from_env(const char *envvar)
{
	const char *e;
	int level;

	e = getenv(envvar);
	if (isempty(e))
		return 0;

	level = log_level_from_string(e);
	if (level < 0)
		return log_warning_errno(level, "Invalid %s='%s', ignoring.", envvar, e);

	log_set_max_level(level);
	return 1;
}

int log_parse_argv_level(const char *value)
{
	int level;

	level = log_level_from_string(value);
	if (level < 0)
		return log_error_errno(level, "--log-level: invalid level '%s'",
				       value ? value : "");

	log_set_max_level(level);
	return 0;
}

void log_set_color(int mode)
{
	atomic_store(&color_forced, mode < 0 ? -1 : !!mode);
}

static bool use_color(void)
{
	int forced = atomic_load(&color_forced);
	int mode;

	if (forced >= 0)
		return forced;

	mode = atomic_load(&color_mode);
	if (mode < 0) {
		mode = isatty(STDERR_FILENO) && !getenv("NO_COLOR");
		atomic_store(&color_mode, mode);
	}
	return mode;
}

static const char *level_color(int level)
{
	if (level <= LOG_ERR)
		return "\033[31;1m";
	if (level == LOG_WARNING)
		return "\033[33;1m";
	if (level == LOG_NOTICE)
		return "\033[1m";
	if (level == LOG_DEBUG)
		return "\033[90m";
	return "";
}

int log_internal(int level, int error, const char *file, int line, const char *func,
		 const char *format, ...)
{
	int saved_errno = errno;
	int err = error < 0 ? -error : error;
	bool color;
	char buf[2048];
	va_list ap;

	if (level > log_get_max_level())
		goto finish;

	/* %m is glibc's: it prints strerror(errno), so hand it the error we were given. */
	errno = err != 0 ? err : saved_errno;
	va_start(ap, format);
	(void)vsnprintf(buf, sizeof(buf), format, ap);
	va_end(ap);

	color = use_color() && level != LOG_INFO;
	if (level == LOG_DEBUG) {
		const char *slash = strrchr(file, '/');

		file = slash ? slash + 1 : file;
		(void)fprintf(stderr, "%s: %s%s (%s:%d %s)%s\n", program_invocation_short_name,
			      color ? level_color(level) : "", buf, file, line, func,
			      color ? "\033[0m" : "");
	} else {
		(void)fprintf(stderr, "%s: %s%s%s\n", program_invocation_short_name,
			      color ? level_color(level) : "", buf, color ? "\033[0m" : "");
	}

finish:
	errno = saved_errno;
	return -err;
}
