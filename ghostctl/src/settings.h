/* SPDX-License-Identifier: MIT */
/*
 * ghostctl's settings, layered (docs/CONTRIBUTING.md, "Command-line programs"); each layer
 * overrides the one before:
 *
 *   1. built-in defaults (the table in settings.c)
 *   2. $GHOSTCTL_SYSCONFDIR/ghostctl/ghostctl.conf   (default /etc/ghostctl/ghostctl.conf)
 *   3. $XDG_CONFIG_HOME/ghostctl/ghostctl.conf       (default ~/.config/ghostctl/ghostctl.conf)
 *   4. the environment: GHOSTCTL_<SECTION>_<KEY>     (GHOSTCTL_VM_ACCEL=tcg)
 *   5. the command line: --set SECTION.KEY=VALUE, and verb options such as `vm start --accel`
 *
 * Config files are INI ("[vm]" then "accel = tcg"). One table drives the files, the
 * environment, --set, `ghostctl config` and the help text. Each value remembers where it came
 * from, so `ghostctl config show` can say why a setting has the value it has.
 */
#ifndef GC_SETTINGS_H
#define GC_SETTINGS_H

#include <stdbool.h>
#include <stdio.h>

enum gc_setting_id {
	GC_SETTING_LOG_LEVEL,
	GC_SETTING_COLOR,
	GC_SETTING_VM_DIR,
	GC_SETTING_VM_RUNTIME_DIR,
	GC_SETTING_VM_QEMU,
	GC_SETTING_VM_QEMU_IMG,
	GC_SETTING_VM_ACCEL,
	GC_SETTING_VM_STOP_TIMEOUT,
	GC_SETTING_VM_VIRTIOFSD,
	GC_SETTING_VM_SSH,
	GC_SETTING_TESTBED_DIR,
	_GC_SETTING_MAX,
};

enum gc_setting_type {
	GC_SETTING_STRING,
	GC_SETTING_PATH,    /* a string that must be an absolute path or a command name */
	GC_SETTING_SECONDS, /* an unsigned count of seconds, 1..86400 */
	GC_SETTING_CHOICE,  /* one of a '|'-separated list */
};

struct gc_setting_def {
	const char *section;
	const char *key;
	enum gc_setting_type type;
	const char *choices; /* for GC_SETTING_CHOICE: "auto|kvm|tcg" */
	const char *help;
};

struct gc_settings {
	char *value[_GC_SETTING_MAX];
	char *source[_GC_SETTING_MAX]; /* "default", "FILE:LINE", "$GHOSTCTL_VM_ACCEL", "--set" */
};

/* The table, indexed by enum gc_setting_id. */
const struct gc_setting_def *gc_setting_def(enum gc_setting_id id);

/* Finds a setting by "section.key"; -ENOENT if there is none. */
int gc_setting_lookup(const char *name, enum gc_setting_id *ret_id);

/*
 * Fills s with layers 1 to 4. A file that does not exist is skipped; one that cannot be read
 * or holds an invalid value fails with one error line naming FILE:LINE (returns -EINVAL or
 * the read error). Unknown keys are warned about and ignored, so that older versions accept
 * newer files.
 */
int gc_settings_load(struct gc_settings *s);

/* Sets one setting from layer 5 or a test; checks the value. -EINVAL (logged) if bad. */
int gc_settings_set(struct gc_settings *s, enum gc_setting_id id, const char *value,
		    const char *source);

/* Parses "section.key=value" (--set); -EINVAL with one error line if it is not valid. */
int gc_settings_set_assignment(struct gc_settings *s, const char *assignment);

/* Checks a value against a setting's type without setting it; 0 or -EINVAL. */
int gc_setting_check(enum gc_setting_id id, const char *value);

const char *gc_settings_get(const struct gc_settings *s, enum gc_setting_id id);
unsigned gc_settings_get_seconds(const struct gc_settings *s, enum gc_setting_id id);

void gc_settings_done(struct gc_settings *s);

/*
 * The settings every INI reader of ghostctl uses (config files, VM profiles): no inline
 * comments (';' is a valid character in a value), no continuation lines, lines up to 4 KiB.
 * Idempotent.
 */
void gc_ini_setup(void);

#endif
