/* SPDX-License-Identifier: MIT */
/*
 * String predicates and strict number parsers. Parsers accept the whole string or nothing:
 * leading whitespace, signs where not allowed, and trailing junk are -EINVAL; values out of
 * range are -ERANGE. ret_ is written only on success.
 */
#ifndef COMMON_STRING_UTIL_H
#define COMMON_STRING_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/macro.h"

static inline bool streq(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

static inline bool strneq(const char *a, const char *b, size_t n)
{
	return strncmp(a, b, n) == 0;
}

/* Both NULL, or both non-NULL and equal. */
static inline bool streq_ptr(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return streq(a, b);
}

/* NULL or "". */
static inline bool isempty(const char *s)
{
	return !s || s[0] == '\0';
}

/* If s starts with prefix, a pointer into s just past it; otherwise NULL. */
static inline const char *startswith(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);

	if (strncmp(s, prefix, n) != 0)
		return NULL;
	return s + n;
}

/* If s ends with suffix, a pointer into s to where suffix starts; otherwise NULL. */
const char *endswith(const char *s, const char *suffix);

/* "yes"/"no"-style text of a boolean. */
static inline const char *yes_no(bool b)
{
	return b ? "yes" : "no";
}

/*
 * Parse a size: decimal digits, optionally followed by one of K, M, G, T (powers of 1024,
 * either case), optionally followed by "B" or "iB" ("4K", "4KiB", "4KB", "4096", "4096B").
 * Returns 0, -EINVAL (empty, negative, no digits, junk) or -ERANGE (overflows uint64_t).
 */
int parse_size(const char *s, uint64_t *ret);

/* Decimal integers (base 10 only, no leading whitespace, no '+' on unsigned). */
int safe_atou64(const char *s, uint64_t *ret);
int safe_atou32(const char *s, uint32_t *ret);
int safe_atou(const char *s, unsigned *ret);
int safe_atoi64(const char *s, int64_t *ret);
int safe_atoi(const char *s, int *ret);

#endif
