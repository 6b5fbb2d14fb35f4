/* SPDX-License-Identifier: MIT */
/*
 * A byte ring mapped twice, back to back: any span of up to `capacity` bytes starting
 * anywhere in the first copy is contiguous in memory. The network transports read and
 * write whole batches of frames, and hand out message views, without ever splitting one
 * at the end of the ring.
 */
#ifndef PSYNE_DBUF_H
#define PSYNE_DBUF_H

#include <stdint.h>

struct psyne_dbuf {
	uint8_t *base;
	uint64_t capacity; /* a power of two and a multiple of the page size */
};

/* Maps a ring of `capacity` bytes (rounded up to a power of two of at least a page). */
int psyne__dbuf_init(struct psyne_dbuf *b, uint64_t capacity);
void psyne__dbuf_done(struct psyne_dbuf *b);

/* The address of free-running position `pos`; valid for `capacity` bytes. */
static inline uint8_t *psyne__dbuf_at(const struct psyne_dbuf *b, uint64_t pos)
{
	return b->base + (pos & (b->capacity - 1));
}

#endif
