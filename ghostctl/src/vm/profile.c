/* SPDX-License-Identifier: MIT */
/* VM profiles: the field table, its parsers and printers, templates, INI; see profile.h. */
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/macro.h"
#include "common/string-util.h"
#include "env.h"
#include "profile.h"
#include "settings.h"

/* clang-format off */
const struct gc_vm_field gc_vm_fields[] = {
	{ "vm", "description", "description", "TEXT", "What the VM is for", GC_VM_FIELD_TEXT, NULL },
	{ "vm", "template", NULL, NULL, "The template it was made from", GC_VM_FIELD_TEXT, NULL },
	{ "vm", "machine", "machine", "TYPE", "Machine type: q35 (PCIe) or pc (i440fx)", GC_VM_FIELD_CHOICE, "q35|pc" },
	{ "cpu", "model", "cpu", "MODEL", "CPU model: host (KVM only; max under TCG), max, or a QEMU model", GC_VM_FIELD_TEXT, NULL },
	{ "cpu", "sockets", "sockets", "N", "CPU sockets", GC_VM_FIELD_NUMBER, NULL },
	{ "cpu", "cores", "cores", "N", "Cores per socket", GC_VM_FIELD_NUMBER, NULL },
	{ "cpu", "threads", "threads", "N", "Threads per core", GC_VM_FIELD_NUMBER, NULL },
	{ "cpu", "pin", "pin", "CPUS", "Pin the vCPU threads to these host CPUs (\"2-5,8\"; none)", GC_VM_FIELD_TEXT, NULL },
	{ "memory", "size", "memory", "SIZE", "Memory (\"8G\"; at least 16M, whole MiB)", GC_VM_FIELD_SIZE, NULL },
	{ "memory", "hugepages", "hugepages", "BOOL", "Back memory with hugepages (/dev/hugepages)", GC_VM_FIELD_BOOL, NULL },
	{ "storage", "disk", "disk", "SPEC", "Add a disk: SIZE, PATH, or path=,size=,bus=virtio|sata|ide|nvme,format=qcow2|raw,readonly= (\"none\" clears)", GC_VM_FIELD_LIST, NULL },
	{ "storage", "iso", "iso", "PATH", "Boot from this ISO image (a CD-ROM)", GC_VM_FIELD_TEXT, NULL },
	{ "boot", "kernel", "kernel", "PATH", "Boot this kernel directly", GC_VM_FIELD_TEXT, NULL },
	{ "boot", "initrd", "initrd", "PATH", "The initramfs for --kernel", GC_VM_FIELD_TEXT, NULL },
	{ "boot", "append", "append", "CMDLINE", "The kernel command line for --kernel", GC_VM_FIELD_TEXT, NULL },
	{ "boot", "reboot", "reboot", "BOOL", "A guest reboot restarts it (yes) or ends QEMU (no)", GC_VM_FIELD_BOOL, NULL },
	{ "network", "mode", "net", "MODE", "Networking: user, bridge, tap or none", GC_VM_FIELD_CHOICE, "user|bridge|tap|none" },
	{ "network", "model", "net-model", "DEVICE", "The NIC: virtio-net-pci, e1000, ...", GC_VM_FIELD_TEXT, NULL },
	{ "network", "bridge", "bridge", "IFNAME", "The host bridge for --net=bridge", GC_VM_FIELD_TEXT, NULL },
	{ "network", "tap", "tap", "IFNAME", "The host tap device for --net=tap", GC_VM_FIELD_TEXT, NULL },
	{ "network", "ssh_port", "ssh-port", "PORT", "Host port forwarded to the guest's SSH (user net; auto picks a free one)", GC_VM_FIELD_NUMBER, NULL },
	{ "network", "guest_ssh_port", "guest-ssh-port", "PORT", "The guest's SSH port", GC_VM_FIELD_NUMBER, NULL },
	{ "display", "type", "display", "TYPE", "Display: auto, none, gtk, sdl, spice or vnc", GC_VM_FIELD_CHOICE, "auto|none|gtk|sdl|spice|vnc" },
	{ "display", "gl", "gl", "BOOL", "3D acceleration (virgl) for gtk, sdl and spice", GC_VM_FIELD_BOOL, NULL },
	{ "display", "clipboard", "clipboard", "BOOL", "Share the clipboard (SPICE agent)", GC_VM_FIELD_BOOL, NULL },
	{ "share", "folder", "share", "SPEC", "Share a host folder: PATH or path=,tag=,type=9p|virtiofs,readonly= (\"none\" clears)", GC_VM_FIELD_LIST, NULL },
	{ "passthrough", "pci", "pci", "ADDRESS", "Pass a PCI device through with VFIO (\"01:00.0\"; \"none\" clears)", GC_VM_FIELD_LIST, NULL },
	{ "passthrough", "usb", "usb", "VENDOR:PRODUCT", "Pass a USB device through (\"046d:c52b\"; \"none\" clears)", GC_VM_FIELD_LIST, NULL },
};
/* clang-format on */
const size_t gc_vm_n_fields = ELEMENTSOF(gc_vm_fields);

const char *const gc_vm_templates[][2] = {
	{ "gaming", "Desktop gaming: host CPU, 16G on hugepages, NVMe disk, 3D display" },
	{ "dev", "Development: 8G, virtio disk, SSH forward, clipboard" },
	{ "server", "Headless server: 4G, virtio disk, no display, SSH forward" },
	{ "testbed", "The testbed guest: direct kernel boot, 256M, serial console, no disk" },
	{ NULL, NULL },
};

static const char *const bus_names[_GC_VM_BUS_MAX] = { "virtio", "sata", "ide", "nvme" };
static const char *const net_names[_GC_VM_NET_MAX] = { "user", "bridge", "tap", "none" };
static const char *const display_names[_GC_VM_DISPLAY_MAX] = { "auto", "none",	"gtk",
							       "sdl",  "spice", "vnc" };
static const char *const share_names[_GC_VM_SHARE_MAX] = { "9p", "virtiofs" };

const char *gc_vm_bus_to_string(enum gc_vm_bus b)
{
	return (unsigned)b < _GC_VM_BUS_MAX ? bus_names[b] : NULL;
}

const char *gc_vm_net_to_string(enum gc_vm_net n)
{
	return (unsigned)n < _GC_VM_NET_MAX ? net_names[n] : NULL;
}

const char *gc_vm_display_to_string(enum gc_vm_display d)
{
	return (unsigned)d < _GC_VM_DISPLAY_MAX ? display_names[d] : NULL;
}

const char *gc_vm_share_type_to_string(enum gc_vm_share_type t)
{
	return (unsigned)t < _GC_VM_SHARE_MAX ? share_names[t] : NULL;
}

static int lookup(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (streq(names[i], s))
			return (int)i;
	return -EINVAL;
}

const struct gc_vm_field *gc_vm_field_by_option(const char *option)
{
	for (size_t i = 0; i < gc_vm_n_fields; i++)
		if (gc_vm_fields[i].option && streq(gc_vm_fields[i].option, option))
			return &gc_vm_fields[i];
	return NULL;
}

const struct gc_vm_field *gc_vm_field_by_key(const char *section, const char *key)
{
	for (size_t i = 0; i < gc_vm_n_fields; i++)
		if (streq(gc_vm_fields[i].section, section) && streq(gc_vm_fields[i].key, key))
			return &gc_vm_fields[i];
	return NULL;
}

static bool field_is(const struct gc_vm_field *f, const char *section, const char *key)
{
	return streq(f->section, section) && streq(f->key, key);
}

/* --- value checks ------------------------------------------------------------------- */

static int fail(char *err, size_t size, const char *format, ...) _printf_(3, 4);
static int fail(char *err, size_t size, const char *format, ...)
{
	va_list ap;

	va_start(ap, format);
	(void)vsnprintf(err, size, format, ap);
	va_end(ap);
	return -EINVAL;
}

static bool is_printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static bool all_of(const char *s, const char *extra)
{
	if (isempty(s))
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr(extra, *s))
			return false;
	return true;
}

bool gc_vm_name_is_valid(const char *name)
{
	return name && strlen(name) <= GC_VM_NAME_MAX && isalnum((unsigned char)name[0]) &&
	       all_of(name, "._-");
}

/* A host path: printable, no leading '-', at most 1024 bytes. Relative ones must stay below
 * the VM directory. */
static int check_path(const char *s, bool absolute, char *err, size_t size)
{
	if (isempty(s))
		return fail(err, size, "empty path");
	if (strlen(s) > 1024)
		return fail(err, size, "path longer than 1024 bytes");
	if (!is_printable(s))
		return fail(err, size, "control character in path");
	if (absolute && s[0] != '/')
		return fail(err, size, "'%s' is not an absolute path", s);
	if (s[0] == '-')
		return fail(err, size, "path '%s' starts with '-'", s);
	if (s[0] != '/') {
		for (const char *p = s; p; p = strchr(p, '/')) {
			if (*p == '/')
				p++;
			if (startswith(p, "..") && (p[2] == '/' || p[2] == '\0'))
				return fail(err, size, "relative path '%s' leaves the VM directory",
					    s);
		}
	}
	return 0;
}

static int parse_bool(const char *s, bool *ret)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*ret = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*ret = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* "0-3,8,10-11": host CPU numbers below 4096. */
static bool cpu_list_is_valid(const char *s)
{
	if (isempty(s) || strlen(s) > 256)
		return false;
	while (*s) {
		unsigned a, b;
		char *end;

		if (!isdigit((unsigned char)*s))
			return false;
		a = (unsigned)strtoul(s, &end, 10);
		b = a;
		if (*end == '-') {
			if (!isdigit((unsigned char)end[1]))
				return false;
			b = (unsigned)strtoul(end + 1, &end, 10);
		}
		if (a > b || b >= 4096)
			return false;
		if (*end == ',' && end[1] != '\0')
			end++;
		else if (*end != '\0')
			return false;
		s = end;
	}
	return true;
}

/* Linux interface names: 1 to 15 of [A-Za-z0-9_.-]. */
static bool ifname_is_valid(const char *s)
{
	return s && strlen(s) <= 15 && all_of(s, "_.-") && !streq(s, ".") && !streq(s, "..");
}

static int parse_number(const char *s, unsigned min, unsigned max, unsigned *ret)
{
	unsigned u;

	if (safe_atou(s, &u) < 0 || u < min || u > max)
		return -EINVAL;
	*ret = u;
	return 0;
}

int gc_vm_spec_next(const char **cursor, char *key, size_t key_size, char *value, size_t value_size)
{
	const char *p = *cursor;
	size_t k = 0, v = 0;
	bool in_value = false;

	if (!p || *p == '\0')
		return 0;
	key[0] = value[0] = '\0';
	for (;; p++) {
		char c = *p;

		if (c == ',' && p[1] == ',') {
			p++; /* ",," is one ',' */
		} else if (c == ',' || c == '\0') {
			if (c == ',')
				p++;
			break;
		} else if (c == '=' && !in_value) {
			in_value = true;
			continue;
		}
		if (!in_value) {
			if (k + 1 >= key_size)
				return -EINVAL;
			key[k++] = c;
		} else {
			if (v + 1 >= value_size)
				return -EINVAL;
			value[v++] = c;
		}
	}
	key[k] = '\0';
	value[v] = '\0';
	if (!in_value) {
		/* A bare item: the value, with no key. */
		if (k + 1 > value_size)
			return -EINVAL;
		memcpy(value, key, k + 1);
		key[0] = '\0';
	}
	*cursor = p;
	return 1;
}

static int set_string(char **slot, const char *value)
{
	char *s = strdup(value);

	if (!s)
		return -ENOMEM;
	free(*slot);
	*slot = s;
	return 0;
}

static int parse_disk(const char *spec, struct gc_vm_disk *d, char *err, size_t size)
{
	const char *cur = spec;
	char key[32], value[1100];
	int r;

	*d = (struct gc_vm_disk){ .bus = GC_VM_BUS_VIRTIO };
	while ((r = gc_vm_spec_next(&cur, key, sizeof(key), value, sizeof(value))) > 0) {
		if (isempty(key)) {
			uint64_t u;

			/* A bare item: a size if it parses as one (and is checked as one), else
			 * a path. */
			strcpy(key, isdigit((unsigned char)value[0]) && parse_size(value, &u) >= 0 ?
					    "size" :
					    "path");
		}
		if (streq(key, "path")) {
			if (check_path(value, false, err, size) < 0)
				return -EINVAL;
			if (d->path)
				return fail(err, size, "path given twice");
			d->path = strdup(value);
			if (!d->path)
				return -ENOMEM;
		} else if (streq(key, "size")) {
			if (parse_size(value, &d->size) < 0 || d->size < 1024 * 1024 ||
			    d->size > (64ull << 40))
				return fail(err, size, "invalid disk size '%s' (1M to 64T)", value);
		} else if (streq(key, "bus")) {
			r = lookup(bus_names, _GC_VM_BUS_MAX, value);
			if (r < 0)
				return fail(err, size,
					    "invalid bus '%s' (virtio, sata, ide or nvme)", value);
			d->bus = (enum gc_vm_bus)r;
		} else if (streq(key, "format")) {
			if (!streq(value, "qcow2") && !streq(value, "raw"))
				return fail(err, size, "invalid format '%s' (qcow2 or raw)", value);
			d->raw = streq(value, "raw");
		} else if (streq(key, "readonly")) {
			if (parse_bool(value, &d->readonly) < 0)
				return fail(err, size, "invalid readonly '%s' (yes or no)", value);
		} else
			return fail(err, size,
				    "unknown disk key '%s' (path, size, bus, format, readonly)",
				    key);
	}
	if (r < 0)
		return fail(err, size, "disk spec item too long");
	if (!d->path && d->size == 0)
		return fail(err, size, "a disk needs a size or a path");
	if (d->readonly && d->bus != GC_VM_BUS_VIRTIO)
		return fail(err, size,
			    "a read-only disk needs bus=virtio (QEMU's IDE, SATA and "
			    "NVMe disks cannot be read-only)");
	return 0;
}

static void disk_done(struct gc_vm_disk *d)
{
	free(d->path);
	d->path = NULL;
}

static int parse_share(const char *spec, struct gc_vm_share *s, char *err, size_t size)
{
	const char *cur = spec;
	char key[32], value[1100];
	int r;

	*s = (struct gc_vm_share){ .type = GC_VM_SHARE_9P };
	while ((r = gc_vm_spec_next(&cur, key, sizeof(key), value, sizeof(value))) > 0) {
		if (isempty(key))
			strcpy(key, "path");
		if (streq(key, "path")) {
			if (check_path(value, true, err, size) < 0)
				return -EINVAL;
			if (s->path)
				return fail(err, size, "path given twice");
			s->path = strdup(value);
			if (!s->path)
				return -ENOMEM;
		} else if (streq(key, "tag")) {
			if (strlen(value) > 31 || !all_of(value, "_.-"))
				return fail(err, size,
					    "invalid tag '%s' (1 to 31 of A-Z a-z 0-9 _ . -)",
					    value);
			free(s->tag);
			s->tag = strdup(value);
			if (!s->tag)
				return -ENOMEM;
		} else if (streq(key, "type")) {
			r = lookup(share_names, _GC_VM_SHARE_MAX, value);
			if (r < 0)
				return fail(err, size, "invalid type '%s' (9p or virtiofs)", value);
			s->type = (enum gc_vm_share_type)r;
		} else if (streq(key, "readonly")) {
			if (parse_bool(value, &s->readonly) < 0)
				return fail(err, size, "invalid readonly '%s' (yes or no)", value);
		} else
			return fail(err, size, "unknown share key '%s' (path, tag, type, readonly)",
				    key);
	}
	if (r < 0)
		return fail(err, size, "share spec item too long");
	if (!s->path)
		return fail(err, size, "a share needs a path");
	if (!s->tag) {
		/* The folder's name, made a valid tag. */
		const char *base = strrchr(s->path, '/') + 1;
		char tag[32];
		size_t n = 0;

		for (; *base && n < 31; base++)
			tag[n++] = isalnum((unsigned char)*base) || strchr("_.-", *base) ? *base :
											   '_';
		tag[n] = '\0';
		s->tag = strdup(n > 0 ? tag : "share");
		if (!s->tag)
			return -ENOMEM;
	}
	if (s->type == GC_VM_SHARE_VIRTIOFS && s->readonly)
		return fail(err, size,
			    "virtiofsd of QEMU 7.2 cannot export read-only: use type=9p");
	return 0;
}

static void share_done(struct gc_vm_share *s)
{
	free(s->path);
	free(s->tag);
	s->path = s->tag = NULL;
}

/* --- set and get -------------------------------------------------------------------- */

static int list_full(char *err, size_t size, const char *what, int max)
{
	(void)snprintf(err, size, "more than %d %s", max, what);
	return -E2BIG;
}

static bool lookup_template(const char *name)
{
	for (size_t i = 0; gc_vm_templates[i][0]; i++)
		if (streq(gc_vm_templates[i][0], name))
			return true;
	return false;
}

static void clear_string(char **slot)
{
	free(*slot);
	*slot = NULL;
}

static int set_list(struct gc_vm_profile *p, const struct gc_vm_field *f, const char *value,
		    char *err, size_t size)
{
	bool clear = isempty(value) || streq(value, "none");
	int r;

	if (field_is(f, "storage", "disk")) {
		if (clear) {
			for (size_t i = 0; i < p->n_disks; i++)
				disk_done(&p->disks[i]);
			p->n_disks = 0;
			return 0;
		}
		if (p->n_disks >= GC_VM_MAX_DISKS)
			return list_full(err, size, "disks", GC_VM_MAX_DISKS);
		r = parse_disk(value, &p->disks[p->n_disks], err, size);
		if (r < 0) {
			disk_done(&p->disks[p->n_disks]);
			return r;
		}
		p->n_disks++;
	} else if (field_is(f, "share", "folder")) {
		if (clear) {
			for (size_t i = 0; i < p->n_shares; i++)
				share_done(&p->shares[i]);
			p->n_shares = 0;
			return 0;
		}
		if (p->n_shares >= GC_VM_MAX_SHARES)
			return list_full(err, size, "shares", GC_VM_MAX_SHARES);
		r = parse_share(value, &p->shares[p->n_shares], err, size);
		if (r < 0) {
			share_done(&p->shares[p->n_shares]);
			return r;
		}
		p->n_shares++;
	} else if (field_is(f, "passthrough", "pci")) {
		char addr[GC_PCI_ADDRESS_MAX];

		if (clear) {
			for (size_t i = 0; i < p->n_pci; i++)
				free(p->pci[i]);
			p->n_pci = 0;
			return 0;
		}
		if (p->n_pci >= GC_VM_MAX_PCI)
			return list_full(err, size, "PCI devices", GC_VM_MAX_PCI);
		if (gc_pci_address_parse(value, addr) < 0)
			return fail(err, size,
				    "invalid PCI address '%s' (expected 01:00.0 or 0000:01:00.0)",
				    value);
		for (size_t i = 0; i < p->n_pci; i++)
			if (streq(p->pci[i], addr))
				return fail(err, size, "PCI device %s given twice", addr);
		p->pci[p->n_pci] = strdup(addr);
		if (!p->pci[p->n_pci])
			return -ENOMEM;
		p->n_pci++;
	} else if (field_is(f, "passthrough", "usb")) {
		if (clear) {
			p->n_usb = 0;
			return 0;
		}
		if (p->n_usb >= GC_VM_MAX_USB)
			return list_full(err, size, "USB devices", GC_VM_MAX_USB);
		if (gc_usb_id_parse(value, &p->usb[p->n_usb].vendor, &p->usb[p->n_usb].product) < 0)
			return fail(err, size,
				    "invalid USB id '%s' (expected VENDOR:PRODUCT in hex, "
				    "such as 046d:c52b)",
				    value);
		p->n_usb++;
	} else
		return -EINVAL;
	return 0;
}

/* Text fields: which slot, and what they accept. */
static int set_text(struct gc_vm_profile *p, const struct gc_vm_field *f, const char *value,
		    char *err, size_t size)
{
	bool clear = isempty(value) || streq(value, "none");

	if (strlen(value) > 2048)
		return fail(err, size, "value longer than 2048 bytes");
	if (!is_printable(value))
		return fail(err, size, "control character in value");
	if (field_is(f, "vm", "description"))
		return set_string(&p->description, value);
	if (field_is(f, "vm", "template")) {
		if (!lookup_template(value))
			return fail(err, size, "unknown template '%s'", value);
		return set_string(&p->template, value);
	}
	if (field_is(f, "cpu", "model")) {
		if (strlen(value) > 64 || !all_of(value, "_.-"))
			return fail(err, size,
				    "invalid CPU model '%s' (a QEMU model name: host, "
				    "max, qemu64, EPYC, ...)",
				    value);
		return set_string(&p->cpu_model, value);
	}
	if (field_is(f, "cpu", "pin")) {
		if (clear) {
			free(p->cpu_pin);
			p->cpu_pin = NULL;
			return 0;
		}
		if (!cpu_list_is_valid(value))
			return fail(err, size, "invalid CPU list '%s' (such as 2-5,8)", value);
		return set_string(&p->cpu_pin, value);
	}
	if (field_is(f, "network", "bridge") || field_is(f, "network", "tap")) {
		char **slot = field_is(f, "network", "bridge") ? &p->bridge : &p->tap;

		if (clear) {
			free(*slot);
			*slot = NULL;
			return 0;
		}
		if (!ifname_is_valid(value))
			return fail(err, size,
				    "invalid interface name '%s' (1 to 15 of A-Z a-z 0-9 _ . -)",
				    value);
		return set_string(slot, value);
	}
	if (field_is(f, "network", "model")) {
		if (strlen(value) > 64 || !all_of(value, "-_"))
			return fail(err, size, "invalid NIC model '%s'", value);
		return set_string(&p->net_model, value);
	}
	if (field_is(f, "boot", "append")) {
		if (clear) {
			clear_string(&p->append);
			return 0;
		}
		return set_string(&p->append, value);
	}

	/* Paths: iso, kernel, initrd. */
	char **slot = field_is(f, "storage", "iso") ? &p->iso :
		      field_is(f, "boot", "kernel") ? &p->kernel :
		      field_is(f, "boot", "initrd") ? &p->initrd :
						      NULL;
	if (!slot)
		return -EINVAL;
	if (clear) {
		free(*slot);
		*slot = NULL;
		return 0;
	}
	/* The command line makes relative paths absolute before they get here. */
	if (check_path(value, true, err, size) < 0)
		return -EINVAL;
	/* -initrd is split at ',' for multiboot kernels: a ',' cannot be escaped there. */
	if (slot == &p->initrd && strchr(value, ','))
		return fail(err, size, "an initrd path cannot contain ','");
	return set_string(slot, value);
}

int gc_vm_profile_set(struct gc_vm_profile *p, const struct gc_vm_field *f, const char *value,
		      char *err, size_t size)
{
	char trimmed[2100];
	size_t n;
	bool b;
	int r;

	if (!p || !f || !value)
		return -EINVAL;
	/* inih trims values; trimming here too keeps what is set and what is saved the same. */
	while (isspace((unsigned char)*value))
		value++;
	n = strlen(value);
	while (n > 0 && isspace((unsigned char)value[n - 1]))
		n--;
	if (n >= sizeof(trimmed))
		return fail(err, size, "value longer than 2048 bytes");
	memcpy(trimmed, value, n);
	trimmed[n] = '\0';
	value = trimmed;

	switch (f->kind) {
	case GC_VM_FIELD_LIST:
		return set_list(p, f, value, err, size);
	case GC_VM_FIELD_TEXT:
		return set_text(p, f, value, err, size);
	case GC_VM_FIELD_BOOL:
		if (parse_bool(value, &b) < 0)
			return fail(err, size, "invalid boolean '%s' (yes or no)", value);
		if (field_is(f, "memory", "hugepages"))
			p->hugepages = b;
		else if (field_is(f, "display", "gl"))
			p->gl = b;
		else if (field_is(f, "display", "clipboard"))
			p->clipboard = b;
		else if (field_is(f, "boot", "reboot"))
			p->no_reboot = !b;
		return 0;
	case GC_VM_FIELD_SIZE: {
		uint64_t u;

		if (parse_size(value, &u) < 0 || u < (16u << 20) || u > (16ull << 40) ||
		    u % (1u << 20) != 0)
			return fail(err, size, "invalid size '%s' (16M to 16T, whole MiB)", value);
		p->memory = u;
		return 0;
	}
	case GC_VM_FIELD_NUMBER: {
		unsigned u;

		if (field_is(f, "network", "ssh_port") ||
		    field_is(f, "network", "guest_ssh_port")) {
			if (streq(value, "auto") && field_is(f, "network", "ssh_port"))
				u = 0;
			else if (parse_number(value, 1, 65535, &u) < 0)
				return fail(err, size, "invalid port '%s' (1 to 65535%s)", value,
					    field_is(f, "network", "ssh_port") ? ", or auto" : "");
			if (field_is(f, "network", "ssh_port"))
				p->ssh_port = u;
			else
				p->guest_ssh_port = u;
			return 0;
		}
		if (parse_number(value, 1, GC_VM_MAX_CPUS, &u) < 0)
			return fail(err, size, "invalid count '%s' (1 to %u)", value,
				    GC_VM_MAX_CPUS);
		if (field_is(f, "cpu", "sockets"))
			p->sockets = u;
		else if (field_is(f, "cpu", "cores"))
			p->cores = u;
		else
			p->threads = u;
		return 0;
	}
	case GC_VM_FIELD_CHOICE:
		if (field_is(f, "vm", "machine")) {
			if (!streq(value, "q35") && !streq(value, "pc"))
				return fail(err, size, "invalid machine '%s' (q35 or pc)", value);
			return set_string(&p->machine, value);
		}
		if (field_is(f, "network", "mode")) {
			r = lookup(net_names, _GC_VM_NET_MAX, value);
			if (r < 0)
				return fail(err, size,
					    "invalid network mode '%s' (user, bridge, tap or none)",
					    value);
			p->net = (enum gc_vm_net)r;
			return 0;
		}
		if (field_is(f, "display", "type")) {
			r = lookup(display_names, _GC_VM_DISPLAY_MAX, value);
			if (r < 0)
				return fail(err, size,
					    "invalid display '%s' (auto, none, gtk, sdl, spice or "
					    "vnc)",
					    value);
			p->display = (enum gc_vm_display)r;
			return 0;
		}
		return -EINVAL;
	}
	return -EINVAL;
}

/* Appends s to the spec being built, doubling ','. */
static void spec_add(char *buf, size_t size, const char *key, const char *value)
{
	size_t n = strlen(buf);

	if (n > 0 && n + 1 < size)
		buf[n++] = ',';
	for (const char *k = key; *k && n + 1 < size; k++)
		buf[n++] = *k;
	if (n + 1 < size)
		buf[n++] = '=';
	for (const char *v = value; *v && n + 2 < size; v++) {
		buf[n++] = *v;
		if (*v == ',')
			buf[n++] = ',';
	}
	buf[n] = '\0';
}

/* "64G" when exact in a unit, else bytes. */
static void format_size(char *buf, size_t size, uint64_t u)
{
	static const char units[] = "KMGT";
	int i = -1;

	while (i < 3 && u != 0 && u % 1024 == 0) {
		u /= 1024;
		i++;
	}
	if (i < 0)
		(void)snprintf(buf, size, "%" PRIu64, u);
	else
		(void)snprintf(buf, size, "%" PRIu64 "%c", u, units[i]);
}

static int list_item(const struct gc_vm_profile *p, const struct gc_vm_field *f, size_t i,
		     char *buf, size_t size)
{
	char num[32];

	buf[0] = '\0';
	if (field_is(f, "storage", "disk")) {
		const struct gc_vm_disk *d = &p->disks[i];

		if (i >= p->n_disks)
			return -ENOENT;
		if (d->path)
			spec_add(buf, size, "path", d->path);
		if (d->size != 0) {
			format_size(num, sizeof(num), d->size);
			spec_add(buf, size, "size", num);
		}
		spec_add(buf, size, "bus", bus_names[d->bus]);
		spec_add(buf, size, "format", d->raw ? "raw" : "qcow2");
		if (d->readonly)
			spec_add(buf, size, "readonly", "yes");
	} else if (field_is(f, "share", "folder")) {
		const struct gc_vm_share *s = &p->shares[i];

		if (i >= p->n_shares)
			return -ENOENT;
		spec_add(buf, size, "path", s->path);
		spec_add(buf, size, "tag", s->tag);
		spec_add(buf, size, "type", share_names[s->type]);
		if (s->readonly)
			spec_add(buf, size, "readonly", "yes");
	} else if (field_is(f, "passthrough", "pci")) {
		if (i >= p->n_pci)
			return -ENOENT;
		(void)snprintf(buf, size, "%s", p->pci[i]);
	} else if (field_is(f, "passthrough", "usb")) {
		if (i >= p->n_usb)
			return -ENOENT;
		(void)snprintf(buf, size, "%04x:%04x", p->usb[i].vendor, p->usb[i].product);
	} else
		return -EINVAL;
	return 0;
}

int gc_vm_profile_get(const struct gc_vm_profile *p, const struct gc_vm_field *f, size_t i,
		      char **ret)
{
	char buf[4096];
	const char *s = NULL;
	int r;

	buf[0] = '\0';
	switch (f->kind) {
	case GC_VM_FIELD_LIST:
		r = list_item(p, f, i, buf, sizeof(buf));
		if (r < 0)
			return r;
		s = buf;
		break;
	case GC_VM_FIELD_BOOL:
		s = yes_no(field_is(f, "memory", "hugepages") ? p->hugepages :
			   field_is(f, "display", "gl")	      ? p->gl :
			   field_is(f, "boot", "reboot")      ? !p->no_reboot :
								p->clipboard);
		break;
	case GC_VM_FIELD_SIZE:
		format_size(buf, sizeof(buf), p->memory);
		s = buf;
		break;
	case GC_VM_FIELD_NUMBER: {
		unsigned u = field_is(f, "cpu", "sockets")	? p->sockets :
			     field_is(f, "cpu", "cores")	? p->cores :
			     field_is(f, "cpu", "threads")	? p->threads :
			     field_is(f, "network", "ssh_port") ? p->ssh_port :
								  p->guest_ssh_port;

		if (field_is(f, "network", "ssh_port") && u == 0)
			s = "auto";
		else {
			(void)snprintf(buf, sizeof(buf), "%u", u);
			s = buf;
		}
		break;
	}
	case GC_VM_FIELD_CHOICE:
		s = field_is(f, "vm", "machine")   ? p->machine :
		    field_is(f, "network", "mode") ? net_names[p->net] :
						     display_names[p->display];
		break;
	case GC_VM_FIELD_TEXT:
		s = field_is(f, "vm", "description") ? p->description :
		    field_is(f, "vm", "template")    ? p->template :
		    field_is(f, "cpu", "model")	     ? p->cpu_model :
		    field_is(f, "cpu", "pin")	     ? p->cpu_pin :
		    field_is(f, "storage", "iso")    ? p->iso :
		    field_is(f, "boot", "kernel")    ? p->kernel :
		    field_is(f, "boot", "initrd")    ? p->initrd :
		    field_is(f, "boot", "append")    ? p->append :
		    field_is(f, "network", "model")  ? p->net_model :
		    field_is(f, "network", "bridge") ? p->bridge :
		    field_is(f, "network", "tap")    ? p->tap :
						       NULL;
		break;
	}
	if (!s || (f->kind != GC_VM_FIELD_LIST && i > 0))
		return -ENOENT;
	*ret = strdup(s);
	return *ret ? 0 : -ENOMEM;
}

int gc_vm_profile_init(struct gc_vm_profile *p, const char *name)
{
	*p = (struct gc_vm_profile){
		.sockets = 1,
		.cores = 2,
		.threads = 1,
		.memory = 2ull << 30,
		.net = GC_VM_NET_USER,
		.guest_ssh_port = 22,
		.display = GC_VM_DISPLAY_AUTO,
	};
	p->name = strdup(name);
	p->machine = strdup("q35");
	p->cpu_model = strdup("host");
	p->net_model = strdup("virtio-net-pci");
	if (!p->name || !p->machine || !p->cpu_model || !p->net_model) {
		gc_vm_profile_done(p);
		return -ENOMEM;
	}
	return 0;
}

void gc_vm_profile_done(struct gc_vm_profile *p)
{
	if (!p)
		return;
	free(p->name);
	free(p->template);
	free(p->description);
	free(p->machine);
	free(p->cpu_model);
	free(p->cpu_pin);
	for (size_t i = 0; i < p->n_disks; i++)
		disk_done(&p->disks[i]);
	free(p->iso);
	free(p->kernel);
	free(p->initrd);
	free(p->append);
	free(p->net_model);
	free(p->bridge);
	free(p->tap);
	for (size_t i = 0; i < p->n_shares; i++)
		share_done(&p->shares[i]);
	for (size_t i = 0; i < p->n_pci; i++)
		free(p->pci[i]);
	*p = (struct gc_vm_profile){ 0 };
}

/* Sets "section.key" from a template; the values are ours, so failure is only -ENOMEM. */
static int tset(struct gc_vm_profile *p, const char *section, const char *key, const char *value)
{
	const struct gc_vm_field *f = gc_vm_field_by_key(section, key);
	char err[256];

	return f ? gc_vm_profile_set(p, f, value, err, sizeof(err)) : -EINVAL;
}

int gc_vm_profile_apply_template(struct gc_vm_profile *p, const char *template,
				 const char *testbed_dir)
{
	static const char *const gaming[][3] = {
		{ "vm", "description", "Gaming desktop" },
		{ "cpu", "model", "host" },
		{ "cpu", "cores", "4" },
		{ "cpu", "threads", "2" },
		{ "memory", "size", "16G" },
		{ "memory", "hugepages", "yes" },
		{ "storage", "disk", "path=disk0.qcow2,size=128G,bus=nvme" },
		{ "display", "type", "auto" },
		{ "display", "gl", "yes" },
		{ "display", "clipboard", "yes" },
	};
	static const char *const dev[][3] = {
		{ "vm", "description", "Development machine" },
		{ "cpu", "cores", "4" },
		{ "memory", "size", "8G" },
		{ "storage", "disk", "path=disk0.qcow2,size=64G,bus=virtio" },
		{ "display", "type", "auto" },
		{ "display", "clipboard", "yes" },
	};
	static const char *const server[][3] = {
		{ "vm", "description", "Headless server" },
		{ "cpu", "cores", "2" },
		{ "memory", "size", "4G" },
		{ "storage", "disk", "path=disk0.qcow2,size=32G,bus=virtio" },
		{ "display", "type", "none" },
	};
	static const char *const testbed[][3] = {
		{ "vm", "description", "Testbed guest for kernel and system tests" },
		{ "vm", "machine", "q35" },
		{ "cpu", "model", "max" },
		{ "cpu", "cores", "1" },
		{ "memory", "size", "256M" },
		{ "boot", "append", "console=ttyS0 panic=-1 quiet" },
		{ "boot", "reboot", "no" },
		{ "display", "type", "none" },
	};
	static const struct {
		const char *name;
		const char *const (*rows)[3];
		size_t n;
	} templates[] = {
		{ "gaming", gaming, ELEMENTSOF(gaming) },
		{ "dev", dev, ELEMENTSOF(dev) },
		{ "server", server, ELEMENTSOF(server) },
		{ "testbed", testbed, ELEMENTSOF(testbed) },
	};
	const char *const(*t)[3] = NULL;
	size_t n = 0;
	int r;

	for (size_t i = 0; i < ELEMENTSOF(templates); i++)
		if (streq(templates[i].name, template)) {
			t = templates[i].rows;
			n = templates[i].n;
		}
	if (!t)
		return -ENOENT;

	r = tset(p, "vm", "template", template);
	for (size_t i = 0; i < n && r >= 0; i++)
		r = tset(p, t[i][0], t[i][1], t[i][2]);
	if (r >= 0 && streq(template, "testbed")) {
		_cleanup_free_ char *kernel = NULL, *initrd = NULL;

		/* The ELF kernel boots about 3.5 s faster under TCG than the bzImage (no
		 * decompression, no firmware loader); mkimage writes both. */
		if (asprintf(&kernel, "%s/vmlinux", testbed_dir) < 0 ||
		    asprintf(&initrd, "%s/initramfs.cpio.gz", testbed_dir) < 0)
			return -ENOMEM;
		r = tset(p, "boot", "kernel", kernel);
		if (r >= 0)
			r = tset(p, "boot", "initrd", initrd);
	}
	return r;
}

int gc_vm_profile_name_disks(struct gc_vm_profile *p)
{
	for (size_t i = 0; i < p->n_disks; i++) {
		for (unsigned k = i; !p->disks[i].path; k++) {
			char name[32];
			bool taken = false;

			(void)snprintf(name, sizeof(name), "disk%u.%s", k,
				       p->disks[i].raw ? "img" : "qcow2");
			for (size_t j = 0; j < p->n_disks; j++)
				taken = taken ||
					(p->disks[j].path && streq(p->disks[j].path, name));
			if (!taken && !(p->disks[i].path = strdup(name)))
				return -ENOMEM;
		}
	}
	return 0;
}

int gc_vm_profile_validate(const struct gc_vm_profile *p, char *err, size_t size)
{
	unsigned long cpus = (unsigned long)p->sockets * p->cores * p->threads;

	if (cpus > GC_VM_MAX_CPUS)
		return fail(err, size, "%lu vCPUs (sockets x cores x threads) is more than %u",
			    cpus, GC_VM_MAX_CPUS);
	if (p->n_disks == 0 && !p->iso && !p->kernel)
		return fail(err, size, "nothing to boot: add a --disk, an --iso or a --kernel");
	if ((p->initrd || p->append) && !p->kernel)
		return fail(err, size, "--initrd and --append need --kernel");
	if (p->net == GC_VM_NET_BRIDGE && !p->bridge)
		return fail(err, size, "--net=bridge needs --bridge=IFNAME");
	if (p->net == GC_VM_NET_TAP && !p->tap)
		return fail(err, size, "--net=tap needs --tap=IFNAME");
	if (p->gl && (p->display == GC_VM_DISPLAY_NONE || p->display == GC_VM_DISPLAY_VNC))
		return fail(err, size, "--gl needs a gtk, sdl or spice display (or auto)");
	for (size_t i = 0; i < p->n_shares; i++)
		for (size_t k = 0; k < i; k++)
			if (streq(p->shares[i].tag, p->shares[k].tag))
				return fail(err, size, "two shares have the tag '%s'",
					    p->shares[i].tag);
	for (size_t i = 0; i < p->n_disks; i++)
		for (size_t k = 0; k < i; k++)
			if (p->disks[i].path && p->disks[k].path &&
			    streq(p->disks[i].path, p->disks[k].path))
				return fail(err, size, "the disk '%s' is given twice",
					    p->disks[i].path);
	return 0;
}

/* --- INI ---------------------------------------------------------------------------- */

struct parse_ctx {
	struct gc_vm_profile *p;
	const char *text;
	int line;
	char *err;
	size_t err_size;
	bool cleared[64]; /* lists seen in this file: the file's items replace the defaults */
};

static char *read_line(char *buf, int size, void *stream)
{
	struct parse_ctx *c = stream;
	const char *nl;
	size_t n;

	if (*c->text == '\0')
		return NULL;
	nl = strchr(c->text, '\n');
	n = nl ? (size_t)(nl - c->text) + 1 : strlen(c->text);
	if (n + 1 > (size_t)size) {
		/* Longer than inih's buffer: an error, not a silent split. */
		(void)snprintf(c->err, c->err_size, "%d: line longer than %d bytes", c->line + 1,
			       size - 3);
		return NULL;
	}
	memcpy(buf, c->text, n);
	buf[n] = '\0';
	c->text += n;
	c->line++;
	return buf;
}

static int parse_handler(void *user, const char *section, const char *key, const char *value)
{
	struct parse_ctx *c = user;
	const struct gc_vm_field *f = gc_vm_field_by_key(section, key);
	char msg[400];
	size_t idx;

	if (!f) {
		(void)snprintf(c->err, c->err_size, "%d: unknown key '%.40s' in section [%.40s]",
			       c->line, key, section);
		return 0;
	}
	idx = (size_t)(f - gc_vm_fields);
	if (f->kind == GC_VM_FIELD_LIST && !c->cleared[idx]) {
		c->cleared[idx] = true;
		(void)gc_vm_profile_set(c->p, f, "none", msg, sizeof(msg));
	}
	if (gc_vm_profile_set(c->p, f, value, msg, sizeof(msg)) < 0) {
		(void)snprintf(c->err, c->err_size, "%d: %s.%s: %s", c->line, section, key, msg);
		return 0;
	}
	return 1;
}

int gc_vm_profile_parse(struct gc_vm_profile *p, const char *name, const char *text, char *err,
			size_t err_size)
{
	struct parse_ctx c = { .p = p, .text = text, .err = err, .err_size = err_size };
	int r;

	_Static_assert(ELEMENTSOF(gc_vm_fields) <= ELEMENTSOF(c.cleared), "cleared[]");
	err[0] = '\0';
	r = gc_vm_profile_init(p, name);
	if (r < 0)
		return r;
	if (strlen(text) != strnlen(text, 1u << 20) || strlen(text) >= (1u << 20))
		return fail(err, err_size, "profile larger than 1 MiB");
	gc_ini_setup();
	r = ini_parse_stream(read_line, &c, parse_handler, &c);
	if (r == -2)
		return -ENOMEM;
	if (r != 0 || !isempty(err)) {
		if (isempty(err))
			(void)snprintf(err, err_size,
				       "%d: syntax error (expected [section] or "
				       "key = value)",
				       r);
		return -EINVAL;
	}
	return gc_vm_profile_validate(p, err, err_size);
}

int gc_vm_profile_write(const struct gc_vm_profile *p, FILE *f)
{
	const char *section = NULL;

	fprintf(f, "# ghostctl VM profile '%s'. 'ghostctl vm edit' changes it; so may you.\n",
		p->name);
	for (size_t k = 0; k < gc_vm_n_fields; k++) {
		const struct gc_vm_field *field = &gc_vm_fields[k];

		for (size_t i = 0;; i++) {
			_cleanup_free_ char *v = NULL;

			if (gc_vm_profile_get(p, field, i, &v) < 0)
				break;
			if (!section || !streq(section, field->section)) {
				section = field->section;
				fprintf(f, "\n[%s]\n", section);
			}
			fprintf(f, "%s = %s\n", field->key, v);
		}
	}
	return ferror(f) ? -EIO : 0;
}
