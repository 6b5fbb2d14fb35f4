/* SPDX-License-Identifier: MIT */
/*
 * psyne-demo's latency percentiles (psyne/tools/latency.c): exact over few samples, the
 * nearest rank at the edges, and two distributions that a coarse histogram would print the
 * same (both inside one of its buckets) printed apart.
 */
#include <stdlib.h>

#include "common/tests.h"
#include "latency.h"

static void add_shuffled(struct latency *l, uint64_t first, uint64_t n, uint64_t step)
{
	/* first, first + step, ... in an order that is not sorted: i * 37 mod n, n prime to 37 */
	for (uint64_t i = 0; i < n; i++)
		latency_add(l, first + (i * 37 % n) * step);
}

TEST(percentiles_exact)
{
	struct latency l;

	ASSERT_OK(latency_init(&l, 1000, 1));
	ASSERT_EQ(latency_percentile(&l, 50), 0u); /* none yet */
	add_shuffled(&l, 1, 100, 1);		   /* 1..100 */
	ASSERT_EQ(l.count, 100u);
	ASSERT_EQ(l.max, 100u);
	ASSERT_EQ(latency_percentile(&l, 0), 1u);
	ASSERT_EQ(latency_percentile(&l, 1), 1u);
	ASSERT_EQ(latency_percentile(&l, 50), 50u);
	ASSERT_EQ(latency_percentile(&l, 99), 99u);
	ASSERT_EQ(latency_percentile(&l, 100), 100u);
	ASSERT_EQ(latency_percentile(&l, 50), 50u); /* the reordering changed nothing */

	latency_reset(&l);
	ASSERT_EQ(latency_percentile(&l, 99), 0u);
	latency_add(&l, 7);
	ASSERT_EQ(latency_percentile(&l, 0), 7u);
	ASSERT_EQ(latency_percentile(&l, 100), 7u);

	/* Many equal values around a few others. */
	latency_reset(&l);
	for (int i = 0; i < 500; i++)
		latency_add(&l, 42);
	latency_add(&l, 1);
	latency_add(&l, 1000);
	ASSERT_EQ(latency_percentile(&l, 50), 42u);
	ASSERT_EQ(latency_percentile(&l, 99), 42u);
	ASSERT_EQ(latency_percentile(&l, 100), 1000u);
	ASSERT_EQ(latency_percentile(&l, 0), 1u);
	latency_done(&l);
	latency_done(&l); /* twice is fine */
	ASSERT_ERROR(latency_init(&l, 0, 1), EINVAL);
}

TEST(distributions_inside_one_bucket_differ)
{
	struct latency a, b;

	/*
	 * psyne-demo used to print the lower edge of a histogram bucket with 32 steps per
	 * power of two: every latency from 524288 to 540671 ns printed as 524.29 us. Two
	 * seconds with their medians in that bucket, 10 us apart, must print apart.
	 */
	ASSERT_OK(latency_init(&a, 4096, 1));
	ASSERT_OK(latency_init(&b, 4096, 2));
	add_shuffled(&a, 525000, 1001, 3); /* 525000 .. 528000 */
	add_shuffled(&b, 535000, 1001, 3); /* 535000 .. 538000 */
	ASSERT_EQ(latency_percentile(&a, 50), 526500u);
	ASSERT_EQ(latency_percentile(&b, 50), 536500u);
	ASSERT_EQ(latency_percentile(&a, 99), 527970u);
	ASSERT_EQ(latency_percentile(&b, 99), 537970u);
	latency_done(&a);
	latency_done(&b);
}

TEST(reservoir_keeps_a_uniform_subset)
{
	struct latency l;
	uint64_t p50, p99;

	/* A million samples 0..999999, in rising order, through 65536 slots: keeping the
	 * first ones would make the median 32767. */
	ASSERT_OK(latency_init(&l, 65536, 12345));
	for (uint64_t i = 0; i < 1000000; i++)
		latency_add(&l, i);
	ASSERT_EQ(l.n, 65536u);
	ASSERT_EQ(l.count, 1000000u);
	ASSERT_EQ(l.max, 999999u);
	p50 = latency_percentile(&l, 50);
	p99 = latency_percentile(&l, 99);
	/* The rank of a percentile over 65536 uniform picks strays by about 0.2%: 2% is
	 * ten times that, with a fixed seed anyway. */
	ASSERT_GE(p50, 490000u);
	ASSERT_LE(p50, 510000u);
	ASSERT_GE(p99, 980000u);
	ASSERT_LE(p99, 999999u);
	latency_done(&l);
}

DEFINE_TEST_MAIN();
