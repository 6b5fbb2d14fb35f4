/* SPDX-License-Identifier: MIT */
/*
 * egpu/monitor.c: the dashboard without a terminal. Samples fed by hand give the rates and
 * the RTT series; graphs of known values give known rows; events give known lines.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/macro.h"
#include "common/string-util.h"
#include "common/tests.h"
#include "egpu/monitor.h"
#include "strv.h"

#define MS 1000000ull

static struct gc_egpu_link sample(uint64_t tx, uint64_t rx, uint32_t rtt, uint32_t state)
{
	struct gc_egpu_link l = {
		.source = GC_EGPU_SOURCE_DEVICE,
		.info = {
			.state = state,
			.rtt_us = rtt,
			.counters = { .tx_bytes = tx, .rx_bytes = rx },
		},
	};

	return l;
}

TEST(rates_from_counters)
{
	struct gc_egpu_history *h = calloc(1, sizeof(*h));
	struct gc_egpu_link l;
	double v[8];

	ASSERT_NOT_NULL(h);
	ASSERT_TRUE(isnan(gc_egpu_history_last(h, GC_EGPU_SERIES_TX)));
	l = sample(1000, 0, 20, ANARCHY_LINK_UP);
	gc_egpu_history_add(h, 1000 * MS, &l); /* the baseline: no value yet */
	ASSERT_EQ(h->count, 0u);

	/* 125000 bytes in 100 ms: 10 Mb/s; 12500 bytes back: 1 Mb/s. */
	l = sample(126000, 12500, 25, ANARCHY_LINK_UP);
	gc_egpu_history_add(h, 1100 * MS, &l);
	ASSERT_EQ(h->count, 1u);
	ASSERT_EQ(gc_egpu_history_last(h, GC_EGPU_SERIES_TX), 10e6);
	ASSERT_EQ(gc_egpu_history_last(h, GC_EGPU_SERIES_RX), 1e6);
	ASSERT_EQ(gc_egpu_history_last(h, GC_EGPU_SERIES_RTT), 25.0);

	/* Closer than 1 ms to the last sample: ignored. */
	l = sample(999999999, 0, 1, ANARCHY_LINK_UP);
	gc_egpu_history_add(h, 1100 * MS + 999999, &l);
	ASSERT_EQ(h->count, 1u);

	/* The counters went back (the module was reloaded): 0, and a new baseline. */
	l = sample(500, 100, 30, ANARCHY_LINK_UP);
	gc_egpu_history_add(h, 1200 * MS, &l);
	ASSERT_EQ(gc_egpu_history_last(h, GC_EGPU_SERIES_TX), 0.0);
	ASSERT_EQ(gc_egpu_history_last(h, GC_EGPU_SERIES_RX), 0.0);
	l = sample(500 + 250000, 100, 30, ANARCHY_LINK_UP);
	gc_egpu_history_add(h, 1400 * MS, &l);
	ASSERT_EQ(gc_egpu_history_last(h, GC_EGPU_SERIES_TX), 10e6);

	/* The RTT is not known while the link is down, nor from sysfs. */
	l = sample(250500, 100, 30, ANARCHY_LINK_DOWN);
	gc_egpu_history_add(h, 1500 * MS, &l);
	ASSERT_TRUE(isnan(gc_egpu_history_last(h, GC_EGPU_SERIES_RTT)));
	l = sample(250500, 100, 30, ANARCHY_LINK_UP);
	l.source = GC_EGPU_SOURCE_SYSFS;
	gc_egpu_history_add(h, 1600 * MS, &l);
	ASSERT_TRUE(isnan(gc_egpu_history_last(h, GC_EGPU_SERIES_RTT)));

	ASSERT_EQ(gc_egpu_history_tail(h, GC_EGPU_SERIES_RTT, ELEMENTSOF(v), v), 5u);
	ASSERT_EQ(v[0], 25.0);
	ASSERT_EQ(v[1], 30.0);
	ASSERT_EQ(v[2], 30.0);
	ASSERT_EQ(gc_egpu_values_max(v, 5), 30.0);
	ASSERT_EQ(gc_egpu_values_min(v, 5), 25.0);
	ASSERT_EQ(gc_egpu_history_tail(h, GC_EGPU_SERIES_TX, 2, v), 2u);
	ASSERT_EQ(v[0], 0.0);
	ASSERT_EQ(v[1], 0.0);
	ASSERT_TRUE(isnan(gc_egpu_values_max(v, 0)));
	free(h);
}

TEST(history_wraps)
{
	struct gc_egpu_history *h = calloc(1, sizeof(*h));
	double *v = calloc(GC_EGPU_HISTORY_MAX, sizeof(*v));

	ASSERT_NOT_NULL(h);
	ASSERT_NOT_NULL(v);
	/* Sample i moves i * 125 bytes in 1 ms: i Mb/s. */
	for (uint64_t i = 0, tx = 0; i <= GC_EGPU_HISTORY_MAX + 10; i++) {
		struct gc_egpu_link l = sample(tx += i * 125, 0, (uint32_t)i, ANARCHY_LINK_UP);

		gc_egpu_history_add(h, (i + 1) * MS, &l);
	}
	ASSERT_EQ(h->count, (size_t)GC_EGPU_HISTORY_MAX);
	ASSERT_EQ(gc_egpu_history_tail(h, GC_EGPU_SERIES_TX, GC_EGPU_HISTORY_MAX, v),
		  (size_t)GC_EGPU_HISTORY_MAX);
	ASSERT_EQ(v[0], 11e6);
	ASSERT_EQ(v[GC_EGPU_HISTORY_MAX - 1], (double)(GC_EGPU_HISTORY_MAX + 10) * 1e6);
	ASSERT_EQ(gc_egpu_history_tail(h, GC_EGPU_SERIES_RTT, 3, v), 3u);
	ASSERT_EQ(v[2], (double)(GC_EGPU_HISTORY_MAX + 10));
	free(v);
	free(h);
}

static void check_rows(char **rows, const char *const *want, size_t n)
{
	ASSERT_NOT_NULL(rows);
	ASSERT_EQ(gc_strv_length(rows), n);
	for (size_t i = 0; i < n; i++)
		ASSERT_STREQ(rows[i], want[i]);
}

TEST(graph_ascii)
{
	/* 2 rows = 16 eighths for max 16: v is its own number of eighths. */
	static const double v[] = { 16, 8, 4, 1, 0, 12, 0.01 };
	static const char *const want[] = {
		"    #    : ",
		"    ##:. #.",
	};
	double with_nan[] = { 16, NAN, 16 };
	char **rows;

	/* 10 columns for 7 values: the first 3 are empty, the newest value is rightmost. */
	rows = gc_egpu_graph_render(v, ELEMENTSOF(v), 16, 10, 2, false);
	check_rows(rows, (const char *const[]){ "   #    : ", "   ##:. #." }, 2);
	gc_strv_free(rows);

	rows = gc_egpu_graph_render(v, ELEMENTSOF(v), 16, 11, 2, false);
	check_rows(rows, want, 2);
	gc_strv_free(rows);

	/* Fewer columns than values: the oldest fall off the left. */
	rows = gc_egpu_graph_render(v, ELEMENTSOF(v), 16, 3, 2, false);
	check_rows(rows, (const char *const[]){ " : ", " #." }, 2);
	gc_strv_free(rows);

	/* An unknown value is an empty column; values above max are clipped to the top. */
	rows = gc_egpu_graph_render(with_nan, 3, 8, 3, 2, false);
	check_rows(rows, (const char *const[]){ "# #", "# #" }, 2);
	gc_strv_free(rows);

	/* A scale of 0 (nothing known yet): any value fills the column. */
	rows = gc_egpu_graph_render(v, 1, 0, 1, 1, false);
	check_rows(rows, (const char *const[]){ "#" }, 1);
	gc_strv_free(rows);

	/* No values at all, or no rows. */
	rows = gc_egpu_graph_render(NULL, 0, 1, 4, 1, false);
	check_rows(rows, (const char *const[]){ "    " }, 1);
	gc_strv_free(rows);
	rows = gc_egpu_graph_render(v, ELEMENTSOF(v), 16, 4, 0, false);
	check_rows(rows, NULL, 0);
	gc_strv_free(rows);
}

TEST(graph_utf8)
{
	/* One row: v eighths of a cell, U+2581 (one eighth) to U+2588 (full). */
	static const double v[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8 };
	char **rows = gc_egpu_graph_render(v, ELEMENTSOF(v), 8, 9, 1, true);

	check_rows(rows, (const char *const[]){ " ▁▂▃▄▅▆▇█" }, 1);
	gc_strv_free(rows);

	/* Two rows: 12 eighths is a full lower cell and half an upper one. */
	rows = gc_egpu_graph_render((const double[]){ 12, 3 }, 2, 16, 2, 2, true);
	check_rows(rows, (const char *const[]){ "▄ ", "█▃" }, 2);
	gc_strv_free(rows);
}

TEST(event_lines)
{
	static const struct {
		struct anarchy_event ev;
		const char *text;
	} cases[] = {
		{ { .type = ANARCHY_EVENT_LINK_UP, .state = ANARCHY_LINK_UP },
		  "link-up (state up)" },
		{ { .type = ANARCHY_EVENT_LINK_DOWN, .state = ANARCHY_LINK_DOWN },
		  "link-down (state down)" },
		{ { .type = ANARCHY_EVENT_HOTPLUG_REMOVE, .state = ANARCHY_LINK_DOWN },
		  "hotplug-remove (state down)" },
		{ { .type = ANARCHY_EVENT_STALLED, .state = ANARCHY_LINK_STALLED, .value = 1500 },
		  "stalled: far host silent for 1500 ms (state stalled)" },
		{ { .type = ANARCHY_EVENT_ERROR, .state = ANARCHY_LINK_UP, .error = -EPROTO },
		  "error: Protocol error (state up)" },
		{ { .type = ANARCHY_EVENT_ERROR, .state = ANARCHY_LINK_UP },
		  "error: unknown cause (state up)" },
		{ { .type = ANARCHY_EVENT_LINK_RESET, .state = ANARCHY_LINK_UP, .value = 1 },
		  "link-reset: far host restarted, 1 record lost (state up)" },
		{ { .type = ANARCHY_EVENT_EVENTS_LOST, .value = 7 },
		  "events-lost: 7 events did not fit the queue" },
		{ { .type = ANARCHY_EVENT_RING_OVERFLOW, .state = ANARCHY_LINK_UP },
		  "ring-overflow: far RX ring full, records wait (state up)" },
		{ { .type = 4242, .state = 4242 }, "event 4242 (state unknown)" },
	};
	char buf[GC_EGPU_EVENT_LINE_MAX];

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		gc_egpu_event_describe(&cases[i].ev, buf, sizeof(buf));
		ASSERT_STREQ(buf, cases[i].text);
	}
}

TEST(event_log_keeps_the_newest)
{
	struct gc_egpu_event_log *log = calloc(1, sizeof(*log));
	char want[64];

	ASSERT_NOT_NULL(log);
	ASSERT_OK_ERRNO(setenv("TZ", "UTC", 1));
	tzset();
	ASSERT_NULL(gc_egpu_event_log_get(log, 0));
	gc_egpu_event_log_add(log, 3600 + 62, 2, "link-up (state %s)", "up");
	ASSERT_STREQ(gc_egpu_event_log_get(log, 0), "01:01:02 anarchy2 link-up (state up)");
	gc_egpu_event_log_add(log, 59, GC_EGPU_EVENT_NO_LINK, "the module was unloaded");
	ASSERT_STREQ(gc_egpu_event_log_get(log, 0), "00:00:59 the module was unloaded");
	ASSERT_STREQ(gc_egpu_event_log_get(log, 1), "01:01:02 anarchy2 link-up (state up)");
	for (int i = 0; i < GC_EGPU_EVENT_LOG_MAX + 5; i++)
		gc_egpu_event_log_add(log, 0, 0, "event %d", i);
	ASSERT_EQ(log->count, (size_t)GC_EGPU_EVENT_LOG_MAX);
	(void)snprintf(want, sizeof(want), "00:00:00 anarchy0 event %d", GC_EGPU_EVENT_LOG_MAX + 4);
	ASSERT_STREQ(gc_egpu_event_log_get(log, 0), want);
	(void)snprintf(want, sizeof(want), "00:00:00 anarchy0 event %d", 5);
	ASSERT_STREQ(gc_egpu_event_log_get(log, GC_EGPU_EVENT_LOG_MAX - 1), want);
	ASSERT_NULL(gc_egpu_event_log_get(log, GC_EGPU_EVENT_LOG_MAX));

	/* A line longer than the slot is cut, never overflowing it. */
	memset(want, 'x', sizeof(want) - 1);
	want[sizeof(want) - 1] = '\0';
	gc_egpu_event_log_add(log, 0, 9999, "%s%s%s", want, want, want);
	ASSERT_EQ(strlen(gc_egpu_event_log_get(log, 0)), (size_t)GC_EGPU_EVENT_LINE_MAX - 1);
	free(log);
}

DEFINE_TEST_MAIN();
