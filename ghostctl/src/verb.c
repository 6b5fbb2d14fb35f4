/* SPDX-License-Identifier: MIT */
/* The one dispatcher of ghostctl's verb tables; see verb.h. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/string-util.h"
#include "verb.h"

/* getopt_long values: the verb's options are OPT_BASE + index, then the common ones. */
enum {
	OPT_BASE = 0x1000,
	OPT_HELP = 0x800,
	OPT_JSON,
	OPT_DRY_RUN,
};

#define MAX_OPTIONS 96

int gc_usage_error(const char *path, const char *format, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, format);
	(void)vsnprintf(msg, sizeof(msg), format, ap);
	va_end(ap);
	if (!isempty(path))
		fprintf(stderr, GC_PROGRAM ": %s: %s\nTry '" GC_PROGRAM " %s --help'.\n", path, msg,
			path);
	else
		fprintf(stderr, GC_PROGRAM ": %s\nTry '" GC_PROGRAM " --help'.\n", msg);
	return GC_EXIT_USAGE;
}

int gc_exit_status(int r)
{
	if (r == GC_EXIT_USAGE)
		return 2;
	if (r <= GC_EXIT_STATUS(1) && r >= GC_EXIT_STATUS(255))
		return GC_EXIT_STATUS(0) - r;
	return r < 0 ? 1 : 0;
}

static const char *str_empty(const char *s)
{
	return s ? s : "";
}

static size_t n_options(const struct gc_verb *verb)
{
	size_t n = 0;

	if (verb->options)
		while (verb->options[n].name)
			n++;
	return n;
}

/* "--memory=SIZE", "-m, --memory=SIZE", for the help's left column. */
static void format_option(char *buf, size_t size, int short_name, const char *name, const char *arg)
{
	int k = 0;

	if (short_name != 0)
		k = snprintf(buf, size, "-%c, --%s", short_name, name);
	else
		k = snprintf(buf, size, "    --%s", name);
	if (arg && k >= 0 && (size_t)k < size)
		(void)snprintf(buf + k, size - (size_t)k, "=%s", arg);
}

static void print_option(int short_name, const char *name, const char *arg, const char *help)
{
	char left[64];

	format_option(left, sizeof(left), short_name, name, arg);
	if (strlen(left) > 26)
		printf("  %s\n  %-26s  %s\n", left, "", help);
	else
		printf("  %-26s  %s\n", left, help);
}

static void join_path(char *buf, size_t size, const char *parent, const char *name)
{
	if (isempty(parent))
		(void)snprintf(buf, size, "%s", name);
	else
		(void)snprintf(buf, size, "%s %s", parent, name);
}

void gc_table_help(const struct gc_verb *table, size_t n, const char *path, const char *description)
{
	size_t width = 4;

	for (size_t i = 0; i < n; i++)
		width = MAX(width,
			    strlen(table[i].name) + 1 + strlen(str_empty(table[i].synopsis)));

	printf("Usage: " GC_PROGRAM "%s%s [OPTIONS] VERB [ARGS...]\n\n", isempty(path) ? "" : " ",
	       str_empty(path));
	if (description)
		printf("%s\n\n", description);
	printf("Verbs:\n");
	for (size_t i = 0; i < n; i++) {
		char left[128];

		(void)snprintf(left, sizeof(left), "%s %s", table[i].name,
			       str_empty(table[i].synopsis));
		printf("  %-*s  %s\n", (int)MIN(width, (size_t)40), left, table[i].summary);
	}
	printf("\n'" GC_PROGRAM "%s%s VERB --help' describes a verb and its options.\n",
	       isempty(path) ? "" : " ", str_empty(path));
}

void gc_verb_help(const struct gc_verb *verb, const char *path)
{
	const struct gc_option *o;

	if (verb->children) {
		gc_table_help(verb->children, verb->n_children, path,
			      verb->description ? verb->description : verb->summary);
		return;
	}
	printf("Usage: " GC_PROGRAM " %s %s\n\n%s\n", path, str_empty(verb->synopsis),
	       verb->summary);
	if (verb->description)
		printf("\n%s\n", verb->description);
	printf("\nOptions:\n");
	for (o = verb->options; o && o->name; o++)
		print_option(o->short_name, o->name, o->arg, o->help);
	if (verb->flags & GC_VERB_JSON)
		print_option(0, "json", NULL, "Print the result as JSON");
	if (verb->flags & GC_VERB_DRY_RUN)
		print_option(0, "dry-run", NULL, "Say what would be done, change nothing");
	print_option('h', "help", NULL, "Show this help and exit");
	if (verb->epilogue)
		printf("\n%s\n", verb->epilogue);
}

/* Names the option getopt stopped at, for "unknown option" and "needs a value" errors. */
static int option_error(const char *path, int c, char *const argv[])
{
	const char *word = optind > 0 ? argv[optind - 1] : "";
	bool is_long = startswith(word, "--") &&
		       (c == ':' || optopt == 0 || optopt >= 0x100 || strchr(word, '='));
	char name[64];

	if (is_long)
		(void)snprintf(name, sizeof(name), "%.*s", (int)MIN(strcspn(word, "="), (size_t)60),
			       word);
	else
		(void)snprintf(name, sizeof(name), "-%c", optopt);
	if (c == ':')
		return gc_usage_error(path, "option '%s' needs a value", name);
	if (is_long && optopt != 0)
		return gc_usage_error(path, "option '%s' takes no value", name);
	return gc_usage_error(path, "unknown option '%s'", name);
}

/*
 * Parses a leaf verb's options (argv[0] is the verb). Returns 1 to go on, 0 after --help,
 * or GC_EXIT_USAGE.
 */
static int parse_leaf(const struct gc_verb *verb, struct gc_cmd *cmd, int argc, char **argv)
{
	struct option longopts[MAX_OPTIONS + 4];
	char shortopts[2 * MAX_OPTIONS + 8] = ":h";
	size_t n = n_options(verb), k = 0, s = 2;
	int c;

	if (n > MAX_OPTIONS)
		return -E2BIG; /* a programming error, caught by the tests of --help */
	for (size_t i = 0; i < n; i++) {
		const struct gc_option *o = &verb->options[i];

		longopts[k++] = (struct option){ o->name, o->arg ? required_argument : no_argument,
						 NULL, OPT_BASE + (int)i };
		if (o->short_name != 0) {
			shortopts[s++] = (char)o->short_name;
			if (o->arg)
				shortopts[s++] = ':';
		}
	}
	shortopts[s] = '\0';
	longopts[k++] = (struct option){ "help", no_argument, NULL, OPT_HELP };
	if (verb->flags & GC_VERB_JSON)
		longopts[k++] = (struct option){ "json", no_argument, NULL, OPT_JSON };
	if (verb->flags & GC_VERB_DRY_RUN)
		longopts[k++] = (struct option){ "dry-run", no_argument, NULL, OPT_DRY_RUN };
	longopts[k] = (struct option){ NULL, 0, NULL, 0 };

	optind = 0; /* glibc: start over, with a fresh argv */
	opterr = 0;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) >= 0) {
		const struct gc_option *o = NULL;
		int r;

		switch (c) {
		case 'h':
		case OPT_HELP:
			gc_verb_help(verb, cmd->path);
			return 0;
		case OPT_JSON:
			cmd->json = true;
			continue;
		case OPT_DRY_RUN:
			cmd->dry_run = true;
			continue;
		case '?':
		case ':':
			return option_error(cmd->path, c, argv);
		default:
			break;
		}
		if (c >= OPT_BASE && c < OPT_BASE + (int)n)
			o = &verb->options[c - OPT_BASE];
		else
			for (size_t i = 0; i < n && !o; i++)
				if (verb->options[i].short_name == c)
					o = &verb->options[i];
		if (!o)
			return option_error(cmd->path, '?', argv);
		r = verb->parse_option ? verb->parse_option(cmd, o->id, o->arg ? optarg : NULL) :
					 -EINVAL;
		if (r < 0)
			return r == GC_EXIT_USAGE ?
				       r :
				       gc_usage_error(cmd->path, "--%s: %s", o->name, strerror(-r));
	}
	return 1;
}

static const struct gc_verb *find_verb(const struct gc_verb *table, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (streq(table[i].name, name))
			return &table[i];
	return NULL;
}

int gc_dispatch(const struct gc_verb *table, size_t n, const char *parent, int argc, char **argv,
		struct gc_settings *settings)
{
	const struct gc_verb *verb;
	char path[128];
	unsigned count;
	int r;

	if (argc < 1 || !argv[0])
		return gc_usage_error(parent, "missing verb");
	verb = find_verb(table, n, argv[0]);
	if (!verb)
		return gc_usage_error(parent, "unknown verb '%s'", argv[0]);
	join_path(path, sizeof(path), parent, verb->name);

	if (verb->children) {
		/* A group takes only --help before its verb. */
		if (argc >= 2 && (streq(argv[1], "--help") || streq(argv[1], "-h"))) {
			gc_verb_help(verb, path);
			return 0;
		}
		if (argc >= 2 && startswith(argv[1], "-"))
			return gc_usage_error(path, "unknown option '%s'", argv[1]);
		if (argc < 2)
			return gc_usage_error(path, "missing verb (one of: %s%s)",
					      verb->children[0].name,
					      verb->n_children > 1 ? ", ..." : "");
		return gc_dispatch(verb->children, verb->n_children, path, argc - 1, argv + 1,
				   settings);
	}

	struct gc_cmd cmd = { .path = path, .settings = settings };

	r = parse_leaf(verb, &cmd, argc, argv);
	if (r <= 0)
		return r;
	count = (unsigned)(argc - optind);
	if (count < verb->min_args)
		return gc_usage_error(path, "missing argument (usage: " GC_PROGRAM " %s %s)", path,
				      str_empty(verb->synopsis));
	if (count > verb->max_args)
		return gc_usage_error(path, "unexpected argument '%s'",
				      argv[optind + (int)verb->max_args]);
	return verb->run(&cmd, (int)count, argv + optind);
}
