/* SPDX-License-Identifier: MIT */
/*
 * Clocks, deadlines and human-readable formatting. Times are uint64_t nanoseconds or
 * microseconds; UINT64_MAX (USEC_INFINITY, NSEC_INFINITY) means "never".
 */
#ifndef COMMON_TIME_UTIL_H
#define COMMON_TIME_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define NSEC_INFINITY UINT64_MAX
#define USEC_INFINITY UINT64_MAX

#define NSEC_PER_USEC UINT64_C(1000)
#define NSEC_PER_MSEC UINT64_C(1000000)
#define NSEC_PER_SEC UINT64_C(1000000000)
#define USEC_PER_MSEC UINT64_C(1000)
#define USEC_PER_SEC UINT64_C(1000000)
#define MSEC_PER_SEC UINT64_C(1000)
#define NSEC_PER_MINUTE (UINT64_C(60) * NSEC_PER_SEC)
#define NSEC_PER_HOUR (UINT64_C(60) * NSEC_PER_MINUTE)
#define NSEC_PER_DAY (UINT64_C(24) * NSEC_PER_HOUR)

/* Now on the given clock (CLOCK_MONOTONIC, CLOCK_REALTIME, ...). Aborts only if the clock
 * does not exist, which is a programming error. */
uint64_t now_nsec(clockid_t clock);
uint64_t now_usec(clockid_t clock);

struct timespec timespec_from_nsec(uint64_t nsec);
/* Negative or invalid timespecs give 0; overflowing ones NSEC_INFINITY. */
uint64_t timespec_to_nsec(const struct timespec *ts);

/*
 * A CLOCK_MONOTONIC deadline in ns for a timeout in the psyne convention: < 0 waits
 * forever (NSEC_INFINITY), 0 is "now", > 0 is now + timeout_ms.
 */
uint64_t deadline_from_timeout_ms(int timeout_ms);

/*
 * Milliseconds left until a CLOCK_MONOTONIC deadline, rounded up, for poll(): -1 for
 * NSEC_INFINITY, 0 once it has passed, otherwise at least 1 and at most INT_MAX.
 */
int timeout_ms_left(uint64_t deadline);

/* True once the CLOCK_MONOTONIC deadline has passed (never for NSEC_INFINITY). */
static inline bool deadline_passed(uint64_t deadline)
{
	return deadline != NSEC_INFINITY && now_nsec(CLOCK_MONOTONIC) >= deadline;
}

/* An absolute CLOCK_MONOTONIC timespec for a deadline, for pthread_cond_clockwait() etc. */
static inline struct timespec timespec_from_deadline(uint64_t deadline)
{
	return timespec_from_nsec(deadline);
}

/*
 * Write a short human-readable duration into buf and return buf: "0", "850 ns", "12.3 us",
 * "4.56 ms", "1.50 s", "2 min 5 s", "3 h 2 min", "infinity". Truncated to size; size >= 1.
 */
#define FORMAT_TIMESPAN_MAX 32
char *format_timespan(char *buf, size_t size, uint64_t nsec);

/*
 * Write a byte count with binary prefixes into buf and return buf: "512 B", "4.0 KiB",
 * "1.5 MiB", "2.0 GiB". Truncated to size; size >= 1.
 */
#define FORMAT_BYTES_MAX 16
char *format_bytes(char *buf, size_t size, uint64_t bytes);

/* Rates such as "1.23 GiB/s" and "4.56 M msg/s", for benchmarks. */
char *format_byte_rate(char *buf, size_t size, double bytes_per_sec);
char *format_count_rate(char *buf, size_t size, double per_sec, const char *unit);

#endif
