/* SPDX-License-Identifier: MIT */
/* `ghostctl config show`: every setting, its value, and the layer it came from. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>

#include "common/log.h"
#include "common/string-util.h"
#include "gc.h"
#include "output.h"
#include "settings.h"

static int show_run(struct gc_cmd *cmd, int n_args, char **args)
{
	const struct gc_settings *s = cmd->settings;
	enum gc_setting_id only = _GC_SETTING_MAX;

	if (n_args == 1 && gc_setting_lookup(args[0], &only) < 0)
		return gc_usage_error(cmd->path, "unknown setting '%s'", args[0]);

	if (cmd->json) {
		_cleanup_(json_decrefp) json_t *arr = json_array();

		if (!arr)
			return log_oom();
		for (unsigned i = 0; i < _GC_SETTING_MAX; i++) {
			const struct gc_setting_def *d = gc_setting_def(i);
			char name[96];

			if (only != _GC_SETTING_MAX && only != i)
				continue;
			(void)snprintf(name, sizeof(name), "%s.%s", d->section, d->key);
			if (json_array_append_new(arr,
						  json_pack("{s:s, s:s, s:s, s:s}", "name", name,
							    "value", s->value[i], "source",
							    s->source[i], "help", d->help)) < 0)
				return log_oom();
		}
		return gc_json_print(arr);
	}

	for (unsigned i = 0; i < _GC_SETTING_MAX; i++) {
		const struct gc_setting_def *d = gc_setting_def(i);
		char name[96];

		if (only != _GC_SETTING_MAX && only != i)
			continue;
		(void)snprintf(name, sizeof(name), "%s.%s", d->section, d->key);
		if (only != _GC_SETTING_MAX)
			printf("%s\n", s->value[i]);
		else
			printf("%-20s %-40s (%s)\n", name, s->value[i], s->source[i]);
	}
	return 0;
}

const struct gc_verb gc_config_verbs[GC_CONFIG_N_VERBS] = {
	{
		.name = "show",
		.synopsis = "[SECTION.KEY] [OPTIONS]",
		.summary = "Print the settings in effect, or one setting's value",
		.description =
			"Without an argument, lists every setting with its value and its\n"
			"source: 'default', a config file and line, an environment variable\n"
			"or '--set'. With SECTION.KEY, prints just that value.",
		.max_args = 1,
		.flags = GC_VERB_JSON,
		.run = show_run,
	},
};
