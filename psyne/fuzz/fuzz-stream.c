/* SPDX-License-Identifier: MIT */
/*
 * Hostile byte streams through the stream engine's own receive path (net_rx.c:
 * psyne__net_rx_parse(), the session's sequence checks, acknowledgements, PING/BYE/HELLO
 * handling, taking and releasing messages), as a peer on unix://, tcp:// or tls:// could
 * send them. Every call must return and every access stay inside the rings (ASan); nothing
 * may leak.
 *
 * And the engine must agree with a reading of its own: the stream is walked here as one
 * flat buffer, frame by frame with psyne__frame_decode() and psyne__frame_verify(), by the
 * rules of the session (docs/psyne.md, net.c): frames padded to 8 bytes; no memfd frames
 * without fd passing; DATA only once the session is up, its seq never ahead of the next
 * expected one (the first DATA or BYE sets it), delivered once; a HELLO only in the
 * handshake, and only a valid one for session 1; a REJECT ends it with its errno. That gives
 * the verdict psyne__net_fuzz_stream() must return: the first error, or the sum of the
 * bytes delivered. The engine is run twice, with the input's read size and with another
 * (whole reads against a few bytes at a time), since how reads split a stream must not
 * change what it means.
 *
 * Input: one byte of settings, then the stream.
 *   bit 7     the session is still in its handshake (expects HELLO) rather than up
 *   bits 0-6  chunk size of the reads: 0 = as much as fits, n = n bytes at a time
 */
#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "frame.h"
#include "net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What psyne__net_fuzz_stream() sets up: a 64K ring, messages of at most half of it less
 * two headers, the session id 1, and frames padded to 8 bytes on the wire (net.c). */
#define FUZZ_MAX_MSG (64u * 1024 / 2 - 2 * PSYNE_FRAME_HDR_SIZE)
#define FUZZ_SESSION 1u
#define FRAME_ALIGN 8u

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

/* Takes a DATA or BYE seq as the session does: -EPROTO for a gap, else whether it is new. */
static int take_seq(uint64_t *next, uint64_t seq)
{
	if (*next == UINT64_MAX)
		*next = seq;
	if (seq > *next)
		return -EPROTO;
	if (seq < *next)
		return 0; /* a duplicate */
	(*next)++;
	return 1;
}

/* The verdict of the stream d[0..n) on a session in its handshake (`hello`) or up. */
static int expected(const uint8_t *d, size_t n, bool hello)
{
	uint64_t next = UINT64_MAX, sum = 0;
	bool up = !hello;
	size_t pos = 0;

	while (n - pos >= PSYNE_FRAME_HDR_SIZE) {
		const uint8_t *hdr = d + pos, *payload = hdr + PSYNE_FRAME_HDR_SIZE;
		struct psyne_frame f;
		struct psyne_hello h;
		uint32_t e;
		size_t bytes;
		int r;

		r = psyne__frame_decode(hdr, FUZZ_MAX_MSG, &f);
		if (r < 0)
			return r;
		if ((f.flags & PSYNE_FRAME_F_MEMFD) != 0)
			return -EPROTO;
		bytes = (PSYNE_FRAME_HDR_SIZE + (size_t)f.length + FRAME_ALIGN - 1) / FRAME_ALIGN *
			FRAME_ALIGN;
		if (n - pos < bytes)
			break; /* the rest never came */
		r = psyne__frame_verify(hdr, payload, f.length);
		if (r < 0)
			return r;

		switch (f.kind) {
		case PSYNE_FRAME_DATA:
			if (!up)
				return -EPROTO;
			r = take_seq(&next, f.seq);
			if (r < 0)
				return r;
			for (uint32_t i = 0; r > 0 && i < f.length; i++)
				sum += payload[i];
			break;
		case PSYNE_FRAME_BYE:
			r = take_seq(&next, f.seq);
			if (r < 0)
				return r;
			break;
		case PSYNE_FRAME_HELLO:
			if (up || psyne__frame_hello_decode(payload, f.length, &h) < 0 ||
			    h.session != FUZZ_SESSION)
				return -EPROTO;
			up = true;
			if (h.next_seq == UINT64_MAX)
				next = UINT64_MAX; /* a new listener numbers afresh */
			break;
		case PSYNE_FRAME_REJECT:
			memcpy(&e, payload, sizeof(e));
			e = le32toh(e);
			return e > 0 && e < 4096 ? -(int)e : -ECONNREFUSED;
		default:
			break; /* ACK, PING, PONG */
		}
		pos += bytes;
	}
	return (int)(sum & 0x7fffffffu);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t chunk, other;
	bool hello;
	int want, r;

	if (size < 1)
		return 0;
	chunk = data[0] & 0x7fu;
	hello = (data[0] & 0x80u) != 0;
	other = chunk == 0 ? 1 + size % 7 : 0;

	r = psyne__net_fuzz_stream(data + 1, size - 1, chunk, hello);
	if (r == -ENOMEM)
		return 0;
	want = expected(data + 1, size - 1, hello);
	CHECK(r == want);
	r = psyne__net_fuzz_stream(data + 1, size - 1, other, hello);
	CHECK(r == want || r == -ENOMEM);
	return 0;
}
