/* SPDX-License-Identifier: MIT */
/*
 * Hostile segments, read the way `psyne stat` reads them: the input is a region as another
 * process might have left it, and psyne__inspect_segment() must return (an error is fine)
 * having read nothing outside the region and written nothing at all. The region is mapped
 * read-only with an inaccessible page after it, so a stray write or a read past the end
 * faults even where ASan does not look (mappings are not its to watch).
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

	if (psyne__inspect_segment(mem, psyne__ring_region_size(hdr.capacity), NULL, &ch) == 0) {
		volatile uint64_t sink = ch.used + ch.queued + ch.received + ch.n_members;
		(void)sink;
	}
	/* One byte shorter than its header says: refused, whatever the rest holds. */
	if (psyne__inspect_segment(mem, psyne__ring_region_size(hdr.capacity) - 1, NULL, &ch) == 0)
		abort();
	(void)munmap(mem, region + page);
	return 0;
}
