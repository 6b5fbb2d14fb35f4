/* SPDX-License-Identifier: MIT */
/*
 * CRC32C (Castagnoli), bit-reflected, for anarchy_proto.c in userspace: the same function
 * as the kernel's crc32c() (libcrc32c), which does no inversion of its own.
 */
#include <pthread.h>

#include "anarchy_compat_user.h"

static uint32_t table[256];

static void table_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82f63b78U & (0U - (c & 1U)));
		table[i] = c;
	}
}

u32 anarchy__crc32c(u32 crc, const void *data, size_t len)
{
	const unsigned char *p = data;

	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, table_init);
	while (len--)
		crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}
