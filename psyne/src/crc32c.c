/* SPDX-License-Identifier: MIT */
/*
 * CRC32C two ways. psyne__crc32c() is ISA-L's crc32_iscsi(), which picks the fastest code
 * the CPU runs (the crc32 instruction in interleaved streams, carry-less multiplication
 * folding, AVX-512 where there is one): 45 GB/s at 4 KiB on the reference machine, five
 * times the single-stream crc32 instruction, which mattered for the stream transports,
 * where every byte of every frame is checked on both sides. Buffers under 256 bytes, where
 * ISA-L's set-up costs more than the work, take a plain loop of crc32 instructions.
 *
 * The table version is the reference: slicing-by-8, where table[0] is the classic
 * byte-at-a-time table and table[k][b] is the register after byte b was followed by k zero
 * bytes, so eight lookups xored together advance the register by one 64-bit word. The
 * tables are computed on first use (8 KiB, microseconds) rather than pasted in.
 *
 * Both run on the inverted register (the CRC before its final xor, which is what ISA-L
 * takes and returns) and the public functions do the inversions, which is what makes
 * results chain.
 */
#include <endian.h>
#include <isa-l/crc.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>

#include "common/macro.h"
#include "crc32c.h"

#define CRC32C_POLY 0x82f63b78u /* reflected 0x1EDC6F41 */

static pthread_once_t crc32c_once = PTHREAD_ONCE_INIT;
static uint32_t crc32c_table[8][256];

static uint32_t crc32c_table_update(uint32_t crc, const uint8_t *p, size_t len)
{
	/* Up to the next 8-byte boundary, so the word loads below are aligned. */
	while (len > 0 && ((uintptr_t)p & 7u) != 0) {
		crc = crc32c_table[0][(crc ^ *p++) & 0xffu] ^ (crc >> 8);
		len--;
	}
	while (len >= 8) {
		uint64_t w;

		memcpy(&w, p, sizeof(w));
		w = le64toh(w) ^ crc;
		crc = crc32c_table[7][w & 0xffu] ^ crc32c_table[6][(w >> 8) & 0xffu] ^
		      crc32c_table[5][(w >> 16) & 0xffu] ^ crc32c_table[4][(w >> 24) & 0xffu] ^
		      crc32c_table[3][(w >> 32) & 0xffu] ^ crc32c_table[2][(w >> 40) & 0xffu] ^
		      crc32c_table[1][(w >> 48) & 0xffu] ^ crc32c_table[0][w >> 56];
		p += 8;
		len -= 8;
	}
	while (len > 0) {
		crc = crc32c_table[0][(crc ^ *p++) & 0xffu] ^ (crc >> 8);
		len--;
	}
	return crc;
}

static void crc32c_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t crc = i;

		for (unsigned bit = 0; bit < 8; bit++)
			crc = (crc >> 1) ^ ((crc & 1u) != 0 ? CRC32C_POLY : 0);
		crc32c_table[0][i] = crc;
	}
	for (unsigned k = 1; k < 8; k++)
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t prev = crc32c_table[k - 1][i];

			crc32c_table[k][i] = (prev >> 8) ^ crc32c_table[0][prev & 0xffu];
		}
}

uint32_t psyne__crc32c_sw(uint32_t crc, const void *data, size_t len)
{
	(void)pthread_once(&crc32c_once, crc32c_init); /* cannot fail with a valid once */
	return ~crc32c_table_update(~crc, data, len);
}

#if defined(__x86_64__)
#include <nmmintrin.h>

/*
 * Short buffers: ISA-L's dispatch and set-up cost more than the work below 256 bytes (a
 * 32-byte frame header took 4.8 ns there, 2.0 ns here), and every small message's frame
 * is two such buffers. One crc32 instruction per 8 bytes, for CPUs that have it.
 */
#define CRC32C_SHORT 256u

__attribute__((target("sse4.2"))) static uint32_t crc32c_short(uint32_t crc, const uint8_t *p,
							       size_t len)
{
	uint64_t c = crc;

	for (; len >= 8; p += 8, len -= 8) {
		uint64_t w;

		memcpy(&w, p, sizeof(w));
		c = _mm_crc32_u64(c, le64toh(w));
	}
	crc = (uint32_t)c;
	while (len-- > 0)
		crc = _mm_crc32_u8(crc, *p++);
	return crc;
}

static bool crc32c_have_short(void)
{
	static int have = -1; /* a benign race: every thread computes the same */

	if (__atomic_load_n(&have, __ATOMIC_RELAXED) < 0)
		__atomic_store_n(&have, __builtin_cpu_supports("sse4.2") ? 1 : 0, __ATOMIC_RELAXED);
	return __atomic_load_n(&have, __ATOMIC_RELAXED) > 0;
}
#endif

uint32_t psyne__crc32c(uint32_t crc, const void *data, size_t len)
{
	/* ISA-L takes an int length and a non-const pointer it only reads. */
	unsigned char *p = (unsigned char *)(uintptr_t)data;

#if defined(__x86_64__)
	if (len < CRC32C_SHORT && crc32c_have_short())
		return ~crc32c_short(~crc, p, len);
#endif
	crc = ~crc;
	while (len > 0) {
		int n = (int)MIN(len, (size_t)INT_MAX & ~(size_t)63);

		crc = crc32_iscsi(p, n, crc);
		p += n;
		len -= (size_t)n;
	}
	return ~crc;
}
