/* SPDX-License-Identifier: MIT */
/*
 * Verb tables and their one dispatcher (docs/CONTRIBUTING.md, "Command-line programs").
 *
 * A verb is a leaf (it has run()) or a group (it has children, as `vm` and `vm snapshot`).
 * Each verb declares its options in a table; the dispatcher parses them with getopt_long,
 * adds --help to every verb, --json to those flagged GC_VERB_JSON and --dry-run to those
 * flagged GC_VERB_DRY_RUN, checks the number of arguments, and generates the help text.
 * The same tables make `ghostctl help` and every `ghostctl ... --help`.
 *
 * A usage error prints one line, "ghostctl: vm create: --memory: invalid size '12Q'", and
 * "Try 'ghostctl vm create --help'." to stderr; the dispatcher then returns -EINVAL and
 * main() exits 2. A verb's run() returns 0, or a negative errno it has already logged
 * (exit 1); it may return GC_EXIT_USAGE (exit 2) after gc_usage_error().
 */
#ifndef GC_VERB_H
#define GC_VERB_H

#include <stdbool.h>
#include <stddef.h>

#include "common/macro.h"

#define GC_PROGRAM "ghostctl"

struct gc_settings;

enum {
	GC_VERB_JSON = 1u << 0,	   /* prints data: takes --json */
	GC_VERB_DRY_RUN = 1u << 1, /* changes something: takes --dry-run */
};

/* One option of a verb. The table ends with an entry whose name is NULL. */
struct gc_option {
	const char *name; /* long form, without "--" */
	int short_name;	  /* 0 for none */
	const char *arg;  /* the value's placeholder in help ("SIZE"); NULL for a flag */
	const char *help; /* one line */
	int id;		  /* handed to parse_option() */
};

/* One invocation: what the dispatcher parsed, for the verb to act on. */
struct gc_cmd {
	const char *path; /* "vm snapshot create": names the verb in messages */
	bool json;
	bool dry_run;
	struct gc_settings *settings;
	void *userdata; /* the verb family's, set by its parse_option() or run() */
};

struct gc_verb {
	const char *name;
	const char *synopsis;	 /* what follows the verb in a usage line ("NAME [OPTIONS]") */
	const char *summary;	 /* one line, for the parent's help */
	const char *description; /* paragraphs for the verb's own --help; may be NULL */
	unsigned min_args;
	unsigned max_args;
	unsigned flags;
	const struct gc_option *options; /* may be NULL */
	/*
	 * Called for each option of the table in the order given; value is NULL for a flag.
	 * Returns 0, or a usage error from gc_usage_error().
	 */
	int (*parse_option)(struct gc_cmd *cmd, int id, const char *value);
	/* A leaf's work, after every option was parsed and the arguments counted. */
	int (*run)(struct gc_cmd *cmd, int n_args, char **args);
	/* A group's verbs; a group has no run(). */
	const struct gc_verb *children;
	size_t n_children;
	/* A trailing help section (exit codes, files, examples); may be NULL. */
	const char *epilogue;
};

/* What run() may return besides 0 and -errno: a usage error it already reported (exit 2). */
#define GC_EXIT_USAGE (-0x10000)
/* ...or an exit status of its own, 1 to 255 (`vm start` exits with QEMU's status). */
#define GC_EXIT_STATUS(code) (-0x20000 - (code))

/*
 * Runs the verb named by argv[0] in `table` (argv is what follows the program's own
 * options), descending into groups. `parent` names the path so far ("" at the top).
 * Returns 0, GC_EXIT_USAGE after a usage error, or the verb's negative errno.
 */
int gc_dispatch(const struct gc_verb *table, size_t n, const char *parent, int argc, char **argv,
		struct gc_settings *settings);

/* Prints the help of a verb (a group's lists its verbs) to stdout. */
void gc_verb_help(const struct gc_verb *verb, const char *path);

/* Prints the help of a table of verbs under `path` ("" for the program). */
void gc_table_help(const struct gc_verb *table, size_t n, const char *path,
		   const char *description);

/*
 * Prints "ghostctl: PATH: MESSAGE" and "Try 'ghostctl PATH --help'." to stderr (without
 * PATH when it is NULL or empty). Returns GC_EXIT_USAGE.
 */
int gc_usage_error(const char *path, const char *format, ...) _printf_(2, 3);

/* Maps what gc_dispatch() returned to the exit status: 0, 1 or 2. */
int gc_exit_status(int r);

#endif
