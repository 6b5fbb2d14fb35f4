/* SPDX-License-Identifier: MIT */
/*
 * Hostile shared segments: the input is a region as another process might have left it
 * (header, slots, cursors, ring records). The harness checks it like ipc:// does on
 * attach and, if accepted, joins and drives the consumer and producer paths with timeout
 * 0. Whatever the bytes say, every call must return (an error is fine) and every access
 * stay inside the region: ASan watches the latter. And what the ring hands out must be
 * sound whatever it read:
 *   - a region the check accepts has the identity ring.h describes;
 *   - every call returns 0 or one of the errors its path can give;
 *   - a received message lies in the ring's data area, within its record and after its
 *     header, no larger than the caller's limit nor half the ring; a message over that limit
 *     stays queued (-EMSGSIZE, then received whole by a caller with room for it);
 *   - a reservation is the size asked for, inside the data area;
 *   - the stats show the region's capacity and mode, no more bytes in use than it holds,
 *     and no more producers or consumers than there are slots.
 *
 * Input: the region's first bytes; the rest of the region is zero. Capacities above 64K
 * are refused here to keep runs fast (the checks do not depend on the size).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ring.h"

#define FUZZ_MAX_CAPACITY (64u * 1024)
/* The limit of some receives: below many messages' sizes, so that -EMSGSIZE comes up. */
#define SMALL_MAX 64u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

static uint32_t touch(const struct psyne_msg *m)
{
	const uint8_t *p = m->data;

	return m->size > 0 ? (uint32_t)p[0] + p[m->size - 1] : 0;
}

/* The view m must lie after a record header within the data area of the region at mem. */
static void check_view(const uint8_t *mem, uint64_t capacity, const struct psyne_msg *m)
{
	const uint8_t *area = mem + PSYNE_RING_DATA_OFFSET, *p = m->data;

	CHECK(p >= area + PSYNE_REC_HDR && p <= area + capacity);
	CHECK((uint64_t)(p - area) % PSYNE_REC_ALIGN == PSYNE_REC_HDR % PSYNE_REC_ALIGN);
	CHECK(m->size <= (uint64_t)(area + capacity - p));
	CHECK(m->size <= capacity / 2 - PSYNE_REC_HDR);
}

/* A received message also lies within its record, as the record's header gives it. */
static void check_received(const uint8_t *mem, uint64_t capacity, const struct psyne_msg *m)
{
	const struct psyne_ring_rec *rec = (const void *)((const uint8_t *)m->data - PSYNE_REC_HDR);
	uint64_t off = (uint64_t)((const uint8_t *)rec - (mem + PSYNE_RING_DATA_OFFSET));
	uint32_t len = atomic_load_explicit(&rec->len, memory_order_relaxed);

	check_view(mem, capacity, m);
	CHECK(len >= PSYNE_REC_HDR && off + len <= capacity);
	CHECK(m->size <= len - PSYNE_REC_HDR);
}

static void check_error(int r)
{
	/* -EBUSY: the single producer or consumer slot is held by a live-looking tag. */
	CHECK(r == -EAGAIN || r == -EPROTO || r == -EMSGSIZE || r == -EPIPE || r == -EBUSY);
}

/* Receives the next message, sometimes with a small limit first; returns 0 or an error. */
static int receive(struct psyne_ring *r, const uint8_t *mem, bool small, struct psyne_msg *m)
{
	int ret;

	if (small) {
		ret = psyne__ring_receive(r, 0, SMALL_MAX, m);
		if (ret == 0) {
			CHECK(m->size <= SMALL_MAX);
			check_received(mem, r->capacity, m);
			return 0;
		}
		check_error(ret);
		if (ret != -EMSGSIZE)
			return ret;
		/* "A larger one stays queued": nothing changed, so it comes now. */
		ret = psyne__ring_receive(r, 0, SIZE_MAX, m);
		CHECK(ret == 0 && m->size > SMALL_MAX);
	} else {
		ret = psyne__ring_receive(r, 0, SIZE_MAX, m);
		if (ret < 0) {
			check_error(ret);
			CHECK(ret != -EMSGSIZE);
			return ret;
		}
	}
	check_received(mem, r->capacity, m);
	return 0;
}

static void check_stats(struct psyne_ring *r, const struct psyne_ring_hdr *hdr)
{
	struct psyne_stats st;

	psyne__ring_stats(r, &st);
	CHECK(st.capacity == hdr->capacity && st.mode == hdr->mode);
	CHECK(st.used <= st.capacity);
	CHECK(st.producers <= PSYNE_RING_SLOTS && st.consumers <= PSYNE_RING_SLOTS);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct psyne_ring_hdr hdr;
	struct psyne_ring *r;
	struct psyne_msg m;
	uint64_t region;
	volatile uint32_t sink = 0;
	uint8_t *mem;
	int ret;

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
	CHECK(hdr.magic == PSYNE_RING_MAGIC && hdr.version_major == PSYNE_RING_VERSION_MAJOR);
	CHECK(hdr.mode < _PSYNE_MODE_MAX && (hdr.capacity & (hdr.capacity - 1)) == 0);
	CHECK(hdr.region_size == region && memchr(hdr.name, 0, sizeof(hdr.name)));
	r = calloc(1, sizeof(*r));
	if (!r || psyne__ring_join(r, mem, region, false) < 0) {
		free(r);
		free(mem);
		return 0;
	}
	CHECK(r->capacity == hdr.capacity);

	/* Drain what the segment claims to hold, holding a few views at once. */
	struct psyne_msg held[4];
	unsigned n_held = 0;
	for (int i = 0; i < 256; i++) {
		if (receive(r, mem, i % 4 == 3, &m) < 0)
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
	check_stats(r, &hdr);

	/* Then write into it: sizes from the input's tail. */
	for (size_t i = 0; i < 8 && i < size; i++) {
		size_t want = (size_t)data[size - 1 - i] * 37;

		ret = psyne__ring_reserve(r, want, 0, &m);
		if (ret < 0) {
			check_error(ret);
			continue;
		}
		CHECK(m.size == want);
		check_view(mem, r->capacity, &m);
		memset(m.data, 0x5a, m.size);
		m.size /= 2;
		if (i % 3 == 0)
			psyne__ring_cancel(r, &m);
		else
			(void)psyne__ring_commit(r, &m);
	}
	check_stats(r, &hdr);
	for (int i = 0; i < 16; i++) {
		if (receive(r, mem, i % 2 == 1, &m) < 0)
			break;
		sink += touch(&m);
		psyne__ring_release(r, &m);
	}
	check_stats(r, &hdr);

	psyne__ring_leave(r);
	free(r);
	free(mem);
	(void)sink;
	return 0;
}
