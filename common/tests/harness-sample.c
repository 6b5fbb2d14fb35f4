/* SPDX-License-Identifier: MIT */
/*
 * Not a test: a test binary whose tests fail on purpose, run by test-tests.c to check that
 * the harness reports every kind of outcome, with both values of a failed comparison.
 */
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <unistd.h>

#include "common/tests.h"

TEST(passes)
{
	ASSERT_EQ(1 + 1, 2);
	ASSERT_LT(-1, 0u);
	ASSERT_GT(UINT64_MAX, INT64_MAX);
	ASSERT_NE(-1, UINT_MAX);
	ASSERT_EQ(2.5, 2.5);
	ASSERT_LT(1, 1.5);
}

TEST(eq_fails)
{
	int three = 3;

	ASSERT_EQ(three, 4);
}

TEST(signed_unsigned_fails)
{
	ASSERT_EQ(-1, UINT_MAX);
}

TEST(lt_fails)
{
	ASSERT_LT(UINT64_MAX, -5);
}

TEST(ok_fails)
{
	ASSERT_OK(-EINVAL);
}

TEST(error_fails)
{
	ASSERT_ERROR(-ENOENT, EINVAL);
}

TEST(streq_fails)
{
	ASSERT_STREQ("abc", "abd");
}

TEST(memeq_fails)
{
	ASSERT_MEMEQ("abcdef", "abcXef", 6);
}

TEST(null_fails)
{
	ASSERT_NOT_NULL(NULL);
}

TEST(crashes)
{
	abort();
}

TEST(hangs)
{
	for (;;)
		pause();
}

TEST(skips)
{
	SKIP_TEST("no %s here", "widget");
}

TEST(errors)
{
	ERROR_TEST("environment is %s", "broken");
}

TEST(exits_nonzero)
{
	_exit(3);
}

DEFINE_TEST_MAIN();
