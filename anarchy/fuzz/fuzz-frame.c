/* SPDX-License-Identifier: MIT */
/*
 * Hostile DMA frames through anarchy_frame_decode(), as the module receives them from the far
 * host: every call must return, every access stay inside the frame (it is copied to a heap
 * buffer of its exact size, so ASan sees any over-read), and a frame the decoder accepts must
 * be what it claims: its payload the rest of the buffer, a PACKED frame's count records lying
 * end to end within the payload and filling it, a fragment inside its record, a HELLO or PING
 * long enough to read, and encoding the decoded frame again giving the same bytes.
 *
 * Input: one settings byte, then the frame.
 *   bit 0: make the frame's CRC good before decoding, so that the checks behind it are reached
 *   bits 1-2: max_record, an index into max_records[]
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "anarchy_proto.h"
#include "common/macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FIX_CRC 0x01

static const uint32_t max_records[] = { 0, 64, 2040, ANARCHY_MAX_RECORD };

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

static void fix_crc(uint8_t *buf, uint32_t len)
{
	struct anarchy_frame_hdr hdr;
	uint32_t crc;

	memcpy(&hdr, buf, sizeof(hdr));
	hdr.crc = 0;
	crc = __crc32c_le(~0u, (const unsigned char *)&hdr, sizeof(hdr));
	crc = ~__crc32c_le(crc, buf + ANARCHY_FRAME_HDR, len - ANARCHY_FRAME_HDR);
	hdr.crc = cpu_to_le32(crc);
	memcpy(buf, &hdr, sizeof(hdr));
}

/* The records of an accepted PACKED frame, walked as the receiver copies them into its ring. */
static void check_packed(const struct anarchy_frame *f, uint32_t max_record)
{
	uint32_t pos = 0;

	CHECK(f->arg >= 1);
	for (uint32_t i = 0; i < f->arg; i++) {
		struct anarchy_record rec;
		uint32_t footprint;

		CHECK(f->len - pos >= ANARCHY_RECORD_HDR);
		memcpy(&rec, f->payload + pos, sizeof(rec));
		CHECK(rec.flags == 0);
		CHECK(rec.len <= max_record);
		footprint = anarchy_record_footprint(rec.len);
		CHECK(footprint <= f->len - pos);
		pos += footprint;
	}
	CHECK(pos == f->len);
}

static void check_frame(const uint8_t *buf, uint32_t len, const struct anarchy_frame *f,
			uint32_t max_record)
{
	uint16_t flags = f->flags & (uint16_t)~ANARCHY_FRAME_ACK_VALID;
	uint8_t *again;
	volatile uint8_t sink = 0;

	CHECK(f->payload == buf + ANARCHY_FRAME_HDR);
	CHECK(f->len == len - ANARCHY_FRAME_HDR);
	switch (f->type) {
	case ANARCHY_FRAME_HELLO:
		CHECK(flags == 0 && f->len >= sizeof(struct anarchy_hello));
		sink ^= f->payload[sizeof(struct anarchy_hello) - 1];
		break;
	case ANARCHY_FRAME_PING:
	case ANARCHY_FRAME_PONG:
		CHECK(flags == 0 && f->len == sizeof(struct anarchy_ping));
		break;
	case ANARCHY_FRAME_ACK:
	case ANARCHY_FRAME_BYE:
		CHECK(flags == 0 && f->len == 0);
		break;
	case ANARCHY_FRAME_DATA:
		if (flags == ANARCHY_FRAME_PACKED) {
			check_packed(f, max_record);
		} else {
			CHECK(flags == ANARCHY_FRAME_FRAG);
			CHECK(f->len >= 1 && f->rlen <= max_record);
			CHECK((uint64_t)f->arg + f->len <= f->rlen);
			CHECK(f->arg % ANARCHY_RECORD_ALIGN == 0);
			sink ^= f->payload[f->len - 1];
		}
		break;
	default:
		CHECK(false);
	}
	(void)sink;

	/* The decoded frame encodes to the bytes received. */
	again = malloc(len);
	if (!again)
		return;
	memcpy(again + ANARCHY_FRAME_HDR, f->payload, f->len);
	CHECK(anarchy_frame_encode(again, f) == len);
	CHECK(memcmp(again, buf, len) == 0);
	free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct anarchy_frame f;
	uint32_t max_record, len;
	uint8_t *buf;
	int r;

	if (size < 1 || size - 1 > ANARCHY_FRAME_SIZE + 16)
		return 0;
	max_record = max_records[(data[0] >> 1) % ELEMENTSOF(max_records)];
	len = (uint32_t)(size - 1);
	buf = malloc(len > 0 ? len : 1);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, len);
	if ((data[0] & FIX_CRC) != 0 && len >= ANARCHY_FRAME_HDR)
		fix_crc(buf, len);

	r = anarchy_frame_decode(buf, len, max_record, &f);
	if (r == 0)
		check_frame(buf, len, &f, max_record);
	else
		CHECK(r == -EBADMSG || r == -EPROTO || r == -EPROTONOSUPPORT);
	free(buf);
	return 0;
}
