/* SPDX-License-Identifier: MIT */
/*
 * Running VMs: their runtime directory (vm.runtime_dir/NAME) holds qmp.sock, serial.sock,
 * serial.log, qemu.log and state.json, which `vm start` writes and the other verbs read.
 */
#ifndef GC_VM_RUN_H
#define GC_VM_RUN_H

#include <stdbool.h>
#include <sys/types.h>

#include "verb.h"

struct gc_settings;

/* What `vm start` recorded about a running VM. */
struct gc_vm_state {
	pid_t pid;
	char *accel;	   /* "kvm" or "tcg" */
	char *display;	   /* resolved display */
	unsigned ssh_port; /* 0 without user networking */
	unsigned display_port;
	long long started; /* CLOCK_REALTIME seconds */
};

/* vm.runtime_dir/NAME. Caller frees; NULL on -ENOMEM. */
char *gc_vm_run_dir(const struct gc_settings *s, const char *name);

/*
 * Reads NAME's state and checks that its QEMU still runs (the pid is alive and its QMP socket
 * answers). -ENOENT (or -ESRCH for a stale state, which is then removed) when it is not
 * running. Free with gc_vm_state_done().
 */
int gc_vm_state_read(const struct gc_settings *s, const char *name, struct gc_vm_state *ret);
void gc_vm_state_done(struct gc_vm_state *st);

/* The verbs. */
int gc_vm_start_run(struct gc_cmd *cmd, int n_args, char **args);
int gc_vm_start_option(struct gc_cmd *cmd, int id, const char *value);
extern const struct gc_option gc_vm_start_options[];
int gc_vm_stop_run(struct gc_cmd *cmd, int n_args, char **args);
int gc_vm_stop_option(struct gc_cmd *cmd, int id, const char *value);
extern const struct gc_option gc_vm_stop_options[];
int gc_vm_status_run(struct gc_cmd *cmd, int n_args, char **args);
int gc_vm_status_option(struct gc_cmd *cmd, int id, const char *value);
extern const struct gc_option gc_vm_status_options[];
int gc_vm_console_run(struct gc_cmd *cmd, int n_args, char **args);
int gc_vm_ssh_run(struct gc_cmd *cmd, int n_args, char **args);
int gc_vm_ssh_option(struct gc_cmd *cmd, int id, const char *value);
extern const struct gc_option gc_vm_ssh_options[];

#endif
