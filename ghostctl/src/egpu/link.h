/* SPDX-License-Identifier: MIT */
/*
 * The anarchy links as `ghostctl egpu` sees them: their names, the list in sysfs, what is
 * known of each (from the device through libanarchy, or from sysfs when the device cannot
 * be opened), and the fault-injection knobs in debugfs.
 *
 * Every path goes through the root prefix of env.h ($GHOSTCTL_ROOT), /dev included, so the
 * tests can point ghostctl at a fake tree; messages name paths without it. Errors are
 * negative errno values; ret_ parameters are written only on success.
 */
#ifndef GC_EGPU_LINK_H
#define GC_EGPU_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "anarchy.h"

#define GC_EGPU_SYSFS_DIR "/sys/class/anarchy"
#define GC_EGPU_DEBUGFS_MOUNT "/sys/kernel/debug"
#define GC_EGPU_DEBUGFS_DIR "/sys/kernel/debug/anarchy"
#define GC_EGPU_DEV_DIR "/dev"

/* The largest N of anarchyN that a LINK argument may name. */
#define GC_EGPU_LINK_MAX 9999

/* "anarchyN", "/dev/anarchyN" and its NUL, for N up to GC_EGPU_LINK_MAX. */
#define GC_EGPU_NAME_MAX 16
#define GC_EGPU_PATH_MAX 24

/*
 * Parses a LINK argument: "N", "anarchyN" or "/dev/anarchyN", N decimal without a sign or
 * leading zeros (but "0"), at most GC_EGPU_LINK_MAX. -EINVAL otherwise. Pure.
 */
int gc_egpu_link_parse(const char *s, unsigned *ret_index);

/* "anarchyN" and "/dev/anarchyN" into buffers of the sizes above. */
void gc_egpu_link_name(unsigned index, char name[static GC_EGPU_NAME_MAX]);
void gc_egpu_link_dev(unsigned index, char path[static GC_EGPU_PATH_MAX]);

/* Where a struct gc_egpu_link came from, and so which of its fields are known. */
enum gc_egpu_source {
	/*
	 * The device answered ANARCHY_IOC_LINK_INFO: every field of info is valid.
	 */
	GC_EGPU_SOURCE_DEVICE,
	/*
	 * sysfs only: info.index, state, flags (ANARCHY_INFO_SIMULATED only),
	 * link_speed_mbps, bandwidth_cap_mbps, far_name, gpu_count (0 or 1) and gpus[0].name,
	 * and the counters tx_bytes, rx_bytes, tx_records, rx_records, errors, crc_errors,
	 * drops and retransmits. The others are zero and unknown.
	 */
	GC_EGPU_SOURCE_SYSFS,
};

/* The state as sysfs names it when it is none of anarchy_state_to_string()'s names. */
#define GC_EGPU_STATE_UNKNOWN UINT32_MAX

struct gc_egpu_link {
	unsigned index;
	enum gc_egpu_source source;
	int open_error; /* SYSFS: why the device did not open (negative errno); else 0 */
	struct anarchy_link_info info;
};

/*
 * Whether the module is loaded: /sys/class/anarchy exists. -ENOENT when it does not; the
 * caller says so with gc_egpu_log_no_module().
 */
int gc_egpu_module_check(void);

/* Logs that the module is not loaded and how to load it; returns -ENOENT. */
int gc_egpu_log_no_module(void);

/*
 * The links in /sys/class/anarchy (entries named anarchyN), sorted by N. An empty list
 * (*ret_n == 0, *ret_indexes NULL) when there are none. -ENOENT when the module is not
 * loaded. The caller frees *ret_indexes.
 */
int gc_egpu_list(unsigned **ret_indexes, size_t *ret_n);

/* Whether /sys/class/anarchy/anarchyN exists. */
bool gc_egpu_link_exists(unsigned index);

/*
 * Opens /dev/anarchyN (under the root prefix) with anarchy_link_open(); flags as it takes
 * them. Its errors: those of open(2), -ENOTTY for a file that is no anarchy device, -EPROTO
 * for a module of another ABI.
 */
int gc_egpu_open(unsigned index, int flags, struct anarchy_link **ret_link);

/* Fills ret from sysfs (GC_EGPU_SOURCE_SYSFS). -ENOENT when there is no such link. */
int gc_egpu_read_sysfs(unsigned index, struct gc_egpu_link *ret);

/*
 * Fills ret from an opened link (GC_EGPU_SOURCE_DEVICE), or from sysfs when link is NULL,
 * recording open_error (which must then be negative) as the reason.
 */
int gc_egpu_read(unsigned index, struct anarchy_link *link, int open_error,
		 struct gc_egpu_link *ret);

/*
 * Makes what the far host advertised safe to print: gpu_count at most ANARCHY_MAX_GPUS, every
 * name and driver NUL-terminated within its field, bytes that are not valid UTF-8 and
 * control characters replaced by '?'. gc_egpu_read() and the formatters of status.h apply it.
 */
void gc_egpu_info_sanitize(struct anarchy_link_info *info);

/* The same for one string of a field of `size` bytes, in place. */
void gc_egpu_text_sanitize(char *s, size_t size);

/* ---- Fault injection ---------------------------------------------------------------------- */

enum gc_egpu_fault_kind {
	GC_EGPU_FAULT_DROP,
	GC_EGPU_FAULT_CORRUPT,
	GC_EGPU_FAULT_DELAY,
	GC_EGPU_FAULT_STALL,
	GC_EGPU_FAULT_UNPLUG,
	GC_EGPU_FAULT_REPLUG,
	_GC_EGPU_FAULT_MAX,
};

/* The module's limits on the values of the knobs (anarchy_debugfs.c). */
#define GC_EGPU_FAULT_COUNT_MAX 2147483647u
#define GC_EGPU_FAULT_DELAY_MAX 10000000u

struct gc_egpu_fault {
	enum gc_egpu_fault_kind kind;
	const char *knob; /* static: the debugfs file, "drop", "delay_us", "plugged", ... */
	unsigned value;	  /* what is written to it */
};

/*
 * Parses `egpu inject`'s FAULT [VALUE]: "drop N", "corrupt N" (frames, 0 to 2147483647),
 * "delay US" (0 to 10000000; 0 turns it off), "stall on|off" (also 1|0), "unplug",
 * "replug" (no value). value is NULL when none was given. On -EINVAL, err holds one line
 * saying what is wrong ("drop: invalid count 'x' (0 to 2147483647)"). Pure.
 */
int gc_egpu_fault_parse(const char *fault, const char *value, struct gc_egpu_fault *ret, char *err,
			size_t err_size);

/* "drop the next 5 frames anarchy0 sends": what the fault does, for messages. */
void gc_egpu_fault_describe(const struct gc_egpu_fault *f, const char *name, char *buf,
			    size_t size);

/*
 * Where a link's knob is: /sys/kernel/debug/anarchy/anarchyN/KNOB (unprefixed). NULL when
 * out of memory.
 */
char *gc_egpu_knob_path(unsigned index, const char *knob);

/*
 * Checks that the knobs of link `index` can be reached, saying what is wrong in one error
 * line otherwise: debugfs not mounted (with the mount command), not readable (root needed),
 * no anarchy directory, no directory for this link. Returns 0 or the negative errno.
 */
int gc_egpu_debugfs_check(unsigned index);

/* Reads a knob's current value (its first line). */
int gc_egpu_knob_read(unsigned index, const char *knob, char **ret_value);

/* Writes value and a newline to a knob, as `echo VALUE > KNOB` does. */
int gc_egpu_knob_write(unsigned index, const char *knob, unsigned value);

#endif
