/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the env*.c files and nothing else. Every path argument is an absolute,
 * unprefixed path ("/sys/bus/pci/devices"); the helpers put gc_env_root() in front.
 */
#ifndef GC_ENV_INTERNAL_H
#define GC_ENV_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "env.h"

/* free() as an expression: p = mfree(p). */
static inline void *mfree(void *p)
{
	free(p);
	return NULL;
}

/* The whole file, NUL-terminated, at most max bytes (more is -EFBIG). */
int gc_env__read_file(const char *path, size_t max, char **ret_text);

/* The first line of a file, without its newline. */
int gc_env__read_line(const char *path, char **ret_line);

/* A sysfs number such as "0x030000" or "1" (base 0, trailing newline allowed). */
int gc_env__read_u32(const char *path, uint32_t *ret);

/* The last component of a symlink's target ("driver" -> ".../drivers/vfio-pci"). */
int gc_env__link_basename(const char *path, char **ret_name);

/* Whether a path exists (stat, following links). */
bool gc_env__exists(const char *path);

/* The names in a directory, sorted, without "." and "..". {NULL} when it is empty. */
int gc_env__list_dir(const char *path, char ***ret_names);

/* Appends s (taken) to a strv; frees s and returns -ENOMEM on failure. */
int gc_env__strv_consume(char ***l, char *s);

/* ---- The KVM probe (env-kvm.c), its report exposed for the tests of its verdict ---------- */

/* The steps of the probe, in order. */
enum gc_kvm_stage {
	GC_KVM_STAGE_NOT_RUN,
	GC_KVM_STAGE_OPEN,
	GC_KVM_STAGE_API_VERSION,
	GC_KVM_STAGE_CAPS,
	GC_KVM_STAGE_CREATE_VM,
	GC_KVM_STAGE_TSS_ADDR,
	GC_KVM_STAGE_MEMORY,
	GC_KVM_STAGE_CREATE_VCPU,
	GC_KVM_STAGE_MAP_RUN,
	GC_KVM_STAGE_CPUID,
	GC_KVM_STAGE_SREGS,
	GC_KVM_STAGE_REGS,
	GC_KVM_STAGE_RUN_OUT,
	GC_KVM_STAGE_RUN_HLT,
	GC_KVM_STAGE_DONE,
	_GC_KVM_STAGE_MAX,
};

enum {
	GC_KVM_MODE_REAL,
	GC_KVM_MODE_LONG,
	_GC_KVM_MODE_MAX,
};

/* One guest's progress; `stage` is where it is, or where it stopped. */
struct gc_kvm_guest_report {
	int32_t stage;
	int32_t error;	      /* errno of the failed call; 0 when a call failed by its result */
	int32_t exit_reason;  /* an unexpected KVM_RUN exit, -1 when none */
	uint32_t exit_detail; /* suberror, entry failure reason, or the I/O port */
};

/* Written by the child, read by the parent after the child is gone. */
struct gc_kvm_probe_report {
	int32_t stage;	     /* OPEN .. CAPS, then DONE once the guests may run */
	int32_t error;	     /* errno of the call that failed */
	int32_t api_version; /* -1 until read */
	int32_t missing_cap; /* at stage CAPS: the index of the capability, -1 for the CPUID */
	struct gc_kvm_guest_report guest[_GC_KVM_MODE_MAX];
};

/*
 * Turns the probe child's report into the verdict in k (state, reason; k->module must be set).
 * timed_out: the child was killed after timeout_ms; status: its wait status. 0 or -ENOMEM.
 */
int gc_env__kvm_verdict(const struct gc_kvm_probe_report *rep, bool timed_out, int status,
			int timeout_ms, struct gc_env_kvm *k);

/* Resets the caches of env-kvm.c and env-qemu.c. */
void gc_env__kvm_cache_flush(void);
void gc_env__qemu_cache_flush(void);

#endif
