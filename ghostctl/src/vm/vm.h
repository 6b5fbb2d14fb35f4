/* SPDX-License-Identifier: MIT */
/* The `vm` verb family, as the top table in main.c sees it. */
#ifndef GC_VM_VM_H
#define GC_VM_VM_H

#include "verb.h"

#define GC_VM_DESCRIPTION                                                                          \
	"Virtual machines from saved profiles: QEMU started with an argv array, never a\n"         \
	"shell; KVM when it can boot a guest, TCG otherwise."

#define GC_VM_N_VERBS 12
/* Writable only so that gc_vm_verbs_init() can attach the options built from the fields. */
extern struct gc_verb gc_vm_verbs[GC_VM_N_VERBS];

struct gc_vm_profile;

/*
 * What the vm verbs share about the NAME they are given. gc_vm_check_name(): a usage error
 * (GC_EXIT_USAGE, with the naming rule) for an invalid name. gc_vm_check_exists(): that,
 * then -ENOENT, logged with a pointer to `vm list`, when there is no such VM.
 * gc_vm_load_named(): that, then gc_vm_load() (its errors logged too).
 */
int gc_vm_check_name(struct gc_cmd *cmd, const char *name);
int gc_vm_check_exists(struct gc_cmd *cmd, const char *name);
int gc_vm_load_named(struct gc_cmd *cmd, const char *name, struct gc_vm_profile *p);

/* Builds the options of create and edit from the profile's field table; call once. */
void gc_vm_verbs_init(void);

#endif
