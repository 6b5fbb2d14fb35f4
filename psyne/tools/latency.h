/* SPDX-License-Identifier: MIT */
/*
 * Latency samples and their percentiles, for psyne-demo. A percentile is one of the samples
 * themselves (nearest rank), not the edge of a histogram bucket: every sample is kept up to
 * `cap`, and past that a uniform random `cap` of them (reservoir sampling, Li's algorithm
 * L, which draws how many samples to skip before the next one it keeps, so that most
 * samples cost a counter and a comparison), so that memory and the cost of a percentile
 * stay bounded however many messages a second brings, and the percentile still comes from
 * what was measured.
 */
#ifndef PSYNE_LATENCY_H
#define PSYNE_LATENCY_H

#include <stddef.h>
#include <stdint.h>

struct latency {
	uint64_t *samples; /* the kept ones, in no order */
	size_t n;	   /* kept */
	size_t cap;
	uint64_t count; /* added since the last reset */
	uint64_t max;	/* the largest added since the last reset, kept or not */
	uint64_t next;	/* once full: the count at which the next sample is kept */
	double w;	/* algorithm L's running weight */
	uint64_t rng;	/* xorshift64* state; never 0 */
};

/* Makes `l` empty, to keep up to `cap` (at least 1) samples; `seed` picks the random subset.
 * -ENOMEM, -EINVAL. */
int latency_init(struct latency *l, size_t cap, uint64_t seed);

/* Frees what latency_init() allocated; `l` may be zeroed or done already. */
void latency_done(struct latency *l);

/* Forgets every sample, keeping the memory. */
void latency_reset(struct latency *l);

/* The part of latency_add() that runs for the samples kept past `cap`: not inline. */
void latency__keep(struct latency *l, uint64_t v);

/* Adds one sample: a counter and a comparison, mostly, so that it fits a hot loop. */
static inline void latency_add(struct latency *l, uint64_t v)
{
	l->count++;
	if (v > l->max)
		l->max = v;
	if (l->n < l->cap || l->count == l->next)
		latency__keep(l, v);
}

/*
 * The `pct` percentile (0 to 100) of the samples kept, by nearest rank: the smallest sample
 * that at least pct% of them do not exceed (0: the smallest). 0 when there are none.
 * Reorders the samples.
 */
uint64_t latency_percentile(struct latency *l, unsigned pct);

#endif
