/* SPDX-License-Identifier: MIT */
/*
 * The QEMU command line of a profile, as an argv array (never a shell string).
 *
 * gc_vm_qemu_argv() is a pure function of the profile and of what `vm start` decided at
 * launch (acceleration, display, ports, socket paths), so the golden tests pin its output
 * for every template and option. Values inside QEMU's key=value lists have their ',' doubled;
 * a value QEMU cannot take escaped was already refused by the profile's checks.
 */
#ifndef GC_VM_QEMU_H
#define GC_VM_QEMU_H

#include <stdbool.h>
#include <stddef.h>

#include "profile.h"
#include "strv.h"

struct gc_vm_launch {
	const char *qemu;    /* the binary */
	const char *vm_dir;  /* the VM's directory: relative disk paths are in it */
	const char *run_dir; /* the running VM's directory: qmp.sock, serial.sock, serial.log */
	bool kvm;	     /* -accel kvm, else tcg */
	enum gc_vm_display display; /* resolved: never GC_VM_DISPLAY_AUTO */
	unsigned ssh_port;	    /* resolved for user networking: never 0 */
	unsigned display_port;	    /* spice: the TCP port; vnc: the display number */
};

/*
 * Builds QEMU's argv, a strv (free with gc_strv_free()). Returns 0, -ENOMEM, or -EINVAL with one
 * line in err when the launch cannot work (display auto not resolved, a port of 0).
 */
int gc_vm_qemu_argv(const struct gc_vm_profile *p, const struct gc_vm_launch *l, char ***ret_argv,
		    char *err, size_t err_size);

/* The path of a disk: absolute as given, relative ones under vm_dir. Caller frees. */
char *gc_vm_disk_path(const struct gc_vm_disk *d, const char *vm_dir);

/* The socket virtiofsd serves share i on, under run_dir. Caller frees. */
char *gc_vm_virtiofs_socket(const char *run_dir, size_t i);

/* A locally administered MAC derived from the VM's name: stable across starts. */
void gc_vm_mac(const char *name, char ret[static 18]);

#endif
