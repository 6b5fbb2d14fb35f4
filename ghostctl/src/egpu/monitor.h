/* SPDX-License-Identifier: MIT */
/*
 * `ghostctl egpu monitor`: what the dashboard shows, without a terminal. The history of a
 * link's samples (throughput each way and round-trip time), the graphs drawn from it as
 * text rows, and the event list. monitor_tui.c samples the links and draws these with curses;
 * the tests feed them samples directly. Pure: nothing here reads a file or a clock.
 */
#ifndef GC_EGPU_MONITOR_H
#define GC_EGPU_MONITOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "link.h"
#include "verb.h"

/* Samples kept per link: enough for the widest terminal. */
#define GC_EGPU_HISTORY_MAX 1024

enum gc_egpu_series {
	GC_EGPU_SERIES_TX,  /* bits per second the far host acknowledged */
	GC_EGPU_SERIES_RX,  /* bits per second received */
	GC_EGPU_SERIES_RTT, /* microseconds; NAN when unknown (sysfs, or the link not up) */
	_GC_EGPU_SERIES_MAX,
};

struct gc_egpu_history {
	double values[_GC_EGPU_SERIES_MAX][GC_EGPU_HISTORY_MAX]; /* rings; NAN: unknown */
	size_t head;  /* the slot the next sample goes to */
	size_t count; /* samples held, up to GC_EGPU_HISTORY_MAX */
	bool have_last;
	uint64_t last_ns; /* when the previous sample was taken */
	uint64_t last_tx_bytes, last_rx_bytes;
};

/*
 * Adds the sample of l taken at now_ns (CLOCK_MONOTONIC): the rates since the previous
 * sample and the RTT. The first sample only sets the baseline; a counter that went back
 * (the module was reloaded) gives a rate of 0 and a new baseline; samples closer than 1 ms
 * to the previous one are ignored.
 */
void gc_egpu_history_add(struct gc_egpu_history *h, uint64_t now_ns, const struct gc_egpu_link *l);

/*
 * The last n values of a series, oldest first, into out (n at most GC_EGPU_HISTORY_MAX).
 * Returns how many were written: fewer than n while the history is young.
 */
size_t gc_egpu_history_tail(const struct gc_egpu_history *h, enum gc_egpu_series s, size_t n,
			    double *out);

/* The newest value of a series; NAN when there is none. */
double gc_egpu_history_last(const struct gc_egpu_history *h, enum gc_egpu_series s);

/* The largest and smallest known values of the last n; NAN when none is known. */
double gc_egpu_values_max(const double *values, size_t n);
double gc_egpu_values_min(const double *values, size_t n);

/*
 * Draws values (oldest first) as a bar graph of `height` rows by `width` columns, the newest
 * value in the rightmost column, scaled so that `max` fills the height. Each row is a string
 * of `width` cells: with utf8, the block elements U+2581..U+2588 (eighths of a cell) and
 * spaces; without, '#' (full), ':' (half or more), '.' (less) and spaces. A value above 0
 * shows at least an eighth; an unknown value (NAN) shows as an empty column. Returns a
 * NULL-terminated list of `height` rows, top first (free with gc_strv_free()); NULL when out
 * of memory.
 */
char **gc_egpu_graph_render(const double *values, size_t n, double max, unsigned width,
			    unsigned height, bool utf8);

/* ---- Events -------------------------------------------------------------------------------- */

#define GC_EGPU_EVENT_LOG_MAX 256
#define GC_EGPU_EVENT_LINE_MAX 160

/* The newest events, as lines of text. */
struct gc_egpu_event_log {
	char lines[GC_EGPU_EVENT_LOG_MAX][GC_EGPU_EVENT_LINE_MAX];
	size_t head; /* where the next line goes */
	size_t count;
};

/* The index of an event about no link in particular (the module). */
#define GC_EGPU_EVENT_NO_LINK UINT32_MAX

/*
 * Adds a line, "HH:MM:SS anarchyN what" ("HH:MM:SS what" for GC_EGPU_EVENT_NO_LINK), wall
 * being the time it happened.
 */
void gc_egpu_event_log_add(struct gc_egpu_event_log *log, time_t wall, unsigned index,
			   const char *format, ...) _printf_(4, 5);

/* The i-th newest line (0: the newest); NULL past the end. */
const char *gc_egpu_event_log_get(const struct gc_egpu_event_log *log, size_t i);

/*
 * What an event of the module says, in words: "link-up (state up)", "stalled: silent for
 * 1500 ms (state stalled)", "error: Protocol error", "link-reset: 3 records lost". Pure.
 */
void gc_egpu_event_describe(const struct anarchy_event *ev, char *buf, size_t size);

/* ---- The dashboard ------------------------------------------------------------------------- */

/*
 * Runs the dashboard until the user quits: all the links, or the one of `index` when
 * one_link. interval_ms: the sampling period. `path` names the verb in messages. Needs a
 * terminal on stdin and stdout (-ENOTTY, logged, otherwise). Returns 0 when the user quit,
 * or a negative errno, logged.
 */
int gc_egpu_monitor(struct gc_cmd *cmd, bool one_link, unsigned index, unsigned interval_ms);

#endif
