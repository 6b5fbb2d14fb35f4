/* SPDX-License-Identifier: MIT */
/*
 * Where profiles live: vm.dir/NAME/vm.ini, with the VM's relative disk paths in vm.dir/NAME/.
 * Writes are atomic (a temporary file, fsync, rename), so a crash leaves the old profile or
 * the new one, never half of one.
 */
#ifndef GC_VM_STORE_H
#define GC_VM_STORE_H

#include <stdbool.h>

#include "profile.h"

struct gc_settings;

/* vm.dir/NAME: the VM's directory. Caller frees. NULL on -ENOMEM. */
char *gc_vm_dir(const struct gc_settings *s, const char *name);

/* Whether NAME has a profile. */
bool gc_vm_exists(const struct gc_settings *s, const char *name);

/*
 * Loads NAME's profile. -ENOENT when there is none; -EINVAL (logged with FILE:LINE) when it
 * does not parse. On success *p must be freed with gc_vm_profile_done().
 */
int gc_vm_load(const struct gc_settings *s, const char *name, struct gc_vm_profile *p);

/* Saves the profile atomically, creating the VM's directory. 0 or -errno (logged). */
int gc_vm_save(const struct gc_settings *s, const struct gc_vm_profile *p);

/*
 * Lists the VM names in vm.dir, sorted. *ret is a NULL-terminated array to free with
 * gc_strv_free(). A missing vm.dir is an empty list.
 */
int gc_vm_list_names(const struct gc_settings *s, char ***ret);

/* Writes `size` bytes of data to path atomically, mode 0644. 0 or -errno. */
int gc_write_file_atomic(const char *path, const char *data, size_t size);

/* mkdir -p, mode 0755 (0700 when private). 0 or -errno. */
int gc_mkdir_p(const char *path, bool private_dir);

#endif
