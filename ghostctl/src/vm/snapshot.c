/* SPDX-License-Identifier: MIT */
/*
 * `ghostctl vm snapshot create|list|revert|delete`: internal snapshots of a VM's qcow2
 * disks. A running VM is snapshotted whole (RAM and devices too, in the first qcow2 disk)
 * by QMP jobs; a stopped one disk by disk with qemu-img. Raw disks cannot hold snapshots:
 * a writable one makes the VM refuse, a read-only one is left out (it cannot change).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/macro.h"
#include "common/string-util.h"
#include "output.h"
#include "process.h"
#include "profile.h"
#include "qemu.h"
#include "qmp.h"
#include "run.h"
#include "settings.h"
#include "snapshot.h"
#include "store.h"
#include "vm.h"

#define SNAPSHOT_TIMEOUT_MS (10 * 60 * 1000)

static bool tag_is_valid(const char *tag)
{
	size_t n = strlen(tag);

	if (n == 0 || n > 64 || tag[0] == '-')
		return false;
	for (const char *p = tag; *p; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-",
			    *p))
			return false;
	return true;
}

/* The VM's snapshot disks: the indexes of its writable qcow2 disks, in order. */
static int snapshot_disks(const struct gc_vm_profile *p, size_t idx[static GC_VM_MAX_DISKS],
			  size_t *ret_n)
{
	size_t n = 0;

	for (size_t i = 0; i < p->n_disks; i++) {
		if (p->disks[i].readonly)
			continue;
		if (p->disks[i].raw)
			return log_error_errno(EOPNOTSUPP,
					       "Disk '%s' is raw: snapshots need every writable "
					       "disk in qcow2.",
					       p->disks[i].path);
		idx[n++] = i;
	}
	if (n == 0)
		return log_error_errno(EOPNOTSUPP, "VM '%s' has no qcow2 disk to hold snapshots.",
				       p->name);
	*ret_n = n;
	return 0;
}

struct snap_ctx {
	struct gc_vm_profile p;
	size_t disks[GC_VM_MAX_DISKS];
	size_t n;
	bool running;
	struct gc_qmp *q;
	char *vm_dir;
};

static void ctx_done(struct snap_ctx *c)
{
	gc_vm_profile_done(&c->p);
	c->q = gc_qmp_close(c->q);
	free(c->vm_dir);
}

static int ctx_open(struct gc_cmd *cmd, const char *name, struct snap_ctx *c)
{
	struct gc_vm_state st;
	int r;

	*c = (struct snap_ctx){ 0 };
	r = gc_vm_load_named(cmd, name, &c->p);
	if (r < 0)
		return r;
	c->vm_dir = gc_vm_dir(cmd->settings, name);
	if (!c->vm_dir)
		return log_oom();
	r = snapshot_disks(&c->p, c->disks, &c->n);
	if (r < 0)
		return r;
	if (gc_vm_state_read(cmd->settings, name, &st) == 0) {
		_cleanup_free_ char *dir = gc_vm_run_dir(cmd->settings, name), *sock = NULL;

		gc_vm_state_done(&st);
		if (!dir || asprintf(&sock, "%s/qmp.sock", dir) < 0)
			return log_oom();
		r = gc_qmp_open(sock, 5000, &c->q);
		if (r < 0)
			return log_error_errno(r, "Failed to reach the monitor of '%s': %m", name);
		c->running = true;
	}
	return 0;
}

/* The QMP node names of the snapshot disks ("node0", ...), NULL-terminated. */
static void node_names(const struct snap_ctx *c, char names[][16], const char **ret)
{
	for (size_t i = 0; i < c->n; i++) {
		(void)snprintf(names[i], 16, "node%zu", c->disks[i]);
		ret[i] = names[i];
	}
	ret[c->n] = NULL;
}

static int qmp_failed(struct snap_ctx *c, int r, const char *what)
{
	const struct gc_qmp_error *e = r == -EREMOTEIO ? gc_qmp_last_error(c->q) : NULL;

	if (e)
		return log_error_errno(r, "Failed to %s: %s", what, e->desc);
	return log_error_errno(r, "Failed to %s: %m", what);
}

/* Runs `qemu-img snapshot FLAG TAG DISK` on every snapshot disk of a stopped VM. */
static int qemu_img_each(struct gc_cmd *cmd, struct snap_ctx *c, const char *flag, const char *tag)
{
	const char *qemu_img = gc_settings_get(cmd->settings, GC_SETTING_VM_QEMU_IMG);

	for (size_t i = 0; i < c->n; i++) {
		_cleanup_free_ char *path = gc_vm_disk_path(&c->p.disks[c->disks[i]], c->vm_dir);
		char *argv[] = {
			(char *)qemu_img, "snapshot", (char *)flag, (char *)tag, path, NULL
		};
		int r;

		if (!path)
			return log_oom();
		if (access(path, F_OK) < 0)
			return log_error_errno(ENOENT,
					       "Disk '%s' does not exist yet: the first 'vm "
					       "start' creates it.",
					       path);
		if (cmd->dry_run) {
			_cleanup_free_ char *line = gc_argv_to_shell(argv);

			printf("%s\n", line ? line : "");
			continue;
		}
		r = gc_spawn_run(argv, -1, -1);
		if (r < 0)
			return log_error_errno(r, "Failed to run '%s': %m", qemu_img);
		if (r != 0)
			return log_error_errno(EIO,
					       "%s snapshot %s '%s' failed on '%s' (status %d).",
					       qemu_img, flag, tag, path, r);
	}
	return 0;
}

enum snap_action {
	SNAP_CREATE,
	SNAP_REVERT,
	SNAP_DELETE,
};

/* Each action: qemu-img's flag (stopped), QMP's job (running), and what is printed after. */
static const struct {
	const char *img_flag;
	const char *job;
	const char *done;
} actions[] = {
	[SNAP_CREATE] = { "-c", "save", "Created" },
	[SNAP_REVERT] = { "-a", "load", "Reverted to" },
	[SNAP_DELETE] = { "-d", "delete", "Deleted" },
};

static int qmp_job(struct snap_ctx *c, enum snap_action action, const char *tag)
{
	char names[GC_VM_MAX_DISKS][16], what[32];
	const char *nodes[GC_VM_MAX_DISKS + 1];
	int r;

	node_names(c, names, nodes);
	switch (action) {
	case SNAP_CREATE:
		r = gc_qmp_snapshot_save(c->q, tag, nodes[0], nodes, SNAPSHOT_TIMEOUT_MS);
		break;
	case SNAP_REVERT:
		r = gc_qmp_snapshot_load(c->q, tag, nodes[0], nodes, SNAPSHOT_TIMEOUT_MS);
		break;
	default:
		r = gc_qmp_snapshot_delete(c->q, tag, nodes, SNAPSHOT_TIMEOUT_MS);
		break;
	}
	if (r >= 0)
		return r;
	(void)snprintf(what, sizeof(what), "%s the snapshot", actions[action].job);
	return qmp_failed(c, r, what);
}

static int change(struct gc_cmd *cmd, char **args, enum snap_action action)
{
	struct snap_ctx c;
	const char *tag = args[1];
	int r;

	if (!tag_is_valid(tag))
		return gc_usage_error(cmd->path,
				      "invalid snapshot name '%s' (1 to 64 of A-Z a-z 0-9 . _ -)",
				      tag);
	r = ctx_open(cmd, args[0], &c);
	if (r >= 0 && c.running && cmd->dry_run)
		printf("would %s snapshot '%s' of running VM '%s' over QMP\n", actions[action].job,
		       tag, args[0]);
	else if (r >= 0 && c.running) {
		if (action == SNAP_CREATE)
			log_info("Saving snapshot '%s' of '%s' (RAM and disks)...", tag, args[0]);
		r = qmp_job(&c, action, tag);
	} else if (r >= 0)
		r = qemu_img_each(cmd, &c, actions[action].img_flag, tag);
	if (r >= 0 && !cmd->dry_run)
		printf("%s snapshot '%s' of '%s'%s.\n", actions[action].done, tag, args[0],
		       c.running ? " (running: RAM and devices too)" : "");
	ctx_done(&c);
	return r;
}

int gc_vm_snapshot_create_run(struct gc_cmd *cmd, int n_args, char **args)
{
	return change(cmd, args, SNAP_CREATE);
}

int gc_vm_snapshot_revert_run(struct gc_cmd *cmd, int n_args, char **args)
{
	return change(cmd, args, SNAP_REVERT);
}

int gc_vm_snapshot_delete_run(struct gc_cmd *cmd, int n_args, char **args)
{
	return change(cmd, args, SNAP_DELETE);
}

/* The snapshots of a stopped VM's first snapshot disk, from `qemu-img info --output=json`. */
static int list_offline(struct gc_cmd *cmd, struct snap_ctx *c, json_t *out)
{
	const char *qemu_img = gc_settings_get(cmd->settings, GC_SETTING_VM_QEMU_IMG);
	_cleanup_free_ char *path = gc_vm_disk_path(&c->p.disks[c->disks[0]], c->vm_dir);
	char tmpl[] = "/tmp/ghostctl-info-XXXXXX";
	_cleanup_close_ int fd = -EBADF;
	json_auto_t *info = NULL;
	json_error_t jerr;
	json_t *snaps, *s;
	size_t i;
	int r;

	if (!path)
		return log_oom();
	if (access(path, F_OK) < 0)
		return 0; /* not created yet: no snapshots */
	fd = mkostemp(tmpl, O_CLOEXEC);
	if (fd < 0)
		return log_error_errno(errno, "Failed to create a temporary file: %m");
	(void)unlink(tmpl);
	char *argv[] = { (char *)qemu_img, "info", "--output=json", "-U", path, NULL };
	r = gc_spawn_run(argv, fd, -1);
	if (r != 0)
		return log_error_errno(r < 0 ? r : EIO, "%s info failed on '%s'.", qemu_img, path);
	(void)lseek(fd, 0, SEEK_SET);
	info = json_loadfd(fd, JSON_REJECT_DUPLICATES, &jerr);
	if (!info)
		return log_error_errno(EPROTO, "%s info gave no JSON: %s", qemu_img, jerr.text);
	snaps = json_object_get(info, "snapshots");
	json_array_foreach(snaps, i, s)
	{
		json_int_t sec = 0, vm_size = 0;
		const char *name = NULL;

		if (json_unpack(s, "{s:s, s?I, s?I}", "name", &name, "date-sec", &sec,
				"vm-state-size", &vm_size) < 0)
			continue;
		json_array_append_new(out, json_pack("{s:s, s:I, s:I}", "name", name, "date", sec,
						     "vm_state_size", vm_size));
	}
	return 0;
}

int gc_vm_snapshot_list_run(struct gc_cmd *cmd, int n_args, char **args)
{
	json_auto_t *out = json_array();
	struct snap_ctx c;
	size_t i;
	json_t *s;
	int r;

	if (!out)
		return log_oom();
	r = ctx_open(cmd, args[0], &c);
	if (r >= 0 && c.running) {
		_cleanup_(gc_qmp_snapshot_list_freep) struct gc_qmp_snapshot_list *l = NULL;
		char node[16];

		(void)snprintf(node, sizeof(node), "node%zu", c.disks[0]);
		r = gc_qmp_snapshot_list(c.q, node, 5000, &l);
		if (r < 0)
			r = qmp_failed(&c, r, "list the snapshots");
		for (size_t k = 0; r >= 0 && k < l->n; k++)
			json_array_append_new(
				out,
				json_pack("{s:s, s:I, s:I}", "name", l->snapshots[k].name, "date",
					  (json_int_t)l->snapshots[k].date_sec, "vm_state_size",
					  (json_int_t)l->snapshots[k].vm_state_size));
	} else if (r >= 0)
		r = list_offline(cmd, &c, out);
	ctx_done(&c);
	if (r < 0)
		return r;
	if (cmd->json)
		return gc_json_print(out);
	if (json_array_size(out) == 0) {
		printf("No snapshots of '%s'.\n", args[0]);
		return 0;
	}
	printf("%-24s %-20s %s\n", "NAME", "DATE", "STATE");
	json_array_foreach(out, i, s)
	{
		time_t t = (time_t)json_integer_value(json_object_get(s, "date"));
		char date[32];
		struct tm tm;

		(void)strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
		printf("%-24s %-20s %s\n", json_string_value(json_object_get(s, "name")), date,
		       json_integer_value(json_object_get(s, "vm_state_size")) > 0 ? "RAM+disks" :
										     "disks");
	}
	return 0;
}

const struct gc_verb gc_vm_snapshot_verbs[GC_VM_SNAPSHOT_N_VERBS] = {
	{
		.name = "create",
		.synopsis = "NAME TAG [OPTIONS]",
		.summary = "Take a snapshot (a running VM: RAM and devices too)",
		.min_args = 2,
		.max_args = 2,
		.flags = GC_VERB_DRY_RUN,
		.run = gc_vm_snapshot_create_run,
	},
	{
		.name = "list",
		.synopsis = "NAME [OPTIONS]",
		.summary = "List the snapshots",
		.min_args = 1,
		.max_args = 1,
		.flags = GC_VERB_JSON,
		.run = gc_vm_snapshot_list_run,
	},
	{
		.name = "revert",
		.synopsis = "NAME TAG [OPTIONS]",
		.summary = "Go back to a snapshot (a running VM resumes there)",
		.min_args = 2,
		.max_args = 2,
		.flags = GC_VERB_DRY_RUN,
		.run = gc_vm_snapshot_revert_run,
	},
	{
		.name = "delete",
		.synopsis = "NAME TAG [OPTIONS]",
		.summary = "Delete a snapshot",
		.min_args = 2,
		.max_args = 2,
		.flags = GC_VERB_DRY_RUN,
		.run = gc_vm_snapshot_delete_run,
	},
};
