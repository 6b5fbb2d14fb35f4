/* SPDX-License-Identifier: MIT */
/* The dashboard's model: history, graphs as text, events. See monitor.h. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "common/string-util.h"
#include "monitor.h"
#include "strv.h"

static void push(struct gc_egpu_history *h, double tx, double rx, double rtt)
{
	h->values[GC_EGPU_SERIES_TX][h->head] = tx;
	h->values[GC_EGPU_SERIES_RX][h->head] = rx;
	h->values[GC_EGPU_SERIES_RTT][h->head] = rtt;
	h->head = (h->head + 1) % GC_EGPU_HISTORY_MAX;
	if (h->count < GC_EGPU_HISTORY_MAX)
		h->count++;
}

/* Bits per second between two readings of a byte counter; 0 when it went back. */
static double rate(uint64_t before, uint64_t now, uint64_t dt_ns)
{
	if (now < before)
		return 0;
	return (double)(now - before) * 8.0 * 1e9 / (double)dt_ns;
}

void gc_egpu_history_add(struct gc_egpu_history *h, uint64_t now_ns, const struct gc_egpu_link *l)
{
	const struct anarchy_counters *c = &l->info.counters;
	bool rtt_known =
		l->source == GC_EGPU_SOURCE_DEVICE &&
		(l->info.state == ANARCHY_LINK_UP || l->info.state == ANARCHY_LINK_STALLED);
	uint64_t dt;

	if (h->have_last && now_ns < h->last_ns + 1000000)
		return;
	if (h->have_last) {
		dt = now_ns - h->last_ns;
		push(h, rate(h->last_tx_bytes, c->tx_bytes, dt),
		     rate(h->last_rx_bytes, c->rx_bytes, dt),
		     rtt_known ? (double)l->info.rtt_us : NAN);
	}
	h->have_last = true;
	h->last_ns = now_ns;
	h->last_tx_bytes = c->tx_bytes;
	h->last_rx_bytes = c->rx_bytes;
}

size_t gc_egpu_history_tail(const struct gc_egpu_history *h, enum gc_egpu_series s, size_t n,
			    double *out)
{
	size_t k = MIN(n, h->count);
	size_t start = (h->head + GC_EGPU_HISTORY_MAX - k) % GC_EGPU_HISTORY_MAX;

	for (size_t i = 0; i < k; i++)
		out[i] = h->values[s][(start + i) % GC_EGPU_HISTORY_MAX];
	return k;
}

double gc_egpu_history_last(const struct gc_egpu_history *h, enum gc_egpu_series s)
{
	if (h->count == 0)
		return NAN;
	return h->values[s][(h->head + GC_EGPU_HISTORY_MAX - 1) % GC_EGPU_HISTORY_MAX];
}

double gc_egpu_values_max(const double *values, size_t n)
{
	double m = NAN;

	for (size_t i = 0; i < n; i++)
		if (!isnan(values[i]) && (isnan(m) || values[i] > m))
			m = values[i];
	return m;
}

double gc_egpu_values_min(const double *values, size_t n)
{
	double m = NAN;

	for (size_t i = 0; i < n; i++)
		if (!isnan(values[i]) && (isnan(m) || values[i] < m))
			m = values[i];
	return m;
}

/* Eighths of the graph's height that a value fills: 0 only for 0 (or less, or unknown). */
static unsigned eighths(double v, double max, unsigned height)
{
	double e;

	if (isnan(v) || !(v > 0))
		return 0;
	if (!(max > 0))
		return height * 8;
	e = round(v / max * (double)height * 8.0);
	return (unsigned)CLAMP(e, 1.0, (double)height * 8.0);
}

/* One cell, filled `fill` eighths from the bottom (0..8). */
static size_t put_cell(char *p, unsigned fill, bool utf8)
{
	if (fill == 0) {
		*p = ' ';
		return 1;
	}
	if (!utf8) {
		*p = fill >= 8 ? '#' : fill >= 4 ? ':' : '.';
		return 1;
	}
	/* U+2581 LOWER ONE EIGHTH BLOCK .. U+2588 FULL BLOCK: E2 96 81..88. */
	p[0] = (char)0xe2;
	p[1] = (char)0x96;
	p[2] = (char)(0x80 + fill);
	return 3;
}

char **gc_egpu_graph_render(const double *values, size_t n, double max, unsigned width,
			    unsigned height, bool utf8)
{
	_cleanup_strv_free_ char **rows = calloc((size_t)height + 1, sizeof(*rows));

	if (!rows)
		return NULL;
	for (unsigned r = 0; r < height; r++) {
		unsigned floor8 = (height - 1 - r) * 8; /* eighths below this row */
		char *p;

		rows[r] = p = malloc((size_t)width * 3 + 1);
		if (!p)
			return NULL;
		for (unsigned c = 0; c < width; c++) {
			/* Column c shows values[n - width + c]: the newest at the right edge. */
			size_t shift = width - c;
			unsigned e = shift <= n ? eighths(values[n - shift], max, height) : 0;

			p += put_cell(p, e > floor8 ? MIN(e - floor8, 8u) : 0, utf8);
		}
		*p = '\0';
	}
	return TAKE_PTR(rows);
}

/* ---- Events -------------------------------------------------------------------------------- */

void gc_egpu_event_log_add(struct gc_egpu_event_log *log, time_t wall, unsigned index,
			   const char *format, ...)
{
	char *line = log->lines[log->head];
	struct tm tm;
	va_list ap;
	int k;

	if (!localtime_r(&wall, &tm))
		memset(&tm, 0, sizeof(tm));
	if (index == GC_EGPU_EVENT_NO_LINK)
		k = snprintf(line, GC_EGPU_EVENT_LINE_MAX, "%02d:%02d:%02d ", tm.tm_hour, tm.tm_min,
			     tm.tm_sec);
	else
		k = snprintf(line, GC_EGPU_EVENT_LINE_MAX, "%02d:%02d:%02d anarchy%u ", tm.tm_hour,
			     tm.tm_min, tm.tm_sec, index);
	if (k > 0 && k < GC_EGPU_EVENT_LINE_MAX) {
		va_start(ap, format);
		(void)vsnprintf(line + k, GC_EGPU_EVENT_LINE_MAX - (size_t)k, format, ap);
		va_end(ap);
	}
	log->head = (log->head + 1) % GC_EGPU_EVENT_LOG_MAX;
	if (log->count < GC_EGPU_EVENT_LOG_MAX)
		log->count++;
}

const char *gc_egpu_event_log_get(const struct gc_egpu_event_log *log, size_t i)
{
	if (i >= log->count)
		return NULL;
	return log->lines[(log->head + GC_EGPU_EVENT_LOG_MAX - 1 - i) % GC_EGPU_EVENT_LOG_MAX];
}

void gc_egpu_event_describe(const struct anarchy_event *ev, char *buf, size_t size)
{
	const char *name = anarchy_event_to_string(ev->type);
	const char *state = anarchy_state_to_string(ev->state);
	unsigned long long v = (unsigned long long)ev->value;

	switch (ev->type) {
	case ANARCHY_EVENT_STALLED:
		(void)snprintf(buf, size, "%s: far host silent for %llu ms (state %s)", name, v,
			       state);
		break;
	case ANARCHY_EVENT_ERROR:
		(void)snprintf(buf, size, "%s: %s (state %s)", name,
			       /* errno values are small; anything else is no errno */
			       ev->error < 0 && ev->error > -4096 ? strerror(-ev->error) :
								    "unknown cause",
			       state);
		break;
	case ANARCHY_EVENT_LINK_RESET:
		(void)snprintf(buf, size, "%s: far host restarted, %llu record%s lost (state %s)",
			       name, v, v == 1 ? "" : "s", state);
		break;
	case ANARCHY_EVENT_EVENTS_LOST:
		(void)snprintf(buf, size, "%s: %llu event%s did not fit the queue", name, v,
			       v == 1 ? "" : "s");
		break;
	case ANARCHY_EVENT_RING_OVERFLOW:
		(void)snprintf(buf, size, "%s: far RX ring full, records wait (state %s)", name,
			       state);
		break;
	default:
		if (streq(name, "unknown"))
			(void)snprintf(buf, size, "event %u (state %s)", ev->type, state);
		else
			(void)snprintf(buf, size, "%s (state %s)", name, state);
		break;
	}
}
