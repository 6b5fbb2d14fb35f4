/* SPDX-License-Identifier: MIT */
#include <limits.h>
#include <unistd.h>

#include "common/tests.h"
#include "common/time-util.h"

TEST(now_is_monotonic)
{
	uint64_t a = now_nsec(CLOCK_MONOTONIC), b;

	ASSERT_OK_ERRNO(usleep(2000));
	b = now_nsec(CLOCK_MONOTONIC);
	ASSERT_GE(b - a, 2 * NSEC_PER_MSEC);
	ASSERT_GT(now_usec(CLOCK_REALTIME), UINT64_C(1600000000) * USEC_PER_SEC);
}

TEST(timespec_roundtrip)
{
	struct timespec ts = timespec_from_nsec(UINT64_C(3) * NSEC_PER_SEC + 17);

	ASSERT_EQ(ts.tv_sec, 3);
	ASSERT_EQ(ts.tv_nsec, 17);
	ASSERT_EQ(timespec_to_nsec(&ts), UINT64_C(3000000017));
	ts = (struct timespec){ .tv_sec = -1 };
	ASSERT_EQ(timespec_to_nsec(&ts), 0u);
	ts = (struct timespec){ .tv_sec = 1, .tv_nsec = 1000000000 };
	ASSERT_EQ(timespec_to_nsec(&ts), 0u);
	ts = (struct timespec){ .tv_sec = INT64_MAX };
	ASSERT_EQ(timespec_to_nsec(&ts), NSEC_INFINITY);
}

TEST(deadlines)
{
	uint64_t before = now_nsec(CLOCK_MONOTONIC), d;

	ASSERT_EQ(deadline_from_timeout_ms(-1), NSEC_INFINITY);
	ASSERT_EQ(timeout_ms_left(NSEC_INFINITY), -1);
	ASSERT_FALSE(deadline_passed(NSEC_INFINITY));

	d = deadline_from_timeout_ms(0);
	ASSERT_GE(d, before);
	ASSERT_LE(d, now_nsec(CLOCK_MONOTONIC));
	ASSERT_EQ(timeout_ms_left(d), 0);
	ASSERT_TRUE(deadline_passed(d));

	d = deadline_from_timeout_ms(5000);
	ASSERT_GE(d, before + 5000 * NSEC_PER_MSEC);
	ASSERT_GT(timeout_ms_left(d), 4000);
	ASSERT_LE(timeout_ms_left(d), 5000);
	ASSERT_FALSE(deadline_passed(d));

	/* Rounded up: 1 ns left is still 1 ms for poll(). */
	d = now_nsec(CLOCK_MONOTONIC) + 10 * NSEC_PER_SEC;
	ASSERT_EQ(timeout_ms_left(d), 10000);
	ASSERT_EQ(timeout_ms_left(UINT64_C(1) << 62), INT_MAX);
	d = deadline_from_timeout_ms(INT_MAX);
	ASSERT_GT(d, before);
}

TEST(format_timespan)
{
	char buf[FORMAT_TIMESPAN_MAX];

	ASSERT_STREQ(format_timespan(buf, sizeof(buf), 0), "0");
	ASSERT_STREQ(format_timespan(buf, sizeof(buf), 850), "850 ns");
	ASSERT_STREQ(format_timespan(buf, sizeof(buf), 12300), "12.3 us");
	ASSERT_STREQ(format_timespan(buf, sizeof(buf), 4560000), "4.56 ms");
	ASSERT_STREQ(format_timespan(buf, sizeof(buf), 1500 * NSEC_PER_MSEC), "1.50 s");
	ASSERT_STREQ(format_timespan(buf, sizeof(buf), 125 * NSEC_PER_SEC), "2 min 5 s");
	ASSERT_STREQ(format_timespan(buf, sizeof(buf), 3 * NSEC_PER_HOUR + 2 * NSEC_PER_MINUTE),
		     "3 h 2 min");
	ASSERT_STREQ(format_timespan(buf, sizeof(buf), NSEC_INFINITY), "infinity");
	ASSERT_STREQ(format_timespan(buf, 4, 850), "850");
}

TEST(format_bytes)
{
	char buf[FORMAT_BYTES_MAX];

	ASSERT_STREQ(format_bytes(buf, sizeof(buf), 0), "0 B");
	ASSERT_STREQ(format_bytes(buf, sizeof(buf), 512), "512 B");
	ASSERT_STREQ(format_bytes(buf, sizeof(buf), 4096), "4.0 KiB");
	ASSERT_STREQ(format_bytes(buf, sizeof(buf), 1536 * 1024), "1.5 MiB");
	ASSERT_STREQ(format_bytes(buf, sizeof(buf), UINT64_C(2) << 30), "2.0 GiB");
	ASSERT_STREQ(format_bytes(buf, sizeof(buf), UINT64_MAX), "16.0 EiB");
	ASSERT_STREQ(format_byte_rate(buf, sizeof(buf), 1.5 * 1024 * 1024 * 1024), "1.50 GiB/s");
	ASSERT_STREQ(format_count_rate(buf, sizeof(buf), 4560000.0, "msg"), "4.56 M msg/s");
	ASSERT_STREQ(format_count_rate(buf, sizeof(buf), 12.0, "msg"), "12.00 msg/s");
}

DEFINE_TEST_MAIN();
