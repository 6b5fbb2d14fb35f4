/* SPDX-License-Identifier: MIT */
#include <stdint.h>

#include "common/string-util.h"
#include "common/tests.h"

TEST(streq_startswith)
{
	ASSERT_TRUE(streq("abc", "abc"));
	ASSERT_FALSE(streq("abc", "abd"));
	ASSERT_TRUE(strneq("abcdef", "abcxyz", 3));
	ASSERT_TRUE(streq_ptr(NULL, NULL));
	ASSERT_FALSE(streq_ptr("a", NULL));
	ASSERT_TRUE(isempty(NULL));
	ASSERT_TRUE(isempty(""));
	ASSERT_FALSE(isempty("x"));
	ASSERT_STREQ(startswith("memory://ring", "memory://"), "ring");
	ASSERT_STREQ(startswith("abc", ""), "abc");
	ASSERT_NULL(startswith("ipc://x", "memory://"));
	ASSERT_NULL(startswith("mem", "memory"));
	ASSERT_STREQ(endswith("file.c", ".c"), ".c");
	ASSERT_NULL(endswith("c", ".c"));
}

TEST(parse_size_good)
{
	uint64_t v;

	ASSERT_OK(parse_size("0", &v));
	ASSERT_EQ(v, 0u);
	ASSERT_OK(parse_size("4096", &v));
	ASSERT_EQ(v, 4096u);
	ASSERT_OK(parse_size("4096B", &v));
	ASSERT_EQ(v, 4096u);
	ASSERT_OK(parse_size("4K", &v));
	ASSERT_EQ(v, 4096u);
	ASSERT_OK(parse_size("4k", &v));
	ASSERT_EQ(v, 4096u);
	ASSERT_OK(parse_size("4KB", &v));
	ASSERT_EQ(v, 4096u);
	ASSERT_OK(parse_size("4KiB", &v));
	ASSERT_EQ(v, 4096u);
	ASSERT_OK(parse_size("1M", &v));
	ASSERT_EQ(v, UINT64_C(1) << 20);
	ASSERT_OK(parse_size("3G", &v));
	ASSERT_EQ(v, UINT64_C(3) << 30);
	ASSERT_OK(parse_size("2TiB", &v));
	ASSERT_EQ(v, UINT64_C(2) << 40);
	ASSERT_OK(parse_size("18446744073709551615", &v));
	ASSERT_EQ(v, UINT64_MAX);
	ASSERT_OK(parse_size("16777215T", &v));
	ASSERT_EQ(v, UINT64_C(16777215) << 40);
}

TEST(parse_size_bad)
{
	uint64_t v = 42;

	ASSERT_ERROR(parse_size("", &v), EINVAL);
	ASSERT_ERROR(parse_size(NULL, &v), EINVAL);
	ASSERT_ERROR(parse_size("-1", &v), EINVAL);
	ASSERT_ERROR(parse_size("+1", &v), EINVAL);
	ASSERT_ERROR(parse_size(" 1", &v), EINVAL);
	ASSERT_ERROR(parse_size("1 ", &v), EINVAL);
	ASSERT_ERROR(parse_size("K", &v), EINVAL);
	ASSERT_ERROR(parse_size("1X", &v), EINVAL);
	ASSERT_ERROR(parse_size("1KK", &v), EINVAL);
	ASSERT_ERROR(parse_size("1iB", &v), EINVAL);
	ASSERT_ERROR(parse_size("1KBB", &v), EINVAL);
	ASSERT_ERROR(parse_size("0x10", &v), EINVAL);
	ASSERT_ERROR(parse_size("1.5M", &v), EINVAL);
	ASSERT_ERROR(parse_size("18446744073709551616", &v), ERANGE);
	ASSERT_ERROR(parse_size("16777216T", &v), ERANGE);
	ASSERT_ERROR(parse_size("99999999999999999999999", &v), ERANGE);
	ASSERT_EQ(v, 42u);
}

TEST(safe_atou32)
{
	uint32_t v = 7;

	ASSERT_OK(safe_atou32("0", &v));
	ASSERT_EQ(v, 0u);
	ASSERT_OK(safe_atou32("4294967295", &v));
	ASSERT_EQ(v, UINT32_MAX);
	ASSERT_ERROR(safe_atou32("4294967296", &v), ERANGE);
	ASSERT_ERROR(safe_atou32("-1", &v), EINVAL);
	ASSERT_ERROR(safe_atou32("", &v), EINVAL);
	ASSERT_ERROR(safe_atou32("12a", &v), EINVAL);
	ASSERT_ERROR(safe_atou32(" 12", &v), EINVAL);
	ASSERT_EQ(v, UINT32_MAX);
}

TEST(safe_atoi)
{
	int v = 7;

	ASSERT_OK(safe_atoi("-2147483648", &v));
	ASSERT_EQ(v, INT32_MIN);
	ASSERT_OK(safe_atoi("2147483647", &v));
	ASSERT_EQ(v, INT32_MAX);
	ASSERT_OK(safe_atoi("-0", &v));
	ASSERT_EQ(v, 0);
	ASSERT_ERROR(safe_atoi("2147483648", &v), ERANGE);
	ASSERT_ERROR(safe_atoi("-2147483649", &v), ERANGE);
	ASSERT_ERROR(safe_atoi("-", &v), EINVAL);
	ASSERT_ERROR(safe_atoi("+5", &v), EINVAL);
	ASSERT_ERROR(safe_atoi("5 ", &v), EINVAL);
	ASSERT_ERROR(safe_atoi("99999999999999999999", &v), ERANGE);
	ASSERT_EQ(v, 0);
}

DEFINE_TEST_MAIN();
