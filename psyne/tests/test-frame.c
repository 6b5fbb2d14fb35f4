/* SPDX-License-Identifier: MIT */
/*
 * The wire frame: the byte layout pinned against a hand-checked golden header, round trips
 * of every kind, each validation error, CRC mismatches, and the stream reader fed in every
 * chunking (one byte at a time, random, as much as fits) with its memory bound checked.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/tests.h"
#include "crc32c.h"
#include "frame.h"
#include "ring.h"

#define MAX_PAYLOAD (1u << 20)

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Writes frame `f` with `payload` (f->length bytes unless memfd) to `out`; returns its size. */
static size_t put_frame(uint8_t *out, const struct psyne_frame *f, const void *payload)
{
	size_t len = psyne__frame_stream_length(f);

	psyne__frame_encode(out, f, payload, len);
	if (payload && len > 0)
		memcpy(out + PSYNE_FRAME_HDR_SIZE, payload, len);
	return PSYNE_FRAME_HDR_SIZE + len;
}

static void put_u32(uint8_t *p, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static const struct psyne_hello good_hello = {
	.session = 0x0123456789abcdefull,
	.next_seq = 42,
	.mode = PSYNE_MODE_MPSC,
	.max_msg = 1u << 20,
	.heartbeat_ms = 1000,
	.flags = PSYNE_HELLO_F_LISTENER,
};

/* A valid frame of `kind` with its payload in `payload` (room for 260 bytes). */
static struct psyne_frame sample_frame(uint8_t kind, uint8_t *payload)
{
	struct psyne_frame f = { .kind = kind, .seq = 1000 + kind };

	switch (kind) {
	case PSYNE_FRAME_HELLO:
		psyne__frame_hello_encode(payload, &good_hello);
		f.length = PSYNE_FRAME_HELLO_SIZE;
		break;
	case PSYNE_FRAME_DATA:
		f.type = 0xdeadbeef;
		f.length = 200;
		for (unsigned i = 0; i < f.length; i++)
			payload[i] = (uint8_t)(i * 7);
		break;
	case PSYNE_FRAME_REJECT:
		put_u32(payload, 111); /* ECONNREFUSED */
		memcpy(payload + 4, "no room", 7);
		f.length = 11;
		break;
	default:
		break;
	}
	return f;
}

TEST(frame_golden_bytes)
{
	static const uint8_t golden[32] = {
		0x50, 0x53, 0x59, 0x46, 0x01, 0x02, 0x00, 0x00, 0x44, 0x33, 0x22,
		0x11, 0x03, 0x00, 0x00, 0x00, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03,
		0x02, 0x01, 0x57, 0xa3, 0x08, 0x5a, 0x00, 0x00, 0x00, 0x00,
	};
	struct psyne_frame f = {
		.kind = PSYNE_FRAME_DATA,
		.type = 0x11223344,
		.length = 3,
		.seq = 0x0102030405060708ull,
		.crc = 0xffffffffu, /* ignored */
	};
	uint8_t hdr[32];

	psyne__frame_encode(hdr, &f, "abc", 3);
	ASSERT_MEMEQ(hdr, golden, sizeof(golden));
	ASSERT_EQ(psyne__frame_crc(hdr, "abc", 3), 0x5a08a357u);
	ASSERT_OK_ZERO(psyne__frame_verify(hdr, "abc", 3));
}

TEST(frame_round_trip_every_kind)
{
	uint8_t buf[1 + PSYNE_FRAME_HDR_SIZE + 260]; /* +1: an odd address */

	for (uint8_t kind = 1; kind < _PSYNE_FRAME_KIND_MAX; kind++) {
		uint8_t *hdr = buf + 1, *payload = hdr + PSYNE_FRAME_HDR_SIZE;
		struct psyne_frame f = sample_frame(kind, payload), d;

		psyne__frame_encode(hdr, &f, payload, f.length);
		ASSERT_OK_ZERO(psyne__frame_decode(hdr, MAX_PAYLOAD, &d));
		ASSERT_EQ(d.kind, kind);
		ASSERT_EQ(d.flags, 0u);
		ASSERT_EQ(d.type, f.type);
		ASSERT_EQ(d.length, f.length);
		ASSERT_EQ(d.seq, f.seq);
		ASSERT_EQ(d.crc, psyne__frame_crc(hdr, payload, f.length));
		ASSERT_OK_ZERO(psyne__frame_verify(hdr, payload, f.length));
	}
}

TEST(frame_memfd)
{
	struct psyne_frame f = {
		.kind = PSYNE_FRAME_DATA,
		.flags = PSYNE_FRAME_F_MEMFD,
		.type = 9,
		.length = 5u << 20,
		.seq = 77,
	};
	struct psyne_frame d;
	uint8_t hdr[32];

	ASSERT_EQ(psyne__frame_stream_length(&f), 0u);
	psyne__frame_encode(hdr, &f, NULL, 0);
	ASSERT_OK_ZERO(psyne__frame_decode(hdr, 8u << 20, &d));
	ASSERT_EQ(d.flags, PSYNE_FRAME_F_MEMFD);
	ASSERT_EQ(d.length, 5u << 20);
	ASSERT_OK_ZERO(psyne__frame_verify(hdr, NULL, 0));
	ASSERT_EQ(d.crc, psyne__frame_crc(hdr, NULL, 0));
	/* The memfd's size is the message size: max_payload applies to it too. */
	ASSERT_ERROR(psyne__frame_decode(hdr, 4u << 20, &d), EMSGSIZE);
}

/* Encodes a valid frame of `kind`, lets `mutate` change the header, and decodes it. */
static int decode_mutated(uint8_t kind, uint32_t max_payload, size_t off, const void *bytes,
			  size_t n)
{
	uint8_t hdr[PSYNE_FRAME_HDR_SIZE], payload[260];
	struct psyne_frame f = sample_frame(kind, payload), d, before;
	int r;

	psyne__frame_encode(hdr, &f, payload, f.length);
	memcpy(hdr + off, bytes, n);
	memset(&d, 0xa5, sizeof(d));
	memcpy(&before, &d, sizeof(d));
	r = psyne__frame_decode(hdr, max_payload, &d);
	if (r < 0)
		ASSERT_MEMEQ(&d, &before, sizeof(d)); /* untouched on failure */
	return r;
}

static int decode_with_length(uint8_t kind, uint32_t length, uint32_t max_payload)
{
	uint8_t le[4];

	put_u32(le, length);
	return decode_mutated(kind, max_payload, offsetof(struct psyne_frame_hdr, length), le, 4);
}

TEST(frame_decode_rejects)
{
	const size_t o_magic = offsetof(struct psyne_frame_hdr, magic);
	const size_t o_version = offsetof(struct psyne_frame_hdr, version);
	const size_t o_kind = offsetof(struct psyne_frame_hdr, kind);
	const size_t o_flags = offsetof(struct psyne_frame_hdr, flags);
	const size_t o_type = offsetof(struct psyne_frame_hdr, type);
	const size_t o_reserved = offsetof(struct psyne_frame_hdr, reserved);

	ASSERT_ERROR(decode_mutated(PSYNE_FRAME_DATA, MAX_PAYLOAD, o_magic, "PSYG", 4), EPROTO);
	ASSERT_ERROR(decode_mutated(PSYNE_FRAME_DATA, MAX_PAYLOAD, o_magic, "FYSP", 4), EPROTO);
	ASSERT_ERROR(decode_mutated(PSYNE_FRAME_DATA, MAX_PAYLOAD, o_version, "\0", 1),
		     EPROTONOSUPPORT);
	ASSERT_ERROR(decode_mutated(PSYNE_FRAME_DATA, MAX_PAYLOAD, o_version, "\2", 1),
		     EPROTONOSUPPORT);
	ASSERT_ERROR(decode_mutated(PSYNE_FRAME_DATA, MAX_PAYLOAD, o_version, "\377", 1),
		     EPROTONOSUPPORT);
	/* Bad magic wins over a bad version: it is not our protocol at all. */
	ASSERT_ERROR(decode_mutated(PSYNE_FRAME_DATA, MAX_PAYLOAD, o_magic, "PSYF\2", 5),
		     EPROTONOSUPPORT);
	ASSERT_ERROR(decode_mutated(PSYNE_FRAME_DATA, MAX_PAYLOAD, o_magic, "PSYX\2", 5), EPROTO);

	ASSERT_ERROR(decode_mutated(PSYNE_FRAME_PING, MAX_PAYLOAD, o_kind, "\0", 1), EPROTO);
	ASSERT_ERROR(decode_mutated(PSYNE_FRAME_PING, MAX_PAYLOAD, o_kind, "\10", 1), EPROTO);
	ASSERT_ERROR(decode_mutated(PSYNE_FRAME_PING, MAX_PAYLOAD, o_kind, "\377", 1), EPROTO);

	/* Unknown flag bits, on DATA and elsewhere; MEMFD anywhere but DATA. */
	ASSERT_ERROR(decode_mutated(PSYNE_FRAME_DATA, MAX_PAYLOAD, o_flags, "\2\0", 2), EPROTO);
	ASSERT_ERROR(decode_mutated(PSYNE_FRAME_DATA, MAX_PAYLOAD, o_flags, "\0\200", 2), EPROTO);
	ASSERT_ERROR(decode_mutated(PSYNE_FRAME_DATA, MAX_PAYLOAD, o_flags, "\1\0", 2), 0);
	for (uint8_t kind = 1; kind < _PSYNE_FRAME_KIND_MAX; kind++) {
		if (kind == PSYNE_FRAME_DATA)
			continue;
		ASSERT_ERROR(decode_mutated(kind, MAX_PAYLOAD, o_flags, "\1\0", 2), EPROTO);
		/* type is the caller's, on DATA only */
		ASSERT_ERROR(decode_mutated(kind, MAX_PAYLOAD, o_type, "\1", 1), EPROTO);
		ASSERT_ERROR(decode_mutated(kind, MAX_PAYLOAD, o_reserved, "\0\0\0\1", 4), EPROTO);
	}
	ASSERT_ERROR(decode_mutated(PSYNE_FRAME_DATA, MAX_PAYLOAD, o_reserved, "\1", 1), EPROTO);
}

TEST(frame_decode_lengths)
{
	/* DATA: anything up to max_payload. */
	ASSERT_ERROR(decode_with_length(PSYNE_FRAME_DATA, 0, MAX_PAYLOAD), 0);
	ASSERT_ERROR(decode_with_length(PSYNE_FRAME_DATA, MAX_PAYLOAD, MAX_PAYLOAD), 0);
	ASSERT_ERROR(decode_with_length(PSYNE_FRAME_DATA, MAX_PAYLOAD + 1, MAX_PAYLOAD), EMSGSIZE);
	ASSERT_ERROR(decode_with_length(PSYNE_FRAME_DATA, UINT32_MAX, MAX_PAYLOAD), EMSGSIZE);
	ASSERT_ERROR(decode_with_length(PSYNE_FRAME_DATA, 1, 0), EMSGSIZE);
	ASSERT_ERROR(decode_with_length(PSYNE_FRAME_DATA, UINT32_MAX, UINT32_MAX), 0);

	/* Kinds without payload. */
	for (uint8_t kind = PSYNE_FRAME_ACK; kind <= PSYNE_FRAME_BYE; kind++) {
		ASSERT_ERROR(decode_with_length(kind, 0, 0), 0);
		ASSERT_ERROR(decode_with_length(kind, 1, MAX_PAYLOAD), EPROTO);
		ASSERT_ERROR(decode_with_length(kind, UINT32_MAX, MAX_PAYLOAD), EPROTO);
	}

	ASSERT_ERROR(decode_with_length(PSYNE_FRAME_HELLO, 48, MAX_PAYLOAD), 0);
	ASSERT_ERROR(decode_with_length(PSYNE_FRAME_HELLO, 47, MAX_PAYLOAD), EPROTO);
	ASSERT_ERROR(decode_with_length(PSYNE_FRAME_HELLO, 49, MAX_PAYLOAD), EPROTO);
	ASSERT_ERROR(decode_with_length(PSYNE_FRAME_HELLO, 0, MAX_PAYLOAD), EPROTO);
	ASSERT_ERROR(decode_with_length(PSYNE_FRAME_HELLO, 48, 47), EMSGSIZE);

	ASSERT_ERROR(decode_with_length(PSYNE_FRAME_REJECT, 4, MAX_PAYLOAD), 0);
	ASSERT_ERROR(decode_with_length(PSYNE_FRAME_REJECT, 260, MAX_PAYLOAD), 0);
	ASSERT_ERROR(decode_with_length(PSYNE_FRAME_REJECT, 3, MAX_PAYLOAD), EPROTO);
	ASSERT_ERROR(decode_with_length(PSYNE_FRAME_REJECT, 0, MAX_PAYLOAD), EPROTO);
	ASSERT_ERROR(decode_with_length(PSYNE_FRAME_REJECT, 261, MAX_PAYLOAD), EPROTO);
	ASSERT_ERROR(decode_with_length(PSYNE_FRAME_REJECT, 260, 100), EMSGSIZE);
}

TEST(frame_crc_mismatch)
{
	uint8_t hdr[PSYNE_FRAME_HDR_SIZE], payload[260];
	struct psyne_frame f = sample_frame(PSYNE_FRAME_DATA, payload);

	psyne__frame_encode(hdr, &f, payload, f.length);
	ASSERT_OK_ZERO(psyne__frame_verify(hdr, payload, f.length));

	/* Any single bit flipped, in the header (crc field included) or the payload. */
	for (size_t bit = 0; bit < 8 * sizeof(hdr); bit++) {
		hdr[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		ASSERT_ERROR(psyne__frame_verify(hdr, payload, f.length), EBADMSG);
		hdr[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	for (size_t bit = 0; bit < 8 * f.length; bit++) {
		payload[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		ASSERT_ERROR(psyne__frame_verify(hdr, payload, f.length), EBADMSG);
		payload[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	/* A truncated or extended payload. */
	ASSERT_ERROR(psyne__frame_verify(hdr, payload, f.length - 1), EBADMSG);
	ASSERT_ERROR(psyne__frame_verify(hdr, payload, f.length + 1), EBADMSG);
	ASSERT_OK_ZERO(psyne__frame_verify(hdr, payload, f.length));
}

TEST(hello_round_trip)
{
	uint8_t buf[1 + PSYNE_FRAME_HELLO_SIZE];
	struct psyne_hello h = good_hello, d;

	psyne__frame_hello_encode(buf + 1, &h);
	ASSERT_OK_ZERO(psyne__frame_hello_decode(buf + 1, PSYNE_FRAME_HELLO_SIZE, &d));
	ASSERT_MEMEQ(&d, &h, sizeof(d));
	/* Little-endian on the wire whatever the host. */
	ASSERT_EQ(buf[1], 0xefu);
	ASSERT_EQ(buf[1 + 8], 42u);
	ASSERT_EQ(buf[1 + 16], (unsigned)PSYNE_MODE_MPSC);

	for (uint32_t mode = 0; mode < _PSYNE_MODE_MAX; mode++) {
		h.mode = mode;
		h.heartbeat_ms = mode % 2 == 0 ? PSYNE_HELLO_HEARTBEAT_MIN_MS :
						 PSYNE_HELLO_HEARTBEAT_MAX_MS;
		h.flags = 0;
		h.max_msg = 1;
		psyne__frame_hello_encode(buf, &h);
		ASSERT_OK_ZERO(psyne__frame_hello_decode(buf, PSYNE_FRAME_HELLO_SIZE, &d));
		ASSERT_MEMEQ(&d, &h, sizeof(d));
	}
}

static int decode_bad_hello(const struct psyne_hello *h, size_t off, uint8_t byte)
{
	uint8_t buf[PSYNE_FRAME_HELLO_SIZE + 1];
	struct psyne_hello d, before;
	int r;

	psyne__frame_hello_encode(buf, h);
	buf[PSYNE_FRAME_HELLO_SIZE] = 0;
	if (off < sizeof(buf))
		buf[off] = byte;
	memset(&d, 0x5a, sizeof(d));
	memcpy(&before, &d, sizeof(d));
	r = psyne__frame_hello_decode(buf, PSYNE_FRAME_HELLO_SIZE, &d);
	if (r < 0)
		ASSERT_MEMEQ(&d, &before, sizeof(d));
	return r;
}

TEST(hello_rejects)
{
	struct psyne_hello h = good_hello;
	uint8_t buf[PSYNE_FRAME_HELLO_SIZE + 1] = { 0 };
	struct psyne_hello d;

	psyne__frame_hello_encode(buf, &h);
	ASSERT_ERROR(psyne__frame_hello_decode(buf, PSYNE_FRAME_HELLO_SIZE - 1, &d), EPROTO);
	ASSERT_ERROR(psyne__frame_hello_decode(buf, PSYNE_FRAME_HELLO_SIZE + 1, &d), EPROTO);
	ASSERT_ERROR(psyne__frame_hello_decode(buf, 0, &d), EPROTO);

	/* Every reserved byte. */
	for (size_t off = offsetof(struct psyne_frame_hello, reserved); off < 48; off++)
		ASSERT_ERROR(decode_bad_hello(&h, off, 1), EPROTO);
	/* Unknown flags. */
	ASSERT_ERROR(decode_bad_hello(&h, offsetof(struct psyne_frame_hello, flags), 2), EPROTO);
	ASSERT_ERROR(decode_bad_hello(&h, offsetof(struct psyne_frame_hello, flags) + 3, 1),
		     EPROTO);

	h = good_hello;
	h.mode = _PSYNE_MODE_MAX;
	ASSERT_ERROR(decode_bad_hello(&h, SIZE_MAX, 0), EPROTO);
	h.mode = UINT32_MAX;
	ASSERT_ERROR(decode_bad_hello(&h, SIZE_MAX, 0), EPROTO);

	h = good_hello;
	h.max_msg = 0;
	ASSERT_ERROR(decode_bad_hello(&h, SIZE_MAX, 0), EPROTO);

	h = good_hello;
	h.heartbeat_ms = PSYNE_HELLO_HEARTBEAT_MIN_MS - 1;
	ASSERT_ERROR(decode_bad_hello(&h, SIZE_MAX, 0), EPROTO);
	h.heartbeat_ms = PSYNE_HELLO_HEARTBEAT_MAX_MS + 1;
	ASSERT_ERROR(decode_bad_hello(&h, SIZE_MAX, 0), EPROTO);
	h.heartbeat_ms = 0;
	ASSERT_ERROR(decode_bad_hello(&h, SIZE_MAX, 0), EPROTO);
	h.heartbeat_ms = PSYNE_HELLO_HEARTBEAT_MAX_MS;
	ASSERT_OK_ZERO(decode_bad_hello(&h, SIZE_MAX, 0));
}

/* What the reader handed back, for comparison with what was sent. */
struct got {
	struct psyne_frame f;
	uint32_t payload_crc;
	bool payload_null;
};

enum chunking {
	CHUNK_WHOLE,  /* as much as the reader has room for */
	CHUNK_ONE,    /* one byte per read() */
	CHUNK_RANDOM, /* 1 to 3000 bytes */
};

/*
 * Feeds `stream` to a reader in the given chunking, taking frames out after every fill as a
 * transport would. Returns the reader's final verdict (0: all frames taken) and the frames.
 */
static int read_stream(const uint8_t *stream, size_t n, uint32_t max_payload, enum chunking how,
		       struct got *got, size_t max_got, size_t *ret_n_got, size_t *ret_max_capacity)
{
	struct psyne_frame_reader rd;
	size_t pos = 0, n_got = 0, max_capacity = 0;
	int r;

	ASSERT_OK_ZERO(psyne__frame_reader_init(&rd, max_payload));
	for (;;) {
		struct psyne_frame f;
		const void *payload;
		void *p;
		size_t room, chunk;

		while ((r = psyne__frame_reader_next(&rd, &f, &payload)) > 0) {
			ASSERT_LT(n_got, max_got);
			got[n_got].f = f;
			got[n_got].payload_null = payload == NULL;
			got[n_got].payload_crc = psyne__crc32c(0, payload, payload ? f.length : 0);
			n_got++;
		}
		if (r < 0 || pos == n)
			break;
		r = psyne__frame_reader_space(&rd, &p, &room);
		if (r < 0)
			break;
		ASSERT_GE(room, 1u); /* next() said no complete frame is pending */
		ASSERT_LE(rd.capacity, (size_t)max_payload + PSYNE_FRAME_HDR_SIZE);
		if (rd.capacity > max_capacity)
			max_capacity = rd.capacity;
		switch (how) {
		case CHUNK_ONE:
			chunk = 1;
			break;
		case CHUNK_RANDOM:
			chunk = 1 + (size_t)(rng() % 3000);
			break;
		default:
			chunk = room;
			break;
		}
		chunk = chunk < room ? chunk : room;
		chunk = chunk < n - pos ? chunk : n - pos;
		memcpy(p, stream + pos, chunk);
		psyne__frame_reader_fill(&rd, chunk);
		pos += chunk;
	}
	/* A bad stream stays bad. */
	if (r < 0) {
		struct psyne_frame f;
		const void *payload;
		void *p;
		size_t room;

		ASSERT_EQ(psyne__frame_reader_next(&rd, &f, &payload), r);
		ASSERT_EQ(psyne__frame_reader_space(&rd, &p, &room), r);
	}
	psyne__frame_reader_done(&rd);
	*ret_n_got = n_got;
	if (ret_max_capacity)
		*ret_max_capacity = max_capacity;
	return r;
}

/* A stream of n_frames frames of every kind and a spread of sizes (a few large). */
static uint8_t *make_stream(size_t n_frames, struct got *expect, size_t *ret_size)
{
	size_t cap = 0, size = 0;
	uint8_t *stream = NULL;
	static uint8_t payload[300000];

	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 31 + (i >> 8));
	for (size_t i = 0; i < n_frames; i++) {
		uint8_t kind = (uint8_t)(1 + rng() % (_PSYNE_FRAME_KIND_MAX - 1));
		uint8_t small[260];
		struct psyne_frame f;
		const uint8_t *pl = small;
		uint64_t pick = rng() % 100;

		/* Every 50 frames, one past the initial buffer and one memfd. */
		if (i % 50 == 10 || i % 50 == 20) {
			kind = PSYNE_FRAME_DATA;
			pick = i % 50 == 10 ? 0 : 99;
		}
		f = sample_frame(kind, small);
		f.seq = rng();
		if (kind == PSYNE_FRAME_DATA) {
			f.type = (uint32_t)rng();
			f.length = pick < 3 ? 70000 + (uint32_t)(rng() % 200000) :
					      (uint32_t)(rng() % (pick < 50 ? 64 : 3000));
			pl = payload + rng() % 1000;
			if (pick == 99) {
				f.flags = PSYNE_FRAME_F_MEMFD;
				f.length = 1 + (uint32_t)(rng() % MAX_PAYLOAD);
			}
		}
		if (size + PSYNE_FRAME_HDR_SIZE + 300000 > cap) {
			cap = 2 * cap + PSYNE_FRAME_HDR_SIZE + 300000;
			stream = realloc(stream, cap);
			ASSERT_NOT_NULL(stream);
		}
		put_frame(stream + size, &f, pl);
		expect[i].f = f;
		expect[i].f.crc =
			psyne__frame_crc(stream + size, pl, psyne__frame_stream_length(&f));
		expect[i].payload_null = (f.flags & PSYNE_FRAME_F_MEMFD) != 0;
		expect[i].payload_crc = psyne__crc32c(0, pl, psyne__frame_stream_length(&f));
		size += PSYNE_FRAME_HDR_SIZE + psyne__frame_stream_length(&f);
	}
	*ret_size = size;
	return stream;
}

static void assert_same_frames(const struct got *a, const struct got *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		ASSERT_EQ(a[i].f.kind, b[i].f.kind);
		ASSERT_EQ(a[i].f.flags, b[i].f.flags);
		ASSERT_EQ(a[i].f.type, b[i].f.type);
		ASSERT_EQ(a[i].f.length, b[i].f.length);
		ASSERT_EQ(a[i].f.seq, b[i].f.seq);
		ASSERT_EQ(a[i].f.crc, b[i].f.crc);
		ASSERT_EQ(a[i].payload_null, b[i].payload_null);
		ASSERT_EQ(a[i].payload_crc, b[i].payload_crc);
	}
}

TEST(reader_chunkings_agree)
{
	enum {
		N = 400
	};
	static struct got expect[N], got[N];
	size_t size, n_got;
	uint8_t *stream = make_stream(N, expect, &size);

	for (enum chunking how = CHUNK_WHOLE; how <= CHUNK_RANDOM; how++) {
		memset(got, 0, sizeof(got));
		ASSERT_OK_ZERO(read_stream(stream, size, MAX_PAYLOAD, how, got, N, &n_got, NULL));
		ASSERT_EQ(n_got, (size_t)N);
		assert_same_frames(got, expect, N);
	}
	free(stream);
}

TEST(reader_batch)
{
	enum {
		N = 1000
	};
	static uint8_t stream[N * (PSYNE_FRAME_HDR_SIZE + 16)];
	struct psyne_frame_reader rd;
	size_t size = 0, room;
	void *p;

	for (unsigned i = 0; i < N; i++) {
		struct psyne_frame f = {
			.kind = PSYNE_FRAME_DATA,
			.type = i,
			.length = i % 17,
			.seq = i,
		};
		uint8_t payload[16];

		memset(payload, (int)i, sizeof(payload));
		size += put_frame(stream + size, &f, payload);
	}
	ASSERT_LE(size, (size_t)PSYNE_FRAME_READER_INITIAL);

	/* All frames in one read(), then all taken out without another. */
	ASSERT_OK_ZERO(psyne__frame_reader_init(&rd, MAX_PAYLOAD));
	ASSERT_OK_ZERO(psyne__frame_reader_space(&rd, &p, &room));
	ASSERT_GE(room, size);
	memcpy(p, stream, size);
	psyne__frame_reader_fill(&rd, size);
	for (unsigned i = 0; i < N; i++) {
		struct psyne_frame f;
		const void *pv;
		const uint8_t *payload;

		ASSERT_EQ(psyne__frame_reader_next(&rd, &f, &pv), 1);
		payload = pv;
		ASSERT_EQ(f.seq, i);
		ASSERT_EQ(f.type, i);
		ASSERT_EQ(f.length, i % 17);
		for (unsigned j = 0; j < f.length; j++)
			ASSERT_EQ(payload[j], (uint8_t)i);
	}
	struct psyne_frame f;
	const void *payload;
	ASSERT_EQ(psyne__frame_reader_next(&rd, &f, &payload), 0);
	ASSERT_EQ(rd.capacity, (size_t)PSYNE_FRAME_READER_INITIAL);
	psyne__frame_reader_done(&rd);
}

/* A header is judged as soon as its 32 bytes are in, before any room is made for a payload. */
TEST(reader_refuses_oversize_before_growth)
{
	const uint32_t max_payload = 64u << 20;
	uint8_t hdr[PSYNE_FRAME_HDR_SIZE];
	struct psyne_frame f = {
		.kind = PSYNE_FRAME_DATA,
		.length = max_payload + 1,
	}, got;
	struct psyne_frame_reader rd;
	const void *payload;
	size_t room;
	void *p;

	/* encode() asserts a matching payload: build the header as memfd, then clear the flag. */
	f.flags = PSYNE_FRAME_F_MEMFD;
	psyne__frame_encode(hdr, &f, NULL, 0);
	hdr[offsetof(struct psyne_frame_hdr, flags)] = 0;

	ASSERT_OK_ZERO(psyne__frame_reader_init(&rd, max_payload));
	ASSERT_EQ(rd.capacity, (size_t)PSYNE_FRAME_READER_INITIAL);
	/* 31 bytes: nothing to judge yet. */
	ASSERT_OK_ZERO(psyne__frame_reader_space(&rd, &p, &room));
	memcpy(p, hdr, 31);
	psyne__frame_reader_fill(&rd, 31);
	ASSERT_EQ(psyne__frame_reader_next(&rd, &got, &payload), 0);
	ASSERT_OK_ZERO(psyne__frame_reader_space(&rd, &p, &room));
	memcpy(p, hdr + 31, 1);
	psyne__frame_reader_fill(&rd, 1);
	/* space() is the call that would grow: it refuses instead. */
	ASSERT_ERROR(psyne__frame_reader_space(&rd, &p, &room), EMSGSIZE);
	ASSERT_EQ(rd.capacity, (size_t)PSYNE_FRAME_READER_INITIAL);
	ASSERT_ERROR(psyne__frame_reader_next(&rd, &got, &payload), EMSGSIZE);
	ASSERT_EQ(rd.capacity, (size_t)PSYNE_FRAME_READER_INITIAL);
	psyne__frame_reader_done(&rd);

	/* The same through next() first. */
	ASSERT_OK_ZERO(psyne__frame_reader_init(&rd, max_payload));
	ASSERT_OK_ZERO(psyne__frame_reader_space(&rd, &p, &room));
	memcpy(p, hdr, sizeof(hdr));
	psyne__frame_reader_fill(&rd, sizeof(hdr));
	ASSERT_ERROR(psyne__frame_reader_next(&rd, &got, &payload), EMSGSIZE);
	ASSERT_ERROR(psyne__frame_reader_space(&rd, &p, &room), EMSGSIZE);
	ASSERT_EQ(rd.capacity, (size_t)PSYNE_FRAME_READER_INITIAL);
	psyne__frame_reader_done(&rd);
}

TEST(reader_grows_for_large_then_shrinks)
{
	const uint32_t max_payload = 4u << 20;
	const uint32_t big = 1u << 20;
	uint8_t *stream = malloc(2 * PSYNE_FRAME_HDR_SIZE + big + 8);
	struct psyne_frame f = { .kind = PSYNE_FRAME_DATA, .length = big };
	struct psyne_frame g = { .kind = PSYNE_FRAME_PING, .seq = 5 };
	struct psyne_frame_reader rd;
	const void *payload;
	size_t size = 0, pos = 0, room;
	void *p;

	ASSERT_NOT_NULL(stream);
	memset(stream, 0x3c, 2 * PSYNE_FRAME_HDR_SIZE + big);
	psyne__frame_encode(stream, &f, stream + PSYNE_FRAME_HDR_SIZE, big);
	size = PSYNE_FRAME_HDR_SIZE + big;
	size += put_frame(stream + size, &g, NULL);

	ASSERT_OK_ZERO(psyne__frame_reader_init(&rd, max_payload));
	/* The header alone: then room for exactly what the frame needs, at least doubling. */
	ASSERT_OK_ZERO(psyne__frame_reader_space(&rd, &p, &room));
	memcpy(p, stream, PSYNE_FRAME_HDR_SIZE);
	psyne__frame_reader_fill(&rd, PSYNE_FRAME_HDR_SIZE);
	pos = PSYNE_FRAME_HDR_SIZE;
	ASSERT_EQ(psyne__frame_reader_next(&rd, &f, &payload), 0);
	ASSERT_OK_ZERO(psyne__frame_reader_space(&rd, &p, &room));
	ASSERT_EQ(rd.capacity, (size_t)big + PSYNE_FRAME_HDR_SIZE);
	ASSERT_EQ(room, (size_t)big);
	while (pos < size) {
		size_t n;

		ASSERT_OK_ZERO(psyne__frame_reader_space(&rd, &p, &room));
		if (room == 0)
			break;
		n = room < size - pos ? room : size - pos;
		memcpy(p, stream + pos, n);
		psyne__frame_reader_fill(&rd, n);
		pos += n;
	}
	ASSERT_EQ(psyne__frame_reader_next(&rd, &f, &payload), 1);
	ASSERT_EQ(f.length, big);
	ASSERT_MEMEQ(payload, stream + PSYNE_FRAME_HDR_SIZE, big);
	/* A big frame just went: keep the buffer for the next one. */
	ASSERT_OK_ZERO(psyne__frame_reader_space(&rd, &p, &room));
	ASSERT_EQ(rd.capacity, (size_t)big + PSYNE_FRAME_HDR_SIZE);
	memcpy(p, stream + pos, size - pos);
	psyne__frame_reader_fill(&rd, size - pos);
	ASSERT_EQ(psyne__frame_reader_next(&rd, &g, &payload), 1);
	ASSERT_EQ(g.kind, PSYNE_FRAME_PING);
	ASSERT_EQ(g.seq, 5u);
	/* Idle after a small frame: back to the initial size. */
	ASSERT_OK_ZERO(psyne__frame_reader_space(&rd, &p, &room));
	ASSERT_EQ(rd.capacity, (size_t)PSYNE_FRAME_READER_INITIAL);
	ASSERT_EQ(room, (size_t)PSYNE_FRAME_READER_INITIAL);
	psyne__frame_reader_done(&rd);
	psyne__frame_reader_done(&rd); /* twice is fine */
	free(stream);
}

TEST(reader_small_max_payload)
{
	struct psyne_frame_reader rd = { 0 };
	uint8_t stream[2 * PSYNE_FRAME_HDR_SIZE + 48];
	struct psyne_frame f = { .kind = PSYNE_FRAME_BYE }, got;
	const void *payload;
	size_t size, room;
	void *p;

	psyne__frame_reader_done(&rd); /* a zeroed reader */
	ASSERT_ERROR(psyne__frame_reader_init(NULL, 0), EINVAL);

	/* max_payload 0: a 32-byte buffer, enough for frames without payload. */
	ASSERT_OK_ZERO(psyne__frame_reader_init(&rd, 0));
	ASSERT_EQ(rd.capacity, (size_t)PSYNE_FRAME_HDR_SIZE);
	size = put_frame(stream, &f, NULL);
	size += put_frame(stream + size, &f, NULL);
	for (unsigned i = 0; i < 2; i++) {
		ASSERT_OK_ZERO(psyne__frame_reader_space(&rd, &p, &room));
		ASSERT_EQ(room, (size_t)PSYNE_FRAME_HDR_SIZE);
		memcpy(p, stream + i * PSYNE_FRAME_HDR_SIZE, room);
		psyne__frame_reader_fill(&rd, room);
		/* Full with a complete frame: no room until it is taken. */
		ASSERT_OK_ZERO(psyne__frame_reader_space(&rd, &p, &room));
		ASSERT_EQ(room, 0u);
		ASSERT_EQ(psyne__frame_reader_next(&rd, &got, &payload), 1);
		ASSERT_EQ(got.kind, PSYNE_FRAME_BYE);
		ASSERT_NOT_NULL(payload);
	}
	ASSERT_EQ(psyne__frame_reader_next(&rd, &got, &payload), 0);
	/* A HELLO does not fit. */
	uint8_t hello[PSYNE_FRAME_HELLO_SIZE];
	struct psyne_frame h = { .kind = PSYNE_FRAME_HELLO, .length = PSYNE_FRAME_HELLO_SIZE };
	psyne__frame_hello_encode(hello, &good_hello);
	put_frame(stream, &h, hello);
	ASSERT_OK_ZERO(psyne__frame_reader_space(&rd, &p, &room));
	memcpy(p, stream, room);
	psyne__frame_reader_fill(&rd, room);
	ASSERT_ERROR(psyne__frame_reader_next(&rd, &got, &payload), EMSGSIZE);
	psyne__frame_reader_done(&rd);
}

/* Each error arrives after good frames, in every chunking, and leaves the good ones intact. */
TEST(reader_bad_frames)
{
	static const struct {
		size_t off;
		uint8_t xor ;
		int error;
	} cases[] = {
		{ offsetof(struct psyne_frame_hdr, magic), 0x01, EPROTO },
		{ offsetof(struct psyne_frame_hdr, version), 0x03, EPROTONOSUPPORT },
		{ offsetof(struct psyne_frame_hdr, kind), 0x80, EPROTO },
		{ offsetof(struct psyne_frame_hdr, flags), 0x04, EPROTO },
		{ offsetof(struct psyne_frame_hdr, reserved), 0x10, EPROTO },
		{ offsetof(struct psyne_frame_hdr, length) + 3, 0x80, EMSGSIZE },
		{ offsetof(struct psyne_frame_hdr, seq), 0x01, EBADMSG },
		{ offsetof(struct psyne_frame_hdr, crc) + 2, 0x01, EBADMSG },
		{ PSYNE_FRAME_HDR_SIZE + 5, 0x20, EBADMSG }, /* the payload */
	};
	uint8_t stream[4 * (PSYNE_FRAME_HDR_SIZE + 260)];
	struct got got[8];

	for (size_t c = 0; c < ELEMENTSOF(cases); c++)
		for (enum chunking how = CHUNK_WHOLE; how <= CHUNK_RANDOM; how++) {
			uint8_t payload[260];
			size_t size = 0, bad, n_got;

			for (uint8_t kind = PSYNE_FRAME_HELLO; kind <= PSYNE_FRAME_DATA; kind++) {
				struct psyne_frame f = sample_frame(kind, payload);

				size += put_frame(stream + size, &f, payload);
			}
			bad = size;
			struct psyne_frame f = sample_frame(PSYNE_FRAME_DATA, payload);
			size += put_frame(stream + size, &f, payload);
			size += put_frame(stream + size, &f, payload);
			stream[bad + cases[c].off] ^= cases[c].xor ;

			ASSERT_ERROR(read_stream(stream, size, MAX_PAYLOAD, how, got,
						 ELEMENTSOF(got), &n_got, NULL),
				     cases[c].error);
			ASSERT_EQ(n_got, 2u);
			ASSERT_EQ(got[0].f.kind, PSYNE_FRAME_HELLO);
			ASSERT_EQ(got[1].f.kind, PSYNE_FRAME_DATA);
		}
}

/* A stream cut short is not an error: the reader waits for more. */
TEST(reader_truncated)
{
	uint8_t stream[PSYNE_FRAME_HDR_SIZE + 260], payload[260];
	struct psyne_frame f = sample_frame(PSYNE_FRAME_REJECT, payload);
	size_t size = put_frame(stream, &f, payload), n_got;
	struct got got[2];

	for (size_t cut = 0; cut < size; cut++) {
		ASSERT_OK_ZERO(read_stream(stream, cut, 512, CHUNK_ONE, got, 2, &n_got, NULL));
		ASSERT_EQ(n_got, 0u);
	}
	ASSERT_OK_ZERO(read_stream(stream, size, 512, CHUNK_ONE, got, 2, &n_got, NULL));
	ASSERT_EQ(n_got, 1u);
	ASSERT_EQ(got[0].f.kind, PSYNE_FRAME_REJECT);
}

/* Small frames never make the buffer grow, whatever the chunking. */
TEST(reader_stays_small)
{
	enum {
		N = 3000
	};
	static uint8_t stream[N * (PSYNE_FRAME_HDR_SIZE + 100)];
	static struct got got[N];
	uint8_t payload[100];
	size_t size = 0, n_got, max_capacity;

	for (unsigned i = 0; i < N; i++) {
		struct psyne_frame f = {
			.kind = PSYNE_FRAME_DATA,
			.length = (uint32_t)(rng() % 100),
			.seq = i,
		};

		memset(payload, (int)i, sizeof(payload));
		size += put_frame(stream + size, &f, payload);
	}
	for (enum chunking how = CHUNK_WHOLE; how <= CHUNK_RANDOM; how++) {
		ASSERT_OK_ZERO(
			read_stream(stream, size, MAX_PAYLOAD, how, got, N, &n_got, &max_capacity));
		ASSERT_EQ(n_got, (size_t)N);
		ASSERT_EQ(max_capacity, (size_t)PSYNE_FRAME_READER_INITIAL);
		for (unsigned i = 0; i < N; i++)
			ASSERT_EQ(got[i].f.seq, i);
	}
}

DEFINE_TEST_MAIN();
