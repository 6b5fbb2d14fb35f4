/* SPDX-License-Identifier: MIT */
/*
 * Hostile ring contents and indices: the data area of a ring and the head a producer
 * published, as the module reads a program's TX ring and libanarchy the module's RX ring. The
 * harness walks the records with anarchy_ring_peek() from pos as a consumer does: every call
 * must return, every record it hands back lie inside the area (which is allocated at its exact
 * size, so ASan sees any access past it) and between pos and head, and the walk end on head or
 * on an error. Then anarchy_ring_reserve() is asked for room with the same indices, and when it
 * gives some, a pad record and a record are written there and read back.
 *
 * Input: a 17-byte header, then the first bytes of the data area (the rest is zero).
 *   [0]      data size: 2^(3 + n % 14), 8 bytes to 64 KiB (the module's rings are 4 KiB and
 *            up; the checks hold for any power of two that holds a record header)
 *   [1..4]   max_record, little-endian, modulo ANARCHY_MAX_RECORD + 1: the caller's own limit,
 *            never more than that
 *   [5..8]   pos: the consumer's index (and the tail for reserve)
 *   [9..12]  head: the producer's index
 *   [13..16] len: the payload length to reserve
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "anarchy_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define INPUT_HDR 17u

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Walks the records from pos to head; returns the error that ended the walk. */
static int walk(const uint8_t *area, uint32_t data_size, uint32_t max_record, uint32_t pos,
		uint32_t head)
{
	volatile uint8_t sink = 0;
	uint32_t p = pos;
	int r = 0;

	/* Each record takes at least 8 of at most data_size bytes: the walk ends by itself. */
	for (uint32_t i = 0; i <= data_size / ANARCHY_RECORD_ALIGN; i++) {
		struct anarchy_ring_rec rec;

		r = anarchy_ring_peek(area, data_size, max_record, p, head, &rec);
		if (r < 0)
			break;
		CHECK(rec.pos == p);
		CHECK(rec.offset == (p & (data_size - 1)));
		CHECK(rec.footprint >= ANARCHY_RECORD_HDR);
		CHECK(rec.footprint % ANARCHY_RECORD_ALIGN == 0);
		CHECK((uint64_t)rec.offset + rec.footprint <= data_size);
		CHECK(rec.footprint <= head - p);
		if (rec.flags != 0) {
			CHECK(rec.flags == ANARCHY_RECORD_PAD);
			CHECK(rec.offset + rec.footprint == data_size);
			CHECK(rec.len == rec.footprint - ANARCHY_RECORD_HDR);
		} else {
			CHECK(rec.len <= max_record);
			CHECK(rec.footprint == anarchy_record_footprint(rec.len));
			CHECK((uint64_t)rec.offset + ANARCHY_RECORD_HDR + rec.len <= data_size);
			if (rec.len > 0)
				sink ^= area[rec.offset + ANARCHY_RECORD_HDR] ^
					area[rec.offset + ANARCHY_RECORD_HDR + rec.len - 1];
		}
		p += rec.footprint;
	}
	(void)sink;
	CHECK(r < 0);
	CHECK(r == -EAGAIN || r == -EINVAL || r == -EPROTO);
	/* Empty means at head; impossible indices show at once, never after a good record. */
	if (r == -EAGAIN)
		CHECK(p == head);
	if (r == -EINVAL)
		CHECK(p == pos);
	return r;
}

/* Asks for room for len at head with the consumer at tail; writes and reads back what it gets. */
static void reserve(uint8_t *area, uint32_t data_size, uint32_t max_record, uint32_t head,
		    uint32_t tail, uint32_t len)
{
	const uint32_t used = head - tail, free_bytes = anarchy_ring_free(data_size, head, tail);
	const uint32_t footprint = anarchy_record_footprint(len);
	const uint32_t to_end = data_size - (head & (data_size - 1));
	struct anarchy_record hdr = { .len = len, .type = 0x7e57 };
	struct anarchy_ring_rec rec;
	uint32_t skip, at, end;
	int r;

	CHECK(free_bytes <= data_size);
	r = anarchy_ring_reserve(data_size, max_record, head, tail, len);
	if (r == -EINVAL) {
		CHECK(used > data_size && free_bytes == 0);
		return;
	}
	CHECK(used <= data_size && free_bytes == data_size - used);
	if (r == -EMSGSIZE) {
		CHECK(len > max_record);
		return;
	}
	CHECK(len <= max_record);
	if (r == -ENOSPC) {
		CHECK(free_bytes < footprint + (footprint > to_end ? to_end : 0));
		return;
	}
	CHECK(r >= 0);
	skip = (uint32_t)r;
	CHECK(skip == 0 || (skip == to_end && footprint > to_end));
	CHECK((uint64_t)skip + footprint <= free_bytes);
	at = head + skip;
	CHECK((at & (data_size - 1)) + (uint64_t)footprint <= data_size);

	/* The producer's own head is aligned; a record is written only there. */
	if (head % ANARCHY_RECORD_ALIGN != 0)
		return;
	if (skip > 0)
		anarchy_ring_write_pad(area, data_size, head, skip);
	memcpy(area + (at & (data_size - 1)), &hdr, sizeof(hdr));
	memset(area + (at & (data_size - 1)) + ANARCHY_RECORD_HDR, 0x5a, len);
	end = at + footprint;

	if (skip > 0) {
		CHECK(anarchy_ring_peek(area, data_size, max_record, head, end, &rec) == 0);
		CHECK(rec.flags == ANARCHY_RECORD_PAD && rec.footprint == skip);
	}
	CHECK(anarchy_ring_peek(area, data_size, max_record, at, end, &rec) == 0);
	CHECK(rec.flags == 0 && rec.len == len && rec.type == 0x7e57);
	CHECK(rec.footprint == footprint);
	CHECK(anarchy_ring_peek(area, data_size, max_record, end, end, &rec) == -EAGAIN);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t data_size, max_record, pos, head, len;
	uint8_t *area;

	if (size < INPUT_HDR)
		return 0;
	data_size = 1u << (3 + data[0] % 14);
	max_record = get_le32(data + 1) % (ANARCHY_MAX_RECORD + 1);
	pos = get_le32(data + 5);
	head = get_le32(data + 9);
	len = get_le32(data + 13);
	data += INPUT_HDR;
	size -= INPUT_HDR;

	area = calloc(1, data_size);
	if (!area)
		return 0;
	memcpy(area, data, size < data_size ? size : data_size);

	(void)walk(area, data_size, max_record, pos, head);
	reserve(area, data_size, max_record, head, pos, len);
	/* A length from the input is mostly too long: try one that may fit too. */
	reserve(area, data_size, max_record, head, pos, len % (max_record + 1));
	free(area);
	return 0;
}
