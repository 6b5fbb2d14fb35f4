/* SPDX-License-Identifier: MIT */
/* `ghostctl vm snapshot`: the group's verbs (snapshot.c). */
#ifndef GC_VM_SNAPSHOT_H
#define GC_VM_SNAPSHOT_H

#include "verb.h"

#define GC_VM_SNAPSHOT_N_VERBS 4
extern const struct gc_verb gc_vm_snapshot_verbs[GC_VM_SNAPSHOT_N_VERBS];

int gc_vm_snapshot_create_run(struct gc_cmd *cmd, int n_args, char **args);
int gc_vm_snapshot_list_run(struct gc_cmd *cmd, int n_args, char **args);
int gc_vm_snapshot_revert_run(struct gc_cmd *cmd, int n_args, char **args);
int gc_vm_snapshot_delete_run(struct gc_cmd *cmd, int n_args, char **args);

#endif
