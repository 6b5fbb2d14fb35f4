/* SPDX-License-Identifier: MIT */
/*
 * Hostile shared segments: the input is a region as another process might have left it
 * (header, slots, cursors, ring records). The harness checks it like ipc:// does on
 * attach and, if accepted, joins and drives the consumer and producer paths with timeout
 * 0. Whatever the bytes say, every call must return (an error is fine) and every access
 * stay inside the region: ASan watches the latter.
 *
 * Input: the region's first bytes; the rest of the region is zero. Capacities above 64K
 * are refused here to keep runs fast (the checks do not depend on the size).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ring.h"

#define FUZZ_MAX_CAPACITY (64u * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t touch(const struct psyne_msg *m)
{
	const uint8_t *p = m->data;

	return m->size > 0 ? (uint32_t)p[0] + p[m->size - 1] : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct psyne_ring_hdr hdr;
	struct psyne_ring *r;
	struct psyne_msg m;
	uint64_t region;
	volatile uint32_t sink = 0;
	void *mem;

	if (size < sizeof(hdr))
		return 0;
	memcpy(&hdr, data, sizeof(hdr));
	if (hdr.capacity < PSYNE_RING_MIN_CAPACITY || hdr.capacity > FUZZ_MAX_CAPACITY)
		return 0;
	region = psyne__ring_region_size(hdr.capacity);
	/* Leave room past the region: the check must refuse sizes that lie. */
	mem = calloc(1, region);
	if (!mem)
		return 0;
	memcpy(mem, data, size < region ? size : region);

	if (psyne__ring_check(mem, region, NULL, UINT32_MAX, 0) < 0) {
		free(mem);
		return 0;
	}
	r = calloc(1, sizeof(*r));
	if (!r || psyne__ring_join(r, mem, region, false) < 0) {
		free(r);
		free(mem);
		return 0;
	}

	/* Drain what the segment claims to hold, holding a few views at once. */
	struct psyne_msg held[4];
	unsigned n_held = 0;
	for (int i = 0; i < 256; i++) {
		if (psyne__ring_receive(r, 0, SIZE_MAX, &m) < 0)
			break;
		sink += touch(&m);
		if (n_held == 4) {
			psyne__ring_release(r, &held[i % 4]);
			held[i % 4] = m;
		} else
			held[n_held++] = m;
	}
	for (unsigned i = 0; i < n_held; i++)
		psyne__ring_release(r, &held[i]);

	/* Then write into it: sizes from the input's tail. */
	for (size_t i = 0; i < 8 && i < size; i++) {
		size_t want = (size_t)data[size - 1 - i] * 37;

		if (psyne__ring_reserve(r, want, 0, &m) < 0)
			continue;
		memset(m.data, 0x5a, m.size);
		m.size /= 2;
		if (i % 3 == 0)
			psyne__ring_cancel(r, &m);
		else
			(void)psyne__ring_commit(r, &m);
	}
	for (int i = 0; i < 16; i++) {
		if (psyne__ring_receive(r, 0, SIZE_MAX, &m) < 0)
			break;
		sink += touch(&m);
		psyne__ring_release(r, &m);
	}

	struct psyne_stats st;
	psyne__ring_stats(r, &st);
	sink += (uint32_t)st.used;

	psyne__ring_leave(r);
	free(r);
	free(mem);
	(void)sink;
	return 0;
}
