/* SPDX-License-Identifier: MIT */
/*
 * The psyne tool: one verb table in psyne.c, one file per verb (verb_cat.c, verb_stat.c),
 * helpers shared by the verbs in tool.c.
 *
 * A verb parses its own options (docs/CONTRIBUTING.md, "Command-line programs"): its
 * parse_argv() gets argv with the verb as argv[0], returns < 0 after printing one usage error
 * line, 0 for "done, exit 0" (after --help), > 0 to go on, and leaves optind at the first
 * positional argument. The dispatcher then checks the number of positional arguments against
 * the table and calls run(), which returns 0 or a negative errno it has already logged.
 */
#ifndef PSYNE_TOOL_H
#define PSYNE_TOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "common/macro.h"

#define TOOL_NAME "psyne"

/* getopt_long values of the options every verb takes; short options are ASCII. */
enum {
	ARG_LOG_LEVEL = 0x100,
	_ARG_COMMON_MAX,
};

/* clang-format off */
#define TOOL_COMMON_OPTIONS                                                                        \
	{ "help", no_argument, NULL, 'h' },                                                        \
	{ "log-level", required_argument, NULL, ARG_LOG_LEVEL }
/* clang-format on */

struct verb {
	const char *name;
	unsigned min_args;
	unsigned max_args;
	const char *synopsis; /* what follows the verb in a usage line */
	const char *summary;  /* one line, for `psyne --help` */
	int (*parse_argv)(int argc, char *argv[]);
	int (*run)(int n_args, char *args[]);
	void (*help)(void);
};

/* The table, in psyne.c; help lists the verbs from it. */
const struct verb *tool_find_verb(const char *name);
void tool_help(void);

/* The verbs. */
int verb_cat_parse_argv(int argc, char *argv[]);
int verb_cat_run(int n_args, char *args[]);
void verb_cat_help(void);
int verb_stat_parse_argv(int argc, char *argv[]);
int verb_stat_run(int n_args, char *args[]);
void verb_stat_help(void);
int verb_bench_parse_argv(int argc, char *argv[]);
int verb_bench_run(int n_args, char *args[]);
void verb_bench_help(void);

/*
 * Prints "psyne: VERB: MESSAGE" and "Try 'psyne VERB --help'." (without VERB when it is
 * NULL) to stderr and returns -EINVAL.
 */
int tool_usage_error(const char *verb, const char *format, ...) _printf_(2, 3);

/* Whether tool_usage_error() has been called: a run() that fails after one exits with 2. */
bool tool_usage_error_printed(void);

/*
 * For getopt_long's '?' and ':' (the option string must start with ':' or "+:"): names the
 * unknown option or the one missing its value, from argv and optopt, as a usage error.
 */
int tool_option_error(const char *verb, int c, char *const argv[]);

/* --log-level=LEVEL of a verb: sets the level, or returns a usage error. */
int tool_parse_log_level(const char *verb, const char *value);

/*
 * Hands libpsyne's messages to this tool's log (stderr, "psyne: ..."), up to the level set
 * by --log-level or PSYNE_LOG_LEVEL: the library says nothing by itself.
 */
void tool_log_setup(void);

/*
 * Keeps the library's error messages from tool_reason_begin() to tool_reason_end() instead of
 * logging them, for a verb to give the reason something was refused in its one error line.
 * tool_reason_end() returns the last one, valid until the next tool_reason_begin(), or NULL
 * when there was none. The two do not nest.
 */
void tool_reason_begin(void);
const char *tool_reason_end(void);

/*
 * psyne_open() for a verb, with one error line when it fails: the library's own reason. A
 * URI refused as written (-EINVAL, or -EPROTONOSUPPORT for an unknown scheme) is a usage
 * error: the line is followed by "Try 'psyne VERB --help'." and -EINVAL comes back, for exit
 * status 2. Any other failure ("psyne: VERB: cannot open 'URI': why") comes back as it is,
 * already logged. `open_uri`, when not NULL, is opened instead of `uri`, which is what the
 * user wrote and what messages name: `uri` with options the verb added. When the library
 * refuses it as written, `uri` itself is opened, so that the reason is about what the user
 * wrote.
 */
struct psyne_channel;
int tool_open(const char *verb, const char *uri, const char *open_uri,
	      struct psyne_channel **ret_channel);

/* Whether `size` bytes are well-formed UTF-8 (no overlongs, surrogates or values past
 * U+10FFFF), so that a JSON string can carry them and give back the same bytes. */
bool tool_utf8_is_valid(const void *data, size_t size);

/* Writes `size` bytes of well-formed UTF-8 to f as a JSON string literal, quotes included. */
void tool_json_string(FILE *f, const void *data, size_t size);

/* Writes `size` bytes to f in base64 (RFC 4648, padded), without quotes or line breaks. */
void tool_base64(FILE *f, const void *data, size_t size);

#endif
