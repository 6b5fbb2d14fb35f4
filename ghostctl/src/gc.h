/* SPDX-License-Identifier: MIT */
/* The verb families of ghostctl, as the top table in main.c sees them. */
#ifndef GC_GC_H
#define GC_GC_H

#include <stddef.h>

#include "verb.h"

#ifndef GC_VERSION
#define GC_VERSION "0.1.0"
#endif

/* doctor.c */
#define GC_DOCTOR_DESCRIPTION                                                                      \
	"Looks at what virtual machines and GPU passthrough need and says, check by check,\n"      \
	"what this machine has: root, KVM (opened and probed by running a guest), the CPU,\n"      \
	"the IOMMU and its groups, GPUs and their drivers, the desktop session, and QEMU."
int gc_doctor_run(struct gc_cmd *cmd, int n_args, char **args);

/* config.c */
extern const struct gc_verb gc_config_verbs[];
#define GC_CONFIG_N_VERBS 1

#endif
