/* SPDX-License-Identifier: MIT */
/*
 * ghostctl: the host control CLI of the stack. The top verb table lives here; each verb
 * family has its own folder and table (vm/), and verb.c dispatches them all.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/log.h"
#include "common/macro.h"
#include "common/string-util.h"
#include "egpu/egpu.h"
#include "gc.h"
#include "settings.h"
#include "verb.h"
#include "vm/vm.h"

static int help_run(struct gc_cmd *cmd, int n_args, char **args);

static const struct gc_verb top[] = {
	{
		.name = "vm",
		.summary = "Virtual machines: profiles, templates, QEMU, QMP",
		.description = GC_VM_DESCRIPTION,
		.children = gc_vm_verbs,
		.n_children = GC_VM_N_VERBS,
	},
	{
		.name = "egpu",
		.summary = "The eGPU link (anarchy): status, monitor, limit, faults, connect",
		.description = GC_EGPU_DESCRIPTION,
		.children = gc_egpu_verbs,
		.n_children = GC_EGPU_N_VERBS,
	},
	{
		.name = "config",
		.summary = "Show ghostctl's settings and where each comes from",
		.children = gc_config_verbs,
		.n_children = GC_CONFIG_N_VERBS,
	},
	{
		.name = "doctor",
		.synopsis = "[OPTIONS]",
		.summary = "Check this machine: KVM, CPU, IOMMU, GPUs, session, QEMU",
		.description = GC_DOCTOR_DESCRIPTION,
		.max_args = 0,
		.flags = GC_VERB_JSON,
		.run = gc_doctor_run,
		.epilogue =
			"Exit status: 0 when every check passed or only warned, 1 when one failed.",
	},
	{
		.name = "help",
		.synopsis = "[VERB...]",
		.summary = "Show this help, or a verb's",
		.max_args = 4,
		.run = help_run,
	},
};

static void top_help(void)
{
	gc_table_help(
		top, ELEMENTSOF(top), "",
		"The host control CLI: virtual machines, the machine they run on, the eGPU link.");
	printf("\n"
	       "Options:\n"
	       "  -h, --help                 Show this help and exit\n"
	       "      --version              Show the version and exit\n"
	       "      --log-level=LEVEL      error, warning, info or debug\n"
	       "      --set=SECTION.KEY=VALUE\n"
	       "                             Override a setting (see 'ghostctl config show')\n"
	       "\n"
	       "Settings come from, each overriding the one before: built-in defaults,\n"
	       "/etc/ghostctl/ghostctl.conf, ~/.config/ghostctl/ghostctl.conf, GHOSTCTL_*\n"
	       "environment variables, then the command line.\n"
	       "\n"
	       "Exit status: 0 on success, 1 on failure, 2 on usage errors.\n");
}

static int help_run(struct gc_cmd *cmd, int n_args, char **args)
{
	const struct gc_verb *table = top, *verb = NULL;
	size_t n = ELEMENTSOF(top);
	char path[128] = "";

	if (n_args == 0) {
		top_help();
		return 0;
	}
	for (int i = 0; i < n_args; i++) {
		verb = NULL;
		for (size_t k = 0; table && k < n; k++)
			if (streq(table[k].name, args[i]))
				verb = &table[k];
		if (!verb)
			return gc_usage_error(cmd->path, "unknown verb '%s'", args[i]);
		(void)snprintf(path + strlen(path), sizeof(path) - strlen(path), "%s%s",
			       i > 0 ? " " : "", args[i]);
		table = verb->children;
		n = verb->n_children;
	}
	gc_verb_help(verb, path);
	return 0;
}

static int try_help(void)
{
	fprintf(stderr, "Try '" GC_PROGRAM " --help'.\n");
	return GC_EXIT_USAGE;
}

/* The program's own options, before the verb. Returns 1 to go on, 0 to exit 0, or usage. */
static int parse_argv(int argc, char *argv[], struct gc_settings *settings)
{
	enum {
		ARG_VERSION = 0x100,
		ARG_LOG_LEVEL,
		ARG_SET,
	};
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, ARG_VERSION },
		{ "log-level", required_argument, NULL, ARG_LOG_LEVEL },
		{ "set", required_argument, NULL, ARG_SET },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opterr = 0;
	/* '+': stop at the verb, whose options are its own. */
	while ((c = getopt_long(argc, argv, "+:h", options, NULL)) >= 0)
		switch (c) {
		case 'h':
			top_help();
			return 0;
		case ARG_VERSION:
			printf(GC_PROGRAM " " GC_VERSION "\n");
			return 0;
		case ARG_LOG_LEVEL:
			if (gc_settings_set(settings, GC_SETTING_LOG_LEVEL, optarg, "--log-level") <
			    0)
				return try_help(); /* the line above named the value */
			break;
		case ARG_SET:
			if (gc_settings_set_assignment(settings, optarg) < 0)
				return try_help();
			break;
		case ':':
			return gc_usage_error(NULL, "option '%s' needs a value", argv[optind - 1]);
		default:
			return gc_usage_error(NULL, "unknown option '%s'", argv[optind - 1]);
		}
	if (optind >= argc)
		return gc_usage_error(NULL, "missing verb");
	return 1;
}

int main(int argc, char *argv[])
{
	struct gc_settings settings = { 0 };
	int r;

	log_setup_from_env("GHOSTCTL_CORE_LOG_LEVEL");
	gc_vm_verbs_init();
	r = gc_settings_load(&settings);
	if (r >= 0) {
		log_set_max_level(
			log_level_from_string(gc_settings_get(&settings, GC_SETTING_LOG_LEVEL)));
		r = parse_argv(argc, argv, &settings);
	}
	if (r > 0) {
		const char *color = gc_settings_get(&settings, GC_SETTING_COLOR);

		log_set_max_level(
			log_level_from_string(gc_settings_get(&settings, GC_SETTING_LOG_LEVEL)));
		log_set_color(streq(color, "always") ? 1 : streq(color, "never") ? 0 : -1);
		r = gc_dispatch(top, ELEMENTSOF(top), "", argc - optind, argv + optind, &settings);
	}
	gc_settings_done(&settings);
	return gc_exit_status(r);
}
