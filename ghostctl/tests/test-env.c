/* SPDX-License-Identifier: MIT */
/*
 * Environment detection against fake trees: each test builds /sys, /proc, /dev and /etc under
 * a temporary directory and points GHOSTCTL_ROOT at it. One test probes the real /dev/kvm.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/string-util.h"
#include "common/tests.h"
#include "common/time-util.h"
#include "env-internal.h"
#include "env.h"

static char root[64];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)remove(path);
	return 0;
}

/* Removes the fake tree when a test returns; a failed test leaves it for a look. */
static void fake_root_removep(char **p)
{
	if (*p)
		(void)nftw(*p, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#define FAKE_ROOT() _cleanup_(fake_root_removep) _unused_ char *_fake_root_ = fake_root()

static char *fake_root(void)
{
	strcpy(root, "/tmp/gc-env-XXXXXX");
	ASSERT_NOT_NULL(mkdtemp(root));
	ASSERT_OK_ERRNO(chmod(root, 0755));
	ASSERT_OK_ERRNO(setenv(GC_ENV_ROOT_VAR, root, 1));
	gc_env_cache_flush();
	return root;
}

/* mkdir -p of the parents of root/rel. */
static void parents(const char *rel, char path[static PATH_MAX])
{
	(void)snprintf(path, PATH_MAX, "%s/%s", root, rel);
	for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			ERROR_TEST("mkdir %s: %m", path);
		*p = '/';
	}
}

static void put(const char *rel, const char *text)
{
	char path[PATH_MAX];
	FILE *f;

	parents(rel, path);
	f = fopen(path, "we");
	ASSERT_NOT_NULL(f);
	ASSERT_TRUE(fputs(text, f) >= 0);
	ASSERT_OK_ERRNO(fclose(f));
}

static void dir(const char *rel)
{
	char path[PATH_MAX];

	parents(rel, path);
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		ERROR_TEST("mkdir %s: %m", path);
}

static void link_to(const char *rel, const char *target)
{
	char path[PATH_MAX];

	parents(rel, path);
	ASSERT_OK_ERRNO(symlink(target, path));
}

static void relink(const char *rel, const char *target)
{
	char path[PATH_MAX];

	parents(rel, path);
	ASSERT_OK_ERRNO(unlink(path));
	ASSERT_OK_ERRNO(symlink(target, path));
}

/* A PCI device as sysfs shows it; driver and group may be NULL and -1. */
static void pci(const char *address, const char *class, const char *vendor, const char *device,
		const char *driver, int group)
{
	char rel[256], text[64];

	(void)snprintf(rel, sizeof(rel), "sys/bus/pci/devices/%s/class", address);
	(void)snprintf(text, sizeof(text), "%s\n", class);
	put(rel, text);
	(void)snprintf(rel, sizeof(rel), "sys/bus/pci/devices/%s/vendor", address);
	(void)snprintf(text, sizeof(text), "%s\n", vendor);
	put(rel, text);
	(void)snprintf(rel, sizeof(rel), "sys/bus/pci/devices/%s/device", address);
	(void)snprintf(text, sizeof(text), "%s\n", device);
	put(rel, text);
	if (driver) {
		(void)snprintf(rel, sizeof(rel), "sys/bus/pci/devices/%s/driver", address);
		(void)snprintf(text, sizeof(text), "../../../bus/pci/drivers/%s", driver);
		link_to(rel, text);
	}
	if (group >= 0) {
		(void)snprintf(rel, sizeof(rel), "sys/bus/pci/devices/%s/iommu_group", address);
		(void)snprintf(text, sizeof(text), "../../../kernel/iommu_groups/%d", group);
		link_to(rel, text);
		(void)snprintf(rel, sizeof(rel), "sys/kernel/iommu_groups/%d/devices/%s", group,
			       address);
		(void)snprintf(text, sizeof(text), "../../../../devices/pci0000:00/%s", address);
		link_to(rel, text);
	}
}

/* An NVIDIA GPU and its HDMI audio in IOMMU group 14, the nodes VFIO makes included. */
static void nvidia_pair(const char *gpu_driver, const char *audio_driver)
{
	pci("0000:01:00.0", "0x030000", "0x10de", "0x1b80", gpu_driver, 14);
	pci("0000:01:00.1", "0x040300", "0x10de", "0x10f0", audio_driver, 14);
	put("sys/bus/pci/devices/0000:01:00.0/boot_vga", "0\n");
	put("dev/vfio/vfio", "");
	put("dev/vfio/14", "");
}

/* ---- The CPU ----------------------------------------------------------------------------- */

TEST(cpu_intel_with_vmx)
{
	FAKE_ROOT();
	struct gc_env_cpu cpu;

	put("proc/cpuinfo",
	    "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\n"
	    "model name\t: Intel(R) Core(TM) i7-9700K CPU @ 3.60GHz\n"
	    "flags\t\t: fpu vme de pse msr pae vmx aes avx avx2 x2apic pdpe1gb lm\n\n"
	    "processor\t: 1\nvendor_id\t: GenuineIntel\n"
	    "model name\t: Intel(R) Core(TM) i7-9700K CPU @ 3.60GHz\n"
	    "flags\t\t: fpu vme de pse msr pae vmx aes avx avx2 x2apic pdpe1gb lm\n\n");
	ASSERT_OK(gc_env_cpu_read(&cpu));
	ASSERT_STREQ(cpu.vendor, "GenuineIntel");
	ASSERT_STREQ(cpu.model, "Intel(R) Core(TM) i7-9700K CPU @ 3.60GHz");
	ASSERT_EQ(cpu.n_cpus, 2u);
	ASSERT_STREQ(gc_env_cpu_virt(&cpu), "vmx");
	ASSERT_TRUE(gc_env_cpu_has(&cpu, "avx2"));
	ASSERT_TRUE(gc_env_cpu_has(&cpu, "pdpe1gb"));
	ASSERT_TRUE(gc_env_cpu_has(&cpu, "fpu"));
	ASSERT_TRUE(gc_env_cpu_has(&cpu, "lm"));
	ASSERT_FALSE(gc_env_cpu_has(&cpu, "avx512f"));
	ASSERT_FALSE(gc_env_cpu_has(&cpu, "hypervisor"));
	ASSERT_FALSE(gc_env_cpu_has(&cpu, "av")); /* whole words only */
	ASSERT_FALSE(gc_env_cpu_has(&cpu, ""));
	gc_env_cpu_done(&cpu);
}

TEST(cpu_amd_with_svm_in_a_vm)
{
	FAKE_ROOT();
	struct gc_env_cpu cpu;

	put("proc/cpuinfo", "processor : 0\nvendor_id : AuthenticAMD\n"
			    "model name : AMD Ryzen 9 7950X 16-Core Processor\n"
			    "flags : fpu svm avx512f hypervisor\n");
	ASSERT_OK(gc_env_cpu_read(&cpu));
	ASSERT_STREQ(cpu.vendor, "AuthenticAMD");
	ASSERT_EQ(cpu.n_cpus, 1u);
	ASSERT_STREQ(gc_env_cpu_virt(&cpu), "svm");
	ASSERT_TRUE(gc_env_cpu_has(&cpu, "hypervisor"));
	ASSERT_TRUE(gc_env_cpu_has(&cpu, "avx512f"));
	gc_env_cpu_done(&cpu);

	/* No flags at all: nothing is claimed. */
	put("proc/cpuinfo", "processor : 0\n");
	ASSERT_OK(gc_env_cpu_read(&cpu));
	ASSERT_NULL(cpu.vendor);
	ASSERT_NULL(gc_env_cpu_virt(&cpu));
	gc_env_cpu_done(&cpu);
}

/* ---- PCI, GPUs, IOMMU -------------------------------------------------------------------- */

TEST(pci_address_parse)
{
	static const char *const bad[] = {
		"",
		"0",
		"01:00",
		"1:00.0",
		"001:00.0",
		"01:0.0",
		"01:000.0",
		"01:00.8",
		"01:20.0",
		"01:00.00",
		"01:00.",
		"01-00.0",
		"01:00:0",
		"0000:01:00.0 ",
		" 0000:01:00.0",
		"000:01:00.0",
		"0:01:00.0",
		"123456789:01:00.0",
		"0000::01:00.0",
		"0000:01:00.0:",
		"g0:00.0",
		"0000:01.00.0",
		"01:00.0\n",
		":01:00.0",
		"0000:01:00",
		"0x00:01:00.0",
		"+1:00.0",
		"0000:01:1f.-1",
	};
	char a[GC_PCI_ADDRESS_MAX];

	ASSERT_OK(gc_pci_address_parse("01:00.0", a));
	ASSERT_STREQ(a, "0000:01:00.0");
	ASSERT_OK(gc_pci_address_parse("0000:01:00.1", a));
	ASSERT_STREQ(a, "0000:01:00.1");
	ASSERT_OK(gc_pci_address_parse("0000:AF:1F.7", a));
	ASSERT_STREQ(a, "0000:af:1f.7");
	ASSERT_OK(gc_pci_address_parse("10000:e1:00.0", a)); /* a VMD domain */
	ASSERT_STREQ(a, "10000:e1:00.0");
	ASSERT_OK(gc_pci_address_parse("ffffffff:ff:1f.7", a));
	ASSERT_STREQ(a, "ffffffff:ff:1f.7");
	ASSERT_OK(gc_pci_address_parse("00000001:02:03.4", a));
	ASSERT_STREQ(a, "0001:02:03.4");
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		strcpy(a, "untouched");
		if (gc_pci_address_parse(bad[i], a) != -EINVAL)
			test_fail(__FILE__, __LINE__, "'%s' was accepted", bad[i]);
		ASSERT_STREQ(a, "untouched");
	}
}

TEST(usb_id_parse)
{
	static const char *const bad[] = {
		"",	      "046d",	     "046d:",	  ":c52b",	"046d:c52",
		"46d:c52b",   "046d:c52bb",  "046dc52b",  "046d-c52b",	"046d:c52g",
		" 046d:c52b", "046d:c52b\n", "0x46:c52b", "046d::c52b", "+46d:c52b",
	};
	uint16_t vendor = 1, product = 2;

	ASSERT_OK(gc_usb_id_parse("046d:c52b", &vendor, &product));
	ASSERT_EQ(vendor, 0x046d);
	ASSERT_EQ(product, 0xc52b);
	ASSERT_OK(gc_usb_id_parse("FFFF:0000", &vendor, &product));
	ASSERT_EQ(vendor, 0xffff);
	ASSERT_EQ(product, 0);
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		vendor = product = 7;
		if (gc_usb_id_parse(bad[i], &vendor, &product) != -EINVAL)
			test_fail(__FILE__, __LINE__, "'%s' was accepted", bad[i]);
		ASSERT_EQ(vendor, 7);
		ASSERT_EQ(product, 7);
	}
}

TEST(gpus_and_their_drivers)
{
	FAKE_ROOT();
	struct gc_env_gpu *gpus = NULL;
	struct gc_env_pci_dev dev;
	char *version = NULL;
	size_t n = 0;

	nvidia_pair("nvidia", "snd_hda_intel");
	put("sys/bus/pci/devices/0000:01:00.0/boot_vga", "1\n");
	pci("0000:00:02.0", "0x030000", "0x8086", "0x3e92", "i915", 1);
	pci("0000:03:00.0", "0x038000", "0x1002", "0x73bf", NULL, 15);
	pci("0000:04:00.0", "0x030200", "0x1af4", "0x1050", "nouveau", -1);
	pci("0000:00:1f.3", "0x040300", "0x8086", "0xa348", "snd_hda_intel", 2);
	pci("0000:00:00.0", "0x060000", "0x8086", "0x3e30", NULL, 0);
	dir("sys/bus/pci/devices/not-a-device");
	put("proc/driver/nvidia/version",
	    "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 01:15:15 UTC "
	    "2023\nGCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n");

	ASSERT_OK(gc_env_gpu_list(&gpus, &n));
	ASSERT_EQ(n, 4u);
	ASSERT_STREQ(gpus[0].pci.address, "0000:00:02.0");
	ASSERT_STREQ(gpus[0].vendor_name, "Intel");
	ASSERT_STREQ(gpus[0].pci.driver, "i915");
	ASSERT_FALSE(gpus[0].has_audio); /* 00:1f.3 is another slot */
	ASSERT_STREQ(gpus[1].pci.address, "0000:01:00.0");
	ASSERT_STREQ(gpus[1].vendor_name, "NVIDIA");
	ASSERT_EQ(gpus[1].pci.vendor, GC_PCI_VENDOR_NVIDIA);
	ASSERT_EQ(gpus[1].pci.device, 0x1b80);
	ASSERT_EQ(gpus[1].pci.class, 0x030000u);
	ASSERT_STREQ(gpus[1].pci.driver, "nvidia");
	ASSERT_EQ(gpus[1].pci.iommu_group, 14);
	ASSERT_TRUE(gpus[1].pci.boot_vga);
	ASSERT_TRUE(gpus[1].has_audio);
	ASSERT_STREQ(gpus[1].audio.address, "0000:01:00.1");
	ASSERT_STREQ(gpus[1].audio.driver, "snd_hda_intel");
	ASSERT_STREQ(gpus[2].vendor_name, "AMD");
	ASSERT_NULL(gpus[2].pci.driver);
	ASSERT_STREQ(gc_pci_class_name(gpus[2].pci.class), "Display controller");
	ASSERT_STREQ(gpus[3].vendor_name, "other");
	ASSERT_STREQ(gpus[3].pci.driver, "nouveau");
	ASSERT_EQ(gpus[3].pci.iommu_group, -1);
	gc_env_gpu_list_free(gpus, n);

	ASSERT_OK(gc_env_nvidia_version(&version));
	ASSERT_STREQ(version, "535.104.05");
	free(version);

	ASSERT_OK(gc_env_pci_read("01:00.1", &dev));
	ASSERT_STREQ(dev.address, "0000:01:00.1");
	ASSERT_STREQ(gc_pci_class_name(dev.class), "Audio device");
	gc_env_pci_dev_done(&dev);
	ASSERT_ERROR(gc_env_pci_read("0000:09:00.0", &dev), ENODEV);
	ASSERT_ERROR(gc_env_pci_read("09:00", &dev), EINVAL);
}

TEST(no_pci_bus_no_gpu)
{
	FAKE_ROOT();
	struct gc_env_gpu *gpus = NULL;
	char **nodes = NULL, *version = NULL;
	size_t n = 1;

	ASSERT_OK(gc_env_gpu_list(&gpus, &n));
	ASSERT_EQ(n, 0u);
	gc_env_gpu_list_free(gpus, n);
	ASSERT_ERROR(gc_env_nvidia_version(&version), ENOENT);
	ASSERT_OK(gc_env_render_nodes(&nodes));
	ASSERT_EQ(gc_strv_length(nodes), 0u);
	gc_strv_free(nodes);
}

TEST(nvidia_version_parse)
{
	char *v = NULL;

	ASSERT_OK(gc_nvidia_version_parse("NVRM version: NVIDIA UNIX Open Kernel Module for "
					  "x86_64  550.54.14  Release Build  (dvs-builder@U16)  "
					  "Tue Mar  5 22:25:03 UTC 2024\n",
					  &v));
	ASSERT_STREQ(v, "550.54.14");
	free(v);
	ASSERT_OK(gc_nvidia_version_parse("NVRM version: NVIDIA UNIX x86_64 Kernel Module  "
					  "470.223.02  Sat Oct  7 15:39:11 UTC 2023",
					  &v));
	ASSERT_STREQ(v, "470.223.02");
	free(v);
	ASSERT_ERROR(gc_nvidia_version_parse("", &v), EINVAL);
	ASSERT_ERROR(gc_nvidia_version_parse("NVRM version: none here\n550.54.14\n", &v), EINVAL);
	ASSERT_ERROR(gc_nvidia_version_parse("NVRM version: 1. .2 3..4", &v), EINVAL);
}

TEST(iommu_on_with_groups)
{
	FAKE_ROOT();
	struct gc_env_iommu iommu;
	char **devices = NULL;

	dir("sys/class/iommu/dmar0");
	dir("sys/class/iommu/dmar1");
	nvidia_pair("vfio-pci", "vfio-pci");
	pci("0000:00:02.0", "0x030000", "0x8086", "0x3e92", "i915", 1);
	put("proc/cmdline", "BOOT_IMAGE=/vmlinuz root=/dev/sda1 quiet intel_iommu=on iommu=pt "
			    "vfio-pci.ids=10de:1b80,10de:10f0 -- iommu=ignored\n");
	ASSERT_OK(gc_env_iommu_read(&iommu));
	ASSERT_TRUE(iommu.enabled);
	ASSERT_STREQ(iommu.kind, "intel-vt-d");
	ASSERT_EQ(iommu.n_units, 2u);
	ASSERT_EQ(iommu.n_groups, 2u);
	ASSERT_EQ(gc_strv_length(iommu.cmdline), 3u);
	ASSERT_STREQ(iommu.cmdline[0], "intel_iommu=on");
	ASSERT_STREQ(iommu.cmdline[1], "iommu=pt");
	ASSERT_STREQ(iommu.cmdline[2], "vfio-pci.ids=10de:1b80,10de:10f0");
	gc_env_iommu_done(&iommu);

	ASSERT_OK(gc_env_iommu_group_devices(14, &devices));
	ASSERT_EQ(gc_strv_length(devices), 2u);
	ASSERT_STREQ(devices[0], "0000:01:00.0");
	ASSERT_STREQ(devices[1], "0000:01:00.1");
	gc_strv_free(devices);
	ASSERT_ERROR(gc_env_iommu_group_devices(99, &devices), ENOENT);
}

TEST(iommu_off_amd)
{
	FAKE_ROOT();
	struct gc_env_iommu iommu;

	dir("sys/kernel/iommu_groups");
	dir("sys/class/iommu/ivhd0");
	ASSERT_OK(gc_env_iommu_read(&iommu));
	ASSERT_FALSE(iommu.enabled);
	ASSERT_STREQ(iommu.kind, "amd-vi");
	ASSERT_EQ(iommu.n_groups, 0u);
	ASSERT_EQ(gc_strv_length(iommu.cmdline), 0u);
	gc_env_iommu_done(&iommu);
}

/* ---- VFIO -------------------------------------------------------------------------------- */

TEST(vfio_ready_when_the_whole_group_is_on_vfio)
{
	FAKE_ROOT();
	struct gc_env_vfio v;

	nvidia_pair("vfio-pci", "vfio-pci");
	/* A bridge in the group need not be bound to vfio-pci. */
	pci("0000:00:01.0", "0x060400", "0x8086", "0x1901", "pcieport", 14);
	ASSERT_OK(gc_env_vfio_check("01:00.0", &v));
	ASSERT_STREQ(v.address, "0000:01:00.0");
	ASSERT_TRUE(v.ready);
	ASSERT_NULL(v.why);
	ASSERT_EQ(v.iommu_group, 14);
	ASSERT_EQ(gc_strv_length(v.group_devices), 3u);
	gc_env_vfio_done(&v);

	/* An unbound function or one on pci-stub keeps the group viable too. */
	pci("0000:01:00.2", "0x0c0330", "0x10de", "0x1ad6", NULL, 14);
	pci("0000:01:00.3", "0x0c8000", "0x10de", "0x1ad7", "pci-stub", 14);
	ASSERT_OK(gc_env_vfio_check("0000:01:00.0", &v));
	ASSERT_TRUE(v.ready);
	gc_env_vfio_done(&v);
}

TEST(vfio_blocked_by_audio_on_its_driver)
{
	FAKE_ROOT();
	struct gc_env_vfio v;

	nvidia_pair("vfio-pci", "snd_hda_intel");
	ASSERT_OK(gc_env_vfio_check("0000:01:00.0", &v));
	ASSERT_FALSE(v.ready);
	ASSERT_STREQ(v.why, "0000:01:00.1 (Audio device 10de:10f0) in IOMMU group 14 is bound to "
			    "snd_hda_intel, not vfio-pci: unbind it or bind it to vfio-pci first");
	gc_env_vfio_done(&v);

	/* The device itself on its own driver: both lines, the device's first. */
	relink("sys/bus/pci/devices/0000:01:00.0/driver", "../../../bus/pci/drivers/nvidia");
	ASSERT_OK(gc_env_vfio_check("0000:01:00.0", &v));
	ASSERT_FALSE(v.ready);
	ASSERT_STREQ(v.why,
		     "0000:01:00.0 (VGA compatible controller 10de:1b80) in IOMMU group 14 is "
		     "bound to nvidia, not vfio-pci: bind it to vfio-pci first\n"
		     "0000:01:00.1 (Audio device 10de:10f0) in IOMMU group 14 is bound to "
		     "snd_hda_intel, not vfio-pci: unbind it or bind it to vfio-pci first");
	gc_env_vfio_done(&v);
}

TEST(vfio_blocked_when_the_iommu_is_off)
{
	FAKE_ROOT();
	struct gc_env_vfio v;

	pci("0000:01:00.0", "0x030000", "0x10de", "0x1b80", "vfio-pci", -1);
	dir("sys/kernel/iommu_groups");
	ASSERT_OK(gc_env_vfio_check("01:00.0", &v));
	ASSERT_FALSE(v.ready);
	ASSERT_EQ(v.iommu_group, -1);
	ASSERT_STREQ(v.why, "the IOMMU is off (/sys/kernel/iommu_groups is empty): turn on VT-d or "
			    "AMD-Vi in the firmware and boot with intel_iommu=on (Intel) or "
			    "amd_iommu=on (AMD)");
	gc_env_vfio_done(&v);
}

TEST(vfio_blocked_without_its_device_nodes)
{
	FAKE_ROOT();
	char path[PATH_MAX];
	struct gc_env_vfio v;

	nvidia_pair("vfio-pci", "vfio-pci");
	(void)snprintf(path, sizeof(path), "%s/dev/vfio/14", root);
	ASSERT_OK_ERRNO(unlink(path));
	ASSERT_OK(gc_env_vfio_check("01:00.0", &v));
	ASSERT_FALSE(v.ready);
	ASSERT_STREQ(v.why, "/dev/vfio/14 is missing: it appears once IOMMU group 14 is bound to "
			    "vfio-pci");
	gc_env_vfio_done(&v);

	(void)snprintf(path, sizeof(path), "%s/dev/vfio/vfio", root);
	ASSERT_OK_ERRNO(unlink(path));
	ASSERT_OK(gc_env_vfio_check("01:00.0", &v));
	ASSERT_STREQ(v.why, "/dev/vfio/vfio is missing: load the vfio-pci module (modprobe "
			    "vfio-pci)\n"
			    "/dev/vfio/14 is missing: it appears once IOMMU group 14 is bound to "
			    "vfio-pci");
	gc_env_vfio_done(&v);
}

TEST(vfio_rejects_bad_addresses_and_missing_devices)
{
	FAKE_ROOT();
	struct gc_env_vfio v = { .why = (char *)"untouched" };

	nvidia_pair("vfio-pci", "vfio-pci");
	ASSERT_ERROR(gc_env_vfio_check("1:00.0", &v), EINVAL);
	ASSERT_ERROR(gc_env_vfio_check("0000:01:00.0,x", &v), EINVAL);
	ASSERT_ERROR(gc_env_vfio_check("", &v), EINVAL);
	ASSERT_STREQ(v.why, "untouched");
	ASSERT_OK(gc_env_vfio_check("02:00.0", &v));
	ASSERT_FALSE(v.ready);
	ASSERT_STREQ(v.why, "no PCI device 0000:02:00.0 (lspci -D lists them)");
	gc_env_vfio_done(&v);
}

/* ---- USB --------------------------------------------------------------------------------- */

static void usb(const char *name, const char *vendor, const char *product, const char *bus,
		const char *devnum, const char *manufacturer, const char *product_name)
{
	char rel[256], text[128];
	const char *const attrs[][2] = {
		{ "idVendor", vendor },
		{ "idProduct", product },
		{ "busnum", bus },
		{ "devnum", devnum },
		{ "manufacturer", manufacturer },
		{ "product", product_name },
	};

	for (size_t i = 0; i < ELEMENTSOF(attrs); i++) {
		if (!attrs[i][1])
			continue;
		(void)snprintf(rel, sizeof(rel), "sys/bus/usb/devices/%s/%s", name, attrs[i][0]);
		(void)snprintf(text, sizeof(text), "%s\n", attrs[i][1]);
		put(rel, text);
	}
}

TEST(usb_list_and_find)
{
	FAKE_ROOT();
	struct gc_env_usb_dev *devs = NULL, dev;
	size_t n = 0;

	usb("usb1", "1d6b", "0002", "1", "1", "Linux 6.1.0 xhci-hcd", "xHCI Host Controller");
	usb("1-2", "046d", "c52b", "1", "3", "Logitech", "USB Receiver");
	usb("1-1", "0781", "5581", "1", "2", NULL, NULL);
	usb("1-2:1.0", NULL, NULL, NULL, NULL, NULL, NULL); /* an interface */
	put("sys/bus/usb/devices/1-2:1.0/bInterfaceClass", "03\n");
	usb("1-3", "zzzz", "0001", "1", "4", NULL, NULL); /* garbled: skipped */

	ASSERT_OK(gc_env_usb_list(&devs, &n));
	ASSERT_EQ(n, 3u);
	ASSERT_STREQ(devs[0].name, "usb1");
	ASSERT_STREQ(devs[1].name, "1-1");
	ASSERT_NULL(devs[1].manufacturer);
	ASSERT_STREQ(devs[2].name, "1-2");
	ASSERT_EQ(devs[2].vendor, 0x046d);
	ASSERT_EQ(devs[2].product, 0xc52b);
	ASSERT_EQ(devs[2].bus, 1u);
	ASSERT_EQ(devs[2].device, 3u);
	ASSERT_STREQ(devs[2].manufacturer, "Logitech");
	ASSERT_STREQ(devs[2].product_name, "USB Receiver");
	gc_env_usb_list_free(devs, n);

	ASSERT_OK(gc_env_usb_find(0x046d, 0xc52b, &dev));
	ASSERT_STREQ(dev.name, "1-2");
	gc_env_usb_dev_done(&dev);
	ASSERT_ERROR(gc_env_usb_find(0x1234, 0x5678, &dev), ENOENT);
}

/* ---- The session and the display --------------------------------------------------------- */

TEST(session_detection)
{
	ASSERT_EQ(gc_session_from("wayland", NULL, NULL), GC_SESSION_WAYLAND);
	ASSERT_EQ(gc_session_from("x11", "wayland-0", NULL), GC_SESSION_X11);
	ASSERT_EQ(gc_session_from(NULL, "wayland-0", ":0"), GC_SESSION_WAYLAND);
	ASSERT_EQ(gc_session_from("", "", ":0"), GC_SESSION_X11);
	ASSERT_EQ(gc_session_from("tty", NULL, NULL), GC_SESSION_TTY);
	ASSERT_EQ(gc_session_from("tty", NULL, ":1"), GC_SESSION_X11);
	ASSERT_EQ(gc_session_from(NULL, NULL, NULL), GC_SESSION_NONE);
	ASSERT_EQ(gc_session_from("unspecified", "", ""), GC_SESSION_NONE);

	ASSERT_OK_ERRNO(setenv("XDG_SESSION_TYPE", "wayland", 1));
	ASSERT_EQ(gc_env_session(), GC_SESSION_WAYLAND);
	ASSERT_OK_ERRNO(unsetenv("XDG_SESSION_TYPE"));
	ASSERT_OK_ERRNO(unsetenv("WAYLAND_DISPLAY"));
	ASSERT_OK_ERRNO(setenv("DISPLAY", ":0", 1));
	ASSERT_EQ(gc_env_session(), GC_SESSION_X11);
	ASSERT_STREQ(gc_session_to_string(GC_SESSION_X11), "x11");
	ASSERT_STREQ(gc_session_to_string(GC_SESSION_NONE), "none");
}

TEST(display_advice)
{
	const unsigned no_gui = 1u << GC_DISPLAY_NONE | 1u << GC_DISPLAY_VNC;
	struct gc_display_advice a;
	enum gc_display d;

	gc_display_advise(GC_SESSION_NONE, true, 0, &a);
	ASSERT_EQ(a.display, GC_DISPLAY_NONE);
	ASSERT_FALSE(a.gl);
	ASSERT_NOT_NULL(strstr(a.reason, "vnc"));
	gc_display_advise(GC_SESSION_TTY, false, 0, &a);
	ASSERT_EQ(a.display, GC_DISPLAY_NONE);
	gc_display_advise(GC_SESSION_WAYLAND, true, 0, &a);
	ASSERT_EQ(a.display, GC_DISPLAY_GTK);
	ASSERT_TRUE(a.gl);
	gc_display_advise(GC_SESSION_X11, false, 0, &a);
	ASSERT_EQ(a.display, GC_DISPLAY_GTK);
	ASSERT_FALSE(a.gl);
	gc_display_advise(GC_SESSION_X11, true, no_gui | 1u << GC_DISPLAY_SDL, &a);
	ASSERT_EQ(a.display, GC_DISPLAY_SDL);
	ASSERT_TRUE(a.gl);
	gc_display_advise(GC_SESSION_WAYLAND, true, no_gui | 1u << GC_DISPLAY_SPICE, &a);
	ASSERT_EQ(a.display, GC_DISPLAY_SPICE);
	ASSERT_FALSE(a.gl);
	gc_display_advise(GC_SESSION_WAYLAND, true, no_gui, &a);
	ASSERT_EQ(a.display, GC_DISPLAY_VNC);

	for (unsigned i = 0; i < _GC_DISPLAY_MAX; i++) {
		ASSERT_OK(gc_display_from_string(gc_display_to_string((enum gc_display)i), &d));
		ASSERT_EQ(d, (enum gc_display)i);
	}
	ASSERT_ERROR(gc_display_from_string("opengl", &d), EINVAL);
}

TEST(display_recommendation_from_the_machine)
{
	FAKE_ROOT();
	struct gc_display_advice a;

	ASSERT_OK_ERRNO(setenv("WAYLAND_DISPLAY", "wayland-0", 1));
	ASSERT_OK_ERRNO(unsetenv("XDG_SESSION_TYPE"));
	pci("0000:03:00.0", "0x030000", "0x1002", "0x73bf", "amdgpu", 15);
	gc_env_recommend_display(NULL, &a);
	ASSERT_EQ(a.display, GC_DISPLAY_GTK);
	ASSERT_FALSE(a.gl); /* no render node yet */
	put("dev/dri/renderD128", "");
	put("dev/dri/card0", "");
	gc_env_recommend_display(NULL, &a);
	ASSERT_TRUE(a.gl);

	/* The only GPU parked on vfio-pci renders nothing here. */
	relink("sys/bus/pci/devices/0000:03:00.0/driver", "../../../bus/pci/drivers/vfio-pci");
	gc_env_recommend_display(NULL, &a);
	ASSERT_FALSE(a.gl);
}

/* ---- The user ---------------------------------------------------------------------------- */

TEST(group_membership)
{
	FAKE_ROOT();
	char text[256];

	(void)snprintf(text, sizeof(text),
		       "root:x:0:\nbroken line\nkvm:x:%u:someone\nother:x:%u:\n",
		       (unsigned)getegid(), (unsigned)getegid() + 4242);
	put("etc/group", text);
	ASSERT_EQ(gc_env_in_group("kvm"), 1);
	ASSERT_EQ(gc_env_in_group("other"), 0);
	ASSERT_ERROR(gc_env_in_group("nosuchgroup"), ENOENT);
}

/* ---- KVM --------------------------------------------------------------------------------- */

TEST(kvm_regular_file_is_not_kvm)
{
	FAKE_ROOT();
	struct gc_env_kvm k;

	put("dev/kvm", "");
	ASSERT_OK(gc_env_kvm_probe(2000, &k));
	ASSERT_EQ(k.state, GC_KVM_BROKEN);
	ASSERT_TRUE(k.present);
	ASSERT_TRUE(k.opened);
	ASSERT_EQ(k.api_version, -1);
	ASSERT_FALSE(k.real_mode);
	ASSERT_STREQ(k.reason, "opens but is not a KVM device: KVM_GET_API_VERSION failed: "
			       "Inappropriate ioctl for device");
	ASSERT_NOT_NULL(k.hint);
	gc_env_kvm_done(&k);
}

TEST(kvm_absent_with_vmx_but_no_module)
{
	FAKE_ROOT();
	struct gc_env_kvm k;

	put("proc/cpuinfo", "processor : 0\nvendor_id : GenuineIntel\nflags : fpu vmx\n");
	ASSERT_OK(gc_env_kvm_probe(0, &k));
	ASSERT_EQ(k.state, GC_KVM_ABSENT);
	ASSERT_FALSE(k.present);
	ASSERT_NULL(k.module);
	ASSERT_STREQ(k.reason, "/dev/kvm is missing: the CPU has vmx but no KVM module is loaded");
	ASSERT_STREQ(k.hint, "load it: modprobe kvm_intel");
	gc_env_kvm_done(&k);
}

TEST(kvm_absent_in_a_guest_without_nesting)
{
	FAKE_ROOT();
	struct gc_env_kvm k;

	put("proc/cpuinfo", "processor : 0\nvendor_id : AuthenticAMD\nflags : fpu hypervisor\n");
	dir("sys/module/kvm");
	dir("sys/module/kvm_pvm");
	ASSERT_OK(gc_env_kvm_probe(0, &k));
	ASSERT_EQ(k.state, GC_KVM_ABSENT);
	ASSERT_STREQ(k.module, "kvm_pvm");
	ASSERT_STREQ(k.reason, "/dev/kvm is missing: the CPU shows neither vmx nor svm, as this "
			       "machine is itself a virtual machine (hypervisor flag) whose host "
			       "offers no nested virtualization; kvm and kvm_pvm are loaded but "
			       "made no /dev/kvm");
	gc_env_kvm_done(&k);
}

TEST(kvm_without_permission)
{
	FAKE_ROOT();
	char path[PATH_MAX];
	struct gc_env_kvm k;
	int status;
	pid_t pid;

	put("dev/kvm", "");
	(void)snprintf(path, sizeof(path), "%s/dev/kvm", root);
	ASSERT_OK_ERRNO(chmod(path, 0600));
	put("etc/group", "kvm:x:4242:\n");
	if (geteuid() != 0)
		ASSERT_OK_ERRNO(chmod(path, 0));
	/* Root gives up its rights in a child of its own, so that the tree can still go. */
	pid = fork();
	ASSERT_OK_ERRNO(pid);
	if (pid == 0) {
		if (geteuid() == 0 && setresuid(65534, 65534, 65534) < 0)
			_exit(77);
		ASSERT_OK(gc_env_kvm_probe(2000, &k));
		ASSERT_EQ(k.state, GC_KVM_NO_ACCESS);
		ASSERT_FALSE(k.opened);
		ASSERT_STREQ(k.reason, "no permission to open /dev/kvm (Permission denied)");
		ASSERT_NOT_NULL(strstr(k.hint, "add yourself to group kvm"));
		gc_env_kvm_done(&k);
		_exit(0);
	}
	ASSERT_OK_ERRNO(waitpid(pid, &status, 0));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
		SKIP_TEST("cannot become nobody");
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), 0);
}

/* A report of a child that got as far as the guests, both halted unless changed. */
static struct gc_kvm_probe_report guests_report(void)
{
	struct gc_kvm_probe_report rep = {
		.stage = GC_KVM_STAGE_DONE,
		.api_version = 12,
		.guest = {
			[GC_KVM_MODE_REAL] = { .stage = GC_KVM_STAGE_DONE, .exit_reason = -1 },
			[GC_KVM_MODE_LONG] = { .stage = GC_KVM_STAGE_DONE, .exit_reason = -1 },
		},
	};

	return rep;
}

TEST(kvm_verdicts)
{
	struct gc_kvm_probe_report rep = guests_report();
	struct gc_env_kvm k = { .api_version = -1 };

	ASSERT_OK(gc_env__kvm_verdict(&rep, false, 0, 5000, &k));
	ASSERT_EQ(k.state, GC_KVM_USABLE);
	ASSERT_TRUE(k.opened);
	ASSERT_TRUE(k.real_mode);
	ASSERT_TRUE(k.long_mode);
	ASSERT_EQ(k.api_version, 12);
	ASSERT_NULL(k.reason);
	gc_env_kvm_done(&k);

	/* PVM: 64-bit guests run, real mode is refused. */
	rep.guest[GC_KVM_MODE_REAL] = (struct gc_kvm_guest_report){ .stage = GC_KVM_STAGE_RUN_OUT,
								    .error = EINVAL,
								    .exit_reason = -1 };
	k = (struct gc_env_kvm){ .module = "kvm_pvm" };
	ASSERT_OK(gc_env__kvm_verdict(&rep, false, 0, 5000, &k));
	ASSERT_EQ(k.state, GC_KVM_BROKEN);
	ASSERT_FALSE(k.real_mode);
	ASSERT_TRUE(k.long_mode);
	ASSERT_STREQ(k.reason, "opens but cannot run a guest: 64-bit code runs, but real mode, "
			       "where firmware and so every QEMU guest starts, fails: KVM_RUN "
			       "failed: Invalid argument (KVM here is kvm_pvm, a paravirtual KVM "
			       "that runs only PVM-enabled 64-bit guest kernels, no firmware)");
	gc_env_kvm_done(&k);

	/* A KVM_RUN that never returned, killed after the timeout. */
	rep = guests_report();
	rep.guest[GC_KVM_MODE_REAL].stage = GC_KVM_STAGE_RUN_OUT;
	rep.guest[GC_KVM_MODE_LONG].stage = GC_KVM_STAGE_NOT_RUN;
	k = (struct gc_env_kvm){ .module = "kvm_intel" };
	ASSERT_OK(gc_env__kvm_verdict(&rep, true, SIGKILL, 5000, &k));
	ASSERT_EQ(k.state, GC_KVM_BROKEN);
	ASSERT_STREQ(k.reason, "opens but cannot run a guest: real mode: KVM_RUN did not return "
			       "within 5000 ms; 64-bit mode: not tried");
	gc_env_kvm_done(&k);

	/* An exit other than the one due. */
	rep = guests_report();
	rep.guest[GC_KVM_MODE_LONG] = (struct gc_kvm_guest_report){ .stage = GC_KVM_STAGE_RUN_OUT,
								    .exit_reason = 17,
								    .exit_detail = 1 };
	k = (struct gc_env_kvm){ .module = NULL };
	ASSERT_OK(gc_env__kvm_verdict(&rep, false, 0, 5000, &k));
	ASSERT_STREQ(k.reason, "opens but cannot run a guest: real mode runs, 64-bit mode: "
			       "KVM_RUN exited with KVM_EXIT_INTERNAL_ERROR (1) where KVM_EXIT_IO "
			       "was due");
	gc_env_kvm_done(&k);

	/* Before the guests: the device, its version, the capabilities. */
	rep = (struct gc_kvm_probe_report){ .stage = GC_KVM_STAGE_OPEN,
					    .error = ENODEV,
					    .api_version = -1 };
	k = (struct gc_env_kvm){ .module = NULL };
	ASSERT_OK(gc_env__kvm_verdict(&rep, false, 0, 5000, &k));
	ASSERT_EQ(k.state, GC_KVM_BROKEN);
	ASSERT_FALSE(k.opened);
	ASSERT_STREQ(k.reason, "/dev/kvm exists but no KVM driver is behind it (No such device)");
	gc_env_kvm_done(&k);
	rep = (struct gc_kvm_probe_report){ .stage = GC_KVM_STAGE_API_VERSION, .api_version = 11 };
	ASSERT_OK(gc_env__kvm_verdict(&rep, false, 0, 5000, &k));
	ASSERT_STREQ(k.reason, "opens but speaks KVM API version 11, not 12");
	gc_env_kvm_done(&k);
	rep = (struct gc_kvm_probe_report){ .stage = GC_KVM_STAGE_CAPS,
					    .api_version = 12,
					    .missing_cap = 4 };
	ASSERT_OK(gc_env__kvm_verdict(&rep, false, 0, 5000, &k));
	ASSERT_STREQ(k.reason, "opens but lacks KVM_CAP_IOEVENTFD, which QEMU needs");
	gc_env_kvm_done(&k);
	rep = (struct gc_kvm_probe_report){ .stage = GC_KVM_STAGE_CAPS, .api_version = 12 };
	ASSERT_OK(gc_env__kvm_verdict(&rep, true, SIGKILL, 300, &k));
	ASSERT_STREQ(k.reason, "KVM_CHECK_EXTENSION on /dev/kvm did not return within 300 ms");
	gc_env_kvm_done(&k);
}

TEST(kvm_probe_of_this_machine_answers_in_time)
{
	struct gc_env_kvm k;
	uint64_t start;

	ASSERT_OK_ERRNO(unsetenv(GC_ENV_ROOT_VAR));
	start = now_usec(CLOCK_MONOTONIC);
	ASSERT_OK(gc_env_kvm_probe(GC_KVM_PROBE_TIMEOUT_MS, &k));
	ASSERT_LT(now_usec(CLOCK_MONOTONIC) - start, (GC_KVM_PROBE_TIMEOUT_MS + 2000) * 1000u);
	(void)fprintf(stderr, "kvm on this machine: %s%s%s\n", gc_kvm_state_to_string(k.state),
		      k.reason ? ": " : "", k.reason ? k.reason : "");
	if (k.state == GC_KVM_USABLE) {
		ASSERT_NULL(k.reason);
		ASSERT_TRUE(k.real_mode);
		ASSERT_TRUE(k.long_mode);
		ASSERT_EQ(k.api_version, 12);
	} else
		ASSERT_NOT_NULL(k.reason);
	ASSERT_EQ(gc_env_kvm_usable(), k.state == GC_KVM_USABLE);
	gc_env_kvm_done(&k);
}

/* ---- Programs and QEMU ------------------------------------------------------------------- */

TEST(run_capture_and_its_timeout)
{
	char *out = NULL, *sh = NULL;
	uint64_t start;
	int status = -1;

	ASSERT_OK(gc_env_find_program("sh", &sh));
	ASSERT_EQ(sh[0], '/');
	ASSERT_OK(gc_env_run_capture((char *[]){ sh, (char *)"-c",
						 (char *)"echo out; echo err >&2; exit 3", NULL },
				     5000, &out, &status));
	ASSERT_STREQ(out, "out\n");
	ASSERT_EQ(status, 3);
	free(out);

	start = now_usec(CLOCK_MONOTONIC);
	ASSERT_ERROR(gc_env_run_capture((char *[]){ sh, (char *)"-c", (char *)"sleep 10", NULL },
					200, &out, &status),
		     ETIMEDOUT);
	ASSERT_LT(now_usec(CLOCK_MONOTONIC) - start, 5 * USEC_PER_SEC);
	free(sh);

	ASSERT_ERROR(gc_env_find_program("no-such-program-here", &sh), ENOENT);
	ASSERT_ERROR(gc_env_find_program("/nonexistent/qemu", &sh), ENOENT);
	ASSERT_ERROR(gc_env_find_program("", &sh), EINVAL);
	ASSERT_ERROR(gc_env_run_capture((char *[]){ (char *)"/nonexistent/qemu", NULL }, 1000, &out,
					&status),
		     ENOENT);
}

TEST(qemu_probe_of_a_fake_qemu)
{
	FAKE_ROOT();
	const struct gc_env_qemu *q = NULL;
	char path[PATH_MAX], *v = NULL;

	(void)snprintf(path, sizeof(path), "%s/qemu-fake", root);
	put("qemu-fake",
	    "#!/bin/sh\n"
	    "case \"$1 $2\" in\n"
	    "'--version ') echo 'QEMU emulator version 8.2.1 (qemu-8.2.1-1)';"
	    " echo 'Copyright (c) 2003-2023 Fabrice Bellard';;\n"
	    "'-accel help') printf 'Accelerators supported in QEMU binary:\\ntcg\\nkvm\\n';;\n"
	    "'-display help') printf 'Available display backend types:\\nnone\\ngtk\\nsdl\\n';"
	    " echo 'qemu: module ui-ui-spice not found' >&2;;\n"
	    "'-device help') printf 'Display devices:\\nname \"virtio-vga-gl\", bus PCI\\n"
	    "name \"vfio-pci\", bus PCI, desc \"VFIO-based PCI device assignment\"\\n';;\n"
	    "'-spice help') echo \"qemu: There is no option group 'spice'\" >&2; exit 1;;\n"
	    "esac\n");
	ASSERT_OK_ERRNO(chmod(path, 0755));
	ASSERT_OK(gc_env_qemu(path, &q));
	ASSERT_STREQ(q->path, path);
	ASSERT_STREQ(q->version, "8.2.1");
	ASSERT_EQ(gc_strv_length(q->accelerators), 2u);
	ASSERT_TRUE(gc_strv_contains(q->accelerators, "kvm"));
	ASSERT_EQ(gc_strv_length(q->displays), 3u);
	ASSERT_TRUE(gc_strv_contains(q->displays, "gtk"));
	ASSERT_EQ(gc_strv_length(q->devices), 2u);
	ASSERT_TRUE(gc_strv_contains(q->devices, "vfio-pci"));
	ASSERT_FALSE(gc_strv_contains(q->devices, "nvme"));
	ASSERT_FALSE(q->spice);
	ASSERT_EQ(gc_env_qemu_display_mask(q), 1u << GC_DISPLAY_NONE | 1u << GC_DISPLAY_VNC |
						       1u << GC_DISPLAY_GTK | 1u << GC_DISPLAY_SDL);

	ASSERT_ERROR(gc_env_qemu("/nonexistent/qemu", &q), ENOENT);
	ASSERT_OK(gc_qemu_version_parse("QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7)", &v));
	ASSERT_STREQ(v, "7.2.22");
	free(v);
	ASSERT_ERROR(gc_qemu_version_parse("QEMU emulator version x", &v), EINVAL);
	ASSERT_ERROR(gc_qemu_version_parse("version 7", &v), EINVAL);
}

DEFINE_TEST_MAIN();
