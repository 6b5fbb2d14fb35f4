/* SPDX-License-Identifier: MIT */
/* The anarchy links: names, sysfs, the device, debugfs knobs. See link.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/macro.h"
#include "common/string-util.h"
#include "env.h"
#include "link.h"

/* Decimal digits, no sign, no leading zero but "0", at most GC_EGPU_LINK_MAX. */
static int parse_index(const char *s, unsigned *ret)
{
	unsigned v;

	if (isempty(s) || (s[0] == '0' && s[1] != '\0'))
		return -EINVAL;
	for (const char *p = s; *p; p++)
		if (*p < '0' || *p > '9')
			return -EINVAL;
	if (strlen(s) > 4 || safe_atou(s, &v) < 0 || v > GC_EGPU_LINK_MAX)
		return -EINVAL;
	*ret = v;
	return 0;
}

int gc_egpu_link_parse(const char *s, unsigned *ret_index)
{
	const char *n;

	if (!s)
		return -EINVAL;
	n = startswith(s, "/dev/anarchy");
	if (!n)
		n = startswith(s, "anarchy");
	return parse_index(n ? n : s, ret_index);
}

void gc_egpu_link_name(unsigned index, char name[static GC_EGPU_NAME_MAX])
{
	(void)snprintf(name, GC_EGPU_NAME_MAX, "anarchy%u", index);
}

void gc_egpu_link_dev(unsigned index, char path[static GC_EGPU_PATH_MAX])
{
	(void)snprintf(path, GC_EGPU_PATH_MAX, GC_EGPU_DEV_DIR "/anarchy%u", index);
}

/* The first line of a prefixed file, without its newline; at most 4 KiB. */
static int read_line(const char *path, char **ret)
{
	_cleanup_free_ char *p = gc_env_path(path);
	_cleanup_close_ int fd = -EBADF;
	char buf[4096];
	ssize_t n;
	char *line;

	if (!p)
		return -ENOMEM;
	fd = open(p, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	do
		n = read(fd, buf, sizeof(buf) - 1);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	line = strdup(buf);
	if (!line)
		return -ENOMEM;
	*ret = line;
	return 0;
}

static int read_attr(unsigned index, const char *attr, char **ret)
{
	char path[128];

	(void)snprintf(path, sizeof(path), GC_EGPU_SYSFS_DIR "/anarchy%u/%s", index, attr);
	return read_line(path, ret);
}

static int read_attr_u64(unsigned index, const char *attr, uint64_t *ret)
{
	_cleanup_free_ char *line = NULL;
	int r;

	r = read_attr(index, attr, &line);
	if (r < 0)
		return r;
	return safe_atou64(line, ret);
}

static bool is_dir(const char *path)
{
	_cleanup_free_ char *p = gc_env_path(path);
	struct stat st;

	return p && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

int gc_egpu_module_check(void)
{
	return is_dir(GC_EGPU_SYSFS_DIR) ? 0 : -ENOENT;
}

int gc_egpu_log_no_module(void)
{
	return log_error_errno(ENOENT,
			       "The anarchy module is not loaded (no " GC_EGPU_SYSFS_DIR
			       "): load it with 'modprobe anarchy', or 'insmod anarchy.ko' from "
			       "a build tree (test_mode=1 simulates a link).");
}

bool gc_egpu_link_exists(unsigned index)
{
	char path[64];

	(void)snprintf(path, sizeof(path), GC_EGPU_SYSFS_DIR "/anarchy%u", index);
	return is_dir(path);
}

static int cmp_unsigned(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;

	return x < y ? -1 : x > y;
}

int gc_egpu_list(unsigned **ret_indexes, size_t *ret_n)
{
	_cleanup_free_ char *p = gc_env_path(GC_EGPU_SYSFS_DIR);
	_cleanup_closedir_ DIR *d = NULL;
	_cleanup_free_ unsigned *list = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;

	if (!p)
		return -ENOMEM;
	d = opendir(p);
	if (!d)
		return errno == ENOTDIR ? -ENOENT : -errno;
	while ((errno = 0, de = readdir(d))) {
		const char *digits = startswith(de->d_name, "anarchy");
		unsigned index;

		if (!digits || parse_index(digits, &index) < 0)
			continue;
		if (n == cap) {
			unsigned *m = realloc(list, (cap = cap ? 2 * cap : 8) * sizeof(*m));

			if (!m)
				return -ENOMEM;
			list = m;
		}
		list[n++] = index;
	}
	if (errno != 0)
		return -errno;
	if (n > 0)
		qsort(list, n, sizeof(*list), cmp_unsigned);
	*ret_indexes = n > 0 ? TAKE_PTR(list) : NULL;
	*ret_n = n;
	return 0;
}

int gc_egpu_open(unsigned index, int flags, struct anarchy_link **ret_link)
{
	char dev[GC_EGPU_PATH_MAX];
	_cleanup_free_ char *p = NULL;

	gc_egpu_link_dev(index, dev);
	p = gc_env_path(dev);
	if (!p)
		return -ENOMEM;
	return anarchy_link_open(p, flags, ret_link);
}

/* sysfs names the state as the module's anarchy_state_name() does. */
static uint32_t state_from_string(const char *s)
{
	for (uint32_t st = ANARCHY_LINK_DOWN; st <= ANARCHY_LINK_SUSPENDED; st++)
		if (streq(s, anarchy_state_to_string(st)))
			return st;
	return GC_EGPU_STATE_UNKNOWN;
}

int gc_egpu_read_sysfs(unsigned index, struct gc_egpu_link *ret)
{
	static const struct {
		const char *attr;
		size_t offset;
	} counters[] = {
		{ "tx_bytes", offsetof(struct anarchy_counters, tx_bytes) },
		{ "rx_bytes", offsetof(struct anarchy_counters, rx_bytes) },
		{ "tx_records", offsetof(struct anarchy_counters, tx_records) },
		{ "rx_records", offsetof(struct anarchy_counters, rx_records) },
		{ "errors", offsetof(struct anarchy_counters, errors) },
		{ "crc_errors", offsetof(struct anarchy_counters, crc_errors) },
		{ "drops", offsetof(struct anarchy_counters, drops) },
		{ "retransmits", offsetof(struct anarchy_counters, retransmits) },
	};
	struct gc_egpu_link l = { .index = index, .source = GC_EGPU_SOURCE_SYSFS };
	_cleanup_free_ char *state = NULL, *far_name = NULL, *far_gpu = NULL;
	uint64_t v;
	int r;

	/* The state is the one attribute every version has: without it there is no link. */
	r = read_attr(index, "state", &state);
	if (r < 0)
		return r == -ENOTDIR ? -ENOENT : r;
	l.info.index = index;
	l.info.state = state_from_string(state);
	if (read_attr_u64(index, "link_speed", &v) == 0)
		l.info.link_speed_mbps = (uint32_t)MIN(v, (uint64_t)UINT32_MAX);
	if (read_attr_u64(index, "bandwidth_limit", &v) == 0)
		l.info.bandwidth_cap_mbps = (uint32_t)MIN(v, (uint64_t)UINT32_MAX);
	if (read_attr_u64(index, "simulated", &v) == 0 && v != 0)
		l.info.flags |= ANARCHY_INFO_SIMULATED;
	if (read_attr(index, "far_name", &far_name) == 0)
		(void)snprintf(l.info.far_name, sizeof(l.info.far_name), "%s", far_name);
	if (read_attr(index, "far_gpu", &far_gpu) == 0 && !isempty(far_gpu)) {
		(void)snprintf(l.info.gpus[0].name, sizeof(l.info.gpus[0].name), "%s", far_gpu);
		l.info.gpu_count = 1;
	}
	for (size_t i = 0; i < ELEMENTSOF(counters); i++)
		if (read_attr_u64(index, counters[i].attr, &v) == 0)
			memcpy((uint8_t *)&l.info.counters + counters[i].offset, &v, sizeof(v));
	gc_egpu_info_sanitize(&l.info);
	*ret = l;
	return 0;
}

int gc_egpu_read(unsigned index, struct anarchy_link *link, int open_error,
		 struct gc_egpu_link *ret)
{
	struct gc_egpu_link l = { .index = index, .source = GC_EGPU_SOURCE_DEVICE };
	int r;

	if (!link) {
		r = gc_egpu_read_sysfs(index, &l);
		if (r < 0)
			return r;
		l.open_error = open_error < 0 ? open_error : -ENODEV;
		*ret = l;
		return 0;
	}
	r = anarchy_link_get_info(link, &l.info);
	if (r < 0)
		return r;
	gc_egpu_info_sanitize(&l.info);
	*ret = l;
	return 0;
}

/* The length of the valid UTF-8 sequence at s (n bytes left), or 0 when it is not one. */
static size_t utf8_length(const unsigned char *s, size_t n)
{
	size_t len;
	unsigned char lo = 0x80, hi = 0xbf;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		lo = s[0] == 0xe0 ? 0xa0 : 0x80; /* no overlong forms */
		hi = s[0] == 0xed ? 0x9f : 0xbf; /* no surrogates */
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		lo = s[0] == 0xf0 ? 0x90 : 0x80;
		hi = s[0] == 0xf4 ? 0x8f : 0xbf; /* nothing above U+10FFFF */
	} else
		return 0;
	if (len > n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

void gc_egpu_text_sanitize(char *s, size_t size)
{
	unsigned char *p = (unsigned char *)s;
	size_t n;

	if (size == 0)
		return;
	s[size - 1] = '\0';
	n = strlen(s);
	for (size_t i = 0; i < n;) {
		size_t len = utf8_length(p + i, n - i);

		if (len == 0 || p[i] < 0x20 || p[i] == 0x7f ||
		    (len == 2 && p[i] == 0xc2 && p[i + 1] < 0xa0)) { /* C1 controls too */
			p[i] = '?';
			len = len == 0 ? 1 : len;
			for (size_t k = 1; k < len; k++)
				p[i + k] = '?';
		}
		i += len;
	}
}

void gc_egpu_info_sanitize(struct anarchy_link_info *info)
{
	gc_egpu_text_sanitize(info->far_name, sizeof(info->far_name));
	info->gpu_count = MIN(info->gpu_count, (uint32_t)ANARCHY_MAX_GPUS);
	for (size_t i = 0; i < ANARCHY_MAX_GPUS; i++) {
		gc_egpu_text_sanitize(info->gpus[i].name, sizeof(info->gpus[i].name));
		gc_egpu_text_sanitize(info->gpus[i].driver, sizeof(info->gpus[i].driver));
	}
}

/* ---- Fault injection ---------------------------------------------------------------------- */

static const struct {
	const char *name;
	const char *knob;
	const char *what; /* the value's kind, for messages; NULL: takes none */
	unsigned max;
} faults[_GC_EGPU_FAULT_MAX] = {
	[GC_EGPU_FAULT_DROP] = { "drop", "drop", "count", GC_EGPU_FAULT_COUNT_MAX },
	[GC_EGPU_FAULT_CORRUPT] = { "corrupt", "corrupt", "count", GC_EGPU_FAULT_COUNT_MAX },
	[GC_EGPU_FAULT_DELAY] = { "delay", "delay_us", "delay", GC_EGPU_FAULT_DELAY_MAX },
	[GC_EGPU_FAULT_STALL] = { "stall", "stall", "switch", 1 },
	[GC_EGPU_FAULT_UNPLUG] = { "unplug", "plugged", NULL, 0 },
	[GC_EGPU_FAULT_REPLUG] = { "replug", "plugged", NULL, 1 },
};

int gc_egpu_fault_parse(const char *fault, const char *value, struct gc_egpu_fault *ret, char *err,
			size_t err_size)
{
	size_t k;
	unsigned v;

	for (k = 0; k < ELEMENTSOF(faults); k++)
		if (streq(fault, faults[k].name))
			break;
	if (k == ELEMENTSOF(faults)) {
		(void)snprintf(err, err_size,
			       "unknown fault '%s' (drop, corrupt, delay, stall, unplug or replug)",
			       fault);
		return -EINVAL;
	}
	if (!faults[k].what) {
		if (value) {
			(void)snprintf(err, err_size, "%s takes no value, got '%s'", fault, value);
			return -EINVAL;
		}
		v = faults[k].max;
	} else if (!value) {
		(void)snprintf(err, err_size, "%s: missing value (%s)", fault,
			       k == GC_EGPU_FAULT_STALL ? "on or off" :
			       k == GC_EGPU_FAULT_DELAY ? "microseconds, 0 for none" :
							  "a number of frames");
		return -EINVAL;
	} else if (k == GC_EGPU_FAULT_STALL) {
		if (streq(value, "on") || streq(value, "1"))
			v = 1;
		else if (streq(value, "off") || streq(value, "0"))
			v = 0;
		else {
			(void)snprintf(err, err_size, "stall: invalid value '%s' (on or off)",
				       value);
			return -EINVAL;
		}
	} else if (safe_atou(value, &v) < 0 || v > faults[k].max) {
		if (k == GC_EGPU_FAULT_DELAY)
			(void)snprintf(err, err_size,
				       "delay: invalid microseconds '%s' (0 to %u; 0: no delay)",
				       value, faults[k].max);
		else
			(void)snprintf(err, err_size, "%s: invalid count '%s' (0 to %u)", fault,
				       value, faults[k].max);
		return -EINVAL;
	}
	*ret = (struct gc_egpu_fault){
		.kind = (enum gc_egpu_fault_kind)k,
		.knob = faults[k].knob,
		.value = v,
	};
	return 0;
}

void gc_egpu_fault_describe(const struct gc_egpu_fault *f, const char *name, char *buf, size_t size)
{
	switch (f->kind) {
	case GC_EGPU_FAULT_DROP:
	case GC_EGPU_FAULT_CORRUPT:
		if (f->value == 0)
			(void)snprintf(buf, size, "stop %s frames %s sends",
				       f->kind == GC_EGPU_FAULT_DROP ? "dropping" : "corrupting",
				       name);
		else
			(void)snprintf(buf, size, "%s the next %u frame%s %s sends",
				       f->kind == GC_EGPU_FAULT_DROP ? "drop" : "corrupt", f->value,
				       f->value == 1 ? "" : "s", name);
		break;
	case GC_EGPU_FAULT_DELAY:
		if (f->value == 0)
			(void)snprintf(buf, size, "stop delaying the frames %s sends", name);
		else
			(void)snprintf(buf, size, "delay every frame %s sends by %u us", name,
				       f->value);
		break;
	case GC_EGPU_FAULT_STALL:
		if (f->value != 0)
			(void)snprintf(buf, size, "make %s go silent, as a hung host would", name);
		else
			(void)snprintf(buf, size, "let %s speak again", name);
		break;
	case GC_EGPU_FAULT_UNPLUG:
		(void)snprintf(buf, size, "pull the simulated cable of %s (both ends go down)",
			       name);
		break;
	case GC_EGPU_FAULT_REPLUG:
		(void)snprintf(buf, size, "plug the simulated cable of %s back in", name);
		break;
	default:
		(void)snprintf(buf, size, "?");
		break;
	}
}

char *gc_egpu_knob_path(unsigned index, const char *knob)
{
	char *p;

	if (asprintf(&p, GC_EGPU_DEBUGFS_DIR "/anarchy%u/%s", index, knob) < 0)
		return NULL;
	return p;
}

/* Whether a prefixed directory has any entry; -errno when it cannot be read. */
static int dir_has_entries(const char *path)
{
	_cleanup_free_ char *p = gc_env_path(path);
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;

	if (!p)
		return -ENOMEM;
	d = opendir(p);
	if (!d)
		return -errno;
	while ((de = readdir(d)))
		if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
			return 1;
	return 0;
}

int gc_egpu_debugfs_check(unsigned index)
{
	char dir[64];
	int r;

	(void)snprintf(dir, sizeof(dir), GC_EGPU_DEBUGFS_DIR "/anarchy%u", index);
	if (is_dir(dir))
		return 0;
	/* A mounted debugfs always has entries; its bare mount point has none. */
	r = dir_has_entries(GC_EGPU_DEBUGFS_MOUNT);
	if (r == -EACCES || r == -EPERM)
		return log_error_errno(r, "Cannot read " GC_EGPU_DEBUGFS_MOUNT
					  ": %m: fault injection needs root.");
	if (r <= 0 && r != -ENOMEM)
		return log_error_errno(ENOENT,
				       "debugfs is not mounted: mount it with 'mount -t debugfs "
				       "none " GC_EGPU_DEBUGFS_MOUNT "'.");
	if (r < 0)
		return log_oom();
	if (!is_dir(GC_EGPU_DEBUGFS_DIR))
		return log_error_errno(ENOENT, "No " GC_EGPU_DEBUGFS_DIR
					       ": this anarchy module has no fault injection.");
	return log_error_errno(ENOENT, "No fault injection knobs for anarchy%u in %s.", index,
			       GC_EGPU_DEBUGFS_DIR);
}

int gc_egpu_knob_read(unsigned index, const char *knob, char **ret_value)
{
	_cleanup_free_ char *path = gc_egpu_knob_path(index, knob);

	if (!path)
		return -ENOMEM;
	return read_line(path, ret_value);
}

int gc_egpu_knob_write(unsigned index, const char *knob, unsigned value)
{
	_cleanup_free_ char *path = gc_egpu_knob_path(index, knob), *p = NULL;
	_cleanup_close_ int fd = -EBADF;
	char buf[16];
	ssize_t n;
	int len;

	if (!path)
		return -ENOMEM;
	p = gc_env_path(path);
	if (!p)
		return -ENOMEM;
	/* No O_CREAT: a knob that is not there is an error, never a new file. */
	fd = open(p, O_WRONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	len = snprintf(buf, sizeof(buf), "%u\n", value);
	do
		n = write(fd, buf, (size_t)len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n != len)
		return -EIO;
	return 0;
}
