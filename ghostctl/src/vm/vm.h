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

/* Builds the options of create and edit from the profile's field table; call once. */
void gc_vm_verbs_init(void);

#endif
