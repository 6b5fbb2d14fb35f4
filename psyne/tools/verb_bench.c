/* SPDX-License-Identifier: MIT */
/*
 * psyne bench: runs the side-by-side benchmark, psyne-bench, with the arguments given. It
 * is a separate program because it links ZeroMQ, NNG and iceoryx, which the tool must not
 * need; this verb finds it next to the tool (an installed pair), in the build tree
 * (build/psyne/tools/psyne -> build/psyne/bench/psyne-bench), or in PATH.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/string-util.h"
#include "tool.h"

#define BENCH_NAME "psyne-bench"

/* Where psyne-bench is, into buf; -ENOENT when nowhere. */
static int find_bench(char *buf, size_t size)
{
	static const char *const rel[] = { "/" BENCH_NAME, "/../bench/" BENCH_NAME };
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n > 0) {
		self[n] = 0;
		slash = strrchr(self, '/');
		if (slash)
			*slash = 0;
		for (size_t i = 0; i < ELEMENTSOF(rel); i++) {
			if ((size_t)snprintf(buf, size, "%s%s", self, rel[i]) >= size)
				continue;
			if (access(buf, X_OK) == 0)
				return 0;
		}
	}
	/* PATH: let execvp() search it. */
	if ((size_t)snprintf(buf, size, "%s", BENCH_NAME) >= size)
		return -ENAMETOOLONG;
	return -ENOENT;
}

void verb_bench_help(void)
{
	char path[PATH_MAX];

	printf("Usage: " TOOL_NAME " bench [BENCH-OPTIONS...]\n"
	       "\n"
	       "Runs psyne-bench: libpsyne against ZeroMQ, NNG, iceoryx, raw sockets and a bare\n"
	       "ring, side by side in one run, and prints a markdown table with the ratios of\n"
	       "psyne's targets. Every argument goes to psyne-bench; its options follow.\n"
	       "psyne-bench is built by 'make bench' (meson option -Dbench=enabled).\n\n");
	fflush(stdout);
	if (find_bench(path, sizeof(path)) == 0)
		execl(path, BENCH_NAME, "--help", (char *)NULL);
	else
		execlp(BENCH_NAME, BENCH_NAME, "--help", (char *)NULL);
	printf("(psyne-bench was not found here, in the build tree or in PATH.)\n");
}

/* Every argument is psyne-bench's: nothing is parsed here but a leading --help. */
int verb_bench_parse_argv(int argc, char *argv[])
{
	if (argc > 1 && (streq(argv[1], "--help") || streq(argv[1], "-h"))) {
		verb_bench_help();
		return 0;
	}
	optind = 1;
	return 1;
}

int verb_bench_run(int n_args, char *args[])
{
	char path[PATH_MAX];
	char **argv = calloc((size_t)n_args + 2, sizeof(char *));
	int r;

	if (!argv)
		return log_oom();
	argv[0] = (char *)BENCH_NAME;
	for (int i = 0; i < n_args; i++)
		argv[i + 1] = args[i];
	fflush(stdout);
	if (find_bench(path, sizeof(path)) == 0)
		execv(path, argv);
	else
		execvp(BENCH_NAME, argv);
	r = -errno;
	free(argv);
	/* The log prefixes "psyne: " itself. */
	log_error("bench: cannot run " BENCH_NAME ": %s (build it with 'make bench')",
		  strerror(-r));
	return r;
}
