/* SPDX-License-Identifier: MIT */
/*
 * Is KVM usable? Opening /dev/kvm proves little: under a paravirtual KVM (PVM), or a host that
 * exposes /dev/kvm without letting it run ordinary guests, the device opens, answers
 * KVM_GET_API_VERSION with 12 and creates VMs, and only KVM_RUN shows that no firmware and no
 * stock Linux guest can run. So the probe runs two guests of five bytes each
 * (mov $42,%al; out %al,$0x10; hlt): one in real mode, where SeaBIOS/OVMF and therefore every
 * QEMU guest starts, and one in 64-bit long mode, where a kernel runs. Both must exit with
 * KVM_EXIT_IO (port 0x10, value 42) and then KVM_EXIT_HLT.
 *
 * The guests run in a forked child that reports through a shared mapping, stage by stage, so
 * that a KVM_RUN that never returns is killed after the timeout and still named. The child
 * makes only system calls (no malloc, no stdio), so forking from a threaded caller is safe.
 *
 * x86-64 only, as is the QEMU ghostctl drives.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/macro.h"
#include "common/string-util.h"
#include "common/time-util.h"
#include "env-internal.h"
#include "env.h"

/* The call each stage makes, for messages. */
static const char *const stage_calls[_GC_KVM_STAGE_MAX] = {
	[GC_KVM_STAGE_NOT_RUN] = "nothing",
	[GC_KVM_STAGE_OPEN] = "open",
	[GC_KVM_STAGE_API_VERSION] = "KVM_GET_API_VERSION",
	[GC_KVM_STAGE_CAPS] = "KVM_CHECK_EXTENSION",
	[GC_KVM_STAGE_CREATE_VM] = "KVM_CREATE_VM",
	[GC_KVM_STAGE_TSS_ADDR] = "KVM_SET_TSS_ADDR",
	[GC_KVM_STAGE_MEMORY] = "KVM_SET_USER_MEMORY_REGION",
	[GC_KVM_STAGE_CREATE_VCPU] = "KVM_CREATE_VCPU",
	[GC_KVM_STAGE_MAP_RUN] = "mmap of the vCPU's kvm_run",
	[GC_KVM_STAGE_CPUID] = "KVM_SET_CPUID2",
	[GC_KVM_STAGE_SREGS] = "KVM_SET_SREGS",
	[GC_KVM_STAGE_REGS] = "KVM_SET_REGS",
	[GC_KVM_STAGE_RUN_OUT] = "KVM_RUN",
	[GC_KVM_STAGE_RUN_HLT] = "KVM_RUN",
	[GC_KVM_STAGE_DONE] = "nothing",
};

static const char *stage_call(int32_t stage)
{
	return stage >= 0 && stage < _GC_KVM_STAGE_MAX ? stage_calls[stage] : "an unknown call";
}

/* Capabilities QEMU refuses to run without (kvm_required_capabilites and x86's). */
static const struct {
	int cap;
	const char *name;
} required_caps[] = {
	{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
	{ KVM_CAP_DESTROY_MEMORY_REGION_WORKS, "KVM_CAP_DESTROY_MEMORY_REGION_WORKS" },
	{ KVM_CAP_JOIN_MEMORY_REGIONS_WORKS, "KVM_CAP_JOIN_MEMORY_REGIONS_WORKS" },
	{ KVM_CAP_INTERNAL_ERROR_DATA, "KVM_CAP_INTERNAL_ERROR_DATA" },
	{ KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD" },
	{ KVM_CAP_IOEVENTFD_ANY_LENGTH, "KVM_CAP_IOEVENTFD_ANY_LENGTH" },
	{ KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
	{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
	{ KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE" },
};

#define GUEST_MEM_SIZE 0x10000
#define GUEST_CODE 0x1000
#define GUEST_PML4 0x2000
#define GUEST_PDPT 0x3000
#define GUEST_PD 0x4000
#define GUEST_PORT 0x10
#define GUEST_VALUE 42
/* Where QEMU puts the TSS that VMX needs for real mode without unrestricted guest. */
#define GUEST_TSS_ADDR 0xfffbd000UL
#define CPUID_ENTRIES 256

/* mov $42,%al; out %al,$0x10; hlt: the same bytes in 16-bit and in 64-bit mode. */
static const uint8_t guest_code[] = { 0xb0, GUEST_VALUE, 0xe6, GUEST_PORT, 0xf4 };

/* ---- The child: system calls only ------------------------------------------------------- */

static int kvm_ioctl(int fd, unsigned long request, void *arg)
{
	int r;

	do
		r = ioctl(fd, request, arg);
	while (r < 0 && errno == EINTR);
	return r;
}

static void long_mode_setup(uint8_t *mem, struct kvm_sregs *sregs)
{
	uint64_t *pml4 = (uint64_t *)(mem + GUEST_PML4);
	uint64_t *pdpt = (uint64_t *)(mem + GUEST_PDPT);
	uint64_t *pd = (uint64_t *)(mem + GUEST_PD);
	struct kvm_segment code = {
		.base = 0,
		.limit = 0xffffffff,
		.selector = 1 << 3,
		.type = 11, /* execute, read, accessed */
		.present = 1,
		.s = 1,
		.l = 1,
		.g = 1,
	};
	struct kvm_segment data = code;

	/* Identity-map the first 2 MiB with one large page. */
	pml4[0] = GUEST_PDPT | 0x3; /* present, writable */
	pdpt[0] = GUEST_PD | 0x3;
	pd[0] = 0x83; /* present, writable, 2 MiB page */

	sregs->cr3 = GUEST_PML4;
	sregs->cr4 = 1u << 5;		      /* PAE */
	sregs->cr0 = 0x80050033;	      /* PG, AM, WP, NE, ET, MP, PE */
	sregs->efer = (1u << 8) | (1u << 10); /* LME, LMA */
	sregs->cs = code;
	data.type = 3; /* read, write, accessed */
	data.selector = 2 << 3;
	data.l = 0;
	data.db = 1;
	sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss = data;
}

/*
 * One KVM_RUN that must end with the exit expected. -errno when KVM_RUN fails, -EPROTO when
 * another exit came, which the report then names.
 */
static int run_expect(int vcpu, struct kvm_run *run, size_t run_size, uint32_t expect,
		      struct gc_kvm_guest_report *g)
{
	if (kvm_ioctl(vcpu, KVM_RUN, NULL) < 0)
		return -errno;
	if (run->exit_reason != expect) {
		g->exit_reason = (int32_t)run->exit_reason;
		if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR)
			g->exit_detail = run->internal.suberror;
		else if (run->exit_reason == KVM_EXIT_FAIL_ENTRY)
			g->exit_detail = (uint32_t)run->fail_entry.hardware_entry_failure_reason;
		else if (run->exit_reason == KVM_EXIT_IO)
			g->exit_detail = run->io.port;
		return -EPROTO;
	}
	if (expect == KVM_EXIT_IO &&
	    (run->io.direction != KVM_EXIT_IO_OUT || run->io.port != GUEST_PORT ||
	     run->io.size != 1 || run->io.data_offset >= run_size ||
	     ((uint8_t *)run)[run->io.data_offset] != GUEST_VALUE)) {
		g->exit_reason = KVM_EXIT_IO;
		g->exit_detail = run->io.port;
		return -EPROTO;
	}
	return 0;
}

/*
 * Runs one guest; g->stage follows it. Returns 0 once it halted, else -errno of the call that
 * failed. Leaks its fds and mappings: the child exits right after.
 */
static int run_guest(int kvm, int mode, struct kvm_cpuid2 *cpuid, struct gc_kvm_guest_report *g)
{
	struct kvm_userspace_memory_region region = {
		.slot = 0,
		.guest_phys_addr = 0,
		.memory_size = GUEST_MEM_SIZE,
	};
	struct kvm_regs regs = {
		.rip = GUEST_CODE,
		.rflags = 0x2,
	};
	struct kvm_sregs sregs;
	struct kvm_run *run;
	uint8_t *mem;
	int vm, vcpu, run_size, r;

	g->stage = GC_KVM_STAGE_CREATE_VM;
	vm = kvm_ioctl(kvm, KVM_CREATE_VM, NULL);
	if (vm < 0)
		return -errno;
	g->stage = GC_KVM_STAGE_TSS_ADDR;
	if (ioctl(vm, KVM_SET_TSS_ADDR, GUEST_TSS_ADDR) < 0)
		return -errno;

	g->stage = GC_KVM_STAGE_MEMORY;
	mem = mmap(NULL, GUEST_MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		   0);
	if (mem == MAP_FAILED)
		return -errno;
	memcpy(mem + GUEST_CODE, guest_code, sizeof(guest_code));
	region.userspace_addr = (uintptr_t)mem;
	if (kvm_ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return -errno;

	g->stage = GC_KVM_STAGE_CREATE_VCPU;
	vcpu = kvm_ioctl(vm, KVM_CREATE_VCPU, NULL);
	if (vcpu < 0)
		return -errno;
	g->stage = GC_KVM_STAGE_MAP_RUN;
	run_size = kvm_ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, NULL);
	if (run_size < 0)
		return -errno;
	if ((size_t)run_size < sizeof(*run))
		return -EPROTO;
	run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		return -errno;

	/* What the host supports, as QEMU passes it on: long mode needs CPUID's LM bit. */
	g->stage = GC_KVM_STAGE_CPUID;
	if (kvm_ioctl(vcpu, KVM_SET_CPUID2, cpuid) < 0)
		return -errno;

	g->stage = GC_KVM_STAGE_SREGS;
	if (kvm_ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	if (mode == GC_KVM_MODE_REAL) {
		sregs.cs.base = 0;
		sregs.cs.selector = 0;
	} else
		long_mode_setup(mem, &sregs);
	if (kvm_ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
		return -errno;
	g->stage = GC_KVM_STAGE_REGS;
	if (kvm_ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		return -errno;

	g->stage = GC_KVM_STAGE_RUN_OUT;
	r = run_expect(vcpu, run, (size_t)run_size, KVM_EXIT_IO, g);
	if (r < 0)
		return r;
	g->stage = GC_KVM_STAGE_RUN_HLT;
	r = run_expect(vcpu, run, (size_t)run_size, KVM_EXIT_HLT, g);
	if (r < 0)
		return r;
	g->stage = GC_KVM_STAGE_DONE;
	return 0;
}

static void probe_child(const char *path, struct gc_kvm_probe_report *report)
{
	struct kvm_cpuid2 *cpuid;
	size_t cpuid_size;
	int kvm;

	report->stage = GC_KVM_STAGE_OPEN;
	kvm = open(path, O_RDWR | O_CLOEXEC);
	if (kvm < 0) {
		report->error = errno;
		return;
	}
	report->stage = GC_KVM_STAGE_API_VERSION;
	report->api_version = kvm_ioctl(kvm, KVM_GET_API_VERSION, NULL);
	if (report->api_version < 0) {
		report->error = errno;
		return;
	}
	if (report->api_version != KVM_API_VERSION)
		return;
	report->stage = GC_KVM_STAGE_CAPS;
	for (size_t i = 0; i < ELEMENTSOF(required_caps); i++) {
		int r = ioctl(kvm, KVM_CHECK_EXTENSION, (unsigned long)required_caps[i].cap);

		if (r <= 0) {
			report->missing_cap = (int32_t)i;
			report->error = r < 0 ? errno : 0;
			return;
		}
	}

	/* No malloc in the child: the entries go into a mapping of their own. */
	cpuid_size = sizeof(*cpuid) + CPUID_ENTRIES * sizeof(struct kvm_cpuid_entry2);
	cpuid = mmap(NULL, cpuid_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (cpuid == MAP_FAILED) {
		report->error = errno;
		return;
	}
	cpuid->nent = CPUID_ENTRIES;
	if (kvm_ioctl(kvm, KVM_GET_SUPPORTED_CPUID, cpuid) < 0) {
		report->missing_cap = -1;
		report->error = errno;
		return;
	}

	report->stage = GC_KVM_STAGE_DONE;
	for (int mode = 0; mode < _GC_KVM_MODE_MAX; mode++) {
		struct gc_kvm_guest_report *g = &report->guest[mode];
		int r;

		g->exit_reason = -1;
		r = run_guest(kvm, mode, cpuid, g);
		/* -EPROTO: an unexpected exit or size, which the report holds already. */
		g->error = r == -EPROTO ? 0 : -r;
	}
}

/* ---- The parent ------------------------------------------------------------------------- */

static const char *exit_reason_name(int32_t reason)
{
	static const char *const names[] = {
		[KVM_EXIT_UNKNOWN] = "KVM_EXIT_UNKNOWN",
		[KVM_EXIT_EXCEPTION] = "KVM_EXIT_EXCEPTION",
		[KVM_EXIT_IO] = "KVM_EXIT_IO",
		[KVM_EXIT_HYPERCALL] = "KVM_EXIT_HYPERCALL",
		[KVM_EXIT_DEBUG] = "KVM_EXIT_DEBUG",
		[KVM_EXIT_HLT] = "KVM_EXIT_HLT",
		[KVM_EXIT_MMIO] = "KVM_EXIT_MMIO",
		[KVM_EXIT_IRQ_WINDOW_OPEN] = "KVM_EXIT_IRQ_WINDOW_OPEN",
		[KVM_EXIT_SHUTDOWN] = "KVM_EXIT_SHUTDOWN (triple fault)",
		[KVM_EXIT_FAIL_ENTRY] = "KVM_EXIT_FAIL_ENTRY",
		[KVM_EXIT_INTR] = "KVM_EXIT_INTR",
		[KVM_EXIT_INTERNAL_ERROR] = "KVM_EXIT_INTERNAL_ERROR",
		[KVM_EXIT_SYSTEM_EVENT] = "KVM_EXIT_SYSTEM_EVENT",
	};

	if (reason >= 0 && (size_t)reason < ELEMENTSOF(names) && names[reason])
		return names[reason];
	return "an unknown exit";
}

/* What one guest did, as a phrase: "KVM_RUN failed: Invalid argument". NULL when it ran. */
static char *guest_failure(const struct gc_kvm_guest_report *g, bool timed_out, int timeout_ms)
{
	const char *call = stage_call(g->stage);
	char *s = NULL;
	int r;

	if (g->stage == GC_KVM_STAGE_DONE)
		return NULL;
	if (g->stage == GC_KVM_STAGE_NOT_RUN)
		r = asprintf(&s, "not tried");
	else if (timed_out)
		r = asprintf(&s, "%s did not return within %d ms", call, timeout_ms);
	else if (g->exit_reason >= 0 && g->exit_reason == KVM_EXIT_IO)
		r = asprintf(&s,
			     "%s exited with KVM_EXIT_IO on port 0x%x, not the OUT of 42 to "
			     "port 0x%x",
			     call, g->exit_detail, GUEST_PORT);
	else if (g->exit_reason >= 0)
		r = asprintf(&s, "%s exited with %s (%u) where %s was due", call,
			     exit_reason_name(g->exit_reason), g->exit_detail,
			     g->stage == GC_KVM_STAGE_RUN_OUT ? "KVM_EXIT_IO" : "KVM_EXIT_HLT");
	else if (g->error != 0)
		r = asprintf(&s, "%s failed: %s", call, strerror(g->error));
	else
		r = asprintf(&s, "%s failed", call);
	return r < 0 ? NULL : s;
}

static bool module_loaded(const char *name)
{
	char path[64];

	(void)snprintf(path, sizeof(path), "/sys/module/%s", name);
	return gc_env__exists(path);
}

static const char *kvm_module(void)
{
	static const char *const modules[] = { "kvm_intel", "kvm_amd", "kvm_pvm", "kvm" };

	for (size_t i = 0; i < ELEMENTSOF(modules); i++)
		if (module_loaded(modules[i]))
			return modules[i];
	return NULL;
}

/* "kvm and kvm_pvm": the KVM modules that are loaded; "" when none is. */
static void loaded_modules(char buf[static 64])
{
	static const char *const modules[] = { "kvm", "kvm_intel", "kvm_amd", "kvm_pvm" };

	buf[0] = '\0';
	for (size_t i = 0; i < ELEMENTSOF(modules); i++)
		if (module_loaded(modules[i])) {
			/* 64 bytes hold all four names and their "and"s. */
			if (buf[0] != '\0')
				strcat(buf, " and ");
			strcat(buf, modules[i]);
		}
}

/* Why there is no /dev/kvm, from the CPU's flags and the loaded modules. */
static int absent_reason(struct gc_env_kvm *k)
{
	struct gc_env_cpu cpu = { .flags = NULL };
	const char *virt = NULL;
	bool guest = false;
	char modules[64];
	int r;

	r = gc_env_cpu_read(&cpu);
	if (r == -ENOMEM)
		return r;
	if (r >= 0) {
		virt = gc_env_cpu_virt(&cpu);
		guest = gc_env_cpu_has(&cpu, "hypervisor");
		gc_env_cpu_done(&cpu);
	}
	loaded_modules(modules);

	if (r < 0) {
		/* Without the CPU's flags, claim nothing about them. */
		r = asprintf(&k->reason,
			     "/dev/kvm is missing (and /proc/cpuinfo cannot be read: %s)",
			     strerror(-r));
		if (r >= 0)
			r = asprintf(&k->hint,
				     "check that the CPU offers vmx or svm and that a KVM "
				     "module is loaded");
	} else if (virt && isempty(modules)) {
		r = asprintf(&k->reason,
			     "/dev/kvm is missing: the CPU has %s but no KVM module "
			     "is loaded",
			     virt);
		if (r >= 0)
			r = asprintf(&k->hint, "load it: modprobe %s",
				     streq(virt, "vmx") ? "kvm_intel" : "kvm_amd");
	} else if (virt) {
		r = asprintf(&k->reason,
			     "/dev/kvm is missing although the CPU has %s and %s %s "
			     "loaded",
			     virt, modules, strchr(modules, ' ') ? "are" : "is");
		if (r >= 0)
			r = asprintf(&k->hint, "see the kernel log (dmesg | grep -i kvm) for why "
					       "KVM did not start");
	} else if (guest) {
		r = asprintf(&k->reason,
			     "/dev/kvm is missing: the CPU shows neither vmx nor svm, "
			     "as this machine is itself a virtual machine (hypervisor "
			     "flag) whose host offers no nested virtualization%s%s%s",
			     isempty(modules) ? "" : "; ", modules,
			     isempty(modules)	  ? "" :
			     strchr(modules, ' ') ? " are loaded but made no /dev/kvm" :
						    " is loaded but made no /dev/kvm");
		if (r >= 0)
			r = asprintf(&k->hint, "turn on nested virtualization in the host, or run "
					       "VMs on bare metal");
	} else {
		r = asprintf(&k->reason, "/dev/kvm is missing: the CPU shows neither vmx nor svm "
					 "(virtualization is off in the firmware, or the CPU "
					 "lacks it)");
		if (r >= 0)
			r = asprintf(&k->hint, "turn on Intel VT-x or AMD-V (SVM) in the firmware "
					       "setup");
	}
	return r < 0 ? -ENOMEM : 0;
}

static int open_failure(struct gc_env_kvm *k, int error)
{
	int r;

	if (error == EACCES || error == EPERM) {
		k->state = GC_KVM_NO_ACCESS;
		r = asprintf(&k->reason, "no permission to open /dev/kvm (%s)", strerror(error));
		if (r < 0)
			return -ENOMEM;
		r = gc_env_in_group("kvm");
		if (r == 1)
			r = asprintf(&k->hint, "you are in group kvm, yet /dev/kvm refuses you: "
					       "log in again, or check its mode (crw-rw---- "
					       "root:kvm)");
		else if (r == 0)
			r = asprintf(&k->hint, "add yourself to group kvm (usermod -aG kvm "
					       "\"$USER\", then log in again), or run as root");
		else
			r = asprintf(&k->hint, "ask for read-write access to /dev/kvm (a group "
					       "kvm and a udev rule), or run as root");
		return r < 0 ? -ENOMEM : 0;
	}
	k->state = GC_KVM_BROKEN;
	if (error == ENODEV || error == ENXIO)
		r = asprintf(&k->reason, "/dev/kvm exists but no KVM driver is behind it (%s)",
			     strerror(error));
	else
		r = asprintf(&k->reason, "cannot open /dev/kvm: %s", strerror(error));
	return r < 0 ? -ENOMEM : 0;
}

/* Turns the child's report into the verdict. */
int gc_env__kvm_verdict(const struct gc_kvm_probe_report *rep, bool timed_out, int status,
			int timeout_ms, struct gc_env_kvm *k)
{
	_cleanup_free_ char *real = NULL, *lng = NULL, *death = NULL;
	const char *pvm = "";
	int r;

	k->api_version = rep->api_version < 0 ? -1 : rep->api_version;
	if (rep->stage == GC_KVM_STAGE_OPEN && !timed_out)
		return open_failure(k, rep->error);
	k->opened = rep->stage > GC_KVM_STAGE_OPEN;
	k->state = GC_KVM_BROKEN;
	if (rep->stage != GC_KVM_STAGE_DONE && timed_out) {
		r = asprintf(&k->reason, "%s on /dev/kvm did not return within %d ms",
			     stage_call(rep->stage), timeout_ms);
		return r < 0 ? -ENOMEM : 0;
	}

	if (!timed_out && WIFSIGNALED(status) && WTERMSIG(status) != SIGKILL) {
		if (rep->stage != GC_KVM_STAGE_DONE) {
			r = asprintf(&k->reason, "the probe died of signal %d (%s) in %s",
				     WTERMSIG(status), strsignal(WTERMSIG(status)),
				     stage_call(rep->stage));
			return r < 0 ? -ENOMEM : 0;
		}
		if (asprintf(&death, " (the probe died of signal %d, %s)", WTERMSIG(status),
			     strsignal(WTERMSIG(status))) < 0)
			return -ENOMEM;
	}

	if (rep->stage == GC_KVM_STAGE_API_VERSION) {
		if (rep->api_version < 0)
			r = asprintf(&k->reason,
				     "opens but is not a KVM device: "
				     "KVM_GET_API_VERSION failed: %s",
				     strerror(rep->error));
		else
			r = asprintf(&k->reason, "opens but speaks KVM API version %d, not %d",
				     rep->api_version, KVM_API_VERSION);
		return r < 0 ? -ENOMEM : 0;
	}
	if (rep->stage == GC_KVM_STAGE_CAPS) {
		if (rep->missing_cap < 0)
			r = asprintf(&k->reason, "opens but KVM_GET_SUPPORTED_CPUID failed: %s",
				     strerror(rep->error));
		else
			r = asprintf(&k->reason, "opens but lacks %s, which QEMU needs",
				     required_caps[rep->missing_cap].name);
		return r < 0 ? -ENOMEM : 0;
	}

	/* The guests: a timeout hit the one that had not finished. */
	k->real_mode = rep->guest[GC_KVM_MODE_REAL].stage == GC_KVM_STAGE_DONE;
	k->long_mode = rep->guest[GC_KVM_MODE_LONG].stage == GC_KVM_STAGE_DONE;
	if (k->real_mode && k->long_mode) {
		k->state = GC_KVM_USABLE;
		return 0;
	}
	real = guest_failure(&rep->guest[GC_KVM_MODE_REAL], timed_out && !k->real_mode, timeout_ms);
	lng = guest_failure(&rep->guest[GC_KVM_MODE_LONG],
			    timed_out && k->real_mode && !k->long_mode, timeout_ms);
	if ((!k->real_mode && !real) || (!k->long_mode && !lng))
		return -ENOMEM;
	if (k->module && streq(k->module, "kvm_pvm"))
		pvm = " (KVM here is kvm_pvm, a paravirtual KVM that runs only PVM-enabled 64-bit "
		      "guest kernels, no firmware)";

	if (!k->real_mode && k->long_mode)
		r = asprintf(&k->reason,
			     "opens but cannot run a guest: 64-bit code runs, but real "
			     "mode, where firmware and so every QEMU guest starts, "
			     "fails: %s%s%s",
			     real, pvm, death ? death : "");
	else if (!k->real_mode)
		r = asprintf(&k->reason,
			     "opens but cannot run a guest: real mode: %s; 64-bit "
			     "mode: %s%s%s",
			     real, lng, pvm, death ? death : "");
	else
		r = asprintf(&k->reason,
			     "opens but cannot run a guest: real mode runs, 64-bit "
			     "mode: %s%s%s",
			     lng, pvm, death ? death : "");
	return r < 0 ? -ENOMEM : 0;
}

static int wait_child(pid_t pid, int fd, int timeout_ms, bool *ret_timed_out, int *ret_status)
{
	uint64_t deadline = deadline_from_timeout_ms(timeout_ms);
	bool timed_out = false;
	int status = 0;

	/* The child holds the pipe's write end: EOF means it has exited. */
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char c;
		int n;

		n = poll(&p, 1, timeout_ms_left(deadline));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0) {
			timed_out = true;
			(void)kill(pid, SIGKILL);
			break;
		}
		if (read(fd, &c, 1) <= 0)
			break;
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	*ret_timed_out = timed_out;
	*ret_status = status;
	return 0;
}

static int run_probe(const char *path, int timeout_ms, struct gc_env_kvm *k)
{
	struct gc_kvm_probe_report *rep;
	int pipefd[2], status = 0, r;
	bool timed_out = false;
	pid_t parent = getpid(), pid;

	rep = mmap(NULL, sizeof(*rep), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (rep == MAP_FAILED)
		return -errno;
	*rep = (struct gc_kvm_probe_report){ .stage = GC_KVM_STAGE_NOT_RUN, .api_version = -1 };
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		r = -errno;
		(void)munmap(rep, sizeof(*rep));
		return r;
	}
	pid = fork();
	if (pid < 0) {
		r = -errno;
		(void)close(pipefd[0]);
		(void)close(pipefd[1]);
		(void)munmap(rep, sizeof(*rep));
		return r;
	}
	if (pid == 0) {
		(void)close(pipefd[0]);
		/* Die with ghostctl rather than outlive it in a stuck KVM_RUN. */
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() == parent)
			probe_child(path, rep);
		_exit(0);
	}
	(void)close(pipefd[1]);
	r = wait_child(pid, pipefd[0], timeout_ms, &timed_out, &status);
	(void)close(pipefd[0]);
	if (r >= 0)
		r = gc_env__kvm_verdict(rep, timed_out, status, timeout_ms, k);
	(void)munmap(rep, sizeof(*rep));
	return r;
}

int gc_env_kvm_probe(int timeout_ms, struct gc_env_kvm *ret)
{
	_cleanup_free_ char *path = gc_env_path("/dev/kvm");
	struct gc_env_kvm k = { .api_version = -1 };
	struct stat st;
	int r;

	if (!path)
		return -ENOMEM;
	if (timeout_ms <= 0)
		timeout_ms = GC_KVM_PROBE_TIMEOUT_MS;
	k.module = kvm_module();
	if (stat(path, &st) < 0 && errno == ENOENT) {
		k.state = GC_KVM_ABSENT;
		r = absent_reason(&k);
	} else {
		k.present = true;
		r = run_probe(path, timeout_ms, &k);
		if (r >= 0 && k.state == GC_KVM_BROKEN && !k.hint)
			r = asprintf(&k.hint,
				     "run VMs under TCG (vm.accel=tcg), or on a host whose "
				     "KVM runs full guests (bare metal, or nested "
				     "virtualization)") < 0 ?
				    -ENOMEM :
				    0;
	}
	if (r < 0) {
		gc_env_kvm_done(&k);
		return r;
	}
	*ret = k;
	return 0;
}

void gc_env_kvm_done(struct gc_env_kvm *kvm)
{
	kvm->reason = mfree(kvm->reason);
	kvm->hint = mfree(kvm->hint);
}

static struct gc_env_kvm cache;
static bool cached;

void gc_env__kvm_cache_flush(void)
{
	if (cached)
		gc_env_kvm_done(&cache);
	cached = false;
}

const struct gc_env_kvm *gc_env_kvm(void)
{
	if (!cached && gc_env_kvm_probe(GC_KVM_PROBE_TIMEOUT_MS, &cache) >= 0)
		cached = true;
	return cached ? &cache : NULL;
}

bool gc_env_kvm_usable(void)
{
	const struct gc_env_kvm *k = gc_env_kvm();

	return k && k->state == GC_KVM_USABLE;
}

const char *gc_kvm_state_to_string(enum gc_kvm_state state)
{
	static const char *const names[_GC_KVM_STATE_MAX] = {
		[GC_KVM_ABSENT] = "absent",
		[GC_KVM_NO_ACCESS] = "no-access",
		[GC_KVM_BROKEN] = "broken",
		[GC_KVM_USABLE] = "usable",
	};

	return (unsigned)state < _GC_KVM_STATE_MAX ? names[state] : NULL;
}
