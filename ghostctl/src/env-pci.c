/* SPDX-License-Identifier: MIT */
/* PCI devices, GPUs and their drivers, the IOMMU, and the checks VFIO passthrough needs. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/macro.h"
#include "common/string-util.h"
#include "env-internal.h"
#include "env.h"

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* min..max hex digits at *p, then anything that is not a hex digit; advances *p. */
static int hex_field(const char **p, unsigned min, unsigned max, uint32_t *ret)
{
	uint32_t v = 0;
	unsigned n = 0;
	int d;

	for (; (d = hex_digit((*p)[n])) >= 0; n++) {
		if (n == max)
			return -EINVAL;
		v = v << 4 | (uint32_t)d;
	}
	if (n < min)
		return -EINVAL;
	*p += n;
	*ret = v;
	return 0;
}

int gc_pci_address_parse(const char *s, char ret[static GC_PCI_ADDRESS_MAX])
{
	uint32_t domain = 0, bus, slot, function;
	const char *p = s;
	size_t colons = 0;

	for (const char *q = s; *q; q++)
		if (*q == ':')
			colons++;
	if (colons == 2) {
		if (hex_field(&p, 4, 8, &domain) < 0 || *p != ':')
			return -EINVAL;
		p++;
	} else if (colons != 1)
		return -EINVAL;
	if (hex_field(&p, 2, 2, &bus) < 0 || *p != ':')
		return -EINVAL;
	p++;
	if (hex_field(&p, 2, 2, &slot) < 0 || slot > 0x1f || *p != '.')
		return -EINVAL;
	p++;
	if (hex_field(&p, 1, 1, &function) < 0 || function > 7 || *p != '\0')
		return -EINVAL;
	(void)snprintf(ret, GC_PCI_ADDRESS_MAX, "%04x:%02x:%02x.%x", (unsigned)domain,
		       (unsigned)bus, (unsigned)slot, (unsigned)function);
	return 0;
}

const char *gc_pci_vendor_name(uint16_t vendor)
{
	switch (vendor) {
	case GC_PCI_VENDOR_NVIDIA:
		return "NVIDIA";
	case GC_PCI_VENDOR_AMD:
		return "AMD";
	case GC_PCI_VENDOR_INTEL:
		return "Intel";
	default:
		return NULL;
	}
}

const char *gc_pci_class_name(uint32_t class)
{
	static const struct {
		uint16_t class; /* class and subclass: the top 16 of the 24 bits */
		const char *name;
	} names[] = {
		{ 0x0106, "SATA controller" },
		{ 0x0108, "Non-Volatile memory controller" },
		{ 0x0200, "Ethernet controller" },
		{ 0x0280, "Network controller" },
		{ 0x0300, "VGA compatible controller" },
		{ 0x0302, "3D controller" },
		{ 0x0380, "Display controller" },
		{ 0x0401, "Multimedia audio controller" },
		{ 0x0403, "Audio device" },
		{ 0x0600, "Host bridge" },
		{ 0x0601, "ISA bridge" },
		{ 0x0604, "PCI bridge" },
		{ 0x0c03, "USB controller" },
		{ 0x0c05, "SMBus" },
	};

	for (size_t i = 0; i < ELEMENTSOF(names); i++)
		if (names[i].class == class >> 8)
			return names[i].name;
	return "PCI device";
}

/* A numeric attribute of a device directory; one that is missing or garbled reads as 0. */
static int read_attr(const char *dir, const char *name, uint32_t *ret)
{
	_cleanup_free_ char *path = NULL;
	uint32_t v;
	int r;

	if (asprintf(&path, "%s/%s", dir, name) < 0)
		return -ENOMEM;
	r = gc_env__read_u32(path, &v);
	if (r == -ENOMEM)
		return r;
	*ret = r < 0 ? 0 : v;
	return 0;
}

/* The basename of a link of a device directory; NULL when there is no link. */
static int read_link_attr(const char *dir, const char *name, char **ret)
{
	_cleanup_free_ char *path = NULL;
	char *target = NULL;
	int r;

	if (asprintf(&path, "%s/%s", dir, name) < 0)
		return -ENOMEM;
	r = gc_env__link_basename(path, &target);
	if (r == -ENOMEM)
		return r;
	*ret = target;
	return 0;
}

/* Reads a device by its canonical address. -ENODEV when it is not there. */
static int pci_read(const char *address, struct gc_env_pci_dev *ret)
{
	_cleanup_free_ char *dir = NULL, *driver = NULL, *group = NULL;
	struct gc_env_pci_dev dev = { .iommu_group = -1 };
	uint32_t class, vendor, device, boot_vga;

	if (asprintf(&dir, "/sys/bus/pci/devices/%s", address) < 0)
		return -ENOMEM;
	if (!gc_env__exists(dir))
		return -ENODEV;
	if (read_attr(dir, "class", &class) < 0 || read_attr(dir, "vendor", &vendor) < 0 ||
	    read_attr(dir, "device", &device) < 0 || read_attr(dir, "boot_vga", &boot_vga) < 0 ||
	    read_link_attr(dir, "driver", &driver) < 0 ||
	    read_link_attr(dir, "iommu_group", &group) < 0)
		return -ENOMEM;
	(void)snprintf(dev.address, sizeof(dev.address), "%s", address);
	dev.class = class & 0xffffff;
	dev.vendor = (uint16_t)vendor;
	dev.device = (uint16_t)device;
	dev.boot_vga = boot_vga == 1;
	if (group && safe_atoi(group, &dev.iommu_group) < 0)
		dev.iommu_group = -1;
	dev.driver = TAKE_PTR(driver);
	*ret = dev;
	return 0;
}

int gc_env_pci_read(const char *address, struct gc_env_pci_dev *ret)
{
	char canonical[GC_PCI_ADDRESS_MAX];

	if (gc_pci_address_parse(address, canonical) < 0)
		return -EINVAL;
	return pci_read(canonical, ret);
}

void gc_env_pci_dev_done(struct gc_env_pci_dev *dev)
{
	dev->driver = mfree(dev->driver);
}

void gc_env_pci_list_free(struct gc_env_pci_dev *devs, size_t n)
{
	for (size_t i = 0; devs && i < n; i++)
		gc_env_pci_dev_done(&devs[i]);
	free(devs);
}

int gc_env_pci_list(struct gc_env_pci_dev **ret_devs, size_t *ret_n)
{
	_cleanup_strv_free_ char **names = NULL;
	struct gc_env_pci_dev *devs;
	size_t n = 0;
	int r;

	r = gc_env__list_dir("/sys/bus/pci/devices", &names);
	if (r == -ENOENT) {
		*ret_devs = NULL;
		*ret_n = 0;
		return 0;
	}
	if (r < 0)
		return r;
	devs = calloc(gc_strv_length(names) + 1, sizeof(*devs));
	if (!devs)
		return -ENOMEM;
	for (char **name = names; *name; name++) {
		char canonical[GC_PCI_ADDRESS_MAX];

		/* sysfs names are canonical already; anything else is not a device. */
		if (gc_pci_address_parse(*name, canonical) < 0 || !streq(canonical, *name))
			continue;
		r = pci_read(canonical, &devs[n]);
		if (r == -ENODEV)
			continue; /* unplugged meanwhile */
		if (r < 0) {
			gc_env_pci_list_free(devs, n);
			return r;
		}
		n++;
	}
	*ret_devs = devs;
	*ret_n = n;
	return 0;
}

static int pci_dev_copy(const struct gc_env_pci_dev *from, struct gc_env_pci_dev *to)
{
	char *driver = NULL;

	if (from->driver) {
		driver = strdup(from->driver);
		if (!driver)
			return -ENOMEM;
	}
	*to = *from;
	to->driver = driver;
	return 0;
}

void gc_env_gpu_list_free(struct gc_env_gpu *gpus, size_t n)
{
	for (size_t i = 0; gpus && i < n; i++) {
		gc_env_pci_dev_done(&gpus[i].pci);
		gc_env_pci_dev_done(&gpus[i].audio);
	}
	free(gpus);
}

/* Whether two canonical addresses name functions of one slot ("0000:01:00.0", ".1"). */
static bool same_slot(const char *a, const char *b)
{
	const char *dot = strrchr(a, '.');

	return dot && strneq(a, b, (size_t)(dot - a) + 1);
}

int gc_env_gpu_list(struct gc_env_gpu **ret_gpus, size_t *ret_n)
{
	struct gc_env_pci_dev *devs = NULL;
	struct gc_env_gpu *gpus;
	size_t n_devs = 0, n = 0;
	int r;

	r = gc_env_pci_list(&devs, &n_devs);
	if (r < 0)
		return r;
	gpus = calloc(n_devs + 1, sizeof(*gpus));
	if (!gpus) {
		gc_env_pci_list_free(devs, n_devs);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n_devs && r >= 0; i++) {
		struct gc_env_gpu *g = &gpus[n];
		const char *vendor;

		if (!gc_pci_class_is_display(devs[i].class))
			continue;
		r = pci_dev_copy(&devs[i], &g->pci);
		if (r < 0)
			break;
		n++;
		vendor = gc_pci_vendor_name(g->pci.vendor);
		g->vendor_name = vendor ? vendor : "other";
		for (size_t j = 0; j < n_devs && r >= 0; j++)
			if (j != i && (devs[j].class >> 8) == 0x0403 &&
			    same_slot(devs[i].address, devs[j].address)) {
				r = pci_dev_copy(&devs[j], &g->audio);
				g->has_audio = r >= 0;
				break;
			}
	}
	gc_env_pci_list_free(devs, n_devs);
	if (r < 0) {
		gc_env_gpu_list_free(gpus, n);
		return r;
	}
	*ret_gpus = gpus;
	*ret_n = n;
	return 0;
}

static bool is_version(const char *s, size_t n)
{
	bool dot = false;

	if (n == 0 || s[0] < '0' || s[0] > '9' || s[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (s[i - 1] == '.')
				return false;
			dot = true;
		} else if (s[i] < '0' || s[i] > '9')
			return false;
	}
	return dot;
}

int gc_nvidia_version_parse(const char *text, char **ret_version)
{
	const char *line = strstr(text, "NVRM version:");
	const char *end;

	if (!line)
		return -EINVAL;
	end = line + strcspn(line, "\n");
	for (const char *p = line; p < end;) {
		size_t n;

		p += strspn(p, " \t");
		n = strcspn(p, " \t\n");
		if (is_version(p, n)) {
			char *v = strndup(p, n);

			if (!v)
				return -ENOMEM;
			*ret_version = v;
			return 0;
		}
		p += n;
	}
	return -EINVAL;
}

int gc_env_nvidia_version(char **ret_version)
{
	_cleanup_free_ char *text = NULL;
	int r;

	r = gc_env__read_file("/proc/driver/nvidia/version", 64 * 1024, &text);
	if (r < 0)
		return r;
	return gc_nvidia_version_parse(text, ret_version);
}

int gc_env_render_nodes(char ***ret_paths)
{
	_cleanup_strv_free_ char **names = NULL, **paths = NULL;
	int r;

	paths = calloc(1, sizeof(*paths));
	if (!paths)
		return -ENOMEM;
	r = gc_env__list_dir("/dev/dri", &names);
	if (r < 0 && r != -ENOENT && r != -ENOTDIR)
		return r;
	for (char **name = names; name && *name; name++) {
		char *p;

		if (!startswith(*name, "renderD"))
			continue;
		if (asprintf(&p, "/dev/dri/%s", *name) < 0)
			return -ENOMEM;
		r = gc_env__strv_consume(&paths, p);
		if (r < 0)
			return r;
	}
	*ret_paths = TAKE_PTR(paths);
	return 0;
}

/* Entries of a directory that may be absent (0 then). */
static int count_entries(const char *path, char ***ret_names)
{
	_cleanup_strv_free_ char **names = NULL;
	int r;

	r = gc_env__list_dir(path, &names);
	if (r == -ENOENT || r == -ENOTDIR)
		r = 0;
	else if (r < 0)
		return r;
	else
		r = (int)gc_strv_length(names);
	if (ret_names)
		*ret_names = TAKE_PTR(names);
	return r;
}

static bool iommu_cmdline_word(const char *w)
{
	static const char *const prefixes[] = {
		"intel_iommu=",
		"amd_iommu",
		"iommu=",
		"iommu.",
		"vfio-pci.",
		"vfio_pci.",
		"vfio_iommu_type1.",
		"pcie_acs_override=",
	};

	for (size_t i = 0; i < ELEMENTSOF(prefixes); i++)
		if (startswith(w, prefixes[i]))
			return true;
	return false;
}

int gc_env_iommu_read(struct gc_env_iommu *ret)
{
	_cleanup_strv_free_ char **units = NULL, **cmdline = NULL;
	_cleanup_free_ char *text = NULL;
	const char *kind = NULL;
	int n_units, n_groups, r;

	n_units = count_entries("/sys/class/iommu", &units);
	if (n_units < 0)
		return n_units;
	n_groups = count_entries("/sys/kernel/iommu_groups", NULL);
	if (n_groups < 0)
		return n_groups;
	for (char **u = units; u && *u; u++) {
		const char *k = startswith(*u, "dmar") ? "intel-vt-d" :
				startswith(*u, "ivhd") ? "amd-vi" :
							 "other";

		if (!kind || streq(kind, "other"))
			kind = k;
	}

	cmdline = calloc(1, sizeof(*cmdline));
	if (!cmdline)
		return -ENOMEM;
	r = gc_env__read_line("/proc/cmdline", &text);
	if (r == -ENOMEM)
		return r;
	if (r >= 0) {
		char *save = NULL;

		for (char *w = strtok_r(text, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
			char *s;

			if (streq(w, "--"))
				break; /* what follows is init's */
			if (!iommu_cmdline_word(w))
				continue;
			s = strdup(w);
			if (!s)
				return -ENOMEM;
			r = gc_env__strv_consume(&cmdline, s);
			if (r < 0)
				return r;
		}
	}
	*ret = (struct gc_env_iommu){
		.enabled = n_groups > 0,
		.kind = kind,
		.n_units = (unsigned)n_units,
		.n_groups = (unsigned)n_groups,
		.cmdline = TAKE_PTR(cmdline),
	};
	return 0;
}

void gc_env_iommu_done(struct gc_env_iommu *iommu)
{
	iommu->cmdline = gc_strv_free(iommu->cmdline);
}

int gc_env_iommu_group_devices(int group, char ***ret_addresses)
{
	char path[64];
	int r;

	if (group < 0)
		return -ENOENT;
	(void)snprintf(path, sizeof(path), "/sys/kernel/iommu_groups/%d/devices", group);
	r = gc_env__list_dir(path, ret_addresses);
	return r == -ENOTDIR ? -ENOENT : r;
}

/* ---- VFIO -------------------------------------------------------------------------------- */

static bool driver_is_vfio(const char *driver)
{
	return driver && strstr(driver, "vfio");
}

/* The kernel's viability rule for the other devices of a group (vfio_dev_viable()). */
static bool group_member_is_viable(const struct gc_env_pci_dev *dev)
{
	return !dev->driver || driver_is_vfio(dev->driver) || streq(dev->driver, "pci-stub") ||
	       gc_pci_class_is_bridge(dev->class);
}

static int blocker(char ***why, const char *format, ...) _printf_(2, 3);
static int blocker(char ***why, const char *format, ...)
{
	va_list ap;
	char *s;
	int r;

	va_start(ap, format);
	r = vasprintf(&s, format, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	return gc_env__strv_consume(why, s);
}

static int bound_blocker(char ***why, const struct gc_env_pci_dev *dev, bool target)
{
	const char *what = target ? "bind it to vfio-pci first" :
				    "unbind it or bind it to vfio-pci first";

	if (!dev->driver)
		return blocker(why, "%s (%s %04x:%04x) in IOMMU group %d is bound to no driver: %s",
			       dev->address, gc_pci_class_name(dev->class), dev->vendor,
			       dev->device, dev->iommu_group, what);
	return blocker(why, "%s (%s %04x:%04x) in IOMMU group %d is bound to %s, not vfio-pci: %s",
		       dev->address, gc_pci_class_name(dev->class), dev->vendor, dev->device,
		       dev->iommu_group, dev->driver, what);
}

/* Checks the group's devices and nodes; adds a line to *why for each blocker. */
static int vfio_check_group(const struct gc_env_pci_dev *dev, char **group_devices, char ***why)
{
	char node[64];
	int r;

	if (!driver_is_vfio(dev->driver)) {
		r = bound_blocker(why, dev, true);
		if (r < 0)
			return r;
	}
	for (char **a = group_devices; a && *a; a++) {
		struct gc_env_pci_dev other = { .iommu_group = -1 };

		if (streq(*a, dev->address))
			continue;
		r = gc_env_pci_read(*a, &other);
		if (r == -ENOMEM)
			return r;
		if (r < 0)
			continue; /* not a PCI device, or gone */
		if (!group_member_is_viable(&other))
			r = bound_blocker(why, &other, false);
		gc_env_pci_dev_done(&other);
		if (r < 0)
			return r;
	}

	if (!gc_env__exists("/dev/vfio/vfio")) {
		r = blocker(why, "/dev/vfio/vfio is missing: load the vfio-pci module "
				 "(modprobe vfio-pci)");
		if (r < 0)
			return r;
	}
	(void)snprintf(node, sizeof(node), "/dev/vfio/%d", dev->iommu_group);
	if (!gc_env__exists(node))
		return blocker(why,
			       "%s is missing: it appears once IOMMU group %d is bound to "
			       "vfio-pci",
			       node, dev->iommu_group);

	_cleanup_free_ char *p = gc_env_path(node);
	if (!p)
		return -ENOMEM;
	if (access(p, R_OK | W_OK) < 0 && errno == EACCES)
		return blocker(why,
			       "no permission to open %s: run as root, or give your user "
			       "access to it (a udev rule)",
			       node);
	return 0;
}

static char *strv_join_lines(char **l)
{
	size_t size = 1;
	char *s, *p;

	for (char **i = l; i && *i; i++)
		size += strlen(*i) + 1;
	s = malloc(size);
	if (!s)
		return NULL;
	p = s;
	for (char **i = l; i && *i; i++)
		p += sprintf(p, "%s%s", i == l ? "" : "\n", *i);
	*p = '\0';
	return s;
}

int gc_env_vfio_check(const char *address, struct gc_env_vfio *ret)
{
	_cleanup_strv_free_ char **why = NULL, **group_devices = NULL;
	struct gc_env_pci_dev dev = { .iommu_group = -1 };
	char canonical[GC_PCI_ADDRESS_MAX];
	char *text = NULL;
	int r;

	if (gc_pci_address_parse(address, canonical) < 0)
		return -EINVAL;
	why = calloc(1, sizeof(*why));
	if (!why)
		return -ENOMEM;

	r = pci_read(canonical, &dev);
	if (r == -ENODEV)
		r = blocker(&why, "no PCI device %s (lspci -D lists them)", canonical);
	else if (r >= 0 && count_entries("/sys/kernel/iommu_groups", NULL) <= 0)
		r = blocker(&why, "the IOMMU is off (/sys/kernel/iommu_groups is empty): turn on "
				  "VT-d or AMD-Vi in the firmware and boot with intel_iommu=on "
				  "(Intel) or amd_iommu=on (AMD)");
	else if (r >= 0 && dev.iommu_group < 0)
		r = blocker(&why, "%s (%s %04x:%04x) is in no IOMMU group although the IOMMU is on",
			    canonical, gc_pci_class_name(dev.class), dev.vendor, dev.device);
	else if (r >= 0) {
		r = gc_env_iommu_group_devices(dev.iommu_group, &group_devices);
		if (r >= 0 || r == -ENOENT)
			r = vfio_check_group(&dev, group_devices, &why);
	}
	gc_env_pci_dev_done(&dev);
	if (r < 0)
		return r;

	if (gc_strv_length(why) > 0) {
		text = strv_join_lines(why);
		if (!text)
			return -ENOMEM;
	}
	*ret = (struct gc_env_vfio){
		.iommu_group = dev.iommu_group,
		.group_devices = TAKE_PTR(group_devices),
		.ready = !text,
		.why = text,
	};
	memcpy(ret->address, canonical, sizeof(canonical));
	return 0;
}

void gc_env_vfio_done(struct gc_env_vfio *vfio)
{
	vfio->group_devices = gc_strv_free(vfio->group_devices);
	vfio->why = mfree(vfio->why);
}
