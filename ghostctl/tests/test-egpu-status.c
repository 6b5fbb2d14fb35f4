/* SPDX-License-Identifier: MIT */
/*
 * egpu/status.c: a link as `egpu status` prints it, as text and JSON, from a struct
 * anarchy_link_info (the device) or from what sysfs gives. The whole outputs are pinned by
 * golden files, golden/egpu/CASE.txt and CASE.json; GC_UPDATE_GOLDEN=1 rewrites them instead
 * (then review the diff before committing it). The JSON members are checked one by one too,
 * since docs/egpu.md promises them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "common/string-util.h"
#include "common/tests.h"
#include "egpu/status.h"

TEST(bytes)
{
	static const struct {
		uint64_t v;
		const char *text;
	} cases[] = {
		{ 0, "0 B" },
		{ 1023, "1023 B" },
		{ 1024, "1.0 KiB" },
		{ 1536, "1.5 KiB" },
		{ 1048575, "1.0 MiB" },
		{ 1048576, "1.0 MiB" },
		{ 24564ull << 20, "24.0 GiB" },
		{ 8ull << 30, "8.0 GiB" },
		{ UINT64_MAX, "16.0 EiB" },
	};
	char buf[32];

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		gc_egpu_format_bytes(cases[i].v, buf, sizeof(buf));
		ASSERT_STREQ(buf, cases[i].text);
	}
}

TEST(bitrates_and_durations)
{
	char buf[32];

	gc_egpu_format_bitrate(0, buf, sizeof(buf));
	ASSERT_STREQ(buf, "0 b/s");
	gc_egpu_format_bitrate(-5, buf, sizeof(buf));
	ASSERT_STREQ(buf, "0 b/s");
	gc_egpu_format_bitrate(0.0 / 0.0, buf, sizeof(buf));
	ASSERT_STREQ(buf, "0 b/s");
	gc_egpu_format_bitrate(999, buf, sizeof(buf));
	ASSERT_STREQ(buf, "999 b/s");
	gc_egpu_format_bitrate(1000, buf, sizeof(buf));
	ASSERT_STREQ(buf, "1.00 kb/s");
	gc_egpu_format_bitrate(812345, buf, sizeof(buf));
	ASSERT_STREQ(buf, "812 kb/s");
	gc_egpu_format_bitrate(9.41e9, buf, sizeof(buf));
	ASSERT_STREQ(buf, "9.41 Gb/s");
	gc_egpu_format_bitrate(40e9, buf, sizeof(buf));
	ASSERT_STREQ(buf, "40.0 Gb/s");
	gc_egpu_format_bitrate(5e15, buf, sizeof(buf));
	ASSERT_STREQ(buf, "5000 Tb/s");

	gc_egpu_format_us(0, buf, sizeof(buf));
	ASSERT_STREQ(buf, "0 us");
	gc_egpu_format_us(850, buf, sizeof(buf));
	ASSERT_STREQ(buf, "850 us");
	gc_egpu_format_us(1250, buf, sizeof(buf));
	ASSERT_STREQ(buf, "1.25 ms");
	gc_egpu_format_us(2.5e6, buf, sizeof(buf));
	ASSERT_STREQ(buf, "2.50 s");
	gc_egpu_format_us(0.0 / 0.0, buf, sizeof(buf));
	ASSERT_STREQ(buf, "-");
}

TEST(encoders_and_uuid)
{
	static const uint8_t zero[16] = { 0 };
	static const uint8_t u[16] = { 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0,
				       0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef };
	char buf[64];

	gc_egpu_format_encoders(ANARCHY_ENC_H264 | ANARCHY_ENC_HEVC | ANARCHY_ENC_AV1, buf,
				sizeof(buf));
	ASSERT_STREQ(buf, "H.264 HEVC AV1");
	gc_egpu_format_encoders(ANARCHY_ENC_AV1 | (1u << 30), buf, sizeof(buf));
	ASSERT_STREQ(buf, "AV1");
	gc_egpu_format_encoders(0, buf, sizeof(buf));
	ASSERT_STREQ(buf, "-");
	gc_egpu_format_encoders(ANARCHY_ENC_H264 | ANARCHY_ENC_HEVC, buf, 8); /* truncated */
	ASSERT_STREQ(buf, "H.264");

	gc_egpu_format_uuid(u, buf, sizeof(buf));
	ASSERT_STREQ(buf, "12345678-9abc-def0-0123-456789abcdef");
	ASSERT_FALSE(gc_egpu_uuid_is_null(u));
	ASSERT_TRUE(gc_egpu_uuid_is_null(zero));
	ASSERT_STREQ(gc_egpu_state_string(ANARCHY_LINK_NEGOTIATING), "negotiating");
	ASSERT_STREQ(gc_egpu_state_string(GC_EGPU_STATE_UNKNOWN), "unknown");
}

/* A simulated link as the module's test mode shows it, with two GPUs. */
static struct gc_egpu_link device_link(void)
{
	struct gc_egpu_link l = {
		.index = 0,
		.source = GC_EGPU_SOURCE_DEVICE,
		.info = {
			.index = 0,
			.state = ANARCHY_LINK_UP,
			.flags = ANARCHY_INFO_SIMULATED | ANARCHY_INFO_RINGS,
			.link_speed_mbps = 40000,
			.dma_rate_mbps = 10000,
			.bandwidth_cap_mbps = 2500,
			.latency_us = 1,
			.log_level = 6,
			.gpu_count = 2,
			.rtt_us = 37,
			.far_uuid = { 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x01, 0x23,
				      0x45, 0x67, 0x89, 0xab, 0xcd, 0xef },
			.far_name = "anarchy-sim",
			.gpus = {
				{
					.name = "NVIDIA GeForce RTX 4090",
					.driver = "nvidia",
					.vram_bytes = 24564ull << 20,
					.encoders = ANARCHY_ENC_H264 | ANARCHY_ENC_HEVC |
						    ANARCHY_ENC_AV1,
				},
				{
					.name = "AMD Radeon RX 7900 XTX",
					.driver = "amdgpu",
					.vram_bytes = 24ull << 30,
					.encoders = ANARCHY_ENC_H264 | ANARCHY_ENC_HEVC,
				},
			},
			.counters = {
				.tx_bytes = 123456789,
				.rx_bytes = 987654,
				.tx_records = 1000,
				.rx_records = 20,
				.tx_frames = 31000,
				.rx_frames = 700,
				.retransmits = 7,
				.crc_errors = 3,
				.drops = 2,
				.overflows = 1,
				.link_ups = 2,
				.link_downs = 1,
				.stalls = 1,
				.errors = 0,
			},
		},
	};

	return l;
}

/* A link that an administrator took down: no carrier speed, no far host while down. */
static struct gc_egpu_link down_link(void)
{
	struct gc_egpu_link l = device_link();

	l.index = 3;
	l.info.index = 3;
	l.info.state = ANARCHY_LINK_DOWN;
	l.info.flags = ANARCHY_INFO_ADMIN_DOWN;
	l.info.link_speed_mbps = 0;
	l.info.bandwidth_cap_mbps = 0;
	l.info.gpu_count = 0;
	l.info.far_name[0] = '\0';
	memset(l.info.far_uuid, 0, sizeof(l.info.far_uuid));
	return l;
}

/* What sysfs gives of a link whose device did not open. */
static struct gc_egpu_link sysfs_link(void)
{
	struct gc_egpu_link l = {
		.index = 1,
		.source = GC_EGPU_SOURCE_SYSFS,
		.open_error = -EACCES,
		.info = {
			.index = 1,
			.state = ANARCHY_LINK_UP,
			.flags = ANARCHY_INFO_SIMULATED,
			.link_speed_mbps = 40000,
			.gpu_count = 1,
			.far_name = "anarchy-sim",
			.gpus = { { .name = "NVIDIA GeForce RTX 4090" } },
			.counters = {
				.tx_bytes = 4096,
				.rx_bytes = 8192,
				.tx_records = 4,
				.rx_records = 8,
				.retransmits = 1,
			},
		},
	};

	return l;
}

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "re");
	char *text = NULL;
	size_t size = 0;

	if (!f)
		return NULL;
	if (getdelim(&text, &size, '\0', f) < 0) {
		free(text);
		text = NULL;
	}
	fclose(f);
	return text;
}

static void check_golden(const char *name, const char *text)
{
	_cleanup_free_ char *golden = NULL;
	const char *dir = getenv("EGPU_GOLDEN_DIR");
	char path[512];

	ASSERT_NOT_NULL(dir);
	(void)snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (getenv("GC_UPDATE_GOLDEN")) {
		FILE *f = fopen(path, "we");

		ASSERT_NOT_NULL(f);
		fputs(text, f);
		ASSERT_OK(fclose(f));
	}
	golden = read_all(path);
	if (!golden || !streq(golden, text)) {
		fprintf(stderr, "%s differs from the output:\n%s", path, text);
		ASSERT_OK(-EBADMSG);
	}
}

static char *text_of(const struct gc_egpu_link *l)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);

	ASSERT_NOT_NULL(f);
	ASSERT_OK(gc_egpu_link_write(f, l));
	ASSERT_OK(fclose(f));
	return text;
}

static char *json_of(const struct gc_egpu_link *links, size_t n)
{
	json_auto_t *j = gc_egpu_status_json(links, n);
	char *text;

	ASSERT_NOT_NULL(j);
	text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
	ASSERT_NOT_NULL(text);
	return text;
}

TEST(text_golden)
{
	struct gc_egpu_link d = device_link(), s = sysfs_link(), down = down_link();
	_cleanup_free_ char *a = text_of(&d), *b = text_of(&s), *c = text_of(&down);

	check_golden("device.txt", a);
	check_golden("sysfs.txt", b);
	check_golden("down.txt", c);
}

TEST(json_golden)
{
	struct gc_egpu_link links[] = { device_link(), sysfs_link(), down_link() };
	_cleanup_free_ char *text = json_of(links, ELEMENTSOF(links));
	_cleanup_free_ char *empty = json_of(NULL, 0);

	check_golden("status.json", text);
	ASSERT_STREQ(empty, "{\n  \"schema\": 1,\n  \"links\": []\n}");
}

/* The members docs/egpu.md lists, in its order, and which sysfs leaves null. */
TEST(json_members)
{
	static const char *const keys[] = {
		"index",	   "name",	    "device",
		"source",	   "source_error",  "state",
		"simulated",	   "admin_down",    "rings_in_use",
		"link_speed_mbps", "dma_rate_mbps", "bandwidth_cap_mbps",
		"latency_us",	   "rtt_us",	    "log_level",
		"far_host",	   "gpus",	    "counters",
	};
	static const char *const null_in_sysfs[] = {
		"admin_down", "rings_in_use", "dma_rate_mbps", "latency_us", "rtt_us", "log_level",
	};
	static const char *const counters[] = {
		"tx_bytes",  "rx_bytes",    "tx_records", "rx_records", "tx_frames",
		"rx_frames", "retransmits", "crc_errors", "drops",	"overflows",
		"errors",    "link_ups",    "link_downs", "stalls",
	};
	struct gc_egpu_link d = device_link(), s = sysfs_link(), down = down_link();
	json_auto_t *jd = gc_egpu_link_json(&d), *js = gc_egpu_link_json(&s);
	json_auto_t *jdown = gc_egpu_link_json(&down);
	const char *key;
	json_t *v;
	size_t i = 0;

	ASSERT_NOT_NULL(jd);
	ASSERT_NOT_NULL(js);
	json_object_foreach(jd, key, v)
	{
		ASSERT_LT(i, ELEMENTSOF(keys));
		ASSERT_STREQ(key, keys[i++]);
	}
	ASSERT_EQ(i, ELEMENTSOF(keys));
	ASSERT_EQ(json_object_size(js), ELEMENTSOF(keys));
	ASSERT_EQ(json_object_size(json_object_get(jd, "counters")), ELEMENTSOF(counters));
	for (i = 0; i < ELEMENTSOF(counters); i++) {
		ASSERT_TRUE(json_is_integer(
			json_object_get(json_object_get(jd, "counters"), counters[i])));
		ASSERT_NOT_NULL(json_object_get(json_object_get(js, "counters"), counters[i]));
	}
	ASSERT_TRUE(json_is_null(json_object_get(json_object_get(js, "counters"), "tx_frames")));
	ASSERT_EQ(
		json_integer_value(json_object_get(json_object_get(js, "counters"), "retransmits")),
		1);
	for (i = 0; i < ELEMENTSOF(null_in_sysfs); i++) {
		ASSERT_TRUE(json_is_null(json_object_get(js, null_in_sysfs[i])));
		ASSERT_FALSE(json_is_null(json_object_get(jd, null_in_sysfs[i])));
	}
	ASSERT_STREQ(json_string_value(json_object_get(jd, "source")), "device");
	ASSERT_TRUE(json_is_null(json_object_get(jd, "source_error")));
	ASSERT_STREQ(json_string_value(json_object_get(js, "source")), "sysfs");
	ASSERT_STREQ(json_string_value(json_object_get(js, "source_error")), strerror(EACCES));
	ASSERT_STREQ(json_string_value(json_object_get(jd, "device")), "/dev/anarchy0");
	ASSERT_STREQ(json_string_value(json_object_get(jd, "state")), "up");
	ASSERT_TRUE(json_is_true(json_object_get(jd, "rings_in_use")));
	ASSERT_EQ(json_integer_value(json_object_get(jd, "rtt_us")), 37);

	v = json_object_get(jd, "far_host");
	ASSERT_STREQ(json_string_value(json_object_get(v, "name")), "anarchy-sim");
	ASSERT_STREQ(json_string_value(json_object_get(v, "uuid")),
		     "12345678-9abc-def0-0123-456789abcdef");
	ASSERT_TRUE(json_is_null(json_object_get(json_object_get(js, "far_host"), "uuid")));
	ASSERT_TRUE(json_is_null(json_object_get(jdown, "far_host")));
	ASSERT_TRUE(json_is_true(json_object_get(jdown, "admin_down")));
	ASSERT_EQ(json_array_size(json_object_get(jdown, "gpus")), 0u);

	v = json_array_get(json_object_get(jd, "gpus"), 0);
	ASSERT_STREQ(json_string_value(json_object_get(v, "name")), "NVIDIA GeForce RTX 4090");
	ASSERT_STREQ(json_string_value(json_object_get(v, "driver")), "nvidia");
	ASSERT_EQ(json_integer_value(json_object_get(v, "vram_bytes")), 24564ll << 20);
	ASSERT_EQ(json_array_size(json_object_get(v, "encoders")), 3u);
	ASSERT_STREQ(json_string_value(json_array_get(json_object_get(v, "encoders"), 2)), "av1");
	ASSERT_EQ(json_array_size(json_object_get(jd, "gpus")), 2u);
	v = json_array_get(json_object_get(js, "gpus"), 0);
	ASSERT_STREQ(json_string_value(json_object_get(v, "name")), "NVIDIA GeForce RTX 4090");
	ASSERT_TRUE(json_is_null(json_object_get(v, "driver")));
	ASSERT_TRUE(json_is_null(json_object_get(v, "vram_bytes")));
	ASSERT_TRUE(json_is_null(json_object_get(v, "encoders")));
}

/* Outside bytes: names without their NUL, more GPUs than fit, a state of the future. */
TEST(hostile_info)
{
	struct gc_egpu_link l = device_link();
	_cleanup_free_ char *text = NULL;
	json_auto_t *j = NULL;

	l.info.state = 99;
	l.info.gpu_count = 1000;
	memset(l.info.gpus[3].name, 'x', sizeof(l.info.gpus[3].name));
	memset(l.info.gpus[3].driver, 'y', sizeof(l.info.gpus[3].driver));
	memset(l.info.far_name, 'z', sizeof(l.info.far_name));
	memcpy(l.info.gpus[0].name, "\x1b[2Jevil\xff\xc3", 11);
	text = text_of(&l);
	ASSERT_NOT_NULL(strstr(text, "anarchy0: unknown (simulated link)"));
	ASSERT_NOT_NULL(strstr(text, "gpu 0       ?[2Jevil??"));
	ASSERT_NULL(strchr(text, '\x1b'));
	ASSERT_NOT_NULL(strstr(
		text,
		"gpu 3       xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx:"));
	j = gc_egpu_link_json(&l);
	ASSERT_NOT_NULL(j);
	ASSERT_EQ(json_array_size(json_object_get(j, "gpus")), (size_t)ANARCHY_MAX_GPUS);
	ASSERT_STREQ(json_string_value(json_object_get(j, "state")), "unknown");
	ASSERT_STREQ(json_string_value(json_object_get(
			     json_array_get(json_object_get(j, "gpus"), 0), "name")),
		     "?[2Jevil??");
}

DEFINE_TEST_MAIN();
