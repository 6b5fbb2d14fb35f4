/* SPDX-License-Identifier: MIT */
/*
 * CRC32C two ways. Both run on the inverted register (the CRC before its final xor) and the
 * public functions do the inversions, which is what makes results chain.
 *
 * The table version is slicing-by-8: table[0] is the classic byte-at-a-time table and
 * table[k][b] is the register after byte b was followed by k zero bytes, so eight lookups
 * xored together advance the register by one 64-bit word. The tables are computed on first
 * use (8 KiB, microseconds) rather than pasted in as constants.
 *
 * The SSE4.2 version feeds one 64-bit word per crc32 instruction. The instruction has a
 * latency of three cycles, so this runs at about 8 bytes per 3 cycles; three interleaved
 * streams recombined by carry-less multiplication would go faster, and are not needed by
 * anything yet. It is compiled for SSE4.2 with a function attribute and only called when
 * the CPU reports the feature, so the rest of the library keeps the baseline ISA.
 */
#include <endian.h>
#include <pthread.h>
#include <string.h>

#include "crc32c.h"

#define CRC32C_POLY 0x82f63b78u /* reflected 0x1EDC6F41 */

static pthread_once_t crc32c_once = PTHREAD_ONCE_INIT;
static uint32_t crc32c_table[8][256];
static bool crc32c_have_hw;

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

#if defined(__x86_64__)
#include <nmmintrin.h>

/*
 * Large buffers: one crc32 instruction has a latency of three cycles but the CPU can start
 * one every cycle, so three independent lanes of CRC32C_LANE bytes run side by side and are
 * then combined. The state after lane 0, 1, 2 is shift(s0, 2 lanes) ^ shift(s1, 1 lane) ^
 * s2, where shift(s, n) is the state s advanced through n zero bytes; CRC32C is linear, so
 * shift is a 32x32 matrix over GF(2), applied here as four 256-entry tables.
 */
#define CRC32C_LANE 4096u
static uint32_t crc32c_shift[2][4][256]; /* by one lane, by two lanes */

static uint32_t crc32c_shift_apply(uint32_t t[4][256], uint32_t s)
{
	return t[0][s & 0xffu] ^ t[1][(s >> 8) & 0xffu] ^ t[2][(s >> 16) & 0xffu] ^ t[3][s >> 24];
}

__attribute__((target("sse4.2"))) static uint32_t crc32c_hw_zeros(uint32_t s, size_t len)
{
	uint64_t c = s;

	for (size_t i = 0; i < len / 8; i++)
		c = _mm_crc32_u64(c, 0);
	return (uint32_t)c;
}

static void crc32c_shift_init(void)
{
	uint32_t img[2][32];

	for (unsigned j = 0; j < 32; j++) {
		img[0][j] = crc32c_hw_zeros(1u << j, CRC32C_LANE);
		img[1][j] = crc32c_hw_zeros(img[0][j], CRC32C_LANE);
	}
	for (unsigned k = 0; k < 2; k++)
		for (unsigned byte = 0; byte < 4; byte++)
			for (uint32_t v = 0; v < 256; v++) {
				uint32_t x = 0;

				for (unsigned bit = 0; bit < 8; bit++)
					if ((v >> bit) & 1u)
						x ^= img[k][byte * 8 + bit];
				crc32c_shift[k][byte][v] = x;
			}
}

__attribute__((target("sse4.2"))) static uint32_t crc32c_hw_lanes(uint32_t crc, const uint8_t **pp,
								  size_t *plen)
{
	const uint8_t *p = *pp;
	size_t len = *plen;

	while (len >= 3 * CRC32C_LANE) {
		uint64_t s0 = crc, s1 = 0, s2 = 0;

		for (size_t i = 0; i < CRC32C_LANE; i += 8) {
			uint64_t w0, w1, w2;

			memcpy(&w0, p + i, 8);
			memcpy(&w1, p + CRC32C_LANE + i, 8);
			memcpy(&w2, p + 2 * CRC32C_LANE + i, 8);
			s0 = _mm_crc32_u64(s0, w0);
			s1 = _mm_crc32_u64(s1, w1);
			s2 = _mm_crc32_u64(s2, w2);
		}
		crc = crc32c_shift_apply(crc32c_shift[1], (uint32_t)s0) ^
		      crc32c_shift_apply(crc32c_shift[0], (uint32_t)s1) ^ (uint32_t)s2;
		p += 3 * CRC32C_LANE;
		len -= 3 * CRC32C_LANE;
	}
	*pp = p;
	*plen = len;
	return crc;
}

__attribute__((target("sse4.2"))) static uint32_t crc32c_hw_update(uint32_t crc, const uint8_t *p,
								   size_t len)
{
	uint64_t c;

	while (len > 0 && ((uintptr_t)p & 7u) != 0) {
		crc = _mm_crc32_u8(crc, *p++);
		len--;
	}
	crc = crc32c_hw_lanes(crc, &p, &len);
	c = crc;
	while (len >= 8) {
		uint64_t w;

		memcpy(&w, p, sizeof(w));
		c = _mm_crc32_u64(c, w);
		p += 8;
		len -= 8;
	}
	crc = (uint32_t)c;
	while (len > 0) {
		crc = _mm_crc32_u8(crc, *p++);
		len--;
	}
	return crc;
}

static bool cpu_has_crc32_insn(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("sse4.2");
}
#else
static uint32_t crc32c_hw_update(uint32_t crc, const uint8_t *p, size_t len)
{
	return crc32c_table_update(crc, p, len);
}

static bool cpu_has_crc32_insn(void)
{
	return false;
}

static void crc32c_shift_init(void)
{
}
#endif

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
	crc32c_have_hw = cpu_has_crc32_insn();
	if (crc32c_have_hw)
		crc32c_shift_init();
}

uint32_t psyne__crc32c_sw(uint32_t crc, const void *data, size_t len)
{
	(void)pthread_once(&crc32c_once, crc32c_init); /* cannot fail with a valid once */
	return ~crc32c_table_update(~crc, data, len);
}

uint32_t psyne__crc32c_hw(uint32_t crc, const void *data, size_t len)
{
	(void)pthread_once(&crc32c_once, crc32c_init);
	if (!crc32c_have_hw)
		return ~crc32c_table_update(~crc, data, len);
	return ~crc32c_hw_update(~crc, data, len);
}

bool psyne__crc32c_hw_available(void)
{
	(void)pthread_once(&crc32c_once, crc32c_init);
	return crc32c_have_hw;
}

uint32_t psyne__crc32c(uint32_t crc, const void *data, size_t len)
{
	return psyne__crc32c_hw(crc, data, len);
}
