/* SPDX-License-Identifier: MIT */
/*
 * Hostile byte streams through the frame reader, as a stream transport reads them: every
 * call must return, every access stay inside the buffer (ASan), nothing leak, and the
 * buffer never outgrow 32 + max_payload. Each frame the reader accepts must be exactly the
 * bytes that were fed (re-encoding it gives the same header, its payload is the same
 * bytes), and HELLO payloads go through their decoder too. The CRC implementations are
 * compared on the input on the way.
 *
 * Input: three bytes of settings, then the stream.
 *   [0] chunking: 0 = as much as the reader has room for, 1 = one byte per read,
 *       n >= 2 = pseudo-random reads of 1 to 8n bytes
 *   [1] seed of those reads
 *   [2] max_payload, an index into max_payloads[] (modulo its size)
 */
#include <stdint.h>
#include <string.h>

#include "common/macro.h"
#include "crc32c.h"
#include "frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint32_t max_payloads[] = { 0, 48, 260, 4096, 65536, 1u << 20 };

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

/* The frame the reader returned must be the bytes at `at` in the stream. */
static void check_frame(const uint8_t *at, size_t avail, const struct psyne_frame *f,
			const void *payload, uint32_t max_payload)
{
	uint32_t len = psyne__frame_stream_length(f);
	uint8_t hdr[PSYNE_FRAME_HDR_SIZE];

	CHECK(f->length <= max_payload);
	CHECK(avail >= PSYNE_FRAME_HDR_SIZE + (size_t)len);
	CHECK((payload == NULL) == ((f->flags & PSYNE_FRAME_F_MEMFD) != 0));
	if (payload)
		CHECK(memcmp(payload, at + PSYNE_FRAME_HDR_SIZE, len) == 0);
	psyne__frame_encode(hdr, f, payload, len);
	CHECK(memcmp(hdr, at, sizeof(hdr)) == 0);

	if (f->kind == PSYNE_FRAME_HELLO) {
		struct psyne_hello h;
		uint8_t again[PSYNE_FRAME_HELLO_SIZE];

		if (psyne__frame_hello_decode(payload, len, &h) == 0) {
			psyne__frame_hello_encode(again, &h);
			CHECK(memcmp(again, payload, sizeof(again)) == 0);
		}
	}
}

static size_t next_chunk(uint8_t chunking, uint32_t *state, size_t room)
{
	size_t n;

	if (chunking == 0)
		return room;
	if (chunking == 1)
		return 1;
	*state ^= *state << 13;
	*state ^= *state >> 17;
	*state ^= *state << 5;
	n = 1 + *state % (8u * chunking);
	return n < room ? n : room;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct psyne_frame_reader rd;
	const uint8_t *stream;
	uint32_t max_payload, state;
	size_t n, pos = 0, frame_at = 0;
	uint8_t chunking;

	if (size < 3)
		return 0;
	chunking = data[0];
	state = 0x9e3779b9u ^ data[1];
	max_payload = max_payloads[data[2] % ELEMENTSOF(max_payloads)];
	stream = data + 3;
	n = size - 3;

	CHECK(psyne__crc32c(0, stream, n) == psyne__crc32c_sw(0, stream, n));

	if (psyne__frame_reader_init(&rd, max_payload) < 0)
		return 0;
	for (;;) {
		struct psyne_frame f;
		const void *payload;
		void *p;
		size_t room, chunk;
		int r;

		while ((r = psyne__frame_reader_next(&rd, &f, &payload)) > 0) {
			check_frame(stream + frame_at, pos - frame_at, &f, payload, max_payload);
			frame_at += PSYNE_FRAME_HDR_SIZE + psyne__frame_stream_length(&f);
		}
		if (r < 0 || pos == n)
			break;
		if (psyne__frame_reader_space(&rd, &p, &room) < 0)
			break;
		CHECK(room >= 1);
		CHECK(rd.capacity <= (size_t)max_payload + PSYNE_FRAME_HDR_SIZE);
		chunk = next_chunk(chunking, &state, room);
		if (chunk > n - pos)
			chunk = n - pos;
		memcpy(p, stream + pos, chunk);
		psyne__frame_reader_fill(&rd, chunk);
		pos += chunk;
	}
	psyne__frame_reader_done(&rd);
	return 0;
}
