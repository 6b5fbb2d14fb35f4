/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The kernel names anarchy_proto.c uses, for building it in userspace (the unit test and
 * the fuzz harness). Only what that file needs, with the kernel's meaning.
 */
#ifndef ANARCHY_COMPAT_USER_H
#define ANARCHY_COMPAT_USER_H

#include <endian.h>
#include <errno.h>
#include <linux/types.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int32_t s32;
typedef int64_t s64;

#define cpu_to_le16(x) ((__le16)htole16(x))
#define cpu_to_le32(x) ((__le32)htole32(x))
#define cpu_to_le64(x) ((__le64)htole64(x))
#define le16_to_cpu(x) le16toh((uint16_t)(x))
#define le32_to_cpu(x) le32toh((uint32_t)(x))
#define le64_to_cpu(x) le64toh((uint64_t)(x))

#define BIT(n) (1UL << (n))
#define min_t(type, a, b) ((type)(a) < (type)(b) ? (type)(a) : (type)(b))
#define max_t(type, a, b) ((type)(a) > (type)(b) ? (type)(a) : (type)(b))
#define ALIGN(x, a) (((x) + ((a)-1)) & ~((typeof(x))(a)-1))
#define is_power_of_2(n) ((n) != 0 && (((n) & ((n)-1)) == 0))
#define NSEC_PER_SEC 1000000000ULL
#define NSEC_PER_USEC 1000ULL

/* The kernel's CRC32C (libcrc32c's crc32c(), lib/crc32.c's __crc32c_le()): no inversion
 * of its own. */
u32 anarchy__crc32c(u32 crc, const void *p, size_t len);
#define crc32c(crc, p, len) anarchy__crc32c(crc, p, len)
#define __crc32c_le(crc, p, len) anarchy__crc32c(crc, p, len)

static inline u64 div64_u64(u64 dividend, u64 divisor)
{
	return dividend / divisor;
}

__extension__ typedef unsigned __int128 anarchy_u128;

static inline u64 mul_u64_u64_div_u64(u64 a, u64 b, u64 c)
{
	return (u64)((anarchy_u128)a * b / c);
}

#endif /* ANARCHY_COMPAT_USER_H */
