/* SPDX-License-Identifier: MIT */
/*
 * VM profiles: what a virtual machine is, saved as INI under vm.dir (NAME.ini).
 *
 * One table of fields (profile.c) drives everything that touches a profile: the INI file
 * (section and key), the options of `vm create` and `vm edit` (--memory=8G), their help,
 * and the form of `vm tui`. Every value is checked by the same parser wherever it comes
 * from, and a profile that loads is one that can be turned into a QEMU command line: the
 * checks reject anything QEMU would read as a separator it cannot escape.
 *
 * Lists (disks, shares, PCI and USB devices) are written as repeated keys, one item each,
 * in a "key=value,key=value" spec where a ',' inside a value is doubled, as QEMU does:
 *
 *	[storage]
 *	disk = path=main.qcow2,size=64G,bus=virtio
 *	disk = path=/srv/iso/data,,old.img,format=raw,bus=sata
 */
#ifndef GC_VM_PROFILE_H
#define GC_VM_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define GC_VM_NAME_MAX 48
#define GC_VM_MAX_DISKS 16
#define GC_VM_MAX_SHARES 8
#define GC_VM_MAX_PCI 8
#define GC_VM_MAX_USB 8
#define GC_VM_MAX_CPUS 512u

enum gc_vm_bus {
	GC_VM_BUS_VIRTIO,
	GC_VM_BUS_SATA,
	GC_VM_BUS_IDE,
	GC_VM_BUS_NVME,
	_GC_VM_BUS_MAX,
};

enum gc_vm_net {
	GC_VM_NET_USER,
	GC_VM_NET_BRIDGE,
	GC_VM_NET_TAP,
	GC_VM_NET_NONE,
	_GC_VM_NET_MAX,
};

enum gc_vm_display {
	GC_VM_DISPLAY_AUTO, /* resolved at start from the session and GPU */
	GC_VM_DISPLAY_NONE,
	GC_VM_DISPLAY_GTK,
	GC_VM_DISPLAY_SDL,
	GC_VM_DISPLAY_SPICE,
	GC_VM_DISPLAY_VNC,
	_GC_VM_DISPLAY_MAX,
};

enum gc_vm_share_type {
	GC_VM_SHARE_9P,
	GC_VM_SHARE_VIRTIOFS,
	_GC_VM_SHARE_MAX,
};

struct gc_vm_disk {
	char *path;    /* relative paths live in the VM's directory */
	uint64_t size; /* bytes; for a disk to create; 0: the file must exist */
	enum gc_vm_bus bus;
	bool raw; /* format=raw; qcow2 otherwise */
	bool readonly;
};

struct gc_vm_share {
	char *path; /* absolute, on the host */
	char *tag;  /* the guest's mount tag */
	enum gc_vm_share_type type;
	bool readonly;
};

struct gc_vm_usb {
	uint16_t vendor;
	uint16_t product;
};

struct gc_vm_profile {
	char *name;
	char *template; /* the template it was made from, for `show` */
	char *description;
	char *machine; /* q35 or pc */

	char *cpu_model; /* host, max, qemu64, or a QEMU model name */
	unsigned sockets, cores, threads;
	char *cpu_pin;	 /* host CPU list for the vCPU threads, "2-5,8"; NULL: none */
	uint64_t memory; /* bytes */
	bool hugepages;

	struct gc_vm_disk disks[GC_VM_MAX_DISKS];
	size_t n_disks;
	char *iso;
	char *kernel, *initrd, *append;
	bool no_reboot; /* a guest reboot ends QEMU (-no-reboot) */

	enum gc_vm_net net;
	char *net_model;   /* virtio-net-pci, e1000, ... */
	char *bridge;	   /* for GC_VM_NET_BRIDGE */
	char *tap;	   /* for GC_VM_NET_TAP */
	unsigned ssh_port; /* host port forwarded to guest 22; 0 picks a free one at start */
	unsigned guest_ssh_port;

	enum gc_vm_display display;
	bool gl;
	bool clipboard; /* SPICE agent clipboard sharing */

	struct gc_vm_share shares[GC_VM_MAX_SHARES];
	size_t n_shares;
	char *pci[GC_VM_MAX_PCI]; /* "0000:01:00.0" */
	size_t n_pci;
	struct gc_vm_usb usb[GC_VM_MAX_USB];
	size_t n_usb;
};

/* How a field is shown in the form (vm tui) and help. */
enum gc_vm_field_kind {
	GC_VM_FIELD_TEXT,
	GC_VM_FIELD_NUMBER,
	GC_VM_FIELD_SIZE,
	GC_VM_FIELD_BOOL,
	GC_VM_FIELD_CHOICE,
	GC_VM_FIELD_LIST, /* repeated key; the CLI option adds one item */
};

struct gc_vm_field {
	const char *section; /* INI section */
	const char *key;     /* INI key */
	const char *option;  /* long option of create/edit */
	const char *arg;     /* placeholder in help */
	const char *help;
	enum gc_vm_field_kind kind;
	const char *choices; /* "q35|pc" for CHOICE */
};

/* The table, and its length. */
extern const struct gc_vm_field gc_vm_fields[];
extern const size_t gc_vm_n_fields;

/* Finds a field by long option name, or by "section.key"; NULL if none. */
const struct gc_vm_field *gc_vm_field_by_option(const char *option);
const struct gc_vm_field *gc_vm_field_by_key(const char *section, const char *key);

/* Whether name is a valid VM name: [A-Za-z0-9][A-Za-z0-9._-]*, at most GC_VM_NAME_MAX. */
bool gc_vm_name_is_valid(const char *name);

/* A profile with the built-in defaults (no template). Returns 0 or -ENOMEM. */
int gc_vm_profile_init(struct gc_vm_profile *p, const char *name);
void gc_vm_profile_done(struct gc_vm_profile *p);

/*
 * Applies a template: gaming, dev, server, testbed. -ENOENT for an unknown name. The
 * testbed template takes its kernel and initramfs from `testbed_dir`.
 */
int gc_vm_profile_apply_template(struct gc_vm_profile *p, const char *template,
				 const char *testbed_dir);
/* The templates' names and one-line descriptions, NULL-terminated. */
extern const char *const gc_vm_templates[][2];

/*
 * Sets one field from text. For a LIST field the value adds an item; the value "" (or
 * "none") clears the list. Returns 0, or -EINVAL with a message in `err` (one line, no
 * field name) such as "invalid size '12Q'"; -E2BIG when a list is full.
 */
int gc_vm_profile_set(struct gc_vm_profile *p, const struct gc_vm_field *f, const char *value,
		      char *err, size_t err_size);

/*
 * The text of a scalar field, or of item `i` of a list, as the INI file stores it, in a
 * buffer the caller frees. -ENOENT when a list has no item i, or the field is unset.
 */
int gc_vm_profile_get(const struct gc_vm_profile *p, const struct gc_vm_field *f, size_t i,
		      char **ret);

/* Gives every disk without a path one in the VM's directory: diskN.qcow2 (or .img). */
int gc_vm_profile_name_disks(struct gc_vm_profile *p);

/*
 * Checks the whole profile for what single fields cannot: a boot source, topology within
 * limits, unique share tags, a bridge name when net=bridge. -EINVAL with the first problem
 * in err.
 */
int gc_vm_profile_validate(const struct gc_vm_profile *p, char *err, size_t err_size);

/*
 * Parses a profile from INI text. `name` is the VM's (from the file name). On failure
 * returns -EINVAL and puts "LINE: message" in err; the profile is left initialised and
 * must still be freed with gc_vm_profile_done().
 */
int gc_vm_profile_parse(struct gc_vm_profile *p, const char *name, const char *text, char *err,
			size_t err_size);

/* Writes the profile as INI to f. 0 or -EIO. */
int gc_vm_profile_write(const struct gc_vm_profile *p, FILE *f);

/* Splits "k=v,k=v" specs (",," for a literal ','). Exposed for the fuzzer and tests. */
int gc_vm_spec_next(const char **cursor, char *key, size_t key_size, char *value,
		    size_t value_size);

/* The names of the enums, as in the INI file. */
const char *gc_vm_bus_to_string(enum gc_vm_bus b);
const char *gc_vm_net_to_string(enum gc_vm_net n);
const char *gc_vm_display_to_string(enum gc_vm_display d);
const char *gc_vm_share_type_to_string(enum gc_vm_share_type t);

#endif
