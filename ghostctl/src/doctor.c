/* SPDX-License-Identifier: MIT */
/*
 * `ghostctl doctor`: one line per check of what VMs and passthrough need, with a status (ok,
 * info, warn, fail), the detail, and what to do where something is missing; or, with --json,
 * every detected fact as one object. The keys are documented in docs/ghostctl-doctor.md and
 * are stable: new ones may appear, none changes meaning.
 */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/macro.h"
#include "common/string-util.h"
#include "env.h"
#include "gc.h"
#include "output.h"
#include "settings.h"

enum status {
	STATUS_OK,
	STATUS_INFO,
	STATUS_WARN,
	STATUS_FAIL,
	_STATUS_MAX,
};

static const char *const status_names[_STATUS_MAX] = {
	[STATUS_OK] = "ok",
	[STATUS_INFO] = "info",
	[STATUS_WARN] = "warn",
	[STATUS_FAIL] = "fail",
};

/* Everything found: the facts for --json, and the checks in the order they are shown. */
struct doctor {
	json_t *facts;
	json_t *checks;
	enum status worst;
	unsigned n_failed;
};

/* Adds a check; hint may be NULL. Returns 0 or -ENOMEM. */
static int check(struct doctor *d, const char *name, enum status status, const char *hint,
		 const char *format, ...) _printf_(5, 6);
static int check(struct doctor *d, const char *name, enum status status, const char *hint,
		 const char *format, ...)
{
	_cleanup_free_ char *detail = NULL;
	va_list ap;
	int r;

	va_start(ap, format);
	r = vasprintf(&detail, format, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	if (json_array_append_new(d->checks, json_pack("{s:s, s:s, s:s, s:s?}", "name", name,
						       "status", status_names[status], "detail",
						       detail, "hint", hint)) < 0)
		return -ENOMEM;
	if (status == STATUS_FAIL)
		d->n_failed++;
	if (status != STATUS_INFO && status > d->worst)
		d->worst = status;
	return 0;
}

static int fact(struct doctor *d, const char *key, json_t *value)
{
	return json_object_set_new(d->facts, key, value) < 0 ? -ENOMEM : 0;
}

static json_t *strv_json(char *const *l)
{
	json_t *a = json_array();

	for (; a && l && *l; l++)
		if (json_array_append_new(a, json_string(*l)) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static json_t *hex16_json(uint16_t v)
{
	char s[8];

	(void)snprintf(s, sizeof(s), "%04x", v);
	return json_string(s);
}

/* Space-separated words into buf, for details ("tcg kvm"); "none" when empty. */
static const char *join(char *const *l, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (; l && *l && len < size; l++)
		len += (size_t)snprintf(buf + len, size - len, "%s%s", len > 0 ? " " : "", *l);
	return buf[0] != '\0' ? buf : "none";
}

/* ---- The checks -------------------------------------------------------------------------- */

static int check_root(struct doctor *d)
{
	const char *root = gc_env_root();

	if (fact(d, "root", json_string(root)) < 0)
		return -ENOMEM;
	if (isempty(root))
		return 0;
	return check(d, "root", STATUS_INFO, NULL,
		     "GHOSTCTL_ROOT=%s: /sys, /proc, /dev and /etc are read from there", root);
}

static int check_user(struct doctor *d)
{
	bool root = gc_env_is_root();
	int kvm = gc_env_in_group("kvm");

	if (kvm == -ENOMEM)
		return kvm;
	if (fact(d, "user",
		 json_pack("{s:I, s:b, s:o}", "uid", (json_int_t)geteuid(), "root", root,
			   "kvm_group", kvm < 0 ? json_null() : json_boolean(kvm > 0))) < 0)
		return -ENOMEM;
	if (root)
		return check(d, "user", STATUS_OK, NULL, "running as root");
	return check(d, "user", STATUS_INFO, NULL,
		     "running as uid %u, %s group kvm; VFIO passthrough and some checks need root",
		     (unsigned)geteuid(), kvm > 0 ? "in" : "not in");
}

static int check_cpu(struct doctor *d)
{
	struct gc_env_cpu cpu = { .flags = NULL };
	char list[256] = "";
	const char *virt;
	json_t *features;
	size_t len = 0;
	int r;

	r = gc_env_cpu_read(&cpu);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		if (fact(d, "cpu", json_null()) < 0)
			return -ENOMEM;
		return check(d, "cpu", STATUS_WARN, NULL, "cannot read /proc/cpuinfo: %s",
			     strerror(-r));
	}
	features = json_array();
	for (const char *const *f = gc_env_cpu_features; features && *f; f++) {
		if (!gc_env_cpu_has(&cpu, *f))
			continue;
		if (json_array_append_new(features, json_string(*f)) < 0) {
			json_decref(features);
			features = NULL;
		} else if (len < sizeof(list))
			len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
						len > 0 ? " " : "", *f);
	}
	virt = gc_env_cpu_virt(&cpu);
	r = fact(d, "cpu",
		 json_pack("{s:s?, s:s?, s:i, s:s?, s:b, s:o}", "vendor", cpu.vendor, "model",
			   cpu.model, "logical_cpus", (int)cpu.n_cpus, "virtualization", virt,
			   "hypervisor", gc_env_cpu_has(&cpu, "hypervisor"), "features", features));
	if (r >= 0)
		r = check(d, "cpu", STATUS_INFO, NULL,
			  "%s (%s), %u logical CPU%s; virtualization: %s%s; features: %s",
			  cpu.model ? cpu.model : "unknown model",
			  cpu.vendor ? cpu.vendor : "unknown vendor", cpu.n_cpus,
			  cpu.n_cpus == 1 ? "" : "s", virt ? virt : "neither vmx nor svm",
			  gc_env_cpu_has(&cpu, "hypervisor") ?
				  "; this machine is a virtual machine" :
				  "",
			  len > 0 ? list : "none");
	gc_env_cpu_done(&cpu);
	return r;
}

static int check_kvm(struct doctor *d, bool tcg)
{
	const struct gc_env_kvm *k = gc_env_kvm();
	json_t *api;
	int r;

	if (!k)
		return -ENOMEM;
	api = k->api_version >= 0 ? json_integer(k->api_version) : json_null();
	r = fact(d, "kvm",
		 json_pack("{s:s, s:b, s:b, s:b, s:o, s:b, s:b, s:s?, s:s?, s:s?}", "state",
			   gc_kvm_state_to_string(k->state), "usable", k->state == GC_KVM_USABLE,
			   "present", k->present, "opened", k->opened, "api_version", api,
			   "real_mode", k->real_mode, "long_mode", k->long_mode, "module",
			   k->module, "reason", k->reason, "hint", k->hint));
	if (r < 0)
		return r;
	if (fact(d, "accel",
		 k->state == GC_KVM_USABLE ? json_string("kvm") :
		 tcg			   ? json_string("tcg") :
					     json_null()) < 0)
		return -ENOMEM;

	if (k->state == GC_KVM_USABLE)
		return check(d, "kvm", STATUS_OK, NULL,
			     "usable: a real-mode and a 64-bit guest ran (API %d%s%s); VMs will "
			     "use KVM",
			     k->api_version, k->module ? ", " : "", k->module ? k->module : "");
	return check(d, "kvm", tcg ? STATUS_WARN : STATUS_FAIL, k->hint, "not usable: %s; %s",
		     k->reason,
		     tcg ? "VMs will run under TCG, much slower" :
			   "without QEMU's TCG to fall back on, no VM can run");
}

static int check_iommu(struct doctor *d, const char *vendor)
{
	struct gc_env_iommu iommu = { .cmdline = NULL };
	char buf[256];
	int r;

	r = gc_env_iommu_read(&iommu);
	if (r < 0)
		return r;
	r = fact(d, "iommu",
		 json_pack("{s:b, s:s?, s:i, s:i, s:o}", "enabled", iommu.enabled, "kind",
			   iommu.kind, "units", (int)iommu.n_units, "groups", (int)iommu.n_groups,
			   "cmdline", strv_json(iommu.cmdline)));
	if (r < 0)
		goto finish;
	if (iommu.enabled)
		r = check(d, "iommu", STATUS_OK, NULL,
			  "on: %s, %u unit%s, %u group%s; kernel command line: %s",
			  iommu.kind ? iommu.kind : "unknown kind", iommu.n_units,
			  iommu.n_units == 1 ? "" : "s", iommu.n_groups,
			  iommu.n_groups == 1 ? "" : "s", join(iommu.cmdline, buf, sizeof(buf)));
	else
		r = check(d, "iommu", STATUS_INFO,
			  streq_ptr(vendor, "AuthenticAMD") ?
				  "turn on the IOMMU (AMD-Vi) in the firmware setup; amd_iommu=on "
				  "if the kernel leaves it off" :
				  "turn on VT-d in the firmware setup and boot with intel_iommu=on",
			  "off: no IOMMU groups (PCI passthrough needs them); kernel command "
			  "line: %s",
			  join(iommu.cmdline, buf, sizeof(buf)));
finish:
	gc_env_iommu_done(&iommu);
	return r;
}

static json_t *pci_json(const struct gc_env_pci_dev *p)
{
	char class[16];

	(void)snprintf(class, sizeof(class), "0x%06x", p->class);
	return json_pack("{s:s, s:o, s:o, s:s, s:s, s:s?, s:o, s:b}", "address", p->address,
			 "vendor_id", hex16_json(p->vendor), "device_id", hex16_json(p->device),
			 "class", class, "class_name", gc_pci_class_name(p->class), "driver",
			 p->driver, "iommu_group",
			 p->iommu_group >= 0 ? json_integer(p->iommu_group) : json_null(),
			 "boot_vga", p->boot_vga);
}

static int check_gpu(struct doctor *d, json_t *list, const struct gc_env_gpu *g, const char *nvidia)
{
	_cleanup_free_ char *group = NULL, *audio = NULL;
	struct gc_env_vfio vfio = { .why = NULL };
	const char *drv = g->pci.driver, *version = NULL;
	bool vfio_bound = drv && strstr(drv, "vfio");
	json_t *o;
	int r;

	if (drv && streq(drv, "nvidia"))
		version = nvidia;
	r = gc_env_vfio_check(g->pci.address, &vfio);
	if (r < 0)
		return r;
	o = pci_json(&g->pci);
	if (!o || json_object_set_new(o, "vendor", json_string(g->vendor_name)) < 0 ||
	    json_object_set_new(o, "driver_version", version ? json_string(version) : json_null()) <
		    0 ||
	    json_object_set_new(o, "audio", g->has_audio ? pci_json(&g->audio) : json_null()) < 0 ||
	    json_object_set_new(o, "passthrough",
				json_pack("{s:b, s:s?}", "ready", vfio.ready, "why", vfio.why)) <
		    0 ||
	    json_array_append_new(list, o) < 0) {
		gc_env_vfio_done(&vfio);
		return -ENOMEM;
	}

	if ((g->pci.iommu_group >= 0 &&
	     asprintf(&group, ", IOMMU group %d", g->pci.iommu_group) < 0) ||
	    (g->has_audio && asprintf(&audio, "; audio %s (%s)", g->audio.address,
				      g->audio.driver ? g->audio.driver : "no driver") < 0)) {
		gc_env_vfio_done(&vfio);
		return -ENOMEM;
	}
	r = check(d, "gpu",
		  vfio_bound ? (vfio.ready ? STATUS_OK : STATUS_WARN) :
		  drv	     ? STATUS_INFO :
			       STATUS_WARN,
		  vfio_bound ? vfio.why :
		  drv	     ? NULL :
			       "no driver is bound: install one (nvidia, amdgpu, i915), or bind "
			       "vfio-pci to pass the GPU through",
		  "%s %s %04x:%04x (%s), driver %s%s%s%s%s%s%s", g->pci.address, g->vendor_name,
		  g->pci.vendor, g->pci.device, gc_pci_class_name(g->pci.class), drv ? drv : "none",
		  version ? " " : "", version ? version : "", group ? group : "",
		  g->pci.boot_vga ? ", boot VGA" : "", audio ? audio : "",
		  vfio_bound ?
			  (vfio.ready ? "; ready for passthrough" : "; passthrough is blocked") :
			  "");
	gc_env_vfio_done(&vfio);
	return r;
}

static int check_gpus(struct doctor *d)
{
	_cleanup_free_ char *nvidia = NULL;
	_cleanup_strv_free_ char **nodes = NULL;
	struct gc_env_gpu *gpus = NULL;
	json_t *list;
	size_t n = 0;
	int r;

	r = gc_env_nvidia_version(&nvidia);
	if (r == -ENOMEM)
		return r;
	r = gc_env_render_nodes(&nodes);
	if (r < 0)
		return r;
	if (fact(d, "nvidia_driver", nvidia ? json_string(nvidia) : json_null()) < 0 ||
	    fact(d, "render_nodes", strv_json(nodes)) < 0)
		return -ENOMEM;

	r = gc_env_gpu_list(&gpus, &n);
	if (r < 0)
		return r;
	list = json_array();
	if (fact(d, "gpus", list) < 0) {
		gc_env_gpu_list_free(gpus, n);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n && r >= 0; i++)
		r = check_gpu(d, list, &gpus[i], nvidia);
	gc_env_gpu_list_free(gpus, n);
	if (r < 0)
		return r;
	if (n == 0)
		return check(d, "gpu", STATUS_INFO, NULL, "no GPU found (no PCI display device)");
	return 0;
}

static int check_usb(struct doctor *d)
{
	struct gc_env_usb_dev *devs = NULL;
	json_t *list;
	size_t n = 0;
	int r;

	r = gc_env_usb_list(&devs, &n);
	if (r < 0)
		return r;
	list = json_array();
	r = fact(d, "usb", list);
	for (size_t i = 0; i < n && r >= 0; i++) {
		const struct gc_env_usb_dev *u = &devs[i];

		if (json_array_append_new(
			    list, json_pack("{s:s, s:i, s:i, s:o, s:o, s:s?, s:s?}", "name",
					    u->name, "bus", (int)u->bus, "device", (int)u->device,
					    "vendor_id", hex16_json(u->vendor), "product_id",
					    hex16_json(u->product), "manufacturer", u->manufacturer,
					    "product", u->product_name)) < 0)
			r = -ENOMEM;
		/* Root hubs (vendor 1d6b, Linux) cannot be passed through. */
		else if (u->vendor != 0x1d6b)
			r = check(d, "usb", STATUS_INFO, NULL,
				  "%04x:%04x %s%s%s (bus %u, device %u)", u->vendor, u->product,
				  u->manufacturer ? u->manufacturer : "",
				  u->manufacturer && u->product_name ? " " : "",
				  u->product_name ? u->product_name : "", u->bus, u->device);
	}
	gc_env_usb_list_free(devs, n);
	return r;
}

static int check_session(struct doctor *d)
{
	const char *type = getenv("XDG_SESSION_TYPE"), *wayland = getenv("WAYLAND_DISPLAY"),
		   *x11 = getenv("DISPLAY");
	enum gc_session s = gc_env_session();

	if (fact(d, "session",
		 json_pack("{s:s, s:s?, s:s?, s:s?}", "type", gc_session_to_string(s),
			   "xdg_session_type", type, "wayland_display", wayland, "display", x11)) <
	    0)
		return -ENOMEM;
	switch (s) {
	case GC_SESSION_WAYLAND:
		return check(d, "session", STATUS_INFO, NULL, "wayland (WAYLAND_DISPLAY=%s)",
			     wayland ? wayland : "");
	case GC_SESSION_X11:
		return check(d, "session", STATUS_INFO, NULL, "x11 (DISPLAY=%s)", x11 ? x11 : "");
	case GC_SESSION_TTY:
		return check(d, "session", STATUS_INFO, NULL, "a text console (tty)");
	default:
		return check(d, "session", STATUS_INFO, NULL,
			     "none: no graphical session (no WAYLAND_DISPLAY or DISPLAY)");
	}
}

static int check_display(struct doctor *d, const char *qemu)
{
	struct gc_display_advice a;

	gc_env_recommend_display(qemu, &a);
	if (fact(d, "display",
		 json_pack("{s:s, s:b, s:s}", "recommended", gc_display_to_string(a.display), "gl",
			   a.gl, "reason", a.reason)) < 0)
		return -ENOMEM;
	return check(d, "display", STATUS_INFO, NULL, "recommended: %s%s (%s)",
		     gc_display_to_string(a.display), a.gl ? ",gl=on" : "", a.reason);
}

/* What each device of gc_env_qemu_devices is for, when it is missing. */
static const char *device_purpose(const char *device)
{
	static const struct {
		const char *device, *purpose;
	} purposes[] = {
		{ "vfio-pci", "PCI passthrough" },
		{ "virtio-vga-gl", "3D in the guest (virgl)" },
		{ "virtio-vga", "the virtio display" },
		{ "qxl-vga", "SPICE's QXL display" },
		{ "nvme", "NVMe disks" },
		{ "virtio-9p-pci", "9p shared folders" },
		{ "vhost-user-fs-pci", "virtiofs shared folders" },
		{ "usb-host", "USB passthrough" },
		{ "qemu-xhci", "the USB 3 controller" },
		{ "virtio-net-pci", "virtio networking" },
	};

	for (size_t i = 0; i < ELEMENTSOF(purposes); i++)
		if (streq(purposes[i].device, device))
			return purposes[i].purpose;
	return "";
}

static int check_qemu(struct doctor *d, const char *name)
{
	const struct gc_env_qemu *q = NULL;
	char missing[512] = "", buf[512];
	json_t *devices;
	size_t len = 0;
	bool tcg;
	int r;

	r = gc_env_qemu(name, &q);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		if (fact(d, "qemu",
			 json_pack("{s:s, s:n, s:n, s:s, s:[], s:[], s:b, s:{}}", "name", name,
				   "path", "version", "error", strerror(-r), "accelerators",
				   "displays", "spice", false, "devices")) < 0)
			return -ENOMEM;
		if (r == -ENOENT)
			return check(d, "qemu", STATUS_FAIL,
				     "install QEMU (Debian: qemu-system-x86), or point vm.qemu at "
				     "it",
				     "'%s' not found%s", name, strchr(name, '/') ? "" : " in PATH");
		return check(d, "qemu", STATUS_FAIL, "check that it runs: QEMU --version",
			     "'%s' does not work: %s", name, strerror(-r));
	}

	devices = json_object();
	for (const char *const *dev = gc_env_qemu_devices; devices && *dev; dev++) {
		bool has = gc_strv_contains(q->devices, *dev);

		if (json_object_set_new(devices, *dev, json_boolean(has)) < 0) {
			json_decref(devices);
			devices = NULL;
		} else if (!has && len < sizeof(missing))
			len += (size_t)snprintf(missing + len, sizeof(missing) - len, "%s%s (%s)",
						len > 0 ? ", " : "", *dev, device_purpose(*dev));
	}
	if (fact(d, "qemu",
		 json_pack("{s:s, s:s, s:s, s:n, s:o, s:o, s:b, s:o}", "name", name, "path",
			   q->path, "version", q->version, "error", "accelerators",
			   strv_json(q->accelerators), "displays", strv_json(q->displays), "spice",
			   q->spice, "devices", devices)) < 0)
		return -ENOMEM;

	tcg = gc_strv_contains(q->accelerators, "tcg");
	r = check(d, "qemu",
		  tcg || gc_strv_contains(q->accelerators, "kvm") ? STATUS_OK : STATUS_FAIL,
		  tcg ? NULL : "use a QEMU built with TCG, which runs VMs without KVM",
		  "%s %s; accelerators: %s", q->path, q->version,
		  join(q->accelerators, buf, sizeof(buf)));
	if (r < 0)
		return r;
	r = check(d, "qemu-devices", len > 0 ? STATUS_WARN : STATUS_OK,
		  len > 0 ? "use a QEMU build with these devices" : NULL, "%s%s",
		  len > 0 ? "missing: " : "all there: ",
		  len > 0 ? missing : join((char **)gc_env_qemu_devices, buf, sizeof(buf)));
	if (r < 0)
		return r;
	return check(d, "qemu-displays", STATUS_INFO,
		     gc_strv_contains(q->displays, "gtk") ?
			     NULL :
			     "install qemu-system-gui for the gtk and sdl displays",
		     "%s; spice: %s", join(q->displays, buf, sizeof(buf)), yes_no(q->spice));
}

static int check_virtiofsd(struct doctor *d, const char *name)
{
	_cleanup_free_ char *path = NULL;
	int r;

	r = gc_env_find_program(name, &path);
	if (r == -ENOMEM)
		return r;
	if (fact(d, "virtiofsd", json_pack("{s:s, s:s?}", "name", name, "path", path)) < 0)
		return -ENOMEM;
	if (path)
		return check(d, "virtiofsd", STATUS_OK, NULL, "%s: shared folders use virtiofs",
			     path);
	return check(d, "virtiofsd", STATUS_INFO,
		     "install virtiofsd (Debian 12: qemu-system-common; later: the virtiofsd "
		     "package), or point vm.virtiofsd at it",
		     "'%s' not found: shared folders fall back to 9p", name);
}

/* ---- Output ------------------------------------------------------------------------------ */

static bool use_color(const struct gc_settings *s)
{
	const char *mode = gc_settings_get(s, GC_SETTING_COLOR);

	if (streq(mode, "always"))
		return true;
	if (streq(mode, "never"))
		return false;
	return isatty(STDOUT_FILENO) && isempty(getenv("NO_COLOR"));
}

static void print_checks(json_t *checks, bool color)
{
	static const char *const colors[_STATUS_MAX] = {
		[STATUS_OK] = "\033[32m",
		[STATUS_INFO] = "\033[34m",
		[STATUS_WARN] = "\033[33m",
		[STATUS_FAIL] = "\033[1;31m",
	};
	size_t i;
	json_t *c;

	json_array_foreach(checks, i, c)
	{
		const char *status = json_string_value(json_object_get(c, "status"));
		const char *hint = json_string_value(json_object_get(c, "hint"));
		unsigned st = 0;

		while (st < _STATUS_MAX && !streq(status_names[st], status))
			st++;
		printf("%s%-4s%s  %-13s %s\n", color ? colors[st % _STATUS_MAX] : "", status,
		       color ? "\033[0m" : "", json_string_value(json_object_get(c, "name")),
		       json_string_value(json_object_get(c, "detail")));
		/* A hint may hold several lines (VFIO blockers): each gets its own "fix:". */
		for (const char *p = hint; p && *p;) {
			size_t n = strcspn(p, "\n");

			printf("%-20s%sfix:%s %.*s\n", "", color ? "\033[1m" : "",
			       color ? "\033[0m" : "", (int)n, p);
			p += n;
			if (*p == '\n')
				p++;
		}
	}
}

int gc_doctor_run(struct gc_cmd *cmd, int n_args, char **args)
{
	const char *qemu = gc_settings_get(cmd->settings, GC_SETTING_VM_QEMU);
	const char *virtiofsd = gc_settings_get(cmd->settings, GC_SETTING_VM_VIRTIOFSD);
	_cleanup_(json_decrefp) json_t *facts = json_object(), *checks = json_array();
	struct doctor d = { .facts = facts, .checks = checks, .worst = STATUS_OK };
	const struct gc_env_qemu *q = NULL;
	bool tcg;
	int r;

	if (!facts || !checks)
		return log_oom();
	/* The KVM verdict depends on whether QEMU has TCG to fall back on: probe QEMU first. */
	r = gc_env_qemu(qemu, &q);
	if (r == -ENOMEM)
		return log_oom();
	tcg = r >= 0 && gc_strv_contains(q->accelerators, "tcg");

	r = check_root(&d);
	if (r >= 0)
		r = check_user(&d);
	if (r >= 0)
		r = check_cpu(&d);
	if (r >= 0)
		r = check_kvm(&d, tcg);
	if (r >= 0)
		r = check_iommu(&d, json_string_value(json_object_get(json_object_get(facts, "cpu"),
								      "vendor")));
	if (r >= 0)
		r = check_gpus(&d);
	if (r >= 0)
		r = check_session(&d);
	if (r >= 0)
		r = check_display(&d, qemu);
	if (r >= 0)
		r = check_qemu(&d, qemu);
	if (r >= 0)
		r = check_virtiofsd(&d, virtiofsd);
	if (r >= 0)
		r = check_usb(&d);
	if (r < 0)
		return log_error_errno(r, "Failed to examine this machine: %m");

	if (cmd->json) {
		if (fact(&d, "checks", json_incref(checks)) < 0 ||
		    fact(&d, "status", json_string(status_names[d.worst])) < 0)
			return log_oom();
		r = gc_json_print(facts);
		if (r < 0)
			return r;
	} else {
		print_checks(checks, use_color(cmd->settings));
		if (fflush(stdout) == EOF)
			return log_error_errno(EIO, "Failed to write to standard output: %m");
	}
	/* A failed check is the verb's failure, reported by the check itself: exit 1. */
	if (d.n_failed > 0) {
		log_debug("%u checks failed.", d.n_failed);
		return -EHOSTDOWN;
	}
	return 0;
}
