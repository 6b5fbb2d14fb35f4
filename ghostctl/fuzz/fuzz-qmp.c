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
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vm/qmp.h"
#include "vm/qmp_internal.h"

static void convert(json_t *reply)
{
	struct gc_qmp_stats *s = calloc(1, sizeof(*s));
	struct gc_qmp_snapshot_list *l = NULL;

	if (!s)
		return;
	if (json_is_string(reply)) {
		(void)gc_qmp__parse_info_network(json_string_value(reply), s);
	} else {
		(void)gc_qmp__parse_vcpus(reply, s);
		(void)gc_qmp__parse_blockstats(reply, s);
		if (gc_qmp__parse_snapshots(reply, "disk0", &l) >= 0)
			gc_qmp_snapshot_list_free(l);
	}
	gc_qmp_stats_free(s);
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

	q = gc_qmp__new();
	if (!q)
		return 0;
	gc_qmp__set_line_max(q, line_max);
	while (size > 0) {
		const uint8_t *nl = memchr(data, '\n', size);
		size_t n = nl && !(whole_chunks && chunk != 0) ? (size_t)(nl - data) + 1 : size;
		json_t *v = NULL;
		char *line = NULL;

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

		(void)gc_qmp__feed(q, data, n);
		data += n;
		size -= n;

		switch (gc_qmp__take_reply(q, &v)) {
		case 1:
			convert(v);
			json_decref(v);
			awaiting = false;
			break;
		case 0:
			break;
		default:
			awaiting = false; /* an error reply */
			break;
		}
		while (!keep_events && gc_qmp__take_event(q, NULL, &v) > 0)
			json_decref(v);
		if (gc_qmp__feed(q, "", 0) < 0) {
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
