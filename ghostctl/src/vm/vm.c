/* SPDX-License-Identifier: MIT */
/*
 * `ghostctl vm`: the verbs that manage profiles (create, edit, list, show, delete; tui, the
 * form, lives in tui.c). The options of create and edit come from the profile's field table,
 * so every field can be set from the command line and every one is documented in --help.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/macro.h"
#include "common/string-util.h"
#include "output.h"
#include "profile.h"
#include "qemu.h"
#include "run.h"
#include "settings.h"
#include "snapshot.h"
#include "store.h"
#include "tui.h"
#include "vm.h"

#define OPT_TEMPLATE (-1)
#define OPT_KEEP_DISKS (-2)
#define OPT_ARGV (-3)

/* Options of create and edit: one per field that has an option, then the verb's own. */
static struct gc_option field_options[64];

static const struct gc_option *profile_options(bool with_template)
{
	static struct gc_option create_options[ELEMENTSOF(field_options) + 1];
	size_t n = 0;

	for (size_t i = 0; i < gc_vm_n_fields && n + 2 < ELEMENTSOF(field_options); i++) {
		const struct gc_vm_field *f = &gc_vm_fields[i];

		if (!f->option)
			continue;
		field_options[n++] = (struct gc_option){
			.name = f->option,
			.arg = f->arg,
			.help = f->help,
			.id = (int)i,
		};
	}
	field_options[n] = (struct gc_option){ 0 };
	if (!with_template)
		return field_options;
	create_options[0] = (struct gc_option){
		.name = "template",
		.short_name = 't',
		.arg = "NAME",
		.help = "Start from a template: gaming, dev, server or testbed",
		.id = OPT_TEMPLATE,
	};
	memcpy(create_options + 1, field_options, (n + 1) * sizeof(field_options[0]));
	return create_options;
}

/* What create and edit collect before they act: the options, in order. */
struct profile_args {
	const char *template;
	struct {
		const struct gc_vm_field *field;
		const char *value;
	} sets[128];
	size_t n_sets;
	bool keep_disks;
	bool argv;
};

static struct profile_args args;

static int profile_parse_option(struct gc_cmd *cmd, int id, const char *value)
{
	if (id == OPT_TEMPLATE) {
		bool known = false;

		for (size_t i = 0; gc_vm_templates[i][0]; i++)
			known = known || streq(gc_vm_templates[i][0], value);
		if (!known)
			return gc_usage_error(cmd->path,
					      "--template: unknown template '%s' (gaming, dev, "
					      "server or testbed)",
					      value);
		args.template = value;
		return 0;
	}
	if (id == OPT_KEEP_DISKS) {
		args.keep_disks = true;
		return 0;
	}
	if (id == OPT_ARGV) {
		args.argv = true;
		return 0;
	}
	if (id < 0 || (size_t)id >= gc_vm_n_fields)
		return -EINVAL;
	if (args.n_sets >= ELEMENTSOF(args.sets))
		return gc_usage_error(cmd->path, "too many options");
	args.sets[args.n_sets].field = &gc_vm_fields[id];
	args.sets[args.n_sets].value = value;
	args.n_sets++;
	return 0;
}

/* Paths given on the command line are relative to where the user stands. */
static int absolute(const char *value, char **ret)
{
	char cwd[PATH_MAX];

	if (value[0] == '/' || isempty(value) || streq(value, "none")) {
		*ret = strdup(value);
	} else {
		if (!getcwd(cwd, sizeof(cwd)))
			return -errno;
		if (asprintf(ret, "%s/%s", cwd, value) < 0)
			*ret = NULL;
	}
	return *ret ? 0 : -ENOMEM;
}

/* Applies the collected options; a bad value is a usage error naming the option. */
static int apply_sets(struct gc_cmd *cmd, struct gc_vm_profile *p)
{
	for (size_t i = 0; i < args.n_sets; i++) {
		const struct gc_vm_field *f = args.sets[i].field;
		_cleanup_free_ char *abs = NULL;
		const char *value = args.sets[i].value;
		char err[512];
		int r;

		if (streq(f->section, "storage") && streq(f->key, "iso")) {
			r = absolute(value, &abs);
			if (r < 0)
				return log_error_errno(r, "Failed to make '%s' absolute: %m",
						       value);
			value = abs;
		} else if (streq(f->section, "boot") &&
			   (streq(f->key, "kernel") || streq(f->key, "initrd"))) {
			r = absolute(value, &abs);
			if (r < 0)
				return log_error_errno(r, "Failed to make '%s' absolute: %m",
						       value);
			value = abs;
		}
		r = gc_vm_profile_set(p, f, value, err, sizeof(err));
		if (r == -ENOMEM)
			return log_oom();
		if (r < 0)
			return gc_usage_error(cmd->path, "--%s: %s", f->option, err);
	}
	return 0;
}

static int print_profile(const struct gc_vm_profile *p, bool json)
{
	if (!json)
		return gc_vm_profile_write(p, stdout) < 0 ? -EIO : 0;

	json_auto_t *obj = json_object();

	if (!obj || json_object_set_new(obj, "name", json_string(p->name)) < 0)
		return log_oom();
	for (size_t k = 0; k < gc_vm_n_fields; k++) {
		const struct gc_vm_field *f = &gc_vm_fields[k];
		json_t *section = json_object_get(obj, f->section);
		json_t *value;

		if (!section) {
			section = json_object();
			if (!section || json_object_set_new(obj, f->section, section) < 0)
				return log_oom();
		}
		if (f->kind == GC_VM_FIELD_LIST) {
			value = json_array();
			for (size_t i = 0; value; i++) {
				_cleanup_free_ char *v = NULL;

				if (gc_vm_profile_get(p, f, i, &v) < 0)
					break;
				json_array_append_new(value, json_string(v));
			}
		} else {
			_cleanup_free_ char *v = NULL;

			value = gc_vm_profile_get(p, f, 0, &v) < 0 ? json_null() : json_string(v);
		}
		if (!value || json_object_set_new(section, f->key, value) < 0)
			return log_oom();
	}
	return gc_json_print(obj);
}

/* Finishes a profile from create or edit: validate, then save or (dry run) print. */
static int finish(struct gc_cmd *cmd, struct gc_vm_profile *p, const char *verb_done)
{
	char err[512];
	int r;

	r = gc_vm_profile_validate(p, err, sizeof(err));
	if (r < 0)
		return gc_usage_error(cmd->path, "%s", err);
	if (gc_vm_profile_name_disks(p) < 0)
		return log_oom();
	if (cmd->dry_run) {
		if (!cmd->json)
			printf("# --dry-run: nothing was saved. The profile would be:\n");
		return print_profile(p, cmd->json);
	}
	r = gc_vm_save(cmd->settings, p);
	if (r < 0)
		return r;
	if (cmd->json)
		return print_profile(p, true);
	log_info("%s VM '%s'.", verb_done, p->name);
	return 0;
}

int gc_vm_check_name(struct gc_cmd *cmd, const char *name)
{
	if (!gc_vm_name_is_valid(name))
		return gc_usage_error(cmd->path,
				      "invalid VM name '%s' (1 to %d of A-Z a-z 0-9 . _ -, "
				      "starting with a letter or digit)",
				      name, GC_VM_NAME_MAX);
	return 0;
}

static int create_run(struct gc_cmd *cmd, int n_args, char **argv)
{
	const char *name = argv[0];
	struct gc_vm_profile p;
	int r;

	r = gc_vm_check_name(cmd, name);
	if (r < 0)
		return r;
	if (gc_vm_exists(cmd->settings, name)) {
		log_error("VM '%s' exists already; change it with 'ghostctl vm edit %s'.", name,
			  name);
		return -EEXIST;
	}
	r = gc_vm_profile_init(&p, name);
	if (r < 0)
		return log_oom();
	if (args.template) {
		r = gc_vm_profile_apply_template(
			&p, args.template, gc_settings_get(cmd->settings, GC_SETTING_TESTBED_DIR));
		if (r < 0) {
			gc_vm_profile_done(&p);
			return log_error_errno(r, "Failed to apply template '%s': %m",
					       args.template);
		}
	}
	r = apply_sets(cmd, &p);
	if (r >= 0)
		r = finish(cmd, &p, "Created");
	gc_vm_profile_done(&p);
	return r;
}

int gc_vm_check_exists(struct gc_cmd *cmd, const char *name)
{
	int r = gc_vm_check_name(cmd, name);

	if (r < 0)
		return r;
	if (!gc_vm_exists(cmd->settings, name))
		return log_error_errno(ENOENT, "No VM '%s' (see 'ghostctl vm list').", name);
	return 0;
}

int gc_vm_load_named(struct gc_cmd *cmd, const char *name, struct gc_vm_profile *p)
{
	int r = gc_vm_check_name(cmd, name);

	if (r < 0)
		return r;
	r = gc_vm_load(cmd->settings, name, p);
	if (r == -ENOENT)
		return log_error_errno(r, "No VM '%s' (see 'ghostctl vm list').", name);
	return r;
}

static int edit_run(struct gc_cmd *cmd, int n_args, char **argv)
{
	struct gc_vm_profile p;
	int r;

	if (args.n_sets == 0)
		return gc_usage_error(cmd->path, "nothing to change (see --help for the options)");
	r = gc_vm_load_named(cmd, argv[0], &p);
	if (r < 0)
		return r;
	r = apply_sets(cmd, &p);
	if (r >= 0)
		r = finish(cmd, &p, "Changed");
	gc_vm_profile_done(&p);
	return r;
}

static int list_run(struct gc_cmd *cmd, int n_args, char **argv)
{
	_cleanup_(gc_strv_freep) char **names = NULL;
	json_auto_t *arr = json_array();
	int r;

	r = gc_vm_list_names(cmd->settings, &names);
	if (r < 0)
		return log_error_errno(r, "Failed to list '%s': %m",
				       gc_settings_get(cmd->settings, GC_SETTING_VM_DIR));
	if (!arr)
		return log_oom();
	if (!cmd->json && names[0])
		printf("%-20s %-9s %-5s %-8s %s\n", "NAME", "TEMPLATE", "CPUS", "MEMORY",
		       "DESCRIPTION");
	for (char **n = names; *n; n++) {
		struct gc_vm_profile p;
		char mem[32];

		if (gc_vm_load(cmd->settings, *n, &p) < 0)
			continue; /* logged; list the others */
		(void)snprintf(mem, sizeof(mem), "%lluM", (unsigned long long)(p.memory >> 20));
		if (p.memory % (1ull << 30) == 0)
			(void)snprintf(mem, sizeof(mem), "%lluG",
				       (unsigned long long)(p.memory >> 30));
		if (cmd->json)
			json_array_append_new(arr, json_pack("{s:s, s:s?, s:i, s:I, s:s?}", "name",
							     p.name, "template", p.template, "cpus",
							     (int)(p.sockets * p.cores * p.threads),
							     "memory", (json_int_t)p.memory,
							     "description", p.description));
		else
			printf("%-20s %-9s %-5u %-8s %s\n", p.name, p.template ? p.template : "-",
			       p.sockets * p.cores * p.threads, mem,
			       p.description ? p.description : "");
		gc_vm_profile_done(&p);
	}
	if (cmd->json)
		return gc_json_print(arr);
	if (!names[0])
		printf("No VMs yet. Create one with 'ghostctl vm create NAME --template dev'.\n");
	return 0;
}

static int show_run(struct gc_cmd *cmd, int n_args, char **argv)
{
	struct gc_vm_profile p;
	int r;

	r = gc_vm_load_named(cmd, argv[0], &p);
	if (r < 0)
		return r;
	r = print_profile(&p, cmd->json);
	gc_vm_profile_done(&p);
	return r;
}

static int delete_run(struct gc_cmd *cmd, int n_args, char **argv)
{
	_cleanup_free_ char *dir = NULL, *ini = NULL;
	struct gc_vm_profile p;
	int r;

	r = gc_vm_load_named(cmd, argv[0], &p);
	if (r < 0)
		return r;
	struct gc_vm_state st;

	if (gc_vm_state_read(cmd->settings, p.name, &st) == 0) {
		log_error("VM '%s' is running (pid %d): stop it first with 'ghostctl vm stop %s'.",
			  p.name, (int)st.pid, p.name);
		gc_vm_state_done(&st);
		gc_vm_profile_done(&p);
		return -EBUSY;
	}
	dir = gc_vm_dir(cmd->settings, p.name);
	if (!dir || asprintf(&ini, "%s/vm.ini", dir) < 0) {
		gc_vm_profile_done(&p);
		return log_oom();
	}
	/* Disks inside the VM's directory are the VM's; others are only referred to. */
	for (size_t i = 0; i < p.n_disks && !args.keep_disks; i++) {
		_cleanup_free_ char *path = NULL;

		if (p.disks[i].path && p.disks[i].path[0] == '/')
			continue;
		path = gc_vm_disk_path(&p.disks[i], dir);
		if (!path)
			continue;
		if (cmd->dry_run) {
			printf("would remove %s\n", path);
			continue;
		}
		if (unlink(path) < 0 && errno != ENOENT)
			log_warning_errno(errno, "Failed to remove '%s', ignoring: %m", path);
	}
	gc_vm_profile_done(&p);
	if (cmd->dry_run) {
		printf("would remove %s\nwould remove %s/ if empty\n", ini, dir);
		return 0;
	}
	if (unlink(ini) < 0)
		return log_error_errno(errno, "Failed to remove '%s': %m", ini);
	if (rmdir(dir) < 0 && errno != ENOENT)
		log_warning_errno(errno, "Kept '%s': %m", dir);
	log_info("Deleted VM '%s'.", argv[0]);
	return 0;
}

static int tui_run(struct gc_cmd *cmd, int n_args, char **argv)
{
	const char *name = n_args > 0 ? argv[0] : NULL;
	int r;

	if (name) {
		r = gc_vm_check_name(cmd, name);
		if (r < 0)
			return r;
		if (args.template && gc_vm_exists(cmd->settings, name))
			return gc_usage_error(cmd->path,
					      "--template: VM '%s' exists already; a template is "
					      "for a new VM",
					      name);
	}
	return gc_vm_tui(cmd->settings, cmd->path, name, args.template);
}

static const struct gc_option tui_options[] = {
	{ "template", 't', "NAME", "Start a new VM from a template: gaming, dev, server or testbed",
	  OPT_TEMPLATE },
	{ NULL, 0, NULL, NULL, 0 },
};

static const struct gc_option delete_options[] = {
	{ "keep-disks", 0, NULL, "Keep the disk images in the VM's directory", OPT_KEEP_DISKS },
	{ NULL, 0, NULL, NULL, 0 },
};

struct gc_verb gc_vm_verbs[GC_VM_N_VERBS] = {
	{
		.name = "create",
		.synopsis = "NAME [--template=T] [OPTIONS]",
		.summary = "Create a VM profile, from a template, options overriding it",
		.description =
			"Saves a profile under vm.dir/NAME/vm.ini. Options override the template;\n"
			"list options (--disk, --share, --pci, --usb) add an item each, and 'none'\n"
			"clears the list. Relative --iso, --kernel and --initrd paths are made\n"
			"absolute; relative disk paths live in the VM's directory.",
		.min_args = 1,
		.max_args = 1,
		.flags = GC_VERB_JSON | GC_VERB_DRY_RUN,
		.parse_option = profile_parse_option,
		.run = create_run,
		.epilogue = "Example: ghostctl vm create win11 --template gaming --memory 24G "
			    "--pci 01:00.0 --pci 01:00.1",
	},
	{
		.name = "edit",
		.synopsis = "NAME [OPTIONS]",
		.summary = "Change options of a VM profile",
		.min_args = 1,
		.max_args = 1,
		.flags = GC_VERB_JSON | GC_VERB_DRY_RUN,
		.parse_option = profile_parse_option,
		.run = edit_run,
	},
	{
		.name = "list",
		.synopsis = "[OPTIONS]",
		.summary = "List the VM profiles",
		.flags = GC_VERB_JSON,
		.run = list_run,
	},
	{
		.name = "show",
		.synopsis = "NAME [OPTIONS]",
		.summary = "Print a VM profile",
		.min_args = 1,
		.max_args = 1,
		.flags = GC_VERB_JSON,
		.run = show_run,
	},
	{
		.name = "start",
		.synopsis = "NAME [OPTIONS]",
		.summary = "Start a VM; in the foreground unless --detach",
		.description =
			"Creates missing disks with qemu-img, checks PCI passthrough (every device\n"
			"of the IOMMU group on vfio-pci), starts virtiofsd for virtiofs shares, picks\n"
			"free ports for the SSH forward and the display, and starts QEMU with an\n"
			"argv array. In the foreground it follows the VM: a VM without a display\n"
			"shows its serial console here; Ctrl-C, SIGTERM or Ctrl-] stop it gracefully\n"
			"(vm.stop_timeout, then it is killed), and ghostctl exits with QEMU's status.\n"
			"--dry-run prints the commands instead of running them.",
		.min_args = 1,
		.max_args = 1,
		.flags = GC_VERB_JSON | GC_VERB_DRY_RUN,
		.options = gc_vm_start_options,
		.parse_option = gc_vm_start_option,
		.run = gc_vm_start_run,
		.epilogue = "Exit status: QEMU's in the foreground; 0, 1 or 2 otherwise.",
	},
	{
		.name = "stop",
		.synopsis = "NAME [OPTIONS]",
		.summary = "Stop a VM: ACPI power-off over QMP, forced after the timeout",
		.min_args = 1,
		.max_args = 1,
		.flags = GC_VERB_JSON | GC_VERB_DRY_RUN,
		.options = gc_vm_stop_options,
		.parse_option = gc_vm_stop_option,
		.run = gc_vm_stop_run,
	},
	{
		.name = "status",
		.synopsis = "NAME [OPTIONS]",
		.summary =
			"Show whether a VM runs, and its live CPU, memory, disk and NIC counters",
		.min_args = 1,
		.max_args = 1,
		.flags = GC_VERB_JSON,
		.options = gc_vm_status_options,
		.parse_option = gc_vm_status_option,
		.run = gc_vm_status_run,
	},
	{
		.name = "console",
		.synopsis = "NAME",
		.summary = "Attach to a running VM's serial console (Ctrl-] leaves)",
		.min_args = 1,
		.max_args = 1,
		.run = gc_vm_console_run,
	},
	{
		.name = "ssh",
		.synopsis = "NAME [OPTIONS] [-- SSH-ARGS...]",
		.summary = "SSH into a running VM through its port forward",
		.min_args = 1,
		.max_args = 64,
		.flags = GC_VERB_DRY_RUN,
		.options = gc_vm_ssh_options,
		.parse_option = gc_vm_ssh_option,
		.run = gc_vm_ssh_run,
	},
	{
		.name = "snapshot",
		.summary = "Snapshots of a VM's qcow2 disks: create, list, revert, delete",
		.description =
			"Internal qcow2 snapshots. Of a running VM they hold RAM and device\n"
			"state too (QMP snapshot jobs); of a stopped one, the disks\n"
			"(qemu-img). Raw disks cannot hold snapshots.",
		.children = gc_vm_snapshot_verbs,
		.n_children = GC_VM_SNAPSHOT_N_VERBS,
	},
	{
		.name = "delete",
		.synopsis = "NAME [OPTIONS]",
		.summary = "Delete a VM profile and the disks in its directory",
		.min_args = 1,
		.max_args = 1,
		.flags = GC_VERB_DRY_RUN,
		.options = delete_options,
		.parse_option = profile_parse_option,
		.run = delete_run,
	},
	{
		.name = "tui",
		.synopsis = "[NAME] [--template=T]",
		.summary = "Create or edit a VM profile in a form on the terminal",
		.description =
			"With an existing NAME, edits its profile; with a new NAME, or none (the form\n"
			"then asks for one), creates a profile, from --template if given. Every field\n"
			"of 'vm create' is in the form; each value is checked as you leave it. Needs a\n"
			"terminal: scripts use 'vm create' and 'vm edit'.",
		.max_args = 1,
		.options = tui_options,
		.parse_option = profile_parse_option,
		.run = tui_run,
		.epilogue =
			"Keys: Up/Down, Tab, Enter move (and check the value left); Left/Right or\n"
			"Space change a choice or a yes/no; typing edits a text (^U clears it); on a\n"
			"list, type into 'add ...' and press Enter to add an item, empty an item or\n"
			"press F8 (^D) to delete it; PgUp/PgDn scroll; F2 or ^S saves; F10 or Esc\n"
			"quits, asking first when something is not saved.",
	},
};

void gc_vm_verbs_init(void)
{
	gc_vm_verbs[0].options = profile_options(true);
	gc_vm_verbs[1].options = profile_options(false);
}
