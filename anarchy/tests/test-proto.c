/* SPDX-License-Identifier: MIT */
/*
 * The module's pure logic (anarchy/kmod/anarchy_proto.c), built in userspace: record sizes and
 * ring limits; every verdict of the ring reader (anarchy_ring_peek) and of the space finder
 * (anarchy_ring_reserve); a writer and a reader passing 1e5 records through a 4 KiB ring with
 * free-running indices that wrap; the wire frame (round trips of every type and flag, any
 * damaged byte, each decode error reached behind a good CRC); CRC32C; the link model.
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "anarchy_proto.h"
#include "common/tests.h"

#define RING 4096u
#define RING_MAX 2040u /* anarchy_ring_max_record(RING) */
#define SIM_RECORDS 100000u

#define HDR ANARCHY_FRAME_HDR
#define ACK_VALID ANARCHY_FRAME_ACK_VALID
#define PACKED ANARCHY_FRAME_PACKED
#define FRAG ANARCHY_FRAME_FRAG

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* CRC32C bit by bit, slow and obviously right, with the same (absent) inversion as
 * __crc32c_le().
 */
static uint32_t crc32c_ref(uint32_t crc, const void *data, size_t len)
{
	const uint8_t *p = data;

	for (size_t i = 0; i < len; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ ((crc & 1) != 0 ? 0x82f63b78u : 0);
	}
	return crc;
}

/* Rings. */

static void put_record(void *data, uint32_t size, uint32_t pos, uint32_t len, uint16_t flags,
		       uint16_t type)
{
	struct anarchy_record rec = { .len = len, .flags = flags, .type = type };

	memcpy((uint8_t *)data + (pos & (size - 1)), &rec, sizeof(rec));
}

/* anarchy_ring_peek(), checking that a failure leaves *ret alone. */
static int peek(const void *data, uint32_t size, uint32_t max_record, uint32_t pos, uint32_t head,
		struct anarchy_ring_rec *ret)
{
	struct anarchy_ring_rec before;
	int r;

	memset(ret, 0xa5, sizeof(*ret));
	memcpy(&before, ret, sizeof(before));
	r = anarchy_ring_peek(data, size, max_record, pos, head, ret);
	if (r < 0)
		ASSERT_MEMEQ(ret, &before, sizeof(before));
	return r;
}

TEST(record_footprint)
{
	ASSERT_EQ(ANARCHY_RECORD_HDR, 8u);
	ASSERT_EQ(sizeof(struct anarchy_record), 8u);
	ASSERT_EQ(anarchy_record_footprint(0), 8u);
	ASSERT_EQ(anarchy_record_footprint(1), 16u);
	ASSERT_EQ(anarchy_record_footprint(7), 16u);
	ASSERT_EQ(anarchy_record_footprint(8), 16u);
	ASSERT_EQ(anarchy_record_footprint(9), 24u);
	ASSERT_EQ(anarchy_record_footprint(RING_MAX), 2048u);
	ASSERT_EQ(anarchy_record_footprint(ANARCHY_MAX_RECORD), ANARCHY_MAX_RECORD + 8);
}

TEST(ring_max_record)
{
	ASSERT_EQ(anarchy_ring_max_record(4096), RING_MAX);
	ASSERT_EQ(anarchy_ring_max_record(8192), 4088u);
	ASSERT_EQ(anarchy_ring_max_record(1u << 21), ANARCHY_MAX_RECORD - 8);
	ASSERT_EQ(anarchy_ring_max_record(1u << 22), ANARCHY_MAX_RECORD);
	ASSERT_EQ(anarchy_ring_max_record(ANARCHY_RING_MAX), ANARCHY_MAX_RECORD);

	/* The largest record and the padding it may need fit in the ring at once. */
	for (uint32_t size = ANARCHY_RING_MIN; size <= ANARCHY_RING_MAX; size *= 2) {
		uint32_t max = anarchy_ring_max_record(size);

		ASSERT_EQ(max % ANARCHY_RECORD_ALIGN, 0u);
		ASSERT_LE(max, ANARCHY_MAX_RECORD);
		ASSERT_LE(2 * anarchy_record_footprint(max), size);
	}
}

TEST(ring_size_valid)
{
	for (unsigned shift = 0; shift < 32; shift++) {
		bool valid = anarchy_ring_size_valid(1u << shift);

		ASSERT_EQ(valid, shift >= 12 && shift <= 26);
	}
	ASSERT_TRUE(anarchy_ring_size_valid(ANARCHY_RING_MIN));
	ASSERT_TRUE(anarchy_ring_size_valid(ANARCHY_RING_MAX));
	ASSERT_FALSE(anarchy_ring_size_valid(0));
	ASSERT_FALSE(anarchy_ring_size_valid(4097));
	ASSERT_FALSE(anarchy_ring_size_valid(3u << 12));
	ASSERT_FALSE(anarchy_ring_size_valid(ANARCHY_RING_MAX + ANARCHY_RING_MIN));
	ASSERT_FALSE(anarchy_ring_size_valid(UINT32_MAX));
}

TEST(ring_peek_empty)
{
	uint64_t area[RING / 8] = { 0 };
	struct anarchy_ring_rec rec;

	ASSERT_ERROR(peek(area, RING, RING_MAX, 0, 0, &rec), EAGAIN);
	ASSERT_ERROR(peek(area, RING, RING_MAX, UINT32_MAX - 7, UINT32_MAX - 7, &rec), EAGAIN);
	/* Empty is empty before anything else is looked at. */
	ASSERT_ERROR(peek(area, RING, RING_MAX, 12, 12, &rec), EAGAIN);
}

TEST(ring_peek_bad_indices)
{
	uint64_t area[RING / 8] = { 0 };
	struct anarchy_ring_rec rec;

	put_record(area, RING, 0, 0, 0, 1);
	ASSERT_OK_ZERO(peek(area, RING, RING_MAX, 0, RING, &rec)); /* a full ring */
	ASSERT_ERROR(peek(area, RING, RING_MAX, 0, RING + 8, &rec), EINVAL);
	ASSERT_ERROR(peek(area, RING, RING_MAX, 64, 0, &rec), EINVAL); /* head behind pos */
	ASSERT_ERROR(peek(area, RING, RING_MAX, 8, UINT32_MAX - 7, &rec), EINVAL);
	/* Misaligned pos, with an aligned distance to head. */
	ASSERT_ERROR(peek(area, RING, RING_MAX, 4, 20, &rec), EINVAL);
	ASSERT_ERROR(peek(area, RING, RING_MAX, 1, 9, &rec), EINVAL);
	/* Misaligned distance. */
	ASSERT_ERROR(peek(area, RING, RING_MAX, 0, 12, &rec), EINVAL);
	ASSERT_ERROR(peek(area, RING, RING_MAX, 0, 1, &rec), EINVAL);
	ASSERT_ERROR(peek(area, RING, RING_MAX, 0, RING - 1, &rec), EINVAL);
}

TEST(ring_peek_bad_records)
{
	uint64_t area[RING / 8] = { 0 };
	struct anarchy_ring_rec rec;

	/* Unknown flags, alone or beside PAD. */
	put_record(area, RING, 0, 0, 2, 0);
	ASSERT_ERROR(peek(area, RING, RING_MAX, 0, RING, &rec), EPROTO);
	put_record(area, RING, 0, RING - 8, ANARCHY_RECORD_PAD | 2, 0);
	ASSERT_ERROR(peek(area, RING, RING_MAX, 0, RING, &rec), EPROTO);
	put_record(area, RING, 0, 0, 0x8000, 0);
	ASSERT_ERROR(peek(area, RING, RING_MAX, 0, RING, &rec), EPROTO);

	/* A pad record ends exactly at the end of the area: at 4000, 96 bytes, len 88. */
	put_record(area, RING, 4000, 88, ANARCHY_RECORD_PAD, 0);
	ASSERT_OK_ZERO(peek(area, RING, RING_MAX, 4000, 4096, &rec));
	ASSERT_EQ(rec.footprint, 96u);
	put_record(area, RING, 4000, 80, ANARCHY_RECORD_PAD, 0);
	ASSERT_ERROR(peek(area, RING, RING_MAX, 4000, 4096, &rec), EPROTO);
	put_record(area, RING, 4000, 96, ANARCHY_RECORD_PAD, 0);
	ASSERT_ERROR(peek(area, RING, RING_MAX, 4000, 4096 + 8, &rec), EPROTO);
	put_record(area, RING, 4000, 0, ANARCHY_RECORD_PAD, 0);
	ASSERT_ERROR(peek(area, RING, RING_MAX, 4000, 4096, &rec), EPROTO);
	put_record(area, RING, 4000, UINT32_MAX, ANARCHY_RECORD_PAD, 0);
	ASSERT_ERROR(peek(area, RING, RING_MAX, 4000, 4096, &rec), EPROTO);
	/* Even a pad record lies before head. */
	put_record(area, RING, 4000, 88, ANARCHY_RECORD_PAD, 0);
	ASSERT_ERROR(peek(area, RING, RING_MAX, 4000, 4000 + 88, &rec), EPROTO);
	/* A pad record at 0 covers the whole area: no longer than max_record, yet valid. */
	put_record(area, RING, 0, RING - 8, ANARCHY_RECORD_PAD, 0);
	ASSERT_OK_ZERO(peek(area, RING, RING_MAX, 0, RING, &rec));
	ASSERT_EQ(rec.footprint, RING);
	put_record(area, RING, 0, 8, ANARCHY_RECORD_PAD, 0);
	ASSERT_ERROR(peek(area, RING, RING_MAX, 0, RING, &rec), EPROTO);

	/* Longer than max_record: the limit is the caller's, whatever room there is. */
	put_record(area, RING, 0, RING_MAX + 1, 0, 0);
	ASSERT_ERROR(peek(area, RING, RING_MAX, 0, RING, &rec), EPROTO);
	ASSERT_OK_ZERO(peek(area, RING, RING_MAX + 1, 0, RING, &rec));
	ASSERT_EQ(rec.footprint, 2056u);
	put_record(area, RING, 0, UINT32_MAX, 0, 0);
	ASSERT_ERROR(peek(area, RING, ANARCHY_MAX_RECORD, 0, RING, &rec), EPROTO);

	/* Crossing the end of the area: at 4032 there are 64 bytes. */
	put_record(area, RING, 4032, 57, 0, 0);
	ASSERT_ERROR(peek(area, RING, RING_MAX, 4032, 4032 + RING, &rec), EPROTO);
	put_record(area, RING, 4032, 56, 0, 0);
	ASSERT_OK_ZERO(peek(area, RING, RING_MAX, 4032, 4032 + RING, &rec));
	put_record(area, RING, 2056, RING_MAX, 0, 0);
	ASSERT_ERROR(peek(area, RING, RING_MAX, 2056, 2056 + RING, &rec), EPROTO);
	put_record(area, RING, 2048, RING_MAX, 0, 0);
	ASSERT_OK_ZERO(peek(area, RING, RING_MAX, 2048, 2048 + RING, &rec));
	/* Also when max_record allows more than the ring holds. */
	put_record(area, RING, 8, RING, 0, 0);
	ASSERT_ERROR(peek(area, RING, ANARCHY_MAX_RECORD, 8, 8 + RING, &rec), EPROTO);

	/* Beyond head: 100 bytes take 112. */
	put_record(area, RING, 0, 100, 0, 0);
	ASSERT_ERROR(peek(area, RING, RING_MAX, 0, 104, &rec), EPROTO);
	ASSERT_ERROR(peek(area, RING, RING_MAX, 0, 8, &rec), EPROTO);
	ASSERT_OK_ZERO(peek(area, RING, RING_MAX, 0, 112, &rec));
}

TEST(ring_peek_fields)
{
	uint64_t area[RING / 8];
	const uint32_t pos = 0xffffff00u; /* offset 3840; 256 bytes before the index wraps */
	struct anarchy_ring_rec rec;

	memset(area, 0xee, sizeof(area));
	put_record(area, RING, pos, 13, 0, 0xbeef);
	put_record(area, RING, pos + 24, 224, ANARCHY_RECORD_PAD, 0x5a5a);
	put_record(area, RING, pos + 256, RING_MAX, 0, 7);
	const uint32_t head = pos + 256 + 2048;

	ASSERT_OK_ZERO(peek(area, RING, RING_MAX, pos, head, &rec));
	ASSERT_EQ(rec.pos, pos);
	ASSERT_EQ(rec.offset, 3840u);
	ASSERT_EQ(rec.len, 13u);
	ASSERT_EQ(rec.flags, 0u);
	ASSERT_EQ(rec.type, 0xbeefu);
	ASSERT_EQ(rec.footprint, 24u);

	ASSERT_OK_ZERO(peek(area, RING, RING_MAX, pos + 24, head, &rec));
	ASSERT_EQ(rec.pos, pos + 24);
	ASSERT_EQ(rec.offset, 3864u);
	ASSERT_EQ(rec.len, 224u);
	ASSERT_EQ(rec.flags, ANARCHY_RECORD_PAD);
	ASSERT_EQ(rec.type, 0x5a5au);
	ASSERT_EQ(rec.footprint, 232u);

	ASSERT_OK_ZERO(peek(area, RING, RING_MAX, pos + 256, head, &rec));
	ASSERT_EQ(rec.pos, 0u);
	ASSERT_EQ(rec.offset, 0u);
	ASSERT_EQ(rec.len, RING_MAX);
	ASSERT_EQ(rec.flags, 0u);
	ASSERT_EQ(rec.type, 7u);
	ASSERT_EQ(rec.footprint, 2048u);
	ASSERT_EQ(head, 2048u);

	ASSERT_ERROR(peek(area, RING, RING_MAX, head, head, &rec), EAGAIN);
}

TEST(ring_reserve_errors)
{
	/* tail beyond head, or more than a ring behind it. */
	ASSERT_ERROR(anarchy_ring_reserve(RING, RING_MAX, 4096, 4104, 0), EINVAL);
	ASSERT_ERROR(anarchy_ring_reserve(RING, RING_MAX, 8192, 8192 - RING - 8, 0), EINVAL);
	ASSERT_ERROR(anarchy_ring_reserve(RING, RING_MAX, 0, 8, 0), EINVAL);
	ASSERT_ERROR(anarchy_ring_reserve(RING, RING_MAX, 0, 8, RING_MAX + 1), EINVAL);
	/* Indices that wrap are fine: 16 bytes used. */
	ASSERT_EQ(anarchy_ring_reserve(RING, RING_MAX, 8, UINT32_MAX - 7, 0), 0);

	/* Never fits: longer than max_record, whatever the room. */
	ASSERT_ERROR(anarchy_ring_reserve(RING, RING_MAX, 0, 0, RING_MAX + 1), EMSGSIZE);
	ASSERT_ERROR(anarchy_ring_reserve(RING, RING_MAX, 0, 0, UINT32_MAX), EMSGSIZE);
	ASSERT_ERROR(anarchy_ring_reserve(RING, RING_MAX, RING, 0, RING_MAX + 1), EMSGSIZE);
	ASSERT_EQ(anarchy_ring_reserve(RING, RING_MAX, 0, 0, RING_MAX), 0);

	/* Not now: a full ring, or 16 bytes free. */
	ASSERT_ERROR(anarchy_ring_reserve(RING, RING_MAX, RING, 0, 0), ENOSPC);
	ASSERT_ERROR(anarchy_ring_reserve(RING, RING_MAX, 4080, 0, 9), ENOSPC);
	ASSERT_EQ(anarchy_ring_reserve(RING, RING_MAX, 4080, 0, 8), 0);
	ASSERT_ERROR(anarchy_ring_reserve(RING, RING_MAX, 4088, 8, 8), ENOSPC); /* 8 + 16 */
}

TEST(ring_reserve_skip)
{
	const uint32_t head = 0xffffffc0u; /* offset 4032: 64 bytes to the end */

	/* An empty ring. */
	ASSERT_EQ(anarchy_ring_reserve(RING, RING_MAX, head, head, 56), 0); /* exact fit */
	ASSERT_EQ(anarchy_ring_reserve(RING, RING_MAX, head, head, 57), 64);
	ASSERT_EQ(anarchy_ring_reserve(RING, RING_MAX, head, head, RING_MAX), 64);

	/* 100 bytes take 112, after 64 skipped: 176 bytes, not 112, must be free. */
	ASSERT_EQ(anarchy_ring_reserve(RING, RING_MAX, head, head - (RING - 176), 100), 64);
	ASSERT_ERROR(anarchy_ring_reserve(RING, RING_MAX, head, head - (RING - 168), 100), ENOSPC);
	ASSERT_ERROR(anarchy_ring_reserve(RING, RING_MAX, head, head - (RING - 112), 100), ENOSPC);
	/* An exact fit at the end needs no more than its own bytes. */
	ASSERT_EQ(anarchy_ring_reserve(RING, RING_MAX, head, head - (RING - 64), 56), 0);
	ASSERT_ERROR(anarchy_ring_reserve(RING, RING_MAX, head, head - (RING - 56), 56), ENOSPC);

	/* The smallest skip: one header. */
	ASSERT_EQ(anarchy_ring_reserve(RING, RING_MAX, 4088, 4088, 0), 0);
	ASSERT_EQ(anarchy_ring_reserve(RING, RING_MAX, 4088, 4088, 1), 8);
	/* At offset 0 there is never a skip. */
	ASSERT_EQ(anarchy_ring_reserve(RING, RING_MAX, 0, 0, RING_MAX), 0);
	ASSERT_EQ(anarchy_ring_reserve(RING, RING_MAX, RING, 2048, RING_MAX), 0);
}

/* With the ring's own max_record, -ENOSPC is never for good: at any head, a record up to
 * max_record and the padding before it fit in the ring once it is empty.
 */
TEST(ring_reserve_fits_when_empty)
{
	for (uint32_t size = ANARCHY_RING_MIN; size <= 4 * ANARCHY_RING_MIN; size *= 2) {
		const uint32_t max = anarchy_ring_max_record(size);
		const uint32_t lens[] = { 0, 1, max / 2, max / 2 + 1, max - 1, max };

		for (uint32_t offset = 0; offset < size; offset += ANARCHY_RECORD_ALIGN) {
			const uint32_t head = 0xfff00000u + offset;

			for (size_t i = 0; i < ELEMENTSOF(lens); i++)
				ASSERT_OK(anarchy_ring_reserve(size, max, head, head, lens[i]));
		}
	}
}

TEST(ring_write_pad_round_trip)
{
	static const uint32_t offsets[] = { 4088, 4032, 2056, 3000 };

	for (size_t i = 0; i < ELEMENTSOF(offsets); i++) {
		uint64_t area[RING / 8];
		const uint8_t *data = (const uint8_t *)area;
		const uint32_t head = 0xfffff000u + offsets[i], to_end = RING - offsets[i];
		const uint32_t len = to_end; /* one header too long for the end */
		struct anarchy_ring_rec rec;
		int skip;

		memset(area, 0xee, sizeof(area));
		skip = anarchy_ring_reserve(RING, RING_MAX, head, head, len);
		ASSERT_EQ(skip, (int)to_end);
		anarchy_ring_write_pad(area, RING, head, (uint32_t)skip);
		/* The pad record is a header; what it skips is left as it was. */
		for (uint32_t j = offsets[i] + 8; j < RING; j++)
			ASSERT_EQ(data[j], 0xeeu);
		put_record(area, RING, head + to_end, len, 0, 42);
		const uint32_t end = head + to_end + anarchy_record_footprint(len);

		ASSERT_OK_ZERO(peek(area, RING, RING_MAX, head, end, &rec));
		ASSERT_EQ(rec.pos, head);
		ASSERT_EQ(rec.offset, offsets[i]);
		ASSERT_EQ(rec.flags, ANARCHY_RECORD_PAD);
		ASSERT_EQ(rec.type, 0u);
		ASSERT_EQ(rec.len, to_end - 8);
		ASSERT_EQ(rec.footprint, to_end);

		ASSERT_OK_ZERO(peek(area, RING, RING_MAX, head + rec.footprint, end, &rec));
		ASSERT_EQ(rec.pos, 0u);
		ASSERT_EQ(rec.offset, 0u);
		ASSERT_EQ(rec.flags, 0u);
		ASSERT_EQ(rec.type, 42u);
		ASSERT_EQ(rec.len, len);
		ASSERT_EQ(head + to_end + rec.footprint, end);
		ASSERT_ERROR(peek(area, RING, RING_MAX, end, end, &rec), EAGAIN);
		ASSERT_EQ(anarchy_ring_free(RING, end, head), RING - (end - head));
	}
}

TEST(ring_free)
{
	ASSERT_EQ(anarchy_ring_free(RING, 0, 0), RING);
	ASSERT_EQ(anarchy_ring_free(RING, 100, 0), RING - 100);
	ASSERT_EQ(anarchy_ring_free(RING, RING, 0), 0u);
	ASSERT_EQ(anarchy_ring_free(RING, 5, UINT32_MAX - 2), RING - 8); /* wrapped */
	ASSERT_EQ(anarchy_ring_free(RING, 0, 8), 0u);			 /* tail beyond head */
	ASSERT_EQ(anarchy_ring_free(RING, RING + 8, 0), 0u); /* more than a ring behind */
	ASSERT_EQ(anarchy_ring_free(ANARCHY_RING_MAX, 7, 7), ANARCHY_RING_MAX);
}

static uint8_t sim_byte(uint32_t seq, uint32_t i)
{
	return (uint8_t)(seq * 131u + i * 7u + (i >> 8));
}

static uint32_t sim_len(uint32_t max)
{
	switch (rng() % 4) {
	case 0:
		return (uint32_t)(rng() % 17); /* every padding */
	case 1:
		return max - (uint32_t)(rng() % 9); /* the largest */
	default:
		return (uint32_t)(rng() % (max + 1));
	}
}

struct sim {
	uint8_t *data;
	uint32_t max;
	uint32_t head, tail;
	uint32_t written, read;
	uint32_t pads, full;
	uint32_t lens[SIM_RECORDS];
};

/* Reads up to n records: they must be the next ones written, in order and intact. */
static void sim_read(struct sim *s, unsigned n)
{
	while (n > 0) {
		struct anarchy_ring_rec rec;
		uint32_t i;
		int r;

		r = anarchy_ring_peek(s->data, RING, s->max, s->tail, s->head, &rec);
		if (r == -EAGAIN) {
			ASSERT_EQ(s->tail, s->head);
			ASSERT_EQ(s->read, s->written);
			return;
		}
		ASSERT_OK_ZERO(r);
		ASSERT_EQ(rec.pos, s->tail);
		ASSERT_EQ(rec.offset, s->tail % RING);
		if (rec.flags == ANARCHY_RECORD_PAD) {
			ASSERT_EQ(rec.offset + rec.footprint, RING);
		} else {
			ASSERT_LT(s->read, s->written);
			ASSERT_EQ(rec.flags, 0u);
			ASSERT_EQ(rec.len, s->lens[s->read]);
			ASSERT_EQ(rec.type, (uint16_t)s->read);
			ASSERT_EQ(rec.footprint, anarchy_record_footprint(rec.len));
			for (i = 0; i < rec.len; i++)
				if (s->data[rec.offset + 8 + i] != sim_byte(s->read, i))
					break;
			ASSERT_EQ(i, rec.len);
			s->read++;
			n--;
		}
		s->tail += rec.footprint;
	}
}

/* Writes record s->written if there is room; false when the ring is too full for it. */
static bool sim_write(struct sim *s)
{
	const uint32_t len = s->lens[s->written];
	const uint32_t footprint = anarchy_record_footprint(len);
	const uint32_t to_end = RING - s->head % RING;
	uint32_t offset;
	int skip;

	skip = anarchy_ring_reserve(RING, s->max, s->head, s->tail, len);
	if (skip == -ENOSPC) {
		ASSERT_LT(anarchy_ring_free(RING, s->head, s->tail),
			  footprint + (footprint > to_end ? to_end : 0));
		s->full++;
		return false;
	}
	ASSERT_OK(skip);
	ASSERT_EQ(skip, footprint > to_end ? (int)to_end : 0);
	if (skip > 0) {
		anarchy_ring_write_pad(s->data, RING, s->head, (uint32_t)skip);
		s->head += (uint32_t)skip;
		s->pads++;
	}
	offset = s->head % RING;
	ASSERT_LE(offset + footprint, RING);
	put_record(s->data, RING, s->head, len, 0, (uint16_t)s->written);
	for (uint32_t i = 0; i < len; i++)
		s->data[offset + 8 + i] = sim_byte(s->written, i);
	s->head += footprint;
	s->written++;
	return true;
}

TEST(ring_simulation)
{
	uint64_t area[RING / 8];
	struct sim *s;

	s = calloc(1, sizeof(*s));
	ASSERT_NOT_NULL(s);
	memset(area, 0xee, sizeof(area));
	s->data = (uint8_t *)area;
	s->max = anarchy_ring_max_record(RING);
	const uint32_t start = 0xfffff000u + 8 * 37; /* 3800 bytes before the indices wrap */

	s->head = s->tail = start;
	for (uint32_t i = 0; i < SIM_RECORDS; i++)
		s->lens[i] = sim_len(s->max);

	while (s->read < SIM_RECORDS) {
		bool wrote = false;

		if (s->written < SIM_RECORDS && rng() % 8 != 0)
			wrote = sim_write(s);
		if (rng() % 64 == 0)
			sim_read(s, UINT_MAX); /* to empty, now and then */
		else if (!wrote)
			sim_read(s, 1 + (unsigned)(rng() % 8));
	}

	struct anarchy_ring_rec rec;

	ASSERT_ERROR(anarchy_ring_peek(s->data, RING, s->max, s->tail, s->head, &rec), EAGAIN);
	ASSERT_EQ(anarchy_ring_free(RING, s->head, s->tail), RING);
	ASSERT_EQ(s->written, SIM_RECORDS);
	/* About 1e8 bytes went through: the indices wrapped once, past UINT32_MAX. */
	ASSERT_LT(s->head, start);
	ASSERT_GT(s->head, 1000u * RING);
	ASSERT_GT(s->pads, 1000u);
	ASSERT_GT(s->full, 1000u);
	free(s);
}

/* Frames. */

struct frame_buf {
	uint64_t align;
	uint8_t b[ANARCHY_FRAME_SIZE + 64];
};

static const struct anarchy_frame frame_defaults = {
	.rseq = 0x10000u,
	.ack = 0x11223344u,
	.window = 0x8000u,
	.epoch = 3,
};

/* Makes the CRC of the frame of len bytes at buf good again, as frame_crc() computes it. */
static void fix_crc(uint8_t *buf, uint32_t len)
{
	struct anarchy_frame_hdr hdr;
	uint32_t crc;

	memcpy(&hdr, buf, sizeof(hdr));
	hdr.crc = 0;
	crc = __crc32c_le(~0u, (const unsigned char *)&hdr, sizeof(hdr));
	crc = ~__crc32c_le(crc, buf + HDR, len - HDR);
	hdr.crc = cpu_to_le32(crc);
	memcpy(buf, &hdr, sizeof(hdr));
}

static void set_le(uint8_t *p, size_t n, uint64_t v)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* anarchy_frame_decode(), checking that a failure leaves *ret alone. */
static int decode(const void *buf, uint32_t len, uint32_t max_record, struct anarchy_frame *ret)
{
	struct anarchy_frame before;
	int r;

	memset(ret, 0xa5, sizeof(*ret));
	memcpy(&before, ret, sizeof(before));
	r = anarchy_frame_decode(buf, len, max_record, ret);
	if (r < 0)
		ASSERT_MEMEQ(ret, &before, sizeof(before));
	return r;
}

/* Writes n records of lengths lens[] (types 100, 101, ...) to p; returns the bytes. */
static uint32_t put_packed(uint8_t *p, const uint32_t *lens, uint32_t n)
{
	uint32_t pos = 0;

	for (uint32_t i = 0; i < n; i++) {
		struct anarchy_record rec = { .len = lens[i], .type = (uint16_t)(100 + i) };
		uint32_t footprint = anarchy_record_footprint(lens[i]);

		memcpy(p + pos, &rec, sizeof(rec));
		for (uint32_t j = 8; j < footprint; j++)
			p[pos + j] = j < 8 + lens[i] ? (uint8_t)(i + j) : 0;
		pos += footprint;
	}
	return pos;
}

/* Fills in a valid frame of type with flags (DATA: PACKED or FRAG, ACK_VALID on any) at buf;
 * returns its length, and what was encoded in *ret_f.
 */
static uint32_t sample_frame(uint8_t *buf, uint8_t type, uint16_t flags,
			     struct anarchy_frame *ret_f)
{
	static const uint32_t lens[] = { 0, 5, 16, 1, 200 };
	struct anarchy_frame f = frame_defaults;
	uint8_t *payload = buf + HDR;

	f.type = type;
	f.flags = flags;
	switch (type) {
	case ANARCHY_FRAME_HELLO: {
		struct anarchy_hello h = {
			.abi_major = cpu_to_le16(ANARCHY_ABI_MAJOR),
			.abi_minor = cpu_to_le16(ANARCHY_ABI_MINOR),
			.frame_size = cpu_to_le32(ANARCHY_FRAME_SIZE),
			.boot_id = cpu_to_le64(0x0123456789abcdefull),
			.peer_boot_id = cpu_to_le64(0xfedcba9876543210ull),
			.uuid = { 0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe, 1, 2, 3, 4, 5, 6,
				  7, 8 },
			.name = "far-host",
		};

		memcpy(payload, &h, sizeof(h));
		f.len = sizeof(h);
		break;
	}
	case ANARCHY_FRAME_DATA:
		if (flags & FRAG) {
			f.rlen = 10000;
			f.rtype = 0x1234;
			f.arg = 4000;
			f.len = 1000;
			for (uint32_t i = 0; i < f.len; i++)
				payload[i] = (uint8_t)(i * 7 + 1);
		} else {
			f.arg = ELEMENTSOF(lens);
			f.len = put_packed(payload, lens, ELEMENTSOF(lens));
		}
		break;
	case ANARCHY_FRAME_PING:
	case ANARCHY_FRAME_PONG: {
		struct anarchy_ping p = {
			.sent_ns = cpu_to_le64(123456789012345ull),
			.seq = cpu_to_le64(77),
		};

		memcpy(payload, &p, sizeof(p));
		f.len = sizeof(p);
		break;
	}
	default:
		f.len = 0;
		break;
	}
	ASSERT_EQ(anarchy_frame_encode(buf, &f), HDR + f.len);
	f.payload = payload;
	if (ret_f)
		*ret_f = f;
	return HDR + f.len;
}

/* A frame of type and flags with a payload of len bytes (a pattern), at buf. */
static uint32_t raw_frame(uint8_t *buf, uint8_t type, uint16_t flags, uint32_t len)
{
	struct anarchy_frame f = frame_defaults;

	f.type = type;
	f.flags = flags;
	f.len = len;
	for (uint32_t i = 0; i < len; i++)
		buf[HDR + i] = (uint8_t)(i * 13 + 5);
	return anarchy_frame_encode(buf, &f);
}

static void assert_same_frame(const struct anarchy_frame *d, const struct anarchy_frame *f)
{
	ASSERT_EQ(d->type, f->type);
	ASSERT_EQ(d->flags, f->flags);
	ASSERT_EQ(d->len, f->len);
	ASSERT_EQ(d->rseq, f->rseq);
	ASSERT_EQ(d->arg, f->arg);
	ASSERT_EQ(d->rlen, f->rlen);
	ASSERT_EQ(d->rtype, f->rtype);
	ASSERT_EQ(d->ack, f->ack);
	ASSERT_EQ(d->window, f->window);
	ASSERT_EQ(d->epoch, f->epoch);
	ASSERT_EQ(d->payload, f->payload);
}

TEST(frame_layout)
{
	struct frame_buf fb = { 0 };
	struct anarchy_frame f = {
		.type = ANARCHY_FRAME_DATA,
		.flags = FRAG | ACK_VALID,
		.len = 3,
		.rseq = 0x04030201u,
		.arg = 0x0c0b0a08u,
		.rlen = 0x1c1b1a19u,
		.rtype = 0x2221u,
		.ack = 0x34333231u,
		.window = 0x44434241u,
		.epoch = 0x54535251u,
	};
	/* Little-endian whatever the host; the CRC (44..47) is checked below. */
	static const uint8_t golden[44] = {
		0x41, 0x4e, 0x59, 0x46, 0x01, 0x02, 0x06, 0x00, 0x03, 0x00, 0x00,
		0x00, 0x01, 0x02, 0x03, 0x04, 0x08, 0x0a, 0x0b, 0x0c, 0x19, 0x1a,
		0x1b, 0x1c, 0x21, 0x22, 0x00, 0x00, 0x31, 0x32, 0x33, 0x34, 0x41,
		0x42, 0x43, 0x44, 0x51, 0x52, 0x53, 0x54, 0x00, 0x00, 0x00, 0x00,
	};
	uint8_t zeroed[HDR];
	uint32_t crc;

	ASSERT_EQ(HDR, 48u);
	ASSERT_EQ(offsetof(struct anarchy_frame_hdr, rtype), 24u);
	ASSERT_EQ(offsetof(struct anarchy_frame_hdr, rx_max), 40u);
	ASSERT_EQ(offsetof(struct anarchy_frame_hdr, crc), 44u);
	ASSERT_EQ(ANARCHY_FRAME_PAYLOAD, 4048u);
	ASSERT_EQ(sizeof(struct anarchy_hello), 112u);
	ASSERT_EQ(offsetof(struct anarchy_hello, flags), 24u);
	ASSERT_EQ(offsetof(struct anarchy_hello, uuid), 32u);
	ASSERT_EQ(sizeof(struct anarchy_ping), 16u);

	memcpy(fb.b + HDR, "abc", 3);
	ASSERT_EQ(anarchy_frame_encode(fb.b, &f), 51u);
	ASSERT_MEMEQ(fb.b, golden, sizeof(golden));
	memcpy(zeroed, fb.b, HDR);
	memset(zeroed + 44, 0, 4);
	crc = ~crc32c_ref(crc32c_ref(~0u, zeroed, HDR), "abc", 3);
	ASSERT_EQ(fb.b[44] | fb.b[45] << 8 | fb.b[46] << 16 | (uint32_t)fb.b[47] << 24, crc);
}

TEST(frame_round_trip_every_type)
{
	for (uint8_t type = 1; type < _ANARCHY_FRAME_TYPE_MAX; type++) {
		uint16_t kinds[2] = { 0, 0 };
		size_t n_kinds = 1;

		if (type == ANARCHY_FRAME_DATA) {
			kinds[0] = PACKED;
			kinds[1] = FRAG;
			n_kinds = 2;
		}
		for (size_t k = 0; k < n_kinds; k++) {
			for (int ack = 0; ack < 2; ack++) {
				struct frame_buf fb, copy;
				struct anarchy_frame f, d;
				uint16_t flags = kinds[k] | (ack ? ACK_VALID : 0);
				uint32_t len = sample_frame(fb.b, type, flags, &f);

				memcpy(&copy, &fb, sizeof(fb));
				ASSERT_OK_ZERO(decode(fb.b, len, ANARCHY_MAX_RECORD, &d));
				assert_same_frame(&d, &f);
				ASSERT_EQ(d.flags, flags);
				ASSERT_MEMEQ(fb.b, copy.b, len); /* decode only reads */
			}
		}
	}
}

TEST(frame_packed_counts)
{
	struct frame_buf fb;
	struct anarchy_frame f = frame_defaults, d;
	uint32_t lens[ANARCHY_FRAME_PAYLOAD / 8];

	f.type = ANARCHY_FRAME_DATA;
	f.flags = PACKED;
	/* 1..n records of varied lengths, as many as fit. */
	for (uint32_t n = 1;; n++) {
		lens[n - 1] = (n * 37) % 61;
		f.len = 0;
		for (uint32_t i = 0; i < n; i++)
			f.len += anarchy_record_footprint(lens[i]);
		if (f.len > ANARCHY_FRAME_PAYLOAD)
			break;
		f.arg = n;
		ASSERT_EQ(put_packed(fb.b + HDR, lens, n), f.len);
		anarchy_frame_encode(fb.b, &f);
		ASSERT_OK_ZERO(decode(fb.b, HDR + f.len, 60, &d));
		ASSERT_EQ(d.arg, n);
		ASSERT_EQ(d.len, f.len);
		/* The count is the count. */
		f.arg = n + 1;
		anarchy_frame_encode(fb.b, &f);
		ASSERT_ERROR(decode(fb.b, HDR + f.len, 60, &d), EPROTO);
		f.arg = n - 1;
		anarchy_frame_encode(fb.b, &f);
		ASSERT_ERROR(decode(fb.b, HDR + f.len, 60, &d), EPROTO);
	}

	/* The most records a frame holds: 506 empty ones. */
	for (uint32_t i = 0; i < ELEMENTSOF(lens); i++)
		lens[i] = 0;
	f.arg = ELEMENTSOF(lens);
	f.len = put_packed(fb.b + HDR, lens, ELEMENTSOF(lens));
	ASSERT_EQ(f.len, ANARCHY_FRAME_PAYLOAD);
	ASSERT_EQ(anarchy_frame_encode(fb.b, &f), ANARCHY_FRAME_SIZE);
	ASSERT_OK_ZERO(decode(fb.b, ANARCHY_FRAME_SIZE, 0, &d));

	/* One record filling the frame, at and over max_record. */
	lens[0] = ANARCHY_FRAME_PAYLOAD - 8;
	f.arg = 1;
	f.len = put_packed(fb.b + HDR, lens, 1);
	ASSERT_EQ(anarchy_frame_encode(fb.b, &f), ANARCHY_FRAME_SIZE);
	ASSERT_OK_ZERO(decode(fb.b, ANARCHY_FRAME_SIZE, lens[0], &d));
	ASSERT_ERROR(decode(fb.b, ANARCHY_FRAME_SIZE, lens[0] - 1, &d), EPROTO);
}

/* A PACKED frame of count records whose payload p (len bytes) is given. */
static int decode_packed(const uint8_t *p, uint32_t len, uint32_t count, uint32_t max_record)
{
	struct frame_buf fb;
	struct anarchy_frame f = frame_defaults, d;

	f.type = ANARCHY_FRAME_DATA;
	f.flags = PACKED;
	f.arg = count;
	f.len = len;
	memcpy(fb.b + HDR, p, len);
	anarchy_frame_encode(fb.b, &f);
	return decode(fb.b, HDR + len, max_record, &d);
}

TEST(frame_packed_errors)
{
	static const uint32_t lens[] = { 5, 0, 100 };
	static const uint32_t too_long[] = { 113, 4096, ANARCHY_MAX_RECORD, UINT32_MAX };
	uint8_t p[512];
	uint32_t len = put_packed(p, lens, 3);

	ASSERT_EQ(len, 16u + 8 + 112);
	ASSERT_OK_ZERO(decode_packed(p, len, 3, 100));
	ASSERT_ERROR(decode_packed(p, len, 3, 99), EPROTO); /* a record over max_record */
	ASSERT_ERROR(decode_packed(p, len, 0, 100), EPROTO);
	ASSERT_ERROR(decode_packed(p, 0, 0, 100), EPROTO);   /* no records at all */
	ASSERT_ERROR(decode_packed(p, len, 2, 100), EPROTO); /* bytes left over */
	ASSERT_ERROR(decode_packed(p, len, 4, 100), EPROTO); /* records missing */
	ASSERT_ERROR(decode_packed(p, len, UINT32_MAX, 100), EPROTO);
	/* Trailing bytes, zero or not. */
	memset(p + len, 0, 8);
	ASSERT_ERROR(decode_packed(p, len + 8, 3, 100), EPROTO);
	ASSERT_ERROR(decode_packed(p, len + 4, 3, 100), EPROTO);
	/* The last record cut short: unpadded, or shorter than it says. */
	ASSERT_ERROR(decode_packed(p, len - 3, 3, 100), EPROTO);
	ASSERT_ERROR(decode_packed(p, len - 8, 3, 100), EPROTO);
	/* Less than a header. */
	ASSERT_ERROR(decode_packed(p, 4, 1, 100), EPROTO);
	ASSERT_ERROR(decode_packed(p, 0, 1, 100), EPROTO);

	/* Any record flag: PAD has no place in a frame, and no other is defined. */
	for (uint16_t flag = 1; flag != 0; flag <<= 1) {
		memcpy(p + 24 + 4, &flag, sizeof(flag)); /* the third record's flags */
		ASSERT_ERROR(decode_packed(p, len, 3, 100), EPROTO);
	}
	memset(p + 24 + 4, 0, 2);
	ASSERT_OK_ZERO(decode_packed(p, len, 3, 100));
	/* A record longer than the frame. */
	for (size_t i = 0; i < ELEMENTSOF(too_long); i++) {
		memcpy(p + 24, &too_long[i], sizeof(too_long[i])); /* the third record's len */
		ASSERT_ERROR(decode_packed(p, len, 3, ANARCHY_MAX_RECORD), EPROTO);
	}
}

/* A FRAG frame: bytes off..off+len of a record of rlen bytes. */
static int decode_frag(uint32_t off, uint32_t len, uint32_t rlen, uint32_t max_record)
{
	struct frame_buf fb;
	struct anarchy_frame d;
	uint32_t n = raw_frame(fb.b, ANARCHY_FRAME_DATA, FRAG, len);
	struct anarchy_frame_hdr hdr;

	memcpy(&hdr, fb.b, sizeof(hdr));
	hdr.arg = cpu_to_le32(off);
	hdr.rlen = cpu_to_le32(rlen);
	memcpy(fb.b, &hdr, sizeof(hdr));
	fix_crc(fb.b, n);
	return decode(fb.b, n, max_record, &d);
}

TEST(frame_frag_bounds)
{
	const uint32_t max = 10000;

	ASSERT_OK_ZERO(decode_frag(0, 4048, 10000, max));    /* first */
	ASSERT_OK_ZERO(decode_frag(4048, 4048, 10000, max)); /* middle */
	ASSERT_OK_ZERO(decode_frag(8096, 1904, 10000, max)); /* last, ending at rlen */
	ASSERT_OK_ZERO(decode_frag(0, 1, 1, max));	     /* a whole record */
	ASSERT_OK_ZERO(decode_frag(0, 4048, max, max));

	ASSERT_ERROR(decode_frag(8096, 1905, 10000, max), EPROTO); /* past rlen */
	ASSERT_ERROR(decode_frag(8104, 1904, 10000, max), EPROTO);
	ASSERT_ERROR(decode_frag(UINT32_MAX - 7, 8, 10000, max), EPROTO);
	ASSERT_ERROR(decode_frag(0, 2, 1, max), EPROTO);       /* longer than its record */
	ASSERT_ERROR(decode_frag(4, 100, 10000, max), EPROTO); /* misaligned */
	ASSERT_ERROR(decode_frag(4047, 1, 10000, max), EPROTO);
	ASSERT_ERROR(decode_frag(0, 100, max + 1, max), EPROTO); /* record over max_record */
	ASSERT_ERROR(decode_frag(0, 100, UINT32_MAX, ANARCHY_MAX_RECORD), EPROTO);
	ASSERT_ERROR(decode_frag(0, 0, 10000, max), EPROTO); /* empty */
	ASSERT_ERROR(decode_frag(0, 0, 0, max), EPROTO);
}

/* Flips each byte of the frame at buf with each mask: damage anywhere is a CRC mismatch. */
static void assert_every_byte_guarded(uint8_t *buf, uint32_t len)
{
	static const uint8_t masks[] = { 0x01, 0x80, 0xff, 0x5a };
	struct anarchy_frame d;

	for (uint32_t i = 0; i < len; i++) {
		for (size_t m = 0; m < ELEMENTSOF(masks); m++) {
			buf[i] ^= masks[m];
			ASSERT_ERROR(decode(buf, len, ANARCHY_MAX_RECORD, &d), EBADMSG);
			buf[i] ^= masks[m];
		}
	}
	ASSERT_OK_ZERO(decode(buf, len, ANARCHY_MAX_RECORD, &d));
}

TEST(frame_crc_damage)
{
	struct frame_buf fb;
	struct anarchy_frame d;
	uint32_t len;

	for (uint8_t type = 1; type < _ANARCHY_FRAME_TYPE_MAX; type++) {
		len = sample_frame(fb.b, type, type == ANARCHY_FRAME_DATA ? PACKED : ACK_VALID,
				   NULL);
		assert_every_byte_guarded(fb.b, len);
	}
	len = sample_frame(fb.b, ANARCHY_FRAME_DATA, FRAG, NULL);
	assert_every_byte_guarded(fb.b, len);

	/* A whole frame. */
	len = raw_frame(fb.b, ANARCHY_FRAME_DATA, FRAG, ANARCHY_FRAME_PAYLOAD);
	set_le(fb.b + offsetof(struct anarchy_frame_hdr, rlen), 4, 8192);
	fix_crc(fb.b, len);
	ASSERT_EQ(len, ANARCHY_FRAME_SIZE);
	assert_every_byte_guarded(fb.b, len);

	/* Cut short or run long, with the header intact: the CRC is over what arrived. */
	ASSERT_ERROR(decode(fb.b, len - 8, ANARCHY_MAX_RECORD, &d), EBADMSG);
	len = sample_frame(fb.b, ANARCHY_FRAME_PING, 0, NULL);
	ASSERT_ERROR(decode(fb.b, len + 8, ANARCHY_MAX_RECORD, &d), EBADMSG);
	ASSERT_ERROR(decode(fb.b, HDR, ANARCHY_MAX_RECORD, &d), EBADMSG);
}

TEST(frame_decode_sizes)
{
	struct frame_buf fb;
	struct anarchy_frame d;
	uint32_t len = sample_frame(fb.b, ANARCHY_FRAME_BYE, 0, NULL);

	ASSERT_EQ(len, HDR);
	ASSERT_OK_ZERO(decode(fb.b, len, ANARCHY_MAX_RECORD, &d));
	ASSERT_ERROR(decode(fb.b, HDR - 1, ANARCHY_MAX_RECORD, &d), EPROTO);
	ASSERT_ERROR(decode(fb.b, 1, ANARCHY_MAX_RECORD, &d), EPROTO);
	ASSERT_ERROR(decode(fb.b, 0, ANARCHY_MAX_RECORD, &d), EPROTO);

	/* Over the DMA frame size, with everything else right. */
	len = raw_frame(fb.b, ANARCHY_FRAME_DATA, FRAG, ANARCHY_FRAME_PAYLOAD + 8);
	set_le(fb.b + offsetof(struct anarchy_frame_hdr, rlen), 4, 8192);
	fix_crc(fb.b, len);
	ASSERT_EQ(len, ANARCHY_FRAME_SIZE + 8);
	ASSERT_ERROR(decode(fb.b, len, ANARCHY_MAX_RECORD, &d), EPROTO);
	ASSERT_ERROR(decode(fb.b, ANARCHY_FRAME_SIZE + 1, ANARCHY_MAX_RECORD, &d), EPROTO);
	ASSERT_ERROR(decode(fb.b, UINT32_MAX, ANARCHY_MAX_RECORD, &d), EPROTO);
}

/* The sample frame of type and flags with n bytes at header offset off set to v (little-endian),
 * decoded; with fix, its CRC made good first.
 */
static int decode_edited(uint8_t type, uint16_t flags, size_t off, size_t n, uint64_t v, bool fix)
{
	struct frame_buf fb;
	struct anarchy_frame d;
	uint32_t len = sample_frame(fb.b, type, flags, NULL);

	set_le(fb.b + off, n, v);
	if (fix)
		fix_crc(fb.b, len);
	return decode(fb.b, len, ANARCHY_MAX_RECORD, &d);
}

#define O_MAGIC offsetof(struct anarchy_frame_hdr, magic)
#define O_VERSION offsetof(struct anarchy_frame_hdr, version)
#define O_TYPE offsetof(struct anarchy_frame_hdr, type)
#define O_FLAGS offsetof(struct anarchy_frame_hdr, flags)
#define O_LEN offsetof(struct anarchy_frame_hdr, len)
#define O_RESERVED0 offsetof(struct anarchy_frame_hdr, reserved0)
#define O_RX_MAX offsetof(struct anarchy_frame_hdr, rx_max)

TEST(frame_decode_header_checks)
{
	const uint8_t data = ANARCHY_FRAME_DATA, hello = ANARCHY_FRAME_HELLO;
	struct frame_buf fb;
	struct anarchy_frame d;
	uint32_t len;

	/* A good CRC over a bad header is needed to reach the checks. */
	ASSERT_ERROR(decode_edited(data, PACKED, O_MAGIC, 4, 0x46594e42, false), EBADMSG);
	ASSERT_ERROR(decode_edited(data, PACKED, O_MAGIC, 4, 0x46594e42, true), EPROTO);
	ASSERT_ERROR(decode_edited(data, PACKED, O_MAGIC, 4, 0x414e5946, true), EPROTO);
	ASSERT_ERROR(decode_edited(data, PACKED, O_MAGIC, 4, 0, true), EPROTO);
	ASSERT_OK_ZERO(decode_edited(data, PACKED, O_MAGIC, 4, ANARCHY_FRAME_MAGIC, true));

	ASSERT_ERROR(decode_edited(hello, 0, O_VERSION, 1, 0, false), EBADMSG);
	ASSERT_ERROR(decode_edited(hello, 0, O_VERSION, 1, 0, true), EPROTONOSUPPORT);
	ASSERT_ERROR(decode_edited(hello, 0, O_VERSION, 1, 2, true), EPROTONOSUPPORT);
	ASSERT_ERROR(decode_edited(hello, 0, O_VERSION, 1, 255, true), EPROTONOSUPPORT);
	/* Not our magic: not our protocol, whatever the version says. */
	len = sample_frame(fb.b, hello, 0, NULL);
	fb.b[O_VERSION] = 2;
	fb.b[O_MAGIC] ^= 1;
	fix_crc(fb.b, len);
	ASSERT_ERROR(decode(fb.b, len, ANARCHY_MAX_RECORD, &d), EPROTO);
	/* Another version may have other lengths: the version is told first. */
	len = sample_frame(fb.b, hello, 0, NULL);
	fb.b[O_VERSION] = 2;
	set_le(fb.b + O_LEN, 4, 1);
	fix_crc(fb.b, len);
	ASSERT_ERROR(decode(fb.b, len, ANARCHY_MAX_RECORD, &d), EPROTONOSUPPORT);

	/* Unknown types. */
	ASSERT_ERROR(decode_edited(ANARCHY_FRAME_BYE, 0, O_TYPE, 1, 0, true), EPROTO);
	ASSERT_ERROR(decode_edited(ANARCHY_FRAME_BYE, 0, O_TYPE, 1, _ANARCHY_FRAME_TYPE_MAX, true),
		     EPROTO);
	ASSERT_ERROR(decode_edited(ANARCHY_FRAME_BYE, 0, O_TYPE, 1, 255, true), EPROTO);
	ASSERT_OK_ZERO(decode_edited(ANARCHY_FRAME_BYE, 0, O_TYPE, 1, ANARCHY_FRAME_ACK, true));

	/* Flags: PACKED or FRAG on DATA only, exactly one of them; ACK_VALID anywhere. */
	for (uint8_t type = 1; type < _ANARCHY_FRAME_TYPE_MAX; type++) {
		uint16_t base = type == data ? PACKED : 0;

		for (unsigned bit = 0; bit < 16; bit++) {
			uint16_t flags = base | (uint16_t)(1u << bit);
			int r = decode_edited(type, base, O_FLAGS, 2, flags, true);

			if (flags == base || (1u << bit) == ACK_VALID)
				ASSERT_OK_ZERO(r);
			else
				ASSERT_ERROR(r, EPROTO);
		}
	}
	ASSERT_ERROR(decode_edited(data, PACKED, O_FLAGS, 2, 0, true), EPROTO);
	ASSERT_ERROR(decode_edited(data, PACKED, O_FLAGS, 2, ACK_VALID, true), EPROTO);
	ASSERT_ERROR(decode_edited(data, FRAG, O_FLAGS, 2, FRAG | PACKED, true), EPROTO);
	ASSERT_ERROR(decode_edited(data, FRAG, O_FLAGS, 2, FRAG | 8, true), EPROTO);
	ASSERT_ERROR(decode_edited(data, FRAG, O_FLAGS, 2, 0xffff, true), EPROTO);

	/* Reserved fields. */
	ASSERT_ERROR(decode_edited(data, PACKED, O_RESERVED0, 2, 1, true), EPROTO);
	ASSERT_ERROR(decode_edited(data, PACKED, O_RESERVED0, 2, 0x8000, true), EPROTO);
	/* rx_max: a record size, at most ANARCHY_MAX_RECORD. */
	ASSERT_OK(decode_edited(ANARCHY_FRAME_ACK, 0, O_RX_MAX, 4, ANARCHY_MAX_RECORD, true));
	ASSERT_ERROR(decode_edited(ANARCHY_FRAME_ACK, 0, O_RX_MAX, 4, ANARCHY_MAX_RECORD + 1, true),
		     EPROTO);
	ASSERT_ERROR(decode_edited(ANARCHY_FRAME_ACK, 0, O_RX_MAX, 4, 0x80000000u, true), EPROTO);

	/* The length field against the bytes received. */
	len = sample_frame(fb.b, data, PACKED, NULL) - HDR;
	ASSERT_ERROR(decode_edited(data, PACKED, O_LEN, 4, len + 8, true), EPROTO);
	ASSERT_ERROR(decode_edited(data, PACKED, O_LEN, 4, len - 8, true), EPROTO);
	ASSERT_ERROR(decode_edited(data, PACKED, O_LEN, 4, 0, true), EPROTO);
	ASSERT_ERROR(decode_edited(data, PACKED, O_LEN, 4, UINT32_MAX, true), EPROTO);
	ASSERT_ERROR(decode_edited(ANARCHY_FRAME_BYE, 0, O_LEN, 4, 1, true), EPROTO);
	/* Where the payload would pass either way: a fragment of 1000 bytes, or of 992. */
	ASSERT_ERROR(decode_edited(data, FRAG, O_LEN, 4, 992, true), EPROTO);
	ASSERT_ERROR(decode_edited(data, FRAG, O_LEN, 4, 1008, true), EPROTO);
	ASSERT_ERROR(decode_edited(hello, 0, O_LEN, 4, sizeof(struct anarchy_hello) + 8, true),
		     EPROTO);
	ASSERT_OK_ZERO(decode_edited(data, FRAG, O_LEN, 4, 1000, true));
	ASSERT_OK_ZERO(decode_edited(data, PACKED, O_LEN, 4, len, true));
}

/* A frame of type with a payload of len bytes. */
static int decode_sized(uint8_t type, uint32_t len)
{
	struct frame_buf fb;
	struct anarchy_frame d;
	uint32_t n = raw_frame(fb.b, type, 0, len);

	return decode(fb.b, n, ANARCHY_MAX_RECORD, &d);
}

TEST(frame_payload_sizes)
{
	const uint32_t hello = sizeof(struct anarchy_hello), ping = sizeof(struct anarchy_ping);

	ASSERT_OK_ZERO(decode_sized(ANARCHY_FRAME_HELLO, hello));
	ASSERT_OK_ZERO(decode_sized(ANARCHY_FRAME_HELLO, hello + 24)); /* appended fields */
	ASSERT_OK_ZERO(decode_sized(ANARCHY_FRAME_HELLO, ANARCHY_FRAME_PAYLOAD));
	ASSERT_ERROR(decode_sized(ANARCHY_FRAME_HELLO, hello - 1), EPROTO);
	ASSERT_ERROR(decode_sized(ANARCHY_FRAME_HELLO, 0), EPROTO);

	for (uint8_t type = ANARCHY_FRAME_PING; type <= ANARCHY_FRAME_PONG; type++) {
		ASSERT_OK_ZERO(decode_sized(type, ping));
		ASSERT_ERROR(decode_sized(type, 0), EPROTO);
		ASSERT_ERROR(decode_sized(type, ping - 1), EPROTO);
		ASSERT_ERROR(decode_sized(type, ping + 1), EPROTO);
		ASSERT_ERROR(decode_sized(type, 2 * ping), EPROTO);
	}

	ASSERT_OK_ZERO(decode_sized(ANARCHY_FRAME_ACK, 0));
	ASSERT_ERROR(decode_sized(ANARCHY_FRAME_ACK, 1), EPROTO);
	ASSERT_ERROR(decode_sized(ANARCHY_FRAME_ACK, 8), EPROTO);
	ASSERT_ERROR(decode_sized(ANARCHY_FRAME_ACK, ANARCHY_FRAME_PAYLOAD), EPROTO);
	ASSERT_OK_ZERO(decode_sized(ANARCHY_FRAME_BYE, 0));
	ASSERT_ERROR(decode_sized(ANARCHY_FRAME_BYE, 8), EPROTO);
}

/* CRC32C. */

TEST(crc32c_vectors)
{
	uint8_t buf[32];

	ASSERT_EQ(~__crc32c_le(~0u, (const unsigned char *)"123456789", 9), 0xe3069283u);
	/* RFC 3720 B.4. */
	memset(buf, 0, sizeof(buf));
	ASSERT_EQ(~__crc32c_le(~0u, buf, sizeof(buf)), 0x8a9136aau);
	memset(buf, 0xff, sizeof(buf));
	ASSERT_EQ(~__crc32c_le(~0u, buf, sizeof(buf)), 0x62a8ab43u);
	for (unsigned i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)i;
	ASSERT_EQ(~__crc32c_le(~0u, buf, sizeof(buf)), 0x46dd794eu);
	/* No inversion of its own: nothing in, the seed out. */
	ASSERT_EQ(__crc32c_le(0, buf, 0), 0u);
	ASSERT_EQ(__crc32c_le(0x12345678u, buf, 0), 0x12345678u);
	ASSERT_EQ(__crc32c_le(0, (const unsigned char *)"\0\0\0\0", 4), 0u);
}

TEST(crc32c_matches_reference)
{
	uint8_t buf[300];

	for (int round = 0; round < 200; round++) {
		size_t len = (size_t)(rng() % sizeof(buf)), split = len > 0 ? rng() % len : 0;
		uint32_t seed = (uint32_t)rng();

		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)rng();
		ASSERT_EQ(__crc32c_le(seed, buf, len), crc32c_ref(seed, buf, len));
		ASSERT_EQ(__crc32c_le(__crc32c_le(seed, buf, split), buf + split, len - split),
			  __crc32c_le(seed, buf, len));
	}
}

/* The link model. */

#define GBPS 1000000000ull
/* A 4096-byte frame at 10 Gb/s: (4096 + 16) * 8 bits / 10e9 b/s = 3289.6 ns. */
#define FRAME_NS_10G 3289u

TEST(model_rate)
{
	ASSERT_EQ(anarchy_model_rate(0, 0), 0u);
	ASSERT_EQ(anarchy_model_rate(40000, 0), 40 * GBPS);
	ASSERT_EQ(anarchy_model_rate(40000, 10000), 10 * GBPS); /* the cap is lower */
	ASSERT_EQ(anarchy_model_rate(10000, 40000), 10 * GBPS); /* the cap is higher */
	ASSERT_EQ(anarchy_model_rate(10000, 10000), 10 * GBPS);
	ASSERT_EQ(anarchy_model_rate(0, 5000), 5 * GBPS); /* no DMA rate: the cap alone */
	ASSERT_EQ(anarchy_model_rate(1, 0), 1000000u);
	ASSERT_EQ(anarchy_model_rate(UINT32_MAX, 0), (uint64_t)UINT32_MAX * 1000000u);
}

TEST(model_schedule_unlimited)
{
	struct anarchy_model m = { .rate_bps = 0, .latency_ns = 7000 };

	ASSERT_EQ(anarchy_model_schedule(&m, 1000, 4096), 8000u);
	ASSERT_EQ(anarchy_model_schedule(&m, 1000, 4096), 8000u); /* no queue */
	ASSERT_EQ(m.next_free_ns, 0u);
	m.latency_ns = 0;
	ASSERT_EQ(anarchy_model_schedule(&m, 123456789, 0), 123456789u);
}

TEST(model_schedule_paced)
{
	struct anarchy_model m = { .rate_bps = anarchy_model_rate(10000, 0) };

	ASSERT_EQ((4096 + ANARCHY_MODEL_FRAME_OVERHEAD) * 8ull * GBPS / (10 * GBPS), FRAME_NS_10G);
	ASSERT_EQ(anarchy_model_schedule(&m, 1000, 4096), 1000u + FRAME_NS_10G);
	ASSERT_EQ(m.next_free_ns, 1000u + FRAME_NS_10G);
	/* Back to back: the second waits for the wire. */
	ASSERT_EQ(anarchy_model_schedule(&m, 1000, 4096), 1000u + 2 * FRAME_NS_10G);
	ASSERT_EQ(anarchy_model_schedule(&m, 5000, 4096), 1000u + 3 * FRAME_NS_10G);
	/* After an idle gap the wire is free at once. */
	ASSERT_EQ(anarchy_model_schedule(&m, 1000000, 4096), 1000000u + FRAME_NS_10G);
	/* The overhead is charged on an empty frame too: 128 bits, 12.8 ns. */
	ASSERT_EQ(anarchy_model_schedule(&m, 2000000, 0), 2000000u + 12);

	m.rate_bps = 1000000; /* 1 Mb/s: 32896 bits take 32.896 ms */
	m.next_free_ns = 0;
	ASSERT_EQ(anarchy_model_schedule(&m, 0, 4096), 32896000u);
	m.rate_bps = anarchy_model_rate(40000, 0);
	m.next_free_ns = 0;
	ASSERT_EQ(anarchy_model_schedule(&m, 0, 4096), 822u);
	/* Late in a long uptime. */
	m.next_free_ns = 0;
	ASSERT_EQ(anarchy_model_schedule(&m, UINT64_MAX / 2, 4096), UINT64_MAX / 2 + 822);
}

TEST(model_schedule_latency)
{
	struct anarchy_model m = {
		.rate_bps = 10 * GBPS,
		.latency_ns = 50000,
	};

	ASSERT_EQ(anarchy_model_schedule(&m, 1000, 4096), 1000u + FRAME_NS_10G + 50000);
	/* The latency delays arrival, not the wire: the next frame is one frame time later. */
	ASSERT_EQ(m.next_free_ns, 1000u + FRAME_NS_10G);
	ASSERT_EQ(anarchy_model_schedule(&m, 1000, 4096), 1000u + 2 * FRAME_NS_10G + 50000);
	ASSERT_EQ(anarchy_model_schedule(&m, 10000000, 4096), 10000000u + FRAME_NS_10G + 50000);
}

TEST(frame_rx_max_round_trip)
{
	struct frame_buf fb;
	struct anarchy_frame f = { .type = ANARCHY_FRAME_ACK, .rx_max = 4088 }, d;
	uint32_t len;

	len = anarchy_frame_encode(fb.b, &f);
	ASSERT_OK(anarchy_frame_decode(fb.b, len, ANARCHY_MAX_RECORD, &d));
	ASSERT_EQ(d.rx_max, 4088u);
	f.rx_max = 0;
	len = anarchy_frame_encode(fb.b, &f);
	ASSERT_OK(anarchy_frame_decode(fb.b, len, ANARCHY_MAX_RECORD, &d));
	ASSERT_EQ(d.rx_max, 0u);
}

DEFINE_TEST_MAIN();
