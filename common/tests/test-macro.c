/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <stdlib.h>

#include "common/macro.h"
#include "common/tests.h"

static int freed;

static void fake_free(int *p)
{
	freed += *p;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(int *, fake_free);

TEST(arithmetic)
{
	int a[7];

	ASSERT_EQ(ELEMENTSOF(a), 7u);
	ASSERT_EQ(MIN(3, 4), 3);
	ASSERT_EQ(MAX(3, 4), 4);
	ASSERT_EQ(MIN(MIN(5, 2), MAX(1, 9)), 2);
	ASSERT_EQ(CLAMP(15, 0, 10), 10);
	ASSERT_EQ(CLAMP(-5, 0, 10), 0);
	ASSERT_EQ(CLAMP(5, 0, 10), 5);
	ASSERT_TRUE(IS_POWER_OF_2(1u));
	ASSERT_TRUE(IS_POWER_OF_2(UINT64_C(1) << 63));
	ASSERT_FALSE(IS_POWER_OF_2(0u));
	ASSERT_FALSE(IS_POWER_OF_2(12));
	ASSERT_EQ(ALIGN_TO(0u, 8), 0u);
	ASSERT_EQ(ALIGN_TO(1u, 8), 8u);
	ASSERT_EQ(ALIGN_TO(8u, 8), 8u);
	ASSERT_EQ(ALIGN_TO((size_t)4097, 4096), (size_t)8192);
	ASSERT_EQ(ALIGN_TO(UINT64_C(5), 64), UINT64_C(64));
	ASSERT_EQ(DIV_ROUND_UP(0, 4), 0);
	ASSERT_EQ(DIV_ROUND_UP(9, 4), 3);
	ASSERT_EQ(DIV_ROUND_UP(8u, 4u), 2u);
	ASSERT_STREQ(STRINGIFY(ELEMENTSOF), "ELEMENTSOF");
	ASSERT_STREQ(STRINGIFY(1 + 2), "1 + 2");
}

TEST(cleanup_and_take)
{
	int value = 5, *p = NULL;

	{
		_unused_ _cleanup_(fake_freep) int *q = &value;
		_unused_ _cleanup_(fake_freep) int *none = NULL;
	}
	ASSERT_EQ(freed, 5);
	{
		_cleanup_(fake_freep) int *q = &value;

		p = TAKE_PTR(q);
		ASSERT_NULL(q);
	}
	ASSERT_EQ(freed, 5);
	ASSERT_TRUE(p == &value);

	_cleanup_free_ char *s = malloc(16);
	ASSERT_NOT_NULL(s);
}

TEST(fds)
{
	int saved, fd2;

	{
		_cleanup_close_ int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

		ASSERT_OK_ERRNO(fd);
		saved = fd;
	}
	/* Closed on scope exit: the number is free again. */
	ASSERT_ERROR_ERRNO(fcntl(saved, F_GETFD), EBADF);

	{
		_cleanup_close_ int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

		ASSERT_OK_ERRNO(fd);
		fd2 = TAKE_FD(fd);
		ASSERT_EQ(fd, -EBADF);
	}
	ASSERT_OK_ERRNO(fcntl(fd2, F_GETFD));

	errno = 1234;
	ASSERT_EQ(safe_close(fd2), -EBADF);
	ASSERT_EQ(errno, 1234);
	ASSERT_EQ(safe_close(-EBADF), -EBADF);
	ASSERT_ERROR_ERRNO(fcntl(fd2, F_GETFD), EBADF);

	_cleanup_fclose_ FILE *f = fopen("/dev/null", "re");
	ASSERT_NOT_NULL(f);
	_cleanup_closedir_ DIR *d = opendir("/");
	ASSERT_NOT_NULL(d);
}

DEFINE_TEST_MAIN();
