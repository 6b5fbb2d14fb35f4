/* SPDX-License-Identifier: MIT */
/*
 * Environment detection shared by every verb: what this machine offers to virtual machines.
 * `ghostctl doctor` shows all of it; `ghostctl vm` asks it which accelerator to use, which
 * display to recommend, whether a PCI device can be passed through and whether a USB device
 * is there.
 *
 * The root prefix. Every read of /sys, /proc, /dev and /etc goes through the prefix in
 * $GHOSTCTL_ROOT (default: none), so that tests and diagnosis can point ghostctl at a fake
 * tree: GHOSTCTL_ROOT=/tmp/fake makes /sys/bus/pci/devices mean
 * /tmp/fake/sys/bus/pci/devices. It is a test and diagnostic hook, not a setting: programs
 * (QEMU, virtiofsd) and the environment variables of the session are never prefixed.
 * Messages name paths without the prefix, as the user would see them on a real machine.
 *
 * The files are split by subsystem: env.c (the prefix, CPU, user, session, display advice),
 * env-pci.c (PCI, GPUs, IOMMU, VFIO), env-usb.c, env-kvm.c (the probe) and env-qemu.c.
 *
 * Errors are negative errno values; ret_ parameters are written only on success. Strings in
 * structs are owned by the struct and freed by its _done() or _free() function, except those
 * documented as static. Nothing here is thread-safe: the caches are per process, unlocked.
 */
#ifndef GC_ENV_H
#define GC_ENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/macro.h"
#include "strv.h"

#define GC_ENV_ROOT_VAR "GHOSTCTL_ROOT"

/* The root prefix: $GHOSTCTL_ROOT without trailing slashes, or "" when unset. */
const char *gc_env_root(void);

/* The prefixed form of an absolute path (root + path). NULL only when out of memory. */
char *gc_env_path(const char *path);

/* Forgets every cached result (KVM probe, QEMU probes), for tests that change the root. */
void gc_env_cache_flush(void);

/* String lists are strv (strv.h), as the structs below hold them. */

/* ---- The user ---------------------------------------------------------------------------- */

/* True when the effective user is root. */
bool gc_env_is_root(void);

/*
 * Whether the process is a member of group `name` (effective, real or supplementary), the
 * group being looked up in $GHOSTCTL_ROOT/etc/group, and through NSS when the root is "".
 * Returns 1 (member), 0 (not), -ENOENT (no such group), or -ENOMEM.
 */
int gc_env_in_group(const char *name);

/* ---- The CPU ----------------------------------------------------------------------------- */

struct gc_env_cpu {
	char *vendor;	 /* vendor_id: "GenuineIntel", "AuthenticAMD"; NULL when not given */
	char *model;	 /* "model name"; NULL when not given */
	unsigned n_cpus; /* logical CPUs ("processor" entries) */
	char *flags;	 /* the whole "flags" line, space separated; "" when not given */
};

/* The flags `doctor` reports when present, NULL-terminated: avx2, avx512f, aes, x2apic, ... */
extern const char *const gc_env_cpu_features[];

/* Reads /proc/cpuinfo (the first CPU's vendor, model and flags). -errno if unreadable. */
int gc_env_cpu_read(struct gc_env_cpu *ret);
void gc_env_cpu_done(struct gc_env_cpu *cpu);

/* Whether `flag` is one of the CPU's flags (a whole word of the flags line). */
bool gc_env_cpu_has(const struct gc_env_cpu *cpu, const char *flag);

/* "vmx" (Intel VT-x), "svm" (AMD-V) or NULL: hardware virtualization as the CPU shows it. */
const char *gc_env_cpu_virt(const struct gc_env_cpu *cpu);

/* ---- KVM --------------------------------------------------------------------------------- */

enum gc_kvm_state {
	GC_KVM_ABSENT,	  /* no /dev/kvm */
	GC_KVM_NO_ACCESS, /* /dev/kvm exists but this user may not open it */
	GC_KVM_BROKEN,	  /* /dev/kvm exists (and maybe opens) but cannot run a guest */
	GC_KVM_USABLE,	  /* a real-mode and a 64-bit guest ran to their expected exits */
	_GC_KVM_STATE_MAX,
};

struct gc_env_kvm {
	enum gc_kvm_state state;
	bool present;	    /* /dev/kvm exists */
	bool opened;	    /* and opened read-write */
	int api_version;    /* KVM_GET_API_VERSION, -1 when not read; 12 is the only good one */
	bool real_mode;	    /* a real-mode guest did OUT then HLT, as firmware needs */
	bool long_mode;	    /* a 64-bit guest did, as a kernel needs */
	const char *module; /* static: "kvm_intel", "kvm_amd", "kvm_pvm", "kvm" or NULL */
	char *reason;	    /* one line, why it is not usable; NULL when usable */
	char *hint;	    /* what to do about it; NULL when there is nothing to do */
};

#define GC_KVM_PROBE_TIMEOUT_MS 5000

/*
 * Probes $GHOSTCTL_ROOT/dev/kvm: opens it, checks the API version and the capabilities QEMU
 * needs, then runs two tiny guests, one in real mode (as firmware starts) and one in 64-bit
 * long mode (as a kernel runs), each doing `mov $42,%al; out %al,$0x10; hlt`. "Usable" means
 * both ran to KVM_EXIT_IO then KVM_EXIT_HLT. The guests run in a forked child that is killed
 * after timeout_ms (<= 0: GC_KVM_PROBE_TIMEOUT_MS), so a hung KVM_RUN cannot hang ghostctl.
 * Always gives a definite answer with a reason unless it fails itself: -ENOMEM, or the
 * -errno of pipe/mmap/fork.
 */
int gc_env_kvm_probe(int timeout_ms, struct gc_env_kvm *ret);
void gc_env_kvm_done(struct gc_env_kvm *kvm);

/* The probe's result, run once per process and cached. NULL only when the probe failed. */
const struct gc_env_kvm *gc_env_kvm(void);

/* What `vm` uses for accel=auto: true only when the cached probe says GC_KVM_USABLE. */
bool gc_env_kvm_usable(void);

/* "absent", "no-access", "broken", "usable". */
const char *gc_kvm_state_to_string(enum gc_kvm_state state);

/* ---- PCI, GPUs, IOMMU, VFIO -------------------------------------------------------------- */

/* "ffffffff:ff:1f.7" and its NUL. */
#define GC_PCI_ADDRESS_MAX 17

#define GC_PCI_VENDOR_NVIDIA 0x10de
#define GC_PCI_VENDOR_AMD 0x1002
#define GC_PCI_VENDOR_INTEL 0x8086

/*
 * Parses a PCI address from a user: "DOMAIN:BUS:SLOT.FUNCTION" or "BUS:SLOT.FUNCTION" (domain
 * 0), hexadecimal in either case: a domain of 4 to 8 digits, a bus of 2, a slot of 2 (at most
 * 1f) and a function of 1 (0 to 7), nothing before or after. Writes the canonical form
 * ("0000:01:00.0", lowercase, the domain in at least 4 digits) to ret. -EINVAL otherwise.
 * Pure: reads no file.
 */
int gc_pci_address_parse(const char *s, char ret[static GC_PCI_ADDRESS_MAX]);

/* "NVIDIA", "AMD", "Intel"; NULL for other vendors. */
const char *gc_pci_vendor_name(uint16_t vendor);

/* lspci's name of a class ("VGA compatible controller", "Audio device"); "PCI device" else. */
const char *gc_pci_class_name(uint32_t class);

static inline bool gc_pci_class_is_display(uint32_t class)
{
	return (class >> 16) == 0x03;
}

static inline bool gc_pci_class_is_bridge(uint32_t class)
{
	return (class >> 16) == 0x06;
}

struct gc_env_pci_dev {
	char address[GC_PCI_ADDRESS_MAX]; /* canonical, "0000:01:00.0" */
	uint32_t class;			  /* 24 bits: 0x030000 VGA, 0x040300 audio, ... */
	uint16_t vendor;
	uint16_t device;
	char *driver;	 /* the bound driver ("nvidia", "vfio-pci"); NULL when none */
	int iommu_group; /* -1 when the device is in none */
	bool boot_vga;	 /* the firmware's console GPU */
};

/* Reads one device from /sys/bus/pci/devices. -EINVAL (malformed address), -ENODEV (none). */
int gc_env_pci_read(const char *address, struct gc_env_pci_dev *ret);
void gc_env_pci_dev_done(struct gc_env_pci_dev *dev);

/* Every PCI device, sorted by address; an empty list (NULL, 0) when there is no PCI bus. */
int gc_env_pci_list(struct gc_env_pci_dev **ret_devs, size_t *ret_n);
void gc_env_pci_list_free(struct gc_env_pci_dev *devs, size_t n);

struct gc_env_gpu {
	struct gc_env_pci_dev pci;
	const char *vendor_name;     /* static: gc_pci_vendor_name(), or "other" */
	bool has_audio;		     /* an audio function in the same slot (HDMI audio) */
	struct gc_env_pci_dev audio; /* valid when has_audio */
};

/* The display-class devices (class 0x03xxxx) with their audio functions, sorted. */
int gc_env_gpu_list(struct gc_env_gpu **ret_gpus, size_t *ret_n);
void gc_env_gpu_list_free(struct gc_env_gpu *gpus, size_t n);

/*
 * The version in the text of /proc/driver/nvidia/version ("NVRM version: NVIDIA UNIX x86_64
 * Kernel Module  535.104.05  Sat Aug ..." gives "535.104.05"). -EINVAL when there is none.
 */
int gc_nvidia_version_parse(const char *text, char **ret_version);

/* The loaded NVIDIA driver's version from /proc/driver/nvidia/version; -ENOENT if none. */
int gc_env_nvidia_version(char **ret_version);

/* The DRM render nodes ("/dev/dri/renderD128", unprefixed), sorted; an empty list is {NULL}. */
int gc_env_render_nodes(char ***ret_paths);

struct gc_env_iommu {
	bool enabled;	   /* /sys/kernel/iommu_groups has groups */
	const char *kind;  /* static: "intel-vt-d" (dmar*), "amd-vi" (ivhd*), "other"; NULL */
	unsigned n_units;  /* entries of /sys/class/iommu */
	unsigned n_groups; /* entries of /sys/kernel/iommu_groups */
	char **cmdline;	   /* IOMMU words of /proc/cmdline ("intel_iommu=on", "iommu=pt") */
};

int gc_env_iommu_read(struct gc_env_iommu *ret);
void gc_env_iommu_done(struct gc_env_iommu *iommu);

/* The addresses of the devices in an IOMMU group, sorted. -ENOENT when there is no group. */
int gc_env_iommu_group_devices(int group, char ***ret_addresses);

struct gc_env_vfio {
	char address[GC_PCI_ADDRESS_MAX]; /* canonical */
	int iommu_group;		  /* -1 when unknown */
	char **group_devices;		  /* the group's devices, sorted; NULL when no group */
	bool ready;			  /* QEMU's vfio-pci can take the device */
	char *why;			  /* NULL when ready; else one line per blocker */
};

/*
 * Checks that the PCI device at `address` (as gc_pci_address_parse() takes it) can be passed
 * through with VFIO: it exists; the IOMMU is on; it is in an IOMMU group; it is bound to
 * vfio-pci; every other device of its group is bound to a vfio driver or pci-stub, or to no
 * driver, or is a PCI bridge (the kernel's rule for a viable group); /dev/vfio/vfio and
 * /dev/vfio/GROUP exist and can be opened. Each blocker is one line of `why` saying what to
 * do, such as "0000:01:00.1 (Audio device 10de:10f0) in IOMMU group 14 is bound to
 * snd_hda_intel, not vfio-pci: unbind it or bind it to vfio-pci first".
 * Returns 0 with the verdict in ret, -EINVAL for a malformed address, or -ENOMEM.
 */
int gc_env_vfio_check(const char *address, struct gc_env_vfio *ret);
void gc_env_vfio_done(struct gc_env_vfio *vfio);

/* ---- Networking ------------------------------------------------------------------------- */

/*
 * Whether QEMU can use a tap device (it exists and, unless we are root, is ours) or a
 * bridge (it exists and /etc/qemu/bridge.conf lets QEMU's bridge helper use it). Return 0
 * when it can; 1 with one line in *ret_why (the caller frees it) saying what to do when it
 * cannot; or -ENOMEM.
 */
int gc_env_tap_check(const char *tap, char **ret_why);
int gc_env_bridge_check(const char *bridge, char **ret_why);

/* ---- USB --------------------------------------------------------------------------------- */

/*
 * Parses a USB id from a user, "VVVV:PPPP" (exactly 4 hexadecimal digits each, either case,
 * nothing else), as in "046d:c52b". -EINVAL otherwise. Pure: reads no file.
 */
int gc_usb_id_parse(const char *s, uint16_t *ret_vendor, uint16_t *ret_product);

struct gc_env_usb_dev {
	char *name; /* the sysfs name, "1-2.3" */
	uint16_t vendor;
	uint16_t product;
	unsigned bus;	    /* busnum; 0 when not given */
	unsigned device;    /* devnum; 0 when not given */
	char *manufacturer; /* NULL when the device gives none */
	char *product_name; /* NULL when the device gives none */
};

/* Every USB device (not interface) in /sys/bus/usb/devices, sorted by bus and device. */
int gc_env_usb_list(struct gc_env_usb_dev **ret_devs, size_t *ret_n);
void gc_env_usb_list_free(struct gc_env_usb_dev *devs, size_t n);
void gc_env_usb_dev_done(struct gc_env_usb_dev *dev);

/* The first device with this vendor:product. -ENOENT when none is plugged in. */
int gc_env_usb_find(uint16_t vendor, uint16_t product, struct gc_env_usb_dev *ret);

/* ---- The session and the display advice -------------------------------------------------- */

enum gc_session {
	GC_SESSION_NONE,    /* no graphical session and no login tty known (ssh, a service) */
	GC_SESSION_TTY,	    /* XDG_SESSION_TYPE=tty */
	GC_SESSION_X11,	    /* XDG_SESSION_TYPE=x11, or DISPLAY */
	GC_SESSION_WAYLAND, /* XDG_SESSION_TYPE=wayland, or WAYLAND_DISPLAY */
	_GC_SESSION_MAX,
};

/*
 * The session from the values of XDG_SESSION_TYPE, WAYLAND_DISPLAY and DISPLAY (each may be
 * NULL). An explicit "wayland" or "x11" type wins; then WAYLAND_DISPLAY, then DISPLAY; then
 * type "tty"; otherwise none. Pure.
 */
enum gc_session gc_session_from(const char *xdg_session_type, const char *wayland_display,
				const char *display);

/* gc_session_from() of this process's environment. */
enum gc_session gc_env_session(void);

/* "none", "tty", "x11", "wayland". */
const char *gc_session_to_string(enum gc_session session);

enum gc_display {
	GC_DISPLAY_NONE,
	GC_DISPLAY_GTK,
	GC_DISPLAY_SDL,
	GC_DISPLAY_SPICE,
	GC_DISPLAY_VNC,
	_GC_DISPLAY_MAX,
};

/* "none", "gtk", "sdl", "spice", "vnc". */
const char *gc_display_to_string(enum gc_display display);
/* The inverse; -EINVAL for anything else. */
int gc_display_from_string(const char *s, enum gc_display *ret);

struct gc_display_advice {
	enum gc_display display;
	bool gl;	    /* add gl=on (with virtio-vga-gl): a GPU render node is there */
	const char *reason; /* static, one line */
};

/*
 * The display to recommend for a session. render: a GPU with a working driver offers a render
 * node (virgl can use it). available: the displays this QEMU has, as a mask of
 * (1u << GC_DISPLAY_*); 0 when unknown, taken as all. Pure.
 */
void gc_display_advise(enum gc_session session, bool render, unsigned available,
		       struct gc_display_advice *ret);

/*
 * gc_display_advise() for this machine: its session, whether a render node and a GPU bound to
 * a real driver (not vfio-pci or pci-stub) exist, and what `qemu` (vm.qemu; NULL: not asked)
 * offers.
 */
void gc_env_recommend_display(const char *qemu, struct gc_display_advice *ret);

/* ---- QEMU and other programs ------------------------------------------------------------- */

/*
 * Resolves a program as execvp() would: a name with a '/' as it is, else through $PATH (or
 * the default path when unset). Must be an executable regular file. -ENOENT when not found.
 */
int gc_env_find_program(const char *name, char **ret_path);

/*
 * Runs argv (argv[0] a path) with posix_spawn, never a shell, stdin on /dev/null, and
 * collects what it writes to stdout (at most 4 MiB; stderr is discarded). The child is killed
 * and -ETIMEDOUT returned when it has not exited after timeout_ms. ret_status: its exit
 * status, or 128 + the signal that ended it. Returns -errno when it cannot be started.
 */
int gc_env_run_capture(char *const argv[], int timeout_ms, char **ret_stdout, int *ret_status);

#define GC_QEMU_TIMEOUT_MS 10000

struct gc_env_qemu {
	char *path;	     /* resolved */
	char *version;	     /* "7.2.22" */
	char **accelerators; /* -accel help: "tcg", "kvm", ... */
	char **displays;     /* -display help: "none", "gtk", "sdl", "egl-headless", ... */
	char **devices;	     /* -device help: every device name */
	bool spice;	     /* -spice help lists options: built with SPICE */
};

/* The devices `doctor` reports on, NULL-terminated: vfio-pci, virtio-vga-gl, nvme, ... */
extern const char *const gc_env_qemu_devices[];

/* "QEMU emulator version 7.2.22 (Debian ...)" gives "7.2.22"; -EINVAL without one. Pure. */
int gc_qemu_version_parse(const char *text, char **ret_version);

/*
 * Probes a QEMU system emulator, a name or a path (vm.qemu): resolves it, then runs
 * --version, -accel help, -display help, -device help and -spice help, each with a timeout
 * of GC_QEMU_TIMEOUT_MS. -ENOENT (not found), -ETIMEDOUT, -EIO (--version failed or said no
 * version), or what spawning returned.
 */
int gc_env_qemu_probe(const char *qemu, struct gc_env_qemu *ret);
void gc_env_qemu_done(struct gc_env_qemu *qemu);

/*
 * gc_env_qemu_probe(), cached per process and name. On success *ret points to the cached
 * result, valid until gc_env_cache_flush(); the error is cached too.
 */
int gc_env_qemu(const char *qemu, const struct gc_env_qemu **ret);

/* The displays of a probed QEMU as a mask for gc_display_advise(). */
unsigned gc_env_qemu_display_mask(const struct gc_env_qemu *qemu);

#endif
