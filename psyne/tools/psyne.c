/* SPDX-License-Identifier: MIT */
/*
 * psyne: the command-line tool of libpsyne. Verbs come from one table (docs/CONTRIBUTING.md,
 * "Command-line programs"): `psyne cat` sends or receives on any channel through the public
 * API, `psyne stat` lists the ipc:// channels and network handles of this user without
 * joining them, `psyne bench` runs the side-by-side benchmark.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/log.h"
#include "common/macro.h"
#include "common/string-util.h"
#include "tool.h"

static int verb_help_parse_argv(int argc, char *argv[]);
static int verb_help_run(int n_args, char *args[]);

static const struct verb verbs[] = {
	{
		.name = "cat",
		.min_args = 1,
		.max_args = 1,
		.synopsis = "URI [OPTIONS]",
		.summary = "Send stdin to a channel, or print what it receives",
		.parse_argv = verb_cat_parse_argv,
		.run = verb_cat_run,
		.help = verb_cat_help,
	},
	{
		.name = "stat",
		.min_args = 0,
		.max_args = 1,
		.synopsis = "[URI|NAME] [OPTIONS]",
		.summary = "List this user's channels and their counters",
		.parse_argv = verb_stat_parse_argv,
		.run = verb_stat_run,
		.help = verb_stat_help,
	},
	{
		.name = "bench",
		.min_args = 0,
		.max_args = 64,
		.synopsis = "[BENCH-OPTIONS...]",
		.summary = "Run the side-by-side benchmark (psyne-bench)",
		.parse_argv = verb_bench_parse_argv,
		.run = verb_bench_run,
		.help = verb_bench_help,
	},
	{
		.name = "help",
		.min_args = 0,
		.max_args = 1,
		.synopsis = "[VERB]",
		.summary = "Show this help, or a verb's",
		.parse_argv = verb_help_parse_argv,
		.run = verb_help_run,
		.help = tool_help,
	},
};

const struct verb *tool_find_verb(const char *name)
{
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
		if (streq(verbs[i].name, name))
			return &verbs[i];
	return NULL;
}

void tool_help(void)
{
	printf("Usage: " TOOL_NAME " [OPTIONS] VERB [ARGS...]\n"
	       "\n"
	       "The command-line tool of libpsyne, zero-copy messaging.\n"
	       "\n"
	       "Verbs:\n");
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
		printf("  %-5s %-21s %s\n", verbs[i].name, verbs[i].synopsis, verbs[i].summary);
	printf("\n"
	       "Options:\n"
	       "  -h --help          Show this help and exit\n"
	       "     --version      Show the version and exit\n"
	       "     --log-level=L  error, warning, info or debug (default info; also the\n"
	       "                    environment variable PSYNE_LOG_LEVEL)\n"
	       "\n"
	       "'" TOOL_NAME " VERB --help' describes a verb and its options.\n"
	       "\n"
	       "Exit status: 0 on success, 1 on failure, 2 on usage errors.\n");
}

static int verb_help_parse_argv(int argc, char *argv[])
{
	static const struct option options[] = { TOOL_COMMON_OPTIONS, { NULL, 0, NULL, 0 } };
	int c;

	while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0)
		switch (c) {
		case 'h':
			tool_help();
			return 0;
		case ARG_LOG_LEVEL:
			if (tool_parse_log_level("help", optarg) < 0)
				return -EINVAL;
			break;
		default:
			return tool_option_error("help", c, argv);
		}
	if (optind < argc && !tool_find_verb(argv[optind]))
		return tool_usage_error("help", "unknown verb '%s'", argv[optind]);
	return 1;
}

static int verb_help_run(int n_args, char *args[])
{
	if (n_args == 0)
		tool_help();
	else
		tool_find_verb(args[0])->help();
	return 0;
}

/* Global options, before the verb. Returns as a verb's parse_argv() does. */
static int parse_argv(int argc, char *argv[])
{
	enum {
		ARG_VERSION = _ARG_COMMON_MAX,
	};
	static const struct option options[] = {
		TOOL_COMMON_OPTIONS,
		{ "version", no_argument, NULL, ARG_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	/* '+': stop at the verb, whose options are its own. */
	while ((c = getopt_long(argc, argv, "+:h", options, NULL)) >= 0)
		switch (c) {
		case 'h':
			tool_help();
			return 0;
		case ARG_VERSION:
			printf(TOOL_NAME " " PSYNE_TOOL_VERSION "\n");
			return 0;
		case ARG_LOG_LEVEL:
			if (tool_parse_log_level(NULL, optarg) < 0)
				return -EINVAL;
			break;
		default:
			return tool_option_error(NULL, c, argv);
		}
	if (optind >= argc)
		return tool_usage_error(NULL, "missing verb");
	return 1;
}

/* Runs the verb at argv[0]; returns as run() does, or as parse_argv() for usage. */
static int dispatch(int argc, char *argv[], bool *ret_usage)
{
	const struct verb *verb = tool_find_verb(argv[0]);
	unsigned n;
	int r;

	*ret_usage = true;
	if (!verb)
		return tool_usage_error(NULL, "unknown verb '%s'", argv[0]);

	optind = 0; /* glibc: start over, with a fresh argv */
	r = verb->parse_argv(argc, argv);
	if (r <= 0)
		return r;

	n = (unsigned)(argc - optind);
	if (n < verb->min_args)
		return tool_usage_error(verb->name, "missing argument (usage: " TOOL_NAME " %s %s)",
					verb->name, verb->synopsis);
	if (n > verb->max_args)
		return tool_usage_error(verb->name, "unexpected argument '%s'",
					argv[optind + (int)verb->max_args]);

	*ret_usage = false;
	tool_log_setup();
	return verb->run((int)n, argv + optind);
}

int main(int argc, char *argv[])
{
	bool usage;
	int r;

	log_setup_from_env("PSYNE_LOG_LEVEL");
	r = parse_argv(argc, argv);
	if (r <= 0)
		return r < 0 ? 2 : EXIT_SUCCESS;

	r = dispatch(argc - optind, argv + optind, &usage);
	if (r < 0)
		return usage || tool_usage_error_printed() ? 2 : EXIT_FAILURE;
	return EXIT_SUCCESS;
}
