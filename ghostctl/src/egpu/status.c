/* SPDX-License-Identifier: MIT */
/* `ghostctl egpu status`: text and JSON of a link. See status.h; docs/egpu.md has the schema. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/macro.h"
#include "common/string-util.h"
#include "status.h"

const char *gc_egpu_state_string(uint32_t state)
{
	return anarchy_state_to_string(state);
}

void gc_egpu_format_bytes(uint64_t bytes, char *buf, size_t size)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)bytes;
	size_t u = 0;

	if (bytes < 1024) {
		(void)snprintf(buf, size, "%llu B", (unsigned long long)bytes);
		return;
	}
	v /= 1024;
	while (v >= 1023.95 && u + 1 < ELEMENTSOF(units)) {
		v /= 1024;
		u++;
	}
	(void)snprintf(buf, size, "%.1f %s", v, units[u]);
}

/* Three significant digits: "9.41", "94.1", "941". */
static void format_3(double v, const char *unit, char *buf, size_t size)
{
	if (v >= 99.95)
		(void)snprintf(buf, size, "%.0f %s", v, unit);
	else if (v >= 9.995)
		(void)snprintf(buf, size, "%.1f %s", v, unit);
	else
		(void)snprintf(buf, size, "%.2f %s", v, unit);
}

void gc_egpu_format_bitrate(double bps, char *buf, size_t size)
{
	static const char *const units[] = { "kb/s", "Mb/s", "Gb/s", "Tb/s" };
	size_t u = 0;

	if (!(bps >= 0.5)) { /* and NaN */
		(void)snprintf(buf, size, "0 b/s");
		return;
	}
	if (bps < 999.5) {
		(void)snprintf(buf, size, "%.0f b/s", bps);
		return;
	}
	bps /= 1000;
	while (bps >= 999.5 && u + 1 < ELEMENTSOF(units)) {
		bps /= 1000;
		u++;
	}
	format_3(bps, units[u], buf, size);
}

void gc_egpu_format_us(double us, char *buf, size_t size)
{
	if (isnan(us) || us < 0)
		(void)snprintf(buf, size, "-");
	else if (us < 999.5)
		(void)snprintf(buf, size, "%.0f us", us);
	else if (us < 999500)
		format_3(us / 1000, "ms", buf, size);
	else
		format_3(us / 1e6, "s", buf, size);
}

static const struct {
	uint32_t bit;
	const char *text;
	const char *json;
} encoders[] = {
	{ ANARCHY_ENC_H264, "H.264", "h264" },
	{ ANARCHY_ENC_HEVC, "HEVC", "hevc" },
	{ ANARCHY_ENC_AV1, "AV1", "av1" },
};

void gc_egpu_format_encoders(uint32_t mask, char *buf, size_t size)
{
	size_t k = 0;

	if (size == 0)
		return;
	buf[0] = '\0';
	for (size_t i = 0; i < ELEMENTSOF(encoders); i++) {
		int n;

		if (!(mask & encoders[i].bit))
			continue;
		n = snprintf(buf + k, size - k, "%s%s", k > 0 ? " " : "", encoders[i].text);
		if (n < 0 || (size_t)n >= size - k) {
			buf[k] = '\0'; /* whole names only */
			break;
		}
		k += (size_t)n;
	}
	if (k == 0)
		(void)snprintf(buf, size, "-");
}

void gc_egpu_format_uuid(const uint8_t u[16], char *buf, size_t size)
{
	(void)snprintf(buf, size,
		       "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
		       u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12],
		       u[13], u[14], u[15]);
}

bool gc_egpu_uuid_is_null(const uint8_t uuid[16])
{
	for (size_t i = 0; i < 16; i++)
		if (uuid[i] != 0)
			return false;
	return true;
}

static bool from_device(const struct gc_egpu_link *l)
{
	return l->source == GC_EGPU_SOURCE_DEVICE;
}

/* "40000 Mb/s", or "no carrier" (the link speed is 0 without one). */
static void format_mbps(uint32_t mbps, char *buf, size_t size)
{
	if (mbps == 0)
		(void)snprintf(buf, size, "no carrier");
	else
		(void)snprintf(buf, size, "%u Mb/s", mbps);
}

int gc_egpu_link_write(FILE *f, const struct gc_egpu_link *link)
{
	struct gc_egpu_link copy = *link, *l = &copy;
	const struct anarchy_link_info *i = &l->info;
	const struct anarchy_counters *c = &i->counters;
	char dev[GC_EGPU_PATH_MAX], a[32], b[32], cap[32], enc[64], uuid[40];
	const char *kind = (i->flags & ANARCHY_INFO_SIMULATED) ? "simulated link" :
								 "Thunderbolt link";

	gc_egpu_info_sanitize(&copy.info);
	gc_egpu_link_dev(l->index, dev);
	fprintf(f, "anarchy%u: %s (%s", l->index, gc_egpu_state_string(i->state), kind);
	if (!from_device(l))
		fprintf(f, "; sysfs only");
	else if (i->flags & ANARCHY_INFO_ADMIN_DOWN)
		fprintf(f, "; disconnected, 'ghostctl egpu connect %u' brings it back", l->index);
	fprintf(f, ")\n");
	if (from_device(l))
		fprintf(f, "  %-11s %s%s\n", "device", dev,
			(i->flags & ANARCHY_INFO_RINGS) ? " (rings in use)" : "");
	else
		fprintf(f, "  %-11s %s (not opened: %s)\n", "device", dev,
			strerror(-(l->open_error < 0 ? l->open_error : -ENODEV)));

	format_mbps(i->link_speed_mbps, a, sizeof(a));
	if (i->bandwidth_cap_mbps == 0)
		(void)snprintf(cap, sizeof(cap), "none");
	else
		(void)snprintf(cap, sizeof(cap), "%u Mb/s", i->bandwidth_cap_mbps);
	if (from_device(l)) {
		if (i->dma_rate_mbps == 0)
			fprintf(f, "  %-11s %s, cap %s\n", "speed", a, cap);
		else
			fprintf(f, "  %-11s %s, DMA %u Mb/s, cap %s\n", "speed", a,
				i->dma_rate_mbps, cap);
		gc_egpu_format_us(i->rtt_us, a, sizeof(a));
		if (i->state != ANARCHY_LINK_UP && i->state != ANARCHY_LINK_STALLED)
			(void)snprintf(a, sizeof(a), "-");
		fprintf(f, "  %-11s rtt %s", "latency", a);
		if (i->flags & ANARCHY_INFO_SIMULATED)
			fprintf(f, ", %u us added each way", i->latency_us);
		fputc('\n', f);
	} else
		fprintf(f, "  %-11s %s, cap %s\n", "speed", a, cap);

	if (!isempty(i->far_name) || !gc_egpu_uuid_is_null(i->far_uuid)) {
		fprintf(f, "  %-11s %s", "far host", isempty(i->far_name) ? "?" : i->far_name);
		if (from_device(l) && !gc_egpu_uuid_is_null(i->far_uuid)) {
			gc_egpu_format_uuid(i->far_uuid, uuid, sizeof(uuid));
			fprintf(f, ", %s", uuid);
		}
		fputc('\n', f);
	} else
		fprintf(f, "  %-11s none\n", "far host");
	for (uint32_t g = 0; g < MIN(i->gpu_count, (uint32_t)ANARCHY_MAX_GPUS); g++) {
		const struct anarchy_gpu *gpu = &i->gpus[g];
		char label[16] = "gpu";

		if (i->gpu_count > 1)
			(void)snprintf(label, sizeof(label), "gpu %u", g);
		if (!from_device(l)) {
			fprintf(f, "  %-11s %s\n", label, gpu->name);
			continue;
		}
		gc_egpu_format_bytes(gpu->vram_bytes, a, sizeof(a));
		gc_egpu_format_encoders(gpu->encoders, enc, sizeof(enc));
		fprintf(f, "  %-11s %s: %s VRAM, driver %s, encoders %s\n", label, gpu->name, a,
			isempty(gpu->driver) ? "?" : gpu->driver, enc);
	}

	gc_egpu_format_bytes(c->tx_bytes, a, sizeof(a));
	gc_egpu_format_bytes(c->rx_bytes, b, sizeof(b));
	fprintf(f, "  %-11s %s in %llu records", "sent", a, (unsigned long long)c->tx_records);
	if (from_device(l))
		fprintf(f, ", %llu frames", (unsigned long long)c->tx_frames);
	fprintf(f, "\n  %-11s %s in %llu records", "received", b,
		(unsigned long long)c->rx_records);
	if (from_device(l))
		fprintf(f, ", %llu frames", (unsigned long long)c->rx_frames);
	fprintf(f, "\n  %-11s retransmits %llu, CRC errors %llu, drops %llu, ", "faults",
		(unsigned long long)c->retransmits, (unsigned long long)c->crc_errors,
		(unsigned long long)c->drops);
	if (from_device(l))
		fprintf(f, "overflows %llu, ", (unsigned long long)c->overflows);
	fprintf(f, "errors %llu\n", (unsigned long long)c->errors);
	if (from_device(l))
		fprintf(f, "  %-11s up %llu, down %llu, stalls %llu\n", "link events",
			(unsigned long long)c->link_ups, (unsigned long long)c->link_downs,
			(unsigned long long)c->stalls);
	return ferror(f) ? -EIO : 0;
}

/* A number when the source knows it, null otherwise. */
static json_t *known_int(const struct gc_egpu_link *l, uint64_t v)
{
	return from_device(l) ? json_integer((json_int_t)v) : json_null();
}

static json_t *known_bool(const struct gc_egpu_link *l, bool v)
{
	return from_device(l) ? json_boolean(v) : json_null();
}

/* json_object_set_new() that remembers a failure, for long lists of members. */
static void set(json_t *obj, const char *key, json_t *v, bool *failed)
{
	if (!v || json_object_set_new(obj, key, v) < 0)
		*failed = true;
}

static json_t *counters_json(const struct gc_egpu_link *l)
{
	const struct anarchy_counters *c = &l->info.counters;
	json_t *o = json_object();
	bool failed = !o;

	if (failed)
		return NULL;
	/* sysfs has the first four and the four fault counters; the others are the device's. */
	set(o, "tx_bytes", json_integer((json_int_t)c->tx_bytes), &failed);
	set(o, "rx_bytes", json_integer((json_int_t)c->rx_bytes), &failed);
	set(o, "tx_records", json_integer((json_int_t)c->tx_records), &failed);
	set(o, "rx_records", json_integer((json_int_t)c->rx_records), &failed);
	set(o, "tx_frames", known_int(l, c->tx_frames), &failed);
	set(o, "rx_frames", known_int(l, c->rx_frames), &failed);
	set(o, "retransmits", json_integer((json_int_t)c->retransmits), &failed);
	set(o, "crc_errors", json_integer((json_int_t)c->crc_errors), &failed);
	set(o, "drops", json_integer((json_int_t)c->drops), &failed);
	set(o, "overflows", known_int(l, c->overflows), &failed);
	set(o, "errors", json_integer((json_int_t)c->errors), &failed);
	set(o, "link_ups", known_int(l, c->link_ups), &failed);
	set(o, "link_downs", known_int(l, c->link_downs), &failed);
	set(o, "stalls", known_int(l, c->stalls), &failed);
	if (failed) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *gpu_json(const struct gc_egpu_link *l, const struct anarchy_gpu *gpu)
{
	json_t *o = json_object(), *enc = from_device(l) ? json_array() : json_null();
	bool failed = !o || !enc;

	for (size_t i = 0; !failed && from_device(l) && i < ELEMENTSOF(encoders); i++)
		if ((gpu->encoders & encoders[i].bit) &&
		    json_array_append_new(enc, json_string(encoders[i].json)) < 0)
			failed = true;
	if (failed) {
		json_decref(o);
		json_decref(enc);
		return NULL;
	}
	set(o, "name", json_string(gpu->name), &failed);
	set(o, "driver", from_device(l) ? json_string(gpu->driver) : json_null(), &failed);
	set(o, "vram_bytes", known_int(l, gpu->vram_bytes), &failed);
	set(o, "encoders", enc, &failed);
	if (failed) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *far_host_json(const struct gc_egpu_link *l)
{
	const struct anarchy_link_info *i = &l->info;
	bool failed = false;
	char uuid[40];
	json_t *o;

	if (isempty(i->far_name) && gc_egpu_uuid_is_null(i->far_uuid))
		return json_null();
	o = json_object();
	if (!o)
		return NULL;
	gc_egpu_format_uuid(i->far_uuid, uuid, sizeof(uuid));
	set(o, "name", isempty(i->far_name) ? json_null() : json_string(i->far_name), &failed);
	set(o, "uuid",
	    from_device(l) && !gc_egpu_uuid_is_null(i->far_uuid) ? json_string(uuid) : json_null(),
	    &failed);
	if (failed) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *gc_egpu_link_json(const struct gc_egpu_link *link)
{
	struct gc_egpu_link copy = *link, *l = &copy;
	const struct anarchy_link_info *i = &l->info;
	char name[GC_EGPU_NAME_MAX], dev[GC_EGPU_PATH_MAX];
	json_t *o = json_object(), *gpus = json_array();
	bool failed = !o || !gpus;

	gc_egpu_info_sanitize(&copy.info);
	for (uint32_t g = 0; !failed && g < MIN(i->gpu_count, (uint32_t)ANARCHY_MAX_GPUS); g++)
		if (json_array_append_new(gpus, gpu_json(l, &i->gpus[g])) < 0)
			failed = true;
	if (failed) {
		json_decref(o);
		json_decref(gpus);
		return NULL;
	}
	gc_egpu_link_name(l->index, name);
	gc_egpu_link_dev(l->index, dev);
	set(o, "index", json_integer(l->index), &failed);
	set(o, "name", json_string(name), &failed);
	set(o, "device", json_string(dev), &failed);
	set(o, "source", json_string(from_device(l) ? "device" : "sysfs"), &failed);
	set(o, "source_error",
	    from_device(l) ? json_null() :
			     json_string(strerror(-(l->open_error < 0 ? l->open_error : -ENODEV))),
	    &failed);
	set(o, "state", json_string(gc_egpu_state_string(i->state)), &failed);
	set(o, "simulated", json_boolean(i->flags & ANARCHY_INFO_SIMULATED), &failed);
	set(o, "admin_down", known_bool(l, i->flags & ANARCHY_INFO_ADMIN_DOWN), &failed);
	set(o, "rings_in_use", known_bool(l, i->flags & ANARCHY_INFO_RINGS), &failed);
	set(o, "link_speed_mbps", json_integer(i->link_speed_mbps), &failed);
	set(o, "dma_rate_mbps", known_int(l, i->dma_rate_mbps), &failed);
	set(o, "bandwidth_cap_mbps", json_integer(i->bandwidth_cap_mbps), &failed);
	set(o, "latency_us", known_int(l, i->latency_us), &failed);
	set(o, "rtt_us", known_int(l, i->rtt_us), &failed);
	set(o, "log_level", known_int(l, i->log_level), &failed);
	set(o, "far_host", far_host_json(l), &failed);
	set(o, "gpus", gpus, &failed);
	set(o, "counters", counters_json(l), &failed);
	if (failed) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *gc_egpu_status_json(const struct gc_egpu_link *links, size_t n)
{
	json_t *o = json_object(), *arr = json_array();
	bool failed = !o || !arr;

	for (size_t k = 0; !failed && k < n; k++)
		if (json_array_append_new(arr, gc_egpu_link_json(&links[k])) < 0)
			failed = true;
	if (failed) {
		json_decref(o);
		json_decref(arr);
		return NULL;
	}
	set(o, "schema", json_integer(GC_EGPU_JSON_SCHEMA), &failed);
	set(o, "links", arr, &failed);
	if (failed) {
		json_decref(o);
		return NULL;
	}
	return o;
}
