/* SPDX-License-Identifier: MIT */
/*
 * What QEMU sends a QMP client, from a hostile QEMU: the framing, the classification of
 * greetings, replies and events, the event queue, and the converters from replies to
 * ghostctl's structures.
 *
 * Input: a settings byte (bits 0-3: the line limit, 64 << n bytes, 15 for GC_QMP_LINE_MAX;
 * bit 4: time out every other command, so that its reply comes late; bit 5: leave events
 * queued until the queue overflows; bit 6: feed whole chunks, several lines at once), a
 * chunk size (0: no chunks), then the stream. Unless bit 6 is set, pieces end at chunk
 * boundaries and after each newline, and the client sends a command before a piece
 * whenever none is awaited, so that replies to "gc-1", "gc-2", ... answer them in order.
 * After a sticky error a new client takes the rest.
 *
 * What comes out must be what qmp.h promises:
 *   - an error is sticky: every later feed gives the same one;
 *   - a reply taken has its "return" value, an error reply a class and a description;
 *   - an event taken is an object named by a non-empty "event" string, with "data" and
 *     "timestamp" objects when present;
 *   - a converter that succeeds describes the reply it read: one vCPU or block device per
 *     array element with its fields, the snapshots of the node asked for, NICs named in the
 *     text and never twice;
 *   - how reads split the stream changes nothing: the same stream fed to fresh clients in
 *     one piece and in small pieces (no command sent, so any reply is an error) gives the
 *     same verdict, greeting and queue of events.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/string-util.h"
#include "vm/qmp.h"
#include "vm/qmp_internal.h"

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

/* The string member key of o, or "" when it is absent (as the converters read them). */
static const char *string_or_empty(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return v ? json_string_value(v) : "";
}

static void check_vcpus(const json_t *reply, const struct gc_qmp_stats *s)
{
	CHECK(s->n_vcpus == json_array_size(reply) && s->vcpus);
	for (size_t i = 0; i < s->n_vcpus; i++) {
		const json_t *cpu = json_array_get(reply, i);

		CHECK(s->vcpus[i].cpu_index ==
		      json_integer_value(json_object_get(cpu, "cpu-index")));
		CHECK(s->vcpus[i].thread_id ==
		      json_integer_value(json_object_get(cpu, "thread-id")));
	}
}

static void check_blocks(const json_t *reply, const struct gc_qmp_stats *s)
{
	CHECK(s->n_blocks == json_array_size(reply));
	for (size_t i = 0; i < s->n_blocks; i++) {
		const json_t *e = json_array_get(reply, i);

		CHECK(streq_ptr(s->blocks[i].device, string_or_empty(e, "device")));
		CHECK(streq_ptr(s->blocks[i].node_name, string_or_empty(e, "node-name")));
	}
}

static void check_snapshots(const json_t *reply, const struct gc_qmp_snapshot_list *l)
{
	const json_t *node = NULL, *snaps;

	/* The first node of that name: the converter fails on any before it without a name. */
	for (size_t i = 0; i < json_array_size(reply) && !node; i++) {
		const json_t *e = json_array_get(reply, i);

		if (streq_ptr(json_string_value(json_object_get(e, "node-name")), "disk0"))
			node = e;
	}
	CHECK(node);
	snaps = json_object_get(json_object_get(node, "image"), "snapshots");
	CHECK(l->n == json_array_size(snaps));
	for (size_t i = 0; i < l->n; i++) {
		const json_t *e = json_array_get(snaps, i);

		CHECK(streq_ptr(l->snapshots[i].id, json_string_value(json_object_get(e, "id"))));
		CHECK(streq_ptr(l->snapshots[i].name,
				json_string_value(json_object_get(e, "name"))));
		CHECK(l->snapshots[i].date_nsec < 1000000000u);
	}
}

static void check_nics(const char *text, const struct gc_qmp_stats *s)
{
	for (size_t i = 0; i < s->n_nics; i++) {
		const struct gc_qmp_nic_stats *n = &s->nics[i];

		CHECK(n->name && n->model && n->macaddr && n->peer && n->peer_type && n->ifname);
		CHECK(n->name[0] != '\0' && strstr(text, n->name));
		for (size_t j = 0; j < i; j++)
			CHECK(!streq(n->name, s->nics[j].name));
	}
}

static void convert(json_t *reply)
{
	struct gc_qmp_stats *s = calloc(1, sizeof(*s));
	struct gc_qmp_snapshot_list *l = NULL;

	if (!s)
		return;
	if (json_is_string(reply)) {
		if (gc_qmp__parse_info_network(json_string_value(reply), s) == 0)
			check_nics(json_string_value(reply), s);
	} else {
		if (gc_qmp__parse_vcpus(reply, s) == 0)
			check_vcpus(reply, s);
		if (gc_qmp__parse_blockstats(reply, s) == 0)
			check_blocks(reply, s);
		if (gc_qmp__parse_snapshots(reply, "disk0", &l) >= 0) {
			check_snapshots(reply, l);
			gc_qmp_snapshot_list_free(l);
		}
	}
	gc_qmp_stats_free(s);
}

static void check_event(const json_t *event)
{
	const json_t *data = json_object_get(event, "data");
	const json_t *timestamp = json_object_get(event, "timestamp");
	const char *name = json_string_value(json_object_get(event, "event"));

	CHECK(json_is_object(event) && name && name[0] != '\0');
	CHECK(!data || json_is_object(data));
	CHECK(!timestamp || json_is_object(timestamp));
}

/* What a client made of a whole stream: its verdict, greeting and queued events. */
struct outcome {
	int verdict;
	bool greeted;
	unsigned major, minor, micro;
	char *package;
	uint64_t dropped;
	size_t n_events;
	char *events[GC_QMP_EVENTS_MAX]; /* written out, keys sorted */
};

/* Feeds the stream to a fresh client in pieces of `piece` bytes (0: in one go), sending no
 * command. */
static void feed_all(const uint8_t *data, size_t size, size_t line_max, size_t piece,
		     struct outcome *o)
{
	struct gc_qmp *q = gc_qmp__new();
	const struct gc_qmp_version *v;
	json_t *event;

	*o = (struct outcome){ .verdict = -ENOMEM };
	if (!q)
		return;
	gc_qmp__set_line_max(q, line_max);
	o->verdict = 0;
	for (size_t pos = 0; pos < size && o->verdict == 0;) {
		size_t k = piece == 0 || piece > size - pos ? size - pos : piece;

		o->verdict = gc_qmp__feed(q, data + pos, k);
		pos += k;
	}
	while (gc_qmp__take_event(q, NULL, &event) > 0) {
		check_event(event);
		o->events[o->n_events++] = json_dumps(event, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(event);
	}
	o->greeted = gc_qmp__greeted(q);
	v = gc_qmp_version(q);
	o->major = v->major;
	o->minor = v->minor;
	o->micro = v->micro;
	o->package = strdup(v->package);
	o->dropped = gc_qmp_events_dropped(q);
	gc_qmp_close(q);
}

static void outcome_done(struct outcome *o)
{
	for (size_t i = 0; i < o->n_events; i++)
		free(o->events[i]);
	free(o->package);
}

/* The stream in one piece and in small ones: the same verdict, greeting and events. */
static void check_pieces(const uint8_t *data, size_t size, size_t line_max, size_t piece)
{
	struct outcome a, b;

	feed_all(data, size, line_max, 0, &a);
	feed_all(data, size, line_max, piece, &b);
	if (a.verdict != -ENOMEM && b.verdict != -ENOMEM) {
		CHECK(a.verdict == b.verdict && a.greeted == b.greeted);
		CHECK(a.major == b.major && a.minor == b.minor && a.micro == b.micro);
		CHECK(streq_ptr(a.package, b.package));
		CHECK(a.dropped == b.dropped && a.n_events == b.n_events);
		for (size_t i = 0; i < a.n_events; i++)
			CHECK(streq_ptr(a.events[i], b.events[i]));
	}
	outcome_done(&a);
	outcome_done(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gc_qmp *q;
	unsigned n_requests = 0;
	size_t line_max, chunk, left = 0;
	bool late, keep_events, whole_chunks, awaiting = false;

	if (size < 2)
		return 0;
	line_max = (data[0] & 15) == 15 ? GC_QMP_LINE_MAX : (size_t)64 << (data[0] & 15);
	late = data[0] & 0x10;
	keep_events = data[0] & 0x20;
	whole_chunks = data[0] & 0x40;
	chunk = data[1];
	data += 2;
	size -= 2;

	check_pieces(data, size, line_max, chunk != 0 ? chunk : 1);

	q = gc_qmp__new();
	if (!q)
		return 0;
	gc_qmp__set_line_max(q, line_max);
	while (size > 0) {
		const uint8_t *nl = memchr(data, '\n', size);
		size_t n = nl && !(whole_chunks && chunk != 0) ? (size_t)(nl - data) + 1 : size;
		json_t *v = NULL;
		char *line = NULL;
		int r;

		if (chunk != 0) {
			if (left == 0)
				left = chunk;
			n = n < left ? n : left;
			left -= n;
		}

		if (gc_qmp__greeted(q) && !awaiting &&
		    gc_qmp__request(q, "query-status", NULL, &line) >= 0) {
			free(line);
			awaiting = true;
			if (late && n_requests++ % 2 == 1) {
				gc_qmp__abandon(q);
				awaiting = false;
			}
		}

		r = gc_qmp__feed(q, data, n);
		data += n;
		size -= n;

		switch (gc_qmp__take_reply(q, &v)) {
		case 1:
			CHECK(v);
			convert(v);
			json_decref(v);
			awaiting = false;
			break;
		case 0:
			break;
		case -EREMOTEIO:
			CHECK(gc_qmp_last_error(q) && gc_qmp_last_error(q)->class &&
			      gc_qmp_last_error(q)->desc);
			awaiting = false;
			break;
		default:
			awaiting = false; /* -ENOMEM */
			break;
		}
		while (!keep_events && gc_qmp__take_event(q, NULL, &v) > 0) {
			check_event(v);
			json_decref(v);
		}
		/* Sticky: once broken, every feed says so again, whatever it brings. */
		CHECK(gc_qmp__feed(q, "", 0) == r);
		if (r < 0) {
			CHECK(gc_qmp__feed(q, "{}\n", 3) == r);
			gc_qmp_close(q);
			awaiting = false;
			q = gc_qmp__new();
			if (!q)
				return 0;
			gc_qmp__set_line_max(q, line_max);
		}
	}
	gc_qmp_close(q);
	return 0;
}
