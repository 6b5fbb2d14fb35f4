/* SPDX-License-Identifier: MIT */
/*
 * Frame encoding, decoding and the stream reader. Everything here parses bytes from the
 * network, so every field is checked before it is used and lengths are compared in widths
 * that cannot overflow.
 *
 * The reader's buffer holds [start, end) unconsumed bytes: zero or more complete frames and
 * then the beginning of one more. The header of the frame at `start` is decoded once, as
 * soon as its 32 bytes are in, and kept in `hdr`; only a header that passed sizes the
 * buffer. Compaction moves at most the incomplete frame at the end, so each frame's bytes
 * are moved at most once.
 */
#include <assert.h>
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "frame.h"
#include "ring.h"

/*
 * The header goes through the CRC as four 64-bit words that were stored as such: a load
 * that spans several narrower stores still in the store buffer cannot take its value from
 * them and waits for them all to reach the cache, which on a small message's path costs
 * more than the CRC itself.
 */
static uint32_t hdr_crc(const uint64_t w[4], const void *payload, size_t len)
{
	return psyne__crc32c(psyne__crc32c(0, w, 4 * sizeof(uint64_t)), payload, len);
}

uint32_t psyne__frame_crc(const void *hdr32, const void *payload, size_t len)
{
	uint64_t w[4];

	memcpy(w, hdr32, sizeof(w));
	/* The crc field (bytes 24..27) counts as zero. */
	w[3] = htole64(le64toh(w[3]) & ~UINT64_C(0xffffffff));
	return hdr_crc(w, payload, len);
}

void psyne__frame_encode(void *out_hdr, const struct psyne_frame *f, const void *payload,
			 size_t payload_len)
{
	/* struct psyne_frame_hdr, word by word (the asserts in frame.h pin the offsets); the
	 * last word, crc and reserved, is zero while the CRC is taken. */
	uint64_t w[4] = {
		htole64((uint64_t)PSYNE_FRAME_MAGIC | (uint64_t)PSYNE_FRAME_VERSION << 32 |
			(uint64_t)f->kind << 40 | (uint64_t)f->flags << 48),
		htole64((uint64_t)f->type | (uint64_t)f->length << 32),
		htole64(f->seq),
		0,
	};

	assert(payload_len == psyne__frame_stream_length(f));
	if (payload_len > 0 && payload == (const uint8_t *)out_hdr + sizeof(w)) {
		/* Header and payload in one piece (a send ring's slot): one pass over both. */
		memcpy(out_hdr, w, sizeof(w));
		w[3] = htole64(psyne__crc32c(0, out_hdr, sizeof(w) + payload_len));
		memcpy((uint8_t *)out_hdr + 3 * sizeof(uint64_t), &w[3], sizeof(uint64_t));
		return;
	}
	w[3] = htole64(hdr_crc(w, payload, payload_len));
	memcpy(out_hdr, w, sizeof(w));
}

static bool length_fits_kind(uint8_t kind, uint32_t length)
{
	switch (kind) {
	case PSYNE_FRAME_HELLO:
		return length == PSYNE_FRAME_HELLO_SIZE;
	case PSYNE_FRAME_DATA:
		return true;
	case PSYNE_FRAME_REJECT:
		return length >= PSYNE_FRAME_REJECT_MIN && length <= PSYNE_FRAME_REJECT_MAX;
	default:
		return length == 0;
	}
}

int psyne__frame_decode(const void *hdr32, uint32_t max_payload, struct psyne_frame *ret)
{
	struct psyne_frame_hdr h;
	struct psyne_frame f;

	memcpy(&h, hdr32, sizeof(h));
	if (le32toh(h.magic) != PSYNE_FRAME_MAGIC)
		return -EPROTO;
	if (h.version != PSYNE_FRAME_VERSION)
		return -EPROTONOSUPPORT;

	f = (struct psyne_frame){
		.kind = h.kind,
		.flags = le16toh(h.flags),
		.type = le32toh(h.type),
		.length = le32toh(h.length),
		.seq = le64toh(h.seq),
		.crc = le32toh(h.crc),
	};
	if (f.kind == 0 || f.kind >= _PSYNE_FRAME_KIND_MAX)
		return -EPROTO;
	if ((f.flags & ~PSYNE_FRAME_F_ALL) != 0)
		return -EPROTO;
	if (f.kind != PSYNE_FRAME_DATA && (f.flags != 0 || f.type != 0))
		return -EPROTO;
	if (h.reserved != 0)
		return -EPROTO;
	if (!length_fits_kind(f.kind, f.length))
		return -EPROTO;
	if (f.length > max_payload)
		return -EMSGSIZE;

	*ret = f;
	return 0;
}

int psyne__frame_verify(const void *hdr32, const void *payload, size_t len)
{
	uint32_t crc;

	memcpy(&crc, (const uint8_t *)hdr32 + offsetof(struct psyne_frame_hdr, crc), sizeof(crc));
	if (le32toh(crc) != psyne__frame_crc(hdr32, payload, len))
		return -EBADMSG;
	return 0;
}

void psyne__frame_hello_encode(void *out, const struct psyne_hello *h)
{
	struct psyne_frame_hello w = {
		.session = htole64(h->session),
		.next_seq = htole64(h->next_seq),
		.mode = htole32(h->mode),
		.max_msg = htole32(h->max_msg),
		.heartbeat_ms = htole32(h->heartbeat_ms),
		.flags = htole32(h->flags),
		.window = htole64(h->window),
	};

	memcpy(out, &w, sizeof(w));
}

int psyne__frame_hello_decode(const void *payload, size_t len, struct psyne_hello *ret)
{
	struct psyne_frame_hello w;
	struct psyne_hello h;

	if (len != sizeof(w))
		return -EPROTO;
	memcpy(&w, payload, sizeof(w));
	if (w.reserved != 0)
		return -EPROTO;

	h = (struct psyne_hello){
		.session = le64toh(w.session),
		.next_seq = le64toh(w.next_seq),
		.mode = le32toh(w.mode),
		.max_msg = le32toh(w.max_msg),
		.heartbeat_ms = le32toh(w.heartbeat_ms),
		.flags = le32toh(w.flags),
		.window = le64toh(w.window),
	};
	if (h.mode >= _PSYNE_MODE_MAX)
		return -EPROTO;
	if (h.max_msg == 0)
		return -EPROTO;
	if (h.heartbeat_ms < PSYNE_HELLO_HEARTBEAT_MIN_MS ||
	    h.heartbeat_ms > PSYNE_HELLO_HEARTBEAT_MAX_MS)
		return -EPROTO;
	if ((h.flags & ~PSYNE_HELLO_F_ALL) != 0)
		return -EPROTO;

	*ret = h;
	return 0;
}

int psyne__frame_reader_init(struct psyne_frame_reader *r, uint32_t max_payload)
{
	size_t limit, initial;

	if (!r)
		return -EINVAL;
	if (__builtin_add_overflow((size_t)max_payload, (size_t)PSYNE_FRAME_HDR_SIZE, &limit))
		return -EINVAL; /* only where size_t has 32 bits */

	initial = limit < PSYNE_FRAME_READER_INITIAL ? limit : PSYNE_FRAME_READER_INITIAL;
	*r = (struct psyne_frame_reader){
		.initial = initial,
		.limit = limit,
		.max_payload = max_payload,
	};
	r->buf = malloc(initial);
	if (!r->buf)
		return -ENOMEM;
	r->capacity = initial;
	return 0;
}

void psyne__frame_reader_done(struct psyne_frame_reader *r)
{
	if (!r)
		return;
	free(r->buf);
	r->buf = NULL;
	r->capacity = r->start = r->end = 0;
	r->have_hdr = false;
}

/*
 * Decodes the header at `start` once its 32 bytes are in. The result is kept: a header is
 * decoded once however many calls look at it, and a bad one poisons the stream.
 */
static int reader_parse_hdr(struct psyne_frame_reader *r)
{
	int k;

	if (r->have_hdr || r->end - r->start < PSYNE_FRAME_HDR_SIZE)
		return 0;
	k = psyne__frame_decode(r->buf + r->start, r->max_payload, &r->hdr);
	if (k < 0) {
		r->error = k;
		return k;
	}
	r->have_hdr = true;
	return 0;
}

/* The bytes the frame at `start` occupies, as far as is known: its header until that is in. */
static size_t reader_need(const struct psyne_frame_reader *r)
{
	if (!r->have_hdr)
		return PSYNE_FRAME_HDR_SIZE;
	return PSYNE_FRAME_HDR_SIZE + (size_t)psyne__frame_stream_length(&r->hdr);
}

/*
 * Makes room for `need` bytes from the start of the compacted buffer: at least double, so a
 * run of slowly growing frames reallocates a logarithmic number of times, but never past
 * the limit, which a checked header never exceeds.
 */
static int reader_grow(struct psyne_frame_reader *r, size_t need)
{
	size_t capacity;
	uint8_t *p;

	assert(need <= r->limit);
	capacity = r->capacity > r->limit / 2 ? r->limit : r->capacity * 2;
	if (capacity < need)
		capacity = need;
	p = realloc(r->buf, capacity);
	if (!p)
		return -ENOMEM;
	r->buf = p;
	r->capacity = capacity;
	return 0;
}

int psyne__frame_reader_space(struct psyne_frame_reader *r, void **ret_ptr, size_t *ret_len)
{
	size_t need;
	int k;

	if (r->error < 0)
		return r->error;
	k = reader_parse_hdr(r);
	if (k < 0)
		return k;

	need = reader_need(r);
	if (r->end - r->start >= need) {
		/* A complete frame is pending: offer what is left without moving it. */
		*ret_ptr = r->buf + r->end;
		*ret_len = r->capacity - r->end;
		return 0;
	}

	if (r->start == r->end) {
		r->start = r->end = 0;
		/* Idle after a small frame: give back what a large one made us allocate. */
		if (r->capacity > r->initial && r->last_total <= r->initial) {
			uint8_t *p = realloc(r->buf, r->initial);

			if (p) {
				r->buf = p;
				r->capacity = r->initial;
			}
		}
	} else if (r->start > 0) {
		memmove(r->buf, r->buf + r->start, r->end - r->start);
		r->end -= r->start;
		r->start = 0;
	}
	if (r->capacity < need) {
		k = reader_grow(r, need);
		if (k < 0)
			return k;
	}

	*ret_ptr = r->buf + r->end;
	*ret_len = r->capacity - r->end;
	return 0;
}

void psyne__frame_reader_fill(struct psyne_frame_reader *r, size_t n)
{
	assert(n <= r->capacity - r->end);
	r->end += n;
}

int psyne__frame_reader_next(struct psyne_frame_reader *r, struct psyne_frame *ret,
			     const void **ret_payload)
{
	const uint8_t *frame;
	size_t need;
	int k;

	if (r->error < 0)
		return r->error;
	k = reader_parse_hdr(r);
	if (k < 0)
		return k;
	if (!r->have_hdr)
		return 0;
	need = reader_need(r);
	if (r->end - r->start < need)
		return 0;

	frame = r->buf + r->start;
	k = psyne__frame_verify(frame, frame + PSYNE_FRAME_HDR_SIZE, need - PSYNE_FRAME_HDR_SIZE);
	if (k < 0) {
		r->error = k;
		return k;
	}

	*ret = r->hdr;
	*ret_payload = (r->hdr.flags & PSYNE_FRAME_F_MEMFD) != 0 ? NULL :
								   frame + PSYNE_FRAME_HDR_SIZE;
	r->start += need;
	r->last_total = need;
	r->have_hdr = false;
	return 1;
}
