/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/macro.h"
#include "common/time-util.h"

uint64_t now_nsec(clockid_t clock)
{
	struct timespec ts;

	/* Only an unknown clock id can fail, and that is a bug in the caller. */
	if (clock_gettime(clock, &ts) < 0)
		abort();
	return timespec_to_nsec(&ts);
}

uint64_t now_usec(clockid_t clock)
{
	return now_nsec(clock) / NSEC_PER_USEC;
}

struct timespec timespec_from_nsec(uint64_t nsec)
{
	if (nsec == NSEC_INFINITY)
		return (struct timespec){ .tv_sec = (time_t)INT64_MAX, .tv_nsec = 999999999 };
	return (struct timespec){
		.tv_sec = (time_t)(nsec / NSEC_PER_SEC),
		.tv_nsec = (long)(nsec % NSEC_PER_SEC),
	};
}

uint64_t timespec_to_nsec(const struct timespec *ts)
{
	if (ts->tv_sec < 0 || ts->tv_nsec < 0 || (uint64_t)ts->tv_nsec >= NSEC_PER_SEC)
		return 0;
	if ((uint64_t)ts->tv_sec > (NSEC_INFINITY - 1 - (uint64_t)ts->tv_nsec) / NSEC_PER_SEC)
		return NSEC_INFINITY;
	return (uint64_t)ts->tv_sec * NSEC_PER_SEC + (uint64_t)ts->tv_nsec;
}

uint64_t deadline_from_timeout_ms(int timeout_ms)
{
	uint64_t now = now_nsec(CLOCK_MONOTONIC);

	if (timeout_ms < 0)
		return NSEC_INFINITY;
	return now + (uint64_t)timeout_ms * NSEC_PER_MSEC;
}

int timeout_ms_left(uint64_t deadline)
{
	uint64_t now, left;

	if (deadline == NSEC_INFINITY)
		return -1;

	now = now_nsec(CLOCK_MONOTONIC);
	if (now >= deadline)
		return 0;

	left = DIV_ROUND_UP(deadline - now, NSEC_PER_MSEC);
	return left > INT_MAX ? INT_MAX : (int)left;
}

char *format_timespan(char *buf, size_t size, uint64_t nsec)
{
	assert(buf && size > 0);

	if (nsec == NSEC_INFINITY)
		(void)snprintf(buf, size, "infinity");
	else if (nsec == 0)
		(void)snprintf(buf, size, "0");
	else if (nsec < NSEC_PER_USEC)
		(void)snprintf(buf, size, "%" PRIu64 " ns", nsec);
	else if (nsec < NSEC_PER_MSEC)
		(void)snprintf(buf, size, "%.3g us", (double)nsec / (double)NSEC_PER_USEC);
	else if (nsec < NSEC_PER_SEC)
		(void)snprintf(buf, size, "%.3g ms", (double)nsec / (double)NSEC_PER_MSEC);
	else if (nsec < NSEC_PER_MINUTE)
		(void)snprintf(buf, size, "%.2f s", (double)nsec / (double)NSEC_PER_SEC);
	else if (nsec < NSEC_PER_HOUR)
		(void)snprintf(buf, size, "%" PRIu64 " min %" PRIu64 " s", nsec / NSEC_PER_MINUTE,
			       nsec % NSEC_PER_MINUTE / NSEC_PER_SEC);
	else
		(void)snprintf(buf, size, "%" PRIu64 " h %" PRIu64 " min", nsec / NSEC_PER_HOUR,
			       nsec % NSEC_PER_HOUR / NSEC_PER_MINUTE);
	return buf;
}

static const char *const binary_prefixes[] = { "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei" };

char *format_bytes(char *buf, size_t size, uint64_t bytes)
{
	double v = (double)bytes;
	size_t i = 0;

	assert(buf && size > 0);

	if (bytes < 1024) {
		(void)snprintf(buf, size, "%" PRIu64 " B", bytes);
		return buf;
	}
	while (v >= 1024.0 && i + 1 < ELEMENTSOF(binary_prefixes)) {
		v /= 1024.0;
		i++;
	}
	(void)snprintf(buf, size, "%.1f %sB", v, binary_prefixes[i]);
	return buf;
}

char *format_byte_rate(char *buf, size_t size, double bytes_per_sec)
{
	size_t i = 0;

	assert(buf && size > 0);

	while (bytes_per_sec >= 1024.0 && i + 1 < ELEMENTSOF(binary_prefixes)) {
		bytes_per_sec /= 1024.0;
		i++;
	}
	(void)snprintf(buf, size, "%.2f %sB/s", bytes_per_sec, binary_prefixes[i]);
	return buf;
}

char *format_count_rate(char *buf, size_t size, double per_sec, const char *unit)
{
	static const char *const prefixes[] = { "", "k", "M", "G", "T" };
	size_t i = 0;

	assert(buf && size > 0);

	while (per_sec >= 1000.0 && i + 1 < ELEMENTSOF(prefixes)) {
		per_sec /= 1000.0;
		i++;
	}
	(void)snprintf(buf, size, "%.2f %s%s%s/s", per_sec, prefixes[i], i > 0 ? " " : "",
		       unit ? unit : "");
	return buf;
}
