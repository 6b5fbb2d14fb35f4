/* SPDX-License-Identifier: MIT */
/*
 * Golden files of the QEMU command line: one case per template and per option, including
 * the escaping of ',' in paths. Each case is a list of profile settings as `vm create` would
 * set them, and a launch; its argv, one argument per line, must equal
 * golden/vm-argv/CASE.argv. GC_UPDATE_GOLDEN=1 rewrites the files instead (then review the
 * diff before committing it).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "common/string-util.h"
#include "common/tests.h"
#include "vm/profile.h"
#include "vm/qemu.h"

struct argv_case {
	const char *name;
	const char *template;
	const char *set[12][2]; /* option, value */
	bool kvm;
	enum gc_vm_display display;
	const char *run_dir;
};

static const struct argv_case cases[] = {
	{ "template-gaming", "gaming", { { NULL } }, true, GC_VM_DISPLAY_GTK, NULL },
	{ "template-dev", "dev", { { NULL } }, false, GC_VM_DISPLAY_SDL, NULL },
	{ "template-server", "server", { { NULL } }, false, GC_VM_DISPLAY_NONE, NULL },
	{ "template-testbed", "testbed", { { NULL } }, false, GC_VM_DISPLAY_NONE, NULL },
	{ "cpu-topology-kvm",
	  "server",
	  { { "cpu", "EPYC" }, { "sockets", "2" }, { "cores", "8" }, { "threads", "2" } },
	  true,
	  GC_VM_DISPLAY_NONE,
	  NULL },
	{ "cpu-host-under-tcg", "server", { { "cpu", "host" } }, false, GC_VM_DISPLAY_NONE, NULL },
	{ "memory-hugepages",
	  "server",
	  { { "memory", "6G" }, { "hugepages", "yes" } },
	  true,
	  GC_VM_DISPLAY_NONE,
	  NULL },
	{ "disk-every-bus-q35",
	  "server",
	  { { "disk", "none" },
	    { "disk", "a.qcow2,size=8G" },
	    { "disk", "path=b.qcow2,size=8G,bus=sata" },
	    { "disk", "path=c.img,format=raw,bus=ide" },
	    { "disk", "path=/srv/vm/d.qcow2,bus=nvme" },
	    { "disk", "path=/srv/vm/base.img,format=raw,readonly=yes" } },
	  false,
	  GC_VM_DISPLAY_NONE,
	  NULL },
	{ "disk-ide-and-iso-pc",
	  "server",
	  { { "machine", "pc" },
	    { "disk", "none" },
	    { "disk", "path=a.qcow2,size=1G,bus=ide" },
	    { "disk", "path=b.qcow2,size=1G,bus=ide" },
	    { "disk", "path=c.qcow2,size=1G,bus=ide" },
	    { "iso", "/srv/iso/debian-12.iso" } },
	  false,
	  GC_VM_DISPLAY_NONE,
	  NULL },
	{ "kernel-boot",
	  "server",
	  { { "disk", "none" },
	    { "kernel", "/boot/vmlinuz" },
	    { "initrd", "/boot/initrd.img" },
	    { "append", "root=/dev/vda console=ttyS0 init=/bin/sh -- \"quoted, too\"" } },
	  false,
	  GC_VM_DISPLAY_NONE,
	  NULL },
	{ "net-bridge",
	  "server",
	  { { "net", "bridge" }, { "bridge", "br0" } },
	  false,
	  GC_VM_DISPLAY_NONE,
	  NULL },
	{ "net-tap",
	  "server",
	  { { "net", "tap" }, { "tap", "tap-vm1" }, { "net-model", "e1000" } },
	  false,
	  GC_VM_DISPLAY_NONE,
	  NULL },
	{ "net-none", "server", { { "net", "none" } }, false, GC_VM_DISPLAY_NONE, NULL },
	{ "net-user-ports",
	  "server",
	  { { "ssh-port", "2222" }, { "guest-ssh-port", "2200" } },
	  false,
	  GC_VM_DISPLAY_NONE,
	  NULL },
	{ "display-gtk-gl-clipboard",
	  "dev",
	  { { "gl", "yes" }, { "clipboard", "yes" } },
	  true,
	  GC_VM_DISPLAY_GTK,
	  NULL },
	{ "display-spice-clipboard",
	  "dev",
	  { { "display", "spice" } },
	  false,
	  GC_VM_DISPLAY_SPICE,
	  NULL },
	{ "display-spice-gl",
	  "dev",
	  { { "display", "spice" }, { "gl", "yes" }, { "clipboard", "no" } },
	  true,
	  GC_VM_DISPLAY_SPICE,
	  NULL },
	{ "display-vnc",
	  "dev",
	  { { "display", "vnc" }, { "clipboard", "no" } },
	  false,
	  GC_VM_DISPLAY_VNC,
	  NULL },
	{ "share-9p-and-virtiofs",
	  "server",
	  { { "share", "/srv/data" },
	    { "share", "path=/home/me/src,tag=src,readonly=yes" },
	    { "share", "path=/srv/fast,type=virtiofs,tag=fast" } },
	  false,
	  GC_VM_DISPLAY_NONE,
	  NULL },
	{ "passthrough-pci-usb",
	  "gaming",
	  { { "pci", "01:00.0" },
	    { "pci", "0000:01:00.1" },
	    { "usb", "046d:c52b" },
	    { "usb", "1B1C:1B2D" } },
	  true,
	  GC_VM_DISPLAY_GTK,
	  NULL },
	/* A ',' in a path is doubled wherever it lands in a key=value list. */
	{ "escaping-commas",
	  "server",
	  { { "disk", "none" },
	    { "disk", "path=/srv/a,,b/disk,,0.qcow2" },
	    { "iso", "/srv/iso,cd/x,y.iso" },
	    { "share", "path=/srv/share,,readonly=off,tag=s1" },
	    { "share", "path=/srv/fs,,x,type=virtiofs,tag=s2" } },
	  false,
	  GC_VM_DISPLAY_NONE,
	  "/run/ghostctl/vm,id=x" },
};

static char *render(char **argv)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	ASSERT_NOT_NULL(f);
	for (char **a = argv; *a; a++)
		fprintf(f, "%s\n", *a);
	ASSERT_OK(fclose(f));
	return buf;
}

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf;
	long n;

	if (!f)
		return NULL;
	ASSERT_OK(fseek(f, 0, SEEK_END));
	n = ftell(f);
	ASSERT_OK(fseek(f, 0, SEEK_SET));
	buf = calloc(1, (size_t)n + 1);
	ASSERT_NOT_NULL(buf);
	ASSERT_EQ(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return buf;
}

static void run_case(const struct argv_case *c)
{
	struct gc_vm_profile p;
	struct gc_vm_launch l = {
		.qemu = "qemu-system-x86_64",
		.vm_dir = "/var/lib/ghostctl/vms/vm1",
		.run_dir = c->run_dir ? c->run_dir : "/run/ghostctl/vm1",
		.kvm = c->kvm,
		.display = c->display,
		.ssh_port = 10022,
		.display_port = c->display == GC_VM_DISPLAY_SPICE ? 5930 : 3,
	};
	_cleanup_(gc_strv_freep) char **argv = NULL;
	_cleanup_free_ char *text = NULL, *golden = NULL;
	const char *dir = getenv("GOLDEN_DIR");
	char err[512], path[512];

	ASSERT_NOT_NULL(dir);
	ASSERT_OK(gc_vm_profile_init(&p, "vm1"));
	ASSERT_OK(gc_vm_profile_apply_template(&p, c->template, "/usr/share/ghostctl/testbed"));
	for (size_t i = 0; i < ELEMENTSOF(c->set) && c->set[i][0]; i++) {
		const struct gc_vm_field *f = gc_vm_field_by_option(c->set[i][0]);

		ASSERT_NOT_NULL(f);
		if (gc_vm_profile_set(&p, f, c->set[i][1], err, sizeof(err)) < 0) {
			fprintf(stderr, "%s: --%s=%s: %s\n", c->name, c->set[i][0], c->set[i][1],
				err);
			ASSERT_OK(-EINVAL);
		}
	}
	ASSERT_OK(gc_vm_profile_validate(&p, err, sizeof(err)));
	ASSERT_OK(gc_vm_qemu_argv(&p, &l, &argv, err, sizeof(err)));
	text = render(argv);

	(void)snprintf(path, sizeof(path), "%s/%s.argv", dir, c->name);
	if (getenv("GC_UPDATE_GOLDEN")) {
		FILE *f = fopen(path, "we");

		ASSERT_NOT_NULL(f);
		fputs(text, f);
		ASSERT_OK(fclose(f));
	}
	golden = read_all(path);
	if (!golden || !streq(golden, text)) {
		fprintf(stderr, "%s differs from the generated command line:\n%s", path, text);
		ASSERT_OK(-EBADMSG);
	}
	gc_vm_profile_done(&p);
}

TEST(golden_argv)
{
	for (size_t i = 0; i < ELEMENTSOF(cases); i++)
		run_case(&cases[i]);
}

/* No profile value may become a QEMU option of its own, however it is spelled. */
TEST(values_never_become_options)
{
	static const char *const hostile[][2] = {
		{ "cpu", "host,+vmx" },
		{ "cpu", "max -device foo" },
		{ "bridge", "br0,helper=/x" },
		{ "tap", "tap0,script=/x" },
		{ "net-model", "e1000,romfile=/x" },
		{ "machine", "q35,accel=kvm" },
		{ "pin", "0-3;8" },
		{ "initrd", "/a,/b" },
		{ "kernel", "-append" },
		{ "iso", "relative.iso" },
		{ "pci", "01:00.0,x" },
		{ "usb", "046d:c52b,bus=x" },
		{ "share", "path=/x,tag=a,b" },
		{ "share", "path=/x,security_model=passthrough" },
		{ "disk", "path=a.qcow2,size=1G,file=/etc/shadow" },
		{ "description", "line\nbreak" },
	};
	struct gc_vm_profile p;
	char err[512];

	ASSERT_OK(gc_vm_profile_init(&p, "vm1"));
	for (size_t i = 0; i < ELEMENTSOF(hostile); i++) {
		const struct gc_vm_field *f = gc_vm_field_by_option(hostile[i][0]);

		ASSERT_NOT_NULL(f);
		if (gc_vm_profile_set(&p, f, hostile[i][1], err, sizeof(err)) != -EINVAL) {
			fprintf(stderr, "--%s=%s was accepted\n", hostile[i][0], hostile[i][1]);
			ASSERT_OK(-EINVAL);
		}
	}
	gc_vm_profile_done(&p);
}

DEFINE_TEST_MAIN();
