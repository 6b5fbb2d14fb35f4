/* SPDX-License-Identifier: MIT */
/*
 * CRC32C: the published vectors (the check value, RFC 3720 B.4), chaining at every split
 * point, and ISA-L (psyne__crc32c()) and the table implementation agreeing on every length,
 * alignment and split.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/tests.h"
#include "crc32c.h"

typedef uint32_t (*crc_func_t)(uint32_t crc, const void *data, size_t len);

static const crc_func_t crc_funcs[] = {
	psyne__crc32c,
	psyne__crc32c_sw,
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

TEST(crc32c_vectors)
{
	uint8_t buf[32];

	for (size_t i = 0; i < ELEMENTSOF(crc_funcs); i++) {
		crc_func_t crc = crc_funcs[i];

		ASSERT_EQ(crc(0, "123456789", 9), 0xe3069283u);
		memset(buf, 0, sizeof(buf));
		ASSERT_EQ(crc(0, buf, sizeof(buf)), 0x8a9136aau);
		memset(buf, 0xff, sizeof(buf));
		ASSERT_EQ(crc(0, buf, sizeof(buf)), 0x62a8ab43u);
		for (unsigned j = 0; j < sizeof(buf); j++)
			buf[j] = (uint8_t)j;
		ASSERT_EQ(crc(0, buf, sizeof(buf)), 0x46dd794eu);
		for (unsigned j = 0; j < sizeof(buf); j++)
			buf[j] = (uint8_t)(31 - j);
		ASSERT_EQ(crc(0, buf, sizeof(buf)), 0x113fdb5cu);
		ASSERT_EQ(crc(0, "a", 1), 0xc1d04330u);
	}
}

TEST(crc32c_empty)
{
	for (size_t i = 0; i < ELEMENTSOF(crc_funcs); i++) {
		ASSERT_EQ(crc_funcs[i](0, NULL, 0), 0u);
		ASSERT_EQ(crc_funcs[i](0xe3069283u, NULL, 0), 0xe3069283u);
	}
}

TEST(crc32c_chaining)
{
	static const char s[] = "123456789";

	for (size_t i = 0; i < ELEMENTSOF(crc_funcs); i++)
		for (size_t split = 0; split <= 9; split++) {
			uint32_t crc = crc_funcs[i](0, s, split);

			ASSERT_EQ(crc_funcs[i](crc, s + split, 9 - split), 0xe3069283u);
		}
}

/* Every length 0..1024 at every alignment mod 8, whole and split at a random point. */
TEST(crc32c_equals_sw)
{
	uint8_t buf[1024 + 8];

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)rng();
	for (size_t len = 0; len <= 1024; len++) {
		const uint8_t *p = buf + (rng() & 7);
		size_t split = len == 0 ? 0 : (size_t)(rng() % (len + 1));
		uint32_t sw = psyne__crc32c_sw(0, p, len);

		ASSERT_EQ(psyne__crc32c(0, p, len), sw);
		ASSERT_EQ(psyne__crc32c(psyne__crc32c(0, p, split), p + split, len - split), sw);
		ASSERT_EQ(psyne__crc32c_sw(psyne__crc32c_sw(0, p, split), p + split, len - split),
			  sw);
		/* Mixed: a CRC from one implementation extends with the other. */
		ASSERT_EQ(psyne__crc32c_sw(psyne__crc32c(0, p, split), p + split, len - split), sw);
		ASSERT_EQ(psyne__crc32c(psyne__crc32c_sw(0, p, split), p + split, len - split), sw);
	}
}

TEST(crc32c_large)
{
	size_t n = 1u << 20;
	uint8_t *buf = malloc(n);
	uint32_t sw;

	ASSERT_NOT_NULL(buf);
	for (size_t i = 0; i < n; i++)
		buf[i] = (uint8_t)(rng() >> 32);
	sw = psyne__crc32c_sw(0, buf, n);
	ASSERT_EQ(psyne__crc32c(0, buf, n), sw);
	ASSERT_EQ(psyne__crc32c(psyne__crc32c(0, buf, 12345), buf + 12345, n - 12345), sw);
	free(buf);
}

/* Lengths around the block sizes of ISA-L's folding code, at every alignment mod 8. */
TEST(crc32c_block_boundaries)
{
	static uint8_t buf[40000];
	const size_t lens[] = { 2047,  2048,  2049,  4095,  4096,  4097,  8191,	 8192,
				8193,  12287, 12288, 12289, 12295, 16383, 16384, 16385,
				24575, 24576, 24577, 32767, 32768, 32769, 36864, 39992 };
	uint32_t seed = 7;

	for (size_t i = 0; i < sizeof(buf); i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = (uint8_t)(seed >> 16);
	}
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		for (size_t off = 0; off < 8 && off + lens[i] <= sizeof(buf); off++) {
			uint32_t sw = psyne__crc32c_sw(0, buf + off, lens[i]);
			size_t cut = lens[i] / 3 + off;

			ASSERT_EQ(psyne__crc32c(0, buf + off, lens[i]), sw);
			ASSERT_EQ(psyne__crc32c(psyne__crc32c(0, buf + off, cut), buf + off + cut,
						lens[i] - cut),
				  sw);
		}
}

DEFINE_TEST_MAIN();
