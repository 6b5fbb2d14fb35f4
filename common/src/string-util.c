/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>

#include "common/string-util.h"

const char *endswith(const char *s, const char *suffix)
{
	size_t sl = strlen(s), pl = strlen(suffix);

	if (pl > sl || !streq(s + sl - pl, suffix))
		return NULL;
	return s + sl - pl;
}

int safe_atou64(const char *s, uint64_t *ret)
{
	unsigned long long v;
	char *end = NULL;

	/* strtoull() happily negates "-1" and skips whitespace: accept digits only. */
	if (!s || !isdigit((unsigned char)s[0]))
		return -EINVAL;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (errno != 0 || *end != '\0')
		return -EINVAL;

	*ret = v;
	return 0;
}

int safe_atou32(const char *s, uint32_t *ret)
{
	uint64_t v;
	int r;

	r = safe_atou64(s, &v);
	if (r < 0)
		return r;
	if (v > UINT32_MAX)
		return -ERANGE;

	*ret = (uint32_t)v;
	return 0;
}

int safe_atou(const char *s, unsigned *ret)
{
	uint64_t v;
	int r;

	r = safe_atou64(s, &v);
	if (r < 0)
		return r;
	if (v > UINT_MAX)
		return -ERANGE;

	*ret = (unsigned)v;
	return 0;
}

int safe_atoi64(const char *s, int64_t *ret)
{
	long long v;
	char *end = NULL;

	if (!s || !(isdigit((unsigned char)s[0]) || (s[0] == '-' && isdigit((unsigned char)s[1]))))
		return -EINVAL;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (errno != 0 || *end != '\0')
		return -EINVAL;

	*ret = v;
	return 0;
}

int safe_atoi(const char *s, int *ret)
{
	int64_t v;
	int r;

	r = safe_atoi64(s, &v);
	if (r < 0)
		return r;
	if (v < INT_MIN || v > INT_MAX)
		return -ERANGE;

	*ret = (int)v;
	return 0;
}

int parse_size(const char *s, uint64_t *ret)
{
	static const struct {
		char suffix;
		unsigned shift;
	} table[] = {
		{ 'K', 10 },
		{ 'M', 20 },
		{ 'G', 30 },
		{ 'T', 40 },
	};
	uint64_t v = 0;
	unsigned shift = 0;
	const char *p = s;

	if (!s || !isdigit((unsigned char)*p))
		return -EINVAL;

	for (; isdigit((unsigned char)*p); p++) {
		unsigned digit = (unsigned)(*p - '0');

		if (v > (UINT64_MAX - digit) / 10)
			return -ERANGE;
		v = v * 10 + digit;
	}

	for (size_t i = 0; i < ELEMENTSOF(table); i++)
		if (toupper((unsigned char)*p) == table[i].suffix) {
			shift = table[i].shift;
			p++;
			/* "iB" is only meaningful after a binary prefix. */
			if (p[0] == 'i' && p[1] == 'B')
				p++;
			break;
		}

	if (*p == 'B')
		p++;
	if (*p != '\0')
		return -EINVAL;

	if (shift > 0 && v > (UINT64_MAX >> shift))
		return -ERANGE;

	*ret = v << shift;
	return 0;
}
