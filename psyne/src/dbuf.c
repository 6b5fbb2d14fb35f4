/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/macro.h"
#include "dbuf.h"

int psyne__dbuf_init(struct psyne_dbuf *b, uint64_t capacity)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), cap = page;
	_cleanup_close_ int fd = -1;
	uint8_t *base;
	int r;

	while (cap < capacity) {
		if (cap > UINT64_MAX / 4)
			return -EINVAL;
		cap <<= 1;
	}
	fd = memfd_create("psyne-net", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)cap) < 0)
		return -errno;
	/* Reserve both halves first so nothing else can land between the two mappings. */
	base = mmap(NULL, 2 * cap, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		return -errno;
	for (int i = 0; i < 2; i++)
		if (mmap(base + (uint64_t)i * cap, cap, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED) {
			r = -errno;
			(void)munmap(base, 2 * cap);
			return r;
		}
	b->base = base;
	b->capacity = cap;
	return 0;
}

void psyne__dbuf_done(struct psyne_dbuf *b)
{
	if (b->base)
		(void)munmap(b->base, 2 * b->capacity); /* nothing to do if it fails */
	b->base = NULL;
	b->capacity = 0;
}
