/* SPDX-License-Identifier: MIT */
/*
 * Hostile segments, read the way `psyne stat` reads them: the input is a region as another
 * process might have left it, and psyne__inspect_segment() must return (an error is fine)
 * having read nothing outside the region and written nothing at all. The region is mapped
 * read-only with an inaccessible page after it, so a stray write or a read past the end
 * faults even where ASan does not look (mappings are not its to watch).
 *
 * What it returns must describe the region: its name, mode and capacity, no more bytes in
 * use than the ring holds, members in distinct slots with roles among them, and, when the
 * queue could be walked, queued and received messages (and bytes) adding up to those
 * committed.
 *
 * Input: the region's first bytes; the rest is zero. As in fuzz-ring, capacities above 64K
 * are refused to keep runs fast. The same bytes are then offered as a region one byte
 * shorter than its header says, which must be refused.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "inspect.h"
#include "ring.h"

#define FUZZ_MAX_CAPACITY (64u * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct psyne_inspect_channel *ch, const struct psyne_ring_hdr *hdr)
{
	uint32_t producers = 0, consumers = 0;

	if (strcmp(ch->name, hdr->name) != 0 || ch->mode != hdr->mode ||
	    ch->capacity != hdr->capacity || ch->used > ch->capacity ||
	    ch->n_members > PSYNE_RING_SLOTS)
		abort();
	for (uint32_t i = 0; i < ch->n_members; i++) {
		const struct psyne_inspect_member *m = &ch->members[i];

		if (m->slot >= PSYNE_RING_SLOTS || (i > 0 && m->slot <= ch->members[i - 1].slot))
			abort();
		producers += (m->role & PSYNE_ROLE_PRODUCER) != 0;
		consumers += (m->role & PSYNE_ROLE_CONSUMER) != 0;
	}
	if (producers != ch->producers || consumers != ch->consumers)
		abort();
	if (!ch->queued_known && (ch->queued != 0 || ch->queued_bytes != 0))
		abort();
	if (ch->queued_known &&
	    (ch->queued > ch->messages || ch->received != ch->messages - ch->queued ||
	     ch->queued_bytes > ch->bytes || ch->received_bytes != ch->bytes - ch->queued_bytes))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct psyne_inspect_channel ch;
	struct psyne_ring_hdr hdr;
	size_t page = (size_t)sysconf(_SC_PAGESIZE), region;
	uint8_t *mem;

	if (size < sizeof(hdr))
		return 0;
	memcpy(&hdr, data, sizeof(hdr));
	if (hdr.capacity < PSYNE_RING_MIN_CAPACITY || hdr.capacity > FUZZ_MAX_CAPACITY)
		return 0;
	/* Capacities that are not a multiple of the page are refused by the check anyway. */
	region = (size_t)psyne__ring_region_size(hdr.capacity);
	region = (region + page - 1) / page * page;

	mem = mmap(NULL, region + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return 0;
	memcpy(mem, data, size < region ? size : region);
	if (mprotect(mem, region, PROT_READ) < 0 || mprotect(mem + region, page, PROT_NONE) < 0) {
		(void)munmap(mem, region + page);
		return 0;
	}

	if (psyne__inspect_segment(mem, psyne__ring_region_size(hdr.capacity), NULL, &ch) == 0)
		check(&ch, (const struct psyne_ring_hdr *)mem);
	/* One byte shorter than its header says: refused, whatever the rest holds. */
	if (psyne__inspect_segment(mem, psyne__ring_region_size(hdr.capacity) - 1, NULL, &ch) == 0)
		abort();
	(void)munmap(mem, region + page);
	return 0;
}
