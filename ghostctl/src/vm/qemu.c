/* SPDX-License-Identifier: MIT */
/* The QEMU command line of a profile; see qemu.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "common/string-util.h"
#include "qemu.h"

#define MAX_ARGS 256

struct argv_builder {
	char **v;
	size_t n;
	bool oom;
};

static void add(struct argv_builder *b, const char *format, ...) _printf_(2, 3);
static void add(struct argv_builder *b, const char *format, ...)
{
	va_list ap;
	char *s;

	if (b->oom || b->n + 1 >= MAX_ARGS) {
		b->oom = true;
		return;
	}
	va_start(ap, format);
	if (vasprintf(&s, format, ap) < 0)
		s = NULL;
	va_end(ap);
	if (!s) {
		b->oom = true;
		return;
	}
	b->v[b->n++] = s;
	b->v[b->n] = NULL;
}

/* s with every ',' doubled, for a value inside QEMU's key=value,key=value lists. */
static char *esc(const char *s)
{
	size_t n = strlen(s), commas = 0;
	char *r, *q;

	for (const char *p = s; *p; p++)
		commas += *p == ',';
	r = malloc(n + commas + 1);
	if (!r)
		return NULL;
	q = r;
	for (const char *p = s; *p; p++) {
		*q++ = *p;
		if (*p == ',')
			*q++ = ',';
	}
	*q = '\0';
	return r;
}

char *gc_vm_disk_path(const struct gc_vm_disk *d, const char *vm_dir)
{
	char *s;

	if (!d->path)
		return NULL;
	if (d->path[0] == '/')
		return strdup(d->path);
	if (asprintf(&s, "%s/%s", vm_dir, d->path) < 0)
		return NULL;
	return s;
}

char *gc_vm_virtiofs_socket(const char *run_dir, size_t i)
{
	char *s;

	if (asprintf(&s, "%s/virtiofs%zu.sock", run_dir, i) < 0)
		return NULL;
	return s;
}

void gc_vm_mac(const char *name, char ret[static 18])
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (const char *p = name; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	(void)snprintf(ret, 18, "52:54:00:%02x:%02x:%02x", h >> 16 & 0xff, h >> 8 & 0xff, h & 0xff);
}

static const char *drive_format(const struct gc_vm_disk *d)
{
	return d->raw ? "raw" : "qcow2";
}

/* Disks, then the CD-ROM. */
static void add_storage(struct argv_builder *b, const struct gc_vm_profile *p,
			const struct gc_vm_launch *l)
{
	bool q35 = streq(p->machine, "q35");
	/* Boot order: the kernel (QEMU's linuxboot ROM takes index 0) or the CD, then disks. */
	unsigned ide_slot = 0, sata_slot = 0, boot = p->iso || p->kernel ? 1 : 0;
	bool have_sata = false;

	for (size_t i = 0; i < p->n_disks; i++)
		have_sata = have_sata || p->disks[i].bus == GC_VM_BUS_SATA;
	if (have_sata)
		add(b, "-device");
	if (have_sata)
		add(b, "ich9-ahci,id=sata0");

	for (size_t i = 0; i < p->n_disks; i++) {
		const struct gc_vm_disk *d = &p->disks[i];
		_cleanup_free_ char *path = gc_vm_disk_path(d, l->vm_dir);
		_cleanup_free_ char *e = path ? esc(path) : NULL;

		if (!e) {
			b->oom = true;
			return;
		}
		add(b, "-drive");
		/* node-name: snapshots over QMP name the format nodes (vm snapshot). */
		add(b,
		    "file=%s,if=none,id=disk%zu,node-name=node%zu,format=%s,cache=writeback,"
		    "discard=unmap%s",
		    e, i, i, drive_format(d), d->readonly ? ",read-only=on" : "");
		add(b, "-device");
		switch (d->bus) {
		case GC_VM_BUS_VIRTIO:
			add(b, "virtio-blk-pci,drive=disk%zu,bootindex=%u", i, boot++);
			break;
		case GC_VM_BUS_NVME:
			add(b, "nvme,drive=disk%zu,serial=ghostctl%zu,bootindex=%u", i, i, boot++);
			break;
		case GC_VM_BUS_SATA:
			add(b, "ide-hd,drive=disk%zu,bus=sata0.%u,bootindex=%u", i, sata_slot++,
			    boot++);
			break;
		case GC_VM_BUS_IDE:
		case _GC_VM_BUS_MAX:
			/* q35's AHCI has six ports; pc's PIIX two buses of two units. */
			if (q35)
				add(b, "ide-hd,drive=disk%zu,bus=ide.%u,bootindex=%u", i, ide_slot,
				    boot++);
			else
				add(b, "ide-hd,drive=disk%zu,bus=ide.%u,unit=%u,bootindex=%u", i,
				    ide_slot / 2, ide_slot % 2, boot++);
			ide_slot++;
			break;
		}
	}
	if (p->iso) {
		_cleanup_free_ char *e = esc(p->iso);

		if (!e) {
			b->oom = true;
			return;
		}
		add(b, "-drive");
		add(b, "file=%s,if=none,id=cd0,media=cdrom,read-only=on,format=raw", e);
		add(b, "-device");
		if (q35)
			add(b, "ide-cd,drive=cd0,bus=ide.%u,bootindex=0", ide_slot);
		else
			add(b, "ide-cd,drive=cd0,bus=ide.%u,unit=%u,bootindex=0", ide_slot / 2,
			    ide_slot % 2);
	}
}

static void add_network(struct argv_builder *b, const struct gc_vm_profile *p,
			const struct gc_vm_launch *l)
{
	char mac[18];

	gc_vm_mac(p->name, mac);
	switch (p->net) {
	case GC_VM_NET_USER:
		add(b, "-netdev");
		add(b, "user,id=net0,hostfwd=tcp:127.0.0.1:%u-:%u", l->ssh_port, p->guest_ssh_port);
		break;
	case GC_VM_NET_BRIDGE:
		add(b, "-netdev");
		add(b, "bridge,id=net0,br=%s", p->bridge);
		break;
	case GC_VM_NET_TAP:
		add(b, "-netdev");
		add(b, "tap,id=net0,ifname=%s,script=no,downscript=no", p->tap);
		break;
	case GC_VM_NET_NONE:
	case _GC_VM_NET_MAX:
		return;
	}
	add(b, "-device");
	add(b, "%s,netdev=net0,mac=%s", p->net_model, mac);
}

static void add_display(struct argv_builder *b, const struct gc_vm_profile *p,
			const struct gc_vm_launch *l)
{
	const char *gl = p->gl ? ",gl=on" : "";

	switch (l->display) {
	case GC_VM_DISPLAY_GTK:
	case GC_VM_DISPLAY_SDL:
		add(b, "-display");
		add(b, "%s%s", l->display == GC_VM_DISPLAY_GTK ? "gtk" : "sdl", gl);
		add(b, "-device");
		add(b, "%s", p->gl ? "virtio-vga-gl" : "virtio-vga");
		break;
	case GC_VM_DISPLAY_SPICE:
		add(b, "-display");
		add(b, p->gl ? "egl-headless" : "none");
		add(b, "-spice");
		add(b, "port=%u,addr=127.0.0.1,disable-ticketing=on", l->display_port);
		add(b, "-device");
		add(b, "%s", p->gl ? "virtio-vga-gl" : "qxl-vga");
		break;
	case GC_VM_DISPLAY_VNC:
		add(b, "-display");
		add(b, "none");
		add(b, "-vnc");
		add(b, "127.0.0.1:%u", l->display_port);
		add(b, "-device");
		add(b, "virtio-vga");
		break;
	case GC_VM_DISPLAY_NONE:
	case GC_VM_DISPLAY_AUTO:
	case _GC_VM_DISPLAY_MAX:
		add(b, "-display");
		add(b, "none");
		return;
	}
	if (p->clipboard) {
		add(b, "-device");
		add(b, "virtio-serial-pci,id=vser0");
		add(b, "-chardev");
		if (l->display == GC_VM_DISPLAY_SPICE)
			add(b, "spicevmc,id=vdagent,name=vdagent");
		else
			add(b, "qemu-vdagent,id=vdagent,clipboard=on");
		add(b, "-device");
		add(b, "virtserialport,bus=vser0.0,chardev=vdagent,name=com.redhat.spice.0");
	}
}

static void add_shares(struct argv_builder *b, const struct gc_vm_profile *p,
		       const struct gc_vm_launch *l)
{
	for (size_t i = 0; i < p->n_shares; i++) {
		const struct gc_vm_share *s = &p->shares[i];
		_cleanup_free_ char *e = esc(s->path);
		_cleanup_free_ char *sock = NULL, *esock = NULL;

		if (!e) {
			b->oom = true;
			return;
		}
		if (s->type == GC_VM_SHARE_9P) {
			add(b, "-fsdev");
			add(b, "local,id=fs%zu,path=%s,security_model=none%s", i, e,
			    s->readonly ? ",readonly=on" : "");
			add(b, "-device");
			add(b, "virtio-9p-pci,fsdev=fs%zu,mount_tag=%s", i, s->tag);
			continue;
		}
		sock = gc_vm_virtiofs_socket(l->run_dir, i);
		esock = sock ? esc(sock) : NULL;
		if (!esock) {
			b->oom = true;
			return;
		}
		add(b, "-chardev");
		add(b, "socket,id=vfs%zu,path=%s", i, esock);
		add(b, "-device");
		add(b, "vhost-user-fs-pci,chardev=vfs%zu,tag=%s", i, s->tag);
	}
}

static bool has_virtiofs(const struct gc_vm_profile *p)
{
	for (size_t i = 0; i < p->n_shares; i++)
		if (p->shares[i].type == GC_VM_SHARE_VIRTIOFS)
			return true;
	return false;
}

int gc_vm_qemu_argv(const struct gc_vm_profile *p, const struct gc_vm_launch *l, char ***ret_argv,
		    char *err, size_t err_size)
{
	_cleanup_free_ char *run = NULL;
	struct argv_builder b = { 0 };
	uint64_t mib = p->memory >> 20;
	bool backend = p->hugepages || has_virtiofs(p);

	if (l->display == GC_VM_DISPLAY_AUTO) {
		(void)snprintf(err, err_size, "the display was not resolved");
		return -EINVAL;
	}
	if (p->net == GC_VM_NET_USER && l->ssh_port == 0) {
		(void)snprintf(err, err_size, "no SSH port was chosen");
		return -EINVAL;
	}
	run = esc(l->run_dir);
	b.v = calloc(MAX_ARGS, sizeof(char *));
	if (!run || !b.v) {
		free(b.v);
		return -ENOMEM;
	}

	add(&b, "%s", l->qemu);
	add(&b, "-name");
	add(&b, "guest=%s,process=ghostctl-%s", p->name, p->name);
	add(&b, "-nodefaults");
	add(&b, "-no-user-config");
	add(&b, "-machine");
	add(&b, "%s%s", p->machine, backend ? ",memory-backend=mem0" : "");
	add(&b, "-accel");
	add(&b, "%s", l->kvm ? "kvm" : "tcg");
	add(&b, "-cpu");
	/* -cpu host needs KVM; max is TCG's nearest: every feature it can emulate. */
	add(&b, "%s", !l->kvm && streq(p->cpu_model, "host") ? "max" : p->cpu_model);
	add(&b, "-smp");
	add(&b, "%u,sockets=%u,cores=%u,threads=%u", p->sockets * p->cores * p->threads, p->sockets,
	    p->cores, p->threads);
	add(&b, "-m");
	add(&b, "%" PRIu64 "M", mib);
	if (p->hugepages) {
		add(&b, "-object");
		add(&b,
		    "memory-backend-file,id=mem0,size=%" PRIu64 "M,mem-path=/dev/hugepages,"
		    "share=on,prealloc=on",
		    mib);
	} else if (backend) {
		/* vhost-user (virtiofsd) maps guest memory: it must be shared. */
		add(&b, "-object");
		add(&b, "memory-backend-memfd,id=mem0,size=%" PRIu64 "M,share=on", mib);
	}

	/* The monitor and the serial console: sockets in the run directory. */
	add(&b, "-chardev");
	add(&b, "socket,id=qmp,path=%s/qmp.sock,server=on,wait=off", run);
	add(&b, "-mon");
	add(&b, "chardev=qmp,mode=control");
	add(&b, "-chardev");
	add(&b, "socket,id=serial0,path=%s/serial.sock,server=on,wait=off,logfile=%s/serial.log",
	    run, run);
	add(&b, "-serial");
	add(&b, "chardev:serial0");

	add_storage(&b, p, l);
	if (p->kernel) {
		add(&b, "-kernel");
		add(&b, "%s", p->kernel);
		if (p->initrd) {
			add(&b, "-initrd");
			add(&b, "%s", p->initrd);
		}
		if (p->append) {
			add(&b, "-append");
			add(&b, "%s", p->append);
		}
	}
	if (p->no_reboot)
		add(&b, "-no-reboot");
	add_network(&b, p, l);
	add_display(&b, p, l);
	add_shares(&b, p, l);
	for (size_t i = 0; i < p->n_pci; i++) {
		add(&b, "-device");
		add(&b, "vfio-pci,host=%s", p->pci[i]);
	}
	if (p->n_usb > 0) {
		add(&b, "-device");
		add(&b, "qemu-xhci,id=xhci");
	}
	for (size_t i = 0; i < p->n_usb; i++) {
		add(&b, "-device");
		add(&b, "usb-host,bus=xhci.0,vendorid=0x%04x,productid=0x%04x", p->usb[i].vendor,
		    p->usb[i].product);
	}
	add(&b, "-device");
	add(&b, "virtio-rng-pci");

	if (b.oom) {
		gc_strv_free(b.v);
		return -ENOMEM;
	}
	*ret_argv = b.v;
	return 0;
}
