/* SPDX-License-Identifier: MIT */
/*
 * CRC32C (Castagnoli): the iSCSI checksum of RFC 3720, reflected polynomial 0x82F63B78,
 * initial value ~0 and final xor ~0. "123456789" gives 0xE3069283.
 *
 * The value passed in and returned is always a finished CRC (already xored), so a CRC is
 * extended by passing the previous result back:
 *
 *	crc = psyne__crc32c(0, a, n);
 *	crc = psyne__crc32c(crc, b, m);		(now the CRC of a || b)
 *
 * 0 is the CRC of no bytes, so every computation starts from 0. All functions are pure and
 * thread-safe; `data` may be NULL when `len` is 0 and needs no alignment.
 */
#ifndef PSYNE_CRC32C_H
#define PSYNE_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The CRC of `len` bytes at `data`, extending `crc`: ISA-L, the fastest code for this CPU. */
uint32_t psyne__crc32c(uint32_t crc, const void *data, size_t len);

/* The table implementation (slicing-by-8), written here: the reference for tests. */
uint32_t psyne__crc32c_sw(uint32_t crc, const void *data, size_t len);

#endif
