/* SPDX-License-Identifier: MIT */
/*
 * egpu/link.c: LINK names, FAULT [VALUE] of `egpu inject`, and the reading of sysfs and
 * debugfs through a fake tree under GHOSTCTL_ROOT.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/macro.h"
#include "common/string-util.h"
#include "common/tests.h"
#include "egpu/link.h"

TEST(link_names)
{
	static const struct {
		const char *s;
		int index; /* -1: refused */
	} cases[] = {
		{ "0", 0 },
		{ "7", 7 },
		{ "9999", 9999 },
		{ "anarchy0", 0 },
		{ "anarchy12", 12 },
		{ "/dev/anarchy3", 3 },
		{ "", -1 },
		{ "anarchy", -1 },
		{ "/dev/anarchy", -1 },
		{ "00", -1 },
		{ "01", -1 },
		{ "anarchy01", -1 },
		{ "10000", -1 },
		{ "99999999999999999999", -1 },
		{ "-1", -1 },
		{ "+1", -1 },
		{ " 1", -1 },
		{ "1 ", -1 },
		{ "1a", -1 },
		{ "0x1", -1 },
		{ "anarchy0/", -1 },
		{ "Anarchy0", -1 },
		{ "dev/anarchy0", -1 },
		{ "/dev/anarchy/0", -1 },
		{ "/tmp/anarchy0", -1 },
		{ "anarchy-1", -1 },
		{ "/dev/anarchyanarchy0", -1 },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		unsigned index = 12345;
		int r = gc_egpu_link_parse(cases[i].s, &index);

		if (cases[i].index < 0) {
			if (r != -EINVAL)
				fprintf(stderr, "accepted '%s'\n", cases[i].s);
			ASSERT_ERROR(gc_egpu_link_parse(cases[i].s, &index), EINVAL);
			ASSERT_EQ(index, 12345u); /* untouched on failure */
		} else {
			if (r < 0)
				fprintf(stderr, "refused '%s'\n", cases[i].s);
			ASSERT_OK(r);
			ASSERT_EQ(index, (unsigned)cases[i].index);
		}
	}
	ASSERT_ERROR(gc_egpu_link_parse(NULL, NULL), EINVAL);
}

TEST(link_name_and_device)
{
	char name[GC_EGPU_NAME_MAX], dev[GC_EGPU_PATH_MAX];

	gc_egpu_link_name(GC_EGPU_LINK_MAX, name);
	gc_egpu_link_dev(GC_EGPU_LINK_MAX, dev);
	ASSERT_STREQ(name, "anarchy9999");
	ASSERT_STREQ(dev, "/dev/anarchy9999");
	gc_egpu_link_dev(0, dev);
	ASSERT_STREQ(dev, "/dev/anarchy0");
}

static void fault_ok(const char *fault, const char *value, enum gc_egpu_fault_kind kind,
		     const char *knob, unsigned v)
{
	struct gc_egpu_fault f;
	char err[256] = "";

	if (gc_egpu_fault_parse(fault, value, &f, err, sizeof(err)) < 0)
		fprintf(stderr, "'%s' '%s': %s\n", fault, value ? value : "(none)", err);
	ASSERT_OK(gc_egpu_fault_parse(fault, value, &f, err, sizeof(err)));
	ASSERT_EQ(f.kind, kind);
	ASSERT_STREQ(f.knob, knob);
	ASSERT_EQ(f.value, v);
}

static void fault_bad(const char *fault, const char *value, const char *message)
{
	struct gc_egpu_fault f = { .value = 77 };
	char err[256] = "";

	ASSERT_ERROR(gc_egpu_fault_parse(fault, value, &f, err, sizeof(err)), EINVAL);
	ASSERT_STREQ(err, message);
	ASSERT_EQ(f.value, 77u);
}

TEST(fault_values)
{
	fault_ok("drop", "5", GC_EGPU_FAULT_DROP, "drop", 5);
	fault_ok("drop", "0", GC_EGPU_FAULT_DROP, "drop", 0);
	fault_ok("drop", "2147483647", GC_EGPU_FAULT_DROP, "drop", 2147483647u);
	fault_ok("corrupt", "3", GC_EGPU_FAULT_CORRUPT, "corrupt", 3);
	fault_ok("delay", "1500", GC_EGPU_FAULT_DELAY, "delay_us", 1500);
	fault_ok("delay", "0", GC_EGPU_FAULT_DELAY, "delay_us", 0);
	fault_ok("delay", "10000000", GC_EGPU_FAULT_DELAY, "delay_us", 10000000);
	fault_ok("stall", "on", GC_EGPU_FAULT_STALL, "stall", 1);
	fault_ok("stall", "1", GC_EGPU_FAULT_STALL, "stall", 1);
	fault_ok("stall", "off", GC_EGPU_FAULT_STALL, "stall", 0);
	fault_ok("stall", "0", GC_EGPU_FAULT_STALL, "stall", 0);
	fault_ok("unplug", NULL, GC_EGPU_FAULT_UNPLUG, "plugged", 0);
	fault_ok("replug", NULL, GC_EGPU_FAULT_REPLUG, "plugged", 1);
}

TEST(fault_errors)
{
	fault_bad("explode", NULL,
		  "unknown fault 'explode' (drop, corrupt, delay, stall, unplug or replug)");
	fault_bad("Drop", "1",
		  "unknown fault 'Drop' (drop, corrupt, delay, stall, unplug or replug)");
	fault_bad("drop", NULL, "drop: missing value (a number of frames)");
	fault_bad("corrupt", NULL, "corrupt: missing value (a number of frames)");
	fault_bad("delay", NULL, "delay: missing value (microseconds, 0 for none)");
	fault_bad("stall", NULL, "stall: missing value (on or off)");
	fault_bad("drop", "-1", "drop: invalid count '-1' (0 to 2147483647)");
	fault_bad("drop", "2147483648", "drop: invalid count '2147483648' (0 to 2147483647)");
	fault_bad("drop", "1e3", "drop: invalid count '1e3' (0 to 2147483647)");
	fault_bad("drop", "", "drop: invalid count '' (0 to 2147483647)");
	fault_bad("corrupt", "x", "corrupt: invalid count 'x' (0 to 2147483647)");
	fault_bad("delay", "10000001",
		  "delay: invalid microseconds '10000001' (0 to 10000000; 0: no delay)");
	fault_bad("delay", "5ms", "delay: invalid microseconds '5ms' (0 to 10000000; 0: no delay)");
	fault_bad("stall", "yes", "stall: invalid value 'yes' (on or off)");
	fault_bad("stall", "2", "stall: invalid value '2' (on or off)");
	fault_bad("unplug", "1", "unplug takes no value, got '1'");
	fault_bad("replug", "now", "replug takes no value, got 'now'");
}

TEST(fault_descriptions)
{
	static const struct {
		const char *fault, *value, *text;
	} cases[] = {
		{ "drop", "5", "drop the next 5 frames anarchy0 sends" },
		{ "drop", "1", "drop the next 1 frame anarchy0 sends" },
		{ "drop", "0", "stop dropping frames anarchy0 sends" },
		{ "corrupt", "2", "corrupt the next 2 frames anarchy0 sends" },
		{ "corrupt", "0", "stop corrupting frames anarchy0 sends" },
		{ "delay", "250", "delay every frame anarchy0 sends by 250 us" },
		{ "delay", "0", "stop delaying the frames anarchy0 sends" },
		{ "stall", "on", "make anarchy0 go silent, as a hung host would" },
		{ "stall", "off", "let anarchy0 speak again" },
		{ "unplug", NULL, "pull the simulated cable of anarchy0 (both ends go down)" },
		{ "replug", NULL, "plug the simulated cable of anarchy0 back in" },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct gc_egpu_fault f;
		char err[128], text[160];

		ASSERT_OK(
			gc_egpu_fault_parse(cases[i].fault, cases[i].value, &f, err, sizeof(err)));
		gc_egpu_fault_describe(&f, "anarchy0", text, sizeof(text));
		ASSERT_STREQ(text, cases[i].text);
	}
}

TEST(text_sanitize)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "plain", "plain" },
		{ "caf\xc3\xa9 \xe2\x96\x88 \xf0\x9f\x8e\xae",
		  "caf\xc3\xa9 \xe2\x96\x88 \xf0\x9f\x8e\xae" },
		{ "\x1b[31mred", "?[31mred" },
		{ "tab\there\x7f", "tab?here?" },
		{ "\xc2\x9b"
		  "1m",
		  "??1m" },			/* C1 CSI */
		{ "\xff\xfe", "??" },		/* never UTF-8 */
		{ "\xc0\xaf", "??" },		/* overlong '/' */
		{ "\xe0\x80\xaf", "???" },	/* overlong, 3 bytes */
		{ "\xed\xa0\x80", "???" },	/* a surrogate */
		{ "\xf4\x90\x80\x80", "????" }, /* above U+10FFFF */
		{ "cut \xe2\x96", "cut ??" },	/* truncated at the end */
	};
	char buf[64];

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		(void)snprintf(buf, sizeof(buf), "%s", cases[i].in);
		gc_egpu_text_sanitize(buf, sizeof(buf));
		ASSERT_STREQ(buf, cases[i].out);
	}
	/* A field without its NUL ends within itself. */
	memset(buf, 'a', sizeof(buf));
	gc_egpu_text_sanitize(buf, 8);
	ASSERT_STREQ(buf, "aaaaaaa");
}

/* ---- A fake tree under GHOSTCTL_ROOT -------------------------------------------------------- */

static char root[256];

static void write_file(const char *path, const char *text)
{
	char p[512];
	FILE *f;

	(void)snprintf(p, sizeof(p), "%s%s", root, path);
	f = fopen(p, "we");
	ASSERT_NOT_NULL(f);
	fputs(text, f);
	ASSERT_OK(fclose(f));
}

static void make_dir(const char *path)
{
	char p[512];

	(void)snprintf(p, sizeof(p), "%s%s", root, path);
	for (char *s = p + strlen(root) + 1; *s; s++)
		if (*s == '/') {
			*s = '\0';
			(void)mkdir(p, 0755);
			*s = '/';
		}
	ASSERT_OK_ERRNO(mkdir(p, 0755));
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)remove(path); /* best effort: a leftover in TMPDIR harms nothing */
	return 0;
}

/* A passing test exits through exit(): the tree goes then; a failing one leaves it to see. */
static void remove_root(void)
{
	(void)nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void fake_root(void)
{
	(void)snprintf(root, sizeof(root), "%s/gc-egpu-XXXXXX",
		       getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	ASSERT_NOT_NULL(mkdtemp(root));
	ASSERT_OK_ERRNO(setenv("GHOSTCTL_ROOT", root, 1));
	ASSERT_OK_ZERO(atexit(remove_root));
}

/* A link as the module's sysfs shows it. */
static void fake_link(unsigned index, const char *state)
{
	char dir[128], path[192];
	static const char *const attrs[][2] = {
		{ "link_speed", "40000\n" }, { "tx_bytes", "1048576\n" },
		{ "rx_bytes", "2048\n" },    { "tx_records", "256\n" },
		{ "rx_records", "2\n" },     { "errors", "1\n" },
		{ "crc_errors", "3\n" },     { "drops", "4\n" },
		{ "retransmits", "5\n" },    { "bandwidth_limit", "2500\n" },
		{ "far_name", "far-box\n" }, { "far_gpu", "NVIDIA GeForce RTX 4090\n" },
		{ "simulated", "1\n" },
	};

	(void)snprintf(dir, sizeof(dir), GC_EGPU_SYSFS_DIR "/anarchy%u", index);
	make_dir(dir);
	(void)snprintf(path, sizeof(path), "%s/state", dir);
	write_file(path, state);
	for (size_t i = 0; i < ELEMENTSOF(attrs); i++) {
		(void)snprintf(path, sizeof(path), "%s/%s", dir, attrs[i][0]);
		write_file(path, attrs[i][1]);
	}
}

TEST(no_module)
{
	unsigned *list = NULL;
	size_t n = 99;

	fake_root();
	ASSERT_ERROR(gc_egpu_module_check(), ENOENT);
	ASSERT_ERROR(gc_egpu_list(&list, &n), ENOENT);
	ASSERT_EQ(n, 99u);
	ASSERT_FALSE(gc_egpu_link_exists(0));
	/* A file where the class directory should be is no module either. */
	make_dir("/sys/class");
	write_file(GC_EGPU_SYSFS_DIR, "");
	ASSERT_ERROR(gc_egpu_module_check(), ENOENT);
	ASSERT_ERROR(gc_egpu_list(&list, &n), ENOENT);
}

TEST(list_sorted_by_number)
{
	_cleanup_free_ unsigned *list = NULL;
	size_t n = 99;

	fake_root();
	make_dir(GC_EGPU_SYSFS_DIR);
	ASSERT_OK(gc_egpu_module_check());
	ASSERT_OK(gc_egpu_list(&list, &n));
	ASSERT_EQ(n, 0u);
	ASSERT_NULL(list);

	fake_link(10, "up\n");
	fake_link(2, "down\n");
	fake_link(0, "up\n");
	make_dir(GC_EGPU_SYSFS_DIR "/anarchy01"); /* not a name the module gives */
	make_dir(GC_EGPU_SYSFS_DIR "/other3");
	ASSERT_OK(gc_egpu_list(&list, &n));
	ASSERT_EQ(n, 3u);
	ASSERT_EQ(list[0], 0u);
	ASSERT_EQ(list[1], 2u);
	ASSERT_EQ(list[2], 10u);
	ASSERT_TRUE(gc_egpu_link_exists(2));
	ASSERT_FALSE(gc_egpu_link_exists(3));
}

TEST(read_sysfs)
{
	struct gc_egpu_link l;

	fake_root();
	fake_link(1, "stalled\n");
	ASSERT_OK(gc_egpu_read_sysfs(1, &l));
	ASSERT_EQ(l.index, 1u);
	ASSERT_EQ(l.source, GC_EGPU_SOURCE_SYSFS);
	ASSERT_EQ(l.info.index, 1u);
	ASSERT_EQ(l.info.state, (uint32_t)ANARCHY_LINK_STALLED);
	ASSERT_EQ(l.info.flags, (uint32_t)ANARCHY_INFO_SIMULATED);
	ASSERT_EQ(l.info.link_speed_mbps, 40000u);
	ASSERT_EQ(l.info.bandwidth_cap_mbps, 2500u);
	ASSERT_STREQ(l.info.far_name, "far-box");
	ASSERT_EQ(l.info.gpu_count, 1u);
	ASSERT_STREQ(l.info.gpus[0].name, "NVIDIA GeForce RTX 4090");
	ASSERT_EQ(l.info.counters.tx_bytes, 1048576u);
	ASSERT_EQ(l.info.counters.rx_bytes, 2048u);
	ASSERT_EQ(l.info.counters.tx_records, 256u);
	ASSERT_EQ(l.info.counters.rx_records, 2u);
	ASSERT_EQ(l.info.counters.errors, 1u);
	ASSERT_EQ(l.info.counters.crc_errors, 3u);
	ASSERT_EQ(l.info.counters.drops, 4u);
	ASSERT_EQ(l.info.counters.retransmits, 5u);
	ASSERT_EQ(l.info.counters.tx_frames, 0u); /* unknown to sysfs */

	/* Through gc_egpu_read() without a device: the reason is kept. */
	ASSERT_OK(gc_egpu_read(1, NULL, -EACCES, &l));
	ASSERT_EQ(l.source, GC_EGPU_SOURCE_SYSFS);
	ASSERT_EQ(l.open_error, -EACCES);

	/* Odd values: an unknown state, no GPU, a counter that is no number. */
	write_file(GC_EGPU_SYSFS_DIR "/anarchy1/state", "exploded\n");
	write_file(GC_EGPU_SYSFS_DIR "/anarchy1/far_gpu", "\n");
	write_file(GC_EGPU_SYSFS_DIR "/anarchy1/tx_bytes", "lots\n");
	ASSERT_OK(gc_egpu_read_sysfs(1, &l));
	ASSERT_EQ(l.info.state, (uint32_t)GC_EGPU_STATE_UNKNOWN);
	ASSERT_EQ(l.info.gpu_count, 0u);
	ASSERT_EQ(l.info.counters.tx_bytes, 0u);
	ASSERT_ERROR(gc_egpu_read_sysfs(2, &l), ENOENT);
}

TEST(open_needs_a_device)
{
	struct anarchy_link *link = NULL;

	fake_root();
	fake_link(0, "up\n");
	ASSERT_ERROR(gc_egpu_open(0, 0, &link), ENOENT);
	/* A regular file is no anarchy device: its ioctl fails. */
	make_dir("/dev");
	write_file("/dev/anarchy0", "");
	ASSERT_ERROR(gc_egpu_open(0, 0, &link), ENOTTY);
	ASSERT_NULL(link);
}

TEST(debugfs_knobs)
{
	_cleanup_free_ char *path = NULL, *value = NULL;
	char p[512];

	fake_root();
	fake_link(0, "up\n");
	path = gc_egpu_knob_path(0, "delay_us");
	ASSERT_STREQ(path, "/sys/kernel/debug/anarchy/anarchy0/delay_us");

	/* No mount point, then a bare one: debugfs is not mounted. */
	ASSERT_ERROR(gc_egpu_debugfs_check(0), ENOENT);
	make_dir(GC_EGPU_DEBUGFS_MOUNT);
	ASSERT_ERROR(gc_egpu_debugfs_check(0), ENOENT);
	/* Mounted, without the module's directory, then without this link's. */
	make_dir(GC_EGPU_DEBUGFS_MOUNT "/tracing");
	ASSERT_ERROR(gc_egpu_debugfs_check(0), ENOENT);
	make_dir(GC_EGPU_DEBUGFS_DIR "/anarchy1");
	ASSERT_ERROR(gc_egpu_debugfs_check(0), ENOENT);
	make_dir(GC_EGPU_DEBUGFS_DIR "/anarchy0");
	ASSERT_OK(gc_egpu_debugfs_check(0));

	/* A knob that is not there is never created. */
	ASSERT_ERROR(gc_egpu_knob_write(0, "drop", 5), ENOENT);
	(void)snprintf(p, sizeof(p), "%s%s", root, GC_EGPU_DEBUGFS_DIR "/anarchy0/drop");
	ASSERT_ERROR_ERRNO(access(p, F_OK), ENOENT);
	write_file(GC_EGPU_DEBUGFS_DIR "/anarchy0/drop", "");
	ASSERT_OK(gc_egpu_knob_write(0, "drop", 5));
	ASSERT_OK(gc_egpu_knob_read(0, "drop", &value));
	ASSERT_STREQ(value, "5");
}

DEFINE_TEST_MAIN();
